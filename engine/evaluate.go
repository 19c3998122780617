package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"qwentune/engine/config"
	"qwentune/engine/eval"
	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/internal/atomicfile"
	"qwentune/model/tokenizer"
	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/host"
)

// EvaluatorInfo is a discovered plugin with its self-description, or the
// error that kept it from starting.
type EvaluatorInfo struct {
	Plugin host.Plugin
	Info   evaluators.Info
	Err    error
}

// DescribeEvaluators discovers the plugins in dirs (the default folders when
// none is given) and starts each briefly to read its name, version,
// description, labels and settings. A plugin that fails to start is listed
// with its error; discovery problems come back as the error.
func DescribeEvaluators(ctx context.Context, dev bool, dirs ...string) ([]EvaluatorInfo, error) {
	ps, err := host.Discover(dirs...)
	out := make([]EvaluatorInfo, 0, len(ps))
	for _, p := range ps {
		e := EvaluatorInfo{Plugin: p}
		opts := []host.Option{host.WithStartTimeout(10 * time.Second)}
		if dev {
			opts = append(opts, host.SkipVerify())
		}
		if c, oerr := host.Open(ctx, p, opts...); oerr != nil {
			e.Err = oerr
		} else {
			e.Info = c.About()
			c.Close()
		}
		out = append(out, e)
	}
	return out, err
}

// FindEvaluator returns the discovered plugin called name.
func FindEvaluator(name string, dirs ...string) (host.Plugin, error) {
	ps, err := host.Discover(dirs...)
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	msg := fmt.Sprintf("no evaluator plugin named %q", name)
	if len(names) > 0 {
		msg += fmt.Sprintf(" (found: %v)", names)
	} else {
		msg += fmt.Sprintf(" (no plugins found in %v; build them with scripts/build-plugins.sh)", pluginDirs(dirs))
	}
	if err != nil {
		msg += fmt.Sprintf("; %v", err)
	}
	return host.Plugin{}, errors.New(msg)
}

func pluginDirs(dirs []string) []string {
	if len(dirs) == 0 {
		return host.DefaultDirs()
	}
	return dirs
}

// EvalOptions are the per-run choices of an evaluation.
type EvalOptions struct {
	// Evaluator is the plugin name; "" takes evaluation.evaluator.
	Evaluator string
	// Settings configure the evaluator (its defaults for names left out).
	Settings map[string]string
	// Adapter is the fine-tune to evaluate (nil: the base model) and
	// AdapterDir the folder it came from, recorded in metrics.json.
	Adapter    *nn.Adapter
	AdapterDir string
	// CompareBase also evaluates the base model on the same inputs and
	// seeds and reports the samples whose verdict flipped.
	CompareBase bool
	// OutDir receives metrics.json and predictions.jsonl/.csv ("" writes
	// nothing); with CompareBase the base run goes to OutDir/base.
	OutDir string
	// PluginDirs are searched for the evaluator (default folders if empty).
	PluginDirs []string
	// DevPlugins runs plugin binaries without checking the manifest.
	DevPlugins bool
}

// EvalResult is an evaluation's outcome.
type EvalResult struct {
	Info       evaluators.Info
	Tuned      eval.Report
	Base       *eval.Report
	Comparison *eval.Comparison
	OutDir     string
}

// Evaluate generates an answer for every input of dataset.test_file with the
// adapter (or the base model), has the evaluator plugin judge them and
// computes accuracy, precision, recall, F1 and the confusion matrix. The
// prompt is the input as a user message in the model's chat template, as in
// training and chat; decoding uses the chat sampling settings with
// evaluation.max_new_tokens and a seed per sample, so base and fine-tuned
// see the same draws. evaluation.batch_size inputs are decoded together,
// which changes only the speed: each answer is the one generating it alone
// gives. on receives an EvalSample event, its Phase "tuned" or "base", after
// every answer and every verdict. A crashed or hung plugin fails this run
// only.
func (s *Session) Evaluate(ctx context.Context, cfg config.Config, o EvalOptions, on progress.Func) (EvalResult, error) {
	var res EvalResult
	samples, err := eval.LoadTestSet(cfg.Dataset.TestFile)
	if err != nil {
		return res, err
	}
	name := o.Evaluator
	if name == "" {
		name = cfg.Evaluation.Evaluator
	}
	p, err := FindEvaluator(name, o.PluginDirs...)
	if err != nil {
		return res, err
	}
	var opts []host.Option
	if o.DevPlugins {
		opts = append(opts, host.SkipVerify())
	}
	client, err := host.Open(ctx, p, opts...)
	if err != nil {
		return res, err
	}
	defer client.Close()
	if err := client.Configure(ctx, o.Settings); err != nil {
		return res, err
	}
	res.Info = client.About()
	smp := ChatSampling(cfg.Chat)
	smp.MaxNewTokens = cfg.Evaluation.MaxNewTokens
	smp.StopIDs = s.StopIDs(true)
	seed := int64(cfg.Chat.Seed)
	if seed < 0 {
		seed = int64(cfg.Training.Seed)
	}
	positive := cfg.Evaluation.PositiveLabel
	runOne := func(phase string, a *nn.Adapter) (eval.Report, error) {
		i := 0
		gen := func(ctx context.Context, inputs []string, answer func(int, string)) error {
			prompts := make([][]int, len(inputs))
			seeds := make([]int64, len(inputs))
			for k, input := range inputs {
				ids, err := s.ChatPrompt(cfg.Chat.SystemPrompt, []tokenizer.Message{{Role: "user", Content: input}})
				if err == nil {
					err = s.checkPrompt(ids, smp)
				}
				if err != nil {
					return &eval.InputError{Index: k, Err: err}
				}
				i++
				prompts[k], seeds[k] = ids, seed+int64(i)
			}
			_, err := s.GenerateEach(ctx, a, prompts, seeds, smp, func(j int, c Completion) {
				text := c.Text
				if cfg.Evaluation.StripThinking {
					_, text = SplitThinking(text)
				}
				answer(j, text)
			})
			return err
		}
		// evaluation.batch_size inputs are decoded together (at most
		// generate.MaxBatch per step); each answer is exactly what
		// generating it alone gives.
		return eval.Run(ctx, samples, gen, client, eval.Options{BatchSize: cfg.Evaluation.BatchSize, GenerateBatch: cfg.Evaluation.BatchSize, Positive: positive},
			func(ev progress.Event) {
				ev.Eval.Phase = phase
				on.Emit(ev)
			})
	}
	meta := eval.Meta{Evaluator: res.Info.Name, EvaluatorVersion: res.Info.Version, Settings: o.Settings,
		Model: cfg.Model.Name, Adapter: o.AdapterDir, ConfigHash: cfg.Hash(), TestSet: cfg.Dataset.TestFile}
	phase := "tuned"
	if o.Adapter == nil {
		phase = "base"
	}
	if res.Tuned, err = runOne(phase, o.Adapter); err != nil {
		return res, err
	}
	if o.CompareBase && o.Adapter != nil {
		base, err := runOne("base", nil)
		if err != nil {
			return res, err
		}
		res.Base = &base
		cmp := eval.Compare(base, res.Tuned)
		res.Comparison = &cmp
	}
	if o.OutDir != "" {
		res.OutDir = o.OutDir
		if err := eval.WriteOutputs(o.OutDir, res.Tuned, meta); err != nil {
			return res, err
		}
		if res.Base != nil {
			bm := meta
			bm.Adapter = ""
			if err := eval.WriteOutputs(filepath.Join(o.OutDir, "base"), *res.Base, bm); err != nil {
				return res, err
			}
			if err := atomicfile.WriteJSON(filepath.Join(o.OutDir, "comparison.json"), res.Comparison); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// EvalDir is the default folder for an evaluation's outputs: a time-stamped
// folder under training.output_dir/eval.
func EvalDir(cfg config.Config, evaluator string) string {
	return filepath.Join(cfg.Training.OutputDir, "eval", time.Now().Format("20060102-150405")+"-"+evaluator)
}
