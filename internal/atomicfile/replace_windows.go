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
	const (
		errorAccessDenied     = syscall.Errno(5)
		errorSharingViolation = syscall.Errno(32)
		errorLockViolation    = syscall.Errno(33)
	)
	deadline := time.Now().Add(2 * time.Second)
	delay := time.Millisecond
	for {
		err := os.Rename(tmp, path)
		var errno syscall.Errno
		if err == nil || !errors.As(err, &errno) ||
			(errno != errorAccessDenied && errno != errorSharingViolation && errno != errorLockViolation) ||
			time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}
