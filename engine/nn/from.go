package nn

import (
	"fmt"

	"qwentune/engine/ops"
	"qwentune/model"
)

// TensorData is one checkpoint tensor handed to FromTensors: its float32
// values, or for a matrix its GGUF Q8_0 blocks (row-major [out, in], rows
// of whole 32-value blocks, as ops.Weight.Q8 holds them).
type TensorData struct {
	F32 []float32
	Q8  []byte
}

// FromTensors builds a model with config cfg whose weights are stored as
// dtype ("float32", "bfloat16" or "q8_0"), asking get for each tensor of
// the architecture table in checkpoint order. Q8_0 blocks become a q8_0
// model's weights as they are, without being dequantised and quantised
// again (the point of loading a Q8_0 GGUF file); for the other dtypes
// they are dequantised. Every value and every block scale must be finite.
// FromTensors keeps the slices it is given.
func FromTensors(cfg model.Config, dtype string, get func(w model.Weight) (TensorData, error)) (*Model, error) {
	m, err := newEmpty(cfg, dtype)
	if err != nil {
		return nil, err
	}
	for _, t := range m.tensors() {
		td, err := get(t.Weight)
		if err != nil {
			return nil, err
		}
		if t.vec != nil {
			if td.Q8 != nil || len(td.F32) != t.Numel() {
				return nil, fmt.Errorf("tensor %q: want %d float32 values", t.Name, t.Numel())
			}
			if err := CheckFinite(t.Name, td.F32); err != nil {
				return nil, err
			}
			*t.vec = td.F32
			continue
		}
		rows, cols := t.Shape[0], t.Shape[1]
		f := td.F32
		if td.Q8 != nil {
			if cols%ops.Q8Block != 0 {
				return nil, fmt.Errorf("tensor %q: shape %v: rows of %d values are not whole Q8_0 blocks of %d", t.Name, t.Shape, cols, ops.Q8Block)
			}
			if want := rows * ops.Q8_0Size(cols); len(td.Q8) != want {
				return nil, fmt.Errorf("tensor %q: %d bytes of Q8_0 blocks for shape %v, want %d", t.Name, len(td.Q8), t.Shape, want)
			}
			if err := checkQ8Scales(t.Name, td.Q8); err != nil {
				return nil, err
			}
			if dtype == "q8_0" {
				*t.w = ops.Q8Weight(rows, cols, td.Q8)
				continue
			}
			f = make([]float32, rows*cols)
			ops.DequantizeQ8_0(f, td.Q8)
		} else if len(f) != rows*cols {
			return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.Name, len(f), t.Shape)
		}
		if err := CheckFinite(t.Name, f); err != nil {
			return nil, err
		}
		*t.w = makeWeight(rows, cols, f, dtype)
		if dtype == "q8_0" && t.w.BF16 != nil {
			m.keptBF16 = append(m.keptBF16, t.Name)
		}
	}
	return m, nil
}

// checkQ8Scales refuses Q8_0 blocks whose float16 scale is NaN or ±Inf
// (exponent bits all ones), naming the tensor and the block.
func checkQ8Scales(name string, q []byte) error {
	for b := 0; b < len(q); b += ops.Q8BlockBytes {
		if s := uint16(q[b]) | uint16(q[b+1])<<8; s&0x7c00 == 0x7c00 {
			return fmt.Errorf("tensor %q: Q8_0 block %d has scale bits %#04x (NaN or Inf): a weight must be a finite number", name, b/ops.Q8BlockBytes, s)
		}
	}
	return nil
}
