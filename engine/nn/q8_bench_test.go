package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// BenchmarkQ8LogitsError measures how far a Q8_0 model's logits are from
// the float32 model's it was quantised from (the benchmark model, or
// NN_BENCH_SHAPE: issue 18 asks for the Qwen2-1.5B shape within 2e-2):
// max |Δ| / max |logit| over 16 positions, for prefill (float32 products of
// the dequantised weights) and for decoding steps (MulTInfer: 8-bit inputs
// on VNNI where the CPU has it). It is a benchmark because the full shape
// takes minutes and gigabytes; each iteration repeats the comparison.
// NN_BENCH_TARGET=bfloat16 measures bfloat16 storage the same way instead,
// for scale.
func BenchmarkQ8LogitsError(b *testing.B) {
	f := benchModel(b)
	if f.DType() != "float32" {
		b.Fatal("BenchmarkQ8LogitsError quantises a float32 model: leave NN_BENCH_DTYPE unset")
	}
	ids := randomIDs(rand.New(rand.NewPCG(5, 5)), 16, f.d.V)
	want := f.Logits(ids)
	// The Q8_0 model shares the norms and biases; only the matrices are
	// requantised, tensor by tensor, dropping each float32 copy.
	target := "q8_0"
	if os.Getenv("NN_BENCH_TARGET") == "bfloat16" {
		target = "bfloat16"
	}
	for _, ts := range f.tensors() {
		if ts.w != nil {
			*ts.w = makeWeight(ts.w.Rows, ts.w.Cols, ts.w.F32, target)
		}
	}
	f.dtype = target
	var prefill, decode float64
	for b.Loop() {
		got := f.Logits(ids)
		c := f.NewCache(len(ids))
		prefill, decode = 0, 0
		for i, id := range ids {
			step := f.Step(c, []int{id})
			var np, nd, den float64
			for k, w := range want[i] {
				np = max(np, math.Abs(float64(got[i][k]-w)))
				nd = max(nd, math.Abs(float64(step[k]-w)))
				den = max(den, math.Abs(float64(w)))
			}
			prefill, decode = max(prefill, np/den), max(decode, nd/den)
		}
	}
	b.ReportMetric(prefill, "prefill_rel_err")
	b.ReportMetric(decode, "decode_rel_err")
}
