//go:build purego || !cgo || !amd64

package ops

// Scale multiplies every element of row by k.
func Scale(row []float32, k float32) {
	for j := range row {
		row[j] *= k
	}
}

// bf16ToF32 widens src into dst (equal lengths).
func bf16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = BF16ToF32(b)
	}
}

// readWords reads every word of p once and returns their XOR.
func readWords(p []uint32) uint32 {
	var r0, r1, r2, r3 uint32
	k := 0
	for ; k+4 <= len(p); k += 4 {
		r0 ^= p[k]
		r1 ^= p[k+1]
		r2 ^= p[k+2]
		r3 ^= p[k+3]
	}
	for ; k < len(p); k++ {
		r0 ^= p[k]
	}
	return r0 ^ r1 ^ r2 ^ r3
}
