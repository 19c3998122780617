package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"qwentune/engine"
	"qwentune/engine/progress"
	"qwentune/model"
	"qwentune/model/hub"
)

// fmtETA formats seconds as h:mm:ss, or "?" when unknown.
func fmtETA(sec float64) string {
	if sec < 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return "?"
	}
	d := time.Duration(sec) * time.Second
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// progressBar draws a one-line bar on a terminal and stays silent otherwise.
type progressBar struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w)}
}

func (p *progressBar) update(done, total float64, label string) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = math.Min(1, done/total)
	}
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% %s", strings.Repeat("█", n), strings.Repeat("·", width-n), frac*100, label)
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// downloadProgress draws a Hub download on bar, through the engine's
// Download events.
func downloadProgress(bar *progressBar) func(hub.Progress) {
	return engine.DownloadEvents((&printer{bar: bar}).event)
}

// printer shows the engine's events on the command line, the same for every
// command: a progress bar on stderr for steps, evaluation samples and bytes,
// a line on stderr for the rest. With json set, the training events and
// the info lines are JSON lines on stdout instead.
type printer struct {
	bar  *progressBar
	json *json.Encoder
}

// event shows one event.
func (p *printer) event(ev progress.Event) {
	if p.json != nil && p.printJSON(ev) {
		return
	}
	switch ev.Kind {
	case progress.Info, progress.Preflight:
		p.bar.finish()
		fmt.Fprintln(os.Stderr, ev.Message)
	case progress.Step:
		t := ev.Train
		p.bar.update(float64(t.Step), float64(t.MaxSteps), fmt.Sprintf("step %d/%d loss %.4f lr %.3g %.0f tok/s ETA %s",
			t.Step, t.MaxSteps, t.Loss, t.LR, t.TokensPerSec, fmtETA(t.ETASeconds)))
	case progress.Log:
		p.bar.finish()
		b, _ := json.Marshal(ev.Train.Log)
		fmt.Fprintln(os.Stderr, string(b))
	case progress.Checkpoint, progress.Stopped:
		p.bar.finish()
		fmt.Fprintf(os.Stderr, "saved %s\n", ev.Train.Path)
	case progress.Done:
		p.bar.finish()
	case progress.Error:
		p.bar.finish()
		fmt.Fprintf(os.Stderr, "error: %s\n", ev.Message)
	case progress.EvalSample:
		e := ev.Eval
		p.bar.update(float64(e.Judged), float64(e.Total), fmt.Sprintf("%s: generated %d/%d, judged %d ETA %s", e.Phase,
			e.Generated, e.Total, e.Judged, fmtETA(e.ETA.Seconds())))
	case progress.Download:
		b := ev.Bytes
		p.bar.update(float64(b.Done), float64(b.Total), fmt.Sprintf("downloading %s %s/%s %s/s ETA %s", b.What,
			model.ByteSize(b.Done), model.ByteSize(b.Total), model.ByteSize(int64(b.Speed)), fmtETA(b.ETA.Seconds())))
	case progress.Export:
		b := ev.Bytes
		p.bar.update(float64(b.Done), float64(b.Total), fmt.Sprintf("%s %s/%s", b.What, model.ByteSize(b.Done), model.ByteSize(b.Total)))
	}
}

// printJSON writes a training or info event as a JSON line and reports
// whether it did; the other kinds are drawn on the bar.
func (p *printer) printJSON(ev progress.Event) bool {
	m := map[string]any{"event": ev.Kind}
	switch ev.Kind {
	case progress.Info:
	case progress.Preflight:
		e := ev.Estimate
		m["step_seconds"], m["tokens_per_second"], m["peak_memory_bytes"] = e.StepTime.Seconds(), e.TokensPerSec, e.PeakRSSBytes
		m["total_steps"], m["total_seconds"] = e.TotalSteps, e.TotalTime.Seconds()
		m["epoch_tokens"], m["padding_tokens"] = e.EpochTokens, e.PaddingTokens
	case progress.Step, progress.Log, progress.Checkpoint, progress.Pause, progress.Resume, progress.Stopped, progress.Done, progress.Error:
		if t := ev.Train; t != nil {
			m["step"], m["max_steps"], m["epoch"] = t.Step, t.MaxSteps, t.Epoch
			switch ev.Kind {
			case progress.Step:
				m["loss"], m["learning_rate"], m["grad_norm"] = t.Loss, t.LR, t.GradNorm
				m["tokens_per_second"], m["eta_seconds"], m["memory_bytes"] = t.TokensPerSec, t.ETASeconds, t.MemBytes
			case progress.Log, progress.Done:
				m["log"] = t.Log
			case progress.Checkpoint, progress.Stopped:
				m["path"] = t.Path
			}
		}
	default:
		return false
	}
	if ev.Message != "" {
		m["message"] = ev.Message
	}
	p.json.Encode(m)
	return true
}
