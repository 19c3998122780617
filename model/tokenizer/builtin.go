package tokenizer

import (
	_ "embed"
	"sync"
)

// The built-in tokenizer: Qwen2's tokenizer cut to 8192 ids (8189 byte-level BPE ids, then
// <|endoftext|>, <|im_start|>, <|im_end|>), for tiny test models and the demo model. Regenerate with
// go run ./model/tokenizer/internal/cutgen (after npm ci --prefix tools/npm).
var (
	//go:embed builtin/tokenizer.json
	builtinTokenizer []byte
	//go:embed builtin/tokenizer_config.json
	builtinConfig []byte
)

// BuiltinVocabSize is the vocabulary size of Builtin.
const BuiltinVocabSize = 8192

var builtinOnce = sync.OnceValue(func() *Tokenizer {
	t, err := Parse(builtinTokenizer, "builtin/tokenizer.json")
	if err == nil {
		err = t.applyConfig(builtinConfig, "builtin/tokenizer_config.json")
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
