package nn

import (
	"fmt"

	"qwentune/engine/ops"
	"qwentune/model"
)

// TrainOptions controls how ForwardBackward trades memory for time.
type TrainOptions struct {
	// Recompute keeps only each layer's input during the forward pass and
	// recomputes the layer's activations just before its backward pass:
	// activation memory becomes one layer's worth plus the layer inputs, at
	// the cost of a second forward pass through the layers.
	Recompute bool
}

// headChunkBytes bounds the logits buffer of the loss: the LM head and the
// cross-entropy run on this many bytes of [positions, vocab] at a time.
const headChunkBytes = 64 << 20

// arena hands out buffers and counts their bytes; a dry arena only counts.
type arena struct {
	dry   bool
	bytes int64
}

func (a *arena) f32(n int) []float32 {
	a.bytes += int64(n) * 4
	if a.dry {
		return nil
	}
	return make([]float32, n)
}

func (a *arena) f64(n int) []float64 {
	a.bytes += int64(n) * 8
	if a.dry {
		return nil
	}
	return make([]float64, n)
}

// workspace holds every buffer of a batched forward (and backward) pass for
// up to rows sequences of L tokens, allocated once and reused.
type workspace struct {
	rows, L         int
	grad, recompute bool
	ranks           [numTargets]int
	bytes           int64
	xs              [][]float32 // layer inputs, [nLayers+1][n, H]
	acts            []layerActs // one per layer, or one shared
	s               scratch
	xn, rstdF, dxn  []float32 // final norm output, its rstd, its gradient
	g               []float32 // [n, H] gradient of the residual stream
	chunk           int       // head rows per chunk
	xc, logits, dxc []float32 // [chunk, H], [chunk, V], [chunk, H]
	loss, sum       []float64 // [chunk]
	ids, pos, tgt   []int
	// keyOK[i] says which positions of row i are attention keys: views of
	// ok laid out by the current batch's shape, like every other buffer
	// (a reused workspace may get more rows than it was made for).
	keyOK [][]bool
	ok    []bool // [n]
}

// newWorkspace sizes (or, with a dry arena, only measures) a workspace.
func newWorkspace(d dims, rows, L int, grad, recompute bool, ranks [numTargets]int, a *arena) *workspace {
	n := rows * L
	w := &workspace{rows: rows, L: L, grad: grad, recompute: recompute, ranks: ranks}
	w.xs = make([][]float32, d.nLayers+1)
	for i := range w.xs {
		w.xs[i] = a.f32(n * d.H)
	}
	nActs := d.nLayers
	if !grad || recompute {
		nActs = 1
	}
	maxR := 0
	for _, r := range ranks {
		maxR = max(maxR, r)
	}
	w.acts = make([]layerActs, nActs)
	for i := range w.acts {
		la := &w.acts[i]
		la.rstd1, la.rstd2 = a.f32(n), a.f32(n)
		la.q, la.k, la.v = a.f32(n*d.Q), a.f32(n*d.KV), a.f32(n*d.KV)
		if d.qkNorm {
			la.qpre, la.kpre = a.f32(n*d.Q), a.f32(n*d.KV)
			la.rstdq, la.rstdk = a.f32(n*d.nh), a.f32(n*d.nkv)
		}
		la.probs = a.f32(rows * d.nh * L * L)
		la.att, la.x2 = a.f32(n*d.Q), a.f32(n*d.H)
		la.gate, la.up = a.f32(n*d.I), a.f32(n*d.I)
		for t, r := range ranks {
			if r > 0 {
				la.u[t] = a.f32(n * r)
			}
		}
	}
	s := &w.s
	s.a, s.y, s.h = a.f32(n*d.H), a.f32(n*d.H), a.f32(n*d.I)
	if maxR > 0 {
		s.xd = a.f32(n * max(d.H, d.I, d.Q))
	}
	w.xn, w.rstdF = a.f32(n*d.H), a.f32(n)
	if grad {
		s.da, s.datt, s.dq = a.f32(n*d.H), a.f32(n*d.Q), a.f32(n*d.Q)
		s.dk, s.dv, s.dh = a.f32(n*d.KV), a.f32(n*d.KV), a.f32(n*d.I)
		s.du, s.dp = a.f32(n*maxR), a.f32(attentionScratches(d)*L*L)
		if d.qkNorm {
			s.dqpre, s.dkpre = a.f32(n*d.Q), a.f32(n*d.KV)
		}
		w.dxn, w.g = a.f32(n*d.H), a.f32(n*d.H)
	}
	w.chunk = max(1, min(n, headChunkBytes/(4*d.V)))
	w.xc, w.logits = a.f32(w.chunk*d.H), a.f32(w.chunk*d.V)
	w.loss, w.sum = a.f64(w.chunk), a.f64(w.chunk)
	if grad {
		w.dxc = a.f32(w.chunk * d.H)
	}
	w.bytes = a.bytes
	if !a.dry {
		w.ids, w.pos, w.tgt = make([]int, n), make([]int, 0, n), make([]int, 0, n)
		w.ok, w.keyOK = make([]bool, n), make([][]bool, 0, n)
	}
	return w
}

// adapterRanks is the largest LoRA rank per projection of the active adapter.
func (m *Model) adapterRanks() [numTargets]int {
	var r [numTargets]int
	if m.adapter == nil {
		return r
	}
	for i := range m.adapter.mods {
		for t, lo := range m.adapter.mods[i] {
			if lo != nil {
				r[t] = max(r[t], lo.R)
			}
		}
	}
	return r
}

// workspace returns a workspace that fits rows sequences of L tokens. The
// last one is reused when it is large enough (buffers are laid out by the
// current shape, so only sizes matter; a training workspace also serves
// evaluation); otherwise it grows to cover both
// shapes, so alternating batch shapes settle on one allocation.
func (m *Model) workspace(rows, L int, grad bool) *workspace {
	ranks := m.adapterRanks()
	recompute := m.TrainOptions.Recompute
	if w := m.ws; w != nil {
		fits := rows*L <= w.rows*w.L && L <= w.L && (w.grad || !grad) && (!grad || w.recompute == recompute)
		for t, r := range ranks {
			fits = fits && w.ranks[t] >= r
		}
		if fits {
			return w
		}
		rows, L = max(rows, w.rows), max(L, w.L)
		grad = grad || w.grad
		for t := range ranks {
			ranks[t] = max(ranks[t], w.ranks[t])
		}
	}
	m.ws = nil // let the old buffers go before allocating the new ones
	m.ws = newWorkspace(m.d, rows, L, grad, recompute, ranks, &arena{})
	return m.ws
}

// ActivationBytes is the memory held by the training/evaluation workspace
// of the last ForwardBackward or Loss call (0 before the first).
func (m *Model) ActivationBytes() int64 {
	if m.ws == nil {
		return 0
	}
	return m.ws.bytes
}

// ReleaseWorkspace frees the buffers kept between ForwardBackward calls.
func (m *Model) ReleaseWorkspace() { m.ws = nil }

// Estimate predicts the bytes of the weights (the model's plus, when lora
// has targets, the adapter's values, gradients and two AdamW moments) and of
// the training activations for one sequence of seqLen tokens under the
// current TrainOptions: what ForwardBackward will allocate.
func (m *Model) Estimate(seqLen int, lora LoRAConfig) (weightsBytes, activationBytes int64) {
	return estimate(m, 1, seqLen, lora, m.TrainOptions)
}

// EstimateConfig is Model.Estimate before loading: for a model with config
// cfg stored as dtype, trained on batches of rows sequences of seqLen
// tokens.
func EstimateConfig(cfg model.Config, dtype string, rows, seqLen int, lora LoRAConfig, opts TrainOptions) (weightsBytes, activationBytes int64, err error) {
	m, err := newEmpty(cfg, dtype)
	if err != nil {
		return 0, 0, err
	}
	if rows <= 0 || seqLen <= 0 {
		return 0, 0, fmt.Errorf("estimate: %d rows of %d tokens", rows, seqLen)
	}
	w, a := estimate(m, rows, seqLen, lora, opts)
	return w, a, nil
}

func estimate(m *Model, rows, seqLen int, lora LoRAConfig, opts TrainOptions) (weightsBytes, activationBytes int64) {
	maxCols := 0
	for _, t := range m.tensors() {
		if t.w != nil {
			weightsBytes += storedBytes(t.Shape[0], t.Shape[1], m.dtype)
			maxCols = max(maxCols, t.Shape[1])
		} else {
			weightsBytes += 4 * int64(t.Numel())
		}
	}
	var ranks [numTargets]int
	if spec, err := specFor(lora.PEFT(), m.Config, m.d); err == nil {
		for i := range spec.r {
			for t, r := range spec.r[i] {
				ranks[t] = max(ranks[t], r)
				out, in := m.d.shape(target(t))
				weightsBytes += 4 * 4 * int64(r) * int64(in+out)
			}
		}
	}
	a := &arena{dry: true}
	newWorkspace(m.d, rows, seqLen, true, opts.Recompute, ranks, a)
	return weightsBytes, a.bytes + q8Scratch(m.dtype, rows*seqLen, maxCols)
}

// storedBytes is the memory of a rows×cols weight stored as dtype: 4 or 2
// bytes a value, or Q8_0's 34 bytes per 32 values (rows that are not
// whole blocks stay bfloat16, as the loader keeps them).
func storedBytes(rows, cols int, dtype string) int64 {
	n := int64(rows) * int64(cols)
	switch {
	case dtype == "float32":
		return 4 * n
	case dtype == "q8_0" && cols%ops.Q8Block == 0:
		return int64(ops.Q8Bytes(rows, cols))
	default:
		return 2 * n
	}
}

// q8Scratch bounds the scratch a product of n inputs with a Q8_0 weight
// of at most maxCols columns keeps (ops/q8mul.go): a 4 MiB block of
// dequantised rows and at most one float32 copy of the input; 0 for the
// other dtypes, whose products need none.
func q8Scratch(dtype string, n, maxCols int) int64 {
	if dtype != "q8_0" {
		return 0
	}
	return 4<<20 + 4*int64(n)*int64(maxCols)
}

// TrainAll switches to full-parameter training: every weight becomes a
// trainable Param sharing its storage with the model (embeddings, norms,
// projections, biases, an untied lm_head), with gradients for all. Biases
// and norm weights have Decay false. The model must be float32. Calling it
// again returns the same Params.
func (m *Model) TrainAll() ([]*Param, error) {
	if m.full {
		return m.params, nil
	}
	if m.dtype != "float32" {
		return nil, fmt.Errorf("full-parameter training needs float32 weights, the model is %s", m.dtype)
	}
	for _, t := range m.tensors() {
		data, decay := []float32(nil), t.w != nil // matrices decay; biases and norms do not
		if t.w != nil {
			data = t.w.F32
		} else {
			data = *t.vec
		}
		p := &Param{Name: t.Name, Shape: t.Shape, Data: data, Grad: make([]float32, len(data)), Decay: decay}
		m.params = append(m.params, p)
		*t.p = p
	}
	if m.LMHead == &m.EmbedTokens {
		m.headP = m.embedP
	}
	m.full = true
	return m.params, nil
}

// ForwardBackward runs the batch forward in training mode (LoRA dropout on,
// masks drawn from a counter-based generator keyed by seed) and returns the
// summed cross-entropy over the labels ≠ IgnoreIndex after the causal shift
// and how many there were. The backward pass adds lossScale·∂lossSum/∂p to
// the Grad of every trainable Param: the active adapter's A and B, or every
// weight after TrainAll. Rows shorter than the longest are padded on the
// right; padding positions are masked as attention keys.
func (m *Model) ForwardBackward(b Batch, lossScale float32, seed uint64) (lossSum float64, tokens int, err error) {
	return m.run(b, true, lossScale, seed)
}

// Loss is the forward half of ForwardBackward in evaluation mode (no
// dropout, no gradients): the summed token loss and the token count.
func (m *Model) Loss(b Batch) (lossSum float64, tokens int, err error) {
	return m.run(b, false, 0, 0)
}

// checkBatch validates a batch and returns its row count and padded length.
func (m *Model) checkBatch(b Batch) (rows, L int, err error) {
	rows = len(b.IDs)
	if rows == 0 {
		return 0, 0, fmt.Errorf("batch: no rows")
	}
	if len(b.Labels) != rows || (b.Mask != nil && len(b.Mask) != rows) {
		return 0, 0, fmt.Errorf("batch: %d id rows, %d label rows, %d mask rows", rows, len(b.Labels), len(b.Mask))
	}
	for i, ids := range b.IDs {
		if len(b.Labels[i]) != len(ids) {
			return 0, 0, fmt.Errorf("batch row %d: %d ids, %d labels", i, len(ids), len(b.Labels[i]))
		}
		if b.Mask != nil && len(b.Mask[i]) != len(ids) {
			return 0, 0, fmt.Errorf("batch row %d: %d ids, %d mask entries", i, len(ids), len(b.Mask[i]))
		}
		for t, id := range ids {
			if id < 0 || id >= m.d.V {
				return 0, 0, fmt.Errorf("batch row %d position %d: token id %d outside [0, %d)", i, t, id, m.d.V)
			}
			if l := b.Labels[i][t]; l != IgnoreIndex && (l < 0 || l >= m.d.V) {
				return 0, 0, fmt.Errorf("batch row %d position %d: label %d outside [0, %d)", i, t, l, m.d.V)
			}
		}
		L = max(L, len(ids))
	}
	if L == 0 {
		return 0, 0, fmt.Errorf("batch: all rows are empty")
	}
	return rows, L, nil
}

// BatchLogits runs the batch through the forward pass Loss uses (rows
// padded on the right to the longest, padding masked as attention keys, no
// dropout) and returns the logits of every position of every row,
// [rows][len(b.IDs[i])][vocab]. Labels may be nil. It is how that batched
// pass is compared with a reference implementation's logits.
func (m *Model) BatchLogits(b Batch) ([][][]float32, error) {
	if b.Labels == nil {
		b.Labels = make([][]int, len(b.IDs))
		for i, ids := range b.IDs {
			b.Labels[i] = make([]int, len(ids))
			for t := range ids {
				b.Labels[i][t] = IgnoreIndex
			}
		}
	}
	w, _, L, err := m.forwardBatch(b, false, 0)
	if err != nil {
		return nil, err
	}
	d := m.d
	out := make([][][]float32, len(b.IDs))
	for i, ids := range b.IDs {
		n := len(ids)
		flat := make([]float32, n*d.V)
		if n > 0 {
			m.LMHead.MulT(flat, w.xn[i*L*d.H:(i*L+n)*d.H], n, false)
		}
		out[i] = make([][]float32, n)
		for t := range out[i] {
			out[i][t] = flat[t*d.V : (t+1)*d.V]
		}
	}
	return out, nil
}

// run is the batched forward pass, with the backward pass when grad is set.
func (m *Model) run(b Batch, grad bool, lossScale float32, seed uint64) (float64, int, error) {
	w, sq, L, err := m.forwardBatch(b, grad, seed)
	if err != nil {
		return 0, 0, err
	}
	d, n := m.d, len(b.IDs)*L
	xf := w.xs[d.nLayers]
	var dxn []float32
	if grad {
		dxn = w.dxn[:n*d.H]
		clear(dxn)
	}
	loss := m.headLoss(w, dxn, lossScale)
	if !grad || len(w.pos) == 0 {
		return loss, len(w.pos), nil
	}
	g := w.g[:n*d.H]
	clear(g)
	rmsnormBackward(g, m.Norm.grad(), dxn, xf, m.Norm.Weight, w.rstdF, n, d.H)
	for li := d.nLayers - 1; li >= 0; li-- {
		la := &w.acts[0]
		if w.recompute {
			m.layerForward(li, la, &w.s, w.xs[li], w.s.y, n, sq, true, seed)
		} else {
			la = &w.acts[li]
		}
		m.layerBackward(li, la, &w.s, w.xs[li], g, n, sq, seed)
	}
	if m.embedP != nil {
		embeddingBackward(m.embedP.Grad, g, w.ids[:n], d.H)
	}
	return loss, len(w.pos), nil
}

// forwardBatch runs the batch's rows, padded on the right to the longest,
// through the layers and the final norm: it leaves the normalised states in
// w.xn (row i at positions i·L … i·L+L−1 of a [rows·L, H] matrix, L the
// batch's padded length, which it returns) and the positions and targets of the loss in w.pos
// and w.tgt.
func (m *Model) forwardBatch(b Batch, grad bool, seed uint64) (w *workspace, sq *seqs, L int, err error) {
	rows, L, err := m.checkBatch(b)
	if err != nil {
		return nil, nil, 0, err
	}
	d := m.d
	w = m.workspace(rows, L, grad)
	n := rows * L
	w.pos, w.tgt, w.keyOK = w.pos[:0], w.tgt[:0], w.keyOK[:0]
	for i := range rows {
		w.keyOK = append(w.keyOK, w.ok[i*L:(i+1)*L])
		ids := b.IDs[i]
		for t := range L {
			w.ids[i*L+t] = 0
			w.keyOK[i][t] = t < len(ids) && (b.Mask == nil || b.Mask[i][t])
			if t < len(ids) {
				w.ids[i*L+t] = ids[t]
			}
			if t+1 < len(ids) && b.Labels[i][t+1] != IgnoreIndex {
				w.pos = append(w.pos, i*L+t)
				w.tgt = append(w.tgt, b.Labels[i][t+1])
			}
		}
	}
	sq = &seqs{rows: rows, L: L, keyOK: w.keyOK}
	embeddingForward(w.xs[0][:n*d.H], &m.EmbedTokens, w.ids[:n])
	for li := range d.nLayers {
		la := &w.acts[0]
		if len(w.acts) > 1 {
			la = &w.acts[li]
		}
		m.layerForward(li, la, &w.s, w.xs[li], w.xs[li+1], n, sq, grad, seed)
	}
	rmsnormForward(w.xn, w.rstdF, w.xs[d.nLayers], m.Norm.Weight, n, d.H, d.eps)
	return w, sq, L, nil
}

// headLoss runs the LM head and the cross-entropy on the positions w.pos
// (targets w.tgt) of the final normalised states w.xn, a chunk of rows at a
// time, and returns the summed loss. When dxn is not nil it receives
// lossScale·∂loss/∂xn in those rows (and the head's gradient is added in
// full-parameter mode).
func (m *Model) headLoss(w *workspace, dxn []float32, lossScale float32) float64 {
	d := m.d
	var total float64
	for c0 := 0; c0 < len(w.pos); c0 += w.chunk {
		c := min(w.chunk, len(w.pos)-c0)
		pos, tgt := w.pos[c0:c0+c], w.tgt[c0:c0+c]
		for i, p := range pos {
			copy(w.xc[i*d.H:(i+1)*d.H], w.xn[p*d.H:(p+1)*d.H])
		}
		z := w.logits[:c*d.V]
		mulT(m.LMHead, m.headBF16, false, z, w.xc[:c*d.H], c)
		crossEntropyForward(w.loss, w.sum, z, c, d.V, tgt)
		for _, l := range w.loss[:c] {
			total += l
		}
		if dxn == nil {
			continue
		}
		crossEntropyBackward(z, w.sum, c, d.V, tgt, lossScale)
		if m.headBF16 {
			m.LMHead.MulBF16(w.dxc[:c*d.H], z, c, false)
		} else {
			m.LMHead.Mul(w.dxc[:c*d.H], z, c, false)
		}
		for i, p := range pos {
			copy(dxn[p*d.H:(p+1)*d.H], w.dxc[i*d.H:(i+1)*d.H])
		}
		if m.headP != nil {
			ops.Gemm(true, false, d.V, d.H, c, 1, z, d.V, w.xc, d.H, 1, m.headP.Grad, d.H)
		}
	}
	return total
}

// EstimateEval predicts the bytes evaluation's batched decoding holds on
// top of the weights: rows sequences of promptLen prompt tokens and up to
// newTokens generated ones, each with its own Cache (keys and values of
// every layer, logits, and the scratch of its prefill or of a batched step
// it leads, with that step's logits), for a model with cfg and LoRA lora:
// an upper bound of Cache's allocations, computed without a model.
func EstimateEval(cfg model.Config, rows, promptLen, newTokens int, lora LoRAConfig) (int64, error) {
	d, err := checkConfig(cfg)
	if err != nil {
		return 0, err
	}
	if rows <= 0 || promptLen <= 0 || newTokens < 0 {
		return 0, fmt.Errorf("estimate: %d rows of %d+%d tokens", rows, promptLen, newTokens)
	}
	var ranks [numTargets]int
	if spec, err := specFor(lora.PEFT(), cfg, d); err == nil {
		for i := range spec.r {
			for t, r := range spec.r[i] {
				ranks[t] = max(ranks[t], r)
			}
		}
	}
	maxLen := promptLen + newTokens
	scratch := func(n int) int64 {
		per := 2*d.H + 1 + 2 + d.Q + 2*d.KV + maxLen + d.Q + d.H + 2*d.I + 2*d.H + d.I
		if d.qkNorm {
			per += d.Q + d.KV + d.nh + d.nkv
		}
		for _, r := range ranks {
			per += r
		}
		return 4 * int64(n) * int64(per)
	}
	kv := 4 * int64(2*d.nLayers*maxLen*d.KV+d.V)
	batch := min(rows, ops.GEMVMaxN) // generate.MaxBatch
	// Whichever cache leads a batched step grows to the batch and holds
	// its logits; as rows finish, other caches lead, so each is counted
	// at its largest.
	per := kv + scratch(max(promptLen, batch)) + 4*int64(batch)*int64(d.V)
	return int64(rows) * per, nil
}
