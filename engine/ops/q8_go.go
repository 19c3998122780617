//go:build purego || !cgo || !amd64

package ops

// dequantQ8 writes the values of the Q8_0 blocks q into dst (len a
// multiple of Q8Block, q holding as many blocks).
func dequantQ8(dst []float32, q []byte) { dequantQ8Go(dst, q) }

// dequantQ8BF16 is dequantQ8 into bfloat16, q·d rounded to nearest even.
func dequantQ8BF16(dst []uint16, q []byte) {
	for b := 0; b < len(dst)/Q8Block; b++ {
		blk := q[b*Q8BlockBytes : (b+1)*Q8BlockBytes]
		d := q8Scale(blk)
		for j := range Q8Block {
			dst[b*Q8Block+j] = F32ToBF16(float32(int8(blk[2+j])) * d)
		}
	}
}

// gemvQ8 computes y[i*ldy+o] (+)= Σ_c x[i*cols+c]·W[o, c] for rows o in
// [lo, hi) of the Q8_0 weight q (cols values a row) and i < n.
func gemvQ8(q []byte, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	rowBytes := cols / Q8Block * Q8BlockBytes
	for o := lo; o < hi; o++ {
		row := q[o*rowBytes : (o+1)*rowBytes]
		for i := range n {
			xi := x[i*cols : (i+1)*cols]
			var s float32
			for b := 0; b < cols/Q8Block; b++ {
				blk := row[b*Q8BlockBytes : (b+1)*Q8BlockBytes]
				xb := xi[b*Q8Block : (b+1)*Q8Block]
				var t float32
				for j, v := range xb {
					t += float32(int8(blk[2+j])) * v
				}
				s += t * q8Scale(blk)
			}
			store(y, i*ldy+o, s, acc)
		}
	}
}

// Without the C kernels there is no int8 decode kernel (useQ8Int8 is
// false).

func quantizeInputs(x []float32, cols, n int, q *q8Inputs) {
	panic("ops: the int8 decode kernels need cgo on amd64")
}

func gemvQ8Int8(w []byte, cols, lo, hi int, q *q8Inputs, n int, y []float32, ldy int, acc bool) {
	panic("ops: the int8 decode kernels need cgo on amd64")
}

// quantizeQ8Fast has no kernel here: QuantizeQ8_0 quantises in Go.
func quantizeQ8Fast(dst []byte, src []float32) (bad int, ok bool) { return 0, false }

// Without the C kernels nothing is packed (PacksQ8 is false).

const q8PackBuilt = false

func packQ8Group(src []byte, rows, nb int, dst []byte) {
	panic("ops: the packed Q8_0 layout needs cgo on amd64")
}

func unpackQ8(w []byte, nb, r0, r1 int, dst []byte) {
	panic("ops: the packed Q8_0 layout needs cgo on amd64")
}

func dequantQ8Packed(w []byte, nb, r0, r1 int, dst []float32, dst16 []uint16) {
	panic("ops: the packed Q8_0 layout needs cgo on amd64")
}

func gemvQ8Packed(w []byte, cols, lo, hi int, q *q8Inputs, n int, y []float32, ldy int, acc bool) {
	panic("ops: the packed Q8_0 layout needs cgo on amd64")
}
