// Package atomicfile writes files so that a reader sees either the old
// content or the new one, never a half-written file: the data goes to a
// temporary file in the same folder (".NAME.tmp-*"), which is fsynced, given
// mode 0644 and renamed over the target. On any error the temporary file is
// removed and the target is left as it was; a process killed mid-write
// leaves the target intact and, at worst, a hidden temporary file.
//
// It is the one file writer of QwenTune: models, adapters, checkpoints'
// files, exports, evaluation outputs and settings all go through it.
// Renaming a whole folder into place (a checkpoint, a downloaded blob) is a
// different operation and stays with its owner.
package atomicfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Mode is the permission every written file gets, as os.WriteFile(…, 0644)
// would give it under the usual umask (os.CreateTemp makes files private).
const Mode os.FileMode = 0o644

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteJSON writes v as JSON indented by two spaces, with a final newline,
// atomically: the form of every JSON file QwenTune writes.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFile(path, append(b, '\n'))
}

// Write streams what fill produces into path atomically, through a 1 MiB
// buffer, so a file larger than memory can be written piece by piece. An
// error from fill (or a cancelled context it checks) leaves path untouched.
// Errors name the path.
func Write(path string, fill func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(Mode); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return Replace(tmp.Name(), path)
}
