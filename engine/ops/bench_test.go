package ops

import (
	"fmt"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// qwenShapes are the Linear weights of Qwen2-1.5B: the MLP's gate/up and
// down projections and the lm_head.
var qwenShapes = []struct{ rows, cols int }{{8960, 1536}, {1536, 8960}, {151936, 1536}}

// patternWeight fills a weight cheaply (the largest is 233M values) with
// small values that are exact in bfloat16.
func patternWeight(rows, cols int, bf16 bool) *Weight {
	w := &Weight{Rows: rows, Cols: cols}
	if bf16 {
		w.BF16 = make([]uint16, rows*cols)
		for i := range w.BF16 {
			w.BF16[i] = F32ToBF16(float32(i%17-8) / 16)
		}
	} else {
		w.F32 = make([]float32, rows*cols)
		for i := range w.F32 {
			w.F32[i] = float32(i%17-8) / 16
		}
	}
	return w
}

func patternSlice(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i%13-6) / 8
	}
	return s
}

func dtype(bf16 bool) string {
	if bf16 {
		return "bf16"
	}
	return "f32"
}

func BenchmarkSgemm1024(b *testing.B) {
	const n = 1024
	x, y, z := patternSlice(n*n), patternSlice(n*n), make([]float32, n*n)
	for b.Loop() {
		Gemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}

// BenchmarkGEMV is decode: MulT with one input row, bound by reading the
// weight once.
func BenchmarkGEMV(b *testing.B) {
	for _, sh := range qwenShapes {
		for _, bf16 := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/%dx%d", dtype(bf16), sh.rows, sh.cols), func(b *testing.B) {
				w := patternWeight(sh.rows, sh.cols, bf16)
				x, y := patternSlice(sh.cols), make([]float32, sh.rows)
				for b.Loop() {
					w.MulT(y, x, 1, false)
				}
				b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkSgemvBLAS is the BLAS library's own sgemv on the same shapes,
// for comparison with the float32 GEMV kernel MulT uses.
func BenchmarkSgemvBLAS(b *testing.B) {
	for _, sh := range qwenShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			w := patternWeight(sh.rows, sh.cols, false)
			x, y := patternSlice(sh.cols), make([]float32, sh.rows)
			for b.Loop() {
				blas32.Sgemv(blas.NoTrans, sh.rows, sh.cols, 1, w.F32, sh.cols, x, 1, 0, y, 1)
			}
			b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkMulTSmallN is batched decode and the crossover to sgemm.
func BenchmarkMulTSmallN(b *testing.B) {
	for _, n := range []int{2, 4, 5, 6, 8, 9, 16} {
		for _, bf16 := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/n=%d", dtype(bf16), n), func(b *testing.B) {
				w := patternWeight(8960, 1536, bf16)
				x, y := patternSlice(n*1536), make([]float32, n*8960)
				for b.Loop() {
					w.MulT(y, x, n, false)
				}
				b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				b.ReportMetric(2*float64(n*8960*1536)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkPrefill is MulT and Mul (the backward) with 256 input rows.
func BenchmarkPrefill(b *testing.B) {
	const n = 256
	for _, sh := range qwenShapes[:2] {
		for _, bf16 := range []bool{false, true} {
			w := patternWeight(sh.rows, sh.cols, bf16)
			b.Run(fmt.Sprintf("MulT/%s/%dx%d", dtype(bf16), sh.rows, sh.cols), func(b *testing.B) {
				x, y := patternSlice(n*sh.cols), make([]float32, n*sh.rows)
				for b.Loop() {
					w.MulT(y, x, n, false)
				}
				b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
			b.Run(fmt.Sprintf("Mul/%s/%dx%d", dtype(bf16), sh.rows, sh.cols), func(b *testing.B) {
				dy, dx := patternSlice(n*sh.rows), make([]float32, n*sh.cols)
				for b.Loop() {
					w.Mul(dx, dy, n, false)
				}
				b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkMulVec is Mul with one row (dx = dy·W), streaming the weight.
func BenchmarkMulVec(b *testing.B) {
	for _, bf16 := range []bool{false, true} {
		b.Run(dtype(bf16), func(b *testing.B) {
			w := patternWeight(8960, 1536, bf16)
			dy, dx := patternSlice(8960), make([]float32, 1536)
			for b.Loop() {
				w.Mul(dx, dy, 1, false)
			}
			b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

func BenchmarkParallel(b *testing.B) {
	data := make([]float32, 4096)
	fn := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			data[i] += 1
		}
	}
	for b.Loop() {
		Parallel(len(data), fn)
	}
}

func BenchmarkBandwidth(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(MeasureBandwidth(0)/1e9, "GB/s")
	}
}

// BenchmarkTiledVsSgemm runs the weight products of prefill (64 rows),
// training (256 rows) and the LM head's loss chunk on the tiled kernels and,
// in the same run, on sgemm (the path without AVX-512).
func BenchmarkTiledVsSgemm(b *testing.B) {
	for _, sh := range []struct{ n, rows, cols int }{{64, 1536, 1536}, {64, 8960, 1536}, {64, 1536, 8960}, {256, 1536, 1536}, {256, 8960, 1536}, {256, 1536, 8960}, {110, 151936, 1536}} {
		w := patternWeight(sh.rows, sh.cols, false)
		n := sh.n
		for _, off := range []bool{false, true} {
			name := "tiled"
			if off {
				name = "sgemm"
			}
			b.Run(fmt.Sprintf("MulT/%s/n%d/%dx%d", name, n, sh.rows, sh.cols), func(b *testing.B) {
				forceNoTiled(off)
				defer forceNoTiled(false)
				x, y := patternSlice(n*sh.cols), make([]float32, n*sh.rows)
				for b.Loop() {
					w.MulT(y, x, n, false)
				}
				b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
			b.Run(fmt.Sprintf("Mul/%s/n%d/%dx%d", name, n, sh.rows, sh.cols), func(b *testing.B) {
				forceNoTiled(off)
				defer forceNoTiled(false)
				dy, dx := patternSlice(n*sh.rows), make([]float32, n*sh.cols)
				for b.Loop() {
					w.Mul(dx, dy, n, false)
				}
				b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkParallelGap is BenchmarkParallel with a few microseconds of
// serial work between the calls, as a decode step has between its
// products (norms, RoPE, attention of one token): the workers have gone
// idle by the next call, so this measures a hand-off as decoding pays it.
// Subtract BenchmarkSerialGap for the hand-off alone.
func BenchmarkParallelGap(b *testing.B) {
	data := make([]float32, 4096)
	fn := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			data[i] += 1
		}
	}
	gap := make([]float32, 8192)
	for b.Loop() {
		Parallel(len(data), fn)
		serialGap(gap)
	}
}

// BenchmarkSerialGap is BenchmarkParallelGap's serial work alone.
func BenchmarkSerialGap(b *testing.B) {
	gap := make([]float32, 8192)
	for b.Loop() {
		serialGap(gap)
	}
}

// serialGap is about 10 µs of single-threaded work.
func serialGap(g []float32) {
	for r := 0; r < 4; r++ {
		for i := range g {
			g[i] = g[i]*0.999 + 1
		}
	}
}
