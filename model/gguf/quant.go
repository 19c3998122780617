package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"qwentune/model/safetensors"
)

// Q8_0 block layout: an f16 scale d followed by 32 int8 quants.
const (
	q8Block = 32
	q8Bytes = 2 + q8Block
)

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
		binary.LittleEndian.PutUint16(o, safetensors.Float32ToF16(d))
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
		d := safetensors.F16ToFloat32(binary.LittleEndian.Uint16(blk))
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
		conv := safetensors.Float32ToF16
		if typ == BF16 {
			conv = safetensors.Float32ToBF16
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
		conv := safetensors.F16ToFloat32
		if typ == BF16 {
			conv = safetensors.BF16ToFloat32
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
