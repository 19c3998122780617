package nn

import "qwentune/engine/ops"

// embeddingForward gathers x[n,h] = E[ids[i]] from the embedding E[V,h].
func embeddingForward(x []float32, e *ops.Weight, ids []int) {
	if small(len(ids) * e.Cols) {
		embedRows(x, e, ids, 0, len(ids))
		return
	}
	ops.Parallel(len(ids), func(lo, hi int) { embedRows(x, e, ids, lo, hi) })
}

func embedRows(x []float32, e *ops.Weight, ids []int, lo, hi int) {
	h := e.Cols
	for i := lo; i < hi; i++ {
		e.Row(ids[i], x[i*h:(i+1)*h])
	}
}

// embeddingBackward scatters dx[n,h] into dE[V,h]: dE[ids[i]] += dx[i].
// The embedding is a leaf, so it runs only in full-parameter training.
func embeddingBackward(de, dx []float32, ids []int, h int) {
	for i, id := range ids {
		r := de[id*h : (id+1)*h]
		for j, v := range dx[i*h : (i+1)*h] {
			r[j] += v
		}
	}
}
