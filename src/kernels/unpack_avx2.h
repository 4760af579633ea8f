/*
 * unpack_avx2.h - turning the weight blocks of each type into int8
 * vectors of 256 bits: shared by the dot products of every x86 level
 * (dot_avx2.c, dot_avx512.c for the 32-value blocks) and the packed
 * matrix products on AVX2 (gemm_avx2.c), which differ only in the
 * instruction that multiplies the unpacked values. unpack_avx512.h has
 * the 512-bit forms of the K-quants. Included only by files compiled
 * with at least AVX2, FMA and F16C.
 */
#ifndef GG_UNPACK_AVX2_H
#define GG_UNPACK_AVX2_H

#include "simd_x86.h"

/* ---- 32-value blocks ---- */

/* 32 nibbles from 16 bytes: low nibbles first, then high nibbles (the
 * order of Q4_0/Q4_1/Q5_x blocks). */
static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Byte j is 0x10 where bit j of the little-endian 32-bit word is set
 * (one masked broadcast where AVX-512 BW/VL are compiled in). */
static inline __m256i bits32(const uint8_t *qh) {
    uint32_t w;
    memcpy(&w, qh, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return _mm256_maskz_set1_epi8((__mmask32)w, 0x10);
#else
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101,
                                             0x0000000000000000);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
#endif
}

static inline __m256i unpack_q4_0(const gg_block_q4_0 *b) {
    return _mm256_sub_epi8(nibbles32(b->qs), _mm256_set1_epi8(8));
}
static inline __m256i unpack_q5_0(const gg_block_q5_0 *b) {
    __m256i q = _mm256_or_si256(nibbles32(b->qs), bits32(b->qh));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(16));
}
static inline __m256i unpack_q8_0(const gg_block_q8_0 *b) {
    return _mm256_loadu_si256((const __m256i *)b->qs);
}
static inline __m256i unpack_q4_1(const gg_block_q4_1 *b) { return nibbles32(b->qs); }
static inline __m256i unpack_q5_1(const gg_block_q5_1 *b) {
    return _mm256_or_si256(nibbles32(b->qs), bits32(b->qh));
}

/* ---- K-quants, 32 values per register ---- */

/* The 256 values of a Q4_K/Q5_K super-block as 8 vectors of 32 bytes in
 * natural order: chunk c's 32 bytes give sub-block 2c (low nibbles) and
 * 2c+1 (high nibbles); Q5_K adds bits 2c and 2c+1 of qh as bit 4. */
static inline void unpack_k45_256(const uint8_t *qs, const uint8_t *qh, __m256i q[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    __m256i hb = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        q[2 * c] = _mm256_and_si256(v, m4);
        q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (qh) {
            /* bit k of each byte moved to bit 4: 16-bit shifts never carry a
             * bit of the high byte into bit 4 of the low byte for k < 4 */
            q[2 * c] = _mm256_or_si256(q[2 * c], _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));
            q[2 * c + 1] = _mm256_or_si256(q[2 * c + 1],
                                           _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));
            hb = _mm256_srli_epi16(hb, 2);
        }
    }
}

/* Q6_K: q = ql nibble | 2 bits of qh << 4, in 0..63, x = q - 32 (the -32
 * left to the caller). */
static inline void unpack_q6_K_256(const gg_block_q6_K *w, __m256i q[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(hi, 4), m3));
        q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(hi, 2), m3));
        q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                       _mm256_and_si256(hi, m3));
        q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(hi, 2), m3));
    }
}

/* Q2_K and Q3_K keep 2 bits per value, four values to a byte: byte l of
 * the 32 at qs + 32h holds value 128h + 32j + l at bits 2j. Vector
 * k = 4h + j of 32 values spans sub-blocks 2k (low lane) and 2k+1. */
static inline void unpack_2bit_256(const uint8_t *qs, __m256i q[8]) {
    const __m256i m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int j = 0; j < 4; j++) q[4 * h + j] = _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m2);
    }
}

/* Q3_K's high bit k of hmask[l] (set: +0, clear: -4) becomes bit 2, so
 * the stored q + 4 is in 0..7 and unsigned for vpmaddubsw; the 4 is taken
 * back by the caller (through bsums, or by subtracting it). */
static inline void unpack_q3_K_256(const gg_block_q3_K *w, __m256i q[8]) {
    const __m256i one = _mm256_set1_epi8(1);
    __m256i hm = _mm256_loadu_si256((const __m256i *)w->hmask);
    unpack_2bit_256(w->qs, q);
    for (int k = 0; k < 8; k++) {
        __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, k), one);
        q[k] = _mm256_or_si256(q[k], _mm256_slli_epi16(hb, 2));
    }
}

#endif
