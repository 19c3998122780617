package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// inspect reads a GGUF model file as it reads a folder: the same
// architecture and parameters as the model it was exported from, and the
// file's own tensor types.
func TestInspectGGUF(t *testing.T) {
	out := t.TempDir()
	if code, _, errOut := runCLI("export", "--model", "demo", "--format", "gguf", "--dtype", "q8_0", "--out", out); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	type report struct {
		Architecture []string       `json:"architecture"`
		Params       int64          `json:"params"`
		DTypes       map[string]int `json:"dtypes"`
		Tensors      []struct {
			Name  string `json:"name"`
			DType string `json:"dtype"`
			Shape []int  `json:"shape"`
		} `json:"tensors"`
	}
	var folder, file report
	for _, c := range []struct {
		path string
		into *report
	}{{"demo", &folder}, {filepath.Join(out, "model.gguf"), &file}} {
		code, stdout, errOut := runCLI("inspect", "--json", c.path)
		if code != 0 {
			t.Fatalf("inspect %s: exit %d: %s", c.path, code, errOut)
		}
		if err := json.Unmarshal([]byte(stdout), c.into); err != nil {
			t.Fatal(err)
		}
	}
	if file.Params != folder.Params || len(file.Architecture) != 1 || file.Architecture[0] != folder.Architecture[0] {
		t.Fatalf("GGUF: %d params %v; folder: %d %v", file.Params, file.Architecture, folder.Params, folder.Architecture)
	}
	if file.DTypes["Q8_0"] == 0 || file.DTypes["F32"] == 0 || len(file.Tensors) != len(folder.Tensors) {
		t.Fatalf("GGUF tensors: %v, %d of them (folder %d)", file.DTypes, len(file.Tensors), len(folder.Tensors))
	}
	if tt := file.Tensors[0]; tt.Name != "token_embd.weight" || tt.DType != "Q8_0" || len(tt.Shape) != 2 || tt.Shape[0] != 8192 {
		t.Fatalf("first tensor %+v, want token_embd.weight Q8_0 [8192 256]", tt)
	}
}
