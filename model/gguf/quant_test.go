package gguf

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"qwentune/model/safetensors"
)

// nearestRef rounds |x| to the nearest value of table (ascending values of the
// non-negative codes 0..len-1, the last one standing for +Inf as the next step
// up), ties to the even code, and returns the code.
func nearestRef(table []float64, x float64) uint16 {
	if x >= table[len(table)-1] {
		return uint16(len(table) - 1)
	}
	i := sort.SearchFloat64s(table, x) // first value >= x
	if table[i] == x {
		return uint16(i)
	}
	lo, hi := i-1, i
	dl, dh := x-table[lo], table[hi]-x
	switch {
	case dl < dh:
		return uint16(lo)
	case dh < dl:
		return uint16(hi)
	case lo%2 == 0:
		return uint16(lo)
	}
	return uint16(hi)
}

// halfTable lists the values of the half codes 0..0x7c00, 0x7c00 (Inf) as
// 2^16, the value one step above the largest finite half.
func halfTable() []float64 {
	t := make([]float64, 0x7c01)
	for h := range t {
		e, m := h>>10, float64(h&0x3ff)
		if e == 0 {
			t[h] = m * math.Pow(2, -24)
		} else {
			t[h] = (1 + m/1024) * math.Pow(2, float64(e-15))
		}
	}
	return t
}

// bf16Table does the same for bfloat16 codes 0..0x7f80.
func bf16Table() []float64 {
	t := make([]float64, 0x7f81)
	for h := range t {
		e, m := h>>7, float64(h&0x7f)
		if e == 0 {
			t[h] = m * math.Pow(2, -133)
		} else {
			t[h] = (1 + m/128) * math.Pow(2, float64(e-127))
		}
	}
	return t
}

// edgeFloats returns values at and around the rounding boundaries of half and
// bfloat16, plus random values over many magnitudes.
func edgeFloats(table []float64) []float32 {
	var xs []float32
	for _, v := range []float32{0, 1, 1.5, 65504, 65519.99, 65520, 65536, 1e10, 1e-8, 5.960464477539063e-08, 2.9802322387695312e-08, 2.98023259e-08, 6.1035156e-05, 6.097555e-05, float32(math.Inf(1)), math.MaxFloat32, math.SmallestNonzeroFloat32, 1.17549435e-38} {
		xs = append(xs, v, -v)
	}
	// Midpoints between consecutive codes (exact ties) and their neighbours.
	for i := 0; i+1 < len(table); i += 97 {
		mid := float32((table[i] + table[i+1]) / 2)
		xs = append(xs, mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1))), -mid)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		xs = append(xs, math.Float32frombits(r.Uint32()))
		xs = append(xs, float32(r.NormFloat64()*math.Ldexp(1, r.IntN(44)-26)))
	}
	return xs
}

func TestFloat16RoundTripAllCodes(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := safetensors.F16ToFloat32(uint16(h))
		back := safetensors.Float32ToF16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x → %g → %#04x", h, f, back)
		}
	}
}

func TestFloat32ToFloat16MatchesReference(t *testing.T) {
	table := halfTable()
	for _, x := range edgeFloats(table) {
		if math.IsNaN(float64(x)) {
			continue
		}
		want := nearestRef(table, math.Abs(float64(x)))
		if math.Signbit(float64(x)) {
			want |= 0x8000
		}
		if got := safetensors.Float32ToF16(x); got != want {
			t.Fatalf("safetensors.Float32ToF16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
	if h := safetensors.Float32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN → %#04x", h)
	}
}

func TestBFloat16MatchesReference(t *testing.T) {
	table := bf16Table()
	for _, x := range edgeFloats(table) {
		if math.IsNaN(float64(x)) {
			continue
		}
		want := nearestRef(table, math.Abs(float64(x)))
		if math.Signbit(float64(x)) {
			want |= 0x8000
		}
		if got := safetensors.Float32ToBF16(x); got != want {
			t.Fatalf("safetensors.Float32ToBF16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
		if got := safetensors.BF16ToFloat32(want); float64(got) != math.Copysign(table[want&0x7fff], float64(x)) && want&0x7fff != 0x7f80 {
			t.Fatalf("safetensors.BF16ToFloat32(%#04x) = %g", want, got)
		}
	}
	if b := safetensors.Float32ToBF16(math.Float32frombits(0x7f800001)); b != 0x7fc0 {
		t.Errorf("signalling NaN → %#04x, want quiet 0x7fc0", b)
	}
}

// q8Ref quantises one block following the SPEC in float64 arithmetic, each
// float32 operation rounded once (exact for one division or product).
func q8Ref(x []float32) (uint16, []int8) {
	var amax float64
	for _, v := range x {
		amax = math.Max(amax, math.Abs(float64(v)))
	}
	d := float32(amax / 127)
	q := make([]int8, len(x))
	if d == 0 {
		return halfRefCode(d), q
	}
	id := float32(1 / float64(d))
	for i, v := range x {
		p := float64(float32(float64(v) * float64(id)))
		r := math.Floor(math.Abs(p) + 0.5) // half away from zero
		q[i] = int8(math.Copysign(r, p))
	}
	return halfRefCode(d), q
}

var refHalf = halfTable()

func halfRefCode(d float32) uint16 { return nearestRef(refHalf, float64(d)) }

func TestQuantizeQ8_0MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	block := func(f func(i int) float32) []float32 {
		b := make([]float32, 32)
		for i := range b {
			b[i] = f(i)
		}
		return b
	}
	cases := []struct {
		name string
		x    []float32
	}{
		{"zeros", block(func(int) float32 { return 0 })},
		{"negative zeros", block(func(int) float32 { return float32(math.Copysign(0, -1)) })},
		{"ties", block(func(i int) float32 { return []float32{127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5}[i%8] })},
		{"one big", block(func(i int) float32 {
			if i == 7 {
				return -1e4
			}
			return 1e-3
		})},
		{"tiny", block(func(i int) float32 { return float32(i-16) * 1e-30 })},
		{"large", block(func(i int) float32 { return float32(i-16) * 5e5 })},
	}
	for i := range 200 {
		scale := float32(math.Pow(10, float64(r.IntN(12)-6)))
		cases = append(cases, struct {
			name string
			x    []float32
		}{"random" + string(rune('a'+i%26)), block(func(int) float32 { return float32(r.NormFloat64()) * scale })})
	}
	for _, c := range cases {
		got := QuantizeQ8_0(c.x)
		if len(got) != 34 {
			t.Fatalf("%s: %d bytes", c.name, len(got))
		}
		d, q := q8Ref(c.x)
		if gd := binary.LittleEndian.Uint16(got); gd != d {
			t.Fatalf("%s: d = %#04x, want %#04x", c.name, gd, d)
		}
		for i := range q {
			if int8(got[2+i]) != q[i] {
				t.Fatalf("%s: q[%d] = %d, want %d (x = %g)", c.name, i, int8(got[2+i]), q[i], c.x[i])
			}
		}
		back := DequantizeQ8_0(got)
		dd := float64(safetensors.F16ToFloat32(d))
		var amax float64
		for _, v := range c.x {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d32 := float64(float32(amax / 127))
		for i := range back {
			if float64(back[i]) != float64(q[i])*dd {
				t.Fatalf("%s: dequantised[%d] = %g, want %g", c.name, i, back[i], float64(q[i])*dd)
			}
			// Rounding costs half a step; storing d as f16 costs up to
			// 127 times its own rounding error.
			tol := 0.5*d32*(1+1e-6) + 127*math.Abs(dd-d32)
			if err := math.Abs(float64(back[i]) - float64(c.x[i])); err > tol {
				t.Fatalf("%s: |x - dequant(x)| = %g > %g", c.name, err, tol)
			}
		}
	}
	// Ties round away from zero: d = 1 exactly, so x·(1/d) = x.
	got := QuantizeQ8_0(cases[2].x)
	want := []int8{127, 3, -3, 1, -1, 2, -2, 127}
	for i, w := range want {
		if int8(got[2+i]) != w {
			t.Errorf("tie case q[%d] = %d, want %d", i, int8(got[2+i]), w)
		}
	}
	if binary.LittleEndian.Uint16(got) != 0x3c00 {
		t.Errorf("tie case d = %#04x, want 0x3c00 (1.0)", binary.LittleEndian.Uint16(got))
	}
	for i, b := range QuantizeQ8_0(cases[0].x) {
		if b != 0 {
			t.Fatalf("all-zero block: byte %d = %d", i, b)
		}
	}
}

func TestQuantizeQ8_0PanicsOnPartialBlock(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for 31 values")
		}
	}()
	QuantizeQ8_0(make([]float32, 31))
}

func TestEncodeDecode(t *testing.T) {
	src := make([]float32, 64)
	for i := range src {
		src[i] = float32(i-32) / 8
	}
	for _, typ := range []GGMLType{F32, F16, BF16, Q8_0} {
		b, err := Encode(src, typ)
		if err != nil {
			t.Fatal(err)
		}
		if _, size, _ := tensorShape([]uint64{64}, typ); int64(len(b)) != size {
			t.Errorf("%s: %d bytes, want %d", typ, len(b), size)
		}
		back, err := Decode(b, typ)
		if err != nil {
			t.Fatal(err)
		}
		for i := range src {
			// These values are exact in every format (Q8_0: d = 4/127 ≈ f16).
			if math.Abs(float64(back[i]-src[i])) > 0.02 {
				t.Errorf("%s: [%d] = %g, want %g", typ, i, back[i], src[i])
			}
		}
	}
	if _, err := Encode(src[:31], Q8_0); err == nil {
		t.Error("Encode Q8_0 of 31 values succeeded")
	}
	if _, err := Encode(src, Q4_0); err == nil {
		t.Error("Encode Q4_0 succeeded")
	}
	if _, err := Decode(make([]byte, 33), Q8_0); err == nil {
		t.Error("Decode of a partial Q8_0 block succeeded")
	}
	if _, err := Decode(make([]byte, 18), Q4_0); err == nil {
		t.Error("Decode Q4_0 succeeded")
	}
}

func BenchmarkQuantizeQ8_0(b *testing.B) {
	src := make([]float32, 896*32)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		QuantizeQ8_0(src)
	}
	b.ReportMetric(float64(b.N*len(src))/b.Elapsed().Seconds()/1e6, "Mvalues/s")
}

func BenchmarkEncodeF16(b *testing.B) {
	src := make([]float32, 896*32)
	for i := range src {
		src[i] = float32(i) * 1e-3
	}
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		Encode(src, F16)
	}
	b.ReportMetric(float64(b.N*len(src))/b.Elapsed().Seconds()/1e6, "Mvalues/s")
}
