package nn

import "qwentune/engine/ops"

// layerActs are one layer's activations for n tokens: what its backward
// pass needs besides the layer input.
type layerActs struct {
	rstd1, rstd2 []float32             // [n]
	q            []float32             // [n, Q], after RoPE
	k, v         []float32             // [n, KV], k after RoPE
	qpre, kpre   []float32             // Qwen3: q [n, Q] and k [n, KV] before their norms
	rstdq, rstdk []float32             // Qwen3: [n·nh] and [n·nkv]
	probs        []float32             // training: [rows, nh, L, L]; inference: [n, keys] scratch
	att          []float32             // [n, Q], attention output (o_proj input)
	x2           []float32             // [n, H], residual after attention
	gate, up     []float32             // [n, I]
	u            [numTargets][]float32 // [n, r], LoRA A·drop(x) per projection
}

// scratch are buffers a layer uses transiently, shared by all layers.
type scratch struct {
	a  []float32 // [n, H] normalised input of a block
	y  []float32 // [n, H] branch output
	h  []float32 // [n, I] silu(gate)⊙up
	xd []float32 // [n, max(H, I, Q)] dropout input
	// backward only
	da, datt, dq, dk, dv, dh, du, dp []float32
	dqpre, dkpre                     []float32 // Qwen3: gradients before the q/k norms
}

// seqs describes how the n tokens of a forward pass form sequences: either
// rows training sequences of L tokens (positions 0..L−1, keys masked by
// keyOK[row]) or, with caches set, the next n/len(caches) tokens of each
// cached sequence in turn.
type seqs struct {
	rows, L int
	keyOK   [][]bool
	caches  []*Cache
}

// layerForward runs layer li on x [n, H] into xout [n, H] (which may alias
// x), keeping activations in la. train turns LoRA dropout on with masks
// keyed by seed.
func (m *Model) layerForward(li int, la *layerActs, s *scratch, x, xout []float32, n int, sq *seqs, train bool, seed uint64) {
	d, l := m.d, &m.Layers[li]
	rmsnormForward(s.a, la.rstd1, x, l.InputLayernorm.Weight, n, d.H, d.eps)
	m.linear3(li, [3]target{qProj, kProj, vProj}, [3][]float32{la.q, la.k, la.v}, 3, s.a, n, la, s, train, seed)
	if d.qkNorm {
		// Qwen3: each head vector of q and k through its RMSNorm.
		copy(la.qpre[:n*d.Q], la.q[:n*d.Q])
		copy(la.kpre[:n*d.KV], la.k[:n*d.KV])
		rmsnormForward(la.q, la.rstdq, la.qpre, l.SelfAttn.QNorm.Weight, n*d.nh, d.hd, d.eps)
		rmsnormForward(la.k, la.rstdk, la.kpre, l.SelfAttn.KNorm.Weight, n*d.nkv, d.hd, d.eps)
	}
	if sq.caches != nil {
		cnt := n / len(sq.caches)
		for j, c := range sq.caches {
			q := la.q[j*cnt*d.Q : (j+1)*cnt*d.Q]
			k, v := la.k[j*cnt*d.KV:(j+1)*cnt*d.KV], la.v[j*cnt*d.KV:(j+1)*cnt*d.KV]
			m.rope.ensure(c.n+cnt, d.hd, d.theta)
			ropeForward(q, cnt, d.nh, d.hd, c.n, &m.rope)
			ropeForward(k, cnt, d.nkv, d.hd, c.n, &m.rope)
			copy(c.k[li][c.n*d.KV:], k)
			copy(c.v[li][c.n*d.KV:], v)
			nk := c.n + cnt
			attentionForward(la.att[j*cnt*d.Q:], c.la.probs, q, c.k[li][:nk*d.KV], c.v[li][:nk*d.KV], cnt, nk, d, nil, false)
		}
	} else {
		m.rope.ensure(sq.L, d.hd, d.theta)
		L := sq.L
		for b := 0; b < sq.rows; b++ {
			q, k := la.q[b*L*d.Q:(b+1)*L*d.Q], la.k[b*L*d.KV:(b+1)*L*d.KV]
			ropeForward(q, L, d.nh, d.hd, 0, &m.rope)
			ropeForward(k, L, d.nkv, d.hd, 0, &m.rope)
			attentionForward(la.att[b*L*d.Q:], la.probs[b*d.nh*L*L:], q, k, la.v[b*L*d.KV:(b+1)*L*d.KV], L, L, d, sq.keyOK[b], true)
		}
	}
	m.linear(li, oProj, s.y, la.att, n, la, s, train, seed)
	residualForward(la.x2, x, s.y, n*d.H)
	rmsnormForward(s.a, la.rstd2, la.x2, l.PostAttentionLayernorm.Weight, n, d.H, d.eps)
	m.linear3(li, [3]target{gateProj, upProj}, [3][]float32{la.gate, la.up}, 2, s.a, n, la, s, train, seed)
	swigluForward(s.h, la.gate, la.up, n*d.I)
	m.linear(li, downProj, s.y, s.h, n, la, s, train, seed)
	residualForward(xout, la.x2, s.y, n*d.H)
}

// linear applies projection t of layer li with its active LoRA.
func (m *Model) linear(li int, t target, y, x []float32, n int, la *layerActs, s *scratch, train bool, seed uint64) {
	linearForward(y, x, n, m.Layers[li].linear(t), m.lora(li, t), la.u[t], s.xd, dropoutKey(seed, li, t), train)
}

// linear3 applies the first k of projections ts of layer li, which share
// the input x, writing ys. Decoding multiplies their weights as one group
// (ops.MulTInferGroup: one hand-out of work to the pool instead of k, the
// input prepared once), with the same results as one at a time.
func (m *Model) linear3(li int, ts [3]target, ys [3][]float32, k int, x []float32, n int, la *layerActs, s *scratch, train bool, seed uint64) {
	if train || n > ops.GEMVMaxN {
		for i := range k {
			m.linear(li, ts[i], ys[i], x, n, la, s, train, seed)
		}
		return
	}
	var ws [3]*ops.Weight
	for i := range k {
		ws[i] = &m.Layers[li].linear(ts[i]).Weight
	}
	ops.MulTInferGroup(ws[:k], ys[:k], x, n)
	for i := range k {
		t := ts[i]
		linearRest(ys[i], x, n, m.Layers[li].linear(t), m.lora(li, t), la.u[t], s.xd, dropoutKey(seed, li, t), train)
	}
}

// linearGrad is the backward of linear.
func (m *Model) linearGrad(li int, t target, dx, dy, x []float32, n int, la *layerActs, s *scratch, seed uint64, accumulate bool) {
	linearBackward(dx, dy, x, n, m.Layers[li].linear(t), m.lora(li, t), la.u[t], s.du, s.xd, dropoutKey(seed, li, t), true, accumulate)
}

// layerBackward is the backward of a training layerForward of layer li with
// input x. g [n, H] holds the gradient of the loss with respect to the
// layer output and is replaced by the gradient with respect to x.
func (m *Model) layerBackward(li int, la *layerActs, s *scratch, x, g []float32, n int, sq *seqs, seed uint64) {
	d, l := m.d, &m.Layers[li]
	// MLP block: x_out = x2 + down(silu(gate(a))⊙up(a)), a = norm2(x2).
	if m.needsInput(li, downProj) {
		swigluForward(s.h, la.gate, la.up, n*d.I)
	}
	m.linearGrad(li, downProj, s.dh, g, s.h, n, la, s, seed, false)
	swigluBackward(la.gate, la.up, s.dh, la.gate, la.up, n*d.I)
	if m.needsInput(li, gateProj) || m.needsInput(li, upProj) {
		rmsnormNormalize(s.a, la.rstd2, la.x2, l.PostAttentionLayernorm.Weight, n, d.H)
	}
	m.linearGrad(li, gateProj, s.da, la.gate, s.a, n, la, s, seed, false)
	m.linearGrad(li, upProj, s.da, la.up, s.a, n, la, s, seed, true)
	rmsnormBackward(g, l.PostAttentionLayernorm.grad(), s.da, la.x2, l.PostAttentionLayernorm.Weight, la.rstd2, n, d.H)
	// Attention block: x2 = x + o(attn(rope(q(a)), rope(k(a)), v(a))), a = norm1(x);
	// Qwen3 normalises q(a) and k(a) per head before RoPE.
	m.linearGrad(li, oProj, s.datt, g, la.att, n, la, s, seed, false)
	clear(s.dk[:n*d.KV])
	clear(s.dv[:n*d.KV])
	L := sq.L
	for b := 0; b < sq.rows; b++ {
		q, k, v := la.q[b*L*d.Q:(b+1)*L*d.Q], la.k[b*L*d.KV:(b+1)*L*d.KV], la.v[b*L*d.KV:(b+1)*L*d.KV]
		dq, dk, dv := s.dq[b*L*d.Q:(b+1)*L*d.Q], s.dk[b*L*d.KV:(b+1)*L*d.KV], s.dv[b*L*d.KV:(b+1)*L*d.KV]
		attentionBackward(dq, dk, dv, s.datt[b*L*d.Q:], la.probs[b*d.nh*L*L:(b+1)*d.nh*L*L], q, k, v, s.dp, L, L, d)
		ropeBackward(dq, L, d.nh, d.hd, 0, &m.rope)
		ropeBackward(dk, L, d.nkv, d.hd, 0, &m.rope)
	}
	dq, dk := s.dq, s.dk
	if d.qkNorm {
		dq, dk = s.dqpre[:n*d.Q], s.dkpre[:n*d.KV]
		clear(dq)
		clear(dk)
		rmsnormBackward(dq, l.SelfAttn.QNorm.grad(), s.dq, la.qpre, l.SelfAttn.QNorm.Weight, la.rstdq, n*d.nh, d.hd)
		rmsnormBackward(dk, l.SelfAttn.KNorm.grad(), s.dk, la.kpre, l.SelfAttn.KNorm.Weight, la.rstdk, n*d.nkv, d.hd)
	}
	if m.needsInput(li, qProj) || m.needsInput(li, kProj) || m.needsInput(li, vProj) {
		rmsnormNormalize(s.a, la.rstd1, x, l.InputLayernorm.Weight, n, d.H)
	}
	m.linearGrad(li, qProj, s.da, dq, s.a, n, la, s, seed, false)
	m.linearGrad(li, kProj, s.da, dk, s.a, n, la, s, seed, true)
	m.linearGrad(li, vProj, s.da, s.dv, s.a, n, la, s, seed, true)
	rmsnormBackward(g, l.InputLayernorm.grad(), s.da, x, l.InputLayernorm.Weight, la.rstd1, n, d.H)
}

// needsInput reports whether the backward pass of projection t in layer li
// reads the projection's input: for LoRA or weight gradients, not for the
// input gradient alone.
func (m *Model) needsInput(li int, t target) bool {
	return m.lora(li, t) != nil || m.Layers[li].linear(t).wp != nil
}

// grad is the weight gradient of a norm in full-parameter mode, else nil.
func (r *RMSNorm) grad() []float32 {
	if r.p == nil {
		return nil
	}
	return r.p.Grad
}
