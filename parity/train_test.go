//go:build parity

// Training parity (issue 15, check 5) and the GPU job that really runs: `qwentune train` against
// transformers.Trainer + PEFT, and the folder `qwentune export --format hf-job` writes run with accelerate.
//
//	QWENTUNE_PYTHON=$(scripts/pyenv.sh) go test -tags parity -run Train ./parity/
//
// Environment:
//
//	QWENTUNE_PYTHON         required: the python of the reference venv (scripts/pyenv.sh prints it). Missing, or a
//	                        reference script that fails, FAILS the tests; nothing here skips.
//	QWENTUNE_BIN            optional: a built qwentune binary; default: `go build ./cmd/qwentune` into a temp folder.
//	QWENTUNE_PARITY_MODELS  optional: a folder holding tied/ and untied/ as parity/models.py writes them; default:
//	                        parity/models.py writes them into a temp folder (once per test binary).
//
// Every case renders the same rows with QwenTune (the hf-job's train.jsonl: our token ids and labels), starts both
// sides from one PEFT adapter made by get_peft_model with init_lora_weights=False (B is not zero), dropout 0, and
// visits the rows in QwenTune's order (the job's order.json, dataset.Order); see parity/README.md.
package parity

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"qwentune/engine"
	"qwentune/model/safetensors"
)

// trainRel is the relative tolerance on every logged loss, grad_norm and learning_rate; trainAbs the absolute one
// on every value of the final adapter (issue 15).
const (
	trainRel = 1e-4
	trainAbs = 1e-4
)

// trainRows are short prompt/completion rows: the loss counts the completion and the appended eos only, and the
// rows differ in length, so batches of two are padded.
var trainRows = []string{
	`{"prompt": "Q: 2+2?", "completion": " 4"}`,
	`{"prompt": "Say hello.", "completion": " Hello there, friend!"}`,
	`{"prompt": "Capital of France?", "completion": " Paris."}`,
	`{"prompt": "Colour of the sky?", "completion": " Blue, mostly."}`,
	`{"prompt": "Is fire hot?", "completion": " Yes."}`,
	`{"prompt": "Name a fruit.", "completion": " An apple a day keeps the doctor away."}`,
	`{"prompt": "What is ice?", "completion": " Frozen water."}`,
	`{"prompt": "Count to three.", "completion": " One, two, three."}`,
	`{"prompt": "Opposite of up?", "completion": " Down."}`,
	`{"prompt": "A short greeting, please.", "completion": " Hi!"}`,
}

// trainCase is one training configuration; both sides run it.
type trainCase struct {
	name        string
	shape       string // tied or untied (parity/models.py)
	r           int
	alpha       float64
	targets     []string
	lr          float64
	batch       int
	padding     string // longest or max_length
	maxLength   int
	warmup      int     // warmup_steps
	ratio       float64 // warmup_ratio (when warmup is 0)
	epochs      int
	wantSteps   int
	initSeed    int
	trainSeed   int
	weightDecay float64
}

// The cases: 10 rows, gradient accumulation 4, cosine with warmup, AdamW with weight decay 0.01, max_grad_norm
// 1.0, 12 optimizer steps. Batch 1: 10 micro-batches make 3 updates per epoch (the last of 2 micro-batches), 4
// epochs. Batch 2: 5 micro-batches make 2 updates per epoch (4 + 1), 6 epochs, warmup given as a ratio
// (ceil(0.2·12) = 3). Their learning rate, 5e-3, makes weight decay visible: dropping it on one side moves
// grad_norm by 6.5e-4 to 2.6e-3 relative and the adapter by 1.3e-4, while the two sides agree within 1.2e-5 and
// 1.6e-6 (at 1e-2 float32 rounding grows through the 12 Adam steps to 4e-5 in grad_norm, too near 1e-4; at 1e-3
// decay moves grad_norm by 1.2e-4 only). The seed's own settings (r 64, alpha 16, q_proj and v_proj,
// lr 2e-4, padding to max_length) on the untied shape; at lr 2e-4 weight decay changes the adapter by ~1e-5 only,
// under any tolerance the issue allows.
var trainCases = []trainCase{
	{name: "batch1", shape: "tied", r: 8, alpha: 32, lr: 5e-3, batch: 1, padding: "longest", maxLength: 64,
		targets: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		warmup:  3, epochs: 4, wantSteps: 12, initSeed: 3, trainSeed: 7, weightDecay: 0.01},
	{name: "batch2", shape: "tied", r: 8, alpha: 16, lr: 5e-3, batch: 2, padding: "longest", maxLength: 64,
		targets: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		ratio:   0.2, epochs: 6, wantSteps: 12, initSeed: 4, trainSeed: 11, weightDecay: 0.01},
	{name: "seed", shape: "untied", r: 64, alpha: 16, lr: 2e-4, batch: 1, padding: "max_length", maxLength: 24,
		targets: []string{"q_proj", "v_proj"}, warmup: 2, epochs: 4, wantSteps: 12, initSeed: 5, trainSeed: 42,
		weightDecay: 0.01},
}

// trainRun is one case run by `qwentune train`: the run folder, its job folder and initial adapter.
type trainRun struct {
	env                 *trainEnv
	dir, job, init, out string
	history             []map[string]float64 // trainer_state.json's log_history
}

// trainEnv is what every case needs: the reference python, a qwentune binary and the two model folders.
type trainEnv struct {
	python, bin, models string
}

// newTrainEnv finds the reference python, builds qwentune and makes the models (unless the environment names
// them), in t's temporary folder.
func newTrainEnv(t *testing.T) *trainEnv {
	t.Helper()
	e := &trainEnv{python: os.Getenv("QWENTUNE_PYTHON"), bin: os.Getenv("QWENTUNE_BIN"), models: os.Getenv("QWENTUNE_PARITY_MODELS")}
	if e.python == "" {
		t.Fatal("QWENTUNE_PYTHON is not set: point it at the reference venv's python (QWENTUNE_PYTHON=$(scripts/pyenv.sh))")
	}
	if out, err := exec.Command(e.python, "-c", "import torch, transformers, peft, accelerate").CombinedOutput(); err != nil {
		t.Fatalf("QWENTUNE_PYTHON=%s cannot import torch, transformers, peft and accelerate: %v\n%s", e.python, err, tail(string(out), 3000))
	}
	tmp := t.TempDir()
	if e.bin == "" {
		e.bin = filepath.Join(tmp, "qwentune")
		runCmd(t, "..", nil, "go", "build", "-o", e.bin, "./cmd/qwentune")
	}
	if e.models == "" {
		e.models = filepath.Join(tmp, "models")
		runCmd(t, ".", pyThreads, e.python, "models.py", e.models)
	}
	return e
}

// runCmd runs a command in dir and fails the test with its output when it fails.
func runCmd(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 6000))
	}
	return out.Bytes()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// pyThreads gives every Python process one thread: the machine's two cores are shared, and on a loaded machine
// torch's spinning OpenMP threads ran the reference twenty times slower than one thread does.
var pyThreads = []string{"OMP_NUM_THREADS=1"}

// refPy runs parity/train_ref.py CMD with spec written to dir/NAME.json.
func refPy(t *testing.T, e *trainEnv, dir, cmd string, spec map[string]any) {
	t.Helper()
	path := filepath.Join(dir, cmd+"-spec.json")
	writeJSON(t, path, spec)
	ref, err := filepath.Abs("train_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	runCmd(t, dir, pyThreads, e.python, ref, cmd, path)
}

// qwentuneTrain writes the case's config and data, exports the hf-job (our rendered rows and order), makes the
// initial adapter with PEFT and trains it with `qwentune train --init-adapter`, in t's temporary folder.
func qwentuneTrain(t *testing.T, e *trainEnv, c trainCase) *trainRun {
	t.Helper()
	dir := t.TempDir()
	r := &trainRun{env: e, dir: dir, job: filepath.Join(dir, "job"), init: filepath.Join(dir, "init"), out: filepath.Join(dir, "out")}
	if err := os.WriteFile(filepath.Join(dir, "train.jsonl"), []byte(strings.Join(trainRows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	modelDir := filepath.Join(e.models, c.shape)
	targets, _ := json.Marshal(c.targets)
	cfg := fmt.Sprintf(`model:
  name: %s
lora:
  r: %d
  alpha: %g
  dropout: 0
  target_modules: %s
dataset:
  train_file: train.jsonl
  test_file: train.jsonl
  max_length: %d
  padding: %s
  append_eos: true
  loss_on: auto
training:
  output_dir: out
  batch_size: %d
  gradient_accumulation_steps: 4
  learning_rate: %g
  lr_scheduler: cosine
  warmup_steps: %d
  warmup_ratio: %g
  weight_decay: %g
  epochs: %d
  max_steps: -1
  max_grad_norm: 1.0
  logging_steps: 1
  save_steps: 0
  seed: %d
logging:
  file: ""
`, modelDir, c.r, c.alpha, targets, c.maxLength, c.padding, c.batch, c.lr, c.warmup, c.ratio, c.weightDecay, c.epochs, c.trainSeed)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, dir, nil, e.bin, "export", "--format", "hf-job", "--config", "config.yml", "--gpus", "2", "--out", r.job)
	refPy(t, e, dir, "init", map[string]any{"model": modelDir, "seed": c.initSeed, "r": c.r, "alpha": c.alpha,
		"targets": c.targets, "out": r.init})
	runCmd(t, dir, nil, e.bin, "train", "--config", "config.yml", "--init-adapter", r.init, "--no-preflight", "--json")
	r.history = readHistory(t, filepath.Join(r.out, "trainer_state.json"))
	if got := len(r.history); got != c.wantSteps+1 {
		t.Fatalf("qwentune train logged %d entries, want %d steps and the summary", got, c.wantSteps)
	}
	return r
}

// readHistory reads log_history from a trainer_state.json (QwenTune's or the Trainer's).
func readHistory(t *testing.T, path string) []map[string]float64 {
	t.Helper()
	var st struct {
		LogHistory []map[string]any `json:"log_history"`
	}
	readJSON(t, path, &st)
	var out []map[string]float64
	for _, e := range st.LogHistory {
		m := map[string]float64{}
		for k, v := range e {
			if f, ok := v.(float64); ok {
				m[k] = f
			}
		}
		out = append(out, m)
	}
	return out
}

// closeRel reports whether got is within rel of want, relatively.
func closeRel(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want) && !math.IsNaN(got)
}

// compareSteps checks every step entry of ours (QwenTune's log_history) against ref: loss (from refLoss),
// grad_norm and learning_rate within trainRel, step and epoch equal.
func compareSteps(t *testing.T, ours, ref []map[string]float64, refLoss []float64, wantSteps int) {
	t.Helper()
	if len(ref) < wantSteps || len(ours) < wantSteps || len(refLoss) != wantSteps {
		t.Fatalf("steps: ours %d entries, reference %d entries and %d recorded losses; want %d steps", len(ours), len(ref), len(refLoss), wantSteps)
	}
	worst := map[string]float64{}
	for i := range wantSteps {
		o, r := ours[i], ref[i]
		if o["step"] != float64(i+1) || r["step"] != float64(i+1) || math.Abs(o["epoch"]-r["epoch"]) > 1e-9 {
			t.Errorf("entry %d: step/epoch ours %v/%v, reference %v/%v", i, o["step"], o["epoch"], r["step"], r["epoch"])
		}
		line := fmt.Sprintf("step %2d:", i+1)
		for _, k := range []string{"loss", "grad_norm", "learning_rate"} {
			want := r[k]
			if k == "loss" {
				want = refLoss[i]
			}
			got, ok := o[k]
			if !ok {
				t.Errorf("step %d: our log_history lacks %s", i+1, k)
				continue
			}
			if !closeRel(got, want, trainRel) {
				t.Errorf("step %d %s: ours %.9g, Trainer %.9g (rel %.2g > %g)", i+1, k, got, want, math.Abs(got-want)/math.Abs(want), trainRel)
			}
			if want != 0 {
				worst[k] = max(worst[k], math.Abs(got-want)/math.Abs(want))
				line += fmt.Sprintf(" %s %.6g (rel %.1g)", k, want, math.Abs(got-want)/math.Abs(want))
			}
		}
		t.Log(line)
	}
	t.Logf("%d steps; worst relative difference: loss %.2g, grad_norm %.2g, learning_rate %.2g", wantSteps, worst["loss"], worst["grad_norm"], worst["learning_rate"])
}

// loadAdapterTensors reads adapter_model.safetensors of dir as float32 by name.
func loadAdapterTensors(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, n := range f.Names() {
		tn, _ := f.Tensor(n)
		v, err := tn.Float32()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, n, err)
		}
		out[n] = v
	}
	return out
}

// maxAbsDiff is the largest |a−b| over every tensor; the names must agree.
func maxAbsDiff(t *testing.T, a, b map[string][]float32) float64 {
	t.Helper()
	an, bn := slices.Sorted(mapsKeys(a)), slices.Sorted(mapsKeys(b))
	if !slices.Equal(an, bn) {
		t.Fatalf("adapter tensors differ: %v vs %v", an, bn)
	}
	d := 0.0
	for n, av := range a {
		bv := b[n]
		if len(av) != len(bv) {
			t.Fatalf("%s: %d vs %d values", n, len(av), len(bv))
		}
		for i := range av {
			d = max(d, math.Abs(float64(av[i])-float64(bv[i])))
		}
	}
	return d
}

func mapsKeys(m map[string][]float32) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkAdapter compares a trained adapter with ours within trainAbs, and checks that training moved it well
// beyond that from the initial adapter (so the comparison is not vacuous).
func checkAdapter(t *testing.T, ours, theirs, init string) {
	t.Helper()
	o, th, in := loadAdapterTensors(t, ours), loadAdapterTensors(t, theirs), loadAdapterTensors(t, init)
	d := maxAbsDiff(t, o, th)
	moved := maxAbsDiff(t, th, in)
	t.Logf("final adapter: max |ours − theirs| %.2g; training moved it by up to %.2g", d, moved)
	if d > trainAbs {
		t.Errorf("final adapter differs by %.3g > %g", d, trainAbs)
	}
	if moved < 5*trainAbs {
		t.Errorf("training moved the adapter by only %.3g: the comparison cannot tell", moved)
	}
}

// jobOrder reads the epochs of the job's order.json.
func jobOrder(t *testing.T, job string) [][]int {
	t.Helper()
	var o struct {
		Epochs [][]int `json:"epochs"`
	}
	readJSON(t, filepath.Join(job, "order.json"), &o)
	return o.Epochs
}

// TestTrain runs both checks on one build of qwentune and one pair of models:
//
//	go test -tags parity -run Train/Trainer ./parity/   # check 5 only
//	go test -tags parity -run Train/HFJob ./parity/     # the GPU job only
func TestTrain(t *testing.T) {
	e := newTrainEnv(t)
	t.Run("Trainer", func(t *testing.T) { testTrainMatchesTrainer(t, e) })
	t.Run("HFJob", func(t *testing.T) { testTrainHFJob(t, e) })
}

// testTrainMatchesTrainer: every case trained by transformers.Trainer + PEFT gives, step by step, our loss,
// grad_norm and learning_rate, and our final adapter.
func testTrainMatchesTrainer(t *testing.T, e *trainEnv) {
	for _, c := range trainCases {
		t.Run(c.name, func(t *testing.T) {
			r := qwentuneTrain(t, e, c)
			ref := filepath.Join(r.dir, "ref")
			warmup := any(c.warmup)
			if c.warmup == 0 && c.ratio > 0 {
				warmup = c.ratio // transformers 5 reads a warmup_steps below 1 as the ratio: ceil(ratio·T)
			}
			pad := 0
			if c.padding == "max_length" {
				pad = c.maxLength
			}
			refPy(t, e, r.dir, "train", map[string]any{
				"model": filepath.Join(e.models, c.shape), "data": filepath.Join(r.job, "train.jsonl"),
				"order": jobOrder(t, r.job), "init_adapter": r.init, "pad_to": pad,
				"pad_id":     151643, // <|endoftext|>, the models' pad
				"batch_size": c.batch, "grad_accum": 4, "lr": c.lr, "scheduler": "cosine", "warmup_steps": warmup,
				"weight_decay": c.weightDecay, "epochs": c.epochs, "max_grad_norm": 1.0, "seed": c.trainSeed, "out": ref,
			})
			var log struct {
				Raw []struct {
					Step         int     `json:"step"`
					Loss         float64 `json:"loss"`
					MicroBatches int     `json:"micro_batches"`
				} `json:"raw"`
				MaxSteps int `json:"max_steps"`
			}
			readJSON(t, filepath.Join(ref, "log.json"), &log)
			hist := readHistory(t, filepath.Join(ref, "log.json"))
			if log.MaxSteps != c.wantSteps {
				t.Fatalf("the Trainer planned %d steps, want %d", log.MaxSteps, c.wantSteps)
			}
			if len(log.Raw) != c.wantSteps || len(hist) != c.wantSteps+1 {
				t.Fatalf("the Trainer recorded %d step losses and logged %d entries, want %d steps and the summary", len(log.Raw), len(hist), c.wantSteps)
			}
			var raw []float64
			micro := 0
			for i, s := range log.Raw {
				if s.Step != i+1 {
					t.Fatalf("recorded losses out of step: %+v", log.Raw)
				}
				raw = append(raw, s.Loss)
				micro += s.MicroBatches
				// transformers 5.25 logs the unrounded loss (4.x rounded it to 4 decimals).
				if !closeRel(hist[i]["loss"], s.Loss, 1e-6) {
					t.Errorf("step %d: the Trainer logged loss %v, its training_step returned %v in all", i+1, hist[i]["loss"], s.Loss)
				}
			}
			// Every micro-batch of every epoch ran, the partial accumulation at each epoch's end included.
			if want := c.epochs * ((len(trainRows) + c.batch - 1) / c.batch); micro != want {
				t.Errorf("the Trainer ran %d micro-batches, want %d", micro, want)
			}
			compareSteps(t, r.history, hist, raw, c.wantSteps)
			checkAdapter(t, r.out, ref, r.init)
		})
	}
}

// freePort asks the kernel for a free TCP port for torchrun's rendezvous.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// accelerate runs `accelerate launch` (the venv's, as a module) on the job's train.py.
func accelerate(t *testing.T, r *trainRun, env []string, launch []string, script ...string) {
	t.Helper()
	args := append([]string{"-m", "accelerate.commands.launch"}, launch...)
	args = append(args, filepath.Join(r.job, "train.py"))
	runCmd(t, r.dir, env, r.env.python, append(args, script...)...)
}

// testTrainHFJob runs the exported job for real. On one process with the initial adapter and QwenTune's row
// order it reproduces `qwentune train` (every loss, grad_norm and learning_rate, and the adapter). On two
// processes it is data-parallel over gloo (torchrun from the job's own accelerate_config.yaml, the path a
// multi-GPU machine takes), trains with the Trainer's own shuffling, and writes an adapter QwenTune loads with the
// logits PEFT gives.
//
// `accelerate launch --cpu --num_processes 2` would not do: without mpirun, accelerate's CPU launcher starts one
// process (the job then trained all rows alone, and nothing failed). The test checks the step count of the
// data-parallel plan so a run that did not split the rows fails.
func testTrainHFJob(t *testing.T, e *trainEnv) {
	c := trainCases[1] // batch 2, padded, warmup ratio
	r := qwentuneTrain(t, e, c)
	t.Run("one process", func(t *testing.T) {
		out := filepath.Join(r.dir, "job-1")
		accelerate(t, r, pyThreads, []string{"--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
			"--dynamo_backend", "no", "--cpu"}, "--init-adapter", r.init, "--qwentune-order", "--output-dir", out)
		hist := readHistory(t, filepath.Join(out, "trainer_state.json"))
		var loss []float64
		for _, e := range hist[:min(len(hist), c.wantSteps)] {
			loss = append(loss, e["loss"])
		}
		compareSteps(t, r.history, hist, loss, c.wantSteps)
		checkAdapter(t, r.out, out, r.init)
	})
	t.Run("two processes", func(t *testing.T) {
		out := filepath.Join(r.dir, "job-2")
		accelerate(t, r, pyThreads, []string{"--config_file", filepath.Join(r.job, "accelerate_config.yaml"),
			"--num_processes", "2", "--main_process_port", strconv.Itoa(freePort(t))}, "--init-adapter", r.init, "--output-dir", out)
		// Data-parallel plan: 10 rows, 2 per micro-batch, 2 processes: 3 micro-batches each per epoch (accelerate
		// evens the shards), 1 update per epoch with accumulation 4, 6 epochs.
		var st struct {
			GlobalStep int `json:"global_step"`
		}
		readJSON(t, filepath.Join(out, "trainer_state.json"), &st)
		perProcess := (len(trainRows) + 2*c.batch - 1) / (2 * c.batch)
		want := (perProcess + 3) / 4 * c.epochs
		if st.GlobalStep != want {
			t.Fatalf("the two-process job ran %d steps; a data-parallel run takes %d (one process alone takes %d)", st.GlobalStep, want, c.wantSteps)
		}
		checkAdapterLogits(t, r, c, out)
	})
}

// checkAdapterLogits loads the adapter in QwenTune and compares its float32 logits on three rows with PEFT's:
// max |Δ| / max |logit| within 1e-4, as the forward check does.
func checkAdapterLogits(t *testing.T, r *trainRun, c trainCase, adapter string) {
	t.Helper()
	modelDir := filepath.Join(r.env.models, c.shape)
	rows := readJobRows(t, r.job)[:3]
	bin := filepath.Join(r.dir, "peft-logits.bin")
	refPy(t, r.env, r.dir, "logits", map[string]any{"model": modelDir, "adapter": adapter, "rows": rows, "out": bin})
	s, err := engine.OpenDir(modelDir, modelDir, "float32")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.LoadAdapter(adapter)
	if err != nil {
		t.Fatalf("QwenTune cannot load the job's adapter: %v", err)
	}
	ref := readFloats(t, bin)
	V := s.Config.VocabSize
	var base, withA [][]float32
	off, maxRef, maxDiff, moved := 0, 0.0, 0.0, 0.0
	for _, ids := range rows {
		s.Model.SetAdapter(nil)
		base = s.Model.Logits(ids)
		s.Model.SetAdapter(a)
		withA = s.Model.Logits(ids)
		for p := range ids {
			for v := range V {
				want := float64(ref[off])
				off++
				maxRef = max(maxRef, math.Abs(want))
				maxDiff = max(maxDiff, math.Abs(float64(withA[p][v])-want))
				moved = max(moved, math.Abs(float64(base[p][v])-want))
			}
		}
	}
	s.Model.SetAdapter(nil)
	if off != len(ref) {
		t.Fatalf("PEFT wrote %d logits, the rows have %d", len(ref), off)
	}
	t.Logf("logits with the two-process adapter: max |Δ| / max |logit| = %.2g (the adapter moves them by %.2g)", maxDiff/maxRef, moved/maxRef)
	if maxDiff/maxRef > 1e-4 {
		t.Errorf("QwenTune's logits with the job's adapter differ from PEFT's: max |Δ| / max |logit| = %.3g > 1e-4", maxDiff/maxRef)
	}
	if moved/maxRef < 1e-2 {
		t.Errorf("the adapter hardly changes the logits (%.3g): the comparison cannot tell", moved/maxRef)
	}
}

// readJobRows reads the input_ids of the job's train.jsonl.
func readJobRows(t *testing.T, job string) [][]int {
	t.Helper()
	f, err := os.Open(filepath.Join(job, "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]int
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r struct {
			IDs []int `json:"input_ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r.IDs)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// readFloats reads raw little-endian float32 values.
func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a float32 array", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
