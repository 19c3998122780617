package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"qwentune/model/gguf"
	"qwentune/model/safetensors"
)

// block32 is a block of 32 values: vals followed by fill.
func block32(fill float32, vals ...float32) []float32 {
	b := make([]float32, Q8Block)
	for i := range b {
		b[i] = fill
	}
	copy(b, vals)
	return b
}

// TestQuantizeQ8_0Blocks checks QuantizeQ8_0 on adversarial blocks against
// quants and scales worked out by hand from ggml's quantize_row_q8_0_ref
// (d = amax/127 in float32, f16(d) nearest even, q = roundf(x·(1/d))), and
// against the independent Q8_0 encoder of model/gguf.
func TestQuantizeQ8_0Blocks(t *testing.T) {
	eachFamily(t, func(t *testing.T, fam Family) { checkQuantizeQ8_0Blocks(t) })
}

func checkQuantizeQ8_0Blocks(t *testing.T) {
	sub := math.Float32frombits(1) // the smallest subnormal float32
	tests := []struct {
		name  string
		block []float32
		d     uint16 // the float16 bits of the scale
		q     map[int]int8
		fill  int8 // the quant of every value not in q
	}{
		{"all zero", block32(0), 0, nil, 0},
		{"negative zeros", block32(float32(math.Copysign(0, -1))), 0, nil, 0},
		// amax = 127: d = 1, id = 1, so q = roundf(x), halves away from
		// zero (nearest-even would give 2, -2, 0, 4).
		{"half-way points", block32(0, 127, 2.5, -2.5, 0.5, -0.5, 3.5, -126.5, 1.4999999),
			0x3c00, map[int]int8{0: 127, 1: 3, 2: -3, 3: 1, 4: -1, 5: 4, 6: -127, 7: 1}, 0},
		// One huge value: d = 1e30/127 overflows float16 (stored as +Inf),
		// id = 127e-30 is finite: the huge value is 127, the rest 0.
		{"one huge value", block32(1, 1e30), 0x7c00, map[int]int8{0: 127}, 0},
		// amax = 254: d = 2, id = 0.5; 1 → 0.5 → 1 (away from zero).
		{"negative max", block32(1, -254, 3), 0x4000, map[int]int8{0: -127, 1: 2}, 1},
		// Subnormal d whose reciprocal still fits in float32: d =
		// 127·2^-130/127 = 2^-130, id = 2^130 overflows… so take amax with
		// d = 2^-127: id = 2^127, finite; x·id = 127 for the max.
		{"subnormal scale, finite 1/d", block32(0, 127*float32(math.Ldexp(1, -127)), float32(math.Ldexp(1, -127))),
			0, map[int]int8{0: 127, 1: 1}, 0},
		// Subnormal amax: d = amax/127 is a tiny subnormal, 1/d overflows
		// to +Inf, x·id is Inf (or NaN for 0), and x86's conversion of
		// that to int8 gives 0.
		{"subnormal values, 1/d infinite", block32(sub, 100*sub, -sub), 0, nil, 0},
	}
	for _, tt := range tests {
		got := make([]byte, Q8BlockBytes)
		if err := QuantizeQ8_0(got, tt.block); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d := binary.LittleEndian.Uint16(got); d != tt.d {
			t.Errorf("%s: d = %#04x, want %#04x", tt.name, d, tt.d)
		}
		for j := range Q8Block {
			want, ok := tt.q[j]
			if !ok {
				want = tt.fill
			}
			if q := int8(got[2+j]); q != want {
				t.Errorf("%s: q[%d] = %d (x = %g), want %d", tt.name, j, q, tt.block[j], want)
			}
		}
		if ref := gguf.QuantizeQ8_0(tt.block); string(ref) != string(got) && !strings.Contains(tt.name, "infinite") {
			t.Errorf("%s: model/gguf's encoder gives % x, ops % x", tt.name, ref, got)
		}
	}
}

// TestQuantizeQ8_0MatchesReference compares QuantizeQ8_0 with a line-for-
// line transcription of quantize_row_q8_0_ref on random blocks of every
// magnitude, with values placed on exact half-way points.
func TestQuantizeQ8_0MatchesReference(t *testing.T) {
	eachFamily(t, func(t *testing.T, fam Family) { checkQuantizeQ8_0MatchesReference(t) })
}

func checkQuantizeQ8_0MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	const blocks = 4000
	src := make([]float32, blocks*Q8Block)
	for b := range blocks {
		scale := math.Ldexp(1, rng.IntN(240)-150)
		x := src[b*Q8Block : (b+1)*Q8Block]
		for j := range x {
			x[j] = float32(rng.NormFloat64() * scale)
		}
		if b%3 == 0 {
			// amax = 127·2^e, so d = 2^e and x = (k + 1/2)·2^e are ties.
			e := rng.IntN(40) - 20
			x[0] = float32(math.Ldexp(127, e))
			for j := 1; j < Q8Block; j++ {
				x[j] = float32(math.Ldexp(float64(rng.IntN(254)-127)+0.5, e))
			}
		}
	}
	got := make([]byte, Q8_0Size(len(src)))
	if err := QuantizeQ8_0(got, src); err != nil {
		t.Fatal(err)
	}
	for b := range blocks {
		x := src[b*Q8Block : (b+1)*Q8Block]
		// quantize_row_q8_0_ref, in float32 throughout.
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		blk := got[b*Q8BlockBytes:]
		if h := binary.LittleEndian.Uint16(blk); h != safetensors.Float32ToF16(d) {
			t.Fatalf("block %d: d bits %#04x, want %#04x", b, h, safetensors.Float32ToF16(d))
		}
		for j, v := range x {
			p := v * id
			want := int8(0)
			if !math.IsInf(float64(p), 0) && !math.IsNaN(float64(p)) {
				want = int8(math.Round(float64(p))) // roundf: halves away from zero
			}
			if int8(blk[2+j]) != want {
				t.Fatalf("block %d: q[%d] = %d for x = %g (x·id = %g), want %d", b, j, int8(blk[2+j]), v, p, want)
			}
		}
	}
}

// TestQuantizeQ8_0Refuses checks that NaN and ±Inf are refused with the
// offending element's index, and that lengths that are not whole blocks
// panic.
func TestQuantizeQ8_0Refuses(t *testing.T) {
	eachFamily(t, func(t *testing.T, fam Family) { checkQuantizeQ8_0Refuses(t) })
}

func checkQuantizeQ8_0Refuses(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		src := make([]float32, 3*Q8Block)
		src[40] = bad
		err := QuantizeQ8_0(make([]byte, Q8_0Size(len(src))), src)
		if err == nil || !strings.Contains(err.Error(), "element 40") {
			t.Errorf("%v: error %v, want one naming element 40", bad, err)
		}
	}
	for _, call := range []func(){
		func() { Q8_0Size(33) },
		func() { QuantizeQ8_0(make([]byte, 34), make([]float32, 31)) },
		func() { QuantizeQ8_0(make([]byte, 33), make([]float32, 32)) },
		func() { DequantizeQ8_0(make([]float32, 32), make([]byte, 35)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a bad length")
				}
			}()
			call()
		}()
	}
}

// TestDequantizeQ8_0 checks every family's dequantisation (float32 and
// bfloat16) against q·d in float64, and the round trip error bound
// |x − q·d| ≤ d/2 plus the rounding of d to float16.
func TestDequantizeQ8_0(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	src := make([]float32, 97*Q8Block)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(20)-10))
	}
	q := make([]byte, Q8_0Size(len(src)))
	if err := QuantizeQ8_0(q, src); err != nil {
		t.Fatal(err)
	}
	eachFamily(t, func(t *testing.T, fam Family) {
		got := make([]float32, len(src))
		DequantizeQ8_0(got, q)
		gotB := make([]uint16, len(src))
		dequantQ8BF16(gotB, q)
		for k := range src {
			blk := q[k/Q8Block*Q8BlockBytes:]
			d := float64(safetensors.F16ToFloat32(binary.LittleEndian.Uint16(blk)))
			want := float64(int8(blk[2+k%Q8Block])) * d
			if float64(got[k]) != want {
				t.Fatalf("value %d = %g, want q·d = %g", k, got[k], want)
			}
			if b := gotB[k]; b != F32ToBF16(float32(want)) {
				t.Fatalf("bfloat16 value %d = %#04x, want %#04x", k, b, F32ToBF16(float32(want)))
			}
			var amax float64
			for _, v := range src[k/Q8Block*Q8Block : (k/Q8Block+1)*Q8Block] {
				amax = max(amax, math.Abs(float64(v)))
			}
			if e := math.Abs(float64(src[k]) - want); e > amax/127*(0.5+1e-3)+amax*1e-3 {
				t.Fatalf("value %d: %g quantised to %g, further than half a step %g", k, src[k], want, amax/127)
			}
		}
	})
}

// randQ8 returns a rows×cols Q8_0 weight quantised from values in [-1, 1).
func randQ8(t *testing.T, rng *rand.Rand, rows, cols int) *Weight {
	t.Helper()
	w, err := QuantizeWeightQ8_0(rows, cols, randSlice(rng, rows*cols))
	if err != nil {
		t.Fatal(err)
	}
	return &w
}

// q8Layouts is w (GGUF's layout) and, where the packed layout's kernels are
// built, a packed copy of it: the same blocks, so every product must agree.
func q8Layouts(w *Weight) []*Weight {
	ws := []*Weight{w}
	if q8PackBuilt {
		ws = append(ws, packedCopy(w))
	}
	return ws
}

// packedCopy is w, a GGUF-layout Q8_0 weight, in the packed layout.
func packedCopy(w *Weight) *Weight {
	p := &Weight{Rows: w.Rows, Cols: w.Cols, Q8: make([]byte, Q8PackedSize(w.Rows, w.Cols)), Q8Packed: true}
	p.SetQ8Rows(0, w.Q8)
	return p
}

// layoutName names a Q8_0 weight's layout in test messages.
func layoutName(w *Weight) string {
	if w.Q8Packed {
		return "packed"
	}
	return "gguf"
}

// bf16View is w's values rounded to bfloat16: the weight operand of the
// bfloat16-compute products of a Q8_0 weight.
func bf16View(w *Weight) *Weight {
	f := make([]float32, w.Rows*w.Cols)
	DequantizeQ8_0(f, w.Q8)
	v := &Weight{Rows: w.Rows, Cols: w.Cols, BF16: make([]uint16, len(f))}
	RoundBF16(v.BF16, f)
	return v
}

// TestQ8Products checks MulT and Mul with a Q8_0 weight, in GGUF's layout
// and packed, in every family, through the float32 decode kernel (n ≤
// GEMVMaxN), the blocked products (several blocks of rows: the scratch is
// shrunk), the AMX kernels reading a packed weight (in chunks of rows: they
// are shrunk too) and both compute dtypes, against
// float64 references computed from the dequantised weight (bfloat16
// compute: the weight and the activations rounded to bfloat16).
func TestQ8Products(t *testing.T) {
	defer func(old, rows int) { q8ScratchBytes, dpMulRows = old, rows }(q8ScratchBytes, dpMulRows)
	shapes := []struct{ rows, cols int }{{1, 32}, {3, 64}, {17, 96}, {40, 160}, {301, 64}, {9, 2048}}
	ns := []int{1, 2, 3, 4, 5, 7, 8, 9, 17, 65}
	eachBF16Path(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(85, 86))
		for _, scratch := range []int{4 << 20, 6000} {
			// The small pass also takes MulBF16's tall-weight chunks (a
			// packed weight rounds 40 rows up to whole groups of 16).
			q8ScratchBytes, dpMulRows = scratch, 2048
			if scratch < 1<<20 {
				dpMulRows = 40
			}
			for _, sh := range shapes {
				w := randQ8(t, rng, sh.rows, sh.cols)
				wb := bf16View(w)
				for _, wl := range q8Layouts(w) {
					for _, n := range ns {
						for _, acc := range []bool{false, true} {
							for _, trans := range []bool{true, false} {
								name := fmt.Sprintf("scratch=%d/%dx%d/%s/n=%d/acc=%v/mulT=%v", scratch, sh.rows, sh.cols, layoutName(wl), n, acc, trans)
								checkMul(t, name, rng, wl, n, acc, trans)
								checkQ8BF16(t, name+"/bf16", rng, wl, wb, n, acc, trans)
							}
						}
					}
				}
			}
		}
	})
}

func checkQ8BF16(t *testing.T, name string, rng *rand.Rand, w, wb *Weight, n int, acc, trans bool) {
	t.Helper()
	out, in := w.Rows, w.Cols
	if !trans {
		out, in = in, out
	}
	x := randSlice(rng, n*in)
	y := randSlice(rng, n*out+3)
	y0 := append([]float32(nil), y...)
	want, scale := refMul(wb, y0, roundedF32(x), n, acc, trans)
	if trans {
		w.MulTBF16(y, x, n, acc)
	} else {
		w.MulBF16(y, x, n, acc)
	}
	for k := range want {
		if d := math.Abs(float64(y[k]) - want[k]); d > 1e-5*scale[k]+1e-6 || math.IsNaN(float64(y[k])) {
			t.Fatalf("%s: out[%d] = %g, want %g (scale %g)", name, k, y[k], want[k], scale[k])
		}
	}
	for k := n * out; k < len(y); k++ {
		if y[k] != y0[k] {
			t.Fatalf("%s: wrote past the output at %d", name, k)
		}
	}
}

// TestQ8Accessors checks Row (the embedding lookup), At and Bytes of a
// Q8_0 weight, and that check refuses a Q8_0 weight with a bad size.
func TestQ8Accessors(t *testing.T) {
	rng := rand.New(rand.NewPCG(87, 88))
	w := randQ8(t, rng, 5, 96)
	all := make([]float32, 5*96)
	DequantizeQ8_0(all, w.Q8)
	eachFamily(t, func(t *testing.T, fam Family) {
		for _, wl := range q8Layouts(w) {
			row := make([]float32, 96)
			for r := range 5 {
				wl.Row(r, row)
				for c, v := range row {
					if v != all[r*96+c] || v != wl.At(r, c) {
						t.Fatalf("%s: Row(%d)[%d] = %g, At = %g, want %g", layoutName(wl), r, c, v, wl.At(r, c), all[r*96+c])
					}
				}
			}
		}
	})
	if got, want := w.Bytes(), int64(5*3*Q8BlockBytes); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
	if q8PackBuilt {
		// 5 rows of 3 blocks: one group, a pair and an odd block.
		if got, want := packedCopy(w).Bytes(), int64(1088+576); got != want {
			t.Errorf("packed Bytes = %d, want %d", got, want)
		}
	}
	for _, bad := range []*Weight{
		{Rows: 2, Cols: 33, Q8: make([]byte, 2*34)},
		{Rows: 2, Cols: 32, Q8: make([]byte, 34)},
		{Rows: 2, Cols: 32, Q8: make([]byte, 68), F32: make([]float32, 64)},
		{Rows: 2, Cols: 32, Q8: make([]byte, 68), Q8Packed: true}, // a packed group is 576 bytes
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%dx%d with %d Q8 bytes: no panic", bad.Rows, bad.Cols, len(bad.Q8))
				}
			}()
			bad.MulT(make([]float32, 2), make([]float32, bad.Cols), 1, false)
		}()
	}
}

// refQuantizeInputs is the VNNI kernel's quantisation of one block of an
// input: dx = max|x|/127 and xq = x·(1/dx) rounded to nearest even, in
// float32 as the kernel computes them.
func refQuantizeInputs(x []float32) (xq []int8, dx float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	dx = amax / 127
	var id float32
	if dx != 0 {
		id = 1 / dx
	}
	xq = make([]int8, len(x))
	for j, v := range x {
		xq[j] = int8(math.RoundToEven(float64(v * id)))
	}
	return xq, dx
}

// TestQ8Int8 checks MulTInfer's int8 decode kernels (VPDPBUSD with
// AVX512_VNNI, VPMADDUBSW in AVX2): their quantisation of the inputs
// exactly against refQuantizeInputs (quants, scales and the −128·Σ lane
// corrections), their products against a float64 reference computed from
// those quantised inputs (only the float32 sums of the per-block results
// separate them), and the whole against the exact product within the
// error the 8-bit inputs allow (half a step dx of each block times Σ|w|).
// Weights hold −128 too (a loaded file may), which the AVX2 kernel's
// sign trick must take.
func TestQ8Int8(t *testing.T) {
	defer q8vnniOff.Store(q8vnniOff.Load())
	q8vnniOff.Store(false)
	eachFamily(t, func(t *testing.T, fam Family) {
		if fam == Scalar {
			if useQ8Int8() {
				t.Fatal("an int8 kernel in force in the scalar family")
			}
			return
		}
		if !useQ8Int8() {
			t.Fatalf("no int8 kernel in force in the %s family", fam)
		}
		checkQ8Int8(t)
	})
}

func checkQ8Int8(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	for _, sh := range []struct{ rows, cols int }{{1, 32}, {3, 64}, {17, 96}, {301, 64}, {9, 2048}} {
		w := randQ8(t, rng, sh.rows, sh.cols)
		w.Q8[2+rng.IntN(Q8Block)] = 0x80 // −128
		for _, n := range []int{1, 2, 3, 4, 5, 8} {
			for _, acc := range []bool{false, true} {
				x := randSlice(rng, n*sh.cols)
				for i := range x {
					x[i] *= float32(math.Ldexp(1, rng.IntN(6)-3))
				}
				if n > 1 {
					clear(x[sh.cols : sh.cols+Q8Block]) // an all-zero block: dx = 0
				}
				var q q8Inputs
				q.quantize(x, n, sh.cols)
				nb := sh.cols / Q8Block
				for k := 0; k < n*nb; k++ {
					xq, dx := refQuantizeInputs(x[k*Q8Block : (k+1)*Q8Block])
					if q.dx[k] != dx {
						t.Fatalf("block %d: dx = %g, want %g", k, q.dx[k], dx)
					}
					for j, v := range xq {
						if q.xq[k*Q8Block+j] != v {
							t.Fatalf("block %d: xq[%d] = %d, want %d (x = %g)", k, j, q.xq[k*Q8Block+j], v, x[k*Q8Block+j])
						}
					}
					var all int32
					for l := range 8 {
						want := -128 * (int32(xq[4*l]) + int32(xq[4*l+1]) + int32(xq[4*l+2]) + int32(xq[4*l+3]))
						if q.corr[k*8+l] != want {
							t.Fatalf("block %d: corr[%d] = %d, want %d", k, l, q.corr[k*8+l], want)
						}
						all += want
					}
					if q.xs[k] != all {
						t.Fatalf("block %d: xs = %d, want %d", k, q.xs[k], all)
					}
				}
				for _, wl := range q8Layouts(w) {
					checkQ8Int8Product(t, w, wl, &q, x, n, acc, rng)
				}
			}
		}
	}
}

// checkQ8Int8Product checks MulTInfer of wl (w, GGUF's layout, or its
// packed copy) on the inputs x, quantised in q, as checkQ8Int8 describes.
func checkQ8Int8Product(t *testing.T, w, wl *Weight, q *q8Inputs, x []float32, n int, acc bool, rng *rand.Rand) {
	t.Helper()
	sh := struct{ rows, cols int }{w.Rows, w.Cols}
	nb := sh.cols / Q8Block
	y := randSlice(rng, n*sh.rows+3)
	y0 := append([]float32(nil), y...)
	wl.MulTInfer(y, x, n, acc)
	for i := range n {
		for o := range sh.rows {
			var want, scale, exact, bound float64
			if acc {
				want, exact = float64(y0[i*sh.rows+o]), float64(y0[i*sh.rows+o])
			}
			for b := range nb {
				k := i*nb + b
				var s int64
				for j := range Q8Block {
					c := b*Q8Block + j
					wq := int64(int8(w.Q8[(o*nb+b)*Q8BlockBytes+2+j]))
					s += wq * int64(q.xq[k*Q8Block+j])
					wv := float64(w.At(o, c))
					exact += wv * float64(x[i*sh.cols+c])
					bound += math.Abs(wv) * float64(q.dx[k]) * 0.501
				}
				term := float64(s) * float64(q8Scale(w.Q8[(o*nb+b)*Q8BlockBytes:])) * float64(q.dx[k])
				want += term
				scale += math.Abs(term)
			}
			got := float64(y[i*sh.rows+o])
			if d := math.Abs(got - want); d > 1e-5*(scale+math.Abs(want))+1e-6 {
				t.Fatalf("%dx%d %s n=%d acc=%v: y[%d,%d] = %g, want %g from the quantised inputs", sh.rows, sh.cols, layoutName(wl), n, acc, i, o, got, want)
			}
			if d := math.Abs(got - exact); d > bound+1e-5*scale+1e-6 {
				t.Fatalf("%dx%d %s n=%d: y[%d,%d] = %g, exact %g: off by %g, more than the inputs' quantisation allows (%g)", sh.rows, sh.cols, layoutName(wl), n, i, o, got, exact, d, bound)
			}
		}
	}
	for k := n * sh.rows; k < len(y); k++ {
		if y[k] != y0[k] {
			t.Fatalf("wrote past the output at %d", k)
		}
	}
}
