package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"qwentune/engine/ops"
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
//
// For Q8_0 it also splits that error in two. format_rel_err is the float32
// model of the dequantised weights (q·d, what any Q8_0 reader, llama.cpp
// included, multiplies by) against the original: the error of the file
// format itself, which no kernel can remove. kernel_prefill_rel_err and
// kernel_decode_rel_err are the Q8_0 model against that dequantised float32
// model: the error our products add (float32 rounding order in prefill; the
// 8-bit inputs of the VNNI decode, as ggml quantises them, in decoding).
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
	var deq [][]float32 // the float32 model of the dequantised weights
	if target == "q8_0" {
		// Dequantising in place and quantising again gives the same
		// blocks: amax is 127·d, exact, so d and every q come back.
		for _, ts := range f.tensors() {
			if w := ts.w; w != nil && w.Cols%ops.Q8Block == 0 {
				q := make([]byte, ops.Q8_0Size(len(w.F32)))
				if err := ops.QuantizeQ8_0(q, w.F32); err != nil {
					b.Fatal(err)
				}
				ops.DequantizeQ8_0(w.F32, q)
			}
		}
		deq = f.Logits(ids)
	}
	for _, ts := range f.tensors() {
		if ts.w != nil {
			*ts.w = makeWeight(ts.w.Rows, ts.w.Cols, ts.w.F32, target)
		}
	}
	f.dtype = target
	var prefill, decode, format, kprefill, kdecode float64
	for b.Loop() {
		got := f.Logits(ids)
		c := f.NewCache(len(ids))
		prefill, decode, format, kprefill, kdecode = 0, 0, 0, 0, 0
		for i, id := range ids {
			step := f.Step(c, []int{id})
			prefill = max(prefill, logitErr(got[i], want[i]))
			decode = max(decode, logitErr(step, want[i]))
			if deq != nil {
				format = max(format, logitErr(deq[i], want[i]))
				kprefill = max(kprefill, logitErr(got[i], deq[i]))
				kdecode = max(kdecode, logitErr(step, deq[i]))
			}
		}
	}
	b.ReportMetric(prefill, "prefill_rel_err")
	b.ReportMetric(decode, "decode_rel_err")
	if deq != nil {
		b.ReportMetric(format, "format_rel_err")
		b.ReportMetric(kprefill, "kernel_prefill_rel_err")
		b.ReportMetric(kdecode, "kernel_decode_rel_err")
	}
}

// logitErr is max |got − want| / max |want|, the measure.
func logitErr(got, want []float32) float64 {
	var num, den float64
	for k, w := range want {
		num = max(num, math.Abs(float64(got[k]-w)))
		den = max(den, math.Abs(float64(w)))
	}
	return num / den
}
