// kernels.h: what the C kernels of engine/ops share: the kernel families,
// the target attributes, the run counters of the family tests, the
// bfloat16 loads, and every entry point the Go files call.
//
// Each vector kernel carries its own target attribute (AVX2, AVX512 below)
// instead of a file-wide -mavx2 or -mavx512f, so that the scalar fallbacks,
// and anything GCC inlines into them, stay runnable on any x86-64. Which
// family runs is decided once, in Go (isa.go), and handed down with
// ops_set_family before any kernel runs.
//
// A .c file's functions that are not static are global symbols of the whole
// program: they all start with ops_, and helpers shared between files are
// static inline here.

#ifndef OPS_KERNELS_H
#define OPS_KERNELS_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// The kernel families, in the order of Family in isa.go. OPS_AVX2 needs
// AVX2 and FMA; OPS_AVX512 needs those and AVX-512 F, BW, VL and DQ, the
// union of what its kernels use (BW: 16-bit masked loads of bfloat16; VL:
// masked 256-bit loads; DQ: 64-bit multiplies of dropout).
enum { OPS_SCALAR, OPS_AVX2, OPS_AVX512, OPS_FAMILIES };

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")))
#define INLINE static inline __attribute__((always_inline))

// ops_family is the family in force (isa.c); kernels without code for it
// run the best family below it that they have.
extern int ops_family;
void ops_set_family(int family);

// The kernels whose runs the family tests count, per family that ran.
enum {
	OPS_K_GEMV,       // MulT with few inputs (gemv.c)
	OPS_K_AXPY,       // Mul with few inputs (gemv.c)
	OPS_K_TILED_MULT, // MulT with many inputs (tiled.c)
	OPS_K_TILED_MUL,  // Mul with many inputs (tiled.c)
	OPS_K_EXP_SUM,    // softmax.c
	OPS_K_MAX,        // softmax.c
	OPS_K_SWIGLU,     // swiglu.c
	OPS_K_SWIGLU_BWD, // swiglu.c
	OPS_K_DROPOUT,    // dropout.c
	OPS_K_SCALE,      // vec.c
	OPS_K_WIDEN,      // vec.c
	OPS_K_READ,       // vec.c
	OPS_K_Q8_GEMV,    // decode MulT with a Q8_0 weight (q8.c)
	OPS_K_Q8_DEQUANT, // Q8_0 rows to float32 or bfloat16 (q8.c)
	OPS_K_Q8_VNNI,    // decode MulT with a Q8_0 weight on VPDPBUSD (q8.c)
	OPS_KERNELS
};

// OPS_RAN(k, f) counts a run of kernel k in family f while the counters are
// on (tests only): one predictable branch per call otherwise.
extern int ops_counting;
extern long ops_runs[OPS_KERNELS][OPS_FAMILIES];
#define OPS_RAN(k, f)                                                              \
	do {                                                                           \
		if (__builtin_expect(ops_counting, 0))                                     \
			__atomic_fetch_add(&ops_runs[k][f], 1, __ATOMIC_RELAXED);              \
	} while (0)
void ops_count_runs(int on);
long ops_runs_of(int kernel, int family);

// bfloat16 is the upper half of a float32.
INLINE float bf16f(uint16_t b) {
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

INLINE float f32f(float f) { return f; }

// STREAM_PF is how far ahead (bytes) the AVX-512 float32 and bfloat16 decode
// kernels (gemv.c) and the read probe (vec.c) ask for each line of the
// weights they stream, into L1 (into L2 8 KiB ahead measured the same for
// these; q8.c's Q8_0 kernel asks its own way). The hardware prefetchers
// alone kept whole-model decoding on a 2-vCPU Sapphire Rapids Xeon well
// below a prefetched sequential read: asking 4 KiB ahead raised float32
// decoding by 12-15% (from 3.87, 3.69, 3.92 to 4.30, 4.28, 4.43 tokens/s,
// alternated; 2 KiB gave 4.40, 4.13, 4.45) and bfloat16 decoding by 25-36%
// (from 6.19, 6.71, 6.39 to 8.44, 7.90, 8.35). The probe asks the same, so
// that it still bounds what the kernels can reach.
#ifndef STREAM_PF
#define STREAM_PF 4096
#endif
#define PF_LINE(p) _mm_prefetch((const char *)(p) + STREAM_PF, _MM_HINT_T0)

// prefetch_rows asks for bytes [off, off+len) of rows r0 ≤ r < r1 of w
// (stride cols values) ahead of their packing: the weight comes from
// memory, one short strip of each of many rows, which the hardware
// prefetchers do not foresee, and a panel's packing otherwise waits on
// every row's miss in turn.
INLINE void prefetch_rows(const uint16_t *w, long cols, long r0, long r1, long off, long len) {
	for (long r = r0; r < r1; r++) {
		const char *a = (const char *)(w + r * cols + off);
		for (long b = 0; b < 2 * len; b += 64) _mm_prefetch(a + b, _MM_HINT_T0);
		_mm_prefetch(a + 2 * len - 1, _MM_HINT_T0);
	}
}

// pair_index sets the _mm512_permutex2var_epi16 indices that interleave
// two rows r0 and r1 of 32 bfloat16 into pairs: ilo gives (r0[m], r1[m])
// for m < 16, ihi for m ≥ 16 (the pair layout of a Mul panel).
INLINE AVX512 void pair_index(__m512i *ilo, __m512i *ihi) {
	uint16_t a[32], b[32];
	for (int m = 0; m < 16; m++) {
		a[2 * m] = m, a[2 * m + 1] = 32 + m;
		b[2 * m] = 16 + m, b[2 * m + 1] = 48 + m;
	}
	*ilo = _mm512_loadu_si512(a), *ihi = _mm512_loadu_si512(b);
}

// load_bf16 and load_f32 load 8 weights as float32.
INLINE AVX2 __m256 load_bf16(const uint16_t *p) {
	__m128i h = _mm_loadu_si128((const __m128i *)p);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE AVX2 __m256 load_f32(const float *p) { return _mm256_loadu_ps(p); }

// ld_f32 and ld_bf16 load the lanes of m of 16 weights as float32, the
// others zero.
INLINE AVX512 __m512 ld_f32(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

INLINE AVX512 __m512 ld_bf16(const uint16_t *p, __mmask16 m) {
	__m256i h = _mm256_maskz_loadu_epi16(m, p);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// bf16_rne512 rounds 16 float32 values to bfloat16, nearest even (NaN
// aside), in integer operations: for the AVX-512 CPUs without
// VCVTNE2PS2BF16.
INLINE AVX512 __m256i bf16_rne512(__m512 f) {
	__m512i u = _mm512_castps_si512(f);
	__m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	u = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
	return _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16));
}

// ops_tail8[8-m .. 16-m) is an AVX2 load mask for the first m of 8 lanes.
static const int32_t ops_tail8[16] __attribute__((unused)) = {-1, -1, -1, -1, -1, -1, -1, -1};

INLINE AVX2 __m256i tail_mask8(long m) {
	return _mm256_loadu_si256((const __m256i *)(ops_tail8 + 8 - m));
}

INLINE __mmask16 tail_mask16(long m) { return (__mmask16)((1u << m) - 1); }

// gemv.c: products of a weight with at most GEMVN_MAX inputs (decoding).
// GEMVN_MAX is the most inputs ops_gemv512_* takes (GEMVMaxN in Go).
#define GEMVN_MAX 8
void ops_gemv_f32(const float *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc);
void ops_gemv_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc);
void ops_gemv512_f32(const float *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc);
void ops_gemv512_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x, const float *eo, long eolen,
	long n, float *y, long ldy, int acc);
void ops_split_eo(const float *x, long cols, float *eo);
void ops_axpy_f32(const float *w, long cols, long lo, long hi, const float *dy, long ldy, long n, float *dx, int acc);
void ops_axpy_bf16(const uint16_t *w, long cols, long lo, long hi, const float *dy, long ldy, long n, float *dx, int acc);

// tiled.c: products of a weight with many inputs (prefill, training).
void ops_mult_f32(const float *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y, long ldy,
	int acc, long kc);
void ops_mult_bf16(const uint16_t *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y, long ldy,
	int acc, long kc);
void ops_transpose(const float *x, long n, long cols, long lo, long hi, float *xt, long np);
void ops_mul_f32(const float *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx, int acc, long oc);
void ops_mul_bf16(const uint16_t *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx, int acc,
	long oc);

// softmax.c
double ops_exp_shift_sum(float *p, long n, float shift);
float ops_max(const float *p, long n);

// swiglu.c
void ops_swiglu(float *h, const float *gate, const float *up, long n);
void ops_swiglu_bwd(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n);

// dropout.c
void ops_dropout(float *y, const float *x, long n, uint64_t base, uint32_t thr, float s);

// vec.c
void ops_scale(float *p, long n, float c);
void ops_bf16_to_f32(const uint16_t *src, float *dst, long count);
uint32_t ops_read_words(const uint32_t *p, long count);

// q8.c: Q8_0 weights (34-byte blocks of 32 values).
void ops_q8_dequant(const uint8_t *q, long blocks, float *dst);
void ops_q8_dequant_bf16(const uint8_t *q, long blocks, uint16_t *dst);
void ops_q8_gemv(const uint8_t *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc);
long ops_q8_quantize(const float *src, long blocks, uint8_t *dst);
void ops_q8_quantize_x(const float *x, long cols, long n, int8_t *xq, int32_t *corr, int32_t *xs, float *dx);
void ops_q8_gemv_vnni(const uint8_t *w, long cols, long lo, long hi, const int8_t *xq, const int32_t *corr,
	const float *dx, long n, float *y, long ldy, int acc);
void ops_q8_quantize_x_avx2(const float *x, long cols, long n, int8_t *xq, int32_t *corr, int32_t *xs, float *dx);
void ops_q8_gemv_i8(const uint8_t *w, long cols, long lo, long hi, const int8_t *xq, const float *dx, long n, float *y,
	long ldy, int acc);

// q8p.c: Q8_0 weights in the packed layout (16 rows interleaved).
void ops_q8p_pack(const uint8_t *src, long rows, long nb, uint8_t *dst);
void ops_q8p_unpack(const uint8_t *w, long nb, long r0, long r1, uint8_t *dst);
void ops_q8p_dequant(const uint8_t *w, long nb, long r0, long r1, void *dst, int form);
void ops_q8p_gemv_vnni(const uint8_t *w, long cols, long g0, long g1, long rows, const int8_t *xq, const int32_t *xs,
	const float *dx, long n, float *y, long ldy, int acc);

#endif
