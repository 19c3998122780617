package eval

import (
	"context"
	"fmt"
	"time"

	"qwentune/plugins/evaluators"
)

// DefaultBatchSize is how many samples go to the evaluator per Judge call
// when Options.BatchSize is 0.
const DefaultBatchSize = 16

// Generator produces the model's answer to one input. The caller wires the
// model, adapter, chat template and sampling settings into it; it should
// return promptly with ctx's error once ctx is done.
type Generator func(ctx context.Context, input string) (string, error)

// Judge is the part of an evaluator Run needs; *evaluators.Client
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
	// Positive is the label precision, recall and F1 are reported for;
	// normally the evaluator's first label (Client.About().Labels[0]).
	// When empty, the first sample's expected label is used.
	Positive string
}

// Progress reports how far a run is.
type Progress struct {
	// Generated counts samples with an answer, Judged those with a
	// verdict, out of Total.
	Generated int `json:"generated"`
	Judged    int `json:"judged"`
	Total     int `json:"total"`
	// Elapsed is the time since Run started; ETA estimates the time left
	// from the generation rate so far (0 until the first answer).
	Elapsed time.Duration `json:"elapsed"`
	ETA     time.Duration `json:"eta"`
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

// Run generates an answer for every sample and has judge label them, in
// batches of opts.BatchSize. progress (may be nil) is called after every
// answer and every batch verdict. On cancellation or on a generation or
// judge error, Run returns the Report of the samples judged so far
// (Complete false) together with the error.
func Run(ctx context.Context, samples []Sample, gen Generator, judge Judge, opts Options, progress func(Progress)) (Report, error) {
	start := time.Now()
	batch := opts.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	positive := opts.Positive
	if positive == "" && len(samples) > 0 {
		positive = samples[0].Label
	}
	rep := Report{Total: len(samples)}
	report := func(answered int) {
		p := Progress{Generated: answered, Judged: len(rep.Results), Total: len(samples), Elapsed: time.Since(start)}
		if p.Generated > 0 {
			p.ETA = time.Duration(float64(p.Elapsed) / float64(p.Generated) * float64(p.Total-p.Generated))
		}
		if progress != nil {
			progress(p)
		}
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

	for lo := 0; lo < len(samples); lo += batch {
		hi := min(lo+batch, len(samples))
		pending := make([]Result, 0, hi-lo)
		asks := make([]evaluators.Sample, 0, hi-lo)
		for _, s := range samples[lo:hi] {
			if err := ctx.Err(); err != nil {
				return finish(err)
			}
			out, err := gen(ctx, s.Input)
			if err != nil {
				if ctx.Err() != nil {
					return finish(ctx.Err())
				}
				return finish(fmt.Errorf("sample %s (line %d): generate: %w", s.ID, s.Line, err))
			}
			pending = append(pending, Result{ID: s.ID, Line: s.Line, Input: s.Input, Reference: s.Reference, Output: out, Label: s.Label})
			asks = append(asks, evaluators.Sample{ID: s.ID, Input: s.Input, Output: out, Reference: s.Reference, ExpectedLabel: s.Label})
			report(len(rep.Results) + len(pending))
		}
		verdicts, err := judge.Judge(ctx, asks)
		if err == nil && len(verdicts) != len(asks) {
			err = fmt.Errorf("%d verdicts for %d samples", len(verdicts), len(asks))
		}
		if err != nil {
			if ctx.Err() != nil {
				return finish(ctx.Err())
			}
			return finish(fmt.Errorf("samples %s to %s: judge: %w", samples[lo].ID, samples[hi-1].ID, err))
		}
		for i, v := range verdicts {
			pending[i].Predicted, pending[i].Score, pending[i].Reason = v.Label, v.Score, v.Reason
		}
		rep.Results = append(rep.Results, pending...)
		report(len(rep.Results))
	}
	return finish(nil)
}
