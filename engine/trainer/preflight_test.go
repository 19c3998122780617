package trainer

import (
	"context"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"qwentune/engine/nn"
)

func TestPreflight(t *testing.T) {
	m := newBigram(6, 7, 0.1)
	o := resumeOpts(t, m)
	for _, p := range m.params() {
		for j := range p.Grad {
			p.Grad[j] = float32(j) // restored afterwards, whatever it was
		}
	}
	saved := snapshot(m.params())
	est, err := Preflight(context.Background(), m, o, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.params() {
		if !slices.Equal(p.Data, saved[i][0]) || !slices.Equal(p.Grad, saved[i][1]) {
			t.Fatalf("%s not restored", p.Name)
		}
	}
	// 2 steps of 2 micro-batches, plus the largest micro-batch when it is
	// not among them.
	bs := o.Batches(0)
	largest, size := 0, -1
	for i, b := range bs {
		l := 0
		for _, r := range b.IDs {
			l = max(l, len(r))
		}
		if l*len(b.IDs) > size {
			largest, size = i, l*len(b.IDs)
		}
	}
	want := 4
	if largest >= 4 {
		want = 5
	}
	if est.Steps != 2 || est.MicroBatches != want || len(m.calls) != want {
		t.Fatalf("estimate %+v after %d calls, want 2 steps and %d micro-batches", est, len(m.calls), want)
	}
	if est.StepTime <= 0 || est.TokensPerSec <= 0 || est.TotalTime <= 0 || est.TotalSteps != 9 || est.TrainedTokens <= 0 {
		t.Errorf("estimate %+v", est)
	}
	// Padding is every position of the epoch's micro-batches that is not
	// input, counted here from the batches themselves.
	var positions, padding int64
	for _, b := range bs {
		for i, row := range b.IDs {
			positions += int64(len(row))
			for _, m := range b.Mask[i] {
				if !m {
					padding++
				}
			}
		}
	}
	if padding == 0 {
		t.Fatal("the fixture has no padding to count")
	}
	if est.EpochTokens != positions || est.PaddingTokens != padding {
		t.Errorf("epoch tokens %d, padding %d; want %d, %d", est.EpochTokens, est.PaddingTokens, positions, padding)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && (est.PeakRSSBytes <= 0 || est.MemAvailable <= 0) {
		t.Errorf("memory not measured: %+v", est)
	}
	if s := est.String(); !strings.Contains(s, "tokens/s") || !strings.Contains(s, "9 steps") {
		t.Errorf("String() = %q", s)
	}

	o.Batches = func(int) []nn.Batch {
		return []nn.Batch{{IDs: [][]int{{1, 2, 3}}, Labels: [][]int{{1, nn.IgnoreIndex, nn.IgnoreIndex}}}}
	}
	if _, err := Preflight(context.Background(), m, o, 1); err == nil || !strings.Contains(err.Error(), "no trained token") {
		t.Errorf("data without trained tokens: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Preflight(ctx, m, resumeOpts(t, m), 1); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled preflight: %v", err)
	}
}

func TestCheckMemory(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		if err := CheckMemory(math.MaxInt64); err != nil {
			t.Fatalf("without /proc/meminfo: %v", err)
		}
		return
	}
	if err := CheckMemory(0); err != nil {
		t.Fatal(err)
	}
	err := CheckMemory(math.MaxInt64)
	if err == nil || !strings.Contains(err.Error(), "not enough memory") || !strings.Contains(err.Error(), "MemAvailable") {
		t.Fatalf("error %v", err)
	}
}

func TestParseMeminfo(t *testing.T) {
	const good = "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   2048 kB\n"
	tests := []struct {
		name, data, key string
		want            int64
		msg             string
	}{
		{"ok", good, "MemAvailable", 2048 * 1024, ""},
		{"first", good, "MemTotal", 24000000 * 1024, ""},
		{"missing", good, "VmHWM", 0, "no VmHWM line"},
		{"unit", "MemAvailable: 12 MB\n", "MemAvailable", 0, "line 1"},
		{"number", "x: 1 kB\nMemAvailable: 1e3 kB\n", "MemAvailable", 0, "line 2"},
		{"negative", "MemAvailable: -5 kB\n", "MemAvailable", 0, "bad number"},
		{"fields", "MemAvailable:\n", "MemAvailable", 0, "line 1"},
	}
	for _, tc := range tests {
		got, err := parseMeminfo(strings.NewReader(tc.data), tc.key)
		if tc.msg == "" && (err != nil || got != tc.want) {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
		if tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.msg)
		}
	}
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add("MemAvailable: 2048 kB\n")
	f.Add("MemAvailable: 99999999999999999999 kB\n")
	f.Fuzz(func(t *testing.T, data string) {
		n, err := parseMeminfo(strings.NewReader(data), "MemAvailable")
		if err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}
