package nn

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/ops"
	"qwentune/internal/atomicfile"
	"qwentune/model"
	"qwentune/model/safetensors"
)

// readAll returns every tensor of a checkpoint folder.
func readAll(t *testing.T, dir string) []safetensors.Tensor {
	t.Helper()
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var out []safetensors.Tensor
	for _, n := range set.Names() {
		st, _ := set.Tensor(n)
		st.Data = append([]byte(nil), st.Data...)
		out = append(out, st)
	}
	return out
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name, disk, dtype string
		tied              bool
	}{
		{"bf16-as-f32", "bf16", "float32", false},
		{"bf16-as-bf16", "bf16", "bfloat16", true},
		{"f32-as-f32", "f32", "float32", true},
		{"f32-as-bf16", "f32", "bfloat16", false},
		{"f16-as-f32", "f16", "float32", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig(tc.tied)
			disk := tc.disk
			if disk == "f16" {
				disk = "f32"
			}
			if err := model.MakeModel(dir, cfg, 71, disk); err != nil {
				t.Fatal(err)
			}
			files := readAll(t, dir)
			if tc.disk == "f16" {
				for i, st := range files {
					f, _ := st.Float32()
					h := make([]uint16, len(f))
					for j, v := range f {
						h[j] = safetensors.Float32ToF16(v)
					}
					files[i] = safetensors.FromF16(st.Name, st.Shape, h)
				}
				if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), files, nil); err != nil {
					t.Fatal(err)
				}
			}
			m, err := Load(dir, LoadOptions{DType: tc.dtype})
			if err != nil {
				t.Fatal(err)
			}
			if m.DType() != tc.dtype || (m.LMHead == &m.EmbedTokens) != tc.tied {
				t.Fatalf("dtype %s, tied %v", m.DType(), m.LMHead == &m.EmbedTokens)
			}
			byName := map[string]Tensor{}
			for _, e := range m.Tensors() {
				byName[e.Name] = e
			}
			if len(byName) != len(files) {
				t.Fatalf("%d model tensors, %d in the file", len(byName), len(files))
			}
			for _, st := range files {
				want, err := st.Float32()
				if err != nil {
					t.Fatal(err)
				}
				e := byName[st.Name]
				for i, v := range want {
					var got float32
					if e.Weight != nil {
						got = e.Weight.At(i/e.Weight.Cols, i%e.Weight.Cols)
						if tc.dtype == "bfloat16" {
							v = ops.BF16ToF32(ops.F32ToBF16(v))
						}
					} else {
						got = e.Vector[i]
					}
					if got != v {
						t.Fatalf("%s[%d] = %v, file has %v", st.Name, i, got, v)
					}
				}
			}
			ids := randomIDs(rand.New(rand.NewPCG(72, 72)), 5, m.d.V)
			got := m.Logits(ids)
			want := refRow(m, refFromModel(m), ids, false, 0, 0)
			for i := range got {
				if e := relErr(got[i], want[i*m.d.V:(i+1)*m.d.V]); e > 1e-4 {
					t.Fatalf("position %d: relative error %.3g", i, e)
				}
			}
		})
	}
}

// writeConfig overwrites dir/config.json.
func writeConfig(t *testing.T, dir string, cfg model.Config) {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), data); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		opts  LoadOptions
		want  string
	}{
		{"no config", func(t *testing.T, dir string) {}, LoadOptions{}, "config.json"},
		{"untied without lm_head", func(t *testing.T, dir string) {
			cfg := tinyConfig(true)
			if err := model.MakeModel(dir, cfg, 1, "f32"); err != nil {
				t.Fatal(err)
			}
			cfg.TieWordEmbeddings = false
			writeConfig(t, dir, cfg)
		}, LoadOptions{}, `"lm_head.weight" is missing`},
		{"wrong shape", func(t *testing.T, dir string) {
			cfg := tinyConfig(true)
			if err := model.MakeModel(dir, cfg, 1, "f32"); err != nil {
				t.Fatal(err)
			}
			cfg.IntermediateSize = 64
			writeConfig(t, dir, cfg)
		}, LoadOptions{}, `config.json: "intermediate_size" is 64, but tensor model.layers.0.mlp.gate_proj.weight is [48 32]`},
		{"extra tensor", func(t *testing.T, dir string) {
			if err := model.MakeModel(dir, tinyConfig(true), 1, "f32"); err != nil {
				t.Fatal(err)
			}
			files := readAll(t, dir)
			files = append(files, safetensors.FromFloat32("model.layers.0.self_attn.q_norm.weight", []int{2}, []float32{1, 1}))
			if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), files, nil); err != nil {
				t.Fatal(err)
			}
		}, LoadOptions{}, "unexpected tensor"},
		{"integer tensor", func(t *testing.T, dir string) {
			if err := model.MakeModel(dir, tinyConfig(true), 1, "f32"); err != nil {
				t.Fatal(err)
			}
			files := readAll(t, dir)
			for i, f := range files {
				if f.Name == "model.norm.weight" {
					files[i].DType = "I32"
				}
			}
			if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), files, nil); err != nil {
				t.Fatal(err)
			}
		}, LoadOptions{}, "dtype I32"},
		{"bad dtype option", func(t *testing.T, dir string) {
			if err := model.MakeModel(dir, tinyConfig(true), 1, "f32"); err != nil {
				t.Fatal(err)
			}
		}, LoadOptions{DType: "float16"}, "float16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			_, err := Load(dir, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestLoadRefusesHugeSizes: config.json sizes that the tensors do not back
// are refused, naming config.json and the field, before anything is
// allocated from them (a billion layers used to exhaust memory; a hidden
// size of 1e12 was reported as "want an integer").
func TestLoadRefusesHugeSizes(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"num_hidden_layers", "1000000000", `"num_hidden_layers" is 1000000000, but the checkpoint holds 2 layers`},
		{"num_hidden_layers", "10000000", `"num_hidden_layers" is 10000000`},
		{"hidden_size", "1e12", `"hidden_size": 1e12 is too large`},
		{"hidden_size", "1000000", `"hidden_size" is 1000000, but tensor model.embed_tokens.weight`},
		{"vocab_size", "99999999", `"vocab_size" is 99999999, but tensor model.embed_tokens.weight`},
		{"intermediate_size", "50000000", `"intermediate_size" is 50000000, but tensor`},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig(true)
			cfg.NumHiddenLayers = 2
			if err := model.MakeModel(dir, cfg, 1, "f32"); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "config.json")
			var doc map[string]any
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			doc[tc.key] = json.RawMessage(tc.value)
			if tc.key == "hidden_size" {
				delete(doc, "head_dim")
			}
			out, _ := json.Marshal(doc)
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(dir, LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming config.json and %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "want an integer") {
				t.Errorf("a huge number reported as not an integer: %v", err)
			}
		})
	}
}

// TestLoadRefusesNaN: a NaN or Inf weight in the model (float32 or
// bfloat16 storage) or in an adapter is an error naming the tensor; it used
// to be loaded and trained on.
func TestLoadRefusesNaN(t *testing.T) {
	for _, tc := range []struct {
		tensor string
		value  float32
		dtype  string
	}{
		{"model.layers.1.self_attn.q_proj.weight", float32(math.NaN()), "float32"},
		{"model.norm.weight", float32(math.Inf(1)), "float32"},
		{"model.embed_tokens.weight", float32(math.Inf(-1)), "bfloat16"},
	} {
		dir := t.TempDir()
		if err := model.MakeModel(dir, tinyConfig(true), 1, "f32"); err != nil {
			t.Fatal(err)
		}
		files := readAll(t, dir)
		for i, f := range files {
			if f.Name == tc.tensor {
				binary.LittleEndian.PutUint32(files[i].Data[8:], math.Float32bits(tc.value))
			}
		}
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), files, nil); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir, LoadOptions{DType: tc.dtype})
		if err == nil || !strings.Contains(err.Error(), `tensor "`+tc.tensor+`": element 2 is`) {
			t.Errorf("%s = %v (%s): error %v", tc.tensor, tc.value, tc.dtype, err)
		}
	}

	dir := t.TempDir()
	if err := model.MakeModel(dir, tinyConfig(true), 1, "f32"); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewAdapter(LoRAConfig{R: 2, Alpha: 4, TargetModules: []string{"q_proj"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	pa := a.ToPEFT(dir)
	var name string
	for n := range pa.Tensors {
		name = n
		break
	}
	pa.Tensors[name].Data[0] = float32(math.NaN())
	if _, err := AdapterFromPEFT(pa, m.Config); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("adapter with NaN in %s: %v", name, err)
	}
}
