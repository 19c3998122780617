//go:build cgo && !purego && amd64

// dpbf16.c: bfloat16 products with a frozen bfloat16 weight on AVX512_BF16
// (VDPBF16PS, SPEC §9): both operands bfloat16, products and sums float32.
// The activations arrive already rounded to bfloat16 (nearest even) and
// packed row-major, so a pair of adjacent values along the reduction
// dimension is one 32-bit lane.
//
// MulT (y = x·Wᵀ) reduces over in, along which a weight row already holds
// the pairs; Mul (dx = dy·W) reduces over out, across weight rows, whose
// values are interleaved into pairs as a block is packed (below).

#include "kernels.h"

#define BF16 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

INLINE BF16 __m512 dp(__m512 acc, __m512i a, __m512i b) {
	return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

// ops_round_bf16 rounds count float32 values to bfloat16, nearest even
// (VCVTNEPS2BF16; NaN stays a quiet NaN).
BF16 void ops_round_bf16(const float *src, uint16_t *dst, long count) {
	long i = 0;
	for (; i + 16 <= count; i += 16)
		_mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
	if (i < count) {
		__mmask16 m = (__mmask16)((1u << (count - i)) - 1);
		__m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
		_mm256_mask_storeu_epi16(dst + i, m, h);
	}
}

// Both products run on one micro-kernel, the usual shape of a GEMM on a
// broadcast-operand instruction: a packed panel P of the weight holds, for
// each pair index p of a block of the reduction dimension, 32 output
// columns' pairs (two vectors of 16 lanes, each lane one bfloat16 pair),
// and the activations' pair (a[i, 2p], a[i, 2p+1]) is broadcast to every
// lane. A tile of 12 activation rows × 32 output columns keeps 24
// accumulators; a step loads 2 panel vectors and 12 broadcast pairs for 24
// VDPBF16PS, with no horizontal sums and no shuffles in the loop.
//
// The panel is packed per block from the weight as stored (no copy of the
// weight outlives the call; the panel is 16 KiB on the stack): for Mul the
// pairs run across two weight rows, interleaved (vpermt2w); for MulT they
// run along a row and the panel is the 32-bit transpose of 32 rows
// (vpermt2d). Blocks: KC pairs of the reduction (the panel stays in L1),
// NC output columns (nc, chosen by the caller so that n rows of them stay
// in L2), and the activation block of KC pairs × n rows, in L2 while the
// panels of one column block pass.

#define KC 128

// tile: c[r*ldc + j] (+)= Σ_p P[p][j]·b[r][p] for r < I (rows past I
// repeat row I-1 and are not stored), j < 32 (lanes outside m0|m1 not
// stored). b rows are bfloat16 pairs, row r at b + r*ldb (ldb even).
#define DP_TILE(MR)                                                                                          \
	INLINE BF16 void dp_tile##MR(const uint32_t *P, long kc, const uint16_t *b, long ldb, int I, float *c,   \
			long ldc, __mmask16 m0, __mmask16 m1, int acc) {                                                 \
		__m512 s0[MR], s1[MR];                                                                               \
		const uint16_t *br[MR];                                                                              \
		_Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                                              \
			br[r] = b + (r < I ? r : I - 1) * ldb;                                                           \
			float *d = c + (r < I ? r : I - 1) * ldc;                                                        \
			s0[r] = acc ? _mm512_maskz_loadu_ps(m0, d) : _mm512_setzero_ps();                                \
			s1[r] = acc ? _mm512_maskz_loadu_ps(m1, d + 16) : _mm512_setzero_ps();                           \
		}                                                                                                    \
		for (long p = 0; p < kc; p++) {                                                                      \
			__m512i p0 = _mm512_load_si512(P + p * 32), p1 = _mm512_load_si512(P + p * 32 + 16);             \
			_Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                                          \
				uint32_t pr;                                                                                 \
				memcpy(&pr, br[r] + 2 * p, 4);                                                               \
				__m512i v = _mm512_set1_epi32((int)pr);                                                      \
				s0[r] = dp(s0[r], p0, v);                                                                    \
				s1[r] = dp(s1[r], p1, v);                                                                    \
			}                                                                                                \
		}                                                                                                    \
		_Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                                              \
			if (r < I) {                                                                                     \
				_mm512_mask_storeu_ps(c + r * ldc, m0, s0[r]);                                               \
				_mm512_mask_storeu_ps(c + r * ldc + 16, m1, s1[r]);                                          \
			}                                                                                                \
		}                                                                                                    \
	}
DP_TILE(12)
DP_TILE(8)
DP_TILE(4)

// dp_panel runs the tiles of n activation rows against one packed panel.
INLINE BF16 void dp_panel(const uint32_t *P, long kc, const uint16_t *b, long ldb, long n, float *c, long ldc,
		long wid, int acc) {
	__mmask16 m0 = (__mmask16)(wid >= 16 ? 0xffff : (1u << wid) - 1);
	__mmask16 m1 = (__mmask16)(wid <= 16 ? 0 : wid >= 32 ? 0xffff : (1u << (wid - 16)) - 1);
	long i = 0;
	for (; i + 12 <= n; i += 12) dp_tile12(P, kc, b + i * ldb, ldb, 12, c + i * ldc, ldc, m0, m1, acc);
	long I = n - i;
	if (I > 8)
		dp_tile12(P, kc, b + i * ldb, ldb, (int)I, c + i * ldc, ldc, m0, m1, acc);
	else if (I > 4)
		dp_tile8(P, kc, b + i * ldb, ldb, (int)I, c + i * ldc, ldc, m0, m1, acc);
	else if (I > 0)
		dp_tile4(P, kc, b + i * ldb, ldb, (int)I, c + i * ldc, ldc, m0, m1, acc);
}

// ops_dp_mul: dx[i*cols + c] (+)= Σ_o dy[i*ldd + o]·w[o*cols + c] for
// columns c in [lo, hi) (lo a multiple of 32), i < n; dy is bfloat16 with
// ldd even and dy[i*ldd + rows] zero when rows is odd. nc is the column
// block (a multiple of 32).
BF16 void ops_dp_mul(const uint16_t *w, long cols, long rows, long lo, long hi, const uint16_t *dy, long ldd,
		long n, float *dx, int acc, long nc) {
	OPS_RAN(OPS_K_TILED_MUL, OPS_AVX512);
	_Alignas(64) uint32_t P[KC * 32];
	__m512i ilo, ihi;
	pair_index(&ilo, &ihi);
	long pairs = (rows + 1) / 2;
	for (long jc = lo; jc < hi; jc += nc) {
		long je = hi - jc < nc ? hi : jc + nc;
		for (long p0 = 0; p0 < pairs; p0 += KC) {
			long kc = pairs - p0 < KC ? pairs - p0 : KC;
			for (long j = jc; j < je; j += 32) {
				long wid = je - j < 32 ? je - j : 32;
				__mmask32 m = wid == 32 ? 0xffffffffu : (__mmask32)((1u << wid) - 1);
				for (long p = 0; p < kc; p++) {
					long o = 2 * (p0 + p);
					__m512i r0 = _mm512_maskz_loadu_epi16(m, w + o * cols + j);
					__m512i r1 = o + 1 < rows ? _mm512_maskz_loadu_epi16(m, w + (o + 1) * cols + j)
								  : _mm512_setzero_si512();
					_mm512_store_si512(P + p * 32, _mm512_permutex2var_epi16(r0, ilo, r1));
					_mm512_store_si512(P + p * 32 + 16, _mm512_permutex2var_epi16(r0, ihi, r1));
				}
				if (j + 32 < je)
					prefetch_rows(w, cols, 2 * p0, 2 * p0 + 2 * kc < rows ? 2 * p0 + 2 * kc : rows, j + 32,
						je - j - 32 < 32 ? je - j - 32 : 32);
				dp_panel(P, kc, dy + 2 * p0, ldd, n, dx + j, cols, wid, acc || p0 > 0);
			}
		}
	}
}

// ops_dp_mult: y[i*ldy + o] (+)= Σ_k x[i*ldx + k]·w[o*cols + k] for
// weight rows o in [lo, hi) (lo a multiple of 32), i < n; x is bfloat16
// with ldx even and x[i*ldx + cols] zero when cols is odd. nc is the
// block of weight rows (a multiple of 32).
BF16 void ops_dp_mult(const uint16_t *w, long cols, long lo, long hi, const uint16_t *x, long ldx, long n,
		float *y, long ldy, int acc, long nc) {
	OPS_RAN(OPS_K_TILED_MULT, OPS_AVX512);
	_Alignas(64) uint32_t P[KC * 32];
	// The transpose of 16×16 32-bit values in four rounds, round j swapping
	// bit j of the row with bit j of the column: rows a (bit j clear) and
	// a + 2^j become x'[c] = c_j ? y[c - 2^j] : x[c] and
	// y'[c] = c_j ? y[c] : x[c + 2^j].
	__m512i ix[4], iy[4];
	for (int j = 0; j < 4; j++) {
		int32_t a[16], b[16], s = 1 << j;
		for (int c = 0; c < 16; c++) {
			a[c] = c & s ? 16 + c - s : c;
			b[c] = c & s ? 16 + c : c + s;
		}
		ix[j] = _mm512_loadu_si512(a), iy[j] = _mm512_loadu_si512(b);
	}
	long pairs = (cols + 1) / 2;
	for (long jc = lo; jc < hi; jc += nc) {
		long je = hi - jc < nc ? hi : jc + nc;
		for (long p0 = 0; p0 < pairs; p0 += KC) {
			long kc = pairs - p0 < KC ? pairs - p0 : KC;
			for (long j = jc; j < je; j += 32) {
				long wid = je - j < 32 ? je - j : 32;
				for (int g = 0; g < 2; g++)
					for (long q = 0; q < kc; q += 16) {
						// 16 rows × 16 pairs, pairs past the row's end zero.
						long left = cols - 2 * (p0 + q);
						__mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
						__m512i r[16];
						_Pragma("GCC unroll 16")
						for (int t = 0; t < 16; t++) {
							long o = j + g * 16 + t;
							r[t] = o < je ? _mm512_maskz_loadu_epi16(m, w + o * cols + 2 * (p0 + q))
								      : _mm512_setzero_si512();
						}
						_Pragma("GCC unroll 4")
						for (int b = 0; b < 4; b++) {
							int s = 1 << b;
							_Pragma("GCC unroll 16")
							for (int a = 0; a < 16; a++) {
								if (a & s)
									continue;
								__m512i u = _mm512_permutex2var_epi32(r[a], ix[b], r[a + s]);
								__m512i v = _mm512_permutex2var_epi32(r[a], iy[b], r[a + s]);
								r[a] = u, r[a + s] = v;
							}
						}
						long tq = kc - q < 16 ? kc - q : 16;
						for (long t = 0; t < tq; t++) _mm512_store_si512(P + (q + t) * 32 + g * 16, r[t]);
					}
				if (j + 32 < je) {
					long k0 = 2 * p0, k1 = 2 * (p0 + kc) < cols ? 2 * (p0 + kc) : cols;
					prefetch_rows(w, cols, j + 32, je < j + 64 ? je : j + 64, k0, k1 - k0);
				}
				dp_panel(P, kc, x + 2 * p0, ldx, n, y + j, ldy, wid, acc || p0 > 0);
			}
		}
	}
}

// ops_dp_peak runs iters steps of 12 independent VDPBF16PS on registers
// (no memory traffic): the instruction's throughput, 64 flops each (16
// lanes × 2 products and 2 sums). The sum of the accumulators is returned
// so the loop is not optimised away.
BF16 float ops_dp_peak(long iters) {
	__m512 s[12];
	for (int k = 0; k < 12; k++) s[k] = _mm512_setzero_ps();
	__m512i a = _mm512_set1_epi32(0x3f803f80), b = _mm512_set1_epi32(0x3c003c00);
	for (long i = 0; i < iters; i++) {
		_Pragma("GCC unroll 12")
		for (int k = 0; k < 12; k++) s[k] = dp(s[k], a, b);
		__asm__ volatile("" : "+v"(a), "+v"(b));
	}
	__m512 t = s[0];
	for (int k = 1; k < 12; k++) t = _mm512_add_ps(t, s[k]);
	return _mm512_reduce_add_ps(t);
}
