package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BF16ToFloat32 widens a bfloat16 bit pattern: the bits become the high half
// of a float32.
func BF16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// Float32ToBF16 rounds f to bfloat16 to nearest, ties to even, as PyTorch
// does; every NaN becomes the quiet NaN 0x7FC0.
func Float32ToBF16(f float32) uint16 {
	bits := math.Float32bits(f)
	if f != f {
		return 0x7FC0
	}
	bias := uint32(0x7FFF) + (bits>>16)&1
	return uint16((bits + bias) >> 16)
}

// F16ToFloat32 widens an IEEE 754 half-precision bit pattern exactly.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h & 0x3FF)
	switch {
	case exp == 0x1F: // infinity or NaN
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: renormalise the mantissa.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3FF)<<13)
}

// Float32ToF16 rounds f to IEEE 754 half precision, to nearest, ties to
// even; values beyond the half range become infinities and NaNs stay NaN.
func Float32ToF16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int32(bits>>23) & 0xFF
	mant := bits & 0x7FFFFF
	if exp == 0xFF {
		if mant != 0 {
			return sign | 0x7E00
		}
		return sign | 0x7C00
	}
	e := exp - 127 + 15
	if e >= 0x1F {
		return sign | 0x7C00
	}
	if e <= 0 {
		// Subnormal half (or zero): shift the full significand into place.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rem := m & (1<<shift - 1)
		q := m >> shift
		if rem > half || rem == half && q&1 == 1 {
			q++
		}
		return sign | uint16(q)
	}
	q := uint32(e)<<10 | mant>>13
	rem := mant & 0x1FFF
	if rem > 0x1000 || rem == 0x1000 && q&1 == 1 {
		q++ // may carry into the exponent, up to infinity: still correct
	}
	return sign | uint16(q)
}

// Float32 decodes a floating-point tensor (F32, F16, BF16 or F64) into a new
// float32 slice. F64 values are rounded to float32.
func (t Tensor) Float32() ([]float32, error) {
	n, err := t.checkLen()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if err := t.Float32Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeFloats decodes len(out) values of dtype (F32, F16, BF16 or F64)
// from d, which must hold at least as many: a tensor's data a slice at a
// time, without a float32 copy of the whole tensor.
func DecodeFloats(out []float32, d []byte, dtype string) error {
	if size, ok := itemSizes[dtype]; !ok || len(d) < len(out)*size {
		return fmt.Errorf("safetensors: %d bytes of %s do not hold %d values", len(d), dtype, len(out))
	}
	if !decodeFloats(out, d, dtype) {
		return fmt.Errorf("safetensors: dtype %s is not floating point", dtype)
	}
	return nil
}

// Float32Into is Float32 into out, which must hold exactly the tensor's
// values: for storage the caller allocates (see ops.Arena).
func (t Tensor) Float32Into(out []float32) error {
	n, err := t.checkLen()
	if err != nil {
		return err
	}
	if len(out) != n {
		return fmt.Errorf("safetensors: tensor %q: %d values, %d given to hold them", t.Name, n, len(out))
	}
	if !decodeFloats(out, t.Data, t.DType) {
		return fmt.Errorf("safetensors: tensor %q: dtype %s is not floating point", t.Name, t.DType)
	}
	return nil
}

// decodeFloats decodes len(out) values of dtype from d, reporting false for
// a dtype that is not floating point.
func decodeFloats(out []float32, d []byte, dtype string) bool {
	switch dtype {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = F16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	default:
		return false
	}
	return true
}

// BF16 returns the tensor as bfloat16 bit patterns: BF16 data is copied, F32,
// F16 and F64 values are rounded to nearest even (F64 through float32). Other
// dtypes are decoded a block at a time, so that no float32 copy of the whole
// tensor is made: loading an F32 checkpoint into bfloat16 storage holds the
// mapped tensor and its bfloat16 result, nothing more.
func (t Tensor) BF16() ([]uint16, error) {
	n, err := t.checkLen()
	if err != nil {
		return nil, err
	}
	out := make([]uint16, n)
	if err := t.BF16Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// BF16Into is BF16 into out, which must hold exactly the tensor's values.
func (t Tensor) BF16Into(out []uint16) error {
	n, err := t.checkLen()
	if err != nil {
		return err
	}
	if len(out) != n {
		return fmt.Errorf("safetensors: tensor %q: %d values, %d given to hold them", t.Name, n, len(out))
	}
	if t.DType == "BF16" {
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
		}
		return nil
	}
	size := itemSizes[t.DType]
	buf := make([]float32, min(n, 1<<16))
	for lo := 0; lo < n; lo += len(buf) {
		blk := buf[:min(len(buf), n-lo)]
		if !decodeFloats(blk, t.Data[lo*size:], t.DType) {
			return fmt.Errorf("safetensors: tensor %q: dtype %s is not floating point", t.Name, t.DType)
		}
		for i, v := range blk {
			out[lo+i] = Float32ToBF16(v)
		}
	}
	return nil
}

// checkLen returns the element count after checking that Data matches the
// shape and dtype.
func (t Tensor) checkLen() (int, error) {
	size, ok := itemSizes[t.DType]
	if !ok {
		return 0, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", t.Name, t.DType)
	}
	n := t.NumElements()
	if n < 0 || len(t.Data) != n*size {
		return 0, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
	}
	return n, nil
}

// FromFloat32 builds an F32 tensor from v. It panics when len(v) does not
// match shape, a programmer error.
func FromFloat32(name string, shape []int, v []float32) Tensor {
	checkShape(name, shape, len(v))
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: "F32", Shape: append([]int{}, shape...), Data: data}
}

// FromBF16 builds a BF16 tensor from bfloat16 bit patterns. It panics when
// len(v) does not match shape.
func FromBF16(name string, shape []int, v []uint16) Tensor {
	return from16(name, "BF16", shape, v)
}

// FromF16 builds an F16 tensor from half-precision bit patterns. It panics
// when len(v) does not match shape.
func FromF16(name string, shape []int, v []uint16) Tensor {
	return from16(name, "F16", shape, v)
}

func from16(name, dtype string, shape []int, v []uint16) Tensor {
	checkShape(name, shape, len(v))
	data := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(data[2*i:], x)
	}
	return Tensor{Name: name, DType: dtype, Shape: append([]int{}, shape...), Data: data}
}

func checkShape(name string, shape []int, n int) {
	p := 1
	for _, d := range shape {
		p *= d
	}
	if p != n {
		panic(fmt.Sprintf("safetensors: tensor %q: shape %v holds %d values, got %d", name, shape, p, n))
	}
}
