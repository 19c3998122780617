package eval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"qwentune/engine/progress"
	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/host"
)

// The host's plugin client is what the app passes as Judge.
var _ Judge = (*host.Client)(nil)

// fakeJudge labels an output "ok" when it contains "good", records its batch
// sizes, and can fail or lie.
type fakeJudge struct {
	batches []int
	err     error
	short   bool
}

func (j *fakeJudge) Judge(_ context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	j.batches = append(j.batches, len(samples))
	if j.err != nil {
		return nil, j.err
	}
	out := make([]evaluators.Verdict, len(samples))
	for i, s := range samples {
		out[i] = evaluators.Verdict{ID: s.ID, Label: "not ok", Score: 0, Reason: "no good"}
		if strings.Contains(s.Output, "good") {
			out[i] = evaluators.Verdict{ID: s.ID, Label: "ok", Score: 1, Reason: "good"}
		}
	}
	if j.short {
		out = out[1:]
	}
	return out, nil
}

// samples returns n samples expecting "ok" on even lines, "not ok" on odd.
func makeSamples(n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		label := "ok"
		if i%2 == 1 {
			label = "not ok"
		}
		out[i] = Sample{ID: fmt.Sprint(i + 1), Line: i + 1, Input: fmt.Sprintf("q%d", i+1), Label: label, Reference: "r"}
	}
	return out
}

// echo answers "good" for inputs q1..q4 and "bad" otherwise, the last input
// of a call first.
func echo(_ context.Context, inputs []string, answer func(int, string)) error {
	for i := len(inputs) - 1; i >= 0; i-- {
		switch in := inputs[i]; in {
		case "q1", "q2", "q3", "q4":
			answer(i, "good "+in)
		default:
			answer(i, "bad "+in)
		}
	}
	return nil
}

// each makes a Generator of one answer per input from f.
func each(f func(input string) (string, error)) Generator {
	return func(_ context.Context, inputs []string, answer func(int, string)) error {
		for i, in := range inputs {
			out, err := f(in)
			if err != nil {
				return err
			}
			answer(i, out)
		}
		return nil
	}
}

func TestRun(t *testing.T) {
	judge := &fakeJudge{}
	var events []progress.Eval
	rep, err := Run(context.Background(), makeSamples(7), echo, judge, Options{BatchSize: 3, Positive: "ok"}, func(ev progress.Event) { events = append(events, *ev.Eval) })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(judge.batches) != "[3 3 1]" {
		t.Errorf("batches %v, want [3 3 1]", judge.batches)
	}
	if !rep.Complete || rep.Total != 7 || len(rep.Results) != 7 {
		t.Fatalf("report %+v", rep)
	}
	// Expected ok,not,ok,not,ok,not,ok; predicted ok for q1-q4 only.
	if m := rep.Metrics; m.Correct != 3 || m.Positive != "ok" || m.Confusion[0][0] != 2 || m.Confusion[0][1] != 2 || m.Confusion[1][0] != 2 || m.Confusion[1][1] != 1 {
		t.Errorf("metrics %+v", m)
	}
	r := rep.Results[1]
	if r.ID != "2" || r.Line != 2 || r.Input != "q2" || r.Output != "good q2" || r.Label != "not ok" || r.Predicted != "ok" || r.Score != 1 || r.Reason != "good" || r.Reference != "r" || r.Correct() {
		t.Errorf("result %+v", r)
	}
	// One event per answer and one per batch verdict.
	if len(events) != 7+3 {
		t.Fatalf("%d progress events", len(events))
	}
	for i, p := range events {
		if p.Total != 7 || p.Judged > p.Generated || i > 0 && (p.Generated < events[i-1].Generated || p.Judged < events[i-1].Judged) || p.ETA < 0 {
			t.Fatalf("event %d: %+v", i, p)
		}
	}
	if last := events[len(events)-1]; last.Generated != 7 || last.Judged != 7 || last.ETA != 0 {
		t.Errorf("last event %+v", last)
	}
}

func TestRunDefaults(t *testing.T) {
	judge := &fakeJudge{}
	samples := makeSamples(20)
	samples[0].Label = "not ok"
	rep, err := Run(context.Background(), samples, echo, judge, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(judge.batches) != fmt.Sprint([]int{DefaultBatchSize, 20 - DefaultBatchSize}) || rep.Metrics.Positive != "not ok" {
		t.Errorf("batches %v positive %q", judge.batches, rep.Metrics.Positive)
	}
	empty, err := Run(context.Background(), nil, echo, judge, Options{}, nil)
	if err != nil || !empty.Complete || empty.Metrics.Total != 0 {
		t.Errorf("empty run: %+v %v", empty, err)
	}
}

func TestRunStops(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		gen     func(cancel context.CancelFunc) Generator
		judge   *fakeJudge
		judged  int
		want    string
		wantErr error
	}{
		{
			name: "cancelled during the second batch",
			gen: func(cancel context.CancelFunc) Generator {
				return each(func(input string) (string, error) {
					if input == "q5" {
						cancel()
					}
					return "good", nil
				})
			},
			judge: &fakeJudge{}, judged: 3, wantErr: context.Canceled,
		},
		{
			name: "generation error",
			gen: func(context.CancelFunc) Generator {
				return each(func(input string) (string, error) {
					if input == "q4" {
						return "", boom
					}
					return "good", nil
				})
			},
			judge: &fakeJudge{}, judged: 3, want: "sample 4 (line 4): generate: boom", wantErr: boom,
		},
		{name: "judge error", gen: func(context.CancelFunc) Generator { return echo }, judge: &fakeJudge{err: boom}, judged: 0, want: "samples 1 to 3: judge: boom", wantErr: boom},
		{name: "missing verdicts", gen: func(context.CancelFunc) Generator { return echo }, judge: &fakeJudge{short: true}, judged: 0, want: "samples 1 to 3: judge: 2 verdicts for 3 samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rep, err := Run(ctx, makeSamples(7), tt.gen(cancel), tt.judge, Options{BatchSize: 3, Positive: "ok"}, nil)
			if err == nil || tt.want != "" && err.Error() != tt.want || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %q / %v", err, tt.want, tt.wantErr)
			}
			if rep.Complete || rep.Total != 7 || len(rep.Results) != tt.judged || rep.Metrics.Total != tt.judged {
				t.Errorf("partial report: complete %v total %d results %d metrics total %d", rep.Complete, rep.Total, len(rep.Results), rep.Metrics.Total)
			}
		})
	}
}

// TestRunGenerateBatch checks that answers generated several inputs at a
// time, and given back in any order, end up with their samples, that the
// judge batches are independent of the generation groups, and that a
// generator that leaves an input unanswered fails the run naming it.
func TestRunGenerateBatch(t *testing.T) {
	for _, group := range []int{1, 2, 3, 8} {
		judge := &fakeJudge{}
		var calls []int
		gen := func(ctx context.Context, inputs []string, answer func(int, string)) error {
			calls = append(calls, len(inputs))
			return echo(ctx, inputs, answer)
		}
		var events []progress.Eval
		rep, err := Run(context.Background(), makeSamples(7), gen, judge, Options{BatchSize: 3, GenerateBatch: group, Positive: "ok"}, func(ev progress.Event) { events = append(events, *ev.Eval) })
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(judge.batches) != "[3 3 1]" || len(calls) != (7+group-1)/group || calls[0] != min(group, 7) {
			t.Errorf("group %d: judge batches %v, generator calls %v", group, judge.batches, calls)
		}
		for i, r := range rep.Results {
			if want := fmt.Sprintf("q%d", i+1); r.Input != want || !strings.HasSuffix(r.Output, " "+want) {
				t.Fatalf("group %d: result %d is %+v", group, i, r)
			}
		}
		if len(events) != 7+3 || events[len(events)-1].Judged != 7 {
			t.Errorf("group %d: %d progress events, last %+v", group, len(events), events[len(events)-1])
		}
	}
	skip := func(_ context.Context, inputs []string, answer func(int, string)) error {
		for i, in := range inputs {
			if in != "q5" {
				answer(i, "good")
			}
		}
		return nil
	}
	bad := func(_ context.Context, inputs []string, answer func(int, string)) error {
		return &InputError{Index: len(inputs) - 1, Err: errors.New("too long")}
	}
	if _, err := Run(context.Background(), makeSamples(7), bad, &fakeJudge{}, Options{GenerateBatch: 3}, nil); err == nil || err.Error() != "sample 3 (line 3): generate: too long" {
		t.Errorf("input error: %v", err)
	}
	rep, err := Run(context.Background(), makeSamples(7), skip, &fakeJudge{}, Options{BatchSize: 2, GenerateBatch: 4}, nil)
	if err == nil || err.Error() != "sample 5 (line 5): generate: no answer" || len(rep.Results) != 4 || rep.Complete {
		t.Errorf("unanswered input: err %v, %d results", err, len(rep.Results))
	}
}
