package formats

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/nn"
	"qwentune/model"
	"qwentune/model/gguf"
)

// q8Weights lists a model's matrices by name with their storage.
func q8Weights(m *nn.Model) map[string][]byte {
	out := map[string][]byte{"embed": m.EmbedTokens.Q8, "head": m.LMHead.Q8}
	for i, w := range m.DecodeWeights()[:len(m.DecodeWeights())-1] {
		out[fmt.Sprint("projection ", i)] = w.Q8
	}
	return out
}

// A base model exported as a Q8_0 GGUF and read back as q8_0 holds the
// very blocks the safetensors loader quantises, so its logits are those
// of the q8_0 safetensors path exactly; tiny's ffn_down (176 values a row,
// not whole blocks) is F16 in the file and bfloat16 in both models.
func TestReadGGUFQ8KeepsTheBlocks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape model.Config
		exact bool
	}{{"every matrix Q8_0", q8Shape(), true}, {"ffn_down F16", model.Shapes["tiny"], false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.shape, qvLoRA)
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := WriteGGUF(context.Background(), path, f.base, f.tok, GGUFOptions{DType: Q8_0}, nil); err != nil {
				t.Fatal(err)
			}
			st, err := nn.Load(f.dir, nn.LoadOptions{DType: "q8_0"})
			if err != nil {
				t.Fatal(err)
			}
			g, err := ReadGGUF(path, "q8_0")
			if err != nil {
				t.Fatal(err)
			}
			if g.DType() != "q8_0" || !equalStrings(g.KeptBF16(), st.KeptBF16()) {
				t.Fatalf("read %s keeping %v in bfloat16; the safetensors path keeps %v", g.DType(), g.KeptBF16(), st.KeptBF16())
			}
			want, got := q8Weights(st), q8Weights(g)
			n := 0
			for k, w := range want {
				if !bytes.Equal(w, got[k]) {
					t.Fatalf("matrix %s: the GGUF's blocks differ from the safetensors path's", k)
				}
				if w != nil {
					n++
				}
			}
			if n == 0 {
				t.Fatal("no Q8_0 matrix compared")
			}
			d, s := maxDiff(st.Logits(f.ids), g.Logits(f.ids))
			t.Logf("%d Q8_0 matrices identical; max |Δlogit| %.3g of %.3g", n, d, s)
			if tc.exact && d != 0 || d > 1e-2*s {
				t.Fatalf("logits differ by %g (scale %g)", d, s)
			}
		})
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// A block scale that is NaN or Inf is refused with the tensor's name,
// whatever dtype the model is read into; so is a Q8_0 tensor of the wrong
// size (FromTensors checks what it is handed).
func TestReadGGUFQ8RefusesBadBlocks(t *testing.T) {
	f := newFixture(t, q8Shape(), qvLoRA)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := WriteGGUF(context.Background(), path, f.base, f.tok, GGUFOptions{DType: Q8_0}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ti, ok := g.Tensor("blk.1.ffn_up.weight")
	off := g.DataOffset + ti.Offset
	g.Close()
	if !ok || ti.Type != gguf.Q8_0 {
		t.Fatalf("blk.1.ffn_up.weight: %v %v", ok, ti.Type)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, scale := range [][2]byte{{0x00, 0x7e}, {0x00, 0x7c}, {0x00, 0xfc}} { // NaN, +Inf, -Inf
		bad := bytes.Clone(data)
		blk := off + 3*34 // the fourth block
		bad[blk], bad[blk+1] = scale[0], scale[1]
		p := filepath.Join(dir, "bad.gguf")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, dtype := range []string{"q8_0", "float32"} {
			_, err := ReadGGUF(p, dtype)
			if err == nil || !strings.Contains(err.Error(), "blk.1.ffn_up.weight") && !strings.Contains(err.Error(), "model.layers.1.mlp.up_proj.weight") {
				t.Errorf("scale %x read as %s: %v", scale, dtype, err)
			}
		}
	}
	cfg := q8Shape()
	_, err = nn.FromTensors(cfg, "q8_0", func(w model.Weight) (nn.TensorData, error) {
		if len(w.Shape) == 2 {
			return nn.TensorData{Q8: make([]byte, 34)}, nil
		}
		return nn.TensorData{F32: make([]float32, w.Numel())}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "bytes of Q8_0 blocks") {
		t.Errorf("short Q8_0 tensor: %v", err)
	}
}
