package ops

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHuge asks the kernel to back the 2 MiB-aligned interior of
// [p, p+n) with transparent huge pages: MADV_HUGEPAGE, which makes the
// pages faulted in later huge (the system default here is "madvise": only
// memory that asks gets them), and, with collapse, MADV_COLLAPSE, which
// turns pages already present into huge ones now. Both are best effort:
// errors (an old kernel, THP off, no free huge page) are ignored and the
// memory stays valid and unchanged either way.
func adviseHuge(p unsafe.Pointer, n uintptr, collapse bool) {
	beg := (uintptr(p) + hugePage - 1) &^ (hugePage - 1)
	end := (uintptr(p) + n) &^ (hugePage - 1)
	if beg >= end {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, beg-uintptr(p))), end-beg)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	if collapse {
		_ = unix.Madvise(b, unix.MADV_COLLAPSE)
	}
}
