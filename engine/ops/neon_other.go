//go:build !(cgo && !purego && arm64)

package ops

// neonBuilt says that this build has no NEON kernels (neon_arm64.go): the
// functions below are never called.
const neonBuilt = false

// baseFamily is the name of the Scalar family in this build.
const baseFamily = "scalar"

func neonGEMVF32([]float32, int, int, int, []float32, int, []float32, int, bool) {}
func neonGEMVBF16([]uint16, int, int, int, []float32, int, []float32, int, bool) {}
func neonAXPYF32([]float32, int, int, int, []float32, int, int, []float32, bool) {}
func neonAXPYBF16([]uint16, int, int, int, []float32, int, int, []float32, bool) {}

// useNEON is false: there are no NEON kernels to use.
const useNEON = false
