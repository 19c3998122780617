//go:build parity

package parity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"qwentune/model/safetensors"
)

// Shapes are the model folders models.py writes: tied embeddings like Qwen2-0.5B/1.5B, and an untied head with
// rope_theta 1e6 and 7 query heads per key/value head like Qwen2.5-7B.
var Shapes = []string{"tied", "untied"}

var (
	python    string // QWENTUNE_PYTHON
	modelsDir string // models.py's output
	repoDir   string
	workDir   string // removed when the run ends
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	python = os.Getenv("QWENTUNE_PYTHON")
	if python == "" {
		fmt.Fprintln(os.Stderr, "parity: QWENTUNE_PYTHON is not set: run scripts/parity.sh, or set it to the python of "+
			"the reference venv (QWENTUNE_PYTHON=$(scripts/pyenv.sh)). The parity suite needs its reference.")
		return 1
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parity:", err)
		return 1
	}
	repoDir = filepath.Dir(wd)
	workDir, err = os.MkdirTemp("", "qtparity-run-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "parity:", err)
		return 1
	}
	defer os.RemoveAll(workDir)
	modelsDir = os.Getenv("QWENTUNE_PARITY_MODELS")
	if modelsDir == "" {
		modelsDir = filepath.Join(workDir, "models")
		start := time.Now()
		if out, err := pythonCmd("models.py", modelsDir).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "parity: making the models with parity/models.py failed: %v\n%s", err, out)
			return 1
		}
		fmt.Fprintf(os.Stderr, "parity: models made by transformers in %.1fs\n", time.Since(start).Seconds())
	}
	for _, s := range Shapes {
		if _, err := os.Stat(filepath.Join(modelsDir, s, "config.json")); err != nil {
			fmt.Fprintf(os.Stderr, "parity: model %s: %v\n", s, err)
			return 1
		}
	}
	return m.Run()
}

func pythonCmd(script string, args ...string) *exec.Cmd {
	cmd := exec.Command(python, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONWARNINGS=default", "TOKENIZERS_PARALLELISM=false", "HF_HUB_OFFLINE=1")
	return cmd
}

// runPython runs a reference script of this folder with args and fails the test (with the script's output) when
// it fails.
func runPython(t testing.TB, script string, args ...string) {
	t.Helper()
	cmd := pythonCmd(script, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("reference %s %v failed (%v); a parity check without its reference fails:\n%s", script, args, err, out.String())
	}
	t.Logf("reference %s: %.1fs", script, time.Since(start).Seconds())
}

// pythonJSON writes req as JSON, runs the script with the request's path followed by extra, then the answer's
// path, and decodes the answer into resp.
func pythonJSON(t testing.TB, script string, req any, resp any, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	reqPath, respPath := filepath.Join(dir, "request.json"), filepath.Join(dir, "answer.json")
	writeJSON(t, reqPath, req)
	runPython(t, script, append(append([]string{reqPath}, extra...), respPath)...)
	readJSON(t, respPath, resp)
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// modelDir is the folder of one of Shapes.
func modelDir(shape string) string { return filepath.Join(modelsDir, shape) }

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// cli runs the qwentune command (built once per run from this tree) and returns its stdout; it fails the test
// with stderr when the command fails.
func cli(t testing.TB, args ...string) string {
	t.Helper()
	cliOnce.Do(func() {
		cliPath = filepath.Join(workDir, "qwentune")
		if runtime.GOOS == "windows" {
			cliPath += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", cliPath, "./cmd/qwentune")
		cmd.Dir = repoDir
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ./cmd/qwentune: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	cmd := exec.Command(cliPath, args...)
	cmd.Dir = repoDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("qwentune %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// loadTensors reads every tensor of a safetensors file as float32.
func loadTensors(t testing.TB, path string) map[string]tensor {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]tensor{}
	for _, name := range f.Names() {
		st, _ := f.Tensor(name)
		v, err := st.Float32()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		out[name] = tensor{shape: append([]int(nil), st.Shape...), data: v}
	}
	return out
}

type tensor struct {
	shape []int
	data  []float32
}

// relDiff is max|got−want| / max|want|, the measure the issue sets its 1e-4 on; NaNs count as infinitely far.
func relDiff(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		num = math.Max(num, d)
		den = math.Max(den, math.Abs(float64(want[i])))
	}
	if den == 0 {
		return num
	}
	return num / den
}

// maxAbs is max|a−b|.
func maxAbs(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}
