package tokenizer

import (
	"io/fs"
	"sync"

	"qwentune/data"
)

// The built-in tokenizer is the demo model's (data/demo), which package data
// embeds once for both: Qwen2's tokenizer cut to 8192 ids (8189 byte-level
// BPE ids, then <|endoftext|>, <|im_start|>, <|im_end|>), for tiny test
// models and the demo model. Regenerate with go run
// ./model/tokenizer/internal/cutgen (after npm ci --prefix tools/npm).
const (
	builtinTokenizerName = "demo/tokenizer.json"
	builtinConfigName    = "demo/tokenizer_config.json"
)

// BuiltinVocabSize is the vocabulary size of Builtin.
const BuiltinVocabSize = 8192

// builtinFile returns one of the built-in tokenizer's embedded files.
func builtinFile(name string) []byte {
	b, err := fs.ReadFile(data.Demo, name)
	if err != nil {
		panic("tokenizer: embedded builtin tokenizer: " + err.Error()) // tested; cannot happen
	}
	return b
}

var builtinOnce = sync.OnceValue(func() *Tokenizer {
	t, err := Parse(builtinFile(builtinTokenizerName), "data/"+builtinTokenizerName)
	if err == nil {
		err = t.applyConfig(builtinFile(builtinConfigName), "data/"+builtinConfigName)
	}
	if err != nil {
		panic("tokenizer: embedded builtin tokenizer: " + err.Error()) // tested; cannot happen
	}
	return t
})

// Builtin returns the built-in 8192-token tokenizer (shared; a Tokenizer is safe for concurrent use).
func Builtin() *Tokenizer { return builtinOnce() }

// WriteBuiltin writes the built-in tokenizer's tokenizer.json and tokenizer_config.json to dir.
func WriteBuiltin(dir string) error { return Builtin().SaveFiles(dir) }
