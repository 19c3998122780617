package ops

import (
	"fmt"
	"testing"
)

// patternQ8 is a Q8_0 weight of rows×cols made without quantising (the
// largest has 233M values): scale 1/64, quants cycling through -8..8.
// It is in the layout the loader would give it (packed where PacksQ8).
func patternQ8(rows, cols int) *Weight {
	q := make([]byte, Q8_0Size(rows*cols))
	for b := 0; b < len(q); b += Q8BlockBytes {
		q[b], q[b+1] = 0x00, 0x24 // float16 1/64
		for j := range Q8Block {
			q[b+2+j] = byte(int8((b/Q8BlockBytes+j)%17 - 8))
		}
	}
	w := Q8Weight(rows, cols, q)
	return &w
}

// BenchmarkQ8GEMV is decode with Q8_0 weights against bfloat16 ones:
// MulTInfer (q8_0-vnni: 8-bit inputs on VPDPBUSD where the CPU has it) and
// MulT (q8_0-widen, bf16) with n input rows, bound by reading the weight
// once (GB/s of storage read; the ns/op of the dtypes compare directly).
// The head's shape (151936×1536) does not fit in the last-level cache.
func BenchmarkQ8GEMV(b *testing.B) {
	for _, sh := range qwenShapes {
		for _, n := range []int{1, 4} {
			for _, dt := range []string{"q8_0-vnni", "q8_0-widen", "bf16"} {
				b.Run(fmt.Sprintf("%s/%dx%d/n=%d", dt, sh.rows, sh.cols, n), func(b *testing.B) {
					w := patternWeight(sh.rows, sh.cols, true)
					if dt != "bf16" {
						w = patternQ8(sh.rows, sh.cols)
					}
					x, y := patternSlice(n*sh.cols), make([]float32, n*sh.rows)
					for b.Loop() {
						if dt == "q8_0-vnni" {
							w.MulTInfer(y, x, n, false)
						} else {
							w.MulT(y, x, n, false)
						}
					}
					b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
			}
		}
	}
}

// BenchmarkQ8Prefill is MulT and Mul with many input rows (prefill,
// training) for Q8_0 against bfloat16 weights, in float32 and bfloat16
// compute, in GFLOP/s.
func BenchmarkQ8Prefill(b *testing.B) {
	const n = 256
	for _, sh := range qwenShapes[:2] {
		for _, compute := range []string{"f32", "bf16"} {
			for _, op := range []string{"MulT", "Mul"} {
				for _, dt := range []string{"q8_0", "bf16"} {
					b.Run(fmt.Sprintf("%s/%s/%s/%dx%d", compute, op, dt, sh.rows, sh.cols), func(b *testing.B) {
						w := patternWeight(sh.rows, sh.cols, true)
						if dt == "q8_0" {
							w = patternQ8(sh.rows, sh.cols)
						}
						in, out := sh.cols, sh.rows
						if op == "Mul" {
							in, out = out, in
						}
						x, y := patternSlice(n*in), make([]float32, n*out)
						for b.Loop() {
							switch {
							case op == "MulT" && compute == "f32":
								w.MulT(y, x, n, false)
							case op == "MulT":
								w.MulTBF16(y, x, n, false)
							case compute == "f32":
								w.Mul(y, x, n, false)
							default:
								w.MulBF16(y, x, n, false)
							}
						}
						b.ReportMetric(2*float64(n*sh.rows*sh.cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				}
			}
		}
	}
}
