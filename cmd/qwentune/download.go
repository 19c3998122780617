package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"qwentune/model/hub"
)

func init() {
	register(&command{name: "download", summary: "download a model from the Hugging Face Hub into the standard cache",
		usage: "MODEL_ID [--revision R]", example: "qwentune download Qwen/Qwen2-0.5B-Instruct", run: runDownload})
}

// runDownload is `qwentune download MODEL_ID`: fetch into the Hugging Face
// cache and print the snapshot folder.
func runDownload(ctx context.Context, fs *flag.FlagSet, args []string) error {
	rev := fs.String("revision", "main", "branch, tag or commit")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one model id, e.g. Qwen/Qwen2-0.5B")
	}
	bar := newProgressBar(os.Stderr)
	dir, err := hub.NewClient().Download(ctx, fs.Arg(0), *rev, hub.EngineFiles, downloadProgress(bar))
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, dir)
	return nil
}
