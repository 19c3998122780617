//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

import "unsafe"

// Scale multiplies every element of row by k.
func Scale(row []float32, k float32) {
	if len(row) == 0 {
		return
	}
	C.ops_scale(f32p(row), C.long(len(row)), C.float(k))
}

// bf16ToF32 widens src into dst (equal lengths).
func bf16ToF32(dst []float32, src []uint16) {
	C.ops_bf16_to_f32(u16p(src), f32p(dst), C.long(len(dst)))
}

// readWords reads every word of p once and returns their XOR.
func readWords(p []uint32) uint32 {
	return uint32(C.ops_read_words((*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(p))), C.long(len(p))))
}
