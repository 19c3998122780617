//go:build windows

package trainer

import (
	"os"

	"golang.org/x/sys/windows"
)

// Windows has no O_NOFOLLOW; the pid file is opened as it is.
const syscallNoFollow = 0

// lockOffset is where the locked byte lies: far past the pid the file
// holds, because Windows' byte-range locks are mandatory and a lock on the
// pid would stop the waiting run from reading whose lock it met.
const lockOffset = 1 << 62

// tryLock takes an exclusive LockFileEx lock on one byte of f without
// waiting; Windows releases it when the holder exits.
func tryLock(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffset >> 32}
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

func unlockFile(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffset >> 32}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
