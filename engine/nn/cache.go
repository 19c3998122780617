package nn

import "fmt"

// Cache is the key/value cache of one sequence for incremental inference:
// per layer the keys (after RoPE) and values of every position so far, plus
// the scratch buffers of the forward pass, so decoding one token allocates
// nothing.
type Cache struct {
	maxLen, n int
	k, v      [][]float32 // [layers][maxLen, KV]
	cap       int         // tokens the scratch buffers hold
	x, xn     []float32   // [cap, H]
	rstd      []float32   // [cap]
	la        layerActs
	s         scratch
	logits    []float32 // [V]
	batch     []float32 // [cap, V] logits of a batched step
	self      []*Cache  // []*Cache{c}, so Step does not allocate
}

// NewCache allocates a cache for sequences of up to maxLen tokens.
func (m *Model) NewCache(maxLen int) *Cache {
	d := m.d
	c := &Cache{maxLen: maxLen, k: make([][]float32, d.nLayers), v: make([][]float32, d.nLayers), logits: make([]float32, d.V)}
	c.self = []*Cache{c}
	for i := range c.k {
		c.k[i] = make([]float32, maxLen*d.KV)
		c.v[i] = make([]float32, maxLen*d.KV)
	}
	m.rope.ensure(maxLen, d.hd, d.theta)
	return c
}

// Len is the number of positions in the cache.
func (c *Cache) Len() int { return c.n }

// MaxLen is the capacity the cache was created with.
func (c *Cache) MaxLen() int { return c.maxLen }

// Reset empties the cache, keeping its buffers.
func (c *Cache) Reset() { c.n = 0 }

// grow makes the scratch buffers hold n tokens for the active adapter.
func (c *Cache) grow(m *Model, n int) {
	ranks := m.adapterRanks()
	fits := c.cap >= n
	for t, r := range ranks {
		fits = fits && len(c.la.u[t]) >= n*r
	}
	if fits {
		return
	}
	n = max(n, c.cap)
	d, a := m.d, &arena{}
	c.cap = n
	c.x, c.xn, c.rstd = a.f32(n*d.H), a.f32(n*d.H), a.f32(n)
	la := &c.la
	la.rstd1, la.rstd2 = a.f32(n), a.f32(n)
	la.q, la.k, la.v = a.f32(n*d.Q), a.f32(n*d.KV), a.f32(n*d.KV)
	if d.qkNorm {
		la.qpre, la.kpre = a.f32(n*d.Q), a.f32(n*d.KV)
		la.rstdq, la.rstdk = a.f32(n*d.nh), a.f32(n*d.nkv)
	}
	la.probs = a.f32(n * c.maxLen)
	la.att, la.x2 = a.f32(n*d.Q), a.f32(n*d.H)
	la.gate, la.up = a.f32(n*d.I), a.f32(n*d.I)
	for t, r := range ranks {
		la.u[t] = a.f32(n * r)
	}
	c.s.a, c.s.y, c.s.h = a.f32(n*d.H), a.f32(n*d.H), a.f32(n*d.I)
}

// forward appends tokens to caches and leaves the final normalised states
// of the new positions in cs[0].xn: either any number of ids to a single
// cache, or one id to each of several distinct caches (a batched decoding
// step, whose projections run as one matrix product).
func (m *Model) forward(cs []*Cache, ids []int) {
	n := len(ids)
	if n == 0 {
		panic("nn: Step with no tokens")
	}
	if len(cs) > 1 && len(cs) != n {
		panic(fmt.Sprintf("nn: StepBatch with %d caches and %d ids", len(cs), n))
	}
	cnt := n / len(cs)
	for j, c := range cs {
		if c.n+cnt > c.maxLen {
			panic(fmt.Sprintf("nn: cache of %d positions holds %d, cannot add %d", c.maxLen, c.n, cnt))
		}
		for _, o := range cs[:j] {
			if o == c {
				panic("nn: StepBatch with the same cache twice")
			}
		}
		c.grow(m, cnt)
	}
	for _, id := range ids {
		if id < 0 || id >= m.d.V {
			panic(fmt.Sprintf("nn: token id %d outside [0, %d)", id, m.d.V))
		}
	}
	c := cs[0]
	c.grow(m, n)
	d := m.d
	x := c.x[:n*d.H]
	embeddingForward(x, &m.EmbedTokens, ids)
	sq := seqs{caches: cs}
	for li := range d.nLayers {
		m.layerForward(li, &c.la, &c.s, x, x, n, &sq, false, 0)
	}
	rmsnormForward(c.xn, c.rstd, x, m.Norm.Weight, n, d.H, d.eps)
	for _, c := range cs {
		c.n += cnt
	}
}

// Step appends ids to the cache (a prefill when there are several) and
// returns the logits [vocab] of the last position, using the adapter active
// now (the cached keys and values keep the adapter they were computed
// with). The slice belongs to the cache and is overwritten by the next
// Step. It panics when ids is empty, the cache is full or an id is outside
// the vocabulary (callers check all three).
func (m *Model) Step(c *Cache, ids []int) []float32 {
	m.forward(c.self, ids)
	h := m.d.H
	last := c.xn[(len(ids)-1)*h : len(ids)*h]
	m.LMHead.MulTInfer(c.logits, last, 1, false)
	return c.logits
}

// Logits runs one sequence through the model (with the active adapter, no
// dropout) and returns the logits of every position, [len(ids)][vocab].
func (m *Model) Logits(ids []int) [][]float32 {
	if len(ids) == 0 {
		return nil
	}
	c := m.NewCache(len(ids))
	m.forward(c.self, ids)
	d := m.d
	flat := make([]float32, len(ids)*d.V)
	mulT(m.LMHead, m.headBF16, true, flat, c.xn[:len(ids)*d.H], len(ids))
	out := make([][]float32, len(ids))
	for i := range out {
		out[i] = flat[i*d.V : (i+1)*d.V]
	}
	return out
}

// StepBatch appends ids[j] to cs[j] for every j in one batched pass: the
// projections and the LM head multiply all rows at once, so the weights are
// read once per step, while each row attends to its own cache at its own
// position (like left-padded batched generation with positions from the
// attention mask, without the padding). It returns each row's logits,
// owned by its cache as with Step. Rows are usually prefilled one by one
// with Step first. The caches must be distinct.
func (m *Model) StepBatch(cs []*Cache, ids []int) [][]float32 {
	if len(cs) == 1 {
		return [][]float32{m.Step(cs[0], ids)}
	}
	m.forward(cs, ids)
	d, c := m.d, cs[0]
	if len(c.batch) < len(cs)*d.V {
		c.batch = make([]float32, len(cs)*d.V)
	}
	m.LMHead.MulTInfer(c.batch, c.xn[:len(cs)*d.H], len(cs), false)
	out := make([][]float32, len(cs))
	for j, cj := range cs {
		copy(cj.logits, c.batch[j*d.V:(j+1)*d.V])
		out[j] = cj.logits
	}
	return out
}
