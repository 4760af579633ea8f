/*
 * dot_blocks_x86.h - the dot products of 32-value blocks (Q4_0, Q5_0,
 * Q8_0 against Q8_0; Q4_1, Q5_1 against Q8_1) written once for every x86
 * level: each template takes the instruction that sums four u8 x s8
 * products per int32 lane (DOT(u, s), an __m256i function), so AVX2's
 * vpmaddubsw + vpmaddwd and VNNI's vpdpbusd run the same code. The
 * integer part of a block is exact either way, and the float operations
 * are the same in the same order, so every level gives the same bits.
 * Included by files that include unpack_avx2.h.
 */
#ifndef GG_DOT_BLOCKS_X86_H
#define GG_DOT_BLOCKS_X86_H

#include "unpack_avx2.h"

/* vpmaddubsw + vpmaddwd: exact while no pair of products exceeds 32767,
 * which |u| <= 127 (signed weights as |x|) or u <= 31 ensures here. */
static inline __m256i dot_us8_maddubs(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Signed weights x (Q4_0, Q5_0, Q8_0): |x| times y with x's sign. */
#define SIGNED_BLOCK_ROWS(name, wtype, unpack, DOT)                                           \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st, \
                            int rows) {                                                       \
        const wtype *w = wv;                                                                  \
        __m256 acc[MAX_ROWS];                                                                 \
        for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();                          \
        for (int64_t b = 0; b < n / 32; b++) {                                                \
            __m256i x = unpack(&w[b]);                                                        \
            __m256i ax = _mm256_abs_epi8(x);                                                  \
            float dw = half(w[b].d);                                                          \
            for (int r = 0; r < rows; r++) {                                                  \
                const gg_block_q8_0 *y = (const gg_block_q8_0 *)(a + r * st) + b;             \
                __m256i yv = _mm256_loadu_si256((const __m256i *)y->qs);                      \
                __m256 p = _mm256_cvtepi32_ps(DOT(ax, _mm256_sign_epi8(yv, x)));              \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half(y->d)), p, acc[r]);         \
            }                                                                                 \
        }                                                                                     \
        for (int r = 0; r < rows; r++) s[r] = hsum_ps(acc[r]);                                \
    }

/* Unsigned weights with an offset (Q4_1, Q5_1): x = d*q + m, so the
 * block product is d*dy*sum(q*y) + m*s where s = dy*sum(y) comes with
 * the Q8_1 activations. */
#define OFFSET_BLOCK_ROWS(name, wtype, unpack, DOT)                                           \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st, \
                            int rows) {                                                       \
        const wtype *w = wv;                                                                  \
        __m256 acc[MAX_ROWS];                                                                 \
        float offs[MAX_ROWS];                                                                 \
        for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps(), offs[r] = 0;             \
        for (int64_t b = 0; b < n / 32; b++) {                                                \
            __m256i q = unpack(&w[b]);                                                        \
            float dw = half(w[b].d), mw = half(w[b].m);                                       \
            for (int r = 0; r < rows; r++) {                                                  \
                const gg_block_q8_1 *y = (const gg_block_q8_1 *)(a + r * st) + b;             \
                __m256i yv = _mm256_loadu_si256((const __m256i *)y->qs);                      \
                __m256 p = _mm256_cvtepi32_ps(DOT(q, yv));                                    \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half(y->d)), p, acc[r]);         \
                offs[r] += mw * half(y->s);                                                   \
            }                                                                                 \
        }                                                                                     \
        for (int r = 0; r < rows; r++) s[r] = hsum_ps(acc[r]) + offs[r];                      \
    }

#endif
