package tokenizer

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// builtinGGUF is the built-in tokenizer's metadata as llama.cpp's converter
// (and our export) writes it.
func builtinGGUF() GGUFVocab { return ggufOf(Builtin()) }

// ggufOf is b's metadata as llama.cpp's converter (and our export) writes
// it, with three unused ids after b's.
func ggufOf(b *Tokenizer) GGUFVocab {
	added := map[int]AddedToken{}
	for _, a := range b.AddedTokens() {
		added[a.ID] = a
	}
	v := GGUFVocab{Model: "gpt2", Pre: "qwen2", Merges: b.Merges(), EOS: b.EOS(), Pad: b.Pad(), ChatTemplate: b.ChatTemplate()}
	for id, tok := range b.Vocab() {
		typ := int32(GGUFNormal)
		if a, ok := added[id]; ok {
			typ = GGUFUserDefined
			if a.Special {
				typ = GGUFControl
			}
		}
		v.Tokens, v.Types = append(v.Tokens, tok), append(v.Types, typ)
	}
	// Unused ids past the tokenizer's, as a model's vocab_size leaves them.
	for i := range 3 {
		v.Tokens, v.Types = append(v.Tokens, fmt.Sprintf("[PAD%d]", len(v.Tokens)+i)), append(v.Types, GGUFUnused)
	}
	return v
}

// The built-in tokenizer survives GGUF metadata: same vocabulary, merges,
// added tokens, special ids and template, the same ids for every text, and
// SaveFiles writes a tokenizer.json that loads back to the same again.
func TestFromGGUFRoundTrip(t *testing.T) {
	b := Builtin()
	g, err := FromGGUF(builtinGGUF(), "model.gguf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := g.SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	saved, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Hello world!", "  leading spaces\n\nand lines\r\n", "naïve café 1234567 ∑ 🙂",
		"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>x<|im_end|>", "don't WE'LL i'M"}
	for _, tk := range []*Tokenizer{g, saved} {
		if !slices.Equal(tk.Vocab(), b.Vocab()) || !slices.Equal(tk.Merges(), b.Merges()) ||
			!slices.Equal(tk.AddedTokens(), b.AddedTokens()) {
			t.Fatal("vocabulary, merges or added tokens differ from the built-in tokenizer's")
		}
		if tk.EOS() != b.EOS() || tk.Pad() != b.Pad() || tk.ChatTemplate() != b.ChatTemplate() {
			t.Fatalf("eos %d pad %d, want %d %d (or the chat template differs)", tk.EOS(), tk.Pad(), b.EOS(), b.Pad())
		}
		for _, s := range texts {
			if got, want := tk.Encode(s), b.Encode(s); !slices.Equal(got, want) {
				t.Fatalf("%q encodes to %v, want %v", s, got, want)
			}
			if got, want := tk.Decode(b.Encode(s), true), b.Decode(b.Encode(s), true); got != want {
				t.Fatalf("decode %q, want %q", got, want)
			}
		}
	}
	if _, err := Load(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
}

// Metadata we cannot honour is refused with the key at fault.
func TestFromGGUFRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*GGUFVocab)
		want string
	}{
		{"llama", func(v *GGUFVocab) { v.Model = "llama" }, `tokenizer.ggml.model is "llama"`},
		{"pre", func(v *GGUFVocab) { v.Pre = "llama-bpe" }, `tokenizer.ggml.pre is "llama-bpe"`},
		{"no tokens", func(v *GGUFVocab) { v.Tokens, v.Types = nil, nil }, "tokenizer.ggml.tokens is missing"},
		{"types", func(v *GGUFVocab) { v.Types = v.Types[:10] }, "tokenizer.ggml.token_type has 10 entries"},
		{"byte type", func(v *GGUFVocab) { v.Types[7] = GGUFByte }, "tokenizer.ggml.token_type[7] is 6"},
		{"duplicate", func(v *GGUFVocab) { v.Tokens[8] = v.Tokens[9] }, "tokenizer.ggml.tokens[9]"},
		{"eos", func(v *GGUFVocab) { v.EOS = len(v.Tokens) + 5 }, "tokenizer.ggml.eos_token_id"},
		{"eos unused", func(v *GGUFVocab) { v.EOS = len(v.Tokens) - 1 }, "tokenizer.ggml.eos_token_id"},
		{"pad", func(v *GGUFVocab) { v.Pad = -7 + len(v.Tokens)*2 }, "tokenizer.ggml.padding_token_id"},
		{"merge", func(v *GGUFVocab) { v.Merges = append(v.Merges, "zzq qqz") }, "merges["},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := builtinGGUF()
			c.edit(&v)
			_, err := FromGGUF(v, "bad.gguf")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bad.gguf: ") {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// The real Qwen tokenizer (151k ids, Qwen3's added tokens, the corpus of
// the reference tests) survives GGUF metadata too.
func TestFromGGUFQwen(t *testing.T) {
	q := qwen(t)
	g, err := FromGGUF(ggufOf(q), "qwen.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.AddedTokens(), q.AddedTokens()) || g.EOS() != q.EOS() || g.ChatTemplate() != q.ChatTemplate() {
		t.Fatal("added tokens, eos or chat template differ")
	}
	for _, s := range readCorpus(t) {
		if got, want := g.Encode(s), q.Encode(s); !slices.Equal(got, want) {
			t.Fatalf("%q encodes to %v, want %v", s, got, want)
		}
	}
}
