package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"qwentune/engine/config"
	"qwentune/engine/generate"
	"qwentune/engine/progress"
	"qwentune/engine/trainer"
	"qwentune/model"
	"qwentune/model/tokenizer"
)

// pluginDir holds the heuristic and judge evaluators built by TestMain.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qwentune-engine-plugins")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, name := range []string{"heuristic", "judge"} {
		out := filepath.Join(dir, "qwentune-eval-"+name)
		build := exec.Command("go", "build", "-o", out, "../plugins/evaluators/"+name)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building the %s plugin: %v\n", name, err)
			os.Exit(1)
		}
	}
	pluginDir = dir
	// Runs are recorded in the run history: never in the user's.
	os.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(dir, "history"))
	// The plugins are approved in a throw-away config folder.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	if err := TrustEvaluator(dir); err != nil {
		fmt.Fprintln(os.Stderr, "approving the plugins:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tinyModel writes a tiny random Qwen2 with the built-in tokenizer.
func tinyModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tok := tokenizer.Builtin()
	cfg := model.Shapes["tiny"]
	cfg.BOSTokenID, cfg.EOSTokenIDs = tok.EOS(), []int{tok.EOS()}
	if err := model.MakeModel(dir, cfg, 5, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := tok.SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testConfig is the seed config on a tiny model and the repository's data,
// writing into a temporary output folder.
func testConfig(t *testing.T, modelDir string, sets ...string) config.Config {
	t.Helper()
	cfg := config.Default()
	base := []string{"model.name=" + modelDir, "training.output_dir=" + t.TempDir(),
		"dataset.train_file=../data/train.jsonl", "dataset.test_file=../data/test.jsonl",
		"dataset.max_length=128", "lora.r=8", "training.logging_steps=1"}
	for _, s := range append(base, sets...) {
		if err := cfg.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// inspected inspects cfg's training file with s's tokenizer, as the app's
// Dataset screen and the CLI do before training.
func inspected(t *testing.T, s *Session, cfg config.Config) *Dataset {
	t.Helper()
	d, err := InspectDataset(cfg.Dataset.TrainFile, s.Tokenizer, cfg.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readLogLosses(t *testing.T, dir string) []float64 {
	t.Helper()
	st, err := trainer.ReadTrainerState(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for _, e := range st.LogHistory {
		if l, ok := e["loss"]; ok {
			losses = append(losses, l)
		}
	}
	return losses
}

func TestTrainLowersLossAndAdapterReloads(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "training.learning_rate=0.01", "training.epochs=4", "lora.target_modules=all-linear")
	var estimate *progress.Estimate
	res, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{PreflightSteps: 1}, func(ev progress.Event) {
		if ev.Kind == progress.Preflight {
			estimate = ev.Estimate
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if estimate == nil || estimate.StepTime <= 0 {
		t.Fatalf("pre-flight did not measure a step: %+v", estimate)
	}
	if res.GlobalStep != 32 { // 32 rows, accumulation 4 → 8 updates per epoch
		t.Fatalf("global step %d, want 32", res.GlobalStep)
	}
	losses := readLogLosses(t, cfg.Training.OutputDir)
	first, last := losses[0], losses[len(losses)-1]
	if !(last < first-0.3) {
		t.Fatalf("loss did not fall: first %.4f last %.4f (%v)", first, last, losses)
	}
	for _, f := range []string{"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "trainer_state.json",
		ResolvedConfigFile, DatasetHashFile, "training.log"} {
		if _, err := os.Stat(filepath.Join(cfg.Training.OutputDir, f)); err != nil {
			t.Errorf("output folder lacks %s", f)
		}
	}
	// The saved adapter reloads and gives identical logits.
	a, err := s.LoadAdapter(cfg.Training.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	ids := s.Tokenizer.Encode("User: How do I reset my Brightnote password?")
	s.Model.SetAdapter(a)
	got := s.Model.Logits(ids)
	s.Model.SetAdapter(nil)
	base := s.Model.Logits(ids)
	if slices.Equal(got[len(got)-1], base[len(base)-1]) {
		t.Fatal("the trained adapter does not change the logits")
	}
	b, err := s.LoadAdapter(cfg.Training.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	s.Model.SetAdapter(b)
	again := s.Model.Logits(ids)
	s.Model.SetAdapter(nil)
	for i := range got {
		if !slices.Equal(got[i], again[i]) {
			t.Fatalf("reloaded adapter gives different logits at position %d", i)
		}
	}
}

// A fine-tune learns to stop: after training on prompt/completion rows with
// an appended eos, greedy generation from the prompt reproduces the
// completion and ends at eos, well before max_new_tokens. The tiny random
// model trains every weight here: its tied embedding (std 0.02, 64 wide)
// caps every logit near ±1.3, so a frozen-head LoRA cannot make one token of
// 8,192 dominant; TestDemoLoRAStopsAtEOS shows the same with LoRA on the
// demo model, whose embedding is trained.
func TestFineTuneStopsAtEOS(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "train.jsonl")
	row := `{"prompt": "Question: what colour is the sky?\nAnswer:", "completion": " Blue."}` + "\n"
	if err := os.WriteFile(data, []byte(strings.Repeat(row, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "dataset.train_file="+data, "training.mode=full", "training.learning_rate=0.01",
		"training.epochs=60", "training.gradient_accumulation_steps=1", "training.batch_size=4",
		"training.lr_scheduler=constant", "dataset.padding=longest")
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	tuned, err := OpenDir(cfg.Training.OutputDir, "tuned", "float32")
	if err != nil {
		t.Fatal(err)
	}
	prompt := tuned.Tokenizer.Encode("Question: what colour is the sky?\nAnswer:")
	c, err := tuned.Generate(context.Background(), nil, prompt, generate.Options{MaxNewTokens: 20, StopIDs: tuned.StopIDs(false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stopped != "eos" || c.Text != " Blue." {
		t.Fatalf("generated %q %v (stopped: %s), want \" Blue.\" ending at eos; losses %v", c.Text, c.IDs, c.Stopped,
			readLogLosses(t, cfg.Training.OutputDir))
	}
}

func TestStopSavesAndResumeContinues(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	// Events reach the callback from the trainer's own goroutine, never
	// holding a step back, so the stop asked at step 3 lands a few steps
	// later on a loaded machine: the run is long enough that it still lands
	// before the end.
	cfg := testConfig(t, s.Dir, "training.max_steps=40")
	ref := testConfig(t, s.Dir, "training.max_steps=40")
	if _, err := s.Train(context.Background(), ref, inspected(t, s, ref), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	ctl := trainer.NewControl()
	res, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{Control: ctl}, func(ev progress.Event) {
		if ev.Kind == progress.Step && ev.Train.Step == 3 {
			ctl.Stop()
		}
	})
	if !errors.Is(err, trainer.ErrStopped) || res.Checkpoint == "" {
		t.Fatalf("stop: err %v, checkpoint %q", err, res.Checkpoint)
	}
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{Resume: "latest"}, nil); err != nil {
		t.Fatal(err)
	}
	want, got := readLogLosses(t, ref.Training.OutputDir), readLogLosses(t, cfg.Training.OutputDir)
	if !slices.Equal(want, got) {
		t.Fatalf("resumed run's losses %v differ from the uninterrupted run's %v", got, want)
	}
}

func TestEvaluateWithHeuristicPlugin(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "evaluation.max_new_tokens=6")
	out := t.TempDir()
	a, err := s.Model.NewAdapter(LoRAConfig(cfg.LoRA), 1)
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	res, err := s.Evaluate(context.Background(), cfg, EvalOptions{Adapter: a, AdapterDir: "in-memory", CompareBase: true,
		OutDir: out, PluginDirs: []string{pluginDir}, DevPlugins: true}, func(ev progress.Event) {
		if p := ev.Eval; len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Name != "heuristic" || len(res.Tuned.Results) != 21 || res.Base == nil || res.Comparison == nil {
		t.Fatalf("unexpected result: evaluator %q, %d results, base %v", res.Info.Name, len(res.Tuned.Results), res.Base != nil)
	}
	if !slices.Equal(phases, []string{"tuned", "base"}) {
		t.Fatalf("progress phases %v", phases)
	}
	// A fresh adapter (B = 0) equals the base model, so nothing flips.
	if len(res.Comparison.Fixed)+len(res.Comparison.Broken) != 0 {
		t.Fatalf("zero adapter flipped verdicts: %+v", res.Comparison)
	}
	m := res.Tuned.Metrics
	var sum int
	for _, row := range m.Confusion {
		for _, n := range row {
			sum += n
		}
	}
	if sum != 21 {
		t.Fatalf("confusion matrix counts %d samples, want 21", sum)
	}
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil || meta["evaluator"] != "heuristic" {
		t.Fatalf("metrics.json: %v %v", err, meta["evaluator"])
	}
}

// TestEvaluateAnswersAsAlone checks that evaluation, which decodes the test
// inputs several at a time, gives every sample exactly the answer that
// generating it alone gives with its seed (the chat seed plus its 1-based
// position), sampled, with a trained-looking adapter, on float32 and Q8_0
// weights.
func TestEvaluateAnswersAsAlone(t *testing.T) {
	dir := tinyModel(t)
	for _, dtype := range []string{"float32", "q8_0"} {
		t.Run(dtype, func(t *testing.T) { checkEvaluateAnswersAsAlone(t, dir, dtype) })
	}
}

func checkEvaluateAnswersAsAlone(t *testing.T, dir, dtype string) {
	s, err := OpenDir(dir, "tiny", dtype)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "evaluation.max_new_tokens=10", "chat.temperature=0.9", "chat.seed=5")
	a, err := s.Model.NewAdapter(LoRAConfig(cfg.LoRA), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		if strings.Contains(p.Name, "lora_B") {
			for i := range p.Data {
				p.Data[i] = float32(i%7-3) * 0.05
			}
		}
	}
	res, err := s.Evaluate(context.Background(), cfg, EvalOptions{Adapter: a, PluginDirs: []string{pluginDir}, DevPlugins: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	smp := ChatSampling(cfg.Chat)
	smp.MaxNewTokens = cfg.Evaluation.MaxNewTokens
	distinct := map[string]bool{}
	for i, r := range res.Tuned.Results {
		ids, err := s.ChatPrompt(cfg.Chat.SystemPrompt, []tokenizer.Message{{Role: "user", Content: r.Input}})
		if err != nil {
			t.Fatal(err)
		}
		sm := smp
		sm.Seed = int64(cfg.Chat.Seed) + int64(i+1)
		sm.StopIDs = s.StopIDs(true)
		c, err := s.Generate(context.Background(), a, ids, sm, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != r.Output {
			t.Fatalf("sample %s: evaluation answered %q, alone %q", r.ID, r.Output, c.Text)
		}
		distinct[c.Text] = true
	}
	if len(res.Tuned.Results) != 21 || len(distinct) < 5 {
		t.Fatalf("%d results, %d distinct answers", len(res.Tuned.Results), len(distinct))
	}
}

func TestChatStreamsTheAnswer(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	c, err := s.Chat(context.Background(), nil, "", []tokenizer.Message{{Role: "user", Content: "Hello!"}},
		generate.Options{MaxNewTokens: 12, Temperature: 0.7, TopK: 50, TopP: 1, Seed: 3}, func(p string) { pieces = append(pieces, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) == 0 || strings.Join(pieces, "") != c.Text {
		t.Fatalf("streamed %q, final text %q", pieces, c.Text)
	}
	again, err := s.Chat(context.Background(), nil, "", []tokenizer.Message{{Role: "user", Content: "Hello!"}},
		generate.Options{MaxNewTokens: 12, Temperature: 0.7, TopK: 50, TopP: 1, Seed: 3}, nil)
	if err != nil || again.Text != c.Text {
		t.Fatalf("seeded sampling is not reproducible: %q vs %q (%v)", again.Text, c.Text, err)
	}
}

func TestResolveModelErrors(t *testing.T) {
	if _, err := ResolveModel(context.Background(), "./no/such/folder", "main", nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing folder: %v", err)
	}
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	_, err := ResolveModel(context.Background(), "Qwen/Qwen2-1.5B", "main", nil)
	if !errors.Is(err, ErrModelUnavailable) || !strings.Contains(err.Error(), "demo") {
		t.Fatalf("offline and not cached: want ErrModelUnavailable offering the demo, got %v", err)
	}
}

func TestEstimateMemory(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir)
	est := s.EstimateMemory(cfg)
	a, err := s.Model.NewAdapter(LoRAConfig(cfg.LoRA), 1)
	if err != nil {
		t.Fatal(err)
	}
	if est.Weights != s.Model.WeightBytes() || est.Optimizer != 16*a.NumParams() || est.Activations <= 0 || est.Eval <= 0 {
		t.Fatalf("estimate %+v: want weights %d, optimizer %d (values, gradients, two moments), activations and evaluation > 0", est, s.Model.WeightBytes(), 16*a.NumParams())
	}
	longer := cfg
	longer.Dataset.MaxLength *= 2
	if s.EstimateMemory(longer).Activations <= est.Activations {
		t.Fatal("activations do not grow with max_length")
	}
}
