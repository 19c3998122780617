package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"qwentune/engine"
	"qwentune/model"
	"qwentune/model/tokenizer"
)

func init() {
	register(&command{name: "make-model", summary: "write a Hugging Face Qwen2 or Qwen3 folder with deterministic random weights",
		usage:   "--shape " + strings.Join(shapeNames(), "|") + " --out DIR [--seed N] [--dtype f32|bf16] [--tokenizer PATH]",
		example: "qwentune make-model --shape tiny --out /tmp/tiny\nqwentune make-model --shape qwen3-0.6b --out /tmp/q3 --dtype bf16 --tokenizer ./some-qwen3-folder",
		run:     runMakeModel})
}

// shapeNames are the --shape values: model.Shapes and demo, sorted.
func shapeNames() []string {
	names := []string{"demo"}
	for n := range model.Shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runMakeModel is `qwentune make-model`: a Hugging Face folder with
// deterministic random weights and a tokenizer.
func runMakeModel(ctx context.Context, fs *flag.FlagSet, args []string) error {
	shape := fs.String("shape", "", "one of "+strings.Join(shapeNames(), ", ")+" (demo: the demo model's architecture; tiny and tiny-qwen3 fit the built-in tokenizer)")
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
		return usagef("--shape %q: want one of %s", *shape, strings.Join(shapeNames(), ", "))
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
