package formats

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/internal/npmtest"
	"qwentune/model"
	"qwentune/model/tokenizer"
)

// readScript prints what @huggingface/gguf reads: the metadata (bigints as
// strings, long arrays as their length and a few entries) and tensor infos.
const readScript = `
const { gguf } = await import(process.argv[2]);
const r = await gguf(process.argv[3], { allowLocalFile: true });
const md = {};
for (const [k, v] of Object.entries(r.metadata)) {
	if (Array.isArray(v) && v.length > 8) {
		md[k] = { length: v.length, head: v.slice(0, 3), tail: v.slice(-2) };
	} else {
		md[k] = typeof v === "bigint" ? v.toString() : v;
	}
}
const tensors = r.tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(String), dtype: t.dtype }));
process.stdout.write(JSON.stringify({ metadata: md, tensors }, (k, v) => typeof v === "bigint" ? v.toString() : v));
`

func TestHuggingFaceGGUFReadsOurFiles(t *testing.T) {
	entry, node := npmGGUF(t)
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	dir := t.TempDir()
	modelPath, adapterPath := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "a.gguf")
	if err := WriteGGUF(context.Background(), modelPath, f.merged, f.tok, GGUFOptions{DType: Q8_0, Name: "tiny"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteGGUFAdapter(context.Background(), adapterPath, f.adapter.ToPEFT("tiny"), f.cfg, AdapterOptions{DType: F16}, nil); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "read.mjs")
	if err := os.WriteFile(script, []byte(readScript), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Metadata map[string]any
		Tensors  []struct {
			Name  string
			Shape []string
			Dtype float64
		}
	}
	read := func(path string) result {
		out, err := exec.Command(node, script, "file://"+entry, path).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("node: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var r result
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return r
	}
	r := read(modelPath)
	for k, w := range map[string]any{
		"general.architecture": "qwen2", "general.file_type": 7.0, "qwen2.block_count": 2.0,
		"qwen2.embedding_length": 64.0, "qwen2.attention.head_count_kv": 2.0, "tokenizer.ggml.model": "gpt2",
		"tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.eos_token_id": float64(f.tok.EOS()),
		"tokenizer.ggml.add_bos_token": false, "tokenizer.chat_template": f.tok.ChatTemplate(), "version": 3.0,
	} {
		if got := r.Metadata[k]; got != w {
			t.Errorf("%s: @huggingface/gguf read %#v, want %#v", k, got, w)
		}
	}
	toks, _ := r.Metadata["tokenizer.ggml.tokens"].(map[string]any)
	if toks["length"] != 8192.0 {
		t.Errorf("tokens: %v", toks)
	}
	found := map[string]bool{}
	for _, ti := range r.Tensors {
		found[ti.Name] = true
		if ti.Name == "blk.0.ffn_gate.weight" && (strings.Join(ti.Shape, ",") != "64,176" || ti.Dtype != 8) {
			t.Errorf("%s: shape %v dtype %v, want [64 176] Q8_0 (8)", ti.Name, ti.Shape, ti.Dtype)
		}
	}
	if len(r.Tensors) != 2+2*12 || !found["token_embd.weight"] || found["output.weight"] {
		t.Errorf("%d tensors (tied model: want %d, no output.weight)", len(r.Tensors), 2+2*12)
	}
	r = read(adapterPath)
	for k, w := range map[string]any{"general.type": "adapter", "adapter.type": "lora", "adapter.lora.alpha": 16.0, "general.architecture": "qwen2"} {
		if got := r.Metadata[k]; got != w {
			t.Errorf("adapter %s: @huggingface/gguf read %#v, want %#v", k, got, w)
		}
	}
	for _, ti := range r.Tensors {
		if ti.Name == "blk.1.attn_v.weight.lora_b" && strings.Join(ti.Shape, ",") != "8,32" {
			t.Errorf("%s: shape %v, want [8 32]", ti.Name, ti.Shape)
		}
	}
	if len(r.Tensors) != 2*3*2 {
		t.Errorf("adapter: %d tensors, want 12", len(r.Tensors))
	}
}

// ollamaMessage is what Ollama passes to a TEMPLATE for each message.
type ollamaMessage struct{ Role, Content string }

// TestModelfileTemplateIsChatML renders the Go TEMPLATE as Ollama does and
// compares it with the model's Jinja chat template.
func TestModelfileTemplateIsChatML(t *testing.T) {
	tmpl := template.Must(template.New("ollama").Parse(ChatMLTemplate))
	tok := tokenizer.Builtin()
	for _, tc := range []struct {
		name string
		msgs []tokenizer.Message
	}{
		{"one turn", []tokenizer.Message{{Role: "user", Content: "Hi!"}}},
		{"conversation", []tokenizer.Message{{Role: "user", Content: "Hi!"}, {Role: "assistant", Content: "Hello."}, {Role: "user", Content: "How are you?\nWell?"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tok.ApplyChatTemplate(tc.msgs, true)
			if err != nil {
				t.Fatal(err)
			}
			msgs := make([]ollamaMessage, len(tc.msgs))
			for i, m := range tc.msgs {
				msgs[i] = ollamaMessage{m.Role, m.Content}
			}
			var got bytes.Buffer
			if err := tmpl.Execute(&got, map[string]any{"System": DefaultSystemPrompt, "Messages": msgs, "Response": ""}); err != nil {
				t.Fatal(err)
			}
			if got.String() != want {
				t.Errorf("Ollama TEMPLATE renders\n%q\nthe chat template\n%q", got.String(), want)
			}
		})
	}
	mf := Modelfile(ModelfileOptions{GGUF: "model.gguf", BaseGGUF: "base.gguf", AdapterGGUF: "adapter.gguf", System: "Be brief."})
	for _, want := range []string{"\nFROM ./model.gguf\n", "\n# ADAPTER ./adapter.gguf\n", "\n# FROM ./base.gguf\n",
		"TEMPLATE \"\"\"{{- if .Messages }}", "\nSYSTEM \"\"\"Be brief.\"\"\"\n",
		"\nPARAMETER stop \"<|im_end|>\"\n", "\nPARAMETER stop \"<|endoftext|>\"\n"} {
		if !strings.Contains(mf, want) {
			t.Errorf("Modelfile lacks %q:\n%s", want, mf)
		}
	}
	for _, line := range strings.Split(mf, "\n") {
		if strings.HasPrefix(line, "ADAPTER") {
			t.Errorf("the ADAPTER line must be commented out: %q", line)
		}
	}
}

// TestHFJob renders a job and checks its files; train.py must compile.
func TestHFJob(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train_data.jsonl")
	rows := `{"prompt": "Q: 2+2?", "completion": " 4"}
{"prompt": "Say hello.", "completion": " Hello!"}
`
	if err := os.WriteFile(train, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Dataset.TrainFile = train
	cfg.Dataset.Padding = "longest"
	cfg.LoRA.TargetModules = []string{"all-linear"}
	cfg.Training.WarmupRatio = 0.1
	tok := tokenizer.Builtin()
	ex, err := dataset.Load(train, tok, dataset.OptionsFrom(cfg.Dataset))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "job")
	if err := WriteHFJob(context.Background(), out, HFJob{Config: cfg, Examples: ex, PadID: tok.Pad(), GPUs: 4}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, JobDataFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != len(ex) {
		t.Fatalf("%d rows, want %d", len(lines), len(ex))
	}
	for i, l := range lines {
		var r struct{ InputIDs, Labels []int }
		if err := json.Unmarshal([]byte(strings.NewReplacer(`"input_ids"`, `"InputIDs"`, `"labels"`, `"Labels"`).Replace(l)), &r); err != nil {
			t.Fatal(err)
		}
		if !equalInts(r.InputIDs, ex[i].IDs) || !equalInts(r.Labels, ex[i].Labels) {
			t.Errorf("row %d: %v / %v, want %v / %v", i, r.InputIDs, r.Labels, ex[i].IDs, ex[i].Labels)
		}
	}
	if !strings.Contains(lines[0], "-100") {
		t.Errorf("the prompt/completion row has no masked label: %s", lines[0])
	}
	py, err := os.ReadFile(filepath.Join(out, JobScriptFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`BASE_MODEL = "Qwen/Qwen2-1.5B"`, "LORA_R = 64", "LORA_ALPHA = 16.0", "LORA_DROPOUT = 0.05",
		`TARGET_MODULES = "all-linear"`, "USE_RSLORA = False", "PAD_ID = " + itoaTest(tok.Pad()), `PADDING = "longest"`,
		"BATCH_SIZE = 1", "GRAD_ACCUM = 4", "LEARNING_RATE = 0.0002", `LR_SCHEDULER = "cosine"`, "WARMUP_RATIO = 0.1",
		"WEIGHT_DECAY = 0.01", "EPOCHS = 3.0", "MAX_STEPS = -1", "MAX_GRAD_NORM = 1.0", "SEED = 42",
		"[-100] * (width - n)", "[PAD_ID] * (width - n)", "get_peft_model", "trainer.save_model(opts.output_dir)",
		"--init-adapter", "PeftModel.from_pretrained(model, opts.init_adapter, is_trainable=True)", "--qwentune-order",
		"QwenTuneOrder(ORDER_FILE, len(rows))", `os.path.join(HERE, "train.jsonl")`, "trainer_state.json",
		"use_cpu=launched_processes() > 1 and cpu_only()", "**warmup_args()", "dtype=dtype",
	} {
		if !strings.Contains(string(py), want) {
			t.Errorf("train.py lacks %q", want)
		}
	}
	if strings.Contains(string(py), "warmup_ratio=WARMUP_RATIO,\n") || strings.Contains(string(py), "torch_dtype") {
		t.Errorf("train.py passes warmup_ratio or torch_dtype unconditionally: transformers 5 refuses the first and deprecates the second")
	}
	// order.json: every epoch of the run (3, batch 1, accumulation 4) in the
	// order the trainer visits the rows.
	var order struct {
		Seed      int     `json:"seed"`
		BatchSize int     `json:"batch_size"`
		Epochs    [][]int `json:"epochs"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, JobOrderFile)), &order); err != nil {
		t.Fatal(err)
	}
	if order.Seed != 42 || order.BatchSize != 1 || len(order.Epochs) != 3 {
		t.Fatalf("order.json: seed %d, batch size %d, %d epochs; want 42, 1 and 3", order.Seed, order.BatchSize, len(order.Epochs))
	}
	for e, got := range order.Epochs {
		if want := dataset.Order(len(ex), 42, e); !equalInts(got, want) {
			t.Errorf("order.json epoch %d: %v, want %v", e, got, want)
		}
	}
	// requirements.txt pins what the parity suite runs the job with: the
	// versions of the repo's reference venv.
	pinned := map[string]string{}
	for _, l := range strings.Split(string(mustRead(t, "../../tools/python/requirements.txt")), "\n") {
		if name, v, ok := strings.Cut(strings.TrimSpace(l), "=="); ok {
			pinned[strings.ToLower(name)] = v
		}
	}
	req := string(mustRead(t, filepath.Join(out, JobRequireFile)))
	for _, r := range JobRequirements {
		name, v, _ := strings.Cut(r, "==")
		if pinned[name] != v {
			t.Errorf("JobRequirements has %s, tools/python/requirements.txt pins %s==%s", r, name, pinned[name])
		}
		if !strings.Contains(req, r+"\n") {
			t.Errorf("requirements.txt lacks %s:\n%s", r, req)
		}
	}
	acc, _ := os.ReadFile(filepath.Join(out, JobAccelerateFile))
	if !strings.Contains(string(acc), "distributed_type: MULTI_GPU") || !strings.Contains(string(acc), "num_processes: 4") {
		t.Errorf("accelerate_config.yaml:\n%s", acc)
	}
	readme, _ := os.ReadFile(filepath.Join(out, JobReadmeFile))
	for _, want := range []string{"accelerate launch --config_file accelerate_config.yaml train.py", "qwentune chat --adapter", "--init-adapter"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if _, _, err := config.Parse(mustRead(t, filepath.Join(out, JobConfigFile)), "run_config.yml"); err != nil {
		t.Errorf("run_config.yml: %v", err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to check that train.py compiles: %v", err)
	}
	if b, err := exec.Command(python, "-m", "py_compile", filepath.Join(out, JobScriptFile)).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m py_compile train.py: %v\n%s", err, b)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func itoaTest(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// npmGGUF returns the entry point of @huggingface/gguf and the node binary.
func npmGGUF(t *testing.T) (entry, node string) {
	t.Helper()
	dir, node := npmtest.Module(t, "@huggingface/gguf")
	return filepath.Join(dir, "dist", "index.mjs"), node
}

// TestJobEpochs: order.json lists as many epochs as the trainer's plan runs.
func TestJobEpochs(t *testing.T) {
	for _, tc := range []struct{ rows, batch, accum, epochs, maxSteps, want int }{
		{10, 1, 4, 3, -1, 3},
		{10, 2, 4, 2, 5, 3}, // 5 micro-batches, 2 updates per epoch: 5 steps need 3 epochs
		{10, 2, 4, 2, 4, 2},
		{3, 4, 1, 1, 7, 7},
	} {
		cfg := config.Default()
		cfg.Training.BatchSize, cfg.Training.GradientAccumulationSteps = tc.batch, tc.accum
		cfg.Training.Epochs, cfg.Training.MaxSteps = tc.epochs, tc.maxSteps
		if got := JobEpochs(cfg, tc.rows); got != tc.want {
			t.Errorf("%+v: %d epochs, want %d", tc, got, tc.want)
		}
	}
}
