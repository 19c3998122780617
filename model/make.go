package model

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"

	"qwentune/model/safetensors"
)

// Shapes are the model shapes QwenTune knows by name: the published
// configurations of Qwen2-0.5B and 1.5B, Qwen2.5-0.5B to 7B and Qwen3-0.6B
// to 8B (the Qwen2.5 shapes are the base models'; Instruct differs only in
// eos_token_id), and "tiny" and "tiny-qwen3", two-layer models over the
// 8192-token test tokenizer (whose <|endoftext|> is id 8189) for fast
// tests. Treat the entries as read-only; their slices are shared.
var Shapes = map[string]Config{
	"tiny": {
		Architectures:         []string{Qwen2Architecture},
		ModelType:             Qwen2ModelType,
		VocabSize:             8192,
		HiddenSize:            64,
		IntermediateSize:      176,
		NumHiddenLayers:       2,
		NumAttentionHeads:     4,
		NumKeyValueHeads:      2,
		HeadDim:               16,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: 2048,
		RMSNormEps:            1e-6,
		RopeTheta:             1e6,
		TieWordEmbeddings:     true,
		BOSTokenID:            8189,
		EOSTokenIDs:           []int{8189},
		TorchDType:            "float32",
		SlidingWindow:         2048,
		MaxWindowLayers:       2,
		InitializerRange:      0.02,
	},
	"qwen2-0.5b": {
		Architectures:         []string{Qwen2Architecture},
		ModelType:             Qwen2ModelType,
		VocabSize:             151936,
		HiddenSize:            896,
		IntermediateSize:      4864,
		NumHiddenLayers:       24,
		NumAttentionHeads:     14,
		NumKeyValueHeads:      2,
		HeadDim:               64,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: 131072,
		RMSNormEps:            1e-6,
		RopeTheta:             1e6,
		TieWordEmbeddings:     true,
		BOSTokenID:            151643,
		EOSTokenIDs:           []int{151643},
		TorchDType:            "bfloat16",
		SlidingWindow:         131072,
		MaxWindowLayers:       24,
		InitializerRange:      0.02,
	},
	"qwen2-1.5b": {
		Architectures:         []string{Qwen2Architecture},
		ModelType:             Qwen2ModelType,
		VocabSize:             151936,
		HiddenSize:            1536,
		IntermediateSize:      8960,
		NumHiddenLayers:       28,
		NumAttentionHeads:     12,
		NumKeyValueHeads:      2,
		HeadDim:               128,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: 131072,
		RMSNormEps:            1e-6,
		RopeTheta:             1e6,
		TieWordEmbeddings:     true,
		BOSTokenID:            151643,
		EOSTokenIDs:           []int{151643},
		TorchDType:            "bfloat16",
		SlidingWindow:         131072,
		MaxWindowLayers:       28,
		InitializerRange:      0.02,
	},
	"tiny-qwen3": {
		Architectures:         []string{Qwen3Architecture},
		ModelType:             Qwen3ModelType,
		VocabSize:             8192,
		HiddenSize:            64,
		IntermediateSize:      176,
		NumHiddenLayers:       2,
		NumAttentionHeads:     4,
		NumKeyValueHeads:      2,
		HeadDim:               32,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: 2048,
		RMSNormEps:            1e-6,
		RopeTheta:             1e6,
		TieWordEmbeddings:     true,
		BOSTokenID:            8189,
		EOSTokenIDs:           []int{8189},
		TorchDType:            "float32",
		SlidingWindow:         2048,
		MaxWindowLayers:       2,
		InitializerRange:      0.02,
	},
	// Qwen2.5: Qwen2's architecture; 7B has its own vocabulary size and an
	// untied head.
	"qwen2.5-0.5b": qwen25Shape(896, 4864, 24, 14, 2, 151936, true),
	"qwen2.5-1.5b": qwen25Shape(1536, 8960, 28, 12, 2, 151936, true),
	"qwen2.5-3b":   qwen25Shape(2048, 11008, 36, 16, 2, 151936, true),
	"qwen2.5-7b":   qwen25Shape(3584, 18944, 28, 28, 4, 152064, false),
	"qwen2-7b":     qwen2Shape(3584, 18944, 28, 28, 4, 152064, false, 131072),
	// Qwen3 (the hybrid-thinking releases: eos <|im_end|>).
	"qwen3-0.6b": qwen3Shape(1024, 3072, 28, 16, 8, true),
	"qwen3-1.7b": qwen3Shape(2048, 6144, 28, 16, 8, true),
	"qwen3-4b":   qwen3Shape(2560, 9728, 36, 32, 8, true),
	"qwen3-8b":   qwen3Shape(4096, 12288, 36, 32, 8, false),
}

// qwen2Shape is a published Qwen2-architecture config: rope_theta 1e6,
// eps 1e-6, bos = eos = <|endoftext|>, bfloat16 weights.
func qwen2Shape(hidden, inter, layers, heads, kv, vocab int, tied bool, maxPos int) Config {
	return Config{
		Architectures: []string{Qwen2Architecture}, ModelType: Qwen2ModelType,
		VocabSize: vocab, HiddenSize: hidden, IntermediateSize: inter, NumHiddenLayers: layers,
		NumAttentionHeads: heads, NumKeyValueHeads: kv, HeadDim: hidden / heads, HiddenAct: "silu",
		MaxPositionEmbeddings: maxPos, RMSNormEps: 1e-6, RopeTheta: 1e6, TieWordEmbeddings: tied,
		BOSTokenID: 151643, EOSTokenIDs: []int{151643}, TorchDType: "bfloat16",
		SlidingWindow: maxPos, MaxWindowLayers: layers, InitializerRange: 0.02,
	}
}

// qwen25Shape is a Qwen2.5 base model's config.json (context 32768; 7B:
// 131072).
func qwen25Shape(hidden, inter, layers, heads, kv, vocab int, tied bool) Config {
	maxPos := 32768
	if !tied {
		maxPos = 131072
	}
	return qwen2Shape(hidden, inter, layers, heads, kv, vocab, tied, maxPos)
}

// qwen3Shape is a published Qwen3 config.json: head_dim 128 whatever the
// hidden size, no attention biases, context 40960, eos <|im_end|>.
func qwen3Shape(hidden, inter, layers, heads, kv int, tied bool) Config {
	return Config{
		Architectures: []string{Qwen3Architecture}, ModelType: Qwen3ModelType,
		VocabSize: 151936, HiddenSize: hidden, IntermediateSize: inter, NumHiddenLayers: layers,
		NumAttentionHeads: heads, NumKeyValueHeads: kv, HeadDim: qwen3HeadDim, HiddenAct: "silu",
		MaxPositionEmbeddings: 40960, RMSNormEps: 1e-6, RopeTheta: 1e6, TieWordEmbeddings: tied,
		BOSTokenID: 151643, EOSTokenIDs: []int{151645}, TorchDType: "bfloat16",
		SlidingWindow: 4096, MaxWindowLayers: layers, InitializerRange: 0.02,
	}
}

// LinearShape returns the [out, in] shape of a per-layer linear module
// ("q_proj", …, "down_proj"; see Arch.Linears), and false for any other name.
func (c Config) LinearShape(module string) (out, in int, ok bool) {
	m, ok := c.Arch().Linear(module)
	if !ok {
		return 0, 0, false
	}
	s := m.Shape(c)
	return s[0], s[1], true
}

// MakeModel writes a complete Qwen2 checkpoint with deterministic random
// weights into dir: config.json, generation_config.json and
// model.safetensors. Linear weights and the embedding are drawn from
// N(0, initializer_range²) (0.02 when unset) as transformers initialises
// them, biases from N(0, 0.02²), norm weights are 1. dtype is "f32" or
// "bf16" (rounded from the same float32 draws). Each tensor has its own
// random stream seeded from seed and its name, and is generated while it is
// written, so even the 1.5B shape never needs more than a small buffer.
// The tokenizer files are the caller's to copy; cfg's BOS/EOS ids should
// match them.
func MakeModel(dir string, cfg Config, seed int64, dtype string) error {
	st, ok := map[string]string{"f32": "F32", "bf16": "BF16"}[dtype]
	if !ok {
		return fmt.Errorf("model: dtype %q: want f32 or bf16", dtype)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	gen := DefaultGenerationConfig()
	gen.BOSTokenID, gen.EOSTokenIDs, gen.MaxNewTokens = cfg.BOSTokenID, cfg.EOSTokenIDs, 2048
	std := cfg.InitializerRange
	if std == 0 {
		std = 0.02
	}
	return WriteFolder(dir, Folder{Config: cfg, Generation: &gen, DType: st, Weights: cfg.Weights(),
		WriteTensor: func(wt Weight, w io.Writer) error {
			n := wt.Numel()
			switch {
			case wt.Module.Kind == NormKind:
				return writeValues(w, st, n, func() float32 { return 1 })
			case wt.Bias:
				rng := tensorRNG(seed, wt.Name)
				return writeValues(w, st, n, func() float32 { return float32(rng.NormFloat64() * 0.02) })
			default:
				rng := tensorRNG(seed, wt.Name)
				return writeValues(w, st, n, func() float32 { return float32(rng.NormFloat64() * std) })
			}
		}})
}

// tensorRNG returns the random stream of one tensor: independent of the
// order tensors are generated in.
func tensorRNG(seed int64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// writeValues writes n values from next to w as F32 or BF16, a chunk at a
// time.
func writeValues(w io.Writer, dtype string, n int, next func() float32) error {
	const chunk = 1 << 16
	buf := make([]byte, 0, 4*chunk)
	for done := 0; done < n; {
		m := min(chunk, n-done)
		buf = buf[:0]
		for range m {
			v := next()
			if dtype == "BF16" {
				buf = binary.LittleEndian.AppendUint16(buf, safetensors.Float32ToBF16(v))
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		done += m
	}
	return nil
}
