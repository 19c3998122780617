// Package safetensors reads and writes the safetensors tensor format used by
// Hugging Face checkpoints: an 8-byte little-endian header length N, N bytes
// of JSON describing every tensor (dtype, shape, data_offsets), then the raw
// little-endian, row-major tensor bytes, contiguous and without gaps.
//
// Files are memory-mapped read-only, so opening a multi-gigabyte checkpoint
// costs no copy; a Tensor's Data aliases the mapping until Close.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"sort"
	"unicode/utf8"
	"unsafe"
)

// MaxHeaderSize is the largest header accepted, the limit of the reference
// Rust implementation.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding free-form string metadata.
const metadataKey = "__metadata__"

// Tensor is one named tensor: its dtype name as written in the header
// ("F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"),
// its shape (row-major) and its little-endian bytes.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// itemSizes maps every supported dtype to its size in bytes.
var itemSizes = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U8": 1, "BOOL": 1,
}

// ItemSize returns the size in bytes of one element of dtype, and false when
// the dtype is not supported.
func ItemSize(dtype string) (int, bool) {
	n, ok := itemSizes[dtype]
	return n, ok
}

// NumElements returns the product of shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is one parsed safetensors file. Tensors returned by a File alias its
// bytes, which for a File from Open are a read-only memory mapping.
type File struct {
	name     string
	mapped   []byte // the whole mapping when opened with Open, nil after Close
	tensors  map[string]Tensor
	names    []string
	metadata map[string]string
}

// Open memory-maps the file at path read-only and validates its header
// fully. Close releases the mapping.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, shorter than the 8-byte header length", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: file too large to map (%d bytes)", path, size)
	}
	data, err := mmapFile(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: mmap: %w", path, err)
	}
	f, err := parse(data, path)
	if err != nil {
		_ = munmap(data)
		return nil, err
	}
	f.mapped = data
	return f, nil
}

// Parse validates an in-memory safetensors file exactly as Open does. The
// returned tensors alias data.
func Parse(data []byte) (*File, error) {
	return parse(data, "<memory>")
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	return append([]string(nil), f.names...)
}

// Tensor returns the named tensor. Its Data aliases the file and stays valid
// until Close.
func (f *File) Tensor(name string) (Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Metadata returns a copy of the header's "__metadata__" strings (empty when
// the file has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// Path returns the path the file was opened from ("<memory>" for Parse).
func (f *File) Path() string { return f.name }

// Close releases the memory mapping. Tensors obtained earlier must not be
// used afterwards. Closing twice, or closing a parsed in-memory file, is a
// no-op.
func (f *File) Close() error {
	if f.mapped == nil {
		return nil
	}
	err := munmap(f.mapped)
	f.mapped = nil
	f.tensors = nil
	if err != nil {
		return fmt.Errorf("safetensors: %s: munmap: %w", f.name, err)
	}
	return nil
}

// headerEntry is one tensor description in the JSON header. Pointers tell a
// missing field from a zero one.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// parse validates data as a complete safetensors file; name is used in errors.
func parse(data []byte, name string) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(data) < 8 {
		return nil, fail("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the limit of %d", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fail("header length %d exceeds the %d bytes after it", n, len(data)-8)
	}
	header := data[8 : 8+n]
	body := data[8+n:]
	if len(header) == 0 || header[0] != '{' {
		return nil, fail("header does not start with '{'")
	}
	if !utf8.Valid(header) {
		return nil, fail("header is not valid UTF-8")
	}
	entries, order, metadata, err := decodeHeader(header)
	if err != nil {
		return nil, fail("header: %v", err)
	}

	type span struct {
		name       string
		begin, end uint64
	}
	spans := make([]span, 0, len(order))
	f := &File{name: name, tensors: make(map[string]Tensor, len(order)), metadata: metadata}
	for _, tname := range order {
		e := entries[tname]
		if e.DType == nil {
			return nil, fail("tensor %q: missing \"dtype\"", tname)
		}
		if e.Shape == nil {
			return nil, fail("tensor %q: missing \"shape\"", tname)
		}
		if e.DataOffsets == nil {
			return nil, fail("tensor %q: missing \"data_offsets\"", tname)
		}
		size, ok := itemSizes[*e.DType]
		if !ok {
			return nil, fail("tensor %q: unsupported dtype %q", tname, *e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fail("tensor %q: data_offsets has %d values, want 2", tname, len(e.DataOffsets))
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if end < begin {
			return nil, fail("tensor %q: data_offsets [%d, %d] end before begin", tname, begin, end)
		}
		if end > uint64(len(body)) {
			return nil, fail("tensor %q: data_offsets [%d, %d] beyond the %d data bytes", tname, begin, end, len(body))
		}
		shape := make([]int, len(e.Shape))
		elems := uint64(1)
		for i, d := range e.Shape {
			hi, lo := bits.Mul64(elems, d)
			if hi != 0 || lo > math.MaxInt/8 {
				return nil, fail("tensor %q: shape %v overflows", tname, e.Shape)
			}
			shape[i] = int(d)
			elems = lo
		}
		bytesWant := elems * uint64(size)
		if bytesWant != end-begin {
			return nil, fail("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d",
				tname, e.Shape, *e.DType, bytesWant, begin, end, end-begin)
		}
		spans = append(spans, span{tname, begin, end})
		f.tensors[tname] = Tensor{Name: tname, DType: *e.DType, Shape: shape, Data: body[begin:end:end]}
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var next uint64
	for _, s := range spans {
		if s.begin != next {
			if s.begin < next {
				return nil, fail("tensor %q: data_offsets [%d, %d] overlap the previous tensor ending at %d", s.name, s.begin, s.end, next)
			}
			return nil, fail("tensor %q: data_offsets [%d, %d] leave a gap after offset %d", s.name, s.begin, s.end, next)
		}
		next = s.end
	}
	if next != uint64(len(body)) {
		return nil, fail("tensor data ends at %d but the file has %d data bytes", next, len(body))
	}
	f.names = make([]string, 0, len(f.tensors))
	for k := range f.tensors {
		f.names = append(f.names, k)
	}
	sort.Strings(f.names)
	return f, nil
}

// decodeHeader decodes the header object key by key so that duplicate names
// are caught (encoding/json silently keeps the last), returning the entries,
// the names in header order and the metadata.
func decodeHeader(header []byte) (map[string]headerEntry, []string, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, nil, errors.New("not a JSON object")
	}
	entries := map[string]headerEntry{}
	var order []string
	metadata := map[string]string{}
	seenMetadata := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, nil, fmt.Errorf("unexpected token %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, nil, fmt.Errorf("%q: %v", key, err)
		}
		if key == metadataKey {
			if seenMetadata {
				return nil, nil, nil, fmt.Errorf("duplicate %q", metadataKey)
			}
			seenMetadata = true
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, nil, nil, fmt.Errorf("%q: must map strings to strings: %v", metadataKey, err)
			}
			for k, v := range m {
				metadata[k] = v
			}
			continue
		}
		if _, dup := entries[key]; dup {
			return nil, nil, nil, fmt.Errorf("duplicate tensor name %q", key)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, nil, nil, fmt.Errorf("tensor %q: description is not an object", key)
		}
		var e headerEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, nil, nil, fmt.Errorf("tensor %q: %v", key, err)
		}
		entries[key] = e
		order = append(order, key)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, nil, err
	}
	if len(bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, nil, nil, errors.New("trailing data after the JSON object")
	}
	return entries, order, metadata, nil
}

// Release tells the kernel that the named tensor's bytes will not be read
// again soon, so their pages leave the process's resident set (the data
// stays valid: a later read faults it back in from the file). Loaders call
// it after converting each tensor, so a checkpoint is never resident twice
// (once mapped, once converted). It does nothing for a File from Parse.
func (f *File) Release(name string) {
	t, ok := f.tensors[name]
	if !ok || f.mapped == nil || len(t.Data) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(&f.mapped[0]))
	begin := uintptr(unsafe.Pointer(&t.Data[0])) - base
	end := begin + uintptr(len(t.Data))
	// Round outward to whole pages: the mapping is read-only and backed by
	// the file, so dropping a neighbour's page only costs it a re-read.
	begin -= begin % page
	end = min(uintptr(len(f.mapped)), (end+page-1)/page*page)
	dropPages(f.mapped[begin:end])
}
