package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// File is a parsed GGUF file: its metadata and tensor infos, with the tensor
// data read on demand.
type File struct {
	// Version is the GGUF version of the file (2 or 3).
	Version uint32
	// Alignment is the data alignment (general.alignment, or 32).
	Alignment int64
	// DataOffset is the absolute file offset where tensor data starts.
	DataOffset int64

	kvs         []KV
	kvIndex     map[string]int
	tensors     []TensorInfo
	tensorIndex map[string]int
	r           io.ReaderAt
	name        string
	closer      io.Closer
}

// KV is one metadata pair. Value holds a scalar as uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64 or float64, and an array
// as a slice of one of these.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	// Dims lists the dimensions innermost first.
	Dims []uint64
	Type GGMLType
	// Offset is relative to the start of the tensor data (File.DataOffset).
	Offset int64
	// Size is the encoded size in bytes.
	Size int64
}

// Elements returns the number of elements of the tensor.
func (t TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= int64(d)
	}
	return n
}

// Open opens and parses the GGUF file at path. The file stays open for
// TensorData until Close.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	g, err := parse(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	g.closer = f
	return g, nil
}

// Parse parses a GGUF file of size bytes read from r. Tensor data is read
// from r on demand, so r must stay readable while the File is used.
func Parse(r io.ReaderAt, size int64) (*File, error) {
	return parse(r, size, "")
}

// Close closes the underlying file when the File came from Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// KV returns the value of the metadata key (see KV for the Go types).
func (f *File) KV(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.kvs[i].Value, true
}

// Metadata returns every metadata pair in file order.
func (f *File) Metadata() []KV {
	return append([]KV(nil), f.kvs...)
}

// Tensors returns the tensor infos in file order.
func (f *File) Tensors() []TensorInfo {
	return append([]TensorInfo(nil), f.tensors...)
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// TensorData reads the encoded bytes of the named tensor.
func (f *File) TensorData(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%sno tensor %q", f.prefix(), name)
	}
	buf := make([]byte, t.Size)
	if _, err := f.r.ReadAt(buf, f.DataOffset+t.Offset); err != nil {
		return nil, fmt.Errorf("%stensor %q: %w", f.prefix(), name, err)
	}
	return buf, nil
}

// TensorFloat32 reads the named tensor and decodes it to float32. F32, F16,
// BF16 and Q8_0 tensors are supported.
func (f *File) TensorFloat32(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%sno tensor %q", f.prefix(), name)
	}
	switch t.Type {
	case F32, F16, BF16, Q8_0:
	default:
		return nil, fmt.Errorf("%stensor %q: decoding %s is not supported", f.prefix(), name, t.Type)
	}
	data, err := f.TensorData(name)
	if err != nil {
		return nil, err
	}
	return Decode(data, t.Type)
}

func (f *File) prefix() string {
	if f.name == "" {
		return "gguf: "
	}
	return "gguf: " + f.name + ": "
}

// Limits that keep a corrupt header from asking for absurd allocations; every
// count is also checked against the bytes left in the file.
const (
	maxKVs     = 1 << 20
	maxTensors = 1 << 24
)

// decoder reads little-endian GGUF primitives, tracking the offset so that
// errors can say where the file went wrong.
type decoder struct {
	r    *bufio.Reader
	pos  int64
	size int64
	buf  [8]byte
}

var errTruncated = errors.New("file truncated")

func (d *decoder) remaining() int64 { return d.size - d.pos }

func (d *decoder) full(p []byte) error {
	if int64(len(p)) > d.remaining() {
		return fmt.Errorf("%w: need %d bytes at offset %d, file has %d", errTruncated, len(p), d.pos, d.size)
	}
	n, err := io.ReadFull(d.r, p)
	d.pos += int64(n)
	if err != nil {
		return fmt.Errorf("at offset %d: %w", d.pos, err)
	}
	return nil
}

func (d *decoder) u8() (uint8, error) {
	err := d.full(d.buf[:1])
	return d.buf[0], err
}

func (d *decoder) u16() (uint16, error) {
	err := d.full(d.buf[:2])
	return binary.LittleEndian.Uint16(d.buf[:2]), err
}

func (d *decoder) u32() (uint32, error) {
	err := d.full(d.buf[:4])
	return binary.LittleEndian.Uint32(d.buf[:4]), err
}

func (d *decoder) u64() (uint64, error) {
	err := d.full(d.buf[:8])
	return binary.LittleEndian.Uint64(d.buf[:8]), err
}

func (d *decoder) str() (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(d.remaining()) {
		return "", fmt.Errorf("%w: string of %d bytes at offset %d, only %d left", errTruncated, n, d.pos-8, d.remaining())
	}
	b := make([]byte, n)
	if err := d.full(b); err != nil {
		return "", err
	}
	return string(b), nil
}

func parse(r io.ReaderAt, size int64, name string) (*File, error) {
	f := &File{r: r, name: name, kvIndex: map[string]int{}, tensorIndex: map[string]int{}}
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size}
	if err := f.parseHeader(d); err != nil {
		return nil, fmt.Errorf("%s%w", f.prefix(), err)
	}
	return f, nil
}

func (f *File) parseHeader(d *decoder) error {
	var magic [4]byte
	if err := d.full(magic[:]); err != nil {
		return fmt.Errorf("not a GGUF file: %w", err)
	}
	if string(magic[:]) != Magic {
		return fmt.Errorf("not a GGUF file: magic %q, want %q", magic[:], Magic)
	}
	version, err := d.u32()
	if err != nil {
		return err
	}
	switch {
	case version == 2 || version == 3:
	case version&0xffff == 0 && version != 0:
		return fmt.Errorf("big-endian GGUF files are not supported")
	default:
		return fmt.Errorf("unsupported GGUF version %d (2 and 3 are supported)", version)
	}
	f.Version = version
	nTensors, err := d.u64()
	if err != nil {
		return err
	}
	nKV, err := d.u64()
	if err != nil {
		return err
	}
	// Each KV takes at least 13 bytes (key length, type, one-byte value) and
	// each tensor info at least 24 (name length, n_dims, type, offset).
	if nKV > maxKVs || nKV > uint64(d.remaining())/13 {
		return fmt.Errorf("metadata count %d is impossible for a file of %d bytes", nKV, d.size)
	}
	if nTensors > maxTensors || nTensors > uint64(d.remaining())/24 {
		return fmt.Errorf("tensor count %d is impossible for a file of %d bytes", nTensors, d.size)
	}
	f.kvs = make([]KV, 0, nKV)
	for i := uint64(0); i < nKV; i++ {
		at := d.pos
		key, err := d.str()
		if err != nil {
			return fmt.Errorf("metadata %d: key: %w", i, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return fmt.Errorf("metadata key %q at offset %d appears twice", key, at)
		}
		t, err := d.u32()
		if err != nil {
			return fmt.Errorf("metadata key %q: %w", key, err)
		}
		v, err := d.value(ValueType(t))
		if err != nil {
			return fmt.Errorf("metadata key %q: %w", key, err)
		}
		f.kvIndex[key] = len(f.kvs)
		f.kvs = append(f.kvs, KV{Key: key, Type: ValueType(t), Value: v})
	}
	f.Alignment = DefaultAlignment
	if v, ok := f.KV(KeyAlignment); ok {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("%s must be a power-of-two UINT32, got %v (%T)", KeyAlignment, v, v)
		}
		f.Alignment = int64(a)
	}
	f.tensors = make([]TensorInfo, 0, nTensors)
	var next int64
	for i := uint64(0); i < nTensors; i++ {
		t, err := d.tensorInfo()
		if err != nil {
			return fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		if t.Offset != next {
			return fmt.Errorf("tensor %q: data offset %d, expected %d (tensors must be packed in order, each padded to %d)", t.Name, t.Offset, next, f.Alignment)
		}
		next += pad(t.Size, f.Alignment)
		f.tensorIndex[t.Name] = len(f.tensors)
		f.tensors = append(f.tensors, t)
	}
	f.DataOffset = pad(d.pos, f.Alignment)
	for _, t := range f.tensors {
		if end := f.DataOffset + t.Offset + t.Size; end > d.size || end < 0 {
			return fmt.Errorf("%w: tensor %q ends at offset %d, beyond the end of the file (%d bytes)", errTruncated, t.Name, end, d.size)
		}
	}
	return nil
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	name, err := d.str()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("name: %w", err)
	}
	if len(name) > MaxNameLen {
		return TensorInfo{}, fmt.Errorf("name %q is %d bytes, at most %d allowed", name, len(name), MaxNameLen)
	}
	nDims, err := d.u32()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if nDims > MaxDims {
		return TensorInfo{}, fmt.Errorf("tensor %q: %d dims, at most %d allowed", name, nDims, MaxDims)
	}
	t := TensorInfo{Name: name, Dims: make([]uint64, nDims)}
	for i := range t.Dims {
		if t.Dims[i], err = d.u64(); err != nil {
			return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	typ, err := d.u32()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	t.Type = GGMLType(typ)
	off, err := d.u64()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if off > math.MaxInt64/2 {
		return TensorInfo{}, fmt.Errorf("tensor %q: offset %d out of range", name, off)
	}
	t.Offset = int64(off)
	if _, t.Size, err = tensorShape(t.Dims, t.Type); err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	return t, nil
}

func (d *decoder) value(t ValueType) (any, error) {
	if t == TypeArray {
		return d.array()
	}
	return d.scalar(t)
}

func (d *decoder) scalar(t ValueType) (any, error) {
	switch t {
	case TypeUint8:
		return d.u8()
	case TypeInt8:
		v, err := d.u8()
		return int8(v), err
	case TypeUint16:
		return d.u16()
	case TypeInt16:
		v, err := d.u16()
		return int16(v), err
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		v, err := d.u32()
		return int32(v), err
	case TypeFloat32:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case TypeBool:
		v, err := d.u8()
		return v != 0, err
	case TypeString:
		return d.str()
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		v, err := d.u64()
		return int64(v), err
	case TypeFloat64:
		v, err := d.u64()
		return math.Float64frombits(v), err
	}
	return nil, fmt.Errorf("unknown value type %d at offset %d", uint32(t), d.pos-4)
}

func (d *decoder) array() (any, error) {
	et, err := d.u32()
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	n, err := d.u64()
	if err != nil {
		return nil, err
	}
	minSize := int64(elem.fixedSize())
	switch {
	case elem == TypeString:
		minSize = 8
	case elem == TypeArray:
		return nil, fmt.Errorf("arrays of arrays are not supported")
	case minSize == 0:
		return nil, fmt.Errorf("unknown array element type %d at offset %d", et, d.pos-12)
	}
	if n > uint64(d.remaining()/minSize) {
		return nil, fmt.Errorf("%w: array of %d %s at offset %d, only %d bytes left", errTruncated, n, elem, d.pos-8, d.remaining())
	}
	switch elem {
	case TypeUint8:
		b := make([]byte, n)
		return b, d.full(b)
	case TypeInt8:
		return readArray(d, n, func(v uint8) int8 { return int8(v) }, (*decoder).u8)
	case TypeUint16:
		return readArray(d, n, func(v uint16) uint16 { return v }, (*decoder).u16)
	case TypeInt16:
		return readArray(d, n, func(v uint16) int16 { return int16(v) }, (*decoder).u16)
	case TypeUint32:
		return readArray(d, n, func(v uint32) uint32 { return v }, (*decoder).u32)
	case TypeInt32:
		return readArray(d, n, func(v uint32) int32 { return int32(v) }, (*decoder).u32)
	case TypeFloat32:
		return readArray(d, n, math.Float32frombits, (*decoder).u32)
	case TypeBool:
		return readArray(d, n, func(v uint8) bool { return v != 0 }, (*decoder).u8)
	case TypeString:
		return readArray(d, n, func(v string) string { return v }, (*decoder).str)
	case TypeUint64:
		return readArray(d, n, func(v uint64) uint64 { return v }, (*decoder).u64)
	case TypeInt64:
		return readArray(d, n, func(v uint64) int64 { return int64(v) }, (*decoder).u64)
	default: // TypeFloat64
		return readArray(d, n, math.Float64frombits, (*decoder).u64)
	}
}

func readArray[R, T any](d *decoder, n uint64, conv func(R) T, read func(*decoder) (R, error)) ([]T, error) {
	out := make([]T, n)
	for i := range out {
		v, err := read(d)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = conv(v)
	}
	return out, nil
}
