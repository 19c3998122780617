//go:build cgo && !purego && amd64

// isa.c: the kernel family in force and the run counters of the family
// tests (kernels.h).

#include "kernels.h"

int ops_family;

// ops_set_family selects the kernel family; Go calls it once at start-up
// (and tests call it between kernels), never while a kernel runs.
void ops_set_family(int family) { ops_family = family; }

int ops_counting;
long ops_runs[OPS_KERNELS][OPS_FAMILIES];

// ops_count_runs clears the run counters and turns counting on, or turns it
// off.
void ops_count_runs(int on) {
	if (on) memset(ops_runs, 0, sizeof ops_runs);
	__atomic_store_n(&ops_counting, on, __ATOMIC_SEQ_CST);
}

long ops_runs_of(int kernel, int family) { return __atomic_load_n(&ops_runs[kernel][family], __ATOMIC_RELAXED); }
