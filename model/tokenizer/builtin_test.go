package tokenizer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestBuiltin(t *testing.T) {
	tok := Builtin()
	if tok.VocabSize() != BuiltinVocabSize || len(tok.Vocab()) != BuiltinVocabSize || len(tok.Merges()) != BuiltinVocabSize-3-256 {
		t.Fatalf("VocabSize %d, %d merges", tok.VocabSize(), len(tok.Merges()))
	}
	for i, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		id, ok := tok.TokenID(s)
		if !ok || id != BuiltinVocabSize-3+i || !tok.IsSpecial(id) || tok.Token(id) != s {
			t.Errorf("%s: id %d %v", s, id, ok)
		}
	}
	if tok.EOS() != 8189 || tok.Pad() != 8189 || !tok.HasChatTemplate() || tok.ChatTemplate() != ChatMLTemplate {
		t.Errorf("eos %d pad %d template %q", tok.EOS(), tok.Pad(), tok.ChatTemplate())
	}
	if got := tok.AddedTokens(); len(got) != 3 || got[0].ID != 8189 || !got[2].Special {
		t.Errorf("AddedTokens = %+v", got)
	}
	for _, s := range readCorpus(t) {
		if got := tok.Decode(tok.Encode(s), false); got != nfcBetweenAdded(tok, s) {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	dir := t.TempDir()
	if err := WriteBuiltin(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"tokenizer.json": builtinFile(builtinTokenizerName), "tokenizer_config.json": builtinFile(builtinConfigName)} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("WriteBuiltin: %s differs (%v)", name, err)
		}
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := "The quick brown fox jumps over the lazy dog."
	if !equalInts(back.Encode(s), tok.Encode(s)) {
		t.Error("reloaded builtin encodes differently")
	}
}

// TestBuiltinMatchesFull: whenever the full Qwen tokenizer's ids are all below 8189, the cut
// tokenizer must give the same ids, since it keeps exactly the merges that build them.
func TestBuiltinMatchesFull(t *testing.T) {
	full, cut := qwen(t), Builtin()
	compared := 0
	texts := append(readCorpus(t), mixedCorpus(4, 100_000)...)
	texts = append(texts, "The quick brown fox jumps over the lazy dog.", "Hello, world! How are you today?",
		"She said she would come back tomorrow, but nobody believed her.", "def main():\n    print('hi')\n")
	for _, s := range texts {
		for _, w := range append([]string{s}, split(s)...) { // whole texts and their single words
			want := full.Encode(w)
			small := true
			for _, id := range want {
				small = small && id < BuiltinVocabSize-3
			}
			if !small {
				continue
			}
			compared++
			if got := cut.Encode(w); !equalInts(got, want) {
				t.Errorf("Encode(%q): builtin %v, full %v", w, got, want)
			}
		}
	}
	t.Logf("%d texts and words compared", compared)
	if compared < 1000 {
		t.Errorf("only %d texts compared", compared)
	}
}
