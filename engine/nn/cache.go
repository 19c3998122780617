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
}

// NewCache allocates a cache for sequences of up to maxLen tokens.
func (m *Model) NewCache(maxLen int) *Cache {
	d := m.d
	c := &Cache{maxLen: maxLen, k: make([][]float32, d.nLayers), v: make([][]float32, d.nLayers), logits: make([]float32, d.V)}
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
	la.probs = a.f32(n * c.maxLen)
	la.att, la.x2 = a.f32(n*d.Q), a.f32(n*d.H)
	la.gate, la.up = a.f32(n*d.I), a.f32(n*d.I)
	for t, r := range ranks {
		la.u[t] = a.f32(n * r)
	}
	c.s.a, c.s.y, c.s.h = a.f32(n*d.H), a.f32(n*max(d.H, d.I)), a.f32(n*d.I)
}

// forward appends ids to the cache and leaves the final normalised states
// of the new positions in c.xn.
func (m *Model) forward(c *Cache, ids []int) {
	n := len(ids)
	if n == 0 {
		panic("nn: Step with no tokens")
	}
	if c.n+n > c.maxLen {
		panic(fmt.Sprintf("nn: cache of %d positions holds %d, cannot add %d", c.maxLen, c.n, n))
	}
	for _, id := range ids {
		if id < 0 || id >= m.d.V {
			panic(fmt.Sprintf("nn: token id %d outside [0, %d)", id, m.d.V))
		}
	}
	c.grow(m, n)
	d := m.d
	x := c.x[:n*d.H]
	embeddingForward(x, &m.EmbedTokens, ids)
	sq := seqs{cache: c}
	for li := range d.nLayers {
		m.layerForward(li, &c.la, &c.s, x, x, n, &sq, false, 0)
	}
	rmsnormForward(c.xn, c.rstd, x, m.Norm.Weight, n, d.H, d.eps)
	c.n += n
}

// Step appends ids to the cache (a prefill when there are several) and
// returns the logits [vocab] of the last position. The slice belongs to the
// cache and is overwritten by the next Step. It panics when the cache is
// full or an id is outside the vocabulary (callers check both).
func (m *Model) Step(c *Cache, ids []int) []float32 {
	m.forward(c, ids)
	h := m.d.H
	last := c.xn[(len(ids)-1)*h : len(ids)*h]
	m.LMHead.MulT(c.logits, last, 1, false)
	return c.logits
}

// Logits runs one sequence through the model (with the active adapter, no
// dropout) and returns the logits of every position, [len(ids)][vocab].
func (m *Model) Logits(ids []int) [][]float32 {
	c := m.NewCache(len(ids))
	m.forward(c, ids)
	d := m.d
	flat := make([]float32, len(ids)*d.V)
	m.LMHead.MulT(flat, c.xn[:len(ids)*d.H], len(ids), false)
	out := make([][]float32, len(ids))
	for i := range out {
		out[i] = flat[i*d.V : (i+1)*d.V]
	}
	return out
}
