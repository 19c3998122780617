package formats

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"qwentune/engine/nn"
	"qwentune/internal/atomicfile"
	"qwentune/model"
	"qwentune/model/safetensors"
	"qwentune/model/tokenizer"
)

// DefaultMaxShardSize is save_pretrained's default max_shard_size.
const DefaultMaxShardSize = "5GB"

// HFOptions says how WriteHF stores the weights.
type HFOptions struct {
	// DType is F32, F16 or BF16 (Q8_0 has no safetensors form).
	DType Encoding
	// MaxShardBytes splits the weights into shards of at most this many
	// bytes (a larger single tensor gets a shard of its own); ≤ 0 means one
	// file.
	MaxShardBytes int64
	// Adapter, when set, is merged into the weights as they are written
	// (W' = W + scale·B·A).
	Adapter *nn.Adapter
}

// shard is one safetensors file of a sharded checkpoint.
type shard struct {
	tensors []nn.Tensor
	bytes   int64
}

// planShards splits tensors (in state-dict order) the way huggingface_hub's
// split_state_dict_into_shards does: a tensor larger than the limit gets a
// shard of its own at once; otherwise a new shard starts when the next
// tensor would tip the current one over the limit.
func planShards(ts []nn.Tensor, size func(nn.Tensor) int64, limit int64) []shard {
	var out []shard
	var cur shard
	for _, t := range ts {
		n := size(t)
		if limit > 0 && n > limit {
			out = append(out, shard{tensors: []nn.Tensor{t}, bytes: n})
			continue
		}
		if limit > 0 && cur.bytes+n > limit && len(cur.tensors) > 0 {
			out = append(out, cur)
			cur = shard{}
		}
		cur.tensors = append(cur.tensors, t)
		cur.bytes += n
	}
	if len(cur.tensors) > 0 {
		out = append(out, cur)
	}
	return out
}

// numel is the number of values of a tensor.
func numel(t nn.Tensor) int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// hfOrder sorts tensors into the order of Qwen2ForCausalLM.state_dict(),
// which decides where save_pretrained cuts shards (model.Arch.StateDictOrder).
func hfOrder(m *nn.Model, ts []nn.Tensor) []nn.Tensor {
	specs := make([]model.Weight, len(ts))
	for i, t := range ts {
		specs[i] = t.Spec
	}
	out := make([]nn.Tensor, 0, len(ts))
	for _, i := range m.Config.Arch().StateDictOrder(specs) {
		out = append(out, ts[i])
	}
	return out
}

// WriteHF writes m as a Hugging Face Qwen2 folder in dir (created if
// needed): config.json (torch_dtype set to the stored dtype),
// generation_config.json, the tokenizer files, and the weights as
// model.safetensors or, when larger than o.MaxShardBytes,
// model-0000i-of-0000N.safetensors shards with model.safetensors.index.json.
// Tied embeddings are saved once, as save_pretrained does. Progress counts
// the weight bytes written; cancelling ctx stops between row blocks and
// leaves no partial file.
func WriteHF(ctx context.Context, dir string, m *nn.Model, gen model.GenerationConfig, tok *tokenizer.Tokenizer, o HFOptions, progress Progress) error {
	var st string
	var item int64
	switch o.DType {
	case F32:
		st, item = "F32", 4
	case F16:
		st, item = "F16", 2
	case BF16:
		st, item = "BF16", 2
	default:
		return fmt.Errorf("export: a Hugging Face folder stores f32, f16 or bf16, not %s", o.DType)
	}
	if err := checkAdapter(m, o.Adapter); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := hfOrder(m, m.Tensors())
	size := func(t nn.Tensor) int64 { return numel(t) * item }
	shards := planShards(ts, size, o.MaxShardBytes)
	var total int64
	for _, t := range ts {
		total += size(t)
	}
	mt := newMeter(ctx, total, progress)
	idx := safetensors.Index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	names := make([]string, len(shards))
	for i, sh := range shards {
		names[i] = safetensors.SingleName
		if len(shards) > 1 {
			names[i] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
		specs := make([]safetensors.Spec, len(sh.tensors))
		byName := map[string]nn.Tensor{}
		for j, t := range sh.tensors {
			specs[j] = safetensors.Spec{Name: t.Name, DType: st, Shape: t.Shape}
			byName[t.Name] = t
			idx.WeightMap[t.Name] = names[i]
		}
		err := safetensors.Stream(filepath.Join(dir, names[i]), specs, map[string]string{"format": "pt"},
			func(name string, w io.Writer) error {
				return writeSafetensorsData(w, byName[name], o.Adapter, o.DType, mt)
			})
		if err != nil {
			return err
		}
	}
	if len(shards) > 1 {
		if err := atomicfile.WriteJSON(filepath.Join(dir, safetensors.IndexName), idx); err != nil {
			return err
		}
	} else {
		// A single file replaces an index left by an earlier, sharded export.
		os.Remove(filepath.Join(dir, safetensors.IndexName))
	}
	cfg := m.Config
	cfg.TorchDType = o.DType.TorchDType()
	if err := atomicfile.WriteJSON(filepath.Join(dir, model.ConfigName), cfg); err != nil {
		return err
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, model.GenerationConfigName), gen); err != nil {
		return err
	}
	return tok.SaveFiles(dir)
}

// writeSafetensorsData streams one tensor's little-endian values.
func writeSafetensorsData(w io.Writer, t nn.Tensor, a *nn.Adapter, e Encoding, m *meter) error {
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
		case F16:
			for _, v := range row {
				dst = binary.LittleEndian.AppendUint16(dst, safetensors.Float32ToF16(v))
			}
		}
		return dst
	}
	return src.stream(w, enc, m, t.Name)
}
