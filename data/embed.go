// Package data holds the files a new user starts from: the example
// train.jsonl and test.jsonl, and the built-in demo model (data/demo), which
// is embedded in the binaries so the app works offline out of the box.
package data

import "embed"

// Demo holds demo/: config.json, generation_config.json, model.safetensors
// and the tokenizer files of the built-in demo model. Its tokenizer files are
// also tokenizer.Builtin, so they are embedded once, here.
//
//go:embed demo
var Demo embed.FS
