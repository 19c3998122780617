package eval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"qwentune/engine/progress"
	"qwentune/plugins/evaluators"
)

// DefaultBatchSize is how many samples go to the evaluator per Judge call
// when Options.BatchSize is 0.
const DefaultBatchSize = 16

// Generator produces the model's answers to inputs (one, or up to
// Options.GenerateBatch at a time), calling answer(i, output) once for each
// input as soon as its answer is ready, in any order. The caller wires the
// model, adapter, chat template and sampling settings into it; it should
// return promptly with ctx's error once ctx is done.
type Generator func(ctx context.Context, inputs []string, answer func(i int, output string)) error

// InputError is a Generator's error about one of its inputs, Index in the
// inputs of the call; Run names that input's sample.
type InputError struct {
	Index int
	Err   error
}

func (e *InputError) Error() string { return fmt.Sprintf("input %d: %v", e.Index, e.Err) }
func (e *InputError) Unwrap() error { return e.Err }

// Judge is the part of an evaluator Run needs; *host.Client
// implements it.
type Judge interface {
	// Judge returns one verdict per sample, in order.
	Judge(ctx context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error)
}

// Options tunes Run.
type Options struct {
	// BatchSize is the number of samples per Judge call (DefaultBatchSize
	// when 0).
	BatchSize int
	// GenerateBatch is the number of inputs per Generator call (1 when 0).
	GenerateBatch int
	// Positive is the label precision, recall and F1 are reported for;
	// normally the evaluator's first label (Client.About().Labels[0]).
	// When empty, the first sample's expected label is used.
	Positive string
}

// Result is one judged sample.
type Result struct {
	ID        string `json:"id"`
	Line      int    `json:"line"`
	Input     string `json:"input"`
	Reference string `json:"reference,omitempty"`
	// Output is what the model generated.
	Output string `json:"output"`
	// Label is the expected label, Predicted the evaluator's verdict.
	Label     string `json:"label"`
	Predicted string `json:"predicted"`
	// Score and Reason come from the evaluator.
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`
}

// Correct reports whether the verdict matches the expected label.
func (r Result) Correct() bool { return r.Predicted == r.Label }

// Report is the outcome of Run.
type Report struct {
	// Results holds the judged samples in test-set order.
	Results []Result `json:"results"`
	// Metrics are computed over Results.
	Metrics Metrics `json:"metrics"`
	// Total is the number of samples asked for; Complete is false when the
	// run stopped early (cancelled or failed), leaving Results shorter.
	Total    int           `json:"total"`
	Complete bool          `json:"complete"`
	Elapsed  time.Duration `json:"elapsed"`
}

// Run generates an answer for every sample, opts.GenerateBatch inputs per
// call of gen, and has judge label them in batches of opts.BatchSize.
// on (may be nil) receives an EvalSample event after every answer and
// every batch verdict. On cancellation or on a generation or judge error, Run returns
// the Report of the samples judged so far (Complete false) together with
// the error.
func Run(ctx context.Context, samples []Sample, gen Generator, judge Judge, opts Options, on progress.Func) (Report, error) {
	start := time.Now()
	batch := opts.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	group := max(opts.GenerateBatch, 1)
	positive := opts.Positive
	if positive == "" && len(samples) > 0 {
		positive = samples[0].Label
	}
	rep := Report{Total: len(samples)}
	answered := 0
	report := func() {
		p := progress.Eval{Generated: answered, Judged: len(rep.Results), Total: len(samples), Elapsed: time.Since(start)}
		if p.Generated > 0 {
			p.ETA = time.Duration(float64(p.Elapsed) / float64(p.Generated) * float64(p.Total-p.Generated))
		}
		on.Emit(progress.Event{Kind: progress.EvalSample, Eval: &p})
	}
	finish := func(err error) (Report, error) {
		expected := make([]string, len(rep.Results))
		predicted := make([]string, len(rep.Results))
		for i, r := range rep.Results {
			expected[i], predicted[i] = r.Label, r.Predicted
		}
		rep.Metrics = Compute(expected, predicted, positive)
		rep.Complete = err == nil
		rep.Elapsed = time.Since(start)
		return rep, err
	}
	// judgeFirst has judge label the first n answers not yet judged.
	judgeFirst := func(n int, outputs []string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		lo := len(rep.Results)
		pending := make([]Result, n)
		asks := make([]evaluators.Sample, n)
		for k, s := range samples[lo : lo+n] {
			out := outputs[lo+k]
			pending[k] = Result{ID: s.ID, Line: s.Line, Input: s.Input, Reference: s.Reference, Output: out, Label: s.Label}
			asks[k] = evaluators.Sample{ID: s.ID, Input: s.Input, Output: out, Reference: s.Reference, ExpectedLabel: s.Label}
		}
		verdicts, err := judge.Judge(ctx, asks)
		if err == nil && len(verdicts) != len(asks) {
			err = fmt.Errorf("%d verdicts for %d samples", len(verdicts), len(asks))
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("samples %s to %s: judge: %w", samples[lo].ID, samples[lo+n-1].ID, err)
		}
		for i, v := range verdicts {
			pending[i].Predicted, pending[i].Score, pending[i].Reason = v.Label, v.Score, v.Reason
		}
		rep.Results = append(rep.Results, pending...)
		report()
		return nil
	}

	outputs := make([]string, len(samples))
	inputs := make([]string, 0, group)
	for lo := 0; lo < len(samples); lo += group {
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		hi := min(lo+group, len(samples))
		inputs = inputs[:0]
		for _, s := range samples[lo:hi] {
			inputs = append(inputs, s.Input)
		}
		done := make([]bool, hi-lo)
		err := gen(ctx, inputs, func(i int, output string) {
			if i < 0 || i >= len(done) || done[i] {
				return
			}
			done[i], outputs[lo+i] = true, output
			answered++
			report()
		})
		if err == nil && slices.Contains(done, false) {
			err = fmt.Errorf("no answer")
		}
		if err != nil {
			if ctx.Err() != nil {
				return finish(ctx.Err())
			}
			k := max(slices.Index(done, false), 0)
			if ie := (*InputError)(nil); errors.As(err, &ie) && ie.Index >= 0 && ie.Index < hi-lo {
				k, err = ie.Index, ie.Err
			}
			s := samples[lo+k]
			return finish(fmt.Errorf("sample %s (line %d): generate: %w", s.ID, s.Line, err))
		}
		for answered-len(rep.Results) >= batch {
			if err := judgeFirst(batch, outputs); err != nil {
				return finish(err)
			}
		}
	}
	if n := answered - len(rep.Results); n > 0 {
		if err := judgeFirst(n, outputs); err != nil {
			return finish(err)
		}
	}
	return finish(nil)
}
