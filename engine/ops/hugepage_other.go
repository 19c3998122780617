//go:build !linux

package ops

import "unsafe"

// adviseHuge does nothing outside Linux (see hugepage_linux.go).
func adviseHuge(p unsafe.Pointer, n uintptr, collapse bool) {}
