package ops

import (
	"encoding/binary"
	"fmt"
	"math"

	"qwentune/model/safetensors"
)

// An 8-bit frozen weight (issue 18, SPEC §7): GGUF's Q8_0, blocks of
// Q8Block values along a row, each stored as a float16 scale d (little
// endian) followed by Q8Block int8 quants q, Q8BlockBytes bytes in all; the
// value is q·d. Rows are whole blocks (Cols % Q8Block == 0) and follow each
// other, so a Weight's Q8 holds Rows·Cols/Q8Block blocks, row-major, byte
// for byte what llama.cpp stores for the same matrix; or, with Q8Packed,
// the same blocks with 16 rows interleaved for the VNNI decode kernel
// (q8p.go), as llama.cpp repacks them on such CPUs.

// Q8Block is the number of values in a Q8_0 block, Q8BlockBytes its size.
const (
	Q8Block      = 32
	Q8BlockBytes = 2 + Q8Block
)

// Q8_0Size is the number of bytes of n values stored as Q8_0. It panics
// unless n is a non-negative multiple of Q8Block.
func Q8_0Size(n int) int {
	if n < 0 || n%Q8Block != 0 {
		panic(fmt.Sprintf("ops: Q8_0Size: %d values are not whole blocks of %d", n, Q8Block))
	}
	return n / Q8Block * Q8BlockBytes
}

// QuantizeQ8_0 stores src as Q8_0 blocks in dst (len Q8_0Size(len(src))),
// bit for bit as ggml's quantize_row_q8_0_ref: per block, amax = max|x| and
// d = amax/127 in float32, stored rounded to float16 (nearest even);
// id = 1/d in float32 (0 when d is 0); q = roundf(x·id), the product
// rounded to float32, then to the nearest integer with halves away from
// zero. Where d is so small that 1/d overflows (amax below 127·2^-126),
// x·id is not finite and ggml's float-to-int8 conversion on x86 yields 0:
// so does this. It returns an error, naming the first offending value,
// if src holds NaN or ±Inf (the caller adds the tensor's name); dst is then
// partly written. It panics if the lengths do not match. In the AVX-512
// family it runs a vector kernel (q8.c) that gives the same bytes.
func QuantizeQ8_0(dst []byte, src []float32) error {
	if len(dst) != Q8_0Size(len(src)) {
		panic(fmt.Sprintf("ops: QuantizeQ8_0: %d bytes for %d values, want %d", len(dst), len(src), Q8_0Size(len(src))))
	}
	if bad, ok := quantizeQ8Fast(dst, src); ok {
		if bad >= 0 {
			return fmt.Errorf("element %d is %v: Q8_0 needs finite values", bad, src[bad])
		}
		return nil
	}
	return quantizeQ8Go(dst, src)
}

// quantizeQ8Go is QuantizeQ8_0 in Go, without the length check.
func quantizeQ8Go(dst []byte, src []float32) error {
	for b := 0; b < len(src)/Q8Block; b++ {
		x := src[b*Q8Block : (b+1)*Q8Block]
		o := dst[b*Q8BlockBytes : (b+1)*Q8BlockBytes]
		var amax float32
		for j, v := range x {
			if v-v != 0 {
				return fmt.Errorf("element %d is %v: Q8_0 needs finite values", b*Q8Block+j, v)
			}
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(o, safetensors.Float32ToF16(d))
		for j, v := range x {
			// The conversion rounds the product to float32 before
			// roundQ8 sees it: without it Go may fuse v*id into roundQ8's
			// p-p (arm64 does: FMSUB, the product's rounding error, not
			// 0), and every value of the block became 0 there.
			o[2+j] = byte(roundQ8(float32(v * id)))
		}
	}
	return nil
}

// roundQ8 is roundf followed by C's conversion to int8 as x86 does it:
// |p| ≤ 127.5 always holds for a finite p = x·(1/d), so only a non-finite
// product (1/d overflowed) needs care, and it converts to 0.
func roundQ8(p float32) int8 {
	if p-p != 0 {
		return 0
	}
	return int8(math.Round(float64(p)))
}

// DequantizeQ8_0 decodes the Q8_0 blocks src into dst: dst[k] = q·d, with
// the float16 d widened exactly and the product rounded to float32 (the
// product of an 8-bit and an 11-bit significand is exact). It panics
// unless len(src) == Q8_0Size(len(dst)).
func DequantizeQ8_0(dst []float32, src []byte) {
	if len(src) != Q8_0Size(len(dst)) {
		panic(fmt.Sprintf("ops: DequantizeQ8_0: %d bytes for %d values, want %d", len(src), len(dst), Q8_0Size(len(dst))))
	}
	dequantQ8(dst, src)
}

// q8Scale is the float32 value of a block's float16 scale.
func q8Scale(blk []byte) float32 {
	return safetensors.F16ToFloat32(binary.LittleEndian.Uint16(blk))
}

// dequantQ8Go is DequantizeQ8_0 in Go, without the length check.
func dequantQ8Go(dst []float32, src []byte) {
	for b := 0; b < len(dst)/Q8Block; b++ {
		blk := src[b*Q8BlockBytes : (b+1)*Q8BlockBytes]
		d := q8Scale(blk)
		out := dst[b*Q8Block : (b+1)*Q8Block]
		for j := range out {
			out[j] = float32(int8(blk[2+j])) * d
		}
	}
}

// QuantizeWeightQ8_0 returns a Q8_0 weight of rows×cols from the row-major
// values src; cols must be a multiple of Q8Block (it panics otherwise). It
// returns QuantizeQ8_0's error for a non-finite value.
func QuantizeWeightQ8_0(rows, cols int, src []float32) (Weight, error) {
	if cols%Q8Block != 0 || len(src) != rows*cols {
		panic(fmt.Sprintf("ops: QuantizeWeightQ8_0: %d values for %dx%d (cols must be a multiple of %d)", len(src), rows, cols, Q8Block))
	}
	q := make([]byte, Q8_0Size(rows*cols))
	if err := QuantizeQ8_0(q, src); err != nil {
		return Weight{}, err
	}
	return Weight{Rows: rows, Cols: cols, Q8: q}, nil
}
