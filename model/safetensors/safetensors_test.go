package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// raw builds a safetensors file from a literal header and n data bytes.
func raw(header string, n int) []byte {
	b := make([]byte, 8, 8+len(header)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	for i := 0; i < n; i++ {
		b = append(b, byte(i))
	}
	return b
}

func sampleTensors() []Tensor {
	return []Tensor{
		FromFloat32("b.weight", []int{2, 3}, []float32{1, -2, 3.5, 0, 1e-3, -7}),
		FromBF16("a.bias", []int{3}, []uint16{0x3F80, 0xC000, 0x0000}),
		FromF16("c.half", []int{1, 2}, []uint16{0x3C00, 0xBC00}),
		{Name: "d.ids", DType: "I64", Shape: []int{2}, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "e.empty", DType: "F32", Shape: []int{0, 4}, Data: []byte{}},
		{Name: "f.scalar", DType: "U8", Shape: []int{}, Data: []byte{9}},
	}
}

func TestWriteOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	in := sampleTensors()
	meta := map[string]string{"format": "pt"}
	if err := Write(path, in, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{"a.bias", "b.weight", "c.half", "d.ids", "e.empty", "f.scalar"}
	if got := f.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if !reflect.DeepEqual(f.Metadata(), meta) {
		t.Fatalf("metadata %v", f.Metadata())
	}
	for _, w := range in {
		g, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("missing %s", w.Name)
		}
		if g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: got %+v, want %+v", w.Name, g, w)
		}
	}
	b, _ := f.Tensor("b.weight")
	v, err := b.Float32()
	if err != nil || !reflect.DeepEqual(v, []float32{1, -2, 3.5, 0, 1e-3, -7}) {
		t.Fatalf("Float32 = %v, %v", v, err)
	}

	// The header is padded to a multiple of 8, starts with the metadata and
	// lists names in order, like the reference implementation.
	data, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(data)
	if n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	h := string(data[8 : 8+n])
	if !strings.HasPrefix(h, `{"__metadata__":{"format":"pt"},"a.bias":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}`) {
		t.Errorf("header %s", h)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestParseMalformed(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	if _, err := Parse(raw(ok, 8)); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, MaxHeaderSize+1)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "shorter than the 8-byte"},
		{"header beyond file", raw(ok, 8)[:20], "exceeds the"},
		{"header over limit", append(huge, raw(ok, 8)...), "exceeds the limit"},
		{"not an object", raw(`["a"]`, 0), "does not start with '{'"},
		{"leading space", raw(` {}`, 0), "does not start with '{'"},
		{"bad json", raw(`{"a":`, 0), "header"},
		{"trailing garbage", raw(`{} x`, 0), "trailing data"},
		{"invalid utf8", raw("{\"\xff\":1}", 0), "UTF-8"},
		{"unknown dtype", raw(`{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "a": unsupported dtype "Q4"`},
		{"missing dtype", raw(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8), `missing "dtype"`},
		{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8), `missing "shape"`},
		{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[2]}}`, 8), `missing "data_offsets"`},
		{"negative dim", raw(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), `tensor "a"`},
		{"three offsets", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, 8), "want 2"},
		{"end before begin", raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "end before begin"},
		{"offset out of range", raw(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), "beyond the 8 data bytes"},
		{"size mismatch", raw(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs 12 bytes"},
		{"overflow", raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "overflows"},
		{"gap at start", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap"},
		{"overlap", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"gap between", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), "gap"},
		{"data after tensors", raw(ok, 12), "ends at 8 but the file has 12"},
		{"duplicate name", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `duplicate tensor name "a"`},
		{"metadata not strings", raw(`{"__metadata__":{"x":1}}`, 0), "__metadata__"},
		{"entry not object", raw(`{"a":[1]}`, 0), "not an object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "<memory>") {
				t.Fatalf("error %q, want it to mention %q and the file", err, c.want)
			}
		})
	}
}

func TestParsePaddingAndEmpty(t *testing.T) {
	for _, h := range []string{`{}`, `{}      `, `{"__metadata__":null}`, "{}\n"} {
		f, err := Parse(raw(h, 0))
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		if len(f.Names()) != 0 {
			t.Fatalf("%q: names %v", h, f.Names())
		}
	}
}

func TestOpenNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, raw(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `tensor "w"`) {
		t.Fatalf("error %v should name the file and the tensor", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Fatal("empty file accepted")
	}
}

func TestWriteRefusesBadTensors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"duplicate", []Tensor{FromFloat32("x", []int{1}, []float32{1}), FromFloat32("x", []int{1}, []float32{2})}, "duplicate"},
		{"short data", []Tensor{{Name: "x", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}}, "needs 8 bytes, got 4"},
		{"bad dtype", []Tensor{{Name: "x", DType: "F8", Shape: []int{1}, Data: make([]byte, 1)}}, "unsupported dtype"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: "U8", Shape: []int{1}, Data: make([]byte, 1)}}, "invalid tensor name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".safetensors")
			err := Write(path, c.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatal("a failed write left the file behind")
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*"))
			if len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

func TestStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.safetensors")
	specs := []Spec{{Name: "z", DType: "F32", Shape: []int{2}}, {Name: "y", DType: "BF16", Shape: []int{1}}}
	var order []string
	err := Stream(path, specs, nil, func(name string, w io.Writer) error {
		order = append(order, name)
		n, _ := Spec{Name: name, DType: map[string]string{"z": "F32", "y": "BF16"}[name], Shape: map[string][]int{"z": {2}, "y": {1}}[name]}.ByteSize()
		_, err := w.Write(make([]byte, n))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(order, []string{"y", "z"}) {
		t.Fatalf("write order %v", order)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestOpenDir(t *testing.T) {
	tensors := sampleTensors()
	t.Run("sharded", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteSharded(dir, tensors, 20, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		idxData, err := os.ReadFile(filepath.Join(dir, IndexName))
		if err != nil {
			t.Fatal(err)
		}
		var idx Index
		if err := json.Unmarshal(idxData, &idx); err != nil {
			t.Fatal(err)
		}
		// huggingface_hub's split: b.weight 24 > 20 gets its own shard at once;
		// a.bias 6 + c.half 4 | d.ids 16 + e.empty 0 + f.scalar 1: 3 shards.
		if idx.WeightMap["b.weight"] != "model-00001-of-00003.safetensors" || idx.WeightMap["a.bias"] != "model-00002-of-00003.safetensors" ||
			idx.WeightMap["c.half"] != "model-00002-of-00003.safetensors" || idx.WeightMap["f.scalar"] != "model-00003-of-00003.safetensors" ||
			idx.Metadata["total_size"] != float64(51) {
			t.Fatalf("index %s", idxData)
		}
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(s.Names()) != len(tensors) || len(s.Files()) != 3 {
			t.Fatalf("names %v files %v", s.Names(), s.Files())
		}
		for _, w := range tensors {
			g, ok := s.Tensor(w.Name)
			if !ok || !bytes.Equal(g.Data, w.Data) {
				t.Fatalf("%s: %+v", w.Name, g)
			}
		}
		if _, ok := s.Tensor("nope"); ok {
			t.Fatal("found a missing tensor")
		}
	})
	t.Run("single", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteSharded(dir, tensors, 0, nil); err != nil {
			t.Fatal(err)
		}
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !reflect.DeepEqual(s.Files(), []string{filepath.Join(dir, SingleName)}) {
			t.Fatalf("files %v", s.Files())
		}
	})
	t.Run("any safetensors", func(t *testing.T) {
		dir := t.TempDir()
		if err := Write(filepath.Join(dir, "x.safetensors"), tensors[:2], nil); err != nil {
			t.Fatal(err)
		}
		if err := Write(filepath.Join(dir, "y.safetensors"), tensors[2:], nil); err != nil {
			t.Fatal(err)
		}
		s, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(s.Names()) != len(tensors) {
			t.Fatalf("names %v", s.Names())
		}
	})
	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name  string
			setup func(dir string)
			want  string
		}{
			{"empty folder", func(string) {}, "no model.safetensors"},
			{"duplicate across files", func(dir string) {
				Write(filepath.Join(dir, "x.safetensors"), tensors[:2], nil)
				Write(filepath.Join(dir, "y.safetensors"), tensors[1:3], nil)
			}, "is in both"},
			{"index names wrong shard", func(dir string) {
				Write(filepath.Join(dir, "x.safetensors"), tensors[:2], nil)
				os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map":{"a.bias":"y.safetensors"}}`), 0o644)
				Write(filepath.Join(dir, "y.safetensors"), tensors[2:3], nil)
			}, `tensor "a.bias" is not in shard y.safetensors`},
			{"index path escape", func(dir string) {
				os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map":{"a":"../x.safetensors"}}`), 0o644)
			}, "not a plain file name"},
			{"bad index json", func(dir string) {
				os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map":`), 0o644)
			}, IndexName},
			{"missing shard", func(dir string) {
				os.WriteFile(filepath.Join(dir, IndexName), []byte(`{"weight_map":{"a":"x.safetensors"}}`), 0o644)
			}, "x.safetensors"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				c.setup(dir)
				_, err := OpenDir(dir)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
			})
		}
	})
}

func TestBF16Conversion(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3F80},
		{-2, 0xC000},
		{0, 0},
		{float32(math.Inf(1)), 0x7F80},
		{float32(math.NaN()), 0x7FC0},
		{math.Float32frombits(0x3F808000), 0x3F80}, // tie, even stays
		{math.Float32frombits(0x3F818000), 0x3F82}, // tie, odd rounds up
		{math.Float32frombits(0x3F808001), 0x3F81}, // above the tie
		{math.Float32frombits(0x3F807FFF), 0x3F80}, // below the tie
		{math.Float32frombits(0x7F7FFFFF), 0x7F80}, // max float rounds to inf
	}
	for _, c := range cases {
		if got := Float32ToBF16(c.in); got != c.want {
			t.Errorf("Float32ToBF16(%#x) = %#x, want %#x", math.Float32bits(c.in), got, c.want)
		}
	}
	// Against a float64 reference: the result is the nearest bf16, ties to even.
	for bits := uint32(0); bits < 1<<32-1<<16; bits += 0x10001 {
		f := math.Float32frombits(bits)
		if f != f || math.IsInf(float64(f), 0) {
			continue
		}
		got := Float32ToBF16(f)
		lo := uint16(bits >> 16)
		hi := lo + 1
		dlo := math.Abs(float64(f) - float64(BF16ToFloat32(lo)))
		dhi := math.Abs(float64(BF16ToFloat32(hi)) - float64(f))
		if hi&0x7F80 == 0x7F80 { // next step is infinity: compare with the notional next value
			dhi = math.Abs(math.Ldexp(1, 128) - math.Abs(float64(f)))
		}
		want := lo
		if dhi < dlo || dhi == dlo && lo&1 == 1 {
			want = hi
		}
		if got != want {
			t.Fatalf("Float32ToBF16(%#x) = %#x, want %#x", bits, got, want)
		}
	}
	tt := FromFloat32("x", []int{2}, []float32{1.5, -0.25})
	b, err := tt.BF16()
	if err != nil || !reflect.DeepEqual(b, []uint16{0x3FC0, 0xBE80}) {
		t.Fatalf("BF16 = %#x, %v", b, err)
	}
	bt := FromBF16("y", []int{2}, b)
	f, err := bt.Float32()
	if err != nil || !reflect.DeepEqual(f, []float32{1.5, -0.25}) {
		t.Fatalf("Float32 = %v, %v", f, err)
	}
	b2, err := bt.BF16()
	if err != nil || !reflect.DeepEqual(b2, b) {
		t.Fatalf("BF16 copy = %#x, %v", b2, err)
	}
}

// halfRef is the float64 value of a half bit pattern, from the definition.
func halfRef(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1F
	m := float64(h & 0x3FF)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 0x1F:
		if m != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1024+m, e-25)
}

func TestF16Conversion(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		ref := halfRef(uint16(h))
		got := F16ToFloat32(uint16(h))
		if math.IsNaN(ref) {
			if got == got {
				t.Fatalf("F16ToFloat32(%#x) = %v, want NaN", h, got)
			}
			continue
		}
		if float64(got) != ref || math.Signbit(float64(got)) != math.Signbit(ref) {
			t.Fatalf("F16ToFloat32(%#x) = %v, want %v", h, got, ref)
		}
		if back := Float32ToF16(got); back != uint16(h) {
			t.Fatalf("Float32ToF16(%v) = %#x, want %#x", got, back, h)
		}
	}
	cases := []struct {
		in   float32
		want uint16
	}{
		{65504, 0x7BFF},
		{65520, 0x7C00}, // halfway to the next step rounds to infinity
		{65519, 0x7BFF},
		{1e6, 0x7C00},
		{float32(math.Ldexp(1, -25)), 0},                       // tie at the smallest subnormal: even
		{float32(math.Ldexp(1.5, -25)), 1},                     // above the tie
		{float32(math.Ldexp(3, -25)), 2},                       // 1.5 ulp ties to even 2
		{float32(math.Ldexp(1, -26)), 0},                       // far below
		{float32(1 + math.Ldexp(1, -11)), 0x3C00},              // tie, even
		{float32(1 + 3*math.Ldexp(1, -11)), 0x3C02},            // tie, odd up
		{float32(math.Ldexp(1023.5, -24)), 0x0400},             // subnormal rounding up into the normals
		{float32(-math.Ldexp(1, -14)), 0x8400},                 // smallest normal, negative
		{float32(math.NaN()), 0x7E00},                          // quiet NaN
		{float32(math.Inf(-1)), 0xFC00},                        // -inf
		{float32(math.Copysign(0, -1)), 0x8000},                // -0
		{float32(math.Ldexp(1, -24) * 0.75), 0x0001},           // rounds up to the smallest subnormal
		{float32(math.Ldexp(1, -14) * (1 - 1.0/2048)), 0x0400}, // between max subnormal and min normal, tie → even
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("Float32ToF16(%g) = %#x, want %#x", c.in, got, c.want)
		}
	}
	ht := FromF16("h", []int{3}, []uint16{0x3C00, 0xC000, 0x0001})
	f, err := ht.Float32()
	if err != nil || !reflect.DeepEqual(f, []float32{1, -2, float32(math.Ldexp(1, -24))}) {
		t.Fatalf("Float32 = %v, %v", f, err)
	}
}

func TestFloat32Errors(t *testing.T) {
	cases := []Tensor{
		{Name: "i", DType: "I32", Shape: []int{1}, Data: make([]byte, 4)},
		{Name: "s", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)},
		{Name: "u", DType: "X", Shape: []int{1}, Data: make([]byte, 4)},
	}
	for _, c := range cases {
		if _, err := c.Float32(); err == nil || !strings.Contains(err.Error(), c.Name) {
			t.Errorf("%s: Float32 error %v", c.Name, err)
		}
		if _, err := c.BF16(); err == nil {
			t.Errorf("%s: BF16 accepted", c.Name)
		}
	}
	f64 := Tensor{Name: "d", DType: "F64", Shape: []int{1}, Data: binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.5))}
	if v, err := f64.Float32(); err != nil || v[0] != 0.5 {
		t.Fatalf("F64: %v %v", v, err)
	}
}

func FuzzParse(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.safetensors")
	if err := Write(path, sampleTensors(), map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(raw(`{}`, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must be internally consistent and re-encodable.
		var tensors []Tensor
		for _, n := range file.Names() {
			tt, ok := file.Tensor(n)
			if !ok {
				t.Fatalf("listed name %q not found", n)
			}
			size, _ := ItemSize(tt.DType)
			if len(tt.Data) != tt.NumElements()*size {
				t.Fatalf("%q: %d bytes for %v", n, len(tt.Data), tt.Shape)
			}
			if _, err := tt.Float32(); err != nil && (tt.DType == "F32" || tt.DType == "BF16" || tt.DType == "F16" || tt.DType == "F64") {
				t.Fatalf("%q: %v", n, err)
			}
			tensors = append(tensors, tt)
		}
		out := filepath.Join(t.TempDir(), "x.safetensors")
		if err := Write(out, tensors, file.Metadata()); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Open(out)
		if err != nil {
			t.Fatalf("re-open: %v", err)
		}
		defer again.Close()
		if !reflect.DeepEqual(again.Names(), file.Names()) {
			t.Fatalf("names %v vs %v", again.Names(), file.Names())
		}
	})
}

// Release drops a tensor's pages but leaves its data readable.
func TestReleaseKeepsDataValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.safetensors")
	big := make([]float32, 3*4096+7)
	for i := range big {
		big[i] = float32(i)
	}
	if err := Write(path, []Tensor{FromFloat32("a", []int{len(big)}, big), FromFloat32("b", []int{2}, []float32{1, 2})}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Release("a")
	f.Release("b")
	f.Release("missing")
	for _, name := range []string{"a", "b"} {
		tt, _ := f.Tensor(name)
		v, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		want := big
		if name == "b" {
			want = []float32{1, 2}
		}
		if !slices.Equal(v, want) {
			t.Fatalf("%s changed after Release", name)
		}
	}
}

// TestBF16Blocks converts tensors longer than BF16's decoding block from
// every floating-point dtype and checks each value against the rounding of
// Float32's result, so the block boundaries lose or shift nothing.
func TestBF16Blocks(t *testing.T) {
	const n = 1<<16*2 + 1001
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(math.Sin(float64(i)*0.37)) * float32(1+i%97)
	}
	src := FromFloat32("w", []int{n}, f)
	f16 := Tensor{Name: "h", DType: "F16", Shape: []int{n}, Data: make([]byte, 2*n)}
	f64 := Tensor{Name: "d", DType: "F64", Shape: []int{n}, Data: make([]byte, 8*n)}
	for i, v := range f {
		binary.LittleEndian.PutUint16(f16.Data[2*i:], Float32ToF16(v))
		binary.LittleEndian.PutUint64(f64.Data[8*i:], math.Float64bits(float64(v)))
	}
	for _, tt := range []Tensor{src, f16, f64} {
		want, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		got, err := tt.BF16()
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != Float32ToBF16(want[i]) {
				t.Fatalf("%s: value %d: BF16 %#x, want %#x", tt.DType, i, got[i], Float32ToBF16(want[i]))
			}
		}
	}
}

func TestPlanShards(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int64
		limit int64
		want  string
	}{
		{"one file", []int64{5, 5, 5}, 0, "abc"},
		{"fits", []int64{5, 5}, 10, "ab"},
		{"tips over", []int64{5, 5, 1}, 10, "ab|c"},
		{"big tensor alone first", []int64{3, 20, 4}, 10, "b|ac"},
		{"greedy", []int64{6, 5, 4, 7}, 10, "a|bc|d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var parts []string
			for _, sh := range PlanShards(tc.sizes, tc.limit) {
				var s string
				for _, i := range sh {
					s += string(rune('a' + i))
				}
				parts = append(parts, s)
			}
			if got := strings.Join(parts, "|"); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestInto decodes into caller-given storage as Float32 and BF16 do into
// their own, and refuses storage of the wrong length naming the tensor.
func TestInto(t *testing.T) {
	tt := FromFloat32("w", []int{2, 2}, []float32{1.5, -0.25, 3, 1e-3})
	want, _ := tt.Float32()
	got := make([]float32, 4)
	if err := tt.Float32Into(got); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Float32Into = %v, %v; want %v", got, err, want)
	}
	wantB, _ := tt.BF16()
	gotB := make([]uint16, 4)
	if err := tt.BF16Into(gotB); err != nil || !slices.Equal(gotB, wantB) {
		t.Fatalf("BF16Into = %v, %v; want %v", gotB, err, wantB)
	}
	if err := tt.Float32Into(make([]float32, 3)); err == nil || !strings.Contains(err.Error(), `"w": 4 values, 3 given`) {
		t.Errorf("Float32Into of 3 values: %v", err)
	}
	if err := tt.BF16Into(make([]uint16, 5)); err == nil || !strings.Contains(err.Error(), `"w": 4 values, 5 given`) {
		t.Errorf("BF16Into of 5 values: %v", err)
	}
}
