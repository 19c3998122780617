package ops

// MulTInferGroup is MulTInfer for several weights that multiply the same
// input: ys[i] = x·ws[i]ᵀ for each i, as one hand-out of work over the pool
// instead of one per weight. A decode step multiplies one token's hidden
// state by q_proj, k_proj and v_proj, then by gate_proj and up_proj; done
// one by one, each product wakes the pool's threads, waits for the
// slowest, and (for Q8_0) quantises the input again. Grouped, the threads
// take chunks of rows from all the weights in turn, and the input is
// prepared once. Each output row is computed by the same kernel on the
// same chunk of rows as MulTInfer would, so the results are identical.
//
// The weights must share Cols and storage (all float32, all bfloat16 or
// all Q8_0) and n must be at most GEMVMaxN; otherwise, or with more than
// maxGroup weights, they are multiplied one at a time.
func MulTInferGroup(ws []*Weight, ys [][]float32, x []float32, n int) {
	if len(ws) != len(ys) {
		panic("ops: MulTInferGroup: weights and outputs differ in number")
	}
	for i, w := range ws {
		w.check("MulTInferGroup", ys[i], w.Rows, x, w.Cols, n)
	}
	if !groupable(ws, n) || !acquirePool() {
		for i, w := range ws {
			w.MulTInfer(ys[i], x, n, false)
		}
		return
	}
	g := &tasks.group
	g.chunks = g.chunks[:0]
	w0 := ws[0]
	vnni := w0.Q8 != nil && useQ8Int8()
	var eo []float32
	if w0.Q8 == nil && w0.BF16 != nil && avx512Products() {
		e := eoLen(w0.Cols)
		if cap(eoBuf) < n*e {
			eoBuf = make([]float32, n*e)
		}
		eo = eoBuf[:n*e]
		for i := range n {
			splitEO(x[i*w0.Cols:], w0.Cols, eo[i*e:])
		}
	}
	if vnni {
		q8xq.quantize(x, n, w0.Cols)
	}
	for i, w := range ws {
		// The chunk sizes of gemv and q8gemv.
		var chunk int
		if w.Q8 != nil {
			g.q8[i] = q8gemvTask{w: w, y: ys[i], x: x, n: n}
			if vnni {
				g.q8[i].xq = q8xq
			}
			g.t[i] = &g.q8[i]
			chunk = w.q8Chunk()
		} else {
			g.gemv[i] = gemvTask{w: w, y: ys[i], x: x, eo: eo, n: n}
			g.t[i] = &g.gemv[i]
			chunk = max(gemvChunkBytes/max(int(w.Bytes())/w.Rows, 1)/8*8, 8)
		}
		for lo := 0; lo < w.Rows; lo += chunk {
			g.chunks = append(g.chunks, groupChunk{int32(i), int32(lo), int32(min(lo+chunk, w.Rows))})
		}
	}
	runDynamic(g, len(g.chunks), 1)
	for i := range ws {
		g.gemv[i], g.q8[i], g.t[i] = gemvTask{}, q8gemvTask{}, nil
	}
	pool.mu.Unlock()
}

// maxGroup is the most weights MulTInferGroup takes at once (q, k and v).
const maxGroup = 4

// groupable reports whether MulTInferGroup can multiply ws in one go.
func groupable(ws []*Weight, n int) bool {
	if len(ws) == 0 || len(ws) > maxGroup || n <= 0 || n > GEMVMaxN {
		return false
	}
	w0 := ws[0]
	for _, w := range ws {
		switch {
		case w.Rows == 0 || w.Cols == 0 || w.Cols != w0.Cols:
			return false
		case (w.Q8 != nil) != (w0.Q8 != nil) || (w.BF16 != nil) != (w0.BF16 != nil) || (w.F32 != nil) != (w0.F32 != nil):
			return false
		}
	}
	return true
}

// groupChunk is rows [lo, hi) of weight w of a group.
type groupChunk struct{ w, lo, hi int32 }

// groupTask runs a group's chunks; runDynamic hands out chunk indices.
type groupTask struct {
	chunks []groupChunk
	t      [maxGroup]task
	gemv   [maxGroup]gemvTask
	q8     [maxGroup]q8gemvTask
}

func (g *groupTask) run(part, lo, hi int) {
	for _, c := range g.chunks[lo:hi] {
		g.t[c.w].run(part, int(c.lo), int(c.hi))
	}
}
