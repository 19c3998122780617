package formats

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/peft"
	"qwentune/model/safetensors"
	"qwentune/model/tokenizer"
)

// fixture is a tiny random Qwen2 model on disk with the built-in tokenizer,
// and an adapter whose B matrices are random, so merging changes logits.
type fixture struct {
	dir     string
	cfg     model.Config
	base    *nn.Model
	tok     *tokenizer.Tokenizer
	adapter *nn.Adapter
	merged  *nn.Model
	ids     []int
}

func newFixture(t *testing.T, shape model.Config, lc nn.LoRAConfig) *fixture {
	t.Helper()
	dir := t.TempDir()
	if err := model.MakeModel(dir, shape, 7, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.Builtin().SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	base, err := nn.Load(dir, nn.LoadOptions{DType: "float32"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := randomAdapter(t, base, lc, 3)
	// The merged model as the exporters merge it: row by row while writing.
	mdir := t.TempDir()
	if err := WriteHF(context.Background(), mdir, base, model.DefaultGenerationConfig(), tok, HFOptions{DType: F32, Adapter: a}, nil); err != nil {
		t.Fatal(err)
	}
	merged, err := nn.Load(mdir, nn.LoadOptions{DType: "float32"})
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("In the beginning God created the heaven and the earth.<|im_end|>")
	return &fixture{dir: dir, cfg: base.Config, base: base, tok: tok, adapter: a, merged: merged, ids: ids}
}

// randomAdapter is a fresh adapter with B drawn from N(0, 0.05²).
func randomAdapter(t *testing.T, m *nn.Model, lc nn.LoRAConfig, seed uint64) *nn.Adapter {
	t.Helper()
	a, err := m.NewAdapter(lc, int64(seed))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, p := range a.Params() {
		if strings.Contains(p.Name, "lora_B") {
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * 0.05)
			}
		}
	}
	return a
}

var qvLoRA = nn.LoRAConfig{R: 8, Alpha: 16, TargetModules: []string{"q_proj", "v_proj", "down_proj"}}

// adaptedLogits is the base model with the adapter applied unmerged.
func (f *fixture) adaptedLogits() [][]float32 {
	f.base.SetAdapter(f.adapter)
	defer f.base.SetAdapter(nil)
	return f.base.Logits(f.ids)
}

// maxDiff returns max |a−b| and max |a|.
func maxDiff(a, b [][]float32) (diff, scale float64) {
	for i := range a {
		for j := range a[i] {
			diff = max(diff, math.Abs(float64(a[i][j]-b[i][j])))
			scale = max(scale, math.Abs(float64(a[i][j])))
		}
	}
	return diff, scale
}

func TestMergedLogitsEqualUnmerged(t *testing.T) {
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	want := f.adaptedLogits()
	got := f.merged.Logits(f.ids)
	d, s := maxDiff(want, got)
	t.Logf("merged vs unmerged: max |Δlogit| %.3g (max |logit| %.3g)", d, s)
	if d > 1e-5*max(1, s) {
		t.Fatalf("merged model differs from base+adapter by %g", d)
	}
	nm, err := f.adapter.Merge(f.base)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := maxDiff(nm.Logits(f.ids), got); d > 1e-5*max(1, s) {
		t.Fatalf("streamed merge differs from nn's Adapter.Merge by %g", d)
	}
	if d0, _ := maxDiff(f.base.Logits(f.ids), got); d0 < 1e-3 {
		t.Fatalf("the adapter barely changes the logits (%g): the test would prove nothing", d0)
	}
}

// TestWriteHF: the merged folder loaded by nn.Load gives base+adapter
// logits; f32 within float32 rounding, bf16 and f16 within the stated
// tolerance (relative to the largest logit).
func TestWriteHF(t *testing.T) {
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	want := f.merged.Logits(f.ids)
	for _, tc := range []struct {
		enc   Encoding
		shard int64
		tol   float64 // max |Δlogit| / max |logit|
		torch string
	}{
		{F32, 0, 1e-6, "float32"},
		{F32, 300_000, 1e-6, "float32"},
		{BF16, 0, 1e-2, "bfloat16"},
		{F16, 0, 1e-3, "float16"},
	} {
		t.Run(tc.enc.String(), func(t *testing.T) {
			dir := t.TempDir()
			var last, total int64
			err := WriteHF(context.Background(), dir, f.base, model.DefaultGenerationConfig(), f.tok,
				HFOptions{DType: tc.enc, MaxShardBytes: tc.shard, Adapter: f.adapter}, func(ev progress.Event) { last, total = ev.Bytes.Done, ev.Bytes.Total })
			if err != nil {
				t.Fatal(err)
			}
			if last != total || total == 0 {
				t.Errorf("progress ended at %d of %d", last, total)
			}
			cfg, err := model.LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TorchDType != tc.torch {
				t.Errorf("torch_dtype %q, want %q", cfg.TorchDType, tc.torch)
			}
			for _, name := range []string{"generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Error(err)
				}
			}
			_, idxErr := os.Stat(filepath.Join(dir, safetensors.IndexName))
			if sharded := idxErr == nil; sharded != (tc.shard > 0) {
				t.Errorf("sharded = %v, want %v", sharded, tc.shard > 0)
			}
			if tc.shard > 0 {
				shards, _ := filepath.Glob(filepath.Join(dir, "model-*-of-*.safetensors"))
				if len(shards) < 2 {
					t.Errorf("%d shards", len(shards))
				}
			}
			m, err := nn.Load(dir, nn.LoadOptions{DType: "float32"})
			if err != nil {
				t.Fatal(err)
			}
			d, s := maxDiff(want, m.Logits(f.ids))
			t.Logf("%s: max |Δlogit| %.3g, relative %.3g (tolerance %g)", tc.enc, d, d/s, tc.tol)
			if d > tc.tol*s {
				t.Errorf("logits differ by %g (relative %g > %g)", d, d/s, tc.tol)
			}
			if tc.enc == F32 && d != 0 {
				t.Errorf("f32 round trip is not exact: %g", d)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5GB", 5_000_000_000, true}, {"500MB", 500_000_000, true}, {"2GiB", 2 << 30, true},
		{"10KB", 10_000, true}, {"1.5 MiB", 3 << 19, true}, {"12345", 12345, true}, {"100 kb", 100_000, true},
		{"", 0, false}, {"GB", 0, false}, {"-1GB", 0, false}, {"5XB", 0, false}, {"0", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCancelLeavesNoFile(t *testing.T) {
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	err := WriteGGUF(ctx, path, f.merged, f.tok, GGUFOptions{DType: F16}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	err = WriteHF(ctx, dir, f.merged, model.DefaultGenerationConfig(), f.tok, HFOptions{DType: F32}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("cancelled exports left %d files", len(ents))
	}
}

// q8Shape is tiny with an intermediate size that is a multiple of 32, so
// every matrix is Q8_0 (tiny's 176 makes ffn_down fall back to F16).
func q8Shape() model.Config {
	c := model.Shapes["tiny"]
	c.IntermediateSize = 192
	return c
}

// TestGGUFRoundTrip: our GGUF read back gives the logits of the model it
// was written from: exactly for F32, within the stated tolerances otherwise.
func TestGGUFRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape model.Config
		enc   Encoding
		tol   float64 // max |Δlogit| / max |logit|
	}{
		{"f32", model.Shapes["tiny"], F32, 0},
		{"f16", model.Shapes["tiny"], F16, 1e-3},
		{"bf16", model.Shapes["tiny"], BF16, 1e-2},
		{"q8_0", q8Shape(), Q8_0, 2e-2},
		{"q8_0 with F16 fallback", model.Shapes["tiny"], Q8_0, 2e-2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.shape, qvLoRA)
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := WriteGGUF(context.Background(), path, f.base, f.tok, GGUFOptions{DType: tc.enc, Adapter: f.adapter}, nil); err != nil {
				t.Fatal(err)
			}
			m, err := ReadGGUF(path, "float32")
			if err != nil {
				t.Fatal(err)
			}
			d, s := maxDiff(f.merged.Logits(f.ids), m.Logits(f.ids))
			t.Logf("%s: max |Δlogit| %.3g, relative %.3g (tolerance %g)", tc.name, d, d/s, tc.tol)
			if d > tc.tol*s {
				t.Errorf("logits differ by %g (relative %g > %g)", d, d/s, tc.tol)
			}
			g, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			for _, ti := range g.Tensors() {
				want := ggmlType(tc.enc)
				switch {
				case len(ti.Dims) == 1 || strings.HasSuffix(ti.Name, "_norm.weight"):
					want = gguf.F32
				case tc.enc == Q8_0 && ti.Dims[0]%32 != 0:
					want = gguf.F16
				}
				if ti.Type != want {
					t.Errorf("%s: type %s, want %s", ti.Name, ti.Type, want)
				}
			}
		})
	}
}

// TestGGUFMetadata checks the qwen2 and tokenizer keys and the tensor layout.
func TestGGUFMetadata(t *testing.T) {
	shape := model.Shapes["tiny"]
	shape.VocabSize = 8256 // 64 rows of padding beyond the tokenizer
	shape.TieWordEmbeddings = false
	f := newFixture(t, shape, qvLoRA)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteGGUF(context.Background(), path, f.merged, f.tok, GGUFOptions{DType: Q8_0, Name: "tiny-ft"}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := f.cfg
	want := map[string]any{
		"general.architecture":                   "qwen2",
		"general.name":                           "tiny-ft",
		"general.file_type":                      uint32(7),
		"qwen2.context_length":                   uint32(c.MaxPositionEmbeddings),
		"qwen2.embedding_length":                 uint32(64),
		"qwen2.block_count":                      uint32(2),
		"qwen2.feed_forward_length":              uint32(176),
		"qwen2.attention.head_count":             uint32(4),
		"qwen2.attention.head_count_kv":          uint32(2),
		"qwen2.rope.freq_base":                   float32(1e6),
		"qwen2.attention.layer_norm_rms_epsilon": float32(1e-6),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "qwen2",
		"tokenizer.ggml.bos_token_id":            uint32(8189),
		"tokenizer.ggml.eos_token_id":            uint32(f.tok.EOS()),
		"tokenizer.ggml.padding_token_id":        uint32(f.tok.Pad()),
		"tokenizer.ggml.add_bos_token":           false,
		"tokenizer.chat_template":                f.tok.ChatTemplate(),
		"general.alignment":                      uint32(32),
	}
	for k, w := range want {
		got, ok := g.KV(k)
		if !ok || got != w {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
	v, _ := g.KV("tokenizer.ggml.tokens")
	tokens, _ := v.([]string)
	v, _ = g.KV("tokenizer.ggml.token_type")
	types, _ := v.([]int32)
	if len(tokens) != 8256 || len(types) != 8256 {
		t.Fatalf("%d tokens, %d types; want 8256", len(tokens), len(types))
	}
	im, _ := f.tok.TokenID("<|im_end|>")
	for _, tc := range []struct {
		id  int
		tok string
		typ int32
	}{
		{0, f.tok.Token(0), 1}, {im, "<|im_end|>", 3}, {8189, "<|endoftext|>", 3}, {8192, "[PAD8192]", 5}, {8255, "[PAD8255]", 5},
	} {
		if tokens[tc.id] != tc.tok || types[tc.id] != tc.typ {
			t.Errorf("token %d = %q type %d, want %q type %d", tc.id, tokens[tc.id], types[tc.id], tc.tok, tc.typ)
		}
	}
	v, _ = g.KV("tokenizer.ggml.merges")
	if merges, _ := v.([]string); len(merges) != len(f.tok.Merges()) || merges[0] != f.tok.Merges()[0] {
		t.Errorf("merges: %d, want %d", len(merges), len(f.tok.Merges()))
	}
	for _, tc := range []struct {
		name string
		dims []uint64
	}{
		{"token_embd.weight", []uint64{64, 8256}},
		{"output.weight", []uint64{64, 8256}},
		{"blk.0.attn_q.weight", []uint64{64, 64}},
		{"blk.0.attn_k.weight", []uint64{64, 32}},
		{"blk.0.attn_k.bias", []uint64{32}},
		{"blk.1.ffn_down.weight", []uint64{176, 64}},
		{"blk.1.ffn_up.weight", []uint64{64, 176}},
		{"output_norm.weight", []uint64{64}},
	} {
		ti, ok := g.Tensor(tc.name)
		if !ok || !equalDims(ti.Dims, tc.dims) {
			t.Errorf("%s: dims %v, want %v", tc.name, ti.Dims, tc.dims)
		}
	}
	// Nothing is transposed: row o of the [out, in] weight is GGUF's o-th
	// run of `in` values.
	up, err := g.TensorFloat32("blk.1.ffn_up.weight")
	if err != nil {
		t.Fatal(err)
	}
	w := &f.merged.Layers[1].MLP.UpProj.Weight
	for _, rc := range [][2]int{{0, 0}, {5, 17}, {175, 63}} {
		got, ref := up[rc[0]*64+rc[1]], w.At(rc[0], rc[1])
		if math.Abs(float64(got-ref)) > 0.01*math.Abs(float64(ref))+1e-3 {
			t.Errorf("ffn_up[%d][%d] = %g, want ≈ %g", rc[0], rc[1], got, ref)
		}
	}
	m, err := ReadGGUF(path, "float32")
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.TieWordEmbeddings || m.Config.VocabSize != 8256 {
		t.Errorf("read back: tied %v, vocab %d", m.Config.TieWordEmbeddings, m.Config.VocabSize)
	}
}

func equalDims(a, b []uint64) bool {
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

// TestReadGGUFRefusesBadFiles: truncated and foreign files fail with an
// error, never a panic.
func TestReadGGUFRefusesBadFiles(t *testing.T) {
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := WriteGGUF(context.Background(), path, f.merged, f.tok, GGUFOptions{DType: F16}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	adapterPath := filepath.Join(dir, "a.gguf")
	if err := WriteGGUFAdapter(context.Background(), adapterPath, f.adapter.ToPEFT("tiny"), f.cfg, AdapterOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{"empty": {}, "magic only": data[:4], "half header": data[:200]}
	for _, cut := range []int{len(data) / 2, len(data) - 1, len(data) - 40} {
		cases["cut at "+strconv.Itoa(cut)] = data[:cut]
	}
	for name, b := range cases {
		p := filepath.Join(dir, "bad.gguf")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadGGUF(p, "float32"); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	if _, err := ReadGGUF(adapterPath, "float32"); err == nil || !strings.Contains(err.Error(), "adapter") {
		t.Errorf("adapter read as a model: %v", err)
	}
}

// TestGGUFAdapter checks the LoRA GGUF's metadata, names, dims and bytes.
func TestGGUFAdapter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lc    nn.LoRAConfig
		alpha float32
		err   string
	}{
		{"plain", qvLoRA, 16, ""},
		{"rslora", nn.LoRAConfig{R: 4, Alpha: 8, UseRSLoRA: true, TargetModules: []string{"q_proj", "o_proj"}}, 16, ""},
		{"rank pattern without rslora", nn.LoRAConfig{R: 8, Alpha: 16, TargetModules: []string{"q_proj", "v_proj"},
			RankPattern: map[string]int{"v_proj": 4}}, 16, ""},
		{"alpha pattern", nn.LoRAConfig{R: 8, Alpha: 16, TargetModules: []string{"q_proj", "v_proj"},
			AlphaPattern: map[string]float64{"v_proj": 32}}, 0, "one adapter.lora.alpha"},
		{"rank pattern with rslora", nn.LoRAConfig{R: 8, Alpha: 16, UseRSLoRA: true, TargetModules: []string{"q_proj", "v_proj"},
			RankPattern: map[string]int{"v_proj": 4}}, 0, "rsLoRA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, model.Shapes["tiny"], tc.lc)
			pa := f.adapter.ToPEFT("tiny")
			path := filepath.Join(t.TempDir(), "a.gguf")
			err := WriteGGUFAdapter(context.Background(), path, pa, f.cfg, AdapterOptions{DType: F32}, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.err)
				}
				if _, statErr := os.Stat(path); statErr == nil {
					t.Error("a refused adapter left a file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			for k, w := range map[string]any{"general.type": "adapter", "adapter.type": "lora",
				"general.architecture": "qwen2", "adapter.lora.alpha": tc.alpha} {
				if got, _ := g.KV(k); got != w {
					t.Errorf("%s = %#v, want %#v", k, got, w)
				}
			}
			if len(g.Tensors()) != len(pa.Tensors) {
				t.Errorf("%d tensors, want %d", len(g.Tensors()), len(pa.Tensors))
			}
			for key, pt := range pa.Tensors {
				layer, mod, which, err := peft.ParseKey(key)
				if err != nil {
					t.Fatal(err)
				}
				mm, _ := model.Qwen2.Linear(mod)
				gname := model.Weight{Module: mm, Layer: layer}.GGUFName()
				gname += map[string]string{"lora_A": ".lora_a", "lora_B": ".lora_b"}[which]
				ti, ok := g.Tensor(gname)
				if !ok {
					t.Fatalf("no tensor %s for %s", gname, key)
				}
				if !equalDims(ti.Dims, []uint64{uint64(pt.Shape[1]), uint64(pt.Shape[0])}) || ti.Type != gguf.F32 {
					t.Errorf("%s: dims %v type %s, want [%d %d] F32", gname, ti.Dims, ti.Type, pt.Shape[1], pt.Shape[0])
				}
				v, err := g.TensorFloat32(gname)
				if err != nil {
					t.Fatal(err)
				}
				for i := range v {
					if v[i] != pt.Data[i] {
						t.Fatalf("%s[%d] = %g, want %g (bytes must be unchanged)", gname, i, v[i], pt.Data[i])
					}
				}
			}
		})
	}
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	err := WriteGGUFAdapter(context.Background(), filepath.Join(t.TempDir(), "a.gguf"), f.adapter.ToPEFT("tiny"), f.cfg, AdapterOptions{DType: Q8_0}, nil)
	if err == nil || !strings.Contains(err.Error(), "q8_0") {
		t.Errorf("q8_0 adapter: err = %v", err)
	}
	other := f.cfg
	other.NumHiddenLayers = 3
	err = WriteGGUFAdapter(context.Background(), filepath.Join(t.TempDir(), "a.gguf"), f.adapter.ToPEFT("tiny"), other, AdapterOptions{}, nil)
	if err == nil {
		t.Error("an adapter for 2 layers was written for a 3-layer model")
	}
}

// TestMismatchedAdapterRefused: an adapter built for another shape is
// refused before anything is written.
func TestMismatchedAdapterRefused(t *testing.T) {
	f := newFixture(t, model.Shapes["tiny"], qvLoRA)
	for name, shape := range map[string]func(c *model.Config){
		"more layers": func(c *model.Config) { c.NumHiddenLayers = 3 },
		"wider":       func(c *model.Config) { c.IntermediateSize = 192 },
	} {
		t.Run(name, func(t *testing.T) {
			c := model.Shapes["tiny"]
			shape(&c)
			other, err := nn.New(c, "float32", 1)
			if err != nil {
				t.Fatal(err)
			}
			a := randomAdapter(t, other, qvLoRA, 1)
			dir := t.TempDir()
			err = WriteGGUF(context.Background(), filepath.Join(dir, "m.gguf"), f.base, f.tok, GGUFOptions{Adapter: a}, nil)
			if err == nil {
				t.Fatal("GGUF written with a mismatched adapter")
			}
			t.Log(err)
			if err := WriteHF(context.Background(), dir, f.base, model.DefaultGenerationConfig(), f.tok, HFOptions{Adapter: a}, nil); err == nil {
				t.Fatal("HF folder written with a mismatched adapter")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("refused exports left %d files", len(ents))
			}
		})
	}
}

// TestLooksSpecial follows llama.cpp's does_token_look_special (conversion/base.py).
func TestLooksSpecial(t *testing.T) {
	for s, want := range map[string]bool{
		"<|im_end|>": true, "<|x": false, "<｜begin▁of▁sentence｜>": true, "<unused12>": true, "<unused": false,
		"<pad>": true, "<mask>": true, "<2mass>": true, "[@BOS@]": true, "<think>": false, "</think>": false, "pad": false,
	} {
		if got := looksSpecial(s); got != want {
			t.Errorf("looksSpecial(%q) = %v, want %v", s, got, want)
		}
	}
}
