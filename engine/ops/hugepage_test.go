package ops

import (
	"strings"
	"testing"
	"unsafe"
)

// TestArena carves slices of each kind and checks their alignment, that
// they are zero, do not overlap (writing each with its own value, then
// reading all back), that the arena starts on a huge page, and that asking
// for more than it holds panics with the sizes.
func TestArena(t *testing.T) {
	sizes := []int{ArenaBytes(1000, 4), ArenaBytes(3, 2), ArenaBytes(77, 1), ArenaBytes(1<<20, 4)}
	total := 0
	for _, s := range sizes {
		total += s
	}
	a := NewArena(total)
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(a.buf))); p%hugePage != 0 {
		t.Fatalf("arena starts at %#x, not on a 2 MiB boundary", p)
	}
	f := a.F32(1000)
	u := a.U16(3)
	b := a.Bytes(77)
	g := a.F32(1 << 20)
	a.Settle()
	for i, p := range []unsafe.Pointer{unsafe.Pointer(&f[0]), unsafe.Pointer(&u[0]), unsafe.Pointer(&b[0]), unsafe.Pointer(&g[0])} {
		if uintptr(p)%arenaAlign != 0 {
			t.Errorf("slice %d at %#x is not %d-byte aligned", i, p, arenaAlign)
		}
	}
	for _, v := range f {
		if v != 0 {
			t.Fatal("fresh arena memory is not zero")
		}
	}
	for i := range f {
		f[i] = 1
	}
	for i := range u {
		u[i] = 2
	}
	for i := range b {
		b[i] = 3
	}
	for i := range g {
		g[i] = 4
	}
	for i := range f {
		if f[i] != 1 {
			t.Fatalf("f[%d] = %v, overwritten", i, f[i])
		}
	}
	for i := range u {
		if u[i] != 2 {
			t.Fatalf("u[%d] = %v, overwritten", i, u[i])
		}
	}
	for i := range b {
		if b[i] != 3 {
			t.Fatalf("b[%d] = %v, overwritten", i, b[i])
		}
	}
	if len(a.F32(0)) != 0 || a.used != total {
		t.Fatalf("arena used %d of %d", a.used, total)
	}
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "has 0 left, 64 asked") {
			t.Fatalf("overfull arena: recovered %v, want a panic naming the sizes", r)
		}
	}()
	a.U16(1)
}
