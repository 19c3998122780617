package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/nn"
	"qwentune/model/peft"
	"qwentune/model/safetensors"
)

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "tiny")
	var out, errOut bytes.Buffer
	if code := run([]string{"make-model", "--shape", "tiny", "--out", base}, &out, &errOut); code != 0 {
		t.Fatalf("make-model: %d\n%s", code, errOut.String())
	}
	m, err := nn.Load(base, nn.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewAdapter(nn.LoRAConfig{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(dir, "adapter")
	if err := peft.Save(adapter, a.ToPEFT(base)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		code  int
		files []string
		msg   string
	}{
		{[]string{"--model", base, "--adapter", adapter, "--format", "gguf", "--dtype", "q8_0", "--out", filepath.Join(dir, "g")}, 0,
			[]string{"g/model.gguf", "g/Modelfile"}, "ollama create"},
		{[]string{"--model", base, "--adapter", adapter, "--format", "gguf-adapter", "--out", filepath.Join(dir, "g")}, 1,
			nil, "is not empty"},
		{[]string{"--model", base, "--adapter", adapter, "--format", "gguf-adapter", "--overwrite", "--out", filepath.Join(dir, "g")}, 0,
			[]string{"g/adapter.gguf"}, "--lora"},
		{[]string{"--model", base, "--adapter", adapter, "--format", "merged", "--dtype", "bf16", "--out", filepath.Join(dir, "m")}, 0,
			[]string{"m/config.json", "m/model.safetensors", "m/tokenizer.json"}, "wrote"},
		{[]string{"--model", base, "--adapter", adapter, "--format", "peft", "--out", filepath.Join(dir, "p")}, 0,
			[]string{"p/adapter_model.safetensors", "p/adapter_config.json"}, "wrote"},
		{[]string{"--model", base, "--format", "onnx", "--out", dir}, 2, nil, "--format must be one of"},
		{[]string{"--model", base, "--format", "gguf"}, 2, nil, "--out is required"},
		{[]string{"--model", base, "--format", "peft", "--out", dir}, 2, nil, "needs --adapter"},
		{[]string{"--model", base, "--adapter", filepath.Join(dir, "nope"), "--format", "gguf", "--out", filepath.Join(dir, "x")}, 1, nil, "adapter_config.json"},
	} {
		t.Run(strings.Join(tc.args[2:], " "), func(t *testing.T) {
			out.Reset()
			errOut.Reset()
			code := run(append([]string{"export"}, tc.args...), &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String()+errOut.String(), tc.msg) {
				t.Errorf("output lacks %q:\n%s%s", tc.msg, out.String(), errOut.String())
			}
			for _, f := range tc.files {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestExportBF16RoundsOnce: bf16 output of a float32 checkpoint is the merged
// float32 weights rounded once, as llama.cpp's converter of the merged model
// gives, not the base rounded to bfloat16 first and the merge rounded again.
func TestExportBF16RoundsOnce(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "tiny")
	var out, errOut bytes.Buffer
	if code := run([]string{"make-model", "--shape", "tiny", "--out", base}, &out, &errOut); code != 0 {
		t.Fatalf("make-model: %d\n%s", code, errOut.String())
	}
	m, err := nn.Load(base, nn.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewAdapter(nn.LoRAConfig{R: 4, Alpha: 8, TargetModules: []string{"q_proj"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params() {
		for i := range p.Data {
			p.Data[i] = float32(i%7-3) * 0.01
		}
	}
	adapter := filepath.Join(dir, "adapter")
	if err := peft.Save(adapter, a.ToPEFT(base)); err != nil {
		t.Fatal(err)
	}
	merged := map[string]map[string]safetensors.Tensor{}
	for _, dtype := range []string{"f32", "bf16"} {
		o := filepath.Join(dir, dtype)
		if code := run([]string{"export", "--model", base, "--adapter", adapter, "--format", "merged", "--dtype", dtype, "--out", o}, &out, &errOut); code != 0 {
			t.Fatalf("export %s: %d\n%s", dtype, code, errOut.String())
		}
		f, err := safetensors.Open(filepath.Join(o, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		merged[dtype] = map[string]safetensors.Tensor{}
		for _, n := range f.Names() {
			merged[dtype][n], _ = f.Tensor(n)
		}
	}
	name := "model.layers.0.self_attn.q_proj.weight"
	f32, err := merged["f32"][name].Float32()
	if err != nil {
		t.Fatal(err)
	}
	bf16, err := merged["bf16"][name].BF16()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f32 {
		if want := safetensors.Float32ToBF16(v); bf16[i] != want {
			t.Fatalf("%s[%d]: bf16 export %#04x, the float32 merge rounded once %#04x", name, i, bf16[i], want)
		}
	}
}
