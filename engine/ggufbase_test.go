package engine

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"qwentune/model"
	"qwentune/model/tokenizer"
)

// TestGGUFBaseModel opens a GGUF file as the base model, as Ollama and
// llama.cpp users have them: the tiny model exported as GGUF (f32, and
// q8_0 read back byte for byte) gives a Session with the folder's config
// and tokenizer (same ids for text, special tokens and the rendered chat)
// and the folder's logits exactly, trains to the folder's losses, and its
// adapter applies to it.
func TestGGUFBaseModel(t *testing.T) {
	ctx := context.Background()
	// The tiny shape with whole Q8_0 blocks in every row (its intermediate
	// size is not), so the q8_0 GGUF holds every matrix as Q8_0: a matrix
	// kept in bfloat16 would go to the file as F16 and come back rounded
	// twice.
	dir := t.TempDir()
	tok := tokenizer.Builtin()
	cfg := model.Shapes["tiny"]
	cfg.IntermediateSize = 128
	cfg.BOSTokenID, cfg.EOSTokenIDs = tok.EOS(), []int{tok.EOS()}
	if err := model.MakeModel(dir, cfg, 5, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := tok.SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ enc, dtype string }{{"f32", "float32"}, {"q8_0", "q8_0"}} {
		t.Run(c.enc, func(t *testing.T) {
			folder, err := OpenDir(dir, "tiny", c.dtype)
			if err != nil {
				t.Fatal(err)
			}
			if k := folder.Model.KeptBF16(); len(k) > 0 {
				t.Fatalf("kept in bfloat16: %v", k)
			}
			out := t.TempDir()
			if err := folder.Export(ctx, ExportOptions{Format: ExportGGUF, DType: c.enc, OutDir: out}, nil); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(out, GGUFModelFile)
			if !OnDisk(path, "") {
				t.Fatalf("OnDisk(%s) is false", path)
			}
			s, err := Open(ctx, path, "", c.dtype, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Dir != path || s.DType != c.dtype {
				t.Fatalf("session dir %q dtype %q", s.Dir, s.DType)
			}
			a, b := folder.Config, s.Config
			if a.HiddenSize != b.HiddenSize || a.IntermediateSize != b.IntermediateSize || a.NumHiddenLayers != b.NumHiddenLayers ||
				a.NumAttentionHeads != b.NumAttentionHeads || a.NumKeyValueHeads != b.NumKeyValueHeads || a.HeadDim != b.HeadDim ||
				a.VocabSize != b.VocabSize || a.TieWordEmbeddings != b.TieWordEmbeddings || a.RopeTheta != b.RopeTheta ||
				a.RMSNormEps != b.RMSNormEps {
				t.Fatalf("GGUF config %+v\nfolder config %+v", b, a)
			}
			ft, gt := folder.Tokenizer, s.Tokenizer
			if !slices.Equal(ft.Vocab(), gt.Vocab()) || !slices.Equal(ft.Merges(), gt.Merges()) ||
				!slices.Equal(ft.AddedTokens(), gt.AddedTokens()) || ft.EOS() != gt.EOS() || ft.Pad() != gt.Pad() {
				t.Fatal("the GGUF's tokenizer differs from the folder's")
			}
			if !slices.Equal(folder.StopIDs(true), s.StopIDs(true)) {
				t.Fatalf("stop ids %v, folder %v", s.StopIDs(true), folder.StopIDs(true))
			}
			msgs := []tokenizer.Message{{Role: "user", Content: "Héllo wörld, 123 tokens?\n\n  <|im_end|> ok"}}
			fc, err := ft.ApplyChatTemplate(msgs, true)
			if err != nil {
				t.Fatal(err)
			}
			gc, err := gt.ApplyChatTemplate(msgs, true)
			if err != nil {
				t.Fatal(err)
			}
			if fc != gc {
				t.Fatalf("chat renders as\n%q\nfolder:\n%q", gc, fc)
			}
			ids := ft.Encode(fc)
			if got := gt.Encode(fc); !slices.Equal(got, ids) {
				t.Fatalf("encodes to %v, folder %v", got, ids)
			}
			want, got := folder.Model.Logits(ids), s.Model.Logits(ids)
			for i := range want {
				if !slices.Equal(want[i], got[i]) {
					t.Fatalf("position %d: the GGUF base's logits differ from the folder's", i)
				}
			}

			if c.dtype != "float32" {
				return
			}
			var losses [2][]float64
			for i, sess := range []*Session{folder, s} {
				cfg := testConfig(t, sess.Name, "training.max_steps=3", "training.learning_rate=0.01")
				if _, err := sess.Train(ctx, cfg, inspected(t, sess, cfg), TrainOptions{}, nil); err != nil {
					t.Fatal(err)
				}
				losses[i] = readLogLosses(t, cfg.Training.OutputDir)
				if i == 1 {
					if _, err := s.LoadAdapter(cfg.Training.OutputDir); err != nil {
						t.Fatal(err)
					}
					err := s.Export(ctx, ExportOptions{Format: ExportHFJob, OutDir: t.TempDir(), Config: &cfg}, nil)
					if err == nil || !strings.Contains(err.Error(), "GGUF file") {
						t.Fatalf("hf-job on a GGUF base: want the GGUF file named, got %v", err)
					}
				}
			}
			if len(losses[0]) != 3 || !slices.Equal(losses[0], losses[1]) {
				t.Fatalf("losses on the GGUF base %v, on the folder %v", losses[1], losses[0])
			}
		})
	}
}

// A GGUF path that does not exist is an error naming it, not a Hub lookup.
func TestGGUFBaseMissing(t *testing.T) {
	_, err := ResolveModel(context.Background(), "nowhere/model.gguf", "", nil)
	if err == nil || !strings.Contains(err.Error(), "GGUF model file nowhere/model.gguf does not exist") {
		t.Fatalf("got %v", err)
	}
}
