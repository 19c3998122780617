package ops

import (
	"time"

	"gonum.org/v1/gonum/blas"
)

// MeasureSgemmGFLOPS runs size×size×size float32 products C = A·B through
// the BLAS backend for at least d (and at least three times, after a
// warm-up) and returns the rate of the fastest, in GFLOP/s, counting 2·size³
// operations per product. Taking the fastest run keeps other work on a busy
// machine from lowering the figure.
func MeasureSgemmGFLOPS(size int, d time.Duration) float64 {
	if size <= 0 {
		return 0
	}
	a := make([]float32, size*size)
	b := make([]float32, size*size)
	c := make([]float32, size*size)
	for i := range a {
		a[i] = float32(i%7) - 3
		b[i] = float32(i%5) - 2
	}
	mul := func() {
		blas32.Sgemm(blas.NoTrans, blas.NoTrans, size, size, size, 1, a, size, b, size, 0, c, size)
	}
	// The machine's peak is OpenBLAS's own, with a thread per core, even
	// while the pool owns the cores for the engine's products.
	SetBLASThreads(Threads())
	defer setTiled(tiledAvailable())
	return 2 * float64(size) * float64(size) * float64(size) / fastest(d, mul).Seconds() / 1e9
}

// fastest runs f once to warm up, then at least three times and for at
// least d, and returns the shortest run.
func fastest(d time.Duration, f func()) time.Duration {
	f()
	best := time.Duration(1<<63 - 1)
	start := time.Now()
	for runs := 0; runs < 3 || time.Since(start) < d; runs++ {
		t := time.Now()
		f()
		best = min(best, time.Since(t))
	}
	return best
}

// bandwidthBytes is the buffer MeasureBandwidth streams: eight times a
// 32 MiB last-level cache, so the reads come from memory.
const bandwidthBytes = 256 << 20

// readTask reads its chunk of buf and keeps the sums so the reads are not
// optimised away.
type readTask struct {
	buf  []float32
	sums [64]float32
}

func (t *readTask) run(part, lo, hi int) {
	t.sums[part%len(t.sums)] += readSum(t.buf[lo:hi])
}

// MeasureBandwidth returns the rate, in bytes per second, at which all
// Threads() threads together read a 256 MiB buffer: the bound on decoding,
// which streams every weight once per token. Like MeasureSgemmGFLOPS it
// repeats for at least d and reports the fastest run.
func MeasureBandwidth(d time.Duration) float64 {
	t := &readTask{buf: make([]float32, bandwidthBytes/4)}
	for i := range t.buf {
		t.buf[i] = 1 // fresh pages would all map to the kernel's zero page
	}
	read := func() {
		if acquirePool() {
			runLocked(t, len(t.buf), 1024)
			pool.mu.Unlock()
		} else {
			t.run(0, 0, len(t.buf))
		}
	}
	return bandwidthBytes / fastest(d, read).Seconds()
}
