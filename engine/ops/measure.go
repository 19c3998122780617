package ops

import (
	"time"
	"unsafe"

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
	defer assignCores()
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

// readTask reads its chunk of buf and keeps the XOR of every part so the
// reads are not optimised away.
type readTask struct {
	buf  []uint32
	sink [64]uint32
}

func (t *readTask) run(part, lo, hi int) {
	t.sink[part%len(t.sink)] ^= readWords(t.buf[lo:hi])
}

// stream reads t.buf once over the pool, each thread taking chunks of
// gemvChunkBytes as the decode kernels do, and asking for each line ahead
// of its reads as they do (STREAM_PF in kernels.h).
func (t *readTask) stream() {
	if !acquirePool() {
		t.run(0, 0, len(t.buf))
		return
	}
	runDynamic(t, len(t.buf), gemvChunkBytes/4)
	pool.mu.Unlock()
}

// MeasureBandwidth returns the rate, in bytes per second, at which all
// Threads() threads together read a 256 MiB buffer in huge pages: the
// machine's peak read bandwidth. Like MeasureSgemmGFLOPS it repeats for at least d and reports
// the fastest run; on a shared host that is the best few milliseconds of a
// few hundred, well above what a decoding step, which reads its weights for
// a fifth of a second, can sustain. StreamWeights, timed between decoding
// steps, is the like-for-like bound.
func MeasureBandwidth(d time.Duration) float64 {
	// In huge pages, as the weights are (see Arena).
	b := NewArena(bandwidthBytes).Bytes(bandwidthBytes)
	t := &readTask{buf: unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), bandwidthBytes/4)}
	// Every page different: fresh pages would all map to the kernel's zero
	// page, and pages of one value can be merged by the hypervisor
	// (same-page merging on the host), which then serves them from its
	// cache: on this project's VMs a buffer of ones read at 50–60 GB/s
	// where distinct data, such as weights, reads at 36.
	for i := range t.buf {
		t.buf[i] = uint32(i) * 2654435761
	}
	return bandwidthBytes / fastest(d, t.stream).Seconds()
}

// StreamWeights reads every byte of ws once, over the pool's threads in the
// chunks the decode kernels take, and does nothing else: how long it takes
// is the memory-bandwidth bound of a decoding step that multiplies by each
// of ws once, measured on the very pages the step reads. It returns the XOR
// of the storage as 32-bit words (a bfloat16 weight with an odd number of
// values, or a Q8_0 weight's last bytes short of a word, are left out),
// which the reads cannot skip.
func StreamWeights(ws []*Weight) uint32 {
	var t readTask
	var x uint32
	for _, w := range ws {
		switch b := w.BF16; {
		case w.F32 != nil:
			t.buf = unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(w.F32))), len(w.F32))
		case len(b) >= 2 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0:
			t.buf = unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2)
		case len(w.Q8) >= 4 && uintptr(unsafe.Pointer(unsafe.SliceData(w.Q8)))%4 == 0:
			t.buf = unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(w.Q8))), len(w.Q8)/4)
		default: // too small (or too oddly placed) to view as words
			for i := 0; i+1 < len(b); i += 2 {
				x ^= uint32(b[i]) | uint32(b[i+1])<<16
			}
			continue
		}
		t.stream()
	}
	for _, v := range t.sink {
		x ^= v
	}
	return x
}
