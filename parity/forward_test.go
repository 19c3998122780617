//go:build parity

package parity

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"qwentune/engine/nn"
)

// logitsTol is the bound on max|Δ| / max|logit| in float32.
const logitsTol = 1e-4

// refCase is one forward.py case: a model folder, an optional adapter, and QwenTune's model to hold against it.
type refCase struct {
	name           string
	model, adapter string // what transformers/PEFT load
	ours           *nn.Model
}

// checkLogits runs every case's rows through transformers (forward.py) and through QwenTune, both the padded
// batched pass of training (BatchLogits) and the one-row inference pass (Logits), and fails when they differ by
// more than logitsTol at any real position, or when loading the model or adapter made transformers or PEFT warn.
func checkLogits(t *testing.T, rows [][]int, cases []refCase) {
	t.Helper()
	type req struct {
		Name    string  `json:"name"`
		Model   string  `json:"model"`
		Adapter string  `json:"adapter,omitempty"`
		Rows    [][]int `json:"rows"`
	}
	var reqs []req
	for _, c := range cases {
		reqs = append(reqs, req{c.name, c.model, c.adapter, rows})
	}
	dir := t.TempDir()
	reqPath, outT, outJ := filepath.Join(dir, "req.json"), filepath.Join(dir, "logits.safetensors"), filepath.Join(dir, "out.json")
	writeJSON(t, reqPath, map[string]any{"cases": reqs})
	runPython(t, "forward.py", reqPath, outT, outJ)
	var resp struct {
		Warnings map[string][]string `json:"warnings"`
	}
	readJSON(t, outJ, &resp)
	ref := loadTensors(t, outT)
	for _, c := range cases {
		if w := resp.Warnings[c.name]; len(w) > 0 {
			t.Errorf("%s: loading %s (adapter %q) warned: %q", c.name, c.model, c.adapter, w)
		}
		want, ok := ref[c.name]
		if !ok {
			t.Fatalf("%s: forward.py wrote no logits", c.name)
		}
		L, V := want.shape[1], want.shape[2]
		batched, err := c.ours.BatchLogits(nn.Batch{IDs: rows})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"batched", "one row"} {
			var num, den float64
			worst := ""
			for i, r := range rows {
				var got [][]float32
				if path == "batched" {
					got = batched[i]
				} else {
					got = c.ours.Logits(r)
				}
				for p := range r {
					w := want.data[(i*L+p)*V : (i*L+p+1)*V]
					if d := maxAbs(got[p], w); d > num || math.IsInf(d, 1) {
						num, worst = d, fmt.Sprintf("row %d position %d", i, p)
					}
					for _, x := range w {
						den = math.Max(den, math.Abs(float64(x)))
					}
				}
			}
			rel := num / den
			t.Logf("%s (%s): max|Δ| %.3g, max|logit| %.3g, relative %.3g", c.name, path, num, den, rel)
			if !(rel <= logitsTol) {
				t.Errorf("%s (%s pass): logits differ from transformers by %.3g of max|logit| (worst at %s), more than %g",
					c.name, path, rel, worst, logitsTol)
			}
		}
	}
}

// TestForward is check 1: the logits of a right-padded batch of three rows equal transformers' in float32, for
// both shapes, without an adapter, with an adapter PEFT made (get_peft_model, non-zero B), and with an adapter
// QwenTune trained, loaded by PeftModel.from_pretrained.
func TestForward(t *testing.T) {
	rows := batchRows(t)
	for _, shape := range Shapes {
		t.Run(shape, func(t *testing.T) {
			base := modelDir(shape)
			made, ours := peftMadeAdapter(t, shape), qwentuneAdapter(t, shape)
			checkLogits(t, rows, []refCase{
				{"base", base, "", loadModel(t, base, "")},
				{"peft_made_adapter", base, made, loadModel(t, base, made)},
				{"qwentune_adapter", base, ours, loadModel(t, base, ours)},
			})
		})
	}
}

// TestPEFTBothWays is check 4: an adapter QwenTune trained loads in PEFT without any warning and gives QwenTune's
// logits; an adapter PEFT trained with every LoraConfig feature QwenTune reads loads in QwenTune with PEFT's
// logits; and PEFT's merge_and_unload() equals `qwentune export --format merged`, weight for weight.
func TestPEFTBothWays(t *testing.T) {
	rows := batchRows(t)
	for _, shape := range Shapes {
		t.Run(shape, func(t *testing.T) {
			base := modelDir(shape)
			ours, theirs := qwentuneAdapter(t, shape), peftTrainedAdapter(t, shape)
			checkLogits(t, rows, []refCase{
				{"qwentune_trained_in_peft", base, ours, loadModel(t, base, ours)},
				{"peft_trained_in_qwentune", base, theirs, loadModel(t, base, theirs)},
			})
			peftMerged := filepath.Join(t.TempDir(), "peft-merged")
			runPython(t, "peft_adapter.py", "merge", base, theirs, peftMerged)
			compareFolders(t, ourMerged(t, shape), peftMerged, 1e-6)
		})
	}
}

// ourMerged is `qwentune export --format merged --dtype f32` of the PEFT-trained adapter.
func ourMerged(t testing.TB, shape string) string {
	return fixture(t, "merged-"+shape, func(dir string) {
		cli(t, "export", "--model", modelDir(shape), "--adapter", peftTrainedAdapter(t, shape), "--format", "merged",
			"--dtype", "f32", "--out", dir)
	})
}

// compareFolders fails unless the two Hugging Face folders hold the same tensor names and shapes, with values
// within tol·max|w| per tensor.
func compareFolders(t *testing.T, got, want string, tol float64) {
	t.Helper()
	g, w := loadTensors(t, filepath.Join(got, "model.safetensors")), loadTensors(t, filepath.Join(want, "model.safetensors"))
	for name, wt := range w {
		gt, ok := g[name]
		if !ok {
			t.Errorf("%s: no tensor %s (%s has it)", got, name, want)
			continue
		}
		if fmt.Sprint(gt.shape) != fmt.Sprint(wt.shape) {
			t.Errorf("%s: shape %v, %s has %v", name, gt.shape, want, wt.shape)
			continue
		}
		if d := relDiff(gt.data, wt.data); !(d <= tol) {
			t.Errorf("%s: differs from PEFT's merge by %.3g of max|w| (tolerance %g)", name, d, tol)
		}
	}
	for name := range g {
		if _, ok := w[name]; !ok {
			t.Errorf("%s: tensor %s, which %s does not have", got, name, want)
		}
	}
}

// TestMergedExportLoads is the first half of check 6: the merged folder QwenTune exports loads with
// AutoModelForCausalLM.from_pretrained (no warning) and gives the logits QwenTune gives with the adapter unmerged.
func TestMergedExportLoads(t *testing.T) {
	rows := batchRows(t)
	for _, shape := range Shapes {
		t.Run(shape, func(t *testing.T) {
			merged := ourMerged(t, shape)
			checkLogits(t, rows, []refCase{
				{"merged_export", merged, "", loadModel(t, modelDir(shape), peftTrainedAdapter(t, shape))},
			})
		})
	}
}
