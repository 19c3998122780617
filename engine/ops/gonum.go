//go:build purego || !cgo || noopenblas || windows

package ops

import (
	"gonum.org/v1/gonum/blas/gonum"
)

// blas32 is the float32 BLAS behind Gemm, MulT and Mul.
var blas32 gonum.Implementation

// Backend names the matrix-multiply implementation in use.
// With cgo (-tags noopenblas, or Windows) the engine's C kernels still run
// beside it.
func Backend() string {
	if neonBuilt && useNEON {
		return "gonum pure-Go, NEON decode products and Go loops for the other kernels (cpu: " + Features().String() + ")"
	}
	if !cKernels {
		return "gonum pure-Go, Go loops for the kernels (cpu: " + Features().String() + ")"
	}
	b := "gonum pure-Go"
	if avx512Products() {
		b += ", weight products on the AVX-512 tiled kernels"
	}
	return b + ", " + ISA().String() + " kernels (cpu: " + Features().String() + ")"
}

// CoreName is the CPU core type the BLAS kernels were chosen for; gonum's
// kernels are generic Go (with its assembly for amd64 vector loops).
func CoreName() string { return "generic" }

// SetBLASThreads has no effect with gonum, which splits work over
// GOMAXPROCS goroutines itself.
func SetBLASThreads(int) {}
