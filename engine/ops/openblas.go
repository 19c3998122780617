//go:build cgo && !purego && !noopenblas && !windows

package ops

/*
#cgo !darwin LDFLAGS: -lopenblas
#cgo darwin LDFLAGS: -framework Accelerate
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <dlfcn.h>
#endif

// ops_blas_recore makes a DYNAMIC_ARCH OpenBLAS choose its kernels for core
// again, as if OPENBLAS_CORETYPE=core had been set when it loaded (its own
// gotoblas_dynamic_quit and _init, found at run time, so that other builds
// link too), and puts the variable back as it was. It returns 0 where the library
// has no such entry points.
static int ops_blas_recore(const char *core) {
#ifdef __linux__
	void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
	void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
	if (!quit || !init)
		return 0;
	const char *was = getenv("OPENBLAS_CORETYPE");
	char *saved = was ? strdup(was) : NULL;
	setenv("OPENBLAS_CORETYPE", core, 1);
	quit();
	init();
	if (saved) {
		setenv("OPENBLAS_CORETYPE", saved, 1);
		free(saved);
	} else
		unsetenv("OPENBLAS_CORETYPE");
	return 1;
#else
	(void)core;
	return 0;
#endif
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

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
	core := CoreName()
	if blasFallback != "" {
		core += fmt.Sprintf(" in place of %s, which OpenBLAS fell back to on this CPU", blasFallback)
	}
	b := fmt.Sprintf("%s (core %s, %d threads)", version, core, int(C.openblas_get_num_threads()))
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

// blasFallback is the core OpenBLAS chose on its own when that was its
// fallback for a CPU it does not know (see init), or "".
var blasFallback string

// OpenBLAS 0.3.21 (Debian 12's) does not know CPUs newer than it, such as
// Sapphire Rapids and later Xeons: it falls back to its Prescott (SSE3)
// kernels, an eighth of the speed of its AVX-512 ones there, and the
// attention and LoRA products (which stay on sgemm) slow every training
// step by a third. Where OPENBLAS_CORETYPE is not set and OpenBLAS fell
// back so on a CPU with AVX2 and FMA, it is made to choose again for the
// core whose instructions this CPU has: SkylakeX with the AVX-512 family,
// Haswell with AVX2. Someone who sets OPENBLAS_CORETYPE gets what they set.
func init() {
	if os.Getenv("OPENBLAS_CORETYPE") == "" {
		blasFallback = repairBLASFallback()
	}
}

// repairBLASFallback makes OpenBLAS choose again where it fell back to
// Prescott on a CPU with AVX2 and FMA, and returns the core it had fallen
// back to ("" if it had not, or could not be made to choose again).
func repairBLASFallback() string {
	fell := CoreName()
	if !strings.EqualFold(fell, "Prescott") {
		return ""
	}
	want := ""
	switch cpuFeatures.Best() {
	case AVX512:
		want = "SkylakeX"
	case AVX2:
		want = "Haswell"
	default:
		return ""
	}
	if !setBLASCore(want) || strings.EqualFold(CoreName(), fell) {
		return ""
	}
	return fell
}

// setBLASCore makes OpenBLAS choose its kernels for core (ops_blas_recore).
func setBLASCore(core string) bool {
	cs := C.CString(core)
	defer C.free(unsafe.Pointer(cs))
	return C.ops_blas_recore(cs) == 1
}
