//go:build cgo && !purego && !noopenblas && darwin

// accelerate_darwin.c: on macOS the sgemm of openblas.go is Apple's
// Accelerate framework, which exports the same CBLAS entry points that
// gonum's netlib package calls (cblas_sgemm, ...) and runs them on the
// AMX units of Apple silicon. openblas.go links it instead of -lopenblas
// and asks four OpenBLAS-only questions, answered here. UNTESTED: written
// and compiled on Linux only (no Mac or macOS SDK on the CI machines).
//
// Accelerate sizes its own thread pool (VECLIB_MAXIMUM_THREADS, read at
// start-up): the thread count is remembered, not applied.

static int accel_threads = 1;

char *openblas_get_config(void) { return "Accelerate Accelerate.framework"; }

char *openblas_get_corename(void) { return "Apple"; }

int openblas_get_num_threads(void) { return accel_threads; }

void openblas_set_num_threads(int n) { accel_threads = n > 0 ? n : 1; }
