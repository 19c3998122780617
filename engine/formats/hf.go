package formats

import (
	"context"
	"fmt"
	"io"

	"qwentune/engine/nn"
	"qwentune/model"
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
	ts := hfOrder(m, m.Tensors())
	specs := make([]model.Weight, len(ts))
	byName := make(map[string]nn.Tensor, len(ts))
	var total int64
	for i, t := range ts {
		specs[i], byName[t.Name] = t.Spec, t
		total += item * int64(t.Spec.Numel())
	}
	mt := newMeter(ctx, total, progress)
	return model.WriteFolder(dir, model.Folder{Config: m.Config, Generation: &gen, Tokenizer: tok, DType: st,
		Weights: specs, MaxShardBytes: o.MaxShardBytes,
		WriteTensor: func(w model.Weight, out io.Writer) error {
			return writeRows(out, byName[w.Name], o.Adapter, o.DType, mt, w.Name)
		}})
}
