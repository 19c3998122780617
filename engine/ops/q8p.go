package ops

import (
	"fmt"

	"qwentune/model/safetensors"
)

// The packed Q8_0 layout (Weight.Q8Packed; the kernels are in q8p.c): the
// blocks of GGUF's Q8_0, the same scales and quants, 16 rows interleaved.
// A group of 16 rows is stored block pair by block pair: the 16 float16
// scales of block 2p then those of block 2p+1 (64 bytes), then block 2p's
// quants and block 2p+1's (512 bytes each), where quant j of row n sits at
// 64·(j/4) + 4·n + j%4, stored as q XOR 0x80. An odd last block takes its
// 32 bytes of scales, 32 zero bytes and its 512 bytes. Rows past the last,
// up to a multiple of 16, are zero blocks. For rows a multiple of 16 and an
// even number of blocks a row (every Qwen2 and Qwen3 matrix) it takes
// exactly as many bytes as GGUF's.
//
// Why: decoding reads every weight once a token, so its speed is the rate
// at which the kernel reads memory. With the GGUF layout the VNNI kernel
// (q8.c) loads 32 bytes at a stride of 34, half of them across two cache
// lines, and reduces each row's sum across lanes; with this one every load
// is one whole line, and one VPDPBUSD by an input word broadcast to all
// lanes advances sixteen rows, whose sums land in the sixteen lanes of one
// register and are scaled by the sixteen scales at once. llama.cpp repacks
// its Q8_0 weights the same way on AVX-512 VNNI hosts (its AMX buffer type
// keeps a layout of this shape, with 64 bytes more a tile for a weight-side
// correction that storing q XOR 0x80 makes unnecessary here). In a C
// harness on the same bytes (two threads, huge pages) the packed kernel read
// 10–15% faster than the GGUF kernel, at the rate of the read probe.
//
// Weights are packed when they are made (NewQ8Weight, SetQ8Rows) if
// PacksQ8 holds, that is where the decode kernel that reads them runs. Every
// other use of a packed weight handles the layout, in any kernel family:
// the AMX kernels of bfloat16 compute dequantise it on the way into the
// tiles (amx.c), the other blocked products dequantise whole groups of 16
// rows at a time, Row and At read single values; export reads rows through
// Row, so files keep GGUF's bytes.

// q8PackRows is the number of rows a packed group interleaves.
const q8PackRows = 16

// q8GroupBytes is the size of a packed group of 16 rows of cols values.
func q8GroupBytes(cols int) int {
	nb := cols / Q8Block
	return nb/2*1088 + nb%2*576
}

// Q8PackedSize is the size of a rows×cols Q8_0 weight in the packed layout.
func Q8PackedSize(rows, cols int) int {
	return (rows + q8PackRows - 1) / q8PackRows * q8GroupBytes(cols)
}

// PacksQ8 reports whether Q8_0 weights made now are packed: where the
// packed decode kernel runs (the AVX-512 family with AVX512_VNNI, the int8
// decode kernels not turned off by QWENTUNE_Q8_DECODE=widen).
func PacksQ8() bool { return q8PackBuilt && useQ8Int8() && q8VNNI() }

// Q8Bytes is the size of a rows×cols Q8_0 weight as NewQ8Weight stores it.
func Q8Bytes(rows, cols int) int {
	if PacksQ8() {
		return Q8PackedSize(rows, cols)
	}
	return rows * Q8_0Size(cols)
}

// NewQ8Weight returns an empty rows×cols Q8_0 weight (cols a multiple of
// Q8Block) stored in dst, len Q8Bytes(rows, cols), or in a new slice when
// dst is nil; fill it with SetQ8Rows.
func NewQ8Weight(rows, cols int, dst []byte) Weight {
	if cols%Q8Block != 0 {
		panic(fmt.Sprintf("ops: NewQ8Weight: %d columns are not whole blocks of %d", cols, Q8Block))
	}
	n := Q8Bytes(rows, cols)
	if dst == nil {
		dst = make([]byte, n)
	}
	if len(dst) != n {
		panic(fmt.Sprintf("ops: NewQ8Weight: %d bytes for %dx%d, want %d", len(dst), rows, cols, n))
	}
	return Weight{Rows: rows, Cols: cols, Q8: dst, Q8Packed: PacksQ8()}
}

// Q8Weight returns the rows×cols Q8_0 weight whose GGUF blocks are src:
// src itself where weights are not packed, a packed copy where they are.
func Q8Weight(rows, cols int, src []byte) Weight {
	if !PacksQ8() {
		return Weight{Rows: rows, Cols: cols, Q8: src}
	}
	w := NewQ8Weight(rows, cols, nil)
	w.SetQ8Rows(0, src)
	return w
}

// SetQ8Rows stores the GGUF blocks src of rows [r0, r0+len(src)/rowBytes)
// in w. With a packed weight r0 must be a multiple of 16 and the last row
// one before a multiple of 16 or the weight's last: callers filling a
// weight in parallel split it at multiples of 16 rows.
func (w *Weight) SetQ8Rows(r0 int, src []byte) {
	rowBytes := Q8_0Size(w.Cols)
	if len(src)%rowBytes != 0 || r0 < 0 || r0+len(src)/rowBytes > w.Rows {
		panic(fmt.Sprintf("ops: SetQ8Rows: %d bytes at row %d of a %dx%d weight", len(src), r0, w.Rows, w.Cols))
	}
	r1 := r0 + len(src)/rowBytes
	if !w.Q8Packed {
		copy(w.Q8[r0*rowBytes:], src)
		return
	}
	if r0%q8PackRows != 0 || (r1%q8PackRows != 0 && r1 != w.Rows) {
		panic(fmt.Sprintf("ops: SetQ8Rows: rows [%d, %d) of a packed weight of %d rows are not whole groups of %d", r0, r1, w.Rows, q8PackRows))
	}
	gb := q8GroupBytes(w.Cols)
	for r := r0; r < r1; r += q8PackRows {
		rows := min(q8PackRows, r1-r)
		g := r / q8PackRows
		packQ8Group(src[(r-r0)*rowBytes:(r-r0+rows)*rowBytes], rows, w.Cols/Q8Block, w.Q8[g*gb:(g+1)*gb])
	}
}

// q8Size is the bytes w's Q8_0 storage must have.
func (w *Weight) q8Size() int {
	if w.Q8Packed {
		return Q8PackedSize(w.Rows, w.Cols)
	}
	return Q8_0Size(w.Rows * w.Cols)
}

// packedOffsets are where the scale of block b of row r and the quant j of
// that block are in a packed weight.
func (w *Weight) packedOffsets(r, b int) (scale, quants int) {
	base := r/q8PackRows*q8GroupBytes(w.Cols) + b/2*1088
	n := r % q8PackRows
	return base + b%2*32 + 2*n, base + 64 + b%2*512 + 4*n
}

// packedAt is At for a packed weight.
func (w *Weight) packedAt(r, c int) float32 {
	s, q := w.packedOffsets(r, c/Q8Block)
	j := c % Q8Block
	return float32(int8(w.Q8[q+64*(j/4)+j%4]^0x80)) * q8Scale(w.Q8[s:])
}

// packedRow is Row for a packed weight (an embedding lookup: a row a
// token, no allocation).
func (w *Weight) packedRow(r int, dst []float32) {
	for b := range w.Cols / Q8Block {
		s, q := w.packedOffsets(r, b)
		d := safetensors.F16ToFloat32(uint16(w.Q8[s]) | uint16(w.Q8[s+1])<<8)
		out := dst[b*Q8Block : (b+1)*Q8Block]
		for j := range out {
			out[j] = float32(int8(w.Q8[q+64*(j/4)+j%4]^0x80)) * d
		}
	}
}

// UnpackQ8 returns the GGUF blocks of rows [r0, r1) of the Q8_0 weight w,
// in either layout (a copy).
func (w *Weight) UnpackQ8(r0, r1 int) []byte {
	rowBytes := Q8_0Size(w.Cols)
	out := make([]byte, (r1-r0)*rowBytes)
	if !w.Q8Packed {
		copy(out, w.Q8[r0*rowBytes:r1*rowBytes])
		return out
	}
	unpackQ8(w.Q8, w.Cols/Q8Block, r0, r1, out)
	return out
}

// dequantPacked writes rows [r0, r1) of the packed weight w (r0 a multiple
// of 16, r1 one too or w.Rows) into dst as float32 values, or as bfloat16
// into dst16, split over the pool by groups of 16 rows.
func (w *Weight) dequantPacked(dst []float32, dst16 []uint16, r0, r1 int) {
	groups := (r1 - r0 + q8PackRows - 1) / q8PackRows
	run := func(lo, hi int) {
		a, b := r0+lo*q8PackRows, min(r0+hi*q8PackRows, r1)
		o := (a - r0) * w.Cols
		if dst16 != nil {
			dequantQ8Packed(w.Q8, w.Cols/Q8Block, a, b, nil, dst16[o:(b-r0)*w.Cols])
		} else {
			dequantQ8Packed(w.Q8, w.Cols/Q8Block, a, b, dst[o:(b-r0)*w.Cols], nil)
		}
	}
	if (r1-r0)*w.Cols < 1<<15 {
		run(0, groups)
		return
	}
	Parallel(groups, run)
}
