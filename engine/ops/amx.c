//go:build cgo && !purego && amd64

// amx.c: bfloat16 products with a frozen bfloat16 weight on AMX (Intel's
// tile unit: TDPBF16PS, SPEC §9), the same products as dpbf16.c — both
// operands bfloat16, products and sums float32 — on the CPUs that have it
// (Sapphire Rapids and later Xeons). One TDPBF16PS multiplies a tile A of
// 16 rows × 32 bfloat16 by a tile B of 16 rows × 16 bfloat16 pairs (B's row
// p holds, for each of 16 output columns, the pair of reduction indices 2p
// and 2p+1) into a 16 × 16 float32 tile C: 16,384 flops, about 16 cycles.
// Eight tiles of 1 KiB: four accumulators (32 × 32 outputs), two A, two B.
//
// MulT (y = x·Wᵀ) computes yᵀ = W·xᵀ instead, so that W is the A operand
// read as stored, 16 rows at a time, with no packing of the weight at all;
// x is packed once per product into B's pair layout (ops_amx_pack_x), and
// each 32-row block of yᵀ is transposed into y once its sums are complete.
// Mul (dx = dy·W) reduces across weight rows, so W is the B operand: a
// panel of 32 columns has its row pairs interleaved as dpbf16.c's Mul
// packs them, and dy (bfloat16 rows, packed once) is the A operand.
//
// Linux hands out the tile state only on request (ops_amx_enable). Every
// kernel configures the tiles on entry and releases them on return, so a
// thread holds no tile state between products.

#include "kernels.h"
#include "q8p.h"

#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <cpuid.h>
#include <stdlib.h>

#define AMX __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16")))

// ops_amx_enable reports whether this CPU has AMX-TILE and AMX-BF16 and the
// operating system lets this process use them: on Linux the process asks
// for the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA), once,
// before any kernel runs. Elsewhere it reports 0: the VDPBF16PS kernels run.
int ops_amx_enable(void) {
	unsigned a, b, c, d;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)))
		return 0;
#ifdef __linux__
	if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0)
		return 0;
	return 1;
#else
	return 0;
#endif
}

#ifdef __linux__

// The tile configuration (palette 1): every tile 16 rows of 64 bytes.
typedef struct {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
} amx_cfg;

INLINE AMX void amx_begin(void) {
	_Alignas(64) amx_cfg c;
	memset(&c, 0, sizeof c);
	c.palette = 1;
	for (int t = 0; t < 8; t++) c.rows[t] = 16, c.colsb[t] = 64;
	_tile_loadconfig(&c);
}

// The 16×16 transpose of 32-bit values in four rounds (dpbf16.c's
// ops_dp_mult): round j swaps bit j of the row index with bit j of the
// column's.
INLINE AMX void transpose16(__m512i r[16]) {
	_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
		int s = 1 << j;
		int32_t a[16], b[16];
		for (int c = 0; c < 16; c++) {
			a[c] = c & s ? 16 + c - s : c;
			b[c] = c & s ? 16 + c : c + s;
		}
		__m512i ix = _mm512_loadu_si512(a), iy = _mm512_loadu_si512(b);
		_Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) {
			if (t & s)
				continue;
			__m512i u = _mm512_permutex2var_epi32(r[t], ix, r[t + s]);
			__m512i v = _mm512_permutex2var_epi32(r[t], iy, r[t + s]);
			r[t] = u, r[t + s] = v;
		}
	}
}

// ops_amx_pack_x rounds x (n rows of cols float32, row stride ldx) to
// bfloat16, nearest even, into B's pair layout for row blocks [b0, b1) of
// 16: block b holds kp pairs × 16 rows of 32-bit words, word (p, r) being
// (x[16b+r][2p], x[16b+r][2p+1]); rows past n and pairs past cols are zero.
// kp is a multiple of 16.
AMX void ops_amx_pack_x(const float *x, long n, long cols, long ldx, uint32_t *xp, long kp, long b0, long b1) {
	for (long b = b0; b < b1; b++)
		for (long q = 0; q < kp; q += 16) {
			long left = cols - 2 * q;
			__mmask16 m0 = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
			__mmask16 m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
			__m512i r[16];
			_Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) {
				long i = 16 * b + t;
				if (i < n) {
					const float *s = x + i * ldx + 2 * q;
					r[t] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, s + 16),
						_mm512_maskz_loadu_ps(m0, s));
				} else
					r[t] = _mm512_setzero_si512();
			}
			transpose16(r);
			uint32_t *d = xp + (b * kp + q) * 16;
			_Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) _mm512_storeu_si512(d + t * 16, r[t]);
		}
}

// The yᵀ block of MulT: 32 weight rows × AMX_NI activations, float32.
#define AMX_NI 256
// Pairs of the reduction per pass over a block: the 32 rows of W it reads
// (16 KiB) stay in L1 while every activation block passes, each activation
// block's 16 KiB of x coming from L2. Larger blocks, whose W no longer
// fits in L1 beside them, measured slower.
#ifndef AMX_KC
#define AMX_KC 128
#endif
// The packed activations (MulT's x, Mul's dy) are read once per block of
// weight rows (MulT) or columns (Mul). Up to AMX_L2 bytes they stay in L2
// between blocks; past it (the MLP's 8960-wide products, the LM head) they
// would stream from L3 for every block, so the kernels block them: MulT
// computes AMX_OG row blocks per pass over x, and Mul sums the reduction in
// parts of AMX_L2 / 2 bytes of dy, adding each part into dx.
long ops_amx_l2 = 1L << 20; // the tests make it small to cross the blocks
#define AMX_L2 ops_amx_l2
#define AMX_OG 4

// The calling thread's buffers, grown once to the largest product it has
// met and kept: MulT's yᵀ sums (32 or AMX_OG·32 rows × AMX_NI float32, 32
// or 128 KiB) and Mul's packed panel (128 bytes for each row pair of a
// part: at most 32·AMX_L2/n32 bytes, 1 MiB at 32 activation rows).
static __thread float *mult_acc;
static __thread long mult_acc_cap;
static __thread uint32_t *mul_panel;
static __thread long mul_panel_cap;

// grow makes *buf hold at least n 32-bit words, 64-byte aligned; 0 if it
// cannot.
static int grow(void **buf, long *cap, long n) {
	if (*cap >= n)
		return 1;
	free(*buf);
	*buf = NULL, *cap = 0;
	if (posix_memalign(buf, 64, (size_t)n * 4) != 0) {
		*buf = NULL;
		return 0;
	}
	*cap = n;
	return 1;
}

// A packed Q8_0 weight (q8p.h) goes into the tiles dequantised on the way,
// so that a q8_0 base trains on the same kernels without a separate pass
// that writes the whole weight out in bfloat16 and reads it back.

// q8_strip writes rows [o, o+32) × blocks [b0, b1) of the packed weight q8
// (nb blocks a row, rows rows) as bfloat16 (q·d, nearest even) into s,
// rows of ld values, zero for rows past the weight's groups.
INLINE AMX void q8_strip(const uint8_t *q8, long nb, long rows, long o, long b0, long b1, uint16_t *s, long ld) {
	long gb = qp_group_bytes(nb);
	for (long gi = 0; gi < 2; gi++) {
		long g = o / 16 + gi;
		uint16_t *d = s + 16 * gi * ld;
		if (g * 16 >= rows) {
			for (long r = 0; r < 16; r++) memset(d + r * ld, 0, (size_t)(b1 - b0) * QK * 2);
			continue;
		}
		const uint8_t *grp = q8 + g * gb;
		for (long b = b0; b < b1; b++) {
			__m512i rw[16];
			qp_block_bf16(grp, b, rw);
			for (int n = 0; n < 16; n++) _mm512_store_si512(d + n * ld + (b - b0) * QK, rw[n]);
		}
	}
}

// q8_prefetch_strip asks for the packed bytes of q8_strip's rows and blocks.
INLINE void q8_prefetch_strip(const uint8_t *q8, long nb, long rows, long o, long b0, long b1) {
	long gb = qp_group_bytes(nb);
	for (long g = o / 16; g < o / 16 + 2 && g * 16 < rows; g++) {
		const char *a = (const char *)(q8 + g * gb + b0 / 2 * QP_PAIR), *e = (const char *)(q8 + g * gb + (b1 + 1) / 2 * QP_PAIR);
		for (; a < e; a += 64) _mm_prefetch(a, _MM_HINT_T0);
	}
}

// ops_amx_mult: y[i*ldy + o] (+)= Σ_k x[i][k]·w[o*cols + k] for weight rows
// o in [lo, hi) (lo a multiple of 32) of the rows × cols weight, i < n; x
// packed by ops_amx_pack_x with kp pairs (kp·2 ≥ cols) over n rounded up to
// 32 rows. Rows go in groups of og (one 32-row block, or AMX_OG of them
// when x is too large for L2): for each activation block of AMX_NI, each
// part of the reduction of AMX_KC pairs passes every row block of the
// group, whose sums wait in T between parts. With q8 (w NULL) the weight
// is packed Q8_0 (cols a multiple of 32): each 32-row strip of a part is
// dequantised into wq once and read from there (L1) by every activation
// block. It returns 0, having done nothing, if T cannot be had.
AMX int ops_amx_mult(const uint16_t *w, const uint8_t *q8, long cols, long rows, long lo, long hi,
		const uint32_t *xp, long kp, long n, float *y, long ldy, int acc) {
	OPS_RAN(OPS_K_TILED_MULT, OPS_AVX512);
	_Alignas(64) uint16_t wt[32 * 32]; // an edge block of W, zero-padded
	_Alignas(64) uint16_t wq[32 * 2 * AMX_KC]; // a dequantised strip of a Q8_0 weight
	long nb = cols / QK;
	long n32 = (n + 31) & ~31L;
	long og = n32 * kp * 4 <= AMX_L2 ? 32 : 32 * AMX_OG;
	if (!grow((void **)&mult_acc, &mult_acc_cap, og * AMX_NI))
		return 0;
	float *T = mult_acc;
	amx_begin();
	for (long g = lo; g < hi; g += og) {
		long ge = g + og < hi ? g + og : hi;
		for (long i0 = 0; i0 < n32; i0 += AMX_NI) {
			long ni = n32 - i0 < AMX_NI ? n32 - i0 : AMX_NI;
			for (long p0 = 0; p0 < kp; p0 += AMX_KC) {
				long kc = kp - p0 < AMX_KC ? kp - p0 : AMX_KC;
				for (long o = g; o < ge; o += 32) {
					// Ask for the next block of W (the next row block of the
					// group, or the group's first at the next pairs, or the
					// next group's first) while this one computes: it comes
					// from memory, 32 strips the prefetchers do not foresee.
					{
						long no = o + 32, np = p0;
						if (no >= ge) {
							no = g, np = p0 + AMX_KC;
							if (np >= kp) {
								np = 0;
								if (i0 + AMX_NI >= n32)
									no = ge;
							}
						}
						long k0 = 2 * np, k1 = 2 * (np + AMX_KC) < cols ? 2 * (np + AMX_KC) : cols;
						if (no < hi && k0 < cols) {
							if (q8)
								q8_prefetch_strip(q8, nb, rows, no, k0 / QK, k1 / QK);
							else
								prefetch_rows(w, cols, no, no + 32 < rows ? no + 32 : rows, k0, k1 - k0);
						}
					}
					if (q8)
						q8_strip(q8, nb, rows, o, 2 * p0 / QK, 2 * (p0 + kc) / QK, wq, 2 * AMX_KC);
					float *To = T + (o - g) * AMX_NI;
					for (long i = 0; i < ni; i += 32) {
						float *t = To + i;
						if (p0 == 0) {
							_tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
						} else {
							_tile_loadd(0, t, 4 * AMX_NI);
							_tile_loadd(1, t + 16, 4 * AMX_NI);
							_tile_loadd(2, t + 16 * AMX_NI, 4 * AMX_NI);
							_tile_loadd(3, t + 16 * AMX_NI + 16, 4 * AMX_NI);
						}
						const uint32_t *b0 = xp + ((i0 + i) / 16 * kp + p0) * 16, *b1 = b0 + kp * 16;
						for (long q = 0; q < kc; q += 16) {
							long k = 2 * (p0 + q);
							if (q8) {
								const uint16_t *a = wq + 2 * q;
								_tile_loadd(4, a, 4 * AMX_KC);
								_tile_loadd(5, a + 16 * 2 * AMX_KC, 4 * AMX_KC);
							} else if (o + 32 <= rows && k + 32 <= cols) {
								const uint16_t *a = w + o * cols + k;
								_tile_loadd(4, a, 2 * cols);
								_tile_loadd(5, a + 16 * cols, 2 * cols);
							} else {
								for (long r = 0; r < 32; r++)
									for (long c = 0; c < 32; c++)
										wt[r * 32 + c] = o + r < rows && k + c < cols ? w[(o + r) * cols + k + c] : 0;
								_tile_loadd(4, wt, 64);
								_tile_loadd(5, wt + 16 * 32, 64);
							}
							_tile_loadd(6, b0 + q * 16, 64);
							_tile_loadd(7, b1 + q * 16, 64);
							_tile_dpbf16ps(0, 4, 6);
							_tile_dpbf16ps(1, 4, 7);
							_tile_dpbf16ps(2, 5, 6);
							_tile_dpbf16ps(3, 5, 7);
						}
						_tile_stored(0, t, 4 * AMX_NI);
						_tile_stored(1, t + 16, 4 * AMX_NI);
						_tile_stored(2, t + 16 * AMX_NI, 4 * AMX_NI);
						_tile_stored(3, t + 16 * AMX_NI + 16, 4 * AMX_NI);
					}
				}
			}
			// T holds yᵀ for weight rows g..ge-1 and activations i0..i0+ni-1:
			// transpose it into y, 16×16 at a time.
			for (long ob = g; ob < ge; ob += 16) {
				const float *To = T + (ob - g) * AMX_NI;
				__mmask16 m = ge - ob >= 16 ? 0xffff : (__mmask16)((1u << (ge - ob)) - 1);
				for (long i = 0; i < ni && i0 + i < n; i += 16) {
					__m512i r[16];
					_Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) r[t] =
						_mm512_load_si512(To + t * AMX_NI + i);
					transpose16(r);
					long ie = n - i0 - i < 16 ? n - i0 - i : 16;
					for (long t = 0; t < ie; t++) {
						float *d = y + (i0 + i + t) * ldy + ob;
						__m512 v = (__m512)r[t];
						if (acc)
							v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, d));
						_mm512_mask_storeu_ps(d, m, v);
					}
				}
			}
		}
	}
	_tile_release();
	return 1;
}

// ops_amx_mul: dx[i*cols + c] (+)= Σ_o dy[i*ldd + o]·w[o*cols + c] for
// columns c in [lo, hi) (lo a multiple of 32), i < n; dy is bfloat16 with
// ldd a multiple of 32, zero from column rows on and for rows n to n
// rounded up to 32. The reduction goes in parts of kb pairs (all of it
// when dy fits in L2; else as much as half of AMX_L2 holds). For each part,
// each panel of 32 columns is packed (every row pair of the part: 128
// bytes a pair), and each 32-row block of dx is summed over the part in the
// tiles and written once. With q8 (w NULL) the weight is packed Q8_0
// (cols a multiple of 32): a panel's 32 columns are one block of each
// group of 16 rows, dequantised into the panel 8 pairs at a time. It
// returns 0, having done nothing, if the panel buffer cannot be had.
AMX int ops_amx_mul(const uint16_t *w, const uint8_t *q8, long cols, long rows, long lo, long hi,
		const uint16_t *dy, long ldd, long n, float *dx, int acc) {
	OPS_RAN(OPS_K_TILED_MUL, OPS_AVX512);
	long gb = qp_group_bytes(cols / QK);
	long pairs = (rows + 1) / 2, kp16 = (pairs + 15) & ~15L, n32 = (n + 31) & ~31L;
	long kb = kp16;
	if (n32 * kp16 * 4 > AMX_L2)
		kb = (AMX_L2 / 2 / (n32 * 4)) & ~15L;
	if (kb < 16)
		kb = 16;
	if (!grow((void **)&mul_panel, &mul_panel_cap, kb * 32))
		return 0;
	uint32_t *P = mul_panel;
	_Alignas(64) float ct[4][16 * 16]; // edge tiles of dx
	__m512i ilo, ihi;
	pair_index(&ilo, &ihi);
	amx_begin();
	for (long p0 = 0; p0 < kp16; p0 += kb) {
		long pe = p0 + kb < kp16 ? p0 + kb : kp16;
		int add = acc || p0 > 0; // dx holds sums to add to
		for (long j = lo; j < hi; j += 32) {
			long wid = hi - j < 32 ? hi - j : 32;
			__mmask32 m = wid == 32 ? 0xffffffffu : (__mmask32)((1u << wid) - 1);
			// Packed Q8_0: pairs p..p+7 are the 16 rows of group p/8 (p0
			// and pe are multiples of 16).
			for (long p = p0; q8 && p < pe; p += 8) {
				uint32_t *d = P + (p - p0) * 32;
				if (16 * (p / 8) >= rows) {
					memset(d, 0, 8 * 32 * 4);
					continue;
				}
				__m512i rw[16];
				qp_block_bf16(q8 + p / 8 * gb, j / QK, rw);
				for (int m = 0; m < 8; m++) {
					_mm512_store_si512(d + m * 32, _mm512_permutex2var_epi16(rw[2 * m], ilo, rw[2 * m + 1]));
					_mm512_store_si512(d + m * 32 + 16, _mm512_permutex2var_epi16(rw[2 * m], ihi, rw[2 * m + 1]));
				}
			}
			for (long p = p0; !q8 && p < pe; p++) {
				long o = 2 * p;
				__m512i r0 = _mm512_setzero_si512(), r1 = _mm512_setzero_si512();
				if (p < pairs) {
					const uint16_t *s = w + o * cols + j;
					r0 = _mm512_maskz_loadu_epi16(m, s);
					if (o + 1 < rows)
						r1 = _mm512_maskz_loadu_epi16(m, s + cols);
					if (j + 32 < hi) { // the next panel's strip of these rows
						_mm_prefetch((const char *)(s + 32), _MM_HINT_T1);
						_mm_prefetch((const char *)(s + cols + 32), _MM_HINT_T1);
					}
				}
				uint32_t *d = P + (p - p0) * 32;
				_mm512_store_si512(d, _mm512_permutex2var_epi16(r0, ilo, r1));
				_mm512_store_si512(d + 16, _mm512_permutex2var_epi16(r0, ihi, r1));
			}
			for (long i = 0; i < n32; i += 32) {
				// The four 16×16 tiles of dx at rows i, i+16 and columns j,
				// j+16: in place when whole, else through ct.
				float *d[4];
				long ld[4];
				int edge[4];
				for (int t = 0; t < 4; t++) {
					long r = i + 16 * (t >> 1), c = j + 16 * (t & 1);
					long nr = n - r < 16 ? n - r : 16, nw = wid - 16 * (t & 1) < 16 ? wid - 16 * (t & 1) : 16;
					edge[t] = nr < 16 || nw < 16;
					if (edge[t]) {
						d[t] = ct[t], ld[t] = 64;
						memset(ct[t], 0, sizeof ct[t]);
						if (add)
							for (long a = 0; a < nr; a++)
								for (long b = 0; b < nw; b++) ct[t][a * 16 + b] = dx[(r + a) * cols + c + b];
					} else
						d[t] = dx + r * cols + c, ld[t] = 4 * cols;
				}
				if (add) {
					_tile_loadd(0, d[0], ld[0]);
					_tile_loadd(1, d[1], ld[1]);
					_tile_loadd(2, d[2], ld[2]);
					_tile_loadd(3, d[3], ld[3]);
				} else {
					_tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
				}
				const uint16_t *a0 = dy + i * ldd, *a1 = a0 + 16 * ldd;
				for (long q = p0; q < pe; q += 16) {
					_tile_loadd(4, a0 + 2 * q, 2 * ldd);
					_tile_loadd(5, a1 + 2 * q, 2 * ldd);
					_tile_loadd(6, P + (q - p0) * 32, 128);
					_tile_loadd(7, P + (q - p0) * 32 + 16, 128);
					_tile_dpbf16ps(0, 4, 6);
					_tile_dpbf16ps(1, 4, 7);
					_tile_dpbf16ps(2, 5, 6);
					_tile_dpbf16ps(3, 5, 7);
				}
				_tile_stored(0, d[0], ld[0]);
				_tile_stored(1, d[1], ld[1]);
				_tile_stored(2, d[2], ld[2]);
				_tile_stored(3, d[3], ld[3]);
				for (int t = 0; t < 4; t++) {
					if (!edge[t])
						continue;
					long r = i + 16 * (t >> 1), c = j + 16 * (t & 1);
					long nr = n - r < 16 ? n - r : 16, nw = wid - 16 * (t & 1) < 16 ? wid - 16 * (t & 1) : 16;
					for (long a = 0; a < nr; a++)
						for (long b = 0; b < nw; b++) dx[(r + a) * cols + c + b] = ct[t][a * 16 + b];
				}
			}
		}
	}
	_tile_release();
	return 1;
}

// ops_amx_peak runs iters steps of 4 independent TDPBF16PS on tiles (no
// memory traffic in the loop): the unit's throughput, 16,384 flops each.
AMX float ops_amx_peak(long iters) {
	_Alignas(64) uint16_t a[16 * 32];
	_Alignas(64) float c[16 * 16];
	for (int i = 0; i < 16 * 32; i++) a[i] = 0x3c00; // 2^-7: the sums stay finite
	amx_begin();
	_tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
	_tile_loadd(4, a, 64);
	_tile_loadd(5, a, 64);
	_tile_loadd(6, a, 64);
	_tile_loadd(7, a, 64);
	for (long i = 0; i < iters; i++) {
		_tile_dpbf16ps(0, 4, 6);
		_tile_dpbf16ps(1, 4, 7);
		_tile_dpbf16ps(2, 5, 6);
		_tile_dpbf16ps(3, 5, 7);
	}
	_tile_stored(0, c, 64);
	_tile_release();
	return c[0];
}

#else // !__linux__

long ops_amx_l2;

// Off Linux AMX is never enabled (ops_amx_enable reports 0) and these are
// never called. (GCC's tile intrinsics also pass the stride as a long,
// which is 32 bits on Windows and does not assemble there.)
void ops_amx_pack_x(const float *x, long n, long cols, long ldx, uint32_t *xp, long kp, long b0, long b1) {}
int ops_amx_mult(const uint16_t *w, const uint8_t *q8, long cols, long rows, long lo, long hi, const uint32_t *xp,
		long kp, long n, float *y, long ldy, int acc) {
	return 0;
}
int ops_amx_mul(const uint16_t *w, const uint8_t *q8, long cols, long rows, long lo, long hi, const uint16_t *dy,
		long ldd, long n, float *dx, int acc) {
	return 0;
}
float ops_amx_peak(long iters) { return 0; }

#endif
