package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"qwentune/model/safetensors"
)

func TestMakeModelTiny(t *testing.T) {
	for _, dtype := range []string{"f32", "bf16"} {
		t.Run(dtype, func(t *testing.T) {
			dir := t.TempDir()
			cfg := Shapes["tiny"]
			if err := MakeModel(dir, cfg, 7, dtype); err != nil {
				t.Fatal(err)
			}
			got, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := cfg
			want.TorchDType = map[string]string{"f32": "float32", "bf16": "bfloat16"}[dtype]
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("config\n%+v\nwant\n%+v", got, want)
			}
			gen, ok, err := LoadGenerationConfig(dir)
			if err != nil || !ok || gen.BOSTokenID != 8189 || !reflect.DeepEqual(gen.EOSTokenIDs, []int{8189}) || gen.DoSample {
				t.Fatalf("generation config %+v %v %v", gen, ok, err)
			}

			set, err := safetensors.OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			weights := cfg.Weights()
			if len(set.Names()) != len(weights) {
				t.Fatalf("%d tensors, want %d", len(set.Names()), len(weights))
			}
			if _, ok := set.Tensor("lm_head.weight"); ok {
				t.Fatal("tied model has lm_head.weight")
			}
			var total int64
			for _, w := range weights {
				tt, ok := set.Tensor(w.Name)
				if !ok {
					t.Fatalf("missing %s", w.Name)
				}
				if !reflect.DeepEqual(tt.Shape, w.Shape) || tt.DType != map[string]string{"f32": "F32", "bf16": "BF16"}[dtype] {
					t.Fatalf("%s: %s %v, want %v", w.Name, tt.DType, tt.Shape, w.Shape)
				}
				total += int64(tt.NumElements())
				v, err := tt.Float32()
				if err != nil {
					t.Fatal(err)
				}
				mean, std := stats(v)
				switch {
				case strings.HasSuffix(w.Name, "norm.weight"):
					if mean != 1 || std != 0 {
						t.Errorf("%s: mean %g std %g, want ones", w.Name, mean, std)
					}
				case strings.HasSuffix(w.Name, ".bias"):
					if math.Abs(mean) > 0.02 || std < 0.005 || std > 0.05 {
						t.Errorf("%s: mean %g std %g", w.Name, mean, std)
					}
				case len(v) >= 4096:
					if math.Abs(mean) > 0.002 || math.Abs(std-0.02) > 0.001 {
						t.Errorf("%s: mean %g std %g, want N(0, 0.02²)", w.Name, mean, std)
					}
				}
			}
			if total != cfg.ParamCount() {
				t.Fatalf("%d values, ParamCount %d", total, cfg.ParamCount())
			}
		})
	}
}

func stats(v []float32) (mean, std float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func TestMakeModelDeterministic(t *testing.T) {
	read := func(seed int64, dtype string) []byte {
		dir := t.TempDir()
		if err := MakeModel(dir, Shapes["tiny"], seed, dtype); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	a, b, c := read(1, "f32"), read(1, "f32"), read(2, "f32")
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different weights")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same weights")
	}
	// The bf16 file holds the same draws rounded.
	f32, _ := safetensors.Parse(a)
	bf, _ := safetensors.Parse(read(1, "bf16"))
	x, _ := f32.Tensor("model.layers.1.mlp.down_proj.weight")
	y, _ := bf.Tensor("model.layers.1.mlp.down_proj.weight")
	want, _ := x.BF16()
	got, _ := y.BF16()
	if !reflect.DeepEqual(got, want) {
		t.Fatal("bf16 weights are not the rounded f32 ones")
	}
}

func TestMakeModelErrors(t *testing.T) {
	dir := t.TempDir()
	if err := MakeModel(dir, Shapes["tiny"], 1, "f16"); err == nil || !strings.Contains(err.Error(), "f16") {
		t.Fatalf("dtype f16: %v", err)
	}
	bad := Shapes["tiny"]
	bad.ModelType = "llama"
	if err := MakeModel(dir, bad, 1, "f32"); err == nil {
		t.Fatal("invalid config accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed MakeModel wrote %v", entries)
	}
}

func TestShapes(t *testing.T) {
	want := map[string][9]int{ // hidden, intermediate, layers, heads, kv, head_dim, vocab, tied, max_pos
		"tiny":       {64, 176, 2, 4, 2, 16, 8192, 1, 2048},
		"qwen2-0.5b": {896, 4864, 24, 14, 2, 64, 151936, 1, 131072},
		"qwen2-1.5b": {1536, 8960, 28, 12, 2, 128, 151936, 1, 131072},
		"qwen2-7b":   {3584, 18944, 28, 28, 4, 128, 152064, 0, 131072},
		// Qwen2.5 base models' config.json.
		"qwen2.5-0.5b": {896, 4864, 24, 14, 2, 64, 151936, 1, 32768},
		"qwen2.5-1.5b": {1536, 8960, 28, 12, 2, 128, 151936, 1, 32768},
		"qwen2.5-3b":   {2048, 11008, 36, 16, 2, 128, 151936, 1, 32768},
		"qwen2.5-7b":   {3584, 18944, 28, 28, 4, 128, 152064, 0, 131072},
		// Qwen3: head_dim 128 is not hidden/heads for 0.6B, 4B and 8B.
		"tiny-qwen3": {64, 176, 2, 4, 2, 32, 8192, 1, 2048},
		"qwen3-0.6b": {1024, 3072, 28, 16, 8, 128, 151936, 1, 40960},
		"qwen3-1.7b": {2048, 6144, 28, 16, 8, 128, 151936, 1, 40960},
		"qwen3-4b":   {2560, 9728, 36, 32, 8, 128, 151936, 1, 40960},
		"qwen3-8b":   {4096, 12288, 36, 32, 8, 128, 151936, 0, 40960},
	}
	for name, w := range want {
		c, ok := Shapes[name]
		if !ok {
			t.Fatalf("missing shape %s", name)
		}
		tied := 0
		if c.TieWordEmbeddings {
			tied = 1
		}
		got := [9]int{c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize, tied, c.MaxPositionEmbeddings}
		if got != w || c.RopeTheta != 1e6 || c.RMSNormEps != 1e-6 {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(Shapes) != len(want) {
		t.Errorf("%d shapes, want %d", len(Shapes), len(want))
	}
	if Shapes["tiny"].BOSTokenID != 8189 || !reflect.DeepEqual(Shapes["tiny"].EOSTokenIDs, []int{8189}) {
		t.Error("tiny bos/eos")
	}
}

func TestLinearShape(t *testing.T) {
	c := Shapes["qwen2-1.5b"]
	cases := []struct {
		module  string
		out, in int
	}{
		{"q_proj", 1536, 1536}, {"k_proj", 256, 1536}, {"v_proj", 256, 1536}, {"o_proj", 1536, 1536},
		{"gate_proj", 8960, 1536}, {"up_proj", 8960, 1536}, {"down_proj", 1536, 8960},
	}
	for _, tc := range cases {
		out, in, ok := c.LinearShape(tc.module)
		if !ok || out != tc.out || in != tc.in {
			t.Errorf("%s: %d×%d %v", tc.module, out, in, ok)
		}
	}
	if _, _, ok := c.LinearShape("lm_head"); ok {
		t.Error("lm_head is not a per-layer linear")
	}
}
