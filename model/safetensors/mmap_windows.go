//go:build windows

package safetensors

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// mmapFile maps the first size bytes of f read-only: a file mapping object
// (CreateFileMapping) viewed with MapViewOfFile. The view keeps the file
// open, so both f and the mapping handle are closed before returning.
func mmapFile(f *os.File, size int) ([]byte, error) {
	h, err := windows.CreateFileMapping(windows.Handle(f.Fd()), nil, windows.PAGE_READONLY,
		uint32(uint64(size)>>32), uint32(size), nil)
	if err != nil {
		return nil, fmt.Errorf("CreateFileMapping: %w", err)
	}
	defer windows.CloseHandle(h)
	addr, err := windows.MapViewOfFile(h, windows.FILE_MAP_READ, 0, 0, uintptr(size))
	if err != nil {
		return nil, fmt.Errorf("MapViewOfFile: %w", err)
	}
	// The view is not Go memory: reinterpret the address without a
	// uintptr-to-pointer conversion, which vet rightly distrusts elsewhere.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), size), nil
}

func munmap(b []byte) error {
	return windows.UnmapViewOfFile(uintptr(unsafe.Pointer(&b[0])))
}

// dropPages removes the pages of b from the process's working set:
// VirtualUnlock on pages that are not locked does exactly that (they are
// backed by the file and read again if touched). Failure only costs memory.
func dropPages(b []byte) {
	_ = windows.VirtualUnlock(uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
}
