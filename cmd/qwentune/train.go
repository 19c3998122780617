package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/engine/progress"
	"qwentune/engine/trainer"
	"qwentune/model/tokenizer"
)

func init() {
	register(&command{name: "train", summary: "fine-tune the model with LoRA (or every weight) as config.yml says",
		usage: "[--config config.yml] [--preset quick|seed|quality] [--set key=value ...] [--resume [DIR]] [--resume-changed] [--overwrite] [--init-adapter DIR] [--no-preflight] [--json]",
		example: `qwentune train --config config.yml
qwentune train --set model.name=demo --preset quick   # teaches the demo model in about a minute
qwentune train --set model.name=demo --set training.epochs=1 --set lora.r=8
qwentune train --config config.yml --resume            # continue from the latest checkpoint
qwentune train --config config.yml --resume ./qwen_finetune/checkpoint-500 --json`,
		run: runTrain})
	register(&command{name: "data", summary: "inspect a dataset: format, token lengths, lint warnings and the loss mask per row",
		usage:   "inspect [--config config.yml] [--set key=value ...] [--file PATH] [--row N] [--rows N]",
		example: "qwentune data inspect --config config.yml\nqwentune data inspect --config config.yml --row 3",
		run:     runData})
}

// resumeFlag is --resume with an optional value: alone it means "latest".
type resumeFlag struct{ v string }

func (r *resumeFlag) String() string   { return r.v }
func (r *resumeFlag) IsBoolFlag() bool { return true }
func (r *resumeFlag) Set(s string) error {
	switch s {
	case "true":
		r.v = "latest"
	case "false":
		r.v = ""
	default:
		r.v = s
	}
	return nil
}

func runTrain(ctx context.Context, fs *flag.FlagSet, args []string) error {
	load := configFlags(fs)
	presetFlag(fs)
	var resume resumeFlag
	fs.Var(&resume, "resume", "continue from the latest checkpoint in training.output_dir, or --resume=DIR (or --resume DIR) from that checkpoint")
	initAdapter := fs.String("init-adapter", "", "start from this PEFT adapter instead of fresh LoRA weights")
	resumeChanged := fs.Bool("resume-changed", false, "resume even though the data or the config differ from the checkpoint's (refused otherwise, naming the keys)")
	overwrite := fs.Bool("overwrite", false, "start afresh in a training.output_dir that holds another run, removing its checkpoints (refused otherwise)")
	noPreflight := fs.Bool("no-preflight", false, "skip measuring memory and time on a few real steps before the run")
	asJSON := fs.Bool("json", false, "print progress as JSON lines on stdout")
	// "--resume DIR" (a separate argument) is accepted too.
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--resume" || args[i] == "-resume" {
			if st, err := os.Stat(args[i+1]); err == nil && st.IsDir() {
				args = append(append(append([]string{}, args[:i]...), "--resume="+args[i+1]), args[i+2:]...)
			}
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	bar := newProgressBar(os.Stderr)
	defer bar.finish()
	out := &printer{bar: bar}
	if *asJSON {
		out.json = json.NewEncoder(stdout)
	}
	sess, err := engine.Open(ctx, cfg.Model.Name, cfg.Model.Revision, cfg.Model.Dtype, out.event)
	bar.finish()
	if err != nil {
		return err
	}
	if _, err := sess.SetComputeDtype(cfg.Model.ComputeDtype); err != nil {
		return err
	}
	data, err := engine.InspectDatasetContext(ctx, cfg.Dataset.TrainFile, sess.Tokenizer, cfg.Dataset)
	if err != nil {
		return err
	}
	steps := 1
	if *noPreflight || resume.v != "" {
		steps = 0
	}
	res, err := sess.Train(ctx, cfg, data, engine.TrainOptions{Resume: resume.v, ResumeChanged: *resumeChanged, Overwrite: *overwrite, InitAdapter: *initAdapter, PreflightSteps: steps}, out.event)
	bar.finish()
	if errors.Is(err, trainer.ErrStopped) {
		out.event(progress.Event{Kind: progress.Info, Message: fmt.Sprintf("stopped at step %d; resume with: qwentune train --resume %s", res.GlobalStep, res.Checkpoint)})
		return err
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return out.json.Encode(map[string]any{"event": "result", "global_step": res.GlobalStep, "train_loss": res.TrainLoss,
			"runtime_seconds": res.Runtime.Seconds(), "output_dir": cfg.Training.OutputDir})
	}
	fmt.Fprintf(stdout, "trained %d steps in %s, train_loss %.4f; adapter in %s\n", res.GlobalStep, res.Runtime.Round(1e9), res.TrainLoss, cfg.Training.OutputDir)
	return nil
}

func runData(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || args[0] != "inspect" {
		return usagef("want: qwentune data inspect [flags]")
	}
	load := configFlags(fs)
	file := fs.String("file", "", "dataset file (default: dataset.train_file)")
	row := fs.Int("row", 0, "show only this row (1-based, in file order of the good rows)")
	rows := fs.Int("rows", 5, "how many rows to show annotated (-1 for all)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	path := cfg.Dataset.TrainFile
	if *file != "" {
		path = *file
	}
	tok, err := loadTokenizerFor(ctx, cfg.Model.Name, cfg.Model.Revision)
	if err != nil {
		return err
	}
	rep, err := engine.InspectDatasetContext(ctx, path, tok, cfg.Dataset)
	if err != nil {
		return err
	}
	if *row > 0 {
		if *row > len(rep.Examples) {
			return usagef("--row %d: the file has %d good rows", *row, len(rep.Examples))
		}
		e := rep.Examples[*row-1]
		fmt.Fprintf(stdout, "row %d (line %d, %s): %d tokens, %d trained, %d cut\n", *row, e.Line, e.Format, len(e.IDs), e.TrainedTokens(), e.Truncated)
		fmt.Fprintln(stdout, dataset.Annotate(e, tok))
		return nil
	}
	return rep.Write(stdout, tok, *rows)
}

// presetFlag adds --preset to fs, which configFlags' loader applies
// between the config file and --set.
func presetFlag(fs *flag.FlagSet) {
	fs.String("preset", "", "apply a preset before --set: "+strings.Join(config.PresetNames(), ", ")+" (quick teaches the demo model in about a minute; seed is config.yml's)")
}

// applyPresetFlag applies the preset named by fs's --preset (when fs has
// one and it is set) to cfg and says on stderr what it changed.
func applyPresetFlag(fs *flag.FlagSet, cfg *config.Config) error {
	f := fs.Lookup("preset")
	if f == nil || f.Value.String() == "" {
		return nil
	}
	p, err := config.FindPreset(f.Value.String())
	if err != nil {
		return usageError{"--preset: " + err.Error()}
	}
	changes, err := p.Apply(cfg)
	if err != nil {
		return err
	}
	what := make([]string, len(changes))
	for i, c := range changes {
		what[i] = c.String()
	}
	if len(what) == 0 {
		what = []string{"nothing (the config already has its values)"}
	}
	fmt.Fprintf(os.Stderr, "preset %s changed %s\n", p.Name, strings.Join(what, ", "))
	return nil
}

// loadTokenizerFor loads only the tokenizer of a model (no weights).
func loadTokenizerFor(ctx context.Context, name, revision string) (*tokenizer.Tokenizer, error) {
	s, err := engine.OpenWithoutWeights(ctx, name, revision)
	if err != nil {
		return nil, err
	}
	return s.Tokenizer, nil
}
