package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// allKVs covers every value type, scalar and array, with edge values.
var allKVs = []struct {
	key   string
	value any
	typ   ValueType
}{
	{"general.architecture", "qwen2", TypeString},
	{"t.u8", Uint8(255), TypeUint8},
	{"t.i8", Int8(-128), TypeInt8},
	{"t.u16", Uint16(65535), TypeUint16},
	{"t.i16", Int16(-32768), TypeInt16},
	{"t.u32", Uint32(4294967295), TypeUint32},
	{"t.i32", Int32(-2147483648), TypeInt32},
	{"t.f32", Float32(-1.5e-7), TypeFloat32},
	{"t.bool", true, TypeBool},
	{"t.bool_false", false, TypeBool},
	{"t.str", "héllo\n<|im_end|>", TypeString},
	{"t.str_empty", "", TypeString},
	{"t.u64", Uint64(math.MaxUint64), TypeUint64},
	{"t.i64", Int64(math.MinInt64), TypeInt64},
	{"t.f64", Float64(math.Inf(-1)), TypeFloat64},
	{"a.u8", []uint8{0, 1, 255}, TypeArray},
	{"a.i8", []int8{-128, 0, 127}, TypeArray},
	{"a.u16", []uint16{0, 65535}, TypeArray},
	{"a.i16", []int16{-32768, 32767}, TypeArray},
	{"a.u32", []uint32{1, 2, 3}, TypeArray},
	{"a.i32", []int32{1, 3, 4, 5}, TypeArray},
	{"a.f32", []float32{0.5, -2, float32(math.Inf(1))}, TypeArray},
	{"a.bool", []bool{true, false, true}, TypeArray},
	{"a.str", []string{"Ġ", "a b", ""}, TypeArray},
	{"a.str_empty", []string{}, TypeArray},
	{"a.u64", []uint64{math.MaxUint64}, TypeArray},
	{"a.i64", []int64{math.MinInt64, -1}, TypeArray},
	{"a.f64", []float64{math.Pi, -0.0}, TypeArray},
}

// testTensors returns tensors of every writable type, with float values that
// each encoding reproduces.
func testTensors(t testing.TB) []struct {
	name string
	dims []uint64
	typ  GGMLType
	data []byte
	vals []float32
} {
	t.Helper()
	vals := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%17-8) * 0.25
		}
		return v
	}
	var out []struct {
		name string
		dims []uint64
		typ  GGMLType
		data []byte
		vals []float32
	}
	for _, c := range []struct {
		name string
		dims []uint64
		typ  GGMLType
	}{
		{"token_embd.weight", []uint64{64, 3}, Q8_0},
		{"blk.0.attn_q.bias", []uint64{5}, F32},
		{"blk.0.attn_q.weight", []uint64{7, 3}, F16},
		{"blk.0.attn_k.weight", []uint64{4, 3, 2, 1}, BF16},
		{"output_norm.weight", []uint64{1}, F32},
	} {
		n := 1
		for _, d := range c.dims {
			n *= int(d)
		}
		v := vals(n)
		b, err := Encode(v, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := Decode(b, c.typ)
		out = append(out, struct {
			name string
			dims []uint64
			typ  GGMLType
			data []byte
			vals []float32
		}{c.name, c.dims, c.typ, b, dec})
	}
	return out
}

// buildFile writes a file with every KV and every tensor type; the last two
// tensors go through AddTensorFunc.
func buildFile(t testing.TB, path string) {
	t.Helper()
	w := NewWriter()
	for _, kv := range allKVs {
		if err := w.AddKV(kv.key, kv.value); err != nil {
			t.Fatal(err)
		}
	}
	ts := testTensors(t)
	for i, tt := range ts {
		var err error
		if i < 3 {
			err = w.AddTensor(tt.name, tt.dims, tt.typ, tt.data)
		} else {
			data := tt.data
			err = w.AddTensorFunc(tt.name, tt.dims, tt.typ, int64(len(data)), func(out io.Writer) error {
				// Write in two pieces, as a streaming converter would.
				if _, err := out.Write(data[:len(data)/2]); err != nil {
					return err
				}
				_, err := out.Write(data[len(data)/2:])
				return err
			})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	buildFile(t, path)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != 3 || f.Alignment != 32 || f.DataOffset%32 != 0 {
		t.Errorf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	md := f.Metadata()
	if len(md) != len(allKVs)+1 {
		t.Fatalf("%d KVs, want %d", len(md), len(allKVs)+1)
	}
	for i, kv := range allKVs {
		if md[i].Key != kv.key || md[i].Type != kv.typ || !reflect.DeepEqual(md[i].Value, kv.value) {
			t.Errorf("KV %d = %q %s %#v, want %q %s %#v", i, md[i].Key, md[i].Type, md[i].Value, kv.key, kv.typ, kv.value)
		}
		if v, ok := f.KV(kv.key); !ok || !reflect.DeepEqual(v, kv.value) {
			t.Errorf("KV(%q) = %#v, %v", kv.key, v, ok)
		}
	}
	if v, _ := f.KV(KeyAlignment); v != uint32(32) {
		t.Errorf("general.alignment = %#v, want UINT32 32", v)
	}
	if _, ok := f.KV("missing"); ok {
		t.Error("KV(missing) found")
	}
	ts := testTensors(t)
	infos := f.Tensors()
	if len(infos) != len(ts) {
		t.Fatalf("%d tensors, want %d", len(infos), len(ts))
	}
	var off int64
	for i, tt := range ts {
		info := infos[i]
		if info.Name != tt.name || !reflect.DeepEqual(info.Dims, tt.dims) || info.Type != tt.typ || info.Size != int64(len(tt.data)) {
			t.Errorf("tensor %d = %+v, want %s %v %s %d bytes", i, info, tt.name, tt.dims, tt.typ, len(tt.data))
		}
		if info.Offset != off {
			t.Errorf("tensor %s offset %d, want %d", tt.name, info.Offset, off)
		}
		off += pad(info.Size, 32)
		data, err := f.TensorData(tt.name)
		if err != nil || !bytes.Equal(data, tt.data) {
			t.Errorf("TensorData(%s) = %v, %v", tt.name, data, err)
		}
		vals, err := f.TensorFloat32(tt.name)
		if err != nil || !reflect.DeepEqual(vals, tt.vals) {
			t.Errorf("TensorFloat32(%s) = %v, %v, want %v", tt.name, vals, err, tt.vals)
		}
		if info.Elements() != int64(len(tt.vals)) {
			t.Errorf("%s: Elements() = %d, want %d", tt.name, info.Elements(), len(tt.vals))
		}
	}
	st, _ := os.Stat(path)
	if st.Size() != f.DataOffset+off {
		t.Errorf("file size %d, want data offset %d + padded data %d", st.Size(), f.DataOffset, off)
	}
	if _, err := f.TensorData("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("TensorData(nope) error = %v", err)
	}
	if _, err := f.TensorFloat32("nope"); err == nil {
		t.Error("TensorFloat32(nope) succeeded")
	}
	// WriteTo produces the same bytes as WriteFile.
	raw, _ := os.ReadFile(path)
	g, err := Parse(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Tensors(), f.Tensors()) || len(g.Metadata()) != len(md) {
		t.Error("Parse of the bytes differs from Open")
	}
}

func TestCustomAlignment(t *testing.T) {
	w := NewWriter()
	if err := w.AddKV(KeyAlignment, Uint32(64)); err != nil {
		t.Fatal(err)
	}
	w.AddTensor("a", []uint64{3}, F32, make([]byte, 12))
	w.AddTensor("b", []uint64{3}, F32, make([]byte, 12))
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 || f.Tensors()[1].Offset != 64 || len(f.Metadata()) != 1 {
		t.Errorf("alignment %d data offset %d second offset %d, %d KVs", f.Alignment, f.DataOffset, f.Tensors()[1].Offset, len(f.Metadata()))
	}
	if int64(buf.Len()) != f.DataOffset+128 {
		t.Errorf("file is %d bytes, want %d", buf.Len(), f.DataOffset+128)
	}
}

func TestWriterRefuses(t *testing.T) {
	long := strings.Repeat("x", 64)
	cases := []struct {
		name string
		add  func(w *Writer) error
		want string
	}{
		{"duplicate key", func(w *Writer) error { w.AddKV("k", Uint8(1)); return w.AddKV("k", Uint8(2)) }, "twice"},
		{"empty key", func(w *Writer) error { return w.AddKV("", Uint8(1)) }, "length"},
		{"int", func(w *Writer) error { return w.AddKV("k", 3) }, "explicit width"},
		{"[]int", func(w *Writer) error { return w.AddKV("k", []int{3}) }, "explicit width"},
		{"struct", func(w *Writer) error { return w.AddKV("k", struct{}{}) }, "unsupported"},
		{"nested array", func(w *Writer) error { return w.AddKV("k", [][]string{{"a"}}) }, "unsupported"},
		{"alignment type", func(w *Writer) error { return w.AddKV(KeyAlignment, Uint64(32)) }, "power-of-two"},
		{"alignment value", func(w *Writer) error { return w.AddKV(KeyAlignment, Uint32(48)) }, "power-of-two"},
		{"duplicate tensor", func(w *Writer) error {
			w.AddTensor("t", []uint64{1}, F32, make([]byte, 4))
			return w.AddTensor("t", []uint64{1}, F32, make([]byte, 4))
		}, "twice"},
		{"long name", func(w *Writer) error { return w.AddTensor(long, []uint64{1}, F32, make([]byte, 4)) }, "length"},
		{"63-byte name ok then empty", func(w *Writer) error {
			if err := w.AddTensor(long[:63], []uint64{1}, F32, make([]byte, 4)); err != nil {
				return err
			}
			return w.AddTensor("", []uint64{1}, F32, make([]byte, 4))
		}, "length"},
		{"no dims", func(w *Writer) error { return w.AddTensor("t", nil, F32, nil) }, "no dims"},
		{"5 dims", func(w *Writer) error { return w.AddTensor("t", []uint64{1, 1, 1, 1, 1}, F32, make([]byte, 4)) }, "at most 4"},
		{"zero dim", func(w *Writer) error { return w.AddTensor("t", []uint64{2, 0}, F32, nil) }, "dim 1 is 0"},
		{"q8 block", func(w *Writer) error { return w.AddTensor("t", []uint64{33}, Q8_0, make([]byte, 34)) }, "multiple"},
		{"overflow", func(w *Writer) error { return w.AddTensor("t", []uint64{1 << 40, 1 << 40}, F32, nil) }, "overflow"},
		{"data length", func(w *Writer) error { return w.AddTensor("t", []uint64{3}, F16, make([]byte, 5)) }, "needs 6"},
		{"type", func(w *Writer) error { return w.AddTensor("t", []uint64{32}, Q4_0, make([]byte, 18)) }, "not supported"},
		{"func size", func(w *Writer) error {
			return w.AddTensorFunc("t", []uint64{3}, F32, 11, func(io.Writer) error { return nil })
		}, "needs 12"},
		{"nil func", func(w *Writer) error { return w.AddTensorFunc("t", []uint64{3}, F32, 12, nil) }, "nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWriter()
			err := c.add(w)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one containing %q", err, c.want)
			}
			path := filepath.Join(t.TempDir(), "x.gguf")
			if werr := w.WriteFile(path); werr == nil {
				t.Fatal("WriteFile succeeded after a refused Add")
			}
			if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("file exists after a failed write: %v", serr)
			}
		})
	}
}

func TestWriteFileStreamErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(io.Writer) error
		want  string
	}{
		{"short", func(out io.Writer) error { _, err := out.Write(make([]byte, 8)); return err }, "wrote 8 bytes, expected 12"},
		{"long", func(out io.Writer) error { _, err := out.Write(make([]byte, 16)); return err }, "wrote 16 bytes"},
		{"error", func(io.Writer) error { return errors.New("source gone") }, "source gone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.gguf")
			os.WriteFile(path, []byte("old"), 0o644)
			w := NewWriter()
			if err := w.AddTensorFunc("t", []uint64{3}, F32, 12, c.write); err != nil {
				t.Fatal(err)
			}
			err := w.WriteFile(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("existing file changed to %q", b)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("temporary file left behind: %v", ents)
			}
		})
	}
}

// raw builds GGUF bytes by hand for malformed-input tests.
type raw struct{ bytes.Buffer }

func (r *raw) u32(v uint32) *raw { binary.Write(&r.Buffer, binary.LittleEndian, v); return r }
func (r *raw) u64(v uint64) *raw { binary.Write(&r.Buffer, binary.LittleEndian, v); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *raw) head(nt, nkv uint64) *raw {
	r.WriteString("GGUF")
	return r.u32(3).u64(nt).u64(nkv)
}
func (r *raw) tensor(name string, dims []uint64, typ GGMLType, off uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}
func (r *raw) padTo(n int) *raw {
	for r.Len()%n != 0 {
		r.WriteByte(0)
	}
	return r
}
func (r *raw) zeros(n int) *raw { r.Write(make([]byte, n)); return r }

func TestParseMalformed(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a GGUF file"},
		{"magic", []byte("GGML\x03\x00\x00\x00"), "magic"},
		{"version 1", new(raw).u32(0x46554747).u32(1).u64(0).u64(0).Bytes(), "version 1"},
		{"big endian", append([]byte("GGUF"), 0, 0, 0, 3), "big-endian"},
		{"kv count", new(raw).head(0, 1<<40).Bytes(), "metadata count"},
		{"tensor count", new(raw).head(1<<40, 0).Bytes(), "tensor count"},
		{"key length", new(raw).head(0, 1).u64(1 << 50).zeros(8).Bytes(), "string of"},
		{"value type", new(raw).head(0, 1).str("k").u32(13).zeros(8).Bytes(), "unknown value type"},
		{"array length", new(raw).head(0, 1).str("k").u32(9).u32(4).u64(1 << 40).zeros(8).Bytes(), "array of"},
		{"nested array", new(raw).head(0, 1).str("k").u32(9).u32(9).u64(1).zeros(16).Bytes(), "arrays of arrays"},
		{"array elem type", new(raw).head(0, 1).str("k").u32(9).u32(77).u64(1).zeros(16).Bytes(), "element type"},
		{"string array", new(raw).head(0, 1).str("k").u32(9).u32(8).u64(2).str("a").u64(100).Bytes(), "truncated"},
		{"duplicate key", new(raw).head(0, 2).str("k").u32(0).zeros(1).str("k").u32(0).zeros(1).Bytes(), "twice"},
		{"alignment type", new(raw).head(0, 1).str(KeyAlignment).u32(10).u64(32).Bytes(), "power-of-two"},
		{"alignment value", new(raw).head(0, 1).str(KeyAlignment).u32(4).u32(0).Bytes(), "power-of-two"},
		{"tensor name", new(raw).head(1, 0).tensor(strings.Repeat("n", 64), []uint64{1}, F32, 0).padTo(32).zeros(32).Bytes(), "at most 63"},
		{"dims", new(raw).head(1, 0).tensor("t", []uint64{1, 1, 1, 1, 1}, F32, 0).padTo(32).zeros(32).Bytes(), "5 dims"},
		{"ggml type", new(raw).head(1, 0).tensor("t", []uint64{1}, 31, 0).padTo(32).zeros(32).Bytes(), "unknown ggml type"},
		{"block", new(raw).head(1, 0).tensor("t", []uint64{16}, Q8_0, 0).padTo(32).zeros(64).Bytes(), "multiple"},
		{"overflow", new(raw).head(1, 0).tensor("t", []uint64{1 << 62, 1 << 62}, F32, 0).padTo(32).Bytes(), "overflow"},
		{"duplicate tensor", new(raw).head(2, 0).tensor("t", []uint64{1}, F32, 0).tensor("t", []uint64{1}, F32, 32).padTo(32).zeros(64).Bytes(), "twice"},
		{"offset", new(raw).head(2, 0).tensor("a", []uint64{1}, F32, 0).tensor("b", []uint64{1}, F32, 4).padTo(32).zeros(64).Bytes(), "expected 32"},
		{"huge offset", new(raw).head(1, 0).tensor("a", []uint64{1}, F32, 1<<63).padTo(32).zeros(64).Bytes(), "out of range"},
		{"beyond EOF", new(raw).head(1, 0).tensor("a", []uint64{1000}, F32, 0).padTo(32).zeros(64).Bytes(), "beyond the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(c.data), int64(len(c.data)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestParseTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	buildFile(t, path)
	full, _ := os.ReadFile(path)
	f, err := Parse(bytes.NewReader(full), int64(len(full)))
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors()[len(f.Tensors())-1]
	end := int(f.DataOffset + last.Offset + last.Size)
	// Every prefix that cuts into the header or a tensor's data is refused;
	// only the final tensor's trailing padding may be missing.
	for n := range end {
		_, err := Parse(bytes.NewReader(full[:n]), int64(n))
		if err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(full))
		}
	}
	if _, err := Parse(bytes.NewReader(full[:end]), int64(end)); err != nil {
		t.Errorf("file without final padding refused: %v", err)
	}
	cut := filepath.Join(t.TempDir(), "cut.gguf")
	os.WriteFile(cut, full[:len(full)/2], 0o644)
	if _, err := Open(cut); err == nil || !strings.Contains(err.Error(), "cut.gguf") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Open of a truncated file: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none.gguf")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

func TestTensorFloat32Unsupported(t *testing.T) {
	data := new(raw).head(1, 0).tensor("q", []uint64{32}, Q4_0, 0).padTo(32).zeros(32).Bytes()
	f, err := Parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if info := f.Tensors()[0]; info.Size != 18 || info.Type.String() != "Q4_0" {
		t.Errorf("Q4_0 info %+v", info)
	}
	if _, err := f.TensorFloat32("q"); err == nil || !strings.Contains(err.Error(), "Q4_0") {
		t.Errorf("TensorFloat32 of Q4_0: %v", err)
	}
}

func TestTypeNames(t *testing.T) {
	if TypeUint32.String() != "UINT32" || ValueType(99).String() != "ValueType(99)" {
		t.Error("ValueType.String")
	}
	if Q8_0.String() != "Q8_0" || GGMLType(99).String() != "GGMLType(99)" || GGMLType(99).Known() || !BF16.Known() {
		t.Error("GGMLType.String/Known")
	}
	if Q8_0.BlockSize() != 32 || Q8_0.BlockBytes() != 34 || F16.BlockBytes() != 2 {
		t.Error("block sizes")
	}
	for _, c := range []struct {
		dims []uint64
		typ  GGMLType
		size int64
	}{{[]uint64{896, 151936}, Q8_0, 896 / 32 * 34 * 151936}, {[]uint64{896}, F32, 3584}, {[]uint64{4864, 896}, BF16, 4864 * 896 * 2}, {[]uint64{256}, Q4_K, 144}} {
		if size, err := TensorSize(c.dims, c.typ); err != nil || size != c.size {
			t.Errorf("TensorSize(%v, %s) = %d, %v; want %d", c.dims, c.typ, size, err, c.size)
		}
	}
	if _, err := TensorSize([]uint64{31}, Q8_0); err == nil {
		t.Error("TensorSize accepted a partial Q8_0 block")
	}
}

func FuzzParse(f *testing.F) {
	path := filepath.Join(f.TempDir(), "m.gguf")
	buildFile(f, path)
	full, _ := os.ReadFile(path)
	f.Add(full)
	f.Add(new(raw).head(1, 1).str("k").u32(9).u32(8).u64(1).str("v").tensor("t", []uint64{32}, Q8_0, 0).padTo(32).zeros(34).Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, info := range g.Tensors() {
			b, err := g.TensorData(info.Name)
			if err != nil || int64(len(b)) != info.Size {
				t.Fatalf("accepted file but TensorData(%q) = %d bytes, %v", info.Name, len(b), err)
			}
			g.TensorFloat32(info.Name)
		}
	})
}
