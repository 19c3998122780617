//go:build parity

package parity

import (
	"path/filepath"
	"slices"
	"testing"

	"qwentune/engine"
	"qwentune/model/tokenizer"
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

// TestGGUFBase holds a GGUF file used as the base model (model.name = model.gguf) against transformers reading the
// same file (from_pretrained(folder, gguf_file=...), which rebuilds the config and tokenizer from the metadata and
// dequantises the weights with the gguf package): the q8_0 export of each shape, opened by QwenTune with float32
// weights, gives transformers' logits within logitsTol; the tokenizer QwenTune builds from the metadata gives the
// ids of the tokenizer the file was made from (AutoTokenizer on the folder) on the whole tokenizer corpus, and
// renders and encodes chats as transformers' tokenizer from the GGUF does.
func TestGGUFBase(t *testing.T) {
	rows := batchRows(t)
	for _, shape := range Shapes {
		t.Run(shape, func(t *testing.T) {
			out := t.TempDir()
			cli(t, "export", "--model", modelDir(shape), "--format", "gguf", "--dtype", "q8_0", "--out", out)
			path := filepath.Join(out, "model.gguf")
			s, err := engine.OpenDir(path, path, "float32")
			if err != nil {
				t.Fatal(err)
			}
			checkLogits(t, rows, []refCase{{"gguf_" + shape, path, "", s.Model}})
			if shape != "tied" {
				return // the same tokenizer
			}
			texts := corpus(t)
			chats := []chatReq{
				{[]message{{"user", "How do I reset my password?"}}, true},
				{[]message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}}, false},
			}
			// The reference of record for the ids is the tokenizer the GGUF was made from, as transformers reads
			// it; transformers' own rebuild from GGUF metadata normalises to NFD where Qwen2's tokenizer.json says
			// NFC, so it splits "é" into e + U+0301: counted and logged, not followed.
			var folder, resp tokResp
			pythonJSON(t, "tokens.py", map[string]any{"tokenizer": modelDir(shape), "texts": texts, "chats": []chatReq{}}, &folder)
			pythonJSON(t, "tokens.py", map[string]any{"tokenizer": path, "texts": texts, "chats": chats}, &resp)
			bad, theirs := 0, 0
			for i, text := range texts {
				if got := s.Tokenizer.Encode(text); !slices.Equal(got, folder.IDs[i]) {
					if bad++; bad <= 10 {
						t.Errorf("%q: QwenTune %v, transformers %v", clip(text), clipIDs(got), clipIDs(folder.IDs[i]))
					}
				}
				if !slices.Equal(resp.IDs[i], folder.IDs[i]) {
					theirs++
				}
			}
			for i, c := range chats {
				msgs := make([]tokenizer.Message, len(c.Messages))
				for j, m := range c.Messages {
					msgs[j] = tokenizer.Message{Role: m.Role, Content: m.Content}
				}
				text, err := s.Tokenizer.ApplyChatTemplate(msgs, c.Gen)
				if err != nil {
					t.Fatal(err)
				}
				if text != resp.Chats[i].Text || !slices.Equal(s.Tokenizer.Encode(text), resp.Chats[i].IDs) {
					t.Errorf("chat %d: QwenTune %q, transformers %q", i, text, resp.Chats[i].Text)
				}
			}
			t.Logf("%d strings, %d differ from the folder's tokenizer (transformers' GGUF tokenizer: %d); %d chats the same as transformers' GGUF tokenizer renders them",
				len(texts), bad, theirs, len(chats))
		})
	}
}
