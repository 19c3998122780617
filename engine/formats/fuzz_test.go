package formats

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"qwentune/model/gguf"
)

// microGGUF is a one-layer qwen2 GGUF small enough to fuzz: hidden 32,
// 2 heads of 16, 1 kv head, ffn 32, vocab 32, tied embeddings.
func microGGUF(t testing.TB) []byte {
	w := gguf.NewWriter()
	w.AddKV("general.architecture", "qwen2")
	for k, v := range map[string]uint32{
		"qwen2.context_length": 64, "qwen2.embedding_length": 32, "qwen2.block_count": 1,
		"qwen2.feed_forward_length": 32, "qwen2.attention.head_count": 2, "qwen2.attention.head_count_kv": 1,
	} {
		w.AddKV(k, v)
	}
	w.AddKV("qwen2.rope.freq_base", float32(1e6))
	w.AddKV("qwen2.attention.layer_norm_rms_epsilon", float32(1e-6))
	add := func(name string, typ gguf.GGMLType, dims ...uint64) {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%7) / 10
		}
		b, err := gguf.Encode(v, typ)
		if err != nil {
			t.Fatal(err)
		}
		w.AddTensor(name, dims, typ, b)
	}
	add("token_embd.weight", gguf.Q8_0, 32, 32)
	add("blk.0.attn_norm.weight", gguf.F32, 32)
	add("blk.0.attn_q.weight", gguf.F16, 32, 32)
	add("blk.0.attn_q.bias", gguf.F32, 32)
	add("blk.0.attn_k.weight", gguf.BF16, 32, 16)
	add("blk.0.attn_k.bias", gguf.F32, 16)
	add("blk.0.attn_v.weight", gguf.F32, 32, 16)
	add("blk.0.attn_v.bias", gguf.F32, 16)
	add("blk.0.attn_output.weight", gguf.Q8_0, 32, 32)
	add("blk.0.ffn_norm.weight", gguf.F32, 32)
	add("blk.0.ffn_gate.weight", gguf.F16, 32, 32)
	add("blk.0.ffn_up.weight", gguf.F16, 32, 32)
	add("blk.0.ffn_down.weight", gguf.F16, 32, 32)
	add("output_norm.weight", gguf.F32, 32)
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadMicroGGUF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, microGGUF(t), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadGGUF(path, "bfloat16")
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.HeadDim != 16 || c.NumKeyValueHeads != 1 || c.VocabSize != 32 || !c.TieWordEmbeddings || c.RMSNormEps != 1e-6 {
		t.Errorf("config %+v", c)
	}
	if got := m.Logits([]int{1, 2, 3}); len(got) != 3 || len(got[0]) != 32 {
		t.Errorf("logits shape %dx%d", len(got), len(got[0]))
	}
}

// FuzzReadGGUF: any bytes are either a model or an error, never a panic.
func FuzzReadGGUF(f *testing.F) {
	seed := microGGUF(f)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("GGUF"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f.gguf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if m, err := ReadGGUF(path, "float32"); err == nil && m == nil {
			t.Fatal("nil model without error")
		}
	})
}
