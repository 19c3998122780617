package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"qwentune/engine/generate"
	"qwentune/model/tokenizer"
	"qwentune/plugins/evaluators"
)

// evalJudge evaluates data/test.jsonl on the demo model with the judge
// plugin, the sets applied to the config. A test label must be one of the
// evaluator's, so the file's "ok" and "not ok" are relabelled as the
// judge's two labels, in a copy.
func evalJudge(t *testing.T, s *Session, labels [2]string, sets ...string) EvalResult {
	t.Helper()
	b, err := os.ReadFile("../data/test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var row map[string]any
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatal(err)
		}
		row["label"] = map[any]string{"ok": labels[0], "not ok": labels[1]}[row["label"]]
		enc, _ := json.Marshal(row)
		out.Write(append(enc, '\n'))
	}
	testFile := filepath.Join(t.TempDir(), "test.jsonl")
	if err := os.WriteFile(testFile, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, DemoName, append([]string{"evaluation.evaluator=judge", "evaluation.max_new_tokens=8",
		"evaluation.judge_max_new_tokens=6", "chat.temperature=0", "dataset.test_file=" + testFile,
		"evaluation.judge_labels=" + labels[0] + ", " + labels[1], "evaluation.positive_label=" + labels[0]}, sets...)...)
	res, err := s.Evaluate(context.Background(), cfg, EvalOptions{PluginDirs: []string{pluginDir}, DevPlugins: true, OutDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Name != "judge" || len(res.Tuned.Results) != 21 || !res.Tuned.Complete {
		t.Fatalf("evaluator %q, %d results, complete %v", res.Info.Name, len(res.Tuned.Results), res.Tuned.Complete)
	}
	m := res.Tuned.Metrics
	var counted int
	for _, row := range m.Confusion {
		for _, n := range row {
			counted += n
		}
	}
	if m.Total != 21 || m.Judged+m.Unjudged != 21 || counted != m.Judged || slices.Contains(m.Labels, evaluators.Unjudged) {
		t.Fatalf("metrics %+v", m)
	}
	return res
}

// judgeAnswer is what the judge model answers to the rubric question,
// asked here directly (greedy, the judge's max_new_tokens): the oracle for
// what went over the broker.
func judgeAnswer(t *testing.T, s *Session, q string) string {
	t.Helper()
	ids, err := s.ChatPrompt("", []tokenizer.Message{{Role: "user", Content: q}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Generate(context.Background(), nil, ids, generate.Options{MaxNewTokens: 6, StopIDs: s.StopIDs(true)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Text
}

// TestJudgeEvaluatesTestSet runs the judge plugin end to end on the demo
// model, the base model judging its own answers. The demo model (King
// James Bible) cannot grade, so the rubric is the question itself and the
// labels are words it says: "lord" and "i". Every verdict must be the
// label named first (whole word, any case) in the answer the judge model
// gives when asked directly, or "unjudged" when it names neither; this
// run has both labels and unjudged samples.
func TestJudgeEvaluatesTestSet(t *testing.T) {
	s, err := Open(context.Background(), DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	res := evalJudge(t, s, [2]string{"lord", "i"}, "evaluation.judge_prompt={input}")
	first := regexp.MustCompile(`(?i)\b(lord|i)\b`)
	seen := map[string]int{}
	for _, r := range res.Tuned.Results {
		answer := strings.TrimSpace(judgeAnswer(t, s, r.Input))
		want := evaluators.Unjudged
		if m := first.FindStringSubmatch(answer); m != nil {
			want = strings.ToLower(m[1])
		}
		if r.Predicted != want || answer != "" && !strings.Contains(r.Reason, strconv.Quote(answer)) {
			t.Errorf("line %d: verdict %q (%s), want %q for the answer %q", r.Line, r.Predicted, r.Reason, want, answer)
		}
		seen[r.Predicted]++
	}
	if seen["lord"] == 0 || seen["i"] == 0 || seen[evaluators.Unjudged] == 0 {
		t.Errorf("verdicts %v: the run should hold both labels and unjudged samples", seen)
	}
	m := res.Tuned.Metrics
	if m.Unjudged != seen[evaluators.Unjudged] || m.Judged != seen["lord"]+seen["i"] {
		t.Errorf("metrics count %d judged, %d unjudged; verdicts %v", m.Judged, m.Unjudged, seen)
	}
}

// TestJudgeAnswersNothingUsable: with the plugin's built-in rubric and
// labels the demo model never says, every sample is "unjudged": counted,
// out of the metrics, and no error.
func TestJudgeAnswersNothingUsable(t *testing.T) {
	s, err := Open(context.Background(), DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	res := evalJudge(t, s, [2]string{"zebra", "quagga"})
	m := res.Tuned.Metrics
	if m.Unjudged != 21 || m.Judged != 0 || m.Accuracy != 0 || len(m.Confusion) != 0 {
		t.Fatalf("metrics %+v", m)
	}
	for _, r := range res.Tuned.Results {
		if r.Predicted != evaluators.Unjudged || !strings.Contains(r.Reason, "zebra, quagga") && !strings.Contains(r.Reason, "nothing") {
			t.Errorf("line %d: %q %q", r.Line, r.Predicted, r.Reason)
		}
	}
}

// TestJudgeModelChoices: the fine-tune needs an adapter, and another local
// folder is opened once and used.
func TestJudgeModelChoices(t *testing.T) {
	s, err := Open(context.Background(), DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, DemoName, "evaluation.evaluator=judge", "evaluation.max_new_tokens=4", "evaluation.judge_model=finetune")
	_, err = s.Evaluate(context.Background(), cfg, EvalOptions{PluginDirs: []string{pluginDir}, DevPlugins: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "judge_model is finetune") {
		t.Fatalf("finetune without an adapter: %v", err)
	}
	a, err := s.Model.NewAdapter(LoRAConfig(cfg.LoRA), 1)
	if err != nil {
		t.Fatal(err)
	}
	g := newModelGenerator(s, a, cfg)
	if js, ja, err := g.model(context.Background()); err != nil || js != s || ja != a {
		t.Fatalf("finetune judge: %v %v %v", js, ja, err)
	}
	if _, err := s.Evaluate(context.Background(), cfg, EvalOptions{Adapter: a, PluginDirs: []string{pluginDir}, DevPlugins: true}, nil); err != nil {
		t.Fatalf("finetune judge: %v", err)
	}
	g = newModelGenerator(s, a, testConfig(t, DemoName, "evaluation.judge_model=fine-tune"))
	if _, _, err := g.model(context.Background()); err == nil || !strings.Contains(err.Error(), "want base, finetune") {
		t.Fatalf("a misspelt judge_model: %v", err)
	}
	other := tinyModel(t)
	res := evalJudge(t, s, [2]string{"ok", "not ok"}, "evaluation.judge_model="+other)
	g = newModelGenerator(s, nil, testConfig(t, DemoName, "evaluation.judge_model="+other))
	js, _, err := g.model(context.Background())
	if err != nil || js == s || js.Dir != other {
		t.Fatalf("judge session %v, %v", js, err)
	}
	t.Logf("random judge: judged %d, unjudged %d", res.Tuned.Metrics.Judged, res.Tuned.Metrics.Unjudged)
}

// TestModelGeneratorStops: stop strings end the answer early and cut it,
// raw prompts work, and a prompt longer than the context is an error.
func TestModelGeneratorStops(t *testing.T) {
	s, err := Open(context.Background(), DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newModelGenerator(s, nil, testConfig(t, DemoName))
	full, err := g.Generate(context.Background(), evaluators.GenerateRequest{Prompt: "In the beginning", MaxNewTokens: 12})
	if err != nil || full.Text == "" {
		t.Fatalf("%+v %v", full, err)
	}
	ids := s.Tokenizer.Encode("In the beginning")
	want, err := s.Generate(context.Background(), nil, ids, generate.Options{MaxNewTokens: 12, StopIDs: s.StopIDs(false)}, nil)
	if err != nil || want.Text != full.Text {
		t.Fatalf("raw prompt: generator %q, direct %q (%v)", full.Text, want.Text, err)
	}
	stop := strings.TrimSpace(full.Text)[2:4]
	cut, err := g.Generate(context.Background(), evaluators.GenerateRequest{Prompt: "In the beginning", MaxNewTokens: 12, Stop: []string{"\x00", stop}})
	if err != nil || cut.FinishReason != "stop" || cut.Text != full.Text[:strings.Index(full.Text, stop)] {
		t.Fatalf("stop %q: %+v %v (full %q)", stop, cut, err, full.Text)
	}
	long := strings.Repeat("and ", s.Config.MaxPositionEmbeddings)
	if _, err := g.Generate(context.Background(), evaluators.GenerateRequest{Prompt: long}); err == nil || !strings.Contains(err.Error(), "context") {
		t.Fatalf("long prompt: %v", err)
	}
}
