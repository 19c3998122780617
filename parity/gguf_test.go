//go:build parity

package parity

import (
	"path/filepath"
	"testing"
)

// TestGGUF is the second half of check 6: `qwentune export --format gguf` of the merged model (f32, f16, bf16 and
// q8_0 for the tied shape; f16 and q8_0, whose 112-wide rows are not whole Q8_0 blocks, for the untied one: reading
// a file takes GGUFReader ~10 s of CPU) and `--format gguf-adapter` (f32, f16, bf16) read with the gguf package's GGUFReader and hold the metadata
// keys, value types and values, tensor names, types, shapes and bytes that llama.cpp's converters write for the
// same model (see gguf_check.py for how the expectation is built from the gguf package's own tables).
func TestGGUF(t *testing.T) {
	type file struct {
		Path  string `json:"path"`
		DType string `json:"dtype"`
	}
	for _, shape := range Shapes {
		t.Run(shape, func(t *testing.T) {
			var models, adapters []file
			dtypes := []string{"f32", "f16", "bf16", "q8_0"}
			if shape != "tied" {
				dtypes = []string{"f16", "q8_0"}
			}
			for _, dtype := range dtypes {
				out := filepath.Join(t.TempDir(), "gguf-"+dtype)
				cli(t, "export", "--model", modelDir(shape), "--adapter", peftTrainedAdapter(t, shape), "--format", "gguf",
					"--dtype", dtype, "--out", out)
				models = append(models, file{filepath.Join(out, "model.gguf"), dtype})
			}
			adapter := peftMadeAdapter(t, shape)
			for _, dtype := range []string{"f32", "f16", "bf16"} {
				out := filepath.Join(t.TempDir(), "gguf-adapter-"+dtype)
				cli(t, "export", "--model", modelDir(shape), "--adapter", adapter, "--format", "gguf-adapter",
					"--dtype", dtype, "--out", out)
				adapters = append(adapters, file{filepath.Join(out, "adapter.gguf"), dtype})
			}
			checkGGUF(t, map[string]any{"kind": "model", "hf_dir": ourMerged(t, shape), "files": models})
			checkGGUF(t, map[string]any{"kind": "adapter", "adapter": adapter, "base": modelDir(shape), "files": adapters})
		})
	}
}

func checkGGUF(t *testing.T, req map[string]any) {
	t.Helper()
	var resp struct {
		Files []struct {
			Path     string   `json:"path"`
			Problems []string `json:"problems"`
			Keys     []string `json:"keys"`
			Tensors  int      `json:"tensors"`
		} `json:"files"`
	}
	pythonJSON(t, "gguf_check.py", req, &resp)
	for _, f := range resp.Files {
		label := filepath.Base(filepath.Dir(f.Path))
		for _, p := range f.Problems {
			t.Errorf("%s: %s", label, p)
		}
		t.Logf("%s: %d keys and %d tensors checked, %d problems", label, len(f.Keys), f.Tensors, len(f.Problems))
	}
}
