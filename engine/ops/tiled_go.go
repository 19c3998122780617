//go:build purego || !cgo || !(amd64 || arm64)

package ops

// The tiled kernels need cgo (tiled.c on amd64, neon.c on arm64); here every product with more than GEMVMaxN
// rows runs on gonum's sgemm (tiledProducts is false).

func (w *Weight) multRows(lo, hi int, xt []float32, np, n int, y []float32, ldy int, acc bool, kc int) {
	panic("ops: tiled kernels need cgo")
}

func (w *Weight) mulCols(lo, hi int, dy []float32, n int, dx []float32, acc bool, oc int) {
	panic("ops: tiled kernels need cgo")
}

func transposeCols(x []float32, n, cols, lo, hi int, xt []float32, np int) {
	panic("ops: tiled kernels need cgo")
}
