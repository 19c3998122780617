package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// eachBF16Path runs fn once per way MulTBF16 and MulBF16 can compute: in
// the AVX-512 family on AMX tiles (where the CPU and the OS allow them), on
// VDPBF16PS (where the CPU has AVX512_BF16) and widening with both forced
// off, and in every other family (widening in registers or sgemm). A path
// this CPU cannot run is reported NOT TESTED.
func eachBF16Path(t *testing.T, fn func(t *testing.T)) {
	defer dpbf16Off.Store(false)
	defer amxOff.Store(amxOff.Load())
	eachFamily(t, func(t *testing.T, fam Family) {
		if fam != AVX512 {
			dpbf16Off.Store(false)
			if HasBF16Dot() {
				t.Fatalf("VDPBF16PS in force in the %s family", fam)
			}
			fn(t)
			return
		}
		for _, path := range []string{"amx", "vdpbf16ps", "widen"} {
			t.Run(path, func(t *testing.T) {
				switch {
				case path != "widen" && !Features().AVX512BF16:
					t.Skip("NOT TESTED: VDPBF16PS and AMX need avx512bf16, which this CPU lacks")
				case path == "amx" && !amxOK:
					t.Skip("NOT TESTED: AMX needs amx-tile and amx-bf16 (and Linux's grant), which this machine lacks")
				}
				dpbf16Off.Store(path == "widen")
				amxOff.Store(path != "amx")
				if HasBF16Dot() != (path != "widen") || HasAMX() != (path == "amx") {
					t.Fatalf("HasBF16Dot() = %v, HasAMX() = %v on path %s", HasBF16Dot(), HasAMX(), path)
				}
				fn(t)
			})
		}
	})
}

// TestBF16Products checks MulTBF16 and MulBF16 on every path against a
// float64 reference computed from the same bfloat16-rounded activations
// (so only float32 summation separates them: 1e-5 of the sum of |terms|),
// and against the float32 product of the unrounded activations, which
// differs by the rounding of each activation, at most 2^-9 of it: the bound
// is 2^-8 of the sum of |terms|. Shapes cover odd rows (Mul's row pairs),
// odd columns (MulT's pairs), tails of 32 columns and 4 or 6 rows, more
// than one 256-row block of the AMX MulT and more than 512 pairs, and both
// the decode (n ≤ GEMVMaxN) and tiled sizes of the fallbacks.
func TestBF16Products(t *testing.T) {
	eachBF16Path(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(71, 72))
		shapes := []struct{ rows, cols int }{{1, 1}, {1, 33}, {5, 31}, {6, 32}, {7, 71}, {13, 64}, {33, 200}, {130, 67}, {11, 1031}}
		for _, sh := range shapes {
			w := randWeight(rng, sh.rows, sh.cols, true)
			for _, n := range []int{1, 3, 8, 9, 17, 65, 290} {
				for _, acc := range []bool{false, true} {
					for _, trans := range []bool{true, false} {
						name := fmt.Sprintf("%dx%d/n=%d/acc=%v/mulT=%v", sh.rows, sh.cols, n, acc, trans)
						checkBF16Mul(t, name, rng, w, n, acc, trans)
					}
				}
			}
		}
	})
}

// TestBF16ProductsBlocked runs the VDPBF16PS kernels with their blocks
// made small, so that every shape crosses several column blocks (nc = 32),
// several reduction blocks (128 pairs), and several row chunks of MulBF16
// (dpMulRows, odd chunks included), and the AMX kernels with their L2
// budget made small (4 KiB), so that MulT goes in groups of 128 weight rows
// (edge groups included) and Mul sums its reduction in parts of 16 pairs,
// against the float64 reference.
func TestBF16ProductsBlocked(t *testing.T) {
	defer func(b, r int) { dpBlockBytes, dpMulRows = b, r }(dpBlockBytes, dpMulRows)
	defer setAMXL2(setAMXL2(4096))
	eachBF16Path(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(77, 78))
		for _, sh := range []struct{ rows, cols, chunk int }{{517, 45, 2048}, {517, 45, 100}, {300, 333, 2048}, {97, 600, 30}, {64, 257, 64}} {
			w := randWeight(rng, sh.rows, sh.cols, true)
			for _, n := range []int{5, 13, 26} {
				dpBlockBytes, dpMulRows = 4*32*n, sh.chunk
				for _, acc := range []bool{false, true} {
					for _, trans := range []bool{true, false} {
						name := fmt.Sprintf("%dx%d/chunk=%d/n=%d/acc=%v/mulT=%v", sh.rows, sh.cols, sh.chunk, n, acc, trans)
						checkBF16Mul(t, name, rng, w, n, acc, trans)
					}
				}
			}
		}
	})
}

func checkBF16Mul(t *testing.T, name string, rng *rand.Rand, w *Weight, n int, acc, trans bool) {
	t.Helper()
	out, in := w.Rows, w.Cols
	if !trans {
		out, in = in, out
	}
	x := randSlice(rng, n*in)
	for i := range x {
		x[i] *= 3 // values beyond [-1, 1] too
	}
	y := randSlice(rng, n*out+3)
	y0 := append([]float32(nil), y...)
	yf := append([]float32(nil), y...)
	want, scale := refMul(w, y0, roundedF32(x), n, acc, trans)
	if trans {
		w.MulTBF16(y, x, n, acc)
		w.MulT(yf, x, n, acc)
	} else {
		w.MulBF16(y, x, n, acc)
		w.Mul(yf, x, n, acc)
	}
	for k := range want {
		if d := math.Abs(float64(y[k]) - want[k]); d > 1e-5*scale[k]+1e-6 || math.IsNaN(float64(y[k])) {
			t.Fatalf("%s: out[%d] = %g, want %g (scale %g)", name, k, y[k], want[k], scale[k])
		}
		if d := math.Abs(float64(y[k]) - float64(yf[k])); d > math.Ldexp(scale[k], -8)+1e-5*scale[k]+1e-6 {
			t.Fatalf("%s: out[%d] = %g, float32 product %g: more apart than bfloat16 rounding explains (scale %g)", name, k, y[k], yf[k], scale[k])
		}
	}
	for k := n * out; k < len(y); k++ {
		if y[k] != y0[k] {
			t.Fatalf("%s: wrote past the output at %d", name, k)
		}
	}
}

// TestBF16RoundsActivations checks that the activations are rounded to the
// nearest bfloat16, ties to even, before the product: with W = I (one
// column per row), y is the rounded x exactly.
func TestBF16RoundsActivations(t *testing.T) {
	eachBF16Path(t, func(t *testing.T) {
		const d, n = 40, 12
		w := &Weight{Rows: d, Cols: d, BF16: make([]uint16, d*d)}
		for i := 0; i < d; i++ {
			w.BF16[i*d+i] = F32ToBF16(1)
		}
		x := make([]float32, n*d)
		ties := []uint32{0x3f808000, 0x3f818000, 0x3f80c000, 0x3f807fff, 0xbf808000, 0xbf818001}
		for i := range x {
			x[i] = math.Float32frombits(ties[i%len(ties)])
		}
		y, dx := make([]float32, n*d), make([]float32, n*d)
		w.MulTBF16(y, x, n, false)
		w.MulBF16(dx, x, n, false)
		for i := range x {
			want := BF16ToF32(F32ToBF16(x[i]))
			if y[i] != want || dx[i] != want {
				t.Fatalf("x = %#x: MulTBF16 gives %#x, MulBF16 %#x, want %#x", math.Float32bits(x[i]),
					math.Float32bits(y[i]), math.Float32bits(dx[i]), math.Float32bits(want))
			}
		}
	})
}

// BenchmarkBF16Products compares MulTBF16/MulBF16 (on VDPBF16PS where the
// CPU has it) with the float32-activation products of the same bfloat16
// weight, at a Qwen2-1.5B projection shape and 256 input rows.
func BenchmarkBF16Products(b *testing.B) {
	rng := rand.New(rand.NewPCG(73, 74))
	for _, sh := range [][2]int{{1536, 1536}, {896, 896}, {4864, 896}, {896, 4864}} {
		rows, cols, n := sh[0], sh[1], 256
		w := randWeight(rng, rows, cols, true)
		x, y := randSlice(rng, n*cols), make([]float32, n*rows)
		for _, c := range []struct {
			name string
			fn   func()
		}{
			{"MulT/f32act", func() { w.MulT(y, x, n, false) }},
			{"MulT/bf16", func() { w.MulTBF16(y, x, n, false) }},
			{"Mul/f32act", func() { w.Mul(x, y, n, false) }},
			{"Mul/bf16", func() { w.MulBF16(x, y, n, false) }},
		} {
			b.Run(fmt.Sprintf("%dx%d/%s", rows, cols, c.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					c.fn()
				}
				b.ReportMetric(2*float64(rows*cols*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// TestBF16PeakLoop checks that the peak loop really runs its VDPBF16PS:
// 12 accumulators × 16 lanes each gain 2·1·2^-7 per step, exactly.
func TestBF16PeakLoop(t *testing.T) {
	if why := cannotRun(AVX512); why != "" || !Features().AVX512BF16 {
		t.Skipf("NOT TESTED: the peak loop needs avx512bf16 (%s)", why)
	}
	if got, want := dpPeakRun(1<<10), float32(192*(1<<10))/64; got != want {
		t.Fatalf("peak loop sum %g, want %g", got, want)
	}
}

// BenchmarkBF16VsF32 compares, at the Qwen2-1.5B shapes (q/o, k/v,
// gate/up, down, a 16384-row slice of the LM head) and 256 input rows, the
// float32 training path's products (float32 weight and activations) with
// the bfloat16 compute products of the same weight stored as bfloat16:
// the ratio bfloat16 compute can gain per product.
func BenchmarkBF16VsF32(b *testing.B) {
	rng := rand.New(rand.NewPCG(75, 76))
	for _, sh := range [][2]int{{1536, 1536}, {256, 1536}, {8960, 1536}, {1536, 8960}, {16384, 1536}} {
		rows, cols, n := sh[0], sh[1], 256
		wf := randWeight(rng, rows, cols, false)
		wb := &Weight{Rows: rows, Cols: cols, BF16: make([]uint16, rows*cols)}
		RoundBF16(wb.BF16, wf.F32)
		x, y := randSlice(rng, n*max(rows, cols)), make([]float32, n*max(rows, cols))
		for _, c := range []struct {
			name string
			fn   func()
		}{
			{"MulT/f32", func() { wf.MulT(y, x, n, false) }},
			{"MulT/bf16", func() { wb.MulTBF16(y, x, n, false) }},
			{"Mul/f32", func() { wf.Mul(x, y, n, false) }},
			{"Mul/bf16", func() { wb.MulBF16(x, y, n, false) }},
		} {
			b.Run(fmt.Sprintf("%dx%d/%s", rows, cols, c.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					c.fn()
				}
				b.ReportMetric(2*float64(rows*cols*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkBF16Cold runs MulTBF16 and MulBF16 with 64 and 256 input rows
// over 24 distinct 1536×1536 bfloat16 weights in turn (113 MB, past the
// last-level cache), as a prefill or a training step meets its weights:
// each product reads its weight from memory. "peak" is the VDPBF16PS loop
// on every thread. GFLOPS/cpu-s (work per CPU second of the process) is the
// figure to compare on a busy shared host: kernel over peak is its
// efficiency.
func BenchmarkBF16Cold(b *testing.B) {
	rng := rand.New(rand.NewPCG(81, 82))
	const d = 1536
	ws := make([]*Weight, 24)
	for i := range ws {
		ws[i] = randWeight(rng, d, d, true)
	}
	b.Run("peak", func(b *testing.B) {
		if !HasBF16Dot() {
			b.Skip("no VDPBF16PS")
		}
		c0 := CPUSeconds()
		for i := 0; i < b.N; i++ {
			Parallel(Threads(), func(lo, hi int) { dpPeakRun(1 << 20) })
		}
		flops := float64(Threads()) * (1 << 20) * 768 * float64(b.N)
		b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOPS")
		b.ReportMetric(flops/(CPUSeconds()-c0)/1e9, "GFLOPS/cpu-s")
	})
	for _, n := range []int{64, 256} {
		x, y := randSlice(rng, n*d), make([]float32, n*d)
		for _, mulT := range []bool{true, false} {
			b.Run(fmt.Sprintf("n=%d/mulT=%v", n, mulT), func(b *testing.B) {
				c0 := CPUSeconds()
				for i := 0; i < b.N; i++ {
					for _, w := range ws {
						if mulT {
							w.MulTBF16(y, x, n, false)
						} else {
							w.MulBF16(x, y, n, false)
						}
					}
				}
				flops := 2 * float64(d*d*n*len(ws)) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOPS")
				b.ReportMetric(flops/(CPUSeconds()-c0)/1e9, "GFLOPS/cpu-s")
			})
		}
	}
}
