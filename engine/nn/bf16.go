package nn

import (
	"fmt"

	"qwentune/engine/ops"
)

// bfloat16 compute (issue 17, SPEC §9): like torch.autocast("cpu",
// dtype=torch.bfloat16), the products with the frozen projection weights
// and the LM head (forward and the backward's input gradient) take
// bfloat16 operands and sum in float32; RMSNorm, RoPE, softmax, residuals,
// the loss, the LoRA products and their gradients and the optimizer stay
// float32. Decode-shaped products (at most ops.GEMVMaxN rows) stay as they
// are (float32 activations against the bfloat16 weight): they are bound by
// reading the weight, which bfloat16 storage already halves, and rounding
// the one activation row would gain nothing.

// mulT computes y = x·Wᵀ in bfloat16 compute when bf16 is set and the
// product has more than ops.GEMVMaxN rows, in float32 otherwise; infer
// (nothing will differentiate y) lets a decode-shaped product with a Q8_0
// weight quantise x to 8 bits (ops.Weight.MulTInfer).
func mulT(w *ops.Weight, bf16, infer bool, y, x []float32, n int) {
	switch {
	case bf16 && n > ops.GEMVMaxN:
		w.MulTBF16(y, x, n, false)
	case infer:
		w.MulTInfer(y, x, n, false)
	default:
		w.MulT(y, x, n, false)
	}
}

// ComputeBF16 reports whether the weight products compute in bfloat16.
func (m *Model) ComputeBF16() bool { return m.headBF16 }

// SetComputeBF16 switches the weight products to bfloat16 compute (on) or
// back to float32. Switching on stores float32 projection weights as
// bfloat16 (once; a tied LM head gets its own bfloat16 copy, the
// embeddings stay float32); bfloat16 and Q8_0 weights stay as they are (a
// Q8_0 product in bfloat16 compute rounds each dequantised value to
// bfloat16 in its scratch, ops.Weight.MulTBF16). Full-parameter training (TrainAll) trains the
// float32 weights and refuses bfloat16 compute.
func (m *Model) SetComputeBF16(on bool) error {
	if on && m.full {
		return fmt.Errorf("bfloat16 compute is for frozen weights; full-parameter training computes in float32")
	}
	for i := range m.Layers {
		for t := range numTargets {
			lin := m.Layers[i].linear(t)
			if on && lin.Weight.F32 != nil {
				lin.Weight = toBF16Weight(&lin.Weight)
			}
			lin.bf16 = on
		}
	}
	if on && m.LMHead.F32 != nil {
		h := toBF16Weight(m.LMHead)
		m.LMHead = &h
	}
	m.headBF16 = on
	return nil
}

// toBF16Weight returns w rounded to bfloat16 storage.
func toBF16Weight(w *ops.Weight) ops.Weight {
	b := make([]uint16, len(w.F32))
	ops.RoundBF16(b, w.F32)
	return ops.Weight{Rows: w.Rows, Cols: w.Cols, BF16: b}
}
