//go:build cgo && !purego && arm64

// neon.c: the decode products on arm64 in NEON (ASIMD, part of every
// ARMv8-A core, so no run-time check): MulT, y = x·Wᵀ, and its input
// gradient Mul, dx = dy·W, for at most GEMVMaxN inputs, with float32 and
// bfloat16 weights. The x86 kernels (kernels.h, immintrin.h) are amd64-only;
// on arm64 these replace the Go loops of gemv_go.go (neon_arm64.go).
//
// Like the x86 ones, each output is a sum of float32 fused multiply-adds in
// a few independent lanes, then the lanes' sum: not the Go loop's order, so
// results agree with it to rounding, not bit for bit (SPEC §9 allows that;
// the tests compare with a float64 reference).

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

// bfloat16 is the upper half of a float32.
static inline float nbf16f(uint16_t b) {
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline float nf32f(float f) { return f; }

// ld4_f32 and ld4_bf16 load 4 weights as float32.
static inline float32x4_t ld4_f32(const float *p) { return vld1q_f32(p); }

static inline float32x4_t ld4_bf16(const uint16_t *p) {
	return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

// NEON_GEMV defines name: rows [lo, hi) of w times each of the n inputs,
// four rows at a time with two accumulators of 4 lanes each (8 in flight,
// enough to hide the FMA latency while the rows stream from memory).
#define NEON_GEMV(name, T, LD, CVT)                                                  \
void name(const T *w, long cols, long lo, long hi, const float *x, long n, float *y,   \
		long ldy, int acc) {                                                           \
	long o = lo;                                                                     \
	for (; o + 4 <= hi; o += 4) {                                                    \
		const T *w0 = w + o * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols; \
		for (long i = 0; i < n; i++) {                                               \
			const float *xi = x + i * cols;                                          \
			float32x4_t a0 = vdupq_n_f32(0), b0 = a0, a1 = a0, b1 = a0;              \
			float32x4_t a2 = a0, b2 = a0, a3 = a0, b3 = a0;                          \
			long c = 0;                                                              \
			for (; c + 8 <= cols; c += 8) {                                          \
				float32x4_t xl = vld1q_f32(xi + c), xh = vld1q_f32(xi + c + 4);      \
				a0 = vfmaq_f32(a0, LD(w0 + c), xl); b0 = vfmaq_f32(b0, LD(w0 + c + 4), xh); \
				a1 = vfmaq_f32(a1, LD(w1 + c), xl); b1 = vfmaq_f32(b1, LD(w1 + c + 4), xh); \
				a2 = vfmaq_f32(a2, LD(w2 + c), xl); b2 = vfmaq_f32(b2, LD(w2 + c + 4), xh); \
				a3 = vfmaq_f32(a3, LD(w3 + c), xl); b3 = vfmaq_f32(b3, LD(w3 + c + 4), xh); \
			}                                                                        \
			for (; c + 4 <= cols; c += 4) {                                          \
				float32x4_t xl = vld1q_f32(xi + c);                                  \
				a0 = vfmaq_f32(a0, LD(w0 + c), xl);                                  \
				a1 = vfmaq_f32(a1, LD(w1 + c), xl);                                  \
				a2 = vfmaq_f32(a2, LD(w2 + c), xl);                                  \
				a3 = vfmaq_f32(a3, LD(w3 + c), xl);                                  \
			}                                                                        \
			float s0 = vaddvq_f32(vaddq_f32(a0, b0)), s1 = vaddvq_f32(vaddq_f32(a1, b1)); \
			float s2 = vaddvq_f32(vaddq_f32(a2, b2)), s3 = vaddvq_f32(vaddq_f32(a3, b3)); \
			for (; c < cols; c++) {                                                  \
				s0 += CVT(w0[c]) * xi[c];                                            \
				s1 += CVT(w1[c]) * xi[c];                                            \
				s2 += CVT(w2[c]) * xi[c];                                            \
				s3 += CVT(w3[c]) * xi[c];                                            \
			}                                                                        \
			float *yi = y + i * ldy + o;                                             \
			if (acc) {                                                               \
				yi[0] += s0; yi[1] += s1; yi[2] += s2; yi[3] += s3;                  \
			} else {                                                                 \
				yi[0] = s0; yi[1] = s1; yi[2] = s2; yi[3] = s3;                      \
			}                                                                        \
		}                                                                            \
	}                                                                                \
	for (; o < hi; o++) {                                                            \
		const T *wr = w + o * cols;                                                  \
		for (long i = 0; i < n; i++) {                                               \
			const float *xi = x + i * cols;                                          \
			float32x4_t a = vdupq_n_f32(0), b = a;                                   \
			long c = 0;                                                              \
			for (; c + 8 <= cols; c += 8) {                                          \
				a = vfmaq_f32(a, LD(wr + c), vld1q_f32(xi + c));                     \
				b = vfmaq_f32(b, LD(wr + c + 4), vld1q_f32(xi + c + 4));             \
			}                                                                        \
			for (; c + 4 <= cols; c += 4) a = vfmaq_f32(a, LD(wr + c), vld1q_f32(xi + c)); \
			float s = vaddvq_f32(vaddq_f32(a, b));                                   \
			for (; c < cols; c++) s += CVT(wr[c]) * xi[c];                           \
			if (acc) y[i * ldy + o] += s; else y[i * ldy + o] = s;                   \
		}                                                                            \
	}                                                                                \
}

NEON_GEMV(ops_neon_gemv_f32, float, ld4_f32, nf32f)
NEON_GEMV(ops_neon_gemv_bf16, uint16_t, ld4_bf16, nbf16f)

// NEON_AXPY defines name: dx[i*cols+c] (+)= Σ_o dy[i*ldy+o]·w[o*cols+c] over
// rows o in [lo, hi), for all c and i < n, four rows per pass over dx.
#define NEON_AXPY(name, T, LD, CVT)                                                  \
void name(const T *w, long cols, long lo, long hi, const float *dy, long ldy, long n,  \
		float *dx, int acc) {                                                          \
	if (!acc) memset(dx, 0, (size_t)(n * cols) * sizeof(float));                    \
	long o = lo;                                                                     \
	for (; o + 4 <= hi; o += 4) {                                                    \
		const T *w0 = w + o * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols; \
		for (long i = 0; i < n; i++) {                                               \
			const float *g = dy + i * ldy + o;                                       \
			float g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];                        \
			float *d = dx + i * cols;                                                \
			long c = 0;                                                              \
			for (; c + 4 <= cols; c += 4) {                                          \
				float32x4_t v = vld1q_f32(d + c);                                    \
				v = vfmaq_n_f32(v, LD(w0 + c), g0);                                  \
				v = vfmaq_n_f32(v, LD(w1 + c), g1);                                  \
				v = vfmaq_n_f32(v, LD(w2 + c), g2);                                  \
				v = vfmaq_n_f32(v, LD(w3 + c), g3);                                  \
				vst1q_f32(d + c, v);                                                 \
			}                                                                        \
			for (; c < cols; c++)                                                    \
				d[c] += g0 * CVT(w0[c]) + g1 * CVT(w1[c]) + g2 * CVT(w2[c]) + g3 * CVT(w3[c]); \
		}                                                                            \
	}                                                                                \
	for (; o < hi; o++) {                                                            \
		const T *wr = w + o * cols;                                                  \
		for (long i = 0; i < n; i++) {                                               \
			float g = dy[i * ldy + o];                                               \
			float *d = dx + i * cols;                                                \
			long c = 0;                                                              \
			for (; c + 4 <= cols; c += 4)                                            \
				vst1q_f32(d + c, vfmaq_n_f32(vld1q_f32(d + c), LD(wr + c), g));      \
			for (; c < cols; c++) d[c] += g * CVT(wr[c]);                            \
		}                                                                            \
	}                                                                                \
}

NEON_AXPY(ops_neon_axpy_f32, float, ld4_f32, nf32f)
NEON_AXPY(ops_neon_axpy_bf16, uint16_t, ld4_bf16, nbf16f)

// The tiled products (tiled.go) for more than GEMVMaxN inputs, in NEON:
// the arm64 twins of tiled.c's AVX2 kernels, with the same arguments.
//
// MulT: y[i*ldy + o] (+)= Σ_c xt[c*np + i]·w[o*cols + c] for weight rows o
// in [lo, hi) and inputs i < n, from xt, the inputs transposed into np
// columns (np a multiple of 16, zero past n). A tile is 6 weight rows × 16
// inputs: 24 accumulators of 4 lanes (of the 32 vector registers), fed per
// step by 4 loads of xt and 6 broadcast weights, 24 FMAs. Rows past hi
// repeat the last row and are not stored. k is blocked by kc so that a
// block of xt (kc × np) stays in cache while the row tiles pass.
//
// Mul: dx[i*cols + c] (+)= Σ_o dy[i*rows + o]·w[o*cols + c] for columns c
// in [lo, hi) and i < n. A tile is 6 input rows × 16 columns, 24
// accumulators, fed per step by 4 loads of a weight row (widened from
// bfloat16) and 6 broadcast gradients; o is blocked by oc, the tile's
// accumulators going back to dx between blocks.

static inline float32x4_t ld4f(const float *p) { return vld1q_f32(p); }

#define NEON_MULT(name, T, LD4, CVT)                                                                        \
void name(const T *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y, long ldy,      \
		int acc, long kc) {                                                                                \
	if (kc < 1) kc = cols;                                                                                 \
	for (long k0 = 0; k0 < cols; k0 += kc) {                                                               \
		long k1 = cols - k0 < kc ? cols : k0 + kc;                                                         \
		int add = acc || k0 > 0;                                                                           \
		for (long o0 = lo; o0 < hi; o0 += 6) {                                                             \
			int R = hi - o0 < 6 ? (int)(hi - o0) : 6;                                                      \
			const T *wr[6];                                                                                \
			for (int r = 0; r < 6; r++) wr[r] = w + (o0 + (r < R ? r : R - 1)) * cols;                     \
			for (long i0 = 0; i0 < n; i0 += 16) {                                                          \
				float32x4_t s[6][4];                                                                       \
				for (int r = 0; r < 6; r++)                                                                \
					for (int j = 0; j < 4; j++) s[r][j] = vdupq_n_f32(0);                                  \
				const float *xp = xt + i0;                                                                 \
				for (long c = k0; c < k1; c++) {                                                           \
					const float *xc = xp + c * np;                                                         \
					float32x4_t x0 = vld1q_f32(xc), x1 = vld1q_f32(xc + 4);                               \
					float32x4_t x2 = vld1q_f32(xc + 8), x3 = vld1q_f32(xc + 12);                          \
					for (int r = 0; r < 6; r++) {                                                          \
						float32x4_t v = vdupq_n_f32(CVT(wr[r][c]));                                        \
						s[r][0] = vfmaq_f32(s[r][0], x0, v);                                               \
						s[r][1] = vfmaq_f32(s[r][1], x1, v);                                               \
						s[r][2] = vfmaq_f32(s[r][2], x2, v);                                               \
						s[r][3] = vfmaq_f32(s[r][3], x3, v);                                               \
					}                                                                                      \
				}                                                                                          \
				long I = n - i0 < 16 ? n - i0 : 16;                                                        \
				for (int r = 0; r < R; r++) {                                                              \
					float t[16];                                                                           \
					for (int j = 0; j < 4; j++) vst1q_f32(t + 4 * j, s[r][j]);                             \
					for (long i = 0; i < I; i++) {                                                         \
						float *p = y + (i0 + i) * ldy + o0 + r;                                            \
						*p = add ? *p + t[i] : t[i];                                                       \
					}                                                                                      \
				}                                                                                          \
			}                                                                                              \
		}                                                                                                  \
	}                                                                                                      \
}

NEON_MULT(ops_neon_mult_f32, float, ld4f, nf32f)
NEON_MULT(ops_neon_mult_bf16, uint16_t, ld4_bf16, nbf16f)

#define NEON_MUL(name, T, LD4, CVT)                                                                         \
void name(const T *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx, int acc, \
		long oc) {                                                                                         \
	if (oc < 1) oc = rows;                                                                                 \
	for (long c0 = lo; c0 < hi; c0 += 16) {                                                                \
		long wid = hi - c0 < 16 ? hi - c0 : 16;                                                            \
		for (long i0 = 0; i0 < n; i0 += 6) {                                                               \
			int I = n - i0 < 6 ? (int)(n - i0) : 6;                                                        \
			const float *g[6];                                                                             \
			for (int r = 0; r < 6; r++) g[r] = dy + (i0 + (r < I ? r : I - 1)) * rows;                     \
			for (long o0 = 0; o0 < rows; o0 += oc) {                                                       \
				long o1 = rows - o0 < oc ? rows : o0 + oc;                                                 \
				int add = acc || o0 > 0;                                                                   \
				if (wid == 16) {                                                                           \
					float32x4_t s[6][4];                                                                   \
					for (int r = 0; r < 6; r++)                                                            \
						for (int j = 0; j < 4; j++)                                                        \
							s[r][j] = add && r < I ? vld1q_f32(dx + (i0 + r) * cols + c0 + 4 * j)          \
									       : vdupq_n_f32(0);                                               \
					for (long o = o0; o < o1; o++) {                                                       \
						const T *wo = w + o * cols + c0;                                                   \
						float32x4_t w0 = LD4(wo), w1 = LD4(wo + 4), w2 = LD4(wo + 8), w3 = LD4(wo + 12);   \
						for (int r = 0; r < 6; r++) {                                                      \
							float32x4_t v = vdupq_n_f32(g[r][o]);                                          \
							s[r][0] = vfmaq_f32(s[r][0], w0, v);                                           \
							s[r][1] = vfmaq_f32(s[r][1], w1, v);                                           \
							s[r][2] = vfmaq_f32(s[r][2], w2, v);                                           \
							s[r][3] = vfmaq_f32(s[r][3], w3, v);                                           \
						}                                                                                  \
					}                                                                                      \
					for (int r = 0; r < I; r++)                                                            \
						for (int j = 0; j < 4; j++) vst1q_f32(dx + (i0 + r) * cols + c0 + 4 * j, s[r][j]); \
				} else {                                                                                   \
					for (int r = 0; r < I; r++) {                                                          \
						float *d = dx + (i0 + r) * cols + c0;                                              \
						for (long c = 0; c < wid; c++) {                                                   \
							float v = add ? d[c] : 0;                                                      \
							for (long o = o0; o < o1; o++) v += g[r][o] * CVT(w[o * cols + c0 + c]);       \
							d[c] = v;                                                                      \
						}                                                                                  \
					}                                                                                      \
				}                                                                                          \
			}                                                                                              \
		}                                                                                                  \
	}                                                                                                      \
}

NEON_MUL(ops_neon_mul_f32, float, ld4f, nf32f)
NEON_MUL(ops_neon_mul_bf16, uint16_t, ld4_bf16, nbf16f)

// ops_neon_transpose writes xt[c*np + i] = x[i*cols + c] for columns c in
// [lo, hi) and i < n, and zeros for n ≤ i < np.
void ops_neon_transpose(const float *x, long n, long cols, long lo, long hi, float *xt, long np) {
	for (long c = lo; c < hi; c++) {
		float *d = xt + c * np;
		long i = 0;
		for (; i < n; i++) d[i] = x[i * cols + c];
		for (; i < np; i++) d[i] = 0;
	}
}
