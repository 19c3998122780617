package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"qwentune/engine"
	"qwentune/engine/eval"
	"qwentune/plugins/evaluators/host"
)

func init() {
	register(&command{name: "eval", summary: "evaluate the model (and adapter) on dataset.test_file with an evaluator plugin",
		usage: "[--config config.yml] [--set key=value ...] [--adapter DIR|none] [--evaluator NAME] [--setting k=v ...] [--compare-base] [--out DIR] [--json]",
		example: `qwentune eval --config config.yml
qwentune eval --config config.yml --evaluator reference --setting mode=token_f1 --compare-base
qwentune eval --set model.name=demo --adapter none --json`,
		run: runEval})
	register(&command{name: "evaluators", summary: "list the discovered evaluator plugins (name, version, description)",
		usage: "[--config config.yml] [--set key=value ...] [--dir DIR ...] [--trust PATH ...] [--json]", example: "qwentune evaluators\nqwentune evaluators --trust bin/plugins", run: runEvaluators})
}

func runEval(ctx context.Context, fs *flag.FlagSet, args []string) error {
	load := configFlags(fs)
	adapter := fs.String("adapter", "", "PEFT adapter folder; none for the base model (default: model.adapter, else training.output_dir when it holds one)")
	evaluator := fs.String("evaluator", "", "evaluator plugin (default: evaluation.evaluator)")
	var settings multiFlag
	fs.Var(&settings, "setting", "evaluator setting name=value (repeatable)")
	compare := fs.Bool("compare-base", false, "also evaluate the base model and list the samples whose verdict flipped")
	out := fs.String("out", "", "output folder for metrics.json and predictions (default: training.output_dir/eval/<time>-<evaluator>)")
	var dirs multiFlag
	fs.Var(&dirs, "plugin-dir", "folder to search for evaluator plugins (repeatable; default: next to the executable, the user folder, evaluation.plugin_dir)")
	dev := fs.Bool("dev-plugins", false, "run untrusted plugin binaries too (development builds)")
	asJSON := fs.Bool("json", false, "print metrics.json-style JSON instead of tables")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	set := map[string]string{}
	for _, kv := range settings {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("--setting %q: want name=value", kv)
		}
		set[k] = v
	}
	s, a, adapterDir, err := openConfigSession(ctx, cfg, *adapter)
	if err != nil {
		return err
	}
	name := *evaluator
	if name == "" {
		name = cfg.Evaluation.Evaluator
	}
	outDir := *out
	if outDir == "" {
		outDir = engine.EvalDir(cfg, name)
	}
	bar := newProgressBar(os.Stderr)
	res, err := s.Evaluate(ctx, cfg, engine.EvalOptions{Evaluator: name, Settings: set, Adapter: a, AdapterDir: adapterDir,
		CompareBase: *compare || cfg.Evaluation.CompareBase, OutDir: outDir, PluginDirs: dirs, DevPlugins: *dev},
		(&printer{bar: bar}).event)
	bar.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"evaluator": res.Info.Name, "evaluator_version": res.Info.Version,
			"adapter": adapterDir, "metrics": res.Tuned.Metrics, "base_metrics": baseMetrics(res), "comparison": res.Comparison,
			"out_dir": res.OutDir})
	}
	who := "base model"
	if adapterDir != "" {
		who = "adapter " + adapterDir
	}
	fmt.Fprintf(stdout, "evaluator %s %s on %s (%d samples), %s\n\n", res.Info.Name, res.Info.Version, cfg.Dataset.TestFile, len(res.Tuned.Results), who)
	fmt.Fprintln(stdout, eval.FormatTable(res.Tuned.Metrics))
	if res.Base != nil && res.Comparison != nil {
		fmt.Fprintf(stdout, "\nbase model:\n%s\n", eval.FormatTable(res.Base.Metrics))
		da, df, _ := res.Comparison.Delta()
		fmt.Fprintf(stdout, "\nfine-tune vs base: accuracy %+.3f, F1 %+.3f; %d fixed, %d broken\n", da, df,
			len(res.Comparison.Fixed), len(res.Comparison.Broken))
		if n := res.Comparison.Unjudged; n > 0 {
			fmt.Fprintf(stdout, "%d samples unjudged in one run or both are left out of the comparison\n", n)
		}
		printFlips := func(title string, flips []eval.Flip) {
			if len(flips) == 0 {
				return
			}
			fmt.Fprintf(stdout, "\n%s:\n", title)
			for _, f := range flips {
				fmt.Fprintf(stdout, "  line %d: %q → base %s, tuned %s (label %s)\n", f.Tuned.Line, clip(f.Tuned.Input, 60),
					f.Base.Predicted, f.Tuned.Predicted, f.Tuned.Label)
			}
		}
		printFlips("fixed by the fine-tune", res.Comparison.Fixed)
		printFlips("broken by the fine-tune", res.Comparison.Broken)
	}
	fmt.Fprintf(stdout, "\nwrote %s (metrics.json, predictions.jsonl, predictions.csv)\n", res.OutDir)
	return nil
}

func baseMetrics(r engine.EvalResult) any {
	if r.Base == nil {
		return nil
	}
	return r.Base.Metrics
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func runEvaluators(ctx context.Context, fs *flag.FlagSet, args []string) error {
	load := configFlags(fs)
	var dirs, trust multiFlag
	fs.Var(&dirs, "dir", "folder to search (repeatable; default: next to the executable, the user folder and evaluation.plugin_dir)")
	fs.Var(&trust, "trust", "approve the plugin executable PATH, or every plugin in the folder PATH, so it may run (repeatable); recorded by SHA-256 in "+host.TrustFile())
	dev := fs.Bool("dev-plugins", false, "start untrusted plugins too (development builds)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if len(trust) > 0 {
		for _, path := range trust {
			ps, err := host.Trust(path)
			if err != nil {
				return err
			}
			for _, p := range ps {
				fmt.Fprintf(stdout, "approved %s (%s, SHA-256 %x)\n", p.Name, p.Path, p.Checksum)
			}
		}
		return nil
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	searched := engine.PluginDirs(cfg, dirs...)
	described, derr := engine.DescribeEvaluators(ctx, *dev, searched...)
	if len(described) == 0 {
		if derr != nil {
			return derr
		}
		return fmt.Errorf("no evaluator plugins found in %v; build them with scripts/build-plugins.sh", searched)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	enc := json.NewEncoder(stdout)
	var failed int
	for _, e := range described {
		if errors.Is(e.Err, engine.ErrUntrusted) {
			failed++
			if *asJSON {
				enc.Encode(map[string]any{"name": e.Plugin.Name, "path": e.Plugin.Path, "untrusted": true})
			} else {
				fmt.Fprintf(w, "%s\tuntrusted\t%s (approve with: qwentune evaluators --trust %s)\n", e.Plugin.Name, e.Plugin.Path, e.Plugin.Path)
			}
			continue
		}
		if e.Err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "%v\n", e.Err)
			continue
		}
		info := e.Info
		if *asJSON {
			enc.Encode(map[string]any{"name": info.Name, "version": info.Version, "description": info.Description,
				"labels": info.Labels, "settings": info.Settings, "path": e.Plugin.Path})
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", info.Name, info.Version, info.Description)
	}
	w.Flush()
	if failed == len(described) {
		return fmt.Errorf("none of the %d plugins could be started (untrusted ones are not started)", failed)
	}
	return nil
}
