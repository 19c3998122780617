//go:build cgo && !purego && !noopenblas && !windows

package ops

/*
#cgo !darwin LDFLAGS: -lopenblas
#cgo darwin LDFLAGS: -framework Accelerate
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
*/
import "C"

import (
	"fmt"
	"strings"

	"gonum.org/v1/netlib/blas/netlib"
)

// blas32 is the float32 BLAS behind Gemm, MulT and Mul.
var blas32 netlib.Implementation

// Backend names the matrix-multiply implementation in use, e.g.
// "openblas 0.3.21 (core Haswell, 2 threads)", says when products with a
// weight run on the tiled kernels instead (tiled.c), and names the kernel
// family in force and the CPU's features (isa.go).
func Backend() string {
	version := "openblas"
	// The config string reads "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY ...".
	if f := strings.Fields(C.GoString(C.openblas_get_config())); len(f) > 1 {
		version += " " + f[1]
	}
	b := fmt.Sprintf("%s (core %s, %d threads)", version, CoreName(), int(C.openblas_get_num_threads()))
	if tiledProducts() {
		b += fmt.Sprintf(", weight products on the %s tiled kernels", ISA())
	}
	return b + fmt.Sprintf(", %s kernels (cpu: %s)", ISA(), Features())
}

// CoreName is the CPU core type the BLAS kernels were chosen for, as
// OpenBLAS reports it (e.g. "Haswell", "Zen", "SkylakeX").
func CoreName() string { return C.GoString(C.openblas_get_corename()) }

// SetBLASThreads sets how many threads OpenBLAS uses inside one call.
func SetBLASThreads(n int) { C.openblas_set_num_threads(C.int(max(n, 1))) }
