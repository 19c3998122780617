//go:build !unix && !windows

package runs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// staleLock is how old a lock folder must be before it is taken to belong to
// a writer that died: a record update holds the lock for milliseconds.
const staleLock = 30 * time.Second

// lock takes the store's exclusive lock where flock(2) is missing: creating
// the folder .lock.d is atomic and fails while another writer holds it. A
// lock left by a crashed writer is broken once it is staleLock old.
func (s *Store) lock() (unlock func(), err error) {
	p := filepath.Join(s.dir, ".lock.d")
	deadline := time.Now().Add(2 * staleLock)
	for {
		err := os.Mkdir(p, 0o755)
		if err == nil {
			return func() { os.Remove(p) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("runs: lock: %w", err)
		}
		if info, err := os.Stat(p); err == nil && time.Since(info.ModTime()) > staleLock {
			os.Remove(p)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("runs: %s has been locked for over %v", s.dir, 2*staleLock)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processAlive cannot tell on this system: a run is taken to be alive.
func processAlive(int) bool { return true }
