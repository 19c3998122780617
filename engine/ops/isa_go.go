//go:build purego || !cgo || !amd64

package ops

// cKernels says that this build has no C kernels: every kernel is a Go loop
// (the Scalar family).
const cKernels = false

// setCFamily has no C kernels to tell.
func setCFamily(Family) {}
