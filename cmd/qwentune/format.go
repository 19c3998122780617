package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

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

// downloadProgress draws Hub download progress on bar.
func downloadProgress(bar *progressBar) func(hub.Progress) {
	return func(p hub.Progress) {
		bar.update(float64(p.Done), float64(p.Total), fmt.Sprintf("downloading %s %s/%s %s/s ETA %s", p.File,
			model.ByteSize(p.Done), model.ByteSize(p.Total), model.ByteSize(int64(p.Speed)), fmtETA(p.ETA.Seconds())))
	}
}
