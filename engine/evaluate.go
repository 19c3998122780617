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

// ErrUntrusted marks (wrapped) a plugin DescribeEvaluators did not start
// because it is neither shipped with QwenTune nor approved by the user.
var ErrUntrusted = errors.New("untrusted")

// TrustEvaluator approves the plugin executable (or every plugin in the
// folder) at path: its SHA-256 is recorded in the user's config folder and
// it may run from then on (host.Trust).
func TrustEvaluator(path string) error {
	_, err := host.Trust(path)
	return err
}

// PluginDirs are the folders searched for evaluator plugins: dirs when
// given (--plugin-dir), else the default ones (next to the executable, the
// user's plugin folder) and evaluation.plugin_dir.
func PluginDirs(cfg config.Config, dirs ...string) []string {
	if len(dirs) > 0 {
		return dirs
	}
	out := host.DefaultDirs()
	if cfg.Evaluation.PluginDir != "" {
		out = append(out, cfg.Evaluation.PluginDir)
	}
	return out
}

// DescribeEvaluators discovers the plugins in dirs (the default folders when
// none is given) and starts each trusted one briefly to read its name,
// version, description, labels and settings. An untrusted plugin is listed
// with an ErrUntrusted error and not started (unless dev); one that fails
// to start is listed with its error; discovery problems come back as the
// error.
func DescribeEvaluators(ctx context.Context, dev bool, dirs ...string) ([]EvaluatorInfo, error) {
	ps, err := host.Discover(dirs...)
	out := make([]EvaluatorInfo, 0, len(ps))
	for _, p := range ps {
		e := EvaluatorInfo{Plugin: p}
		if !p.Trusted() && !dev {
			e.Err = fmt.Errorf("evaluator %q (%s): %w: approve it once with: qwentune evaluators --trust %s", p.Name, p.Path, ErrUntrusted, p.Path)
			out = append(out, e)
			continue
		}
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
// only. The plugin may ask a model too (the judge does): it is lent
// evaluation.judge_model as a Generator, and the judge plugin gets
// evaluation.judge_* as its settings (see JudgeSettings). The run and its
// metrics are recorded in the run history (a failure there is a warning).
func (s *Session) Evaluate(ctx context.Context, cfg config.Config, o EvalOptions, on progress.Func) (EvalResult, error) {
	h := recordEval(cfg, o, on)
	res, err := s.evaluate(ctx, cfg, o, on)
	h.end(res, err)
	return res, err
}

// evaluate is Evaluate without the history.
func (s *Session) evaluate(ctx context.Context, cfg config.Config, o EvalOptions, on progress.Func) (EvalResult, error) {
	var res EvalResult
	samples, err := eval.LoadTestSet(cfg.Dataset.TestFile)
	if err != nil {
		return res, err
	}
	name := o.Evaluator
	if name == "" {
		name = cfg.Evaluation.Evaluator
	}
	p, err := FindEvaluator(name, PluginDirs(cfg, o.PluginDirs...)...)
	if err != nil {
		return res, err
	}
	// Every plugin is offered generation with evaluation.judge_model; the
	// model is opened only if the plugin asks (the judge does).
	opts := []host.Option{host.WithGenerator(newModelGenerator(s, o.Adapter, cfg))}
	if o.DevPlugins {
		opts = append(opts, host.SkipVerify())
	}
	settings := o.Settings
	if name == JudgePlugin {
		settings = JudgeSettings(cfg.Evaluation, o.Settings)
		// A Judge call generates one answer per sample on the host's CPU:
		// the default bound, meant for a plugin that hangs, is too tight.
		opts = append(opts, host.WithCallTimeout(judgeCallTimeout))
	}
	client, err := host.Open(ctx, p, opts...)
	if err != nil {
		return res, err
	}
	defer client.Close()
	if err := client.Configure(ctx, settings); err != nil {
		return res, err
	}
	res.Info = client.About()
	if err := eval.CheckLabels(samples, res.Info.Labels, res.Info.Name, cfg.Dataset.TestFile); err != nil {
		return res, err
	}
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
	meta := eval.Meta{Evaluator: res.Info.Name, EvaluatorVersion: res.Info.Version, Settings: settings,
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

// judgeCallTimeout bounds one Judge call of the judge plugin, which asks
// the judge model evaluation.batch_size questions.
const judgeCallTimeout = time.Hour

// EvalDir is the default folder for an evaluation's outputs: a time-stamped
// folder under training.output_dir/eval.
func EvalDir(cfg config.Config, evaluator string) string {
	return filepath.Join(cfg.Training.OutputDir, "eval", time.Now().Format("20060102-150405")+"-"+evaluator)
}
