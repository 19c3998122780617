package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Q8_0 block layout: an f16 scale d followed by 32 int8 quants.
const (
	q8Block = 32
	q8Bytes = 2 + q8Block
)

// Float32ToFloat16 converts f to IEEE 754 half precision, rounding to nearest
// with ties to even; values beyond the half range become ±Inf, tiny values
// become subnormals or ±0, and NaN stays NaN (quiet).
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff:
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	case exp > 127+15:
		return sign | 0x7c00
	case exp >= 127-14:
		// Normal half: keep 10 mantissa bits and round on the 13 dropped.
		// A carry out of the mantissa correctly bumps the exponent, up to
		// Inf for values from 65520.
		h := uint32(exp-127+15)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	case exp < 127-25:
		// Below half of the smallest subnormal (2^-25): rounds to zero.
		return sign
	default:
		// Subnormal half: value = m·2^-24 with m = full·2^(exp-126-23+24).
		full := mant | 0x800000
		shift := uint(126 - exp)
		h := full >> shift
		rest := full & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || rest == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
}

// Float16ToFloat32 converts an IEEE 754 half to float32 exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToBFloat16 converts f to bfloat16 rounding to nearest even, NaN kept
// quiet, as gguf-py and ggml do.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BFloat16ToFloat32 converts a bfloat16 to float32 exactly.
func BFloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// QuantizeQ8_0 encodes src, whose length must be a multiple of 32 (it panics
// otherwise), as Q8_0 blocks the way llama.cpp does: for each block of 32,
// d = max|x|/127 computed in float32 and stored as f16, then
// q = round-half-away-from-zero(x·(1/d)) with 1/d in float32 (all q are 0 when
// max|x| is 0).
func QuantizeQ8_0(src []float32) []byte {
	if len(src)%q8Block != 0 {
		panic(fmt.Sprintf("gguf: QuantizeQ8_0: length %d is not a multiple of %d", len(src), q8Block))
	}
	out := make([]byte, len(src)/q8Block*q8Bytes)
	for b := 0; b < len(src)/q8Block; b++ {
		x := src[b*q8Block : (b+1)*q8Block]
		o := out[b*q8Bytes : (b+1)*q8Bytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := float32(amax / 127)
		var id float32
		if d != 0 {
			id = float32(1 / d)
		}
		binary.LittleEndian.PutUint16(o, Float32ToFloat16(d))
		for j, v := range x {
			// The explicit conversion keeps the product in float32.
			o[2+j] = byte(int8(math.Round(float64(float32(v * id)))))
		}
	}
	return out
}

// DequantizeQ8_0 decodes Q8_0 blocks (34 bytes each; it panics on a partial
// block): x = q · f16(d).
func DequantizeQ8_0(src []byte) []float32 {
	if len(src)%q8Bytes != 0 {
		panic(fmt.Sprintf("gguf: DequantizeQ8_0: length %d is not a multiple of %d", len(src), q8Bytes))
	}
	out := make([]float32, len(src)/q8Bytes*q8Block)
	for b := 0; b < len(src)/q8Bytes; b++ {
		blk := src[b*q8Bytes:]
		d := Float16ToFloat32(binary.LittleEndian.Uint16(blk))
		for j := 0; j < q8Block; j++ {
			out[b*q8Block+j] = float32(int8(blk[2+j])) * d
		}
	}
	return out
}

// Encode converts float32 values to the encoding of typ (F32, F16, BF16 or
// Q8_0; for Q8_0 the length must be a multiple of 32).
func Encode(src []float32, typ GGMLType) ([]byte, error) {
	switch typ {
	case F32:
		out := make([]byte, 4*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	case F16, BF16:
		conv := Float32ToFloat16
		if typ == BF16 {
			conv = Float32ToBFloat16
		}
		out := make([]byte, 2*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], conv(v))
		}
		return out, nil
	case Q8_0:
		if len(src)%q8Block != 0 {
			return nil, fmt.Errorf("gguf: Q8_0 needs a multiple of %d values, got %d", q8Block, len(src))
		}
		return QuantizeQ8_0(src), nil
	}
	return nil, fmt.Errorf("gguf: encoding %s is not supported", typ)
}

// Decode converts data encoded as typ (F32, F16, BF16 or Q8_0) to float32.
func Decode(data []byte, typ GGMLType) ([]float32, error) {
	tr, ok := typeTraits[typ]
	if !ok || len(data)%int(tr.bytesBlock) != 0 {
		return nil, fmt.Errorf("gguf: %d bytes are not whole %s blocks", len(data), typ)
	}
	switch typ {
	case F32:
		out := make([]float32, len(data)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return out, nil
	case F16, BF16:
		conv := Float16ToFloat32
		if typ == BF16 {
			conv = BFloat16ToFloat32
		}
		out := make([]float32, len(data)/2)
		for i := range out {
			out[i] = conv(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return out, nil
	case Q8_0:
		return DequantizeQ8_0(data), nil
	}
	return nil, fmt.Errorf("gguf: decoding %s is not supported", typ)
}
