//go:build unix

package safetensors

import (
	"os"
	"syscall"
)

// mmapFile maps the first size bytes of f read-only and shared; the mapping
// outlives f's descriptor.
func mmapFile(f *os.File, size int) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
}

func munmap(b []byte) error { return syscall.Munmap(b) }

// dropPages tells the kernel the pages of b are not needed; being backed by
// the file, they are read again if touched.
func dropPages(b []byte) { _ = syscall.Madvise(b, syscall.MADV_DONTNEED) }
