package progress

import (
	"strings"
	"testing"
	"time"
)

func TestFuncEmitAndInfo(t *testing.T) {
	var nothing Func
	nothing.Emit(Event{Kind: Step}) // a nil Func discards events
	nothing.Info("ignored %d", 1)

	var got []Event
	f := Func(func(ev Event) { got = append(got, ev) })
	f.Info("warning: %s:%d: %s", "train.jsonl", 3, "duplicate row")
	f.Emit(Event{Kind: Done, Train: &Train{Step: 4}})
	if len(got) != 2 || got[0].Kind != Info || got[0].Message != "warning: train.jsonl:3: duplicate row" ||
		got[1].Kind != Done || got[1].Train.Step != 4 {
		t.Fatalf("events %+v", got)
	}
}

func TestEstimateString(t *testing.T) {
	e := Estimate{Steps: 2, StepTime: 1234567 * time.Microsecond, TokensPerSec: 812.4, TotalSteps: 30, TotalTime: 37 * time.Second,
		EpochTokens: 1234567, PaddingTokens: 987654}
	s := e.String()
	for _, want := range []string{"2 step(s) measured", "1.23s/step", "812 tokens/s", "30 steps ≈ 37s",
		"padding: 987,654 of the 1,234,567 tokens an epoch computes (80%)"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
}
