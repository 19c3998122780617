// q8p.h: the packed Q8_0 layout (q8p.go, q8p.c) for the C files that read
// it: q8p.c (packing, decode, dequantisation) and amx.c (the bfloat16
// products of a packed weight, dequantised on the way into the tiles).

#ifndef OPS_Q8P_H
#define OPS_Q8P_H

#include "kernels.h"

#define QK 32
#define QB 34
#define QP_PAIR 1088
#define QP_ODD 576

// qp_group_bytes is the size of a group of 16 rows of nb blocks.
INLINE long qp_group_bytes(long nb) { return nb / 2 * QP_PAIR + (nb & 1) * QP_ODD; }

// qp_scales is where block b's 16 scales are in group grp, qp_quants its
// 512 quant bytes.
INLINE const uint8_t *qp_scales(const uint8_t *grp, long b) { return grp + b / 2 * QP_PAIR + (b & 1) * 32; }
INLINE const uint8_t *qp_quants(const uint8_t *grp, long b) { return grp + b / 2 * QP_PAIR + 64 + (b & 1) * 512; }

static const int32_t qp_i1[2][16] __attribute__((aligned(64))) = {
	{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23},
	{8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31},
};
static const int32_t qp_i2[2][16] __attribute__((aligned(64))) = {
	{0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23},
	{8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31},
};
static const int32_t qp_i3[2][16] __attribute__((aligned(64))) = {
	{0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23},
	{8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31},
};

// qp_rows512 turns block b of a group back into rows: r[p] holds the 32
// quants (XOR undone) of row 2p in its low half and of row 2p+1 in its
// high half. The 512 bytes are an 8 × 16 matrix of 4-byte words (word n of
// line c: row n's columns 4c..4c+3); three rounds of two-source word
// permutes transpose it (8 permutes a round).
INLINE AVX512 void qp_rows512(const uint8_t *qs, __m512i r[8]) {
	__m512i z[8], a[8], t[8];
	const __m512i x80 = _mm512_set1_epi8((char)0x80);
	for (int c = 0; c < 8; c++) z[c] = _mm512_xor_si512(_mm512_loadu_si512(qs + 64 * c), x80);
	// Round 1 interleaves the words of two lines (row 8h + e/2 of line
	// 2k + e%2 in element e), round 2 pairs of words (row 4q + e/4 of the
	// half, line e%4 of four), round 3 quads (row 2s + e/8 of the quarter,
	// line e%8): qp_i1[h], qp_i2[q], qp_i3[s].
	__m512i v1[2], v2[2], v3[2];
	for (int k = 0; k < 2; k++) {
		v1[k] = _mm512_load_si512(qp_i1[k]);
		v2[k] = _mm512_load_si512(qp_i2[k]);
		v3[k] = _mm512_load_si512(qp_i3[k]);
	}
	// a[4h + k]: half h, lines 2k, 2k+1 (k = 0..3).
	for (int h = 0; h < 2; h++)
		for (int k = 0; k < 4; k++) a[4 * h + k] = _mm512_permutex2var_epi32(z[2 * k], v1[h], z[2 * k + 1]);
	// t[4h + 2c + q]: half h, quarter q, lines 4c..4c+3 (c = 0, 1).
	for (int h = 0; h < 2; h++)
		for (int c = 0; c < 2; c++)
			for (int q = 0; q < 2; q++)
				t[4 * h + 2 * c + q] = _mm512_permutex2var_epi32(a[4 * h + 2 * c], v2[q], a[4 * h + 2 * c + 1]);
	// r[4h + 2q + s]: rows 8h + 4q + 2s and the next, all 8 lines.
	for (int h = 0; h < 2; h++)
		for (int q = 0; q < 2; q++)
			for (int s = 0; s < 2; s++)
				r[4 * h + 2 * q + s] = _mm512_permutex2var_epi32(t[4 * h + q], v3[s], t[4 * h + 2 + q]);
}

// qp_block_bf16 turns block b of group grp into its 16 rows of 32
// bfloat16 values, row n in rows[n]: q·d rounded to nearest even by
// VCVTNE2PS2BF16 (q·d is never a float32 subnormal, so its flushing changes
// nothing). The block's 16 scales are converted once and broadcast from
// memory.
INLINE __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))) void qp_block_bf16(
		const uint8_t *grp, long b, __m512i rows[16]) {
	__m512i r[8];
	qp_rows512(qp_quants(grp, b), r);
	_Alignas(64) float sc[16];
	_mm512_store_ps(sc, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)qp_scales(grp, b))));
	for (int p = 0; p < 8; p++) {
		__m512 f[4];
		for (int k = 0; k < 4; k++)
			f[k] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(r[p], k))),
				_mm512_set1_ps(sc[2 * p + k / 2]));
		rows[2 * p] = (__m512i)_mm512_cvtne2ps_pbh(f[1], f[0]);
		rows[2 * p + 1] = (__m512i)_mm512_cvtne2ps_pbh(f[3], f[2]);
	}
}

#endif
