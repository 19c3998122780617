package nn

import (
	"math"

	"qwentune/engine/ops"
)

// crossEntropyForward computes, for logits z [c, V] and targets tgt[c],
// loss[i] = logsumexp(z_i) − z_i[tgt_i] in float64 (the exps are float32,
// their sum float64). It consumes the logits: row i is overwritten with
// exp(z_i − max z_i), and sum[i] receives the row's total, which is what
// crossEntropyBackward needs.
func crossEntropyForward(loss, sum []float64, z []float32, c, v int, tgt []int) {
	ops.Parallel(c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := z[i*v : (i+1)*v]
			mx := ops.MaxF32(row)
			target := float64(row[tgt[i]] - mx)
			s := ops.ExpShiftSum(row, mx)
			sum[i] = s
			loss[i] = math.Log(s) - target
		}
	})
}

// crossEntropyBackward turns the rows left by crossEntropyForward into the
// gradient of scale·Σ loss: dz = scale·(softmax(z) − onehot(tgt)).
func crossEntropyBackward(z []float32, sum []float64, c, v int, tgt []int, scale float32) {
	ops.Parallel(c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := z[i*v : (i+1)*v]
			k := float32(float64(scale) / sum[i])
			ops.Scale(row, k)
			row[tgt[i]] -= scale
		}
	})
}
