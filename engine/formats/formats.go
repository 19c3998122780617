// Package formats writes what QwenTune loads and trains in the formats other
// tools read: a merged Hugging Face folder (sharded safetensors like
// save_pretrained), GGUF v3 files for llama.cpp and Ollama (the merged model,
// or the LoRA adapter alone) with an Ollama Modelfile, and a ready-to-run
// Hugging Face Trainer job for a GPU machine. It also reads our GGUF files
// back into an nn.Model, so every format has a round trip.
//
// Tensor data is produced one row block at a time while the file is written,
// so a multi-gigabyte model is never held twice; every file is written
// atomically (temporary file, then rename).
package formats

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"qwentune/engine/nn"
	"qwentune/engine/ops"
	"qwentune/engine/progress"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/safetensors"
)

// Progress receives an Export event with the bytes written so far, the
// total expected and what is being written; it may be nil.
type Progress = progress.Func

// meter counts bytes for a Progress and checks for cancellation between
// row blocks.
type meter struct {
	ctx         context.Context
	done, total int64
	fn          Progress
}

func newMeter(ctx context.Context, total int64, fn Progress) *meter {
	if ctx == nil {
		ctx = context.Background()
	}
	return &meter{ctx: ctx, total: total, fn: fn}
}

// add records n more bytes of what and returns the context's error once it
// is cancelled.
func (m *meter) add(n int64, what string) error {
	m.done += n
	m.fn.Emit(progress.Event{Kind: progress.Export, Bytes: &progress.Bytes{What: what, Done: m.done, Total: m.total}})
	return m.ctx.Err()
}

// Encoding is how float32 values are stored in an exported file.
type Encoding int

// The encodings the exporters write.
const (
	F32 Encoding = iota
	F16
	BF16
	Q8_0
)

// ParseEncoding reads a dtype name as the CLI and the app accept it:
// f32/float32, f16/float16, bf16/bfloat16, q8_0.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "f32", "float32", "fp32":
		return F32, nil
	case "f16", "float16", "fp16", "half":
		return F16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "q8_0", "q8":
		return Q8_0, nil
	}
	return 0, fmt.Errorf("dtype %q: want f32, f16, bf16 or q8_0", s)
}

// String is the short name: f32, f16, bf16 or q8_0.
func (e Encoding) String() string {
	return [...]string{"f32", "f16", "bf16", "q8_0"}[e]
}

// TorchDType is the torch_dtype name of a float encoding.
func (e Encoding) TorchDType() string {
	return [...]string{"float32", "float16", "bfloat16", "q8_0"}[e]
}

// rowSource streams a model tensor as float32 rows: a matrix row by row, a
// vector as one row. With a LoRA the rows are merged on the fly,
// W'[o] = W[o] + scale·Σ_r B[o,r]·A[r], so a merged model is never held in
// memory next to the base.
type rowSource struct {
	rows, cols int
	w          *ops.Weight
	vec        []float32
	lora       *nn.LoRA
}

// sourceOf returns the rows of t, merged with the LoRA a puts on it (a may
// be nil). It fails when the LoRA's shapes do not fit the weight.
func sourceOf(t nn.Tensor, a *nn.Adapter) (rowSource, error) {
	if t.Weight == nil {
		return rowSource{rows: 1, cols: len(t.Vector), vec: t.Vector}, nil
	}
	s := rowSource{rows: t.Weight.Rows, cols: t.Weight.Cols, w: t.Weight}
	sp := t.Spec
	if a == nil || sp.Layer < 0 || sp.Bias || sp.Module.Kind != model.LinearKind {
		return s, nil
	}
	s.lora = a.Module(sp.Layer, sp.Module.Name)
	if lo := s.lora; lo != nil && (len(lo.A.Data) != lo.R*s.cols || len(lo.B.Data) != s.rows*lo.R) {
		return s, fmt.Errorf("export: %s: LoRA A %v, B %v do not fit the weight [%d, %d]", t.Name, lo.A.Shape, lo.B.Shape, s.rows, s.cols)
	}
	return s, nil
}

// checkAdapter verifies that every LoRA of a fits a weight of m, and that a
// has no layers m lacks.
func checkAdapter(m *nn.Model, a *nn.Adapter) error {
	if a == nil {
		return nil
	}
	for _, mod := range m.Config.Arch().LinearNames() {
		if a.Module(len(m.Layers), mod) != nil {
			return fmt.Errorf("export: the adapter has more layers than the model's %d", len(m.Layers))
		}
	}
	for _, t := range m.Tensors() {
		if _, err := sourceOf(t, a); err != nil {
			return err
		}
	}
	return nil
}

// row copies row r, merged, into dst (len cols).
func (s rowSource) row(r int, dst []float32) {
	if s.w == nil {
		copy(dst, s.vec)
		return
	}
	s.w.Row(r, dst)
	if lo := s.lora; lo != nil {
		for k := range lo.R {
			c := lo.Scale * lo.B.Data[r*lo.R+k]
			for j, v := range lo.A.Data[k*s.cols : (k+1)*s.cols] {
				dst[j] += c * v
			}
		}
	}
}

// bf16Row returns row r as stored bfloat16 bits when the weight is held in
// bfloat16, so exporting to BF16 copies bits instead of converting twice.
func (s rowSource) bf16Row(r int) ([]uint16, bool) {
	if s.w == nil || s.w.BF16 == nil || s.lora != nil {
		return nil, false
	}
	return s.w.BF16[r*s.cols : (r+1)*s.cols], true
}

// blockRows is how many rows are encoded per write: about 1 MiB of float32.
func (s rowSource) blockRows() int {
	return max(1, (1<<18)/max(1, s.cols))
}

// stream encodes every row with enc and writes the bytes to w, reporting
// each block to m under the name what.
func (s rowSource) stream(w io.Writer, enc func(dst []byte, row []float32, r int) []byte, m *meter, what string) error {
	row := make([]float32, s.cols)
	var buf []byte
	per := s.blockRows()
	for r0 := 0; r0 < s.rows; r0 += per {
		buf = buf[:0]
		for r := r0; r < min(s.rows, r0+per); r++ {
			s.row(r, row)
			buf = enc(buf, row, r)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if err := m.add(int64(len(buf)), what); err != nil {
			return err
		}
	}
	return nil
}

// writeRows streams tensor t, merged with the LoRA a puts on it (a may be
// nil), encoded as e: little-endian F32, F16 or BF16 values (bfloat16
// weights are copied bit for bit), or Q8_0 blocks. The safetensors and GGUF
// writers share it.
func writeRows(w io.Writer, t nn.Tensor, a *nn.Adapter, e Encoding, m *meter, what string) error {
	src, err := sourceOf(t, a)
	if err != nil {
		return err
	}
	enc := func(dst []byte, row []float32, r int) []byte {
		switch e {
		case F32:
			for _, v := range row {
				dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
			}
		case F16:
			for _, v := range row {
				dst = binary.LittleEndian.AppendUint16(dst, safetensors.Float32ToF16(v))
			}
		case BF16:
			if bits, ok := src.bf16Row(r); ok {
				for _, b := range bits {
					dst = binary.LittleEndian.AppendUint16(dst, b)
				}
				return dst
			}
			for _, v := range row {
				dst = binary.LittleEndian.AppendUint16(dst, safetensors.Float32ToBF16(v))
			}
		case Q8_0:
			dst = append(dst, gguf.QuantizeQ8_0(row)...)
		}
		return dst
	}
	return src.stream(w, enc, m, what)
}

// ParseSize reads a shard size like save_pretrained's max_shard_size: a
// number of bytes, or a number with a unit KB, MB, GB, TB (powers of 1000)
// or KiB, MiB, GiB, TiB (powers of 1024), e.g. "5GB" or "500MiB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	upper := strings.ToUpper(t)
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(upper, u.suffix) {
			mult, t = u.mult, strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes with an optional unit KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. \"5GB\")", s)
	}
	return int64(v * mult), nil
}
