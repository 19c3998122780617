//go:build windows

package runs

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// lock takes the store's exclusive lock: LockFileEx on .lock, which Windows
// releases when the holder exits, so a crash never leaves the store locked.
// Each call opens the file anew, so goroutines of one process exclude each
// other as separate processes do.
func (s *Store) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	h := windows.Handle(f.Fd())
	var ol windows.Overlapped
	if err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &ol); err != nil {
		f.Close()
		return nil, fmt.Errorf("runs: lock %s: %w", f.Name(), err)
	}
	return func() {
		var ol windows.Overlapped
		windows.UnlockFileEx(h, 0, 1, 0, &ol)
		f.Close()
	}, nil
}

// processAlive reports whether process pid is running: it can be opened and
// has no exit code yet. Access denied means it exists under another user.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return err == windows.ERROR_ACCESS_DENIED
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	const stillActive = 259 // STILL_ACTIVE
	return code == stillActive
}
