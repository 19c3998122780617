// Package progress is the one way the engine reports how a job goes: a
// callback of typed events, the same for loading a model (download bytes),
// training (pre-flight, steps, log entries, checkpoints, pause, stop, done),
// evaluation (samples) and export (bytes written). The desktop app, the CLI
// and the tests all consume these events; nothing travels as a log line to be
// parsed.
package progress

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"qwentune/model"
)

// Kind says what happened and which payload an Event carries.
type Kind string

// The kinds of events. The strings are the "event" names of the CLI's
// --json output.
const (
	// Info is a line for people (the trainable-parameter line, a data
	// warning): Message.
	Info Kind = "info"
	// Preflight is the pre-flight measurement of a fresh run: Estimate.
	Preflight Kind = "preflight"
	// Step is a finished optimizer step: Train (coalesced when the consumer
	// falls behind: the newest replaces an undelivered older one).
	Step Kind = "step"
	// Log is a new log_history entry: Train, with Train.Log.
	Log Kind = "log"
	// Checkpoint is a checkpoint written: Train, with Train.Path.
	Checkpoint Kind = "save"
	// Pause is a run held in memory; Resume its continuation: Train.
	Pause  Kind = "pause"
	Resume Kind = "resume"
	// Stopped is a run stopped on request after saving: Train, with
	// Train.Path the checkpoint to resume from.
	Stopped Kind = "stopped"
	// EvalSample is an evaluation sample generated or judged: Eval.
	EvalSample Kind = "eval_sample"
	// Download is model bytes fetched from the Hub: Bytes.
	Download Kind = "download"
	// Export is bytes of an export written: Bytes.
	Export Kind = "export"
	// Done is a training run finished: Train, with Train.Log the summary
	// entry and Train.Loss the train_loss.
	Done Kind = "done"
	// Error is a run that failed: Message (and Train where known).
	Error Kind = "error"
)

// Event is one report. Kind says which payload is set; Message is a short
// line for people on every kind that has one.
type Event struct {
	Kind     Kind
	Message  string
	Train    *Train
	Estimate *Estimate
	Eval     *Eval
	Bytes    *Bytes
}

// Func receives events. The engine calls it from one goroutine at a time, in
// order, and a job returns only after its last event was delivered; a
// consumer that must not block (a UI) hands each event on (fyne.Do) rather
// than doing slow work in it. nil discards the events.
type Func func(Event)

// Emit calls f with ev when f is not nil.
func (f Func) Emit(ev Event) {
	if f != nil {
		f(ev)
	}
}

// Info sends a line for people.
func (f Func) Info(format string, a ...any) {
	f.Emit(Event{Kind: Info, Message: fmt.Sprintf(format, a...)})
}

// Train is where a training run stands.
type Train struct {
	Step     int // optimizer steps finished
	MaxSteps int
	Epoch    float64
	// Loss is the token-mean loss of this update (step), the logged mean
	// (log) or train_loss (done).
	Loss     float64
	LR       float64 // learning rate the update used
	GradNorm float64 // pre-clip total gradient norm of the update
	// TokensPerSec counts non-padding input tokens per second of training
	// since the run (or resume) started, pauses excluded.
	TokensPerSec float64
	ETASeconds   float64
	MemBytes     int64 // resident set size of the process (VmRSS), 0 when unknown
	// Path is the checkpoint folder of Checkpoint and Stopped.
	Path string
	// Log is the log_history entry of Log and Done.
	Log map[string]float64
}

// Estimate is what the pre-flight measured on a few real steps and
// extrapolates to the run.
type Estimate struct {
	Steps         int           // optimizer steps measured
	MicroBatches  int           // micro-batches run (the measured steps plus the largest one)
	StepTime      time.Duration // mean time of one measured optimizer step
	TokensPerSec  float64       // non-padding input tokens per second of forward+backward
	TrainedTokens int           // counted tokens in one epoch
	// EpochTokens is every position one epoch runs through the model,
	// PaddingTokens those of them that are padding (with padding
	// max_length, most of them): computed, never counted in the loss.
	EpochTokens   int64
	PaddingTokens int64
	TotalSteps    int           // T of the run
	TotalTime     time.Duration // the whole run, extrapolated from the token rate
	// PeakRSSBytes is the process's peak resident set (VmHWM) during the
	// measurement (or since it started when the kernel cannot reset it);
	// RSSBefore is VmRSS before it. Both are 0 where /proc is missing.
	PeakRSSBytes int64
	RSSBefore    int64
	GoSysBytes   uint64 // memory the Go runtime obtained from the system
	// MemAvailable is MemAvailable from /proc/meminfo after the
	// measurement, 0 when unknown.
	MemAvailable int64
}

// String is a one-line summary for people.
func (e Estimate) String() string {
	return fmt.Sprintf("%d step(s) measured: %s/step, %.0f tokens/s; peak memory %s (Go %s, %s available); %d steps ≈ %s; %s",
		e.Steps, shortDuration(e.StepTime), e.TokensPerSec, model.ByteSize(e.PeakRSSBytes), model.ByteSize(int64(e.GoSysBytes)),
		model.ByteSize(e.MemAvailable), e.TotalSteps, shortDuration(e.TotalTime), e.Padding())
}

// Padding says how much of an epoch's tokens are padding, e.g. "padding:
// 4,113 of the 5,376 tokens an epoch computes (77%)".
func (e Estimate) Padding() string {
	pct := 0.0
	if e.EpochTokens > 0 {
		pct = 100 * float64(e.PaddingTokens) / float64(e.EpochTokens)
	}
	return fmt.Sprintf("padding: %s of the %s tokens an epoch computes (%.0f%%)", thousands(e.PaddingTokens), thousands(e.EpochTokens), pct)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// shortDuration rounds d to about three significant digits.
func shortDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// Eval is how far an evaluation is.
type Eval struct {
	// Phase is the model being run: "tuned" or "base".
	Phase string `json:"phase,omitempty"`
	// Generated counts samples with an answer, Judged those with a
	// verdict, out of Total.
	Generated int `json:"generated"`
	Judged    int `json:"judged"`
	Total     int `json:"total"`
	// Elapsed is the time since the run started; ETA estimates the time
	// left from the generation rate so far (0 until the first answer).
	Elapsed time.Duration `json:"elapsed"`
	ETA     time.Duration `json:"eta"`
}

// Bytes is how far a download or an export is.
type Bytes struct {
	// What is the file being written or fetched.
	What string
	// Done and Total are bytes over the whole job (Total known up front).
	Done, Total int64
	// Index counts files from 1 to Files (downloads; 0 when not counted).
	Index, Files int
	// Speed is the average rate in bytes per second (downloads), ETA the
	// time left or -1 while unknown.
	Speed float64
	ETA   time.Duration
}
