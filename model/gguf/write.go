package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"qwentune/internal/atomicfile"
)

// Writer collects metadata and tensors and writes them as one GGUF file.
// Tensor data is written in the order the tensors were added, each at the
// running sum of the previous sizes padded to the alignment, which is what
// llama.cpp requires.
//
// Add methods validate their input and return an error; the first error is
// also kept and returned again by WriteTo and WriteFile, so a file is never
// written from a Writer that refused something.
type Writer struct {
	kvs       []kv
	keys      map[string]bool
	tensors   []tensor
	names     map[string]bool
	alignment int64
	err       error
}

type kv struct {
	key   string
	value any
}

type tensor struct {
	name  string
	dims  []uint64
	typ   GGMLType
	size  int64
	write func(io.Writer) error
}

// NewWriter returns an empty Writer with the default alignment of 32 bytes.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}, alignment: DefaultAlignment}
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// AddKV adds the metadata pair key = value. Value must be one of the scalar
// types uint8, int8, uint16, int16, uint32, int32, float32, bool, string,
// uint64, int64, float64 (see the aliases Uint8 … Float64) or a slice of one of
// them, written as a GGUF array; int, uint and float literals are refused
// because their GGUF width would be a guess. Keys must be unique. Setting
// general.alignment (a power-of-two Uint32) changes the data alignment; when
// it is not set the Writer adds it with the default of 32. Slices are
// referenced, not copied: do not modify them before the file is written.
func (w *Writer) AddKV(key string, value any) error {
	if key == "" || len(key) > math.MaxUint16 {
		return w.fail(fmt.Errorf("gguf: metadata key %q: length must be 1..%d bytes", key, math.MaxUint16))
	}
	if w.keys[key] {
		return w.fail(fmt.Errorf("gguf: metadata key %q added twice", key))
	}
	if _, _, err := TypeOf(value); err != nil {
		return w.fail(fmt.Errorf("gguf: metadata key %q: %w", key, err))
	}
	if key == KeyAlignment {
		a, ok := value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return w.fail(fmt.Errorf("gguf: %s must be a power-of-two Uint32, got %v (%T)", KeyAlignment, value, value))
		}
		w.alignment = int64(a)
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, kv{key, value})
	return nil
}

// AddTensor adds a tensor whose encoded bytes are data. Dims are listed
// innermost first (a PyTorch [out, in] weight is dims [in, out]), 1 to 4 of
// them, all positive, the innermost a multiple of typ's block size; len(data)
// must equal the encoded size. Names must be unique and under 64 bytes. Data
// is referenced, not copied.
func (w *Writer) AddTensor(name string, dims []uint64, typ GGMLType, data []byte) error {
	size, err := w.checkTensor(name, dims, typ)
	if err != nil {
		return w.fail(err)
	}
	if int64(len(data)) != size {
		return w.fail(fmt.Errorf("gguf: tensor %q: %d bytes of data, %s %v needs %d", name, len(data), typ, dims, size))
	}
	w.addTensor(name, dims, typ, size, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
	return nil
}

// AddTensorFunc adds a tensor whose size bytes are produced later, when the
// file is written, by write, so that a large model never has to be held in
// memory at once. Size must equal the encoded size of dims and typ; writing
// fails if write produces a different number of bytes. The checks on name and
// dims are those of AddTensor.
func (w *Writer) AddTensorFunc(name string, dims []uint64, typ GGMLType, size int64, write func(io.Writer) error) error {
	want, err := w.checkTensor(name, dims, typ)
	if err != nil {
		return w.fail(err)
	}
	if size != want {
		return w.fail(fmt.Errorf("gguf: tensor %q: size %d given, %s %v needs %d", name, size, typ, dims, want))
	}
	if write == nil {
		return w.fail(fmt.Errorf("gguf: tensor %q: nil write function", name))
	}
	w.addTensor(name, dims, typ, size, write)
	return nil
}

func (w *Writer) addTensor(name string, dims []uint64, typ GGMLType, size int64, write func(io.Writer) error) {
	w.names[name] = true
	w.tensors = append(w.tensors, tensor{name, append([]uint64(nil), dims...), typ, size, write})
}

func (w *Writer) checkTensor(name string, dims []uint64, typ GGMLType) (int64, error) {
	if name == "" || len(name) > MaxNameLen {
		return 0, fmt.Errorf("gguf: tensor name %q: length must be 1..%d bytes", name, MaxNameLen)
	}
	if w.names[name] {
		return 0, fmt.Errorf("gguf: tensor %q added twice", name)
	}
	switch typ {
	case F32, F16, Q8_0, BF16:
	default:
		return 0, fmt.Errorf("gguf: tensor %q: writing type %s is not supported (F32, F16, Q8_0, BF16 are)", name, typ)
	}
	if len(dims) == 0 {
		return 0, fmt.Errorf("gguf: tensor %q: no dims", name)
	}
	for i, d := range dims {
		if d == 0 {
			return 0, fmt.Errorf("gguf: tensor %q: dim %d is 0", name, i)
		}
	}
	_, size, err := tensorShape(dims, typ)
	if err != nil {
		return 0, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return size, nil
}

// WriteFile writes the GGUF file to path atomically (see atomicfile): on
// error path is left untouched and the temporary file is removed.
func (w *Writer) WriteFile(path string) error {
	if w.err != nil {
		return w.err
	}
	err := atomicfile.Write(path, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}

// WriteTo writes the GGUF file to out and returns the number of bytes written.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	cw := &countWriter{w: out}
	bw := bufio.NewWriterSize(cw, 1<<20)
	e := encoder{w: bw}
	kvs := w.kvs
	if !w.keys[KeyAlignment] {
		kvs = append(kvs[:len(kvs):len(kvs)], kv{KeyAlignment, uint32(w.alignment)})
	}
	e.raw([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(kvs)))
	for _, p := range kvs {
		e.str(p.key)
		e.value(p.value)
	}
	var offset int64
	for _, t := range w.tensors {
		e.str(t.name)
		e.u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			e.u64(d)
		}
		e.u32(uint32(t.typ))
		e.u64(uint64(offset))
		offset += pad(t.size, w.alignment)
	}
	if e.err != nil {
		return cw.n, e.err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	if err := zeros(bw, pad(cw.n, w.alignment)-cw.n); err != nil {
		return cw.n, err
	}
	for _, t := range w.tensors {
		tw := &countWriter{w: bw}
		if err := t.write(tw); err != nil {
			return cw.n + int64(bw.Buffered()), fmt.Errorf("tensor %q: %w", t.name, err)
		}
		if tw.n != t.size {
			return cw.n + int64(bw.Buffered()), fmt.Errorf("tensor %q: wrote %d bytes, expected %d", t.name, tw.n, t.size)
		}
		if err := zeros(bw, pad(t.size, w.alignment)-t.size); err != nil {
			return cw.n + int64(bw.Buffered()), err
		}
	}
	err := bw.Flush()
	return cw.n, err
}

// zeros writes n zero bytes.
func zeros(w io.Writer, n int64) error {
	var z [64]byte
	for n > 0 {
		k := min(n, int64(len(z)))
		if _, err := w.Write(z[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian GGUF primitives, keeping the first error.
type encoder struct {
	w   *bufio.Writer
	buf [8]byte
	err error
}

func (e *encoder) raw(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u8(v uint8) { e.raw([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.raw(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.raw(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.raw(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// value writes the type tag and encoding of v, which typeOf has accepted.
func (e *encoder) value(v any) {
	t, elem, _ := TypeOf(v)
	e.u32(uint32(t))
	if t != TypeArray {
		e.scalar(v)
		return
	}
	e.u32(uint32(elem))
	switch a := v.(type) {
	case []uint8:
		e.u64(uint64(len(a)))
		e.raw(a)
	case []int8:
		writeSlice(e, a)
	case []uint16:
		writeSlice(e, a)
	case []int16:
		writeSlice(e, a)
	case []uint32:
		writeSlice(e, a)
	case []int32:
		writeSlice(e, a)
	case []float32:
		writeSlice(e, a)
	case []bool:
		writeSlice(e, a)
	case []string:
		writeSlice(e, a)
	case []uint64:
		writeSlice(e, a)
	case []int64:
		writeSlice(e, a)
	case []float64:
		writeSlice(e, a)
	}
}

func writeSlice[T any](e *encoder, a []T) {
	e.u64(uint64(len(a)))
	for _, x := range a {
		e.scalar(x)
	}
}

func (e *encoder) scalar(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		e.u8(boolByte(x))
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	}
}

var errWidth = errors.New("use a type with an explicit width, e.g. gguf.Uint32(x) or gguf.Float32(x)")

// TypeOf returns the GGUF value type a Go metadata value is written as and,
// for a slice, its element type; it fails for the types AddKV refuses.
func TypeOf(v any) (t, elem ValueType, err error) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0, nil
	case int8:
		return TypeInt8, 0, nil
	case uint16:
		return TypeUint16, 0, nil
	case int16:
		return TypeInt16, 0, nil
	case uint32:
		return TypeUint32, 0, nil
	case int32:
		return TypeInt32, 0, nil
	case float32:
		return TypeFloat32, 0, nil
	case bool:
		return TypeBool, 0, nil
	case string:
		return TypeString, 0, nil
	case uint64:
		return TypeUint64, 0, nil
	case int64:
		return TypeInt64, 0, nil
	case float64:
		return TypeFloat64, 0, nil
	case []uint8:
		return TypeArray, TypeUint8, nil
	case []int8:
		return TypeArray, TypeInt8, nil
	case []uint16:
		return TypeArray, TypeUint16, nil
	case []int16:
		return TypeArray, TypeInt16, nil
	case []uint32:
		return TypeArray, TypeUint32, nil
	case []int32:
		return TypeArray, TypeInt32, nil
	case []float32:
		return TypeArray, TypeFloat32, nil
	case []bool:
		return TypeArray, TypeBool, nil
	case []string:
		return TypeArray, TypeString, nil
	case []uint64:
		return TypeArray, TypeUint64, nil
	case []int64:
		return TypeArray, TypeInt64, nil
	case []float64:
		return TypeArray, TypeFloat64, nil
	case int, uint, []int, []uint:
		return 0, 0, fmt.Errorf("%T value: %w", v, errWidth)
	}
	return 0, 0, fmt.Errorf("unsupported value type %T", v)
}
