package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/nn"
	"qwentune/model/peft"
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
