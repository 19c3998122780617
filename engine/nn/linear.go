package nn

import "qwentune/engine/ops"

// linearForward computes, for x [n, in] and y [n, out],
//
//	y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ
//
// the LoRA term only when lo is not nil, dropout only when train is set and
// lo.Dropout > 0 (xd [n, in] is then its scratch). u [n, r] receives
// drop(x)·Aᵀ, which the backward pass needs. Without train (inference) a
// decode-shaped product with a Q8_0 weight may quantise x to 8 bits
// (ops.Weight.MulTInfer); training's products never do, so that the
// backward pass differentiates exactly what the forward computed.
func linearForward(y, x []float32, n int, lin *Linear, lo *LoRA, u, xd []float32, key uint64, train bool) {
	mulT(&lin.Weight, lin.bf16, !train, y, x, n)
	linearRest(y, x, n, lin, lo, u, xd, key, train)
}

// linearRest is linearForward after y = x·Wᵀ: the bias and the LoRA term.
func linearRest(y, x []float32, n int, lin *Linear, lo *LoRA, u, xd []float32, key uint64, train bool) {
	if lin.Bias != nil {
		addBias(y, lin.Bias, n, lin.Weight.Rows)
	}
	if lo == nil {
		return
	}
	in, out, r := lin.Weight.Cols, lin.Weight.Rows, lo.R
	xin := x
	if train && lo.Dropout > 0 {
		dropoutForward(xd, x, n*in, lo.Dropout, key)
		xin = xd
	}
	if n > ops.GEMVMaxN {
		ops.Gemm(false, true, n, r, in, 1, xin, in, lo.A.Data, in, 0, u, r)
		ops.Gemm(false, true, n, out, r, lo.Scale, u, r, lo.B.Data, r, 1, y, out)
		return
	}
	// Decode-shaped: one row at a time, as the weight products do (sgemm's
	// rounding depends on how many rows it gets), so that a batched
	// decoding step gives each row what a step of that row alone gives.
	for i := range n {
		ui, yi := u[i*r:(i+1)*r], y[i*out:(i+1)*out]
		ops.Gemm(false, true, 1, r, in, 1, xin[i*in:(i+1)*in], in, lo.A.Data, in, 0, ui, r)
		ops.Gemm(false, true, 1, out, r, lo.Scale, ui, r, lo.B.Data, r, 1, yi, out)
	}
}

// linearBackward is the backward of linearForward for dy [n, out]. It
// writes dx [n, in] = dy·W (+ the LoRA path), adding to dx when accumulate
// is set, and adds parameter gradients: for LoRA dB += s·dyᵀ·u and
// dA += (s·dy·B)ᵀ·drop(x); in full-parameter mode dW += dyᵀ·x and
// db += Σ_rows dy. du [n, r] and xd [n, in] are scratch.
func linearBackward(dx, dy, x []float32, n int, lin *Linear, lo *LoRA, u, du, xd []float32, key uint64, train, accumulate bool) {
	in, out := lin.Weight.Cols, lin.Weight.Rows
	if lin.bf16 {
		lin.Weight.MulBF16(dx, dy, n, accumulate)
	} else {
		lin.Weight.Mul(dx, dy, n, accumulate)
	}
	if lin.wp != nil {
		ops.Gemm(true, false, out, in, n, 1, dy, out, x, in, 1, lin.wp.Grad, in)
	}
	if lin.bp != nil {
		biasBackward(lin.bp.Grad, dy, n, out)
	}
	if lo == nil {
		return
	}
	r := lo.R
	dropout := train && lo.Dropout > 0
	ops.Gemm(true, false, out, r, n, lo.Scale, dy, out, u, r, 1, lo.B.Grad, r)
	ops.Gemm(false, false, n, r, out, lo.Scale, dy, out, lo.B.Data, r, 0, du, r)
	xin := x
	if dropout {
		dropoutForward(xd, x, n*in, lo.Dropout, key)
		xin = xd
	}
	ops.Gemm(true, false, r, in, n, 1, du, r, xin, in, 1, lo.A.Grad, in)
	if !dropout {
		ops.Gemm(false, false, n, in, r, 1, du, r, lo.A.Data, in, 1, dx, in)
		return
	}
	ops.Gemm(false, false, n, in, r, 1, du, r, lo.A.Data, in, 0, xd, in)
	dropoutForward(xd, xd, n*in, lo.Dropout, key)
	residualForward(dx, dx, xd, n*in)
}
