//go:build unix

package safetensors

import (
	"os"

	"golang.org/x/sys/unix"
)

// mmapFile maps the first size bytes of f read-only and shared; the mapping
// outlives f's descriptor.
func mmapFile(f *os.File, size int) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
}

func munmap(b []byte) error { return unix.Munmap(b) }

// dropPages tells the kernel the pages of b are not needed; being backed by
// the file, they are read again if touched. (x/sys/unix, not syscall, which
// has no Madvise on macOS.)
func dropPages(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
