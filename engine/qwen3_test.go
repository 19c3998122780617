package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/config"
	"qwentune/engine/formats"
	"qwentune/model"
	"qwentune/model/tokenizer"
)

// tinyQwen3 writes a tiny random Qwen3 (head_dim 32 ≠ 64/4) with the
// built-in tokenizer.
func tinyQwen3(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tok := tokenizer.Builtin()
	cfg := model.Shapes["tiny-qwen3"]
	cfg.BOSTokenID, cfg.EOSTokenIDs = tok.EOS(), []int{tok.EOS()}
	if err := model.MakeModel(dir, cfg, 5, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := tok.SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestQwen3EndToEnd runs a Qwen3 through the app's jobs: LoRA training on
// all seven linears lowers the loss, the adapter reloads, evaluation with
// the heuristic plugin judges every test row, chat answers, and every
// export format is written (the GGUF as qwen3, read back to the merged
// model's logits).
func TestQwen3EndToEnd(t *testing.T) {
	for _, dtype := range []string{"float32", "bfloat16"} {
		t.Run(dtype, func(t *testing.T) {
			s, err := OpenDir(tinyQwen3(t), "tiny-qwen3", dtype)
			if err != nil {
				t.Fatal(err)
			}
			if s.Config.ModelType != "qwen3" {
				t.Fatalf("model_type %q", s.Config.ModelType)
			}
			cfg := testConfig(t, s.Dir, "training.learning_rate=0.01", "training.epochs=2", "lora.target_modules=all-linear",
				"evaluation.max_new_tokens=4")
			if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
				t.Fatal(err)
			}
			losses := readLogLosses(t, cfg.Training.OutputDir)
			if first, last := losses[0], losses[len(losses)-1]; !(last < first) {
				t.Fatalf("loss did not fall: %v", losses)
			}
			a, err := s.LoadAdapter(cfg.Training.OutputDir)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Evaluate(context.Background(), cfg, EvalOptions{Adapter: a, AdapterDir: cfg.Training.OutputDir,
				OutDir: t.TempDir(), PluginDirs: []string{pluginDir}, DevPlugins: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Tuned.Results) != 21 {
				t.Fatalf("%d results, want 21", len(res.Tuned.Results))
			}
			if _, err := s.Chat(context.Background(), a, "", []tokenizer.Message{{Role: "user", Content: "Hello!"}},
				ChatSampling(cfg.Chat), nil); err != nil {
				t.Fatal(err)
			}
			if dtype != "float32" {
				return
			}
			out := t.TempDir()
			for _, f := range ExportFormats {
				o := ExportOptions{Format: f, OutDir: filepath.Join(out, f), AdapterDir: cfg.Training.OutputDir, Config: &cfg}
				if f == ExportGGUF {
					o.DType = "f32"
				}
				if err := s.Export(context.Background(), o, nil); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			}
			g, err := formats.ReadGGUF(filepath.Join(out, ExportGGUF, GGUFModelFile), "float32")
			if err != nil {
				t.Fatal(err)
			}
			merged, err := OpenDir(filepath.Join(out, ExportMerged), "merged", "float32")
			if err != nil {
				t.Fatal(err)
			}
			if g.Config.ModelType != "qwen3" || merged.Config.ModelType != "qwen3" {
				t.Fatalf("exports read back as %q and %q", g.Config.ModelType, merged.Config.ModelType)
			}
			ids := s.Tokenizer.Encode("How do I reset my password?")
			want, got := merged.Model.Logits(ids), g.Logits(ids)
			for i := range want {
				for j := range want[i] {
					if d := want[i][j] - got[i][j]; d > 1e-4 || d < -1e-4 {
						t.Fatalf("GGUF logit [%d][%d] %g, merged folder %g", i, j, got[i][j], want[i][j])
					}
				}
			}
			if _, err := os.Stat(filepath.Join(out, ExportHFJob, formats.JobScriptFile)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The known models' memory is the pre-flight's estimate: for a model that
// is loaded, estimateShape gives what Session.EstimateMemory gives.
func TestKnownModels(t *testing.T) {
	for _, dtype := range KnownDTypes {
		s, err := OpenDir(tinyQwen3(t), "tiny-qwen3", dtype)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, s.Dir, "lora.target_modules=all-linear")
		want := s.EstimateMemory(cfg)
		got, err := estimateShape(s.Config, dtype, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got.Available = want.Available
		if got != want {
			t.Fatalf("%s: estimate of the shape %+v, of the loaded model %+v", dtype, got, want)
		}
	}
	cfg := config.Default()
	ks := KnownModels(cfg)
	seen := map[string]bool{}
	for _, k := range ks {
		seen[k.ID] = true
		f32, bf16, q8 := k.Memory["float32"], k.Memory["bfloat16"], k.Memory["q8_0"]
		if k.Params != model.Shapes[k.Shape].ParamCount() || k.DownloadBytes != 2*k.Params || f32.Weights <= bf16.Weights || f32.Total() <= bf16.Total() ||
			bf16.Weights <= q8.Weights || bf16.Total() <= q8.Total() {
			t.Errorf("%s: %+v", k.ID, k)
		}
		if k.Fits("float32") && !k.Fits("bfloat16") || k.Fits("bfloat16") && !k.Fits("q8_0") {
			t.Errorf("%s fits in a larger dtype but not in a smaller one", k.ID)
		}
	}
	for _, id := range []string{"Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2-1.5B"} {
		if !seen[id] {
			t.Errorf("%s is not listed", id)
		}
	}
}

// A Qwen2.5-Instruct model's template adds its own default system prompt:
// chat prompts carry it and the Modelfile's SYSTEM is it, on an untied
// Qwen2-architecture model with rope_theta 1e6 like Qwen2.5-7B.
func TestQwen25DefaultSystemPrompt(t *testing.T) {
	data, err := os.ReadFile("../model/tokenizer/testdata/chat_templates.json")
	if err != nil {
		t.Fatal(err)
	}
	var templates map[string]string
	if err := json.Unmarshal(data, &templates); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := tokenizer.Builtin()
	cfg := model.Shapes["tiny"]
	cfg.TieWordEmbeddings, cfg.RopeTheta = false, 1e6
	cfg.BOSTokenID, cfg.EOSTokenIDs = tok.EOS(), []int{tok.EOS()}
	if err := model.MakeModel(dir, cfg, 5, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := tok.SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	raw, err := os.ReadFile(tcPath)
	if err != nil {
		t.Fatal(err)
	}
	var tc map[string]any
	if err := json.Unmarshal(raw, &tc); err != nil {
		t.Fatal(err)
	}
	tc["chat_template"] = templates["Qwen2.5-Instruct"]
	raw, _ = json.Marshal(tc)
	if err := os.WriteFile(tcPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDir(dir, "qwen2.5-like", "float32")
	if err != nil {
		t.Fatal(err)
	}
	const sys = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
	ids, err := s.ChatPrompt("", []tokenizer.Message{{Role: "user", Content: "Hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Tokenizer.Decode(ids, false); got != "<|im_start|>system\n"+sys+"<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("chat prompt %q", got)
	}
	out := t.TempDir()
	if err := s.Export(context.Background(), ExportOptions{Format: ExportGGUF, OutDir: out}, nil); err != nil {
		t.Fatal(err)
	}
	mf, err := os.ReadFile(filepath.Join(out, ModelfileName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mf), "SYSTEM \"\"\""+sys+"\"\"\"") {
		t.Fatalf("Modelfile lacks Qwen2.5's system prompt:\n%s", mf)
	}
}
