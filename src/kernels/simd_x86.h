/*
 * simd_x86.h - small helpers shared by the x86 SIMD kernel files
 * (dot_avx2.c, dot_avx512.c, gemm_avx2.c, gemm_avx512.c): included only by files compiled with at
 * least AVX2, FMA and F16C.
 */
#ifndef GG_SIMD_X86_H
#define GG_SIMD_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "types.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define MAX_ROWS 4 /* activation rows one multi-row kernel handles at once */

static inline float half(gg_half h) { return _cvtsh_ss(h); }

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Instantiates name(...) over any number of activation rows, four at a
 * time, calling rows_fn with a constant row count so each copy unrolls,
 * plus the single-row name_one. */
#define MULTI(name, rows_fn)                                                                          \
    static void name(int64_t n, float *s, const void *w, const void *a, size_t a_stride, int n_act) { \
        const uint8_t *ap = a;                                                                        \
        for (; n_act >= 4; n_act -= 4, s += 4, ap += 4 * a_stride) rows_fn(n, s, w, ap, a_stride, 4); \
        if (n_act == 3) rows_fn(n, s, w, ap, a_stride, 3);                                            \
        if (n_act == 2) rows_fn(n, s, w, ap, a_stride, 2);                                            \
        if (n_act == 1) rows_fn(n, s, w, ap, a_stride, 1);                                            \
    }                                                                                                 \
    static void name##_one(int64_t n, float *s, const void *w, const void *a) {                       \
        rows_fn(n, s, w, a, 0, 1);                                                                    \
    }

/* The 6-bit scales and mins of Q4_K/Q5_K: the first four sub-blocks keep
 * theirs in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); the last
 * four keep the low 4 bits in bytes 8-11 and the top 2 bits in the spare
 * top bits of bytes 0-7. */
static inline void kscales(const uint8_t *p, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
        sc[j + 4] = (uint8_t)((p[j + 8] & 0x0f) | ((p[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
    }
}

/* sum_j mn[j] * (bsums[2j] + bsums[2j+1]): the mins' share of a Q8_K dot. */
static inline int kmins(const uint8_t mn[8], const int16_t *bsums) {
    __m128i m = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
    __m128i b = _mm_loadu_si128((const __m128i *)bsums);
    __m128i b2 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    __m128i pairs = _mm_hadd_epi16(b, b2); /* |sum of 2| <= 2*16*127: fits */
    __m128i p = _mm_madd_epi16(m, pairs);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
    return _mm_cvtsi128_si32(p);
}

/* Q3_K's sixteen 6-bit scales (stored +32) as 16 signed bytes. Scale i
 * keeps its low 4 bits in byte i (i < 8) or the high nibble of byte i-8,
 * its top 2 bits at bit 2(i/4) of byte 8 + i%4: one 32-bit lane per
 * group of four, shifted by its own count. Reads exactly 12 bytes, since
 * the scales sit near the end of the block. */
static inline __m128i q3scales(const uint8_t *p) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    uint32_t top;
    memcpy(&top, p + 8, 4);
    __m128i low = _mm_loadl_epi64((const __m128i *)p);
    low = _mm_unpacklo_epi64(_mm_and_si128(low, m4), _mm_and_si128(_mm_srli_epi16(low, 4), m4));
    __m128i high = _mm_shuffle_epi32(_mm_cvtsi32_si128((int)top), 0);
    high = _mm_and_si128(_mm_srlv_epi32(high, _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
}

/* sum_k m[k] * bsums[k] over the 16 sub-blocks, m as 16 int16: each pair
 * fits int32 (|m| <= 32, |bsums| <= 16 * 128). */
static inline __m256i madd_bsums(__m256i m16, const int16_t *bsums) {
    return _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)bsums));
}

#endif
