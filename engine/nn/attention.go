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
// QKᵀ and PV are ops.Gemm calls per head and per block of causalBlock
// queries, each over only the keys that block can see: a block's scores
// past its last visible key are never computed (softmaxCausal zeroes
// them), so a full sequence costs about 5/8 of the square at 4 blocks.
// With save, each head has its own probabilities and the heads go over the
// pool, each head's products on one thread: a head's products are too
// small to split well (a hand-off per product cost more than their sums).
func attentionForward(out, probs, q, k, v []float32, nq, nk int, d dims, keyOK []bool, save bool) {
	if !save { // decode and prefill: no closure, no allocation per token
		for h := range d.nh {
			attendHead(out, probs[:nq*nk], q, k, v, h, nq, nk, d, keyOK)
		}
		return
	}
	attendHeads(out, probs, q, k, v, nq, nk, d, keyOK)
}

// attendHeads runs attendHead for every head over the pool (its own
// function: the closure moves its arguments to the heap).
func attendHeads(out, probs, q, k, v []float32, nq, nk int, d dims, keyOK []bool) {
	ops.Parallel(d.nh, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			attendHead(out, probs[h*nq*nk:(h+1)*nq*nk], q, k, v, h, nq, nk, d, keyOK)
		}
	})
}

// attendHead is attentionForward for query head h, with p its [nq, nk]
// probabilities.
func attendHead(out, p, q, k, v []float32, h, nq, nk int, d dims, keyOK []bool) {
	scale := invSqrt(float64(d.hd))
	g := h / (d.nh / d.nkv)
	for i0 := 0; i0 < nq; i0 += causalBlock {
		m, kv := causalSpan(i0, nq, nk)
		ops.Gemm(false, true, m, kv, d.hd, scale, q[i0*d.Q+h*d.hd:], d.Q, k[g*d.hd:], d.KV, 0, p[i0*nk:], nk)
	}
	softmaxCausal(p, nq, nk, keyOK)
	for i0 := 0; i0 < nq; i0 += causalBlock {
		m, kv := causalSpan(i0, nq, nk)
		ops.Gemm(false, false, m, d.hd, kv, 1, p[i0*nk:], nk, v[g*d.hd:], d.KV, 0, out[i0*d.Q+h*d.hd:], d.Q)
	}
}

// causalBlock is the number of queries whose attention products go
// together: blocks of 64 skip 3/8 of a 256-token square. (With the heads
// over the pool, a layer at 256 tokens took half the time it did with
// whole-square products each split over the pool: bench/README.md.)
const causalBlock = 64

// causalSpan gives the queries in the block from i0 (of nq, the last nq of
// nk positions) and the number of keys the block's last query can see.
func causalSpan(i0, nq, nk int) (m, keys int) {
	m = min(causalBlock, nq-i0)
	return m, nk - nq + i0 + m
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
// (the kv heads are shared by a group of query heads). dp holds s ≥ 1
// [nq, nk] scratches: with more than one, s threads of the pool take the kv
// heads' groups in turn (group g on scratch g mod s), each group on one
// thread, as attentionForward's heads go.
// With P the probabilities and S the scaled scores:
//
//	dV += Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),
//	dQ = scale·dS·K,  dK += scale·dSᵀ·Q.
func attentionBackward(dq, dk, dv, dout, probs, q, k, v, dp []float32, nq, nk int, d dims) {
	group := d.nh / d.nkv
	slots := max(1, min(len(dp)/(nq*nk), d.nkv)) // too short a dp panics on slicing
	ops.Parallel(slots, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			for g := s; g < d.nkv; g += slots {
				for h := g * group; h < (g+1)*group; h++ {
					attendHeadBackward(dq, dk, dv, dout, probs, q, k, v, dp[s*nq*nk:(s+1)*nq*nk], h, nq, nk, d)
				}
			}
		}
	})
}

// attentionScratches is the number of [L, L] scratches attentionBackward
// can use: one per kv head, as many as the pool has threads.
func attentionScratches(d dims) int { return max(1, min(d.nkv, ops.Threads())) }

// attendHeadBackward is attentionBackward for query head h.
func attendHeadBackward(dq, dk, dv, dout, probs, q, k, v, dp []float32, h, nq, nk int, d dims) {
	scale := invSqrt(float64(d.hd))
	g := h / (d.nh / d.nkv)
	p := probs[h*nq*nk : (h+1)*nq*nk]
	do := dout[h*d.hd:]
	// Per block of queries, over the keys it sees: P and dS are zero past
	// them, and so are their terms of dV and dK.
	for i0 := 0; i0 < nq; i0 += causalBlock {
		m, kv := causalSpan(i0, nq, nk)
		ops.Gemm(true, false, kv, d.hd, m, 1, p[i0*nk:], nk, do[i0*d.Q:], d.Q, 1, dv[g*d.hd:], d.KV)
		ops.Gemm(false, true, m, kv, d.hd, 1, do[i0*d.Q:], d.Q, v[g*d.hd:], d.KV, 0, dp[i0*nk:], nk)
	}
	ops.Parallel(nq, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			vis := nk - nq + i + 1
			pr, dr := p[i*nk:i*nk+vis], dp[i*nk:(i+1)*nk]
			var dot float32
			for j, x := range pr {
				dot += x * dr[j]
			}
			for j, x := range pr {
				dr[j] = x * (dr[j] - dot)
			}
			clear(dr[vis:]) // past the block's keys: never computed
		}
	})
	for i0 := 0; i0 < nq; i0 += causalBlock {
		m, kv := causalSpan(i0, nq, nk)
		ops.Gemm(false, false, m, d.hd, kv, scale, dp[i0*nk:], nk, k[g*d.hd:], d.KV, 0, dq[i0*d.Q+h*d.hd:], d.Q)
		ops.Gemm(true, false, kv, d.hd, m, scale, dp[i0*nk:], nk, q[i0*d.Q+h*d.hd:], d.Q, 1, dk[g*d.hd:], d.KV)
	}
}
