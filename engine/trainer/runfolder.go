package trainer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile in an output folder is held (flock) by the run writing there and
// names its pid.
const LockFile = ".qwentune.lock"

// ErrLocked is returned (wrapped) when another process is writing into the
// output folder.
var ErrLocked = errors.New("the output folder is in use")

// RunExistsError is returned by Run for a fresh run (no ResumeFrom) into a
// folder that holds another run's state or checkpoints, unless
// Options.Overwrite.
type RunExistsError struct {
	Dir   string
	Found string // the file or folder that shows a run is there
}

func (e *RunExistsError) Error() string {
	return fmt.Sprintf("%s already holds a run (%s): resume it (--resume), choose another training.output_dir, or pass --overwrite to replace it", e.Dir, e.Found)
}

// runFiles are the files a run writes at the top of its output folder that
// an overwrite removes so nothing of the old run is left mixed in (the
// adapter or model files are replaced by the new run's anyway).
var runFiles = []string{TrainerStateFile, TrainingArgsFile, ParamsFile, "adapter_model.safetensors", "adapter_config.json",
	"model.safetensors", "model.safetensors.index.json"}

// existingRun returns what shows that dir holds a run, or "".
func existingRun(dir string) (string, error) {
	cks, err := Checkpoints(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if len(cks) > 0 {
		return filepath.Base(cks[len(cks)-1]), nil
	}
	for _, f := range []string{TrainerStateFile, "adapter_model.safetensors", ParamsFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return f, nil
		}
	}
	return "", nil
}

// clearRun removes an earlier run's checkpoints, state files and log.
func clearRun(dir, logFile string) error {
	cks, err := Checkpoints(dir)
	if err != nil {
		return err
	}
	for _, ck := range cks {
		if err := os.RemoveAll(ck); err != nil {
			return err
		}
	}
	files := append([]string(nil), runFiles...)
	for _, f := range files {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if logFile != "" {
		if err := os.Remove(logFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// checkNoSymlinks refuses an output folder that is a symbolic link, or that
// holds one at its top or inside a checkpoint: every write of a run goes to
// a file of the folder's own, never through a link to somewhere else.
func checkNoSymlinks(dir string) error {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(dir)
		return fmt.Errorf("train: output_dir %s is a symbolic link (to %s): runs never write through a link; name the real folder", dir, target)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("train: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("train: %s is a symbolic link: runs never write through a link; remove it or choose another output_dir", path)
		}
		if _, ok := checkpointStep(e.Name()); ok && e.IsDir() {
			sub, err := os.ReadDir(path)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			for _, s := range sub {
				if s.Type()&fs.ModeSymlink != 0 {
					return fmt.Errorf("train: %s is a symbolic link: runs never write through a link", filepath.Join(path, s.Name()))
				}
			}
		}
	}
	return nil
}

// runLock is the held lock of an output folder.
type runLock struct{ f *os.File }

// lockRun takes the output folder's lock, or says which process holds it.
func lockRun(dir string) (*runLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscallNoFollow, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		pid := strings.TrimSpace(string(b[:n]))
		if _, perr := strconv.Atoi(pid); perr != nil {
			pid = "unknown"
		}
		return nil, fmt.Errorf("train: %w: another QwenTune run (pid %s) is writing into %s; wait for it to finish or choose another training.output_dir", ErrLocked, pid, dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &runLock{f: f}, nil
}

// unlock releases the lock (the file stays; a lock is the flock, not the
// file's presence, so a killed run never leaves the folder locked).
func (l *runLock) unlock() {
	if l != nil && l.f != nil {
		_ = l.f.Truncate(0)
		_ = unlockFile(l.f)
		l.f.Close()
		l.f = nil
	}
}
