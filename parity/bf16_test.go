//go:build parity

package parity

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine"
	"qwentune/engine/nn"
	"qwentune/model/peft"
)

// bf16Script computes the loss of one batch with the demo model and a PEFT
// adapter in float32 and under torch.autocast("cpu", dtype=torch.bfloat16),
// the reference of bfloat16 compute (SPEC §9).
const bf16Script = `
import json, sys, torch
from transformers import Qwen2ForCausalLM
from peft import PeftModel
model_dir, adapter_dir, ids = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
m = Qwen2ForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
m = PeftModel.from_pretrained(m, adapter_dir).eval()
x = torch.tensor([ids])
with torch.no_grad():
    f32 = m(input_ids=x, labels=x).loss.item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = m(input_ids=x, labels=x).loss.item()
print(json.dumps({"f32": f32, "bf16": bf16}))
`

// TestBF16LossMatchesAutocast: one batch's loss with the demo model and a
// LoRA adapter (B random, so it matters) in bfloat16 compute is within 1e-2
// relative of PyTorch autocast's (which also rounds the LoRA and attention
// products, hence the tolerance rather than agreement to float32 rounding).
func TestBF16LossMatchesAutocast(t *testing.T) {
	py := tbPython(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s, err := engine.Open(context.Background(), engine.DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Model.NewAdapter(nn.LoRAConfig{R: 8, Alpha: 16, TargetModules: []string{"all-linear"}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 7))
	for _, p := range a.Params() {
		if strings.Contains(p.Name, "lora_B") {
			for i := range p.Data {
				p.Data[i] = float32(0.02 * rng.NormFloat64())
			}
		}
	}
	adir := filepath.Join(t.TempDir(), "adapter")
	if err := peft.Save(adir, a.ToPEFT(s.Dir)); err != nil {
		t.Fatal(err)
	}
	s.Model.SetAdapter(a)
	ids := s.Tokenizer.Encode("In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep.")
	b := nn.Batch{IDs: [][]int{ids}, Labels: [][]int{ids}}
	var got [2]float64
	for k, compute := range []string{"float32", "bfloat16"} {
		if _, err := s.SetComputeDtype(compute); err != nil {
			t.Fatal(err)
		}
		sum, n, err := s.Model.Loss(b)
		if err != nil {
			t.Fatal(err)
		}
		got[k] = sum / float64(n)
	}
	idsJSON, _ := json.Marshal(ids)
	out, err := exec.Command(py, "-c", bf16Script, s.Dir, adir, string(idsJSON)).Output()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	var ref struct{ F32, BF16 float64 }
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("reference output %q: %v", out, err)
	}
	t.Logf("loss float32: ours %.6f, torch %.6f; bfloat16: ours %.6f, autocast %.6f", got[0], ref.F32, got[1], ref.BF16)
	if rel := math.Abs(got[0]-ref.F32) / ref.F32; rel > 1e-4 {
		t.Fatalf("float32 loss %.6f, torch %.6f: the setup differs (relative %.2e)", got[0], ref.F32, rel)
	}
	if rel := math.Abs(got[1]-ref.BF16) / ref.BF16; rel > 1e-2 {
		t.Fatalf("bfloat16 loss %.6f, autocast %.6f: relative %.2e > 1e-2", got[1], ref.BF16, rel)
	}
}
