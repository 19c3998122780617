//go:build unix

package trainer

import (
	"os"
	"syscall"
)

const syscallNoFollow = syscall.O_NOFOLLOW

func tryLock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
