package ops

import (
	"fmt"
	"unsafe"
)

// hugePage is the size of an x86-64 transparent huge page.
const hugePage = 2 << 20

// Arena is one allocation that a model's weights are carved from, held in
// 2 MiB transparent huge pages where the OS allows.
//
// Decoding reads every weight once per token, 6 GB for Qwen2-1.5B in
// float32: with 4 KiB pages that is 1.5 million pages, each a TLB miss (a
// two-level walk under a hypervisor) at which the hardware prefetcher
// also stops, since it does not cross a 4 KiB page. On the 2-vCPU KVM host
// of issue 18 two threads read the same buffer 20-25% faster from huge
// pages than from small ones (bench/README.md). Go's heap asks for no
// huge pages and Linux's default (transparent_hugepage/enabled "madvise")
// gives none unasked, so the weights ask for them here. One allocation for
// all of a model's weights, aligned to 2 MiB, leaves no tensor's ends in
// small pages; the Go collector frees it with the last weight using it.
type Arena struct {
	buf  []byte
	used int
}

// arenaAlign is the alignment of every slice an Arena hands out: a cache
// line, and the widest vector load.
const arenaAlign = 64

// ArenaBytes is the room an Arena needs for a tensor of n values of size
// bytes each.
func ArenaBytes(n, size int) int { return (n*size + arenaAlign - 1) &^ (arenaAlign - 1) }

// NewArena allocates an arena of bytes (the sum of ArenaBytes of what will
// be carved from it) and asks for huge pages before anything touches it.
func NewArena(bytes int) *Arena {
	if bytes <= 0 {
		return &Arena{}
	}
	// Whole huge pages from a 2 MiB boundary: the allocation has room for
	// the rounding at both ends.
	whole := (bytes + hugePage - 1) &^ (hugePage - 1)
	raw := make([]byte, whole+hugePage)
	p := unsafe.Pointer(unsafe.SliceData(raw))
	off := int((hugePage - uintptr(p)%hugePage) % hugePage)
	adviseHuge(unsafe.Pointer(&raw[off]), uintptr(whole), false)
	return &Arena{buf: raw[off : off+bytes : off+bytes]}
}

// take returns the next n bytes of the arena, panicking when it is full (the
// caller sized it wrong: a programmer error).
func (a *Arena) take(n int) unsafe.Pointer {
	size := (n + arenaAlign - 1) &^ (arenaAlign - 1)
	if a.used+size > len(a.buf) {
		panic(fmt.Sprintf("ops: arena of %d bytes has %d left, %d asked", len(a.buf), len(a.buf)-a.used, size))
	}
	p := unsafe.Pointer(&a.buf[a.used])
	a.used += size
	return p
}

// F32 carves n float32 values out of the arena (zero unless the arena's
// memory is reused, which it never is: each value is handed out once).
func (a *Arena) F32(n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	return unsafe.Slice((*float32)(a.take(4*n)), n)
}

// U16 carves n uint16 values (bfloat16 weights) out of the arena.
func (a *Arena) U16(n int) []uint16 {
	if n == 0 {
		return []uint16{}
	}
	return unsafe.Slice((*uint16)(a.take(2*n)), n)
}

// Bytes carves n bytes out of the arena (for packed formats such as Q8_0).
func (a *Arena) Bytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(a.take(n)), n)
}

// Settle makes what was filled in so far huge now if it is not already
// (MADV_COLLAPSE): when the allocation reused memory the process had
// touched before, its pages were small when the advice came.
func (a *Arena) Settle() {
	if a.used > 0 {
		adviseHuge(unsafe.Pointer(unsafe.SliceData(a.buf)), uintptr(a.used), true)
	}
}
