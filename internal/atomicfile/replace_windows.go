//go:build windows

package atomicfile

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Replace renames tmp over path. os.Rename is MoveFileEx with
// MOVEFILE_REPLACE_EXISTING, which replaces the target, but fails with a
// sharing violation or access denied while another handle has path open
// without FILE_SHARE_DELETE (Go's own os.Open does not share delete, and
// virus scanners and indexers open new files briefly). Like cmd/go's
// robustio, the rename is retried for a while before the error is returned.
func Replace(tmp, path string) error {
	deadline := time.Now().Add(2 * time.Second)
	delay := time.Millisecond
	for {
		err := os.Rename(tmp, path)
		if err == nil || !transient(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// ReadFile is os.ReadFile, retried for a while on a sharing violation: on
// Windows a reader that opens path while Replace renames over it is refused
// (the rename holds it for deletion), where on Unix it sees the old or the
// new file.
func ReadFile(path string) ([]byte, error) {
	deadline := time.Now().Add(2 * time.Second)
	delay := time.Millisecond
	for {
		b, err := os.ReadFile(path)
		if err == nil || !transient(err) || time.Now().After(deadline) {
			return b, err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// transient reports the errors another handle on the file causes for a
// moment: access denied, sharing and lock violations.
func transient(err error) bool {
	const (
		errorAccessDenied     = syscall.Errno(5)
		errorSharingViolation = syscall.Errno(32)
		errorLockViolation    = syscall.Errno(33)
	)
	var errno syscall.Errno
	return errors.As(err, &errno) &&
		(errno == errorAccessDenied || errno == errorSharingViolation || errno == errorLockViolation)
}
