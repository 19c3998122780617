package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvaluatorsTrust: a plugin found in a named folder is listed as
// untrusted with its path and not started; --trust approves it (recorded in
// the user's config folder, not beside it) and it is then listed with its
// description; a planted bin/plugins under the working directory is not
// searched at all.
func TestEvaluatorsTrust(t *testing.T) {
	cfgHome := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgHome)
	dir := t.TempDir()
	bin := filepath.Join(dir, "qwentune-eval-heuristic")
	if out, err := exec.Command("go", "build", "-o", bin, "qwentune/plugins/evaluators/heuristic").CombinedOutput(); err != nil {
		t.Fatalf("building the heuristic plugin: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"evaluators", "--dir", dir}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "untrusted") || !strings.Contains(out.String(), bin) {
		t.Fatalf("untrusted plugin: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"evaluators", "--trust", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "approved heuristic") {
		t.Fatalf("--trust: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("--trust wrote into the plugin folder: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(cfgHome, "qwentune", "trusted-plugins.sha256")); err != nil {
		t.Errorf("no approval in the user's config folder: %v", err)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"evaluators", "--dir", dir}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "heuristic") || strings.Contains(out.String(), "untrusted") {
		t.Fatalf("approved plugin: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	// evaluation.plugin_dir names a folder, relative to the config file.
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "config.yml"), []byte("evaluation:\n  plugin_dir: ../"+filepath.Base(dir)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, filepath.Join(filepath.Dir(proj), filepath.Base(dir))); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"evaluators", "--config", filepath.Join(proj, "config.yml")}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "heuristic") {
		t.Fatalf("evaluation.plugin_dir: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	// A bin/plugins under the working directory is not searched.
	wd := t.TempDir()
	if err := os.MkdirAll(filepath.Join(wd, "bin", "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "bin", "plugins", "qwentune-eval-planted"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	out.Reset()
	errOut.Reset()
	run([]string{"evaluators"}, &out, &errOut)
	if strings.Contains(out.String()+errOut.String(), "planted") {
		t.Errorf("a plugin under the working directory was found:\n%s%s", out.String(), errOut.String())
	}
}
