/*
 * gemm_x86.h - what the packed matrix products of every x86 width
 * (gemm_avx2.c, gemm_avx512.c) share: the layout of a packed activation
 * row and the unpacking of weight rows that needs no more than AVX2.
 *
 * A packed activation row of n values (made by gg_gemm_pack_act, from the
 * quantization gg_quantize_act gives its vec_dot_type):
 *     n bytes          each value + 128, unsigned (what vpdpbusd and
 *                      vpmaddubsw take as their unsigned operand)
 *     n / SB floats    the scale d of each activation block (SB = 32 for
 *                      Q8_0, 256 for Q8_K)
 *     Q8_K only:       n / 16 floats, the sums of each 16 values, then
 *                      n / 32 floats, the sums of each 32 (for the mins),
 *                      then n bytes, the int8 values as they are (the
 *                      signed operand against the weights of the types
 *                      with mins, whose values are all >= 0: see
 *                      gemm_tile_x86.h)
 * Included only by files compiled with at least AVX2, FMA and F16C.
 */
#ifndef GG_GEMM_X86_H
#define GG_GEMM_X86_H

#include "unpack_avx2.h"

/* Values per segment: the products sum each segment of a row on its own
 * and then add the segments' sums in order (see gemm_tile_x86.h). */
#define GEMM_SEG 1024

/* Where a packed Q8_K row's signed values start, from the row's start. */
static inline size_t gemm_q8_K_signed_off(int64_t n) {
    return (size_t)n + 4 * (size_t)(n / 256 + n / 16 + n / 32);
}

/* Bytes of one packed activation row of n values of a vec_dot_type
 * (Q8_0 or Q8_K). */
static inline size_t gemm_q8_act_bytes(gg_type vdt, int64_t n) {
    if (vdt == GG_TYPE_Q8_0) return (size_t)n + 4 * (size_t)(n / 32);
    return gemm_q8_K_signed_off(n) + (size_t)n;
}

/* Unpacks values [k0, k0 + m) of a weight row: int8 values, the float
 * scale (and min) of each sub-block. A NULL destination is skipped where
 * the unpacker says so. */
typedef void (*row_unpack_fn)(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc, float *mn);

#define UNPACK_32(name, wtype, unpack)                                                          \
    static void name(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc, float *mn) { \
        (void)mn;                                                                               \
        const wtype *w = (const wtype *)row + k0 / 32;                                          \
        for (int64_t j = 0; j < m / 32; j++) {                                                  \
            _mm256_storeu_si256((__m256i *)(q + 32 * j), unpack(&w[j]));                        \
            sc[j] = half(w[j].d);                                                               \
        }                                                                                       \
    }

/* The 8 scales and 8 mins of a Q4_K/Q5_K super-block (see kscales) as
 * floats times d and dmin, four 6-bit fields at a time. */
static inline void k45_scales(const uint8_t *p, gg_half d, gg_half dmin, float *sc, float *mn) {
    uint32_t u[3];
    memcpy(u, p, 12);
    const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, top2 = 0x30303030;
    uint64_t s8 = (u[0] & lo6) | (uint64_t)((u[2] & lo4) | ((u[0] >> 2) & top2)) << 32;
    uint64_t m8 = (u[1] & lo6) | (uint64_t)(((u[2] >> 4) & lo4) | ((u[1] >> 2) & top2)) << 32;
    __m256 fs = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)s8)));
    __m256 fm = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8)));
    _mm256_storeu_ps(sc, _mm256_mul_ps(fs, _mm256_set1_ps(half(d))));
    _mm256_storeu_ps(mn, _mm256_mul_ps(fm, _mm256_set1_ps(half(dmin))));
}

#endif
