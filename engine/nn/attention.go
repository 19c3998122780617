package nn

import (
	"math"

	"qwentune/engine/ops"
)

// attentionForward is causal grouped-query attention for one sequence:
//
//	q [nq, nh·hd], k and v [nk, nkv·hd], out [nq, nh·hd]
//
// The queries are the last nq of the nk positions: query i sits at position
// nk−nq+i and attends to keys j ≤ nk−nq+i with keyOK[j] (nil: all keys).
// Query head h reads kv head h/(nh/nkv). Scores are q·kᵀ/sqrt(hd), softmax in
// float32. probs receives the attention weights, [nh, nq, nk] when save is
// set (kept for the backward pass), otherwise it is an [nq, nk] scratch
// reused per head. A query with no visible key gets a zero output.
// QKᵀ and PV are one ops.Gemm each per head.
func attentionForward(out, probs, q, k, v []float32, nq, nk int, d dims, keyOK []bool, save bool) {
	scale := invSqrt(float64(d.hd))
	group := d.nh / d.nkv
	for h := 0; h < d.nh; h++ {
		g := h / group
		p := probs[:nq*nk]
		if save {
			p = probs[h*nq*nk : (h+1)*nq*nk]
		}
		ops.Gemm(false, true, nq, nk, d.hd, scale, q[h*d.hd:], d.Q, k[g*d.hd:], d.KV, 0, p, nk)
		softmaxCausal(p, nq, nk, keyOK)
		ops.Gemm(false, false, nq, d.hd, nk, 1, p, nk, v[g*d.hd:], d.KV, 0, out[h*d.hd:], d.Q)
	}
}

// softmaxCausal replaces each row i of s[nq, nk] by the softmax over the
// visible keys (j ≤ nk−nq+i and keyOK[j]) and zeroes the rest.
func softmaxCausal(s []float32, nq, nk int, keyOK []bool) {
	if small(nq * nk) {
		softmaxRows(s, nq, nk, keyOK, 0, nq)
		return
	}
	ops.Parallel(nq, func(lo, hi int) { softmaxRows(s, nq, nk, keyOK, lo, hi) })
}

func softmaxRows(s []float32, nq, nk int, keyOK []bool, lo, hi int) {
	for i := lo; i < hi; i++ {
		row := s[i*nk : (i+1)*nk]
		last := nk - nq + i
		vis := row[:last+1]
		clear(row[last+1:])
		// Hidden keys become −Inf, whose exp is 0, so that the vector
		// kernels run over one contiguous range.
		if keyOK != nil {
			for j, ok := range keyOK[:len(vis)] {
				if !ok {
					vis[j] = float32(math.Inf(-1))
				}
			}
		}
		mx := ops.MaxF32(vis)
		if math.IsInf(float64(mx), -1) {
			clear(vis)
			continue
		}
		// The largest key contributes e^0 = 1, so the sum is at least 1.
		inv := float32(1 / ops.ExpShiftSum(vis, mx))
		for j := range vis {
			vis[j] *= inv
		}
	}
}

// attentionBackward is the backward of attentionForward with saved probs
// [nh, nq, nk]. It writes dq [nq, nh·hd] and adds to dk and dv [nk, nkv·hd]
// (the kv heads are shared by a group of query heads). dp is an [nq, nk]
// scratch. With P the probabilities and S the scaled scores:
//
//	dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
//	dQ = scale·dS·K,  dK += scale·dSᵀ·Q.
func attentionBackward(dq, dk, dv, dout, probs, q, k, v, dp []float32, nq, nk int, d dims) {
	scale := invSqrt(float64(d.hd))
	group := d.nh / d.nkv
	for h := 0; h < d.nh; h++ {
		g := h / group
		p := probs[h*nq*nk : (h+1)*nq*nk]
		do := dout[h*d.hd:]
		ops.Gemm(true, false, nk, d.hd, nq, 1, p, nk, do, d.Q, 1, dv[g*d.hd:], d.KV)
		ops.Gemm(false, true, nq, nk, d.hd, 1, do, d.Q, v[g*d.hd:], d.KV, 0, dp[:nq*nk], nk)
		ops.Parallel(nq, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				pr, dr := p[i*nk:(i+1)*nk], dp[i*nk:(i+1)*nk]
				var dot float32
				for j, x := range pr {
					dot += x * dr[j]
				}
				for j, x := range pr {
					dr[j] = x * (dr[j] - dot)
				}
			}
		})
		ops.Gemm(false, false, nq, d.hd, nk, scale, dp, nk, k[g*d.hd:], d.KV, 0, dq[h*d.hd:], d.Q)
		ops.Gemm(true, false, nk, d.hd, nq, scale, dp, nk, q[h*d.hd:], d.Q, 1, dk[g*d.hd:], d.KV)
	}
}
