package trainer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunFolderLocked: while one run holds the output folder, a second is
// refused naming the holder's pid; after it ends the folder is free again.
func TestRunFolderLocked(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := runOpts(t, m, 4, 1)
	l, err := lockRun(o.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), m, o, nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second writer: error %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	if _, err := os.Stat(filepath.Join(o.OutputDir, TrainerStateFile)); err == nil {
		t.Error("the refused run wrote into the locked folder")
	}
	l.unlock()
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}

// TestFreshRunIntoARunFolder: a fresh run into a finished run's folder is
// refused; with Overwrite the old checkpoints and log are gone, not mixed in.
func TestFreshRunIntoARunFolder(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := runOpts(t, m, 4, 1) // 6 steps
	o.SaveSteps = 1
	o.LogFile = filepath.Join(o.OutputDir, "training.log")
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	o.MaxSteps, o.SaveSteps = 2, 2
	_, err := Run(context.Background(), m, o, nil)
	var re *RunExistsError
	if !errors.As(err, &re) || re.Found != "checkpoint-6" {
		t.Fatalf("fresh run into a run's folder: %v, want a RunExistsError naming checkpoint-6", err)
	}
	if _, err := os.Stat(filepath.Join(o.OutputDir, "checkpoint-6")); err != nil {
		t.Fatalf("the refused run touched the old checkpoints: %v", err)
	}
	o.Overwrite = true
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	cks, err := Checkpoints(o.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 1 || filepath.Base(cks[0]) != "checkpoint-2" {
		t.Errorf("after overwriting: checkpoints %v, want only checkpoint-2", cks)
	}
	log, err := os.ReadFile(o.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(log), "'step': 6") > 0 || strings.Contains(string(log), "checkpoint-6") {
		t.Errorf("the old run's log is mixed into the new one:\n%s", log)
	}
}

// TestSymlinkedOutputRefused: an output folder that is a link, or that holds
// a link, is refused and the link's target is left as it was.
func TestSymlinkedOutputRefused(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := runOpts(t, m, 4, 1)
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, TrainerStateFile), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "out")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	o.OutputDir = link
	o.Overwrite = true
	if _, err := Run(context.Background(), m, o, nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlinked output_dir: %v", err)
	}
	o.OutputDir = t.TempDir()
	if err := os.Symlink(filepath.Join(target, TrainerStateFile), filepath.Join(o.OutputDir, "training.log")); err != nil {
		t.Fatal(err)
	}
	o.LogFile = filepath.Join(o.OutputDir, "training.log")
	if _, err := Run(context.Background(), m, o, nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlinked file inside output_dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, TrainerStateFile)); string(b) != "precious" {
		t.Errorf("the link's target was written: %q", b)
	}
}
