package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// randWeight returns a rows×cols weight of values in [-1, 1), in float32 or
// (rounded) bfloat16.
func randWeight(rng *rand.Rand, rows, cols int, bf16 bool) *Weight {
	w := &Weight{Rows: rows, Cols: cols}
	if bf16 {
		w.BF16 = make([]uint16, rows*cols)
		for i := range w.BF16 {
			w.BF16[i] = F32ToBF16(rng.Float32()*2 - 1)
		}
	} else {
		w.F32 = randSlice(rng, rows*cols)
	}
	return w
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// refMulT is y[i, o] = y0[i, o]·[acc] + Σ_c x[i, c]·W[o, c] in float64, with
// the sum of absolute terms for the tolerance. With trans unset it is Mul:
// dx[i, c] = Σ_o dy[i, o]·W[o, c].
func refMul(w *Weight, y0, x []float32, n int, acc, trans bool) (want, scale []float64) {
	out, in := w.Rows, w.Cols
	if !trans {
		out, in = in, out
	}
	want = make([]float64, n*out)
	scale = make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var s, a float64
			if acc {
				s = float64(y0[i*out+o])
				a = math.Abs(s)
			}
			for c := 0; c < in; c++ {
				var wv float64
				if trans {
					wv = float64(w.At(o, c))
				} else {
					wv = float64(w.At(c, o))
				}
				t := float64(x[i*in+c]) * wv
				s += t
				a += math.Abs(t)
			}
			want[i*out+o], scale[i*out+o] = s, a
		}
	}
	return want, scale
}

func TestMulTAndMul(t *testing.T) {
	shapes := []struct{ rows, cols int }{
		{1, 1}, {7, 13}, {13, 7}, {8, 16}, {33, 65}, {130, 257}, {300, 40},
		{11, 4096}, {13, 4103}, {16, 4160}, {9, 4127}, // long rows: the decode kernels read 8 at a time
		{5, 32}, {6, 64}, {9, 96}, {3, 127}, // whole and partial 32-weight blocks of the bf16 decode kernel
	}
	ns := []int{1, 2, 3, 4, 5, 7, 8, 9, 17, 64}
	rng := rand.New(rand.NewPCG(1, 2))
	eachFamily(t, func(t *testing.T, mode Family) {
		for _, sh := range shapes {
			for _, bf16 := range []bool{false, true} {
				w := randWeight(rng, sh.rows, sh.cols, bf16)
				for _, n := range ns {
					for _, acc := range []bool{false, true} {
						for _, trans := range []bool{true, false} {
							name := fmt.Sprintf("%s/%dx%d/bf16=%v/n=%d/acc=%v/mulT=%v", mode, sh.rows, sh.cols, bf16, n, acc, trans)
							checkMul(t, name, rng, w, n, acc, trans)
						}
					}
				}
			}
		}
	})
}

// TestMulBlocked shrinks the scratch buffer so that bfloat16 products with
// many input rows are widened in several blocks, or one row at a time with
// rows longer than the buffer.
func TestMulBlocked(t *testing.T) {
	defer func(old int) { scratchElems = old }(scratchElems)
	scratchElems = 1000
	forceNoTiled(true) // the tiled kernels widen in registers instead
	defer forceNoTiled(false)
	rng := rand.New(rand.NewPCG(15, 16))
	for _, sh := range []struct{ rows, cols int }{{50, 37}, {7, 1500}, {3, 1000}} {
		w := randWeight(rng, sh.rows, sh.cols, true)
		for _, n := range []int{9, 17} {
			for _, acc := range []bool{false, true} {
				for _, trans := range []bool{true, false} {
					name := fmt.Sprintf("%dx%d/n=%d/acc=%v/mulT=%v", sh.rows, sh.cols, n, acc, trans)
					checkMul(t, name, rng, w, n, acc, trans)
				}
			}
		}
	}
}

// TestGEMVChunks runs decode-shaped products large enough that the pool's
// threads take many chunks of rows (gemv hands them out dynamically), on
// short and long rows, checks every output row, and compares with the same
// product run nested in the pool.
func TestGEMVChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, sh := range []struct{ rows, cols int }{{700, 1536}, {203, 4168}} {
		for _, bf16 := range []bool{false, true} {
			w := randWeight(rng, sh.rows, sh.cols, bf16)
			chunk := gemvChunkBytes / (int(w.Bytes()) / sh.rows) / 8 * 8
			if sh.rows < 4*chunk {
				t.Fatalf("%dx%d: %d rows make fewer than 4 chunks of %d", sh.rows, sh.cols, sh.rows, chunk)
			}
			for _, acc := range []bool{false, true} {
				checkMul(t, fmt.Sprintf("%dx%d/bf16=%v/acc=%v", sh.rows, sh.cols, bf16, acc), rng, w, 1, acc, true)
			}
			// Inside a busy pool the product runs on the caller alone (the
			// bfloat16 kernel then splits x itself): every row's sum is
			// made the same way, so the results are identical.
			x := randSlice(rng, sh.cols)
			y, ny := make([]float32, sh.rows), make([]float32, sh.rows)
			w.MulT(y, x, 1, false)
			Parallel(2, func(lo, hi int) {
				if lo == 0 {
					w.MulT(ny, x, 1, false)
				}
			})
			for i := range y {
				if y[i] != ny[i] {
					t.Fatalf("%dx%d/bf16=%v: row %d: pool %g, nested %g", sh.rows, sh.cols, bf16, i, y[i], ny[i])
				}
			}
		}
	}
}

// TestMulTBatchInvariant checks that batched decoding gives each input
// what decoding it alone gives, bit for bit, in every kernel family: MulT
// with n ≤ GEMVMaxN rows equals n one-row products, on rows that are short
// or long (8 at a time), bfloat16 blocks whole or partial, a row count that
// is not a multiple of 8, through the pool and on a caller whose pool is
// busy, and with enough rows that the pool hands out several chunks.
func TestMulTBatchInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	shapes := []struct{ rows, cols int }{{1, 1}, {37, 13}, {130, 257}, {700, 1536}, {203, 4168}, {21, 4103}, {9, 127}}
	eachFamily(t, func(t *testing.T, mode Family) {
		for _, sh := range shapes {
			for _, bf16 := range []bool{false, true} {
				w := randWeight(rng, sh.rows, sh.cols, bf16)
				x := randSlice(rng, GEMVMaxN*sh.cols)
				alone := make([]float32, GEMVMaxN*sh.rows)
				for i := range GEMVMaxN {
					w.MulT(alone[i*sh.rows:(i+1)*sh.rows], x[i*sh.cols:(i+1)*sh.cols], 1, false)
				}
				for n := 2; n <= GEMVMaxN; n++ {
					for _, nested := range []bool{false, true} {
						y := make([]float32, n*sh.rows)
						if nested {
							Parallel(2, func(lo, hi int) {
								if lo == 0 {
									w.MulT(y, x, n, false)
								}
							})
						} else {
							w.MulT(y, x, n, false)
						}
						for k := range y {
							if y[k] != alone[k] {
								t.Fatalf("%s/%dx%d/bf16=%v/n=%d/nested=%v: row %d output %d: batched %g, alone %g",
									mode, sh.rows, sh.cols, bf16, n, nested, k/sh.rows, k%sh.rows, y[k], alone[k])
							}
						}
					}
				}
			}
		}
	})
}

func checkMul(t *testing.T, name string, rng *rand.Rand, w *Weight, n int, acc, trans bool) {
	t.Helper()
	out, in := w.Rows, w.Cols
	if !trans {
		out, in = in, out
	}
	x := randSlice(rng, n*in)
	y := randSlice(rng, n*out+3) // the 3 extra values must stay untouched
	y0 := append([]float32(nil), y...)
	want, scale := refMul(w, y0, x, n, acc, trans)
	if trans {
		w.MulT(y, x, n, acc)
	} else {
		w.Mul(y, x, n, acc)
	}
	for k := range want {
		if d := math.Abs(float64(y[k]) - want[k]); d > 1e-5*scale[k]+1e-6 || math.IsNaN(float64(y[k])) {
			t.Fatalf("%s: out[%d] = %g, want %g (scale %g)", name, k, y[k], want[k], scale[k])
		}
	}
	for k := n * out; k < len(y); k++ {
		if y[k] != y0[k] {
			t.Fatalf("%s: wrote past the output at %d", name, k)
		}
	}
}

func TestMulEmpty(t *testing.T) {
	tests := []struct {
		name       string
		rows, cols int
		n          int
	}{
		{"no rows of input", 3, 4, 0},
		{"no output features", 0, 4, 2},
		{"no input features", 3, 0, 2},
	}
	for _, tt := range tests {
		for _, bf16 := range []bool{false, true} {
			w := randWeight(rand.New(rand.NewPCG(3, 4)), tt.rows, tt.cols, bf16)
			y := []float32{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
			w.MulT(y, make([]float32, tt.n*tt.cols), tt.n, false)
			for k := 0; k < tt.n*tt.rows; k++ {
				if y[k] != 0 {
					t.Errorf("%s bf16=%v: MulT y[%d] = %g, want 0", tt.name, bf16, k, y[k])
				}
			}
			dx := []float32{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
			w.Mul(dx, make([]float32, tt.n*tt.rows), tt.n, true)
			for k := range dx {
				if dx[k] != 5 {
					t.Errorf("%s bf16=%v: accumulating Mul changed dx[%d] to %g", tt.name, bf16, k, dx[k])
				}
			}
		}
	}
}

func TestMulPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w := randWeight(rng, 3, 4, true)
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"short input", func() { w.MulT(make([]float32, 6), make([]float32, 7), 2, false) }, "input has 7 values, want 2x4"},
		{"short output", func() { w.Mul(make([]float32, 7), make([]float32, 6), 2, false) }, "output has 7 values, want 2x4"},
		{"bad storage", func() { (&Weight{Rows: 2, Cols: 2, F32: make([]float32, 3)}).MulT(nil, nil, 0, false) }, "storage has 3 values"},
		{"no storage", func() { (&Weight{Rows: 2, Cols: 2}).Mul(nil, nil, 0, false) }, "exactly one of F32, BF16"},
		{"negative n", func() { w.MulT(nil, nil, -1, false) }, "negative size"},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.want) {
					t.Errorf("%s: panic %v, want one containing %q", tt.name, r, tt.want)
				}
			}()
			tt.call()
		}()
	}
}

func TestWeightAccessors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, bf16 := range []bool{false, true} {
		w := randWeight(rng, 5, 37, bf16)
		row := make([]float32, 37)
		w.Row(3, row)
		for c, v := range row {
			if v != w.At(3, c) {
				t.Fatalf("bf16=%v: Row(3)[%d] = %g, At = %g", bf16, c, v, w.At(3, c))
			}
		}
		wantBytes := int64(5 * 37 * 4)
		if bf16 {
			wantBytes /= 2
		}
		if w.Bytes() != wantBytes {
			t.Errorf("bf16=%v: Bytes = %d, want %d", bf16, w.Bytes(), wantBytes)
		}
	}
}

func TestF32ToBF16(t *testing.T) {
	tests := []struct {
		name string
		in   uint32
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"below half rounds down", 0x3f807fff, 0x3f80},
		{"above half rounds up", 0x3f808001, 0x3f81},
		{"tie to even (down)", 0x3f808000, 0x3f80},
		{"tie to even (up)", 0x3f818000, 0x3f82},
		{"negative tie", 0xbf818000, 0xbf82},
		{"zero", 0x00000000, 0x0000},
		{"negative zero", 0x80000000, 0x8000},
		{"subnormal tie", 0x00008000, 0x0000},
		{"subnormal tie up", 0x00018000, 0x0002},
		{"largest bfloat16", 0x7f7f0000, 0x7f7f},
		{"largest bfloat16 plus below half", 0x7f7f7fff, 0x7f7f},
		{"tie at the top overflows", 0x7f7f8000, 0x7f80},
		{"max float32 overflows", 0x7f7fffff, 0x7f80},
		{"negative overflow", 0xff7fffff, 0xff80},
		{"+Inf", 0x7f800000, 0x7f80},
		{"-Inf", 0xff800000, 0xff80},
		{"quiet NaN", 0x7fc00000, 0x7fc0},
		{"signalling NaN stays NaN", 0x7f800001, 0x7fc0},
		{"NaN payload near a carry", 0x7fffffff, 0x7fff},
		{"negative NaN", 0xff800001, 0xffc0},
	}
	for _, tt := range tests {
		if got := F32ToBF16(math.Float32frombits(tt.in)); got != tt.want {
			t.Errorf("%s: F32ToBF16(%#08x) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
}

// bf16Value is the real number a bfloat16 pattern stands for, with the
// all-ones exponent read as 2^128 so it can serve as the neighbour above the
// largest finite value when checking rounding.
func bf16Value(b uint16) float64 {
	v := 1.0
	if b&0x8000 != 0 {
		v = -1
	}
	if b&0x7f80 == 0x7f80 {
		return v * math.Ldexp(1, 128)
	}
	return v * math.Abs(float64(BF16ToF32(b)))
}

func TestF32ToBF16Nearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 200000 {
		u := rng.Uint32()
		f := math.Float32frombits(u)
		got := F32ToBF16(f)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		lo := uint16(u >> 16)
		hi := lo + 1
		dlo := math.Abs(float64(f) - bf16Value(lo))
		dhi := math.Abs(float64(f) - bf16Value(hi))
		want := lo
		if dhi < dlo || (dhi == dlo && lo&1 == 1) {
			want = hi
		}
		if got != want {
			t.Fatalf("F32ToBF16(%#08x) = %#04x, want %#04x", u, got, want)
		}
	}
}

func TestBF16RoundTrip(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	wide := make([]float32, len(src))
	WidenBF16(wide, src)
	back := make([]uint16, len(src))
	RoundBF16(back, wide)
	for i, b := range src {
		if wide[i] != BF16ToF32(b) && !math.IsNaN(float64(wide[i])) {
			t.Fatalf("WidenBF16[%#04x] = %g, want %g", b, wide[i], BF16ToF32(b))
		}
		isNaN := b&0x7f80 == 0x7f80 && b&0x7f != 0
		if isNaN != math.IsNaN(float64(wide[i])) {
			t.Fatalf("%#04x widened to %g", b, wide[i])
		}
		if !isNaN && back[i] != b || isNaN && back[i]&0x7fc0 != 0x7fc0 {
			t.Fatalf("%#04x round-tripped to %#04x", b, back[i])
		}
	}
}

// TestGemm covers small products (one sgemm call) and, where the pool owns
// the cores, products split by rows (m ≥ n) and by columns (m < n).
func TestGemm(t *testing.T) {
	for _, sz := range [][3]int{{7, 5, 13}, {100, 37, 90}, {20, 300, 50}} {
		if sz[0]*sz[1]*sz[2] > gemmSplitFlops == (sz[0] == 7) {
			t.Fatalf("size %v: the split threshold moved; pick sizes on both sides of %d", sz, gemmSplitFlops)
		}
		testGemm(t, sz[0], sz[1], sz[2])
	}
}

func testGemm(t *testing.T, m, n, k int) {
	rng := rand.New(rand.NewPCG(11, 12))
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 2}, {-1.5, 1}, {0, 0.25}}
	for _, transA := range []bool{false, true} {
		for _, transB := range []bool{false, true} {
			for _, sc := range scalars {
				ar, ac := m, k
				if transA {
					ar, ac = k, m
				}
				br, bc := k, n
				if transB {
					br, bc = n, k
				}
				lda, ldb, ldc := ac+2, bc+1, n+3 // padded rows
				a := randSlice(rng, ar*lda)
				b := randSlice(rng, br*ldb)
				c := randSlice(rng, m*ldc)
				if sc.beta == 0 {
					for i := range c {
						c[i] = float32(math.NaN()) // beta = 0 must not read C
					}
				}
				c0 := append([]float32(nil), c...)
				Gemm(transA, transB, m, n, k, sc.alpha, a, lda, b, ldb, sc.beta, c, ldc)
				for i := 0; i < m; i++ {
					for j := 0; j < ldc; j++ {
						got := c[i*ldc+j]
						if j >= n {
							if math.Float32bits(got) != math.Float32bits(c0[i*ldc+j]) {
								t.Fatalf("transA=%v transB=%v: wrote padding C[%d,%d]", transA, transB, i, j)
							}
							continue
						}
						var s, abs float64
						for p := 0; p < k; p++ {
							var av, bv float32
							if transA {
								av = a[p*lda+i]
							} else {
								av = a[i*lda+p]
							}
							if transB {
								bv = b[j*ldb+p]
							} else {
								bv = b[p*ldb+j]
							}
							s += float64(av) * float64(bv)
							abs += math.Abs(float64(av) * float64(bv))
						}
						want := float64(sc.alpha) * s
						scale := math.Abs(float64(sc.alpha)) * abs
						if sc.beta != 0 {
							want += float64(sc.beta) * float64(c0[i*ldc+j])
							scale += math.Abs(float64(sc.beta) * float64(c0[i*ldc+j]))
						}
						if d := math.Abs(float64(got) - want); !(d <= 1e-5*scale+1e-6) {
							t.Fatalf("transA=%v transB=%v alpha=%g beta=%g: C[%d,%d] = %g, want %g",
								transA, transB, sc.alpha, sc.beta, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

func TestParallel(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 1001} {
		hits := make([]int32, n)
		var mu sync.Mutex
		Parallel(n, func(lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			for i := lo; i < hi; i++ {
				hits[i]++
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, h)
			}
		}
	}
}

// partsTask records which chunk covered each index.
type partsTask struct{ by []int32 }

func (p *partsTask) run(part, lo, hi int) {
	for i := lo; i < hi; i++ {
		p.by[i] = int32(part) + 1
	}
}

// TestPoolWakesAfterIdle hands work to the pool after gaps of none to a
// millisecond, so that workers are found both still running and asleep,
// and checks that every index is covered once and that the workers, not
// only the caller, ran their chunks.
func TestPoolWakesAfterIdle(t *testing.T) {
	gaps := []time.Duration{0, 50 * time.Microsecond, 400 * time.Microsecond, 0, time.Millisecond, time.Microsecond}
	for round := range 60 {
		time.Sleep(gaps[round%len(gaps)])
		p := &partsTask{by: make([]int32, 1000)}
		if !acquirePool() {
			if Threads() > 1 {
				t.Fatal("pool busy with nobody else using it")
			}
			p.run(0, 0, len(p.by))
		} else {
			parts := runLocked(p, len(p.by), 8)
			pool.mu.Unlock()
			if parts != min(Threads(), len(p.by)/8) {
				t.Fatalf("round %d: %d parts, want %d", round, parts, Threads())
			}
		}
		seen := map[int32]bool{}
		for i, b := range p.by {
			if b == 0 {
				t.Fatalf("round %d: index %d not covered", round, i)
			}
			seen[b] = true
		}
		if len(seen) != Threads() {
			t.Fatalf("round %d: %d chunks ran, want %d", round, len(seen), Threads())
		}
	}
}

func TestParallelNestedAndConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	sums := make([]int, 8)
	for g := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var mu sync.Mutex
				Parallel(10, func(lo, hi int) {
					Parallel(hi-lo, func(l, h int) { // nested: runs on the caller
						mu.Lock()
						sums[g] += h - l
						mu.Unlock()
					})
				})
			}
		}()
	}
	wg.Wait()
	for g, s := range sums {
		if s != 500 {
			t.Errorf("goroutine %d covered %d indices, want 500", g, s)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	data := make([]float32, 4096)
	fn := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			data[i] *= 0.5
		}
	}
	wf := randWeight(rng, 256, 128, false)
	wb := randWeight(rng, 256, 128, true)
	x := randSlice(rng, 4*256)
	y := make([]float32, 4*256)
	tests := []struct {
		name string
		call func()
	}{
		{"Parallel", func() { Parallel(len(data), fn) }},
		{"f32 MulT n=1", func() { wf.MulT(y, x, 1, false) }},
		{"bf16 MulT n=1", func() { wb.MulT(y, x, 1, false) }},
		{"bf16 MulT n=4", func() { wb.MulT(y, x, 4, true) }},
		{"f32 Mul n=1", func() { wf.Mul(y, x, 1, false) }},
		{"bf16 Mul n=1", func() { wb.Mul(y, x, 1, false) }},
		{"bf16 Row", func() { wb.Row(7, y) }},
	}
	for _, tt := range tests {
		if a := testing.AllocsPerRun(100, tt.call); a != 0 {
			t.Errorf("%s: %g allocations per call, want 0", tt.name, a)
		}
	}
}

func TestBackend(t *testing.T) {
	b := Backend()
	if !strings.Contains(b, "openblas") && !strings.Contains(b, "gonum") {
		t.Errorf("Backend() = %q, want it to name openblas or gonum", b)
	}
	if CoreName() == "" {
		t.Error("CoreName() is empty")
	}
	if strings.Contains(b, "openblas") {
		SetBLASThreads(1)
		if one := Backend(); !strings.Contains(one, "1 threads") {
			t.Errorf("after SetBLASThreads(1), Backend() = %q", one)
		}
		assignCores() // back to the threads the family in force chose
	}
}

func TestMeasure(t *testing.T) {
	if g := MeasureSgemmGFLOPS(64, 0); !(g > 0) {
		t.Errorf("MeasureSgemmGFLOPS = %g", g)
	}
	if b := MeasureBandwidth(0); !(b > 1e8) {
		t.Errorf("MeasureBandwidth = %g bytes/s", b)
	}
}

// TestStreamWeights checks that every word of every weight is read: the
// XOR StreamWeights returns, whatever chunks the threads took, equals a
// plain loop's, for float32 and bfloat16 storage (an odd count of bfloat16
// values leaves the last one out) and sizes around the kernel's 32-word
// step and the chunk size.
func TestStreamWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	var ws []*Weight
	var want uint32
	for _, n := range []int{1, 31, 32, 33, 1000, gemvChunkBytes/4*3 + 5} {
		f := &Weight{Rows: 1, Cols: n, F32: randSlice(rng, n)}
		b := &Weight{Rows: 1, Cols: n, BF16: make([]uint16, n)}
		for i := range b.BF16 {
			b.BF16[i] = uint16(rng.Uint32())
		}
		for _, v := range f.F32 {
			want ^= math.Float32bits(v)
		}
		for i := 0; i+1 < n; i += 2 {
			want ^= uint32(b.BF16[i]) | uint32(b.BF16[i+1])<<16
		}
		ws = append(ws, f, b)
		if got := readWords(unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(f.F32))), n)); got != xorBits(f.F32) {
			t.Fatalf("readWords of %d words = %#x, want %#x", n, got, xorBits(f.F32))
		}
	}
	if got := StreamWeights(ws); got != want {
		t.Fatalf("StreamWeights = %#x, want %#x", got, want)
	}
}

func xorBits(p []float32) uint32 {
	var x uint32
	for _, v := range p {
		x ^= math.Float32bits(v)
	}
	return x
}
