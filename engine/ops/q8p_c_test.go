//go:build cgo && !purego && amd64

package ops

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randBlocks returns rows×cols of arbitrary GGUF Q8_0 bytes: any quants,
// −128 included, and scales with any bits but NaN and Inf (finite ones, so
// that the values can be compared).
func randBlocks(rng *rand.Rand, rows, cols int) []byte {
	q := make([]byte, rows*Q8_0Size(cols))
	for i := range q {
		q[i] = byte(rng.Uint32())
	}
	for b := 0; b < len(q); b += Q8BlockBytes {
		q[b+1] &= 0x7b // exponent below 0x1f: finite, subnormals and zero included
	}
	return q
}

var packShapes = []struct{ rows, cols int }{{1, 32}, {15, 64}, {16, 64}, {17, 96}, {33, 160}, {48, 1536}, {5, 8960}}

// TestQ8PackLayout checks the packed layout byte by byte against its
// definition (q8p.go): each scale and each quant (XOR 0x80) where the
// layout puts it, the rows past the last zero blocks, the size (GGUF's
// exactly for whole groups and pairs), and that unpacking gives back the
// GGUF bytes of any run of rows.
func TestQ8PackLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(95, 96))
	for _, sh := range packShapes {
		src := randBlocks(rng, sh.rows, sh.cols)
		w := packedCopy(&Weight{Rows: sh.rows, Cols: sh.cols, Q8: src})
		nb := sh.cols / Q8Block
		groups := (sh.rows + 15) / 16
		if want := groups * (nb/2*1088 + nb%2*576); len(w.Q8) != want {
			t.Fatalf("%dx%d: %d packed bytes, want %d", sh.rows, sh.cols, len(w.Q8), want)
		}
		if sh.rows%16 == 0 && nb%2 == 0 && len(w.Q8) != len(src) {
			t.Errorf("%dx%d: %d packed bytes, GGUF's %d", sh.rows, sh.cols, len(w.Q8), len(src))
		}
		for r := range groups * 16 {
			for b := range nb {
				group := r / 16 * (nb/2*1088 + nb%2*576)
				pair := group + b/2*1088
				scale := pair + b%2*32 + 2*(r%16)
				quants := pair + 64 + b%2*512
				if r >= sh.rows {
					if w.Q8[scale] != 0 || w.Q8[scale+1] != 0 {
						t.Fatalf("%dx%d: padding row %d block %d has scale bytes %#x %#x", sh.rows, sh.cols, r, b, w.Q8[scale], w.Q8[scale+1])
					}
				}
				blk := src[min(r, sh.rows-1)*nb*Q8BlockBytes+b*Q8BlockBytes:]
				if r < sh.rows && (w.Q8[scale] != blk[0] || w.Q8[scale+1] != blk[1]) {
					t.Fatalf("%dx%d: row %d block %d: scale bytes %#x %#x, want %#x %#x", sh.rows, sh.cols, r, b, w.Q8[scale], w.Q8[scale+1], blk[0], blk[1])
				}
				for j := range Q8Block {
					got := w.Q8[quants+64*(j/4)+4*(r%16)+j%4]
					want := byte(0x80)
					if r < sh.rows {
						want = blk[2+j] ^ 0x80
					}
					if got != want {
						t.Fatalf("%dx%d: row %d block %d quant %d: byte %#x, want %#x", sh.rows, sh.cols, r, b, j, got, want)
					}
				}
			}
			if nb%2 == 1 {
				pad := r/16*(nb/2*1088+576) + nb/2*1088 + 32
				if !bytes.Equal(w.Q8[pad:pad+32], make([]byte, 32)) {
					t.Fatalf("%dx%d: the odd block's 32 bytes after its scales are not zero", sh.rows, sh.cols)
				}
			}
		}
		rowBytes := Q8_0Size(sh.cols)
		for _, rr := range [][2]int{{0, sh.rows}, {sh.rows / 2, sh.rows}, {0, (sh.rows + 1) / 2}, {sh.rows - 1, sh.rows}} {
			if got := w.UnpackQ8(rr[0], rr[1]); !bytes.Equal(got, src[rr[0]*rowBytes:rr[1]*rowBytes]) {
				t.Fatalf("%dx%d: unpacking rows [%d, %d) does not give the GGUF bytes back", sh.rows, sh.cols, rr[0], rr[1])
			}
		}
	}
}

// TestQ8PackSetRows checks that a packed weight filled a whole number of
// groups at a time (as the loader does, in parallel) is the one packed at
// once, and that a run of rows not on group boundaries is refused.
func TestQ8PackSetRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(97, 98))
	src := randBlocks(rng, 40, 96)
	whole := packedCopy(&Weight{Rows: 40, Cols: 96, Q8: src})
	parts := &Weight{Rows: 40, Cols: 96, Q8: make([]byte, Q8PackedSize(40, 96)), Q8Packed: true}
	rowBytes := Q8_0Size(96)
	for _, r := range [][2]int{{32, 40}, {0, 16}, {16, 32}} {
		parts.SetQ8Rows(r[0], src[r[0]*rowBytes:r[1]*rowBytes])
	}
	if !bytes.Equal(parts.Q8, whole.Q8) {
		t.Fatal("packing by groups differs from packing at once")
	}
	for _, r := range [][2]int{{3, 16}, {0, 20}, {16, 41}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetQ8Rows of rows [%d, %d): no panic", r[0], r[1])
				}
			}()
			parts.SetQ8Rows(r[0], make([]byte, (r[1]-r[0])*rowBytes))
		}()
	}
}

// TestQ8PackDequant checks the dequantisation of packed rows (the blocked
// products' operand in prefill and training), float32 and bfloat16 (both
// roundings of the AVX-512 kernel), in every family, bit for bit against
// the GGUF blocks' dequantisation, for whole weights and runs of groups
// ending at a partial group. The scales cover float16's range, subnormals
// and zero included.
func TestQ8PackDequant(t *testing.T) {
	rng := rand.New(rand.NewPCG(99, 100))
	defer func() { q8pRNE = false }()
	eachFamily(t, func(t *testing.T, fam Family) {
		for _, sh := range packShapes {
			src := randBlocks(rng, sh.rows, sh.cols)
			w := packedCopy(&Weight{Rows: sh.rows, Cols: sh.cols, Q8: src})
			rowBytes := Q8_0Size(sh.cols)
			for _, r0 := range []int{0, 16} {
				if r0 >= sh.rows {
					continue
				}
				r1 := sh.rows
				n := (r1 - r0) * sh.cols
				want, want16 := make([]float32, n), make([]uint16, n)
				dequantQ8(want, src[r0*rowBytes:r1*rowBytes])
				dequantQ8BF16(want16, src[r0*rowBytes:r1*rowBytes])
				for _, rne := range []bool{false, true} {
					q8pRNE = rne
					got, got16 := make([]float32, n+1), make([]uint16, n+1)
					got[n], got16[n] = 12345, 12345
					w.dequantPacked(got, nil, r0, r1)
					w.dequantPacked(nil, got16, r0, r1)
					for k := range n {
						if !sameF32(got[k], want[k]) || got16[k] != want16[k] {
							t.Fatalf("%dx%d rows [%d, %d) rne=%v: value %d = %g / bf16 %#x, want %g / %#x", sh.rows, sh.cols, r0, r1, rne, k, got[k], got16[k], want[k], want16[k])
						}
					}
					if got[n] != 12345 || got16[n] != 12345 {
						t.Fatalf("%dx%d: wrote past the rows", sh.rows, sh.cols)
					}
				}
			}
		}
	})
}

// TestQ8PackGroup checks MulTInferGroup on packed weights (q, k and v of a
// decode step) against MulTInfer of each: the same kernel on the same
// chunks, so the same bits.
func TestQ8PackGroup(t *testing.T) {
	if !PacksQ8() {
		t.Logf("this CPU has no AVX512_VNNI: the packed weights run the fallback kernels")
	}
	rng := rand.New(rand.NewPCG(101, 102))
	cols := 512
	var ws []*Weight
	var ys, singles [][]float32
	for _, rows := range []int{512, 64, 40} {
		ws = append(ws, packedCopy(randQ8(t, rng, rows, cols)))
	}
	for _, n := range []int{1, 3, 8} {
		x := randSlice(rng, n*cols)
		ys, singles = ys[:0], singles[:0]
		for _, w := range ws {
			ys = append(ys, make([]float32, n*w.Rows))
			s := make([]float32, n*w.Rows)
			w.MulTInfer(s, x, n, false)
			singles = append(singles, s)
		}
		MulTInferGroup(ws, ys, x, n)
		for i := range ws {
			nonzero := false
			for k := range ys[i] {
				if ys[i][k] != singles[i][k] {
					t.Fatalf("n=%d weight %d: grouped y[%d] = %g, alone %g", n, i, k, ys[i][k], singles[i][k])
				}
				nonzero = nonzero || ys[i][k] != 0
			}
			if !nonzero {
				t.Fatalf("n=%d weight %d: all outputs zero", n, i)
			}
		}
	}
}

// TestQ8PacksWhereVNNI checks when new Q8_0 weights are packed (where the
// packed decode kernel runs) and that Q8Weight keeps the GGUF blocks
// either way.
func TestQ8PacksWhereVNNI(t *testing.T) {
	defer q8vnniOff.Store(q8vnniOff.Load())
	rng := rand.New(rand.NewPCG(103, 104))
	src := randQ8(t, rng, 20, 64).Q8
	eachFamily(t, func(t *testing.T, fam Family) {
		for _, widen := range []bool{false, true} {
			q8vnniOff.Store(widen)
			want := fam == AVX512 && Features().AVX512VNNI && !widen
			w := Q8Weight(20, 64, src)
			if w.Q8Packed != want || PacksQ8() != want {
				t.Errorf("widen=%v: packed %v (PacksQ8 %v), want %v", widen, w.Q8Packed, PacksQ8(), want)
			}
			if len(w.Q8) != Q8Bytes(20, 64) || !bytes.Equal(w.UnpackQ8(0, 20), src) {
				t.Errorf("widen=%v: %d bytes (Q8Bytes %d), or not the GGUF blocks given", widen, len(w.Q8), Q8Bytes(20, 64))
			}
			if c := w.q8Chunk(); w.Q8Packed && c%16 != 0 {
				t.Errorf("a packed weight's decode chunk is %d rows, not whole groups of 16", c)
			}
			name := fmt.Sprintf("%s widen=%v", fam, widen)
			x := randSlice(rng, 2*64)
			got, ref := make([]float32, 2*20), make([]float32, 2*20)
			w.MulTInfer(got, x, 2, false)
			(&Weight{Rows: 20, Cols: 64, Q8: src}).MulTInfer(ref, x, 2, false)
			for k := range got {
				if d := math.Abs(float64(got[k] - ref[k])); d > 1e-5*(1+math.Abs(float64(ref[k]))) {
					t.Fatalf("%s: MulTInfer y[%d] = %g, GGUF layout %g", name, k, got[k], ref[k])
				}
			}
		}
	})
}
