// Package gguf reads and writes GGUF files, the single-file model format of
// llama.cpp and Ollama.
//
// A GGUF file is, little-endian: the magic "GGUF", a u32 version (3), a u64
// tensor count, a u64 metadata count, the metadata key/value pairs, the tensor
// infos (name, dims innermost first, ggml type, offset), zero padding up to
// general.alignment (32 by default), then the tensor data, each tensor starting
// at its offset from the data start and padded to the alignment.
//
// The package is format-level: it knows value types, ggml tensor types, the
// Q8_0, F16 and BF16 encodings and the checks llama.cpp applies when loading,
// but nothing about a particular architecture: tensor names come from the
// architecture table (model.Arch, Weight.GGUFName).
package gguf

import (
	"fmt"
	"math/bits"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// Version is the GGUF version written by Writer. Parse accepts 2 and 3, which
// share the same layout.
const Version = 3

// DefaultAlignment is the data alignment used when a file does not set
// general.alignment, and the one Writer uses unless told otherwise.
const DefaultAlignment = 32

// MaxNameLen bounds tensor names: llama.cpp refuses names of 64 bytes or more
// (GGML_MAX_NAME includes the terminating NUL).
const MaxNameLen = 63

// MaxDims is the largest number of dimensions a ggml tensor can have.
const MaxDims = 4

// KeyAlignment is the metadata key that sets the data alignment.
const KeyAlignment = "general.alignment"

// ValueType is the on-disk type tag of a metadata value.
type ValueType uint32

// The metadata value types of the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"}

// String returns the specification's name of the type, e.g. "UINT32".
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// fixedSize returns the encoded size of a scalar of type t, or 0 for strings,
// arrays and unknown types.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// Metadata values are written and read as these Go types (scalars) and as
// slices of them (arrays). The aliases make the intended GGUF type explicit at
// the call site, e.g. w.AddKV("qwen2.block_count", gguf.Uint32(24)).
type (
	// Uint8 is a GGUF UINT8 value.
	Uint8 = uint8
	// Int8 is a GGUF INT8 value.
	Int8 = int8
	// Uint16 is a GGUF UINT16 value.
	Uint16 = uint16
	// Int16 is a GGUF INT16 value.
	Int16 = int16
	// Uint32 is a GGUF UINT32 value.
	Uint32 = uint32
	// Int32 is a GGUF INT32 value.
	Int32 = int32
	// Float32 is a GGUF FLOAT32 value.
	Float32 = float32
	// Bool is a GGUF BOOL value.
	Bool = bool
	// String is a GGUF STRING value (UTF-8).
	String = string
	// Uint64 is a GGUF UINT64 value.
	Uint64 = uint64
	// Int64 is a GGUF INT64 value.
	Int64 = int64
	// Float64 is a GGUF FLOAT64 value.
	Float64 = float64
)

// GGMLType is the ggml tensor type of a tensor's data.
type GGMLType uint32

// The ggml tensor types. Writer and TensorFloat32 handle F32, F16, Q8_0 and
// BF16; the others are known so that Parse can size and report the tensors of
// files quantised by llama.cpp.
const (
	F32     GGMLType = 0
	F16     GGMLType = 1
	Q4_0    GGMLType = 2
	Q4_1    GGMLType = 3
	Q5_0    GGMLType = 6
	Q5_1    GGMLType = 7
	Q8_0    GGMLType = 8
	Q8_1    GGMLType = 9
	Q2_K    GGMLType = 10
	Q3_K    GGMLType = 11
	Q4_K    GGMLType = 12
	Q5_K    GGMLType = 13
	Q6_K    GGMLType = 14
	Q8_K    GGMLType = 15
	IQ2_XXS GGMLType = 16
	IQ2_XS  GGMLType = 17
	IQ3_XXS GGMLType = 18
	IQ1_S   GGMLType = 19
	IQ4_NL  GGMLType = 20
	IQ3_S   GGMLType = 21
	IQ2_S   GGMLType = 22
	IQ4_XS  GGMLType = 23
	I8      GGMLType = 24
	I16     GGMLType = 25
	I32     GGMLType = 26
	I64     GGMLType = 27
	F64     GGMLType = 28
	IQ1_M   GGMLType = 29
	BF16    GGMLType = 30
	TQ1_0   GGMLType = 34
	TQ2_0   GGMLType = 35
	MXFP4   GGMLType = 39
)

// typeTrait is a ggml type's name, elements per block and bytes per block, as
// in ggml's type_traits and gguf-py's GGML_QUANT_SIZES.
type typeTrait struct {
	name       string
	blockSize  int64
	bytesBlock int64
}

var typeTraits = map[GGMLType]typeTrait{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20},
	Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24}, Q8_0: {"Q8_0", 32, 34}, Q8_1: {"Q8_1", 32, 40},
	Q2_K: {"Q2_K", 256, 84}, Q3_K: {"Q3_K", 256, 110}, Q4_K: {"Q4_K", 256, 144}, Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210}, Q8_K: {"Q8_K", 256, 292}, IQ2_XXS: {"IQ2_XXS", 256, 66}, IQ2_XS: {"IQ2_XS", 256, 74},
	IQ3_XXS: {"IQ3_XXS", 256, 98}, IQ1_S: {"IQ1_S", 256, 50}, IQ4_NL: {"IQ4_NL", 32, 18}, IQ3_S: {"IQ3_S", 256, 110},
	IQ2_S: {"IQ2_S", 256, 82}, IQ4_XS: {"IQ4_XS", 256, 136}, I8: {"I8", 1, 1}, I16: {"I16", 1, 2},
	I32: {"I32", 1, 4}, I64: {"I64", 1, 8}, F64: {"F64", 1, 8}, IQ1_M: {"IQ1_M", 256, 56},
	BF16: {"BF16", 1, 2}, TQ1_0: {"TQ1_0", 256, 54}, TQ2_0: {"TQ2_0", 256, 66}, MXFP4: {"MXFP4", 32, 17},
}

// String returns ggml's name of the type, e.g. "Q8_0".
func (t GGMLType) String() string {
	if tr, ok := typeTraits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// Known reports whether t is a ggml type this package can size.
func (t GGMLType) Known() bool {
	_, ok := typeTraits[t]
	return ok
}

// BlockSize returns the number of elements in one block of t (1 for plain
// types, 32 for Q8_0), or 0 for an unknown type.
func (t GGMLType) BlockSize() int64 { return typeTraits[t].blockSize }

// BlockBytes returns the encoded size of one block of t, or 0 for an unknown
// type.
func (t GGMLType) BlockBytes() int64 { return typeTraits[t].bytesBlock }

// File types for general.file_type: llama.cpp's llama_ftype, which is its own
// enumeration and not the tensor type.
const (
	FileTypeF32  uint32 = 0
	FileTypeF16  uint32 = 1
	FileTypeQ8_0 uint32 = 7
	FileTypeBF16 uint32 = 32
)

// tensorShape validates dims for a tensor of type typ and returns its element
// count and byte size. It applies llama.cpp's checks: at most MaxDims
// dimensions, no overflow of int64, innermost dimension a multiple of the
// block size.
func tensorShape(dims []uint64, typ GGMLType) (elems, size int64, err error) {
	if len(dims) > MaxDims {
		return 0, 0, fmt.Errorf("%d dims, at most %d allowed", len(dims), MaxDims)
	}
	tr, ok := typeTraits[typ]
	if !ok {
		return 0, 0, fmt.Errorf("unknown ggml type %d", uint32(typ))
	}
	var n uint64 = 1
	for i, d := range dims {
		if d > 1<<62 {
			return 0, 0, fmt.Errorf("dim %d is %d, too large", i, d)
		}
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > 1<<62 {
			return 0, 0, fmt.Errorf("dims %v overflow", dims)
		}
		n = lo
	}
	if len(dims) > 0 && dims[0]%uint64(tr.blockSize) != 0 {
		return 0, 0, fmt.Errorf("innermost dim %d is not a multiple of the %s block size %d", dims[0], tr.name, tr.blockSize)
	}
	blocks := int64(n) / tr.blockSize
	if blocks > (1<<62)/tr.bytesBlock {
		return 0, 0, fmt.Errorf("dims %v overflow", dims)
	}
	return int64(n), blocks * tr.bytesBlock, nil
}

// pad rounds n up to a multiple of align (a power of two).
func pad(n, align int64) int64 {
	return (n + align - 1) &^ (align - 1)
}

// TensorSize returns the encoded size in bytes of a tensor of type typ with
// dims (innermost first), the size AddTensorFunc expects, or an error for dims
// ggml cannot hold.
func TensorSize(dims []uint64, typ GGMLType) (int64, error) {
	_, size, err := tensorShape(dims, typ)
	return size, err
}
