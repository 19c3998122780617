package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"qwentune/engine"
	"qwentune/model"
	"qwentune/model/tokenizer"
)

func init() {
	register(&command{name: "make-model", summary: "write a Hugging Face Qwen2 folder with deterministic random weights",
		usage:   "--shape tiny|qwen2-0.5b|qwen2-1.5b --out DIR [--seed N] [--dtype f32|bf16] [--tokenizer PATH]",
		example: "qwentune make-model --shape tiny --out /tmp/tiny\nqwentune make-model --shape qwen2-1.5b --out /tmp/q15 --dtype bf16",
		run:     runMakeModel})
}

// runMakeModel is `qwentune make-model`: a Hugging Face folder with
// deterministic random weights and a tokenizer.
func runMakeModel(ctx context.Context, fs *flag.FlagSet, args []string) error {
	shape := fs.String("shape", "", "tiny, demo (the demo model's architecture), qwen2-0.5b or qwen2-1.5b")
	out := fs.String("out", "", "output folder")
	seed := fs.Int64("seed", 1, "random seed of the weights")
	dtype := fs.String("dtype", "f32", "storage on disk: f32 or bf16")
	tokPath := fs.String("tokenizer", "", "tokenizer to copy into the folder (default: the built-in 8192-token tokenizer for tiny; required for the full-vocabulary shapes)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, ok := model.Shapes[*shape]
	if *shape == "demo" {
		cfg, ok = engine.DemoShape, true
	}
	if !ok {
		return usagef("--shape %q: want tiny, demo, qwen2-0.5b or qwen2-1.5b", *shape)
	}
	if *out == "" {
		return usagef("--out is required")
	}
	if *dtype != "f32" && *dtype != "bf16" {
		return usagef("--dtype %q: want f32 or bf16", *dtype)
	}
	var tok *tokenizer.Tokenizer
	if *tokPath != "" {
		var err error
		if tok, err = tokenizer.Load(*tokPath); err != nil {
			return err
		}
	} else {
		tok = tokenizer.Builtin()
	}
	if tok.VocabSize() > cfg.VocabSize {
		return fmt.Errorf("tokenizer has %d tokens but the %s shape only %d embedding rows", tok.VocabSize(), *shape, cfg.VocabSize)
	}
	cfg.BOSTokenID = tok.EOS()
	cfg.EOSTokenIDs = []int{tok.EOS()}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := model.MakeModel(*out, cfg, *seed, *dtype); err != nil {
		return err
	}
	if err := tok.SaveFiles(*out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s parameters (%s, %s)\n", *out, model.Thousands(cfg.ParamCount()), *shape, *dtype)
	return nil
}
