//go:build !windows

package atomicfile

import "os"

// Replace renames tmp over path; rename(2) replaces atomically even while
// path is open.
func Replace(tmp, path string) error { return os.Rename(tmp, path) }

// ReadFile is os.ReadFile: a reader never meets a replacement in progress.
func ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }
