package trainer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/model"
)

// Preflight runs steps optimizer steps' worth of real micro-batches from the
// start of epoch 0, plus the epoch's largest micro-batch (rows × longest
// row) so the peak memory is the run's worst case, and one AdamW update; it
// then restores every parameter and gradient, so training starts from the
// state it was given. It refuses data without any trained token.
func Preflight(ctx context.Context, m Model, o Options, steps int) (progress.Estimate, error) {
	if o.Batches == nil {
		return progress.Estimate{}, errors.New("train: preflight: no Batches function")
	}
	if steps < 1 {
		steps = 1
	}
	batches := o.Batches(0)
	pl, err := newPlan(o, len(batches))
	if err != nil {
		return progress.Estimate{}, err
	}
	est := progress.Estimate{TotalSteps: pl.total}
	var epochInput int64
	largest, largestSize := 0, -1
	for i, b := range batches {
		n, in := countTokens(b)
		est.TrainedTokens += n
		epochInput += in
		size := 0
		for _, row := range b.IDs {
			size = max(size, len(row))
			est.EpochTokens += int64(len(row))
		}
		if size *= len(b.IDs); size > largestSize {
			largest, largestSize = i, size
		}
	}
	est.PaddingTokens = est.EpochTokens - epochInput
	if est.TrainedTokens == 0 {
		return est, errors.New("train: preflight: the data has no trained token: every label after the shift is -100 (check the loss mask, e.g. dataset.loss_on, and that rows have more than one token)")
	}

	saved := snapshot(o.Params)
	defer restore(o.Params, saved)
	zeroGrads(o.Params)
	opt := newAdamW(o.Params)

	resetPeakRSS()
	est.RSSBefore = readRSS()
	steps = min(steps, pl.perEpoch)
	var fbTime time.Duration
	var input int64
	start := time.Now()
	for s := 0; s < steps; s++ {
		first := s * pl.accum
		group := batches[first:min(first+pl.accum, len(batches))]
		if s == steps-1 && largest >= first+len(group) {
			group = append(append([]nn.Batch(nil), group...), batches[largest])
		}
		t0 := time.Now()
		_, _, stopped, err := accumulate(m, group, func(i int) uint64 { return microSeed(o.Seed, 0, first+i) },
			func() bool { return ctx.Err() != nil })
		if err != nil {
			return est, fmt.Errorf("train: preflight: %w", err)
		}
		if stopped {
			return est, fmt.Errorf("train: preflight: %w", ctx.Err())
		}
		fbTime += time.Since(t0)
		for _, b := range group {
			_, in := countTokens(b)
			input += in
		}
		est.MicroBatches += len(group)
		norm := gradNorm(o.Params)
		if o.MaxGradNorm > 0 {
			clipGrads(o.Params, norm, o.MaxGradNorm)
		}
		opt.update(o.LearningRate, o.WeightDecay)
		zeroGrads(o.Params)
	}
	elapsed := time.Since(start)
	est.Steps = steps
	est.StepTime = elapsed / time.Duration(steps)
	optTime := (elapsed - fbTime) / time.Duration(steps)
	if fbTime > 0 {
		est.TokensPerSec = float64(input) / fbTime.Seconds()
	}
	if est.TokensPerSec > 0 {
		epoch := time.Duration(float64(epochInput)/est.TokensPerSec*float64(time.Second)) + time.Duration(pl.perEpoch)*optTime
		est.TotalTime = time.Duration(float64(epoch) * float64(pl.total) / float64(pl.perEpoch))
	}
	est.PeakRSSBytes = PeakRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	est.GoSysBytes = ms.Sys
	if avail, err := MemAvailable(); err == nil {
		est.MemAvailable = avail
	}
	return est, nil
}

// snapshot copies every parameter's values and gradients.
func snapshot(params []*nn.Param) [][2][]float32 {
	s := make([][2][]float32, len(params))
	for i, p := range params {
		s[i] = [2][]float32{append([]float32(nil), p.Data...), append([]float32(nil), p.Grad...)}
	}
	return s
}

// restore puts back what snapshot copied.
func restore(params []*nn.Param, s [][2][]float32) {
	for i, p := range params {
		copy(p.Data, s[i][0])
		copy(p.Grad, s[i][1])
	}
}

// CheckMemory refuses, with a message saying what to change, when needBytes
// exceeds MemAvailable in /proc/meminfo. Where /proc/meminfo does not exist
// (not Linux) it cannot tell and returns nil.
func CheckMemory(needBytes int64) error {
	avail, err := MemAvailable()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if needBytes > avail {
		return fmt.Errorf("not enough memory: training needs about %s but only %s is available (%s); lower the batch size or max_length, train fewer modules, or close other programs",
			model.ByteSize(needBytes), model.ByteSize(avail), memSource)
	}
	return nil
}

// MemAvailable returns MemAvailable from /proc/meminfo in bytes (on
// Windows, where there is no /proc, the available physical memory that
// GlobalMemoryStatusEx reports).
func MemAvailable() (int64, error) {
	if n, ok, err := systemMemAvailable(); ok {
		return n, err
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseMeminfo(f, "MemAvailable")
}

// parseMeminfo finds "key: N kB" in a /proc/meminfo or /proc/self/status
// listing and returns N·1024.
func parseMeminfo(r io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("line %d: %q: want \"%s: N kB\"", line, sc.Text(), key)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 || n > 1<<53 {
			return 0, fmt.Errorf("line %d: %q: bad number", line, sc.Text())
		}
		return n * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", key)
}

// readProcStatus returns a "kB" field of /proc/self/status in bytes, 0 when
// unavailable.
func readProcStatus(key string) int64 {
	if n, ok := systemProcStatus(key); ok {
		return n
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	n, err := parseMeminfo(f, key)
	if err != nil {
		return 0
	}
	return n
}

// PeakRSS is the process's peak resident set size (VmHWM), 0 when unknown.
func PeakRSS() int64 { return readProcStatus("VmHWM") }

// readRSS is the process's resident set size (VmRSS), 0 when unknown.
func readRSS() int64 { return readProcStatus("VmRSS") }

// resetPeakRSS asks Linux to reset VmHWM to the current RSS (writing 5 to
// /proc/self/clear_refs); where that is not allowed the peak stays the
// process's lifetime peak, an over-estimate.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
