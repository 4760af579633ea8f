/*
 * unpack_avx512.h - turning the weight blocks of each type into int8
 * vectors on AVX-512: shared by the dot products (dot_avx512.c) and the
 * packed matrix products (gemm_avx512.c), which differ only in what they
 * do with the unpacked values. Included only by files compiled with
 * AVX-512 F/BW/VL/DQ.
 */
#ifndef GG_UNPACK_AVX512_H
#define GG_UNPACK_AVX512_H

#include "unpack_avx2.h" /* the 32-value blocks */

/* ---- K-quants, 64 values per register ---- */

/* Chunk c of a Q4_K/Q5_K super-block: 32 bytes whose low nibbles are
 * values 64c..64c+31 and high nibbles the next 32; the 256-bit load is
 * doubled and the upper copy shifted by 4 (Q5_K: qh bit 2c, 2c+1). */
static inline void unpack_k45(const uint8_t *qs, const uint8_t *qh, __m512i q[4]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
    const __m512i by4 = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    __m512i h = qh ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh))
                   : _mm512_setzero_si512();
    __m512i hsh = _mm512_set_epi64(1, 1, 1, 1, 0, 0, 0, 0);
    for (int c = 0; c < 4; c++) {
        __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * c)));
        q[c] = _mm512_and_si512(_mm512_srlv_epi64(v, by4), m4);
        if (qh) {
            /* bit k of a byte reaches bit 0 by a 64-bit shift of k < 8 */
            __m512i hb = _mm512_and_si512(_mm512_srlv_epi64(h, hsh), one);
            q[c] = _mm512_or_si512(q[c], _mm512_slli_epi16(hb, 4));
            hsh = _mm512_add_epi64(hsh, _mm512_set1_epi64(2));
        }
    }
}

/* Q6_K: q in 0..63 from 4 bits of ql and 2 of qh; x = q - 32, the -32
 * applied per super-block through bsums. Chunk k holds values
 * 64k..64k+63, i.e. sub-blocks 4k..4k+3 of 16 values (4 lanes each). */
static inline void unpack_q6_K(const gg_block_q6_K *w, __m512i q[4], __m512i scv[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        __m256i a0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                     _mm256_and_si256(_mm256_slli_epi16(hi, 4), m3));
        __m256i a1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                     _mm256_and_si256(_mm256_slli_epi16(hi, 2), m3));
        __m256i a2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                     _mm256_and_si256(hi, m3));
        __m256i a3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                     _mm256_and_si256(_mm256_srli_epi16(hi, 2), m3));
        q[2 * h] = _mm512_inserti64x4(_mm512_castsi256_si512(a0), a1, 1);
        q[2 * h + 1] = _mm512_inserti64x4(_mm512_castsi256_si512(a2), a3, 1);
    }
    __m512i sc = _mm512_and_si512(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)w->scales)),
                                  _mm512_set1_epi32(0xffff));
    for (int k = 0; k < 4; k++) {
        __m512i idx = _mm512_set_epi32(4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 2, 4 * k + 2,
                                       4 * k + 2, 4 * k + 2, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
                                       4 * k, 4 * k, 4 * k, 4 * k);
        scv[k] = _mm512_permutexvar_epi32(idx, sc);
    }
}

/* Q2_K/Q3_K: 2 bits per value; byte l of the 32 at qs + 32h holds value
 * 128h + 32j + l at bits 2j. Chunk c (values 64c..64c+63) is those 32
 * bytes (h = c/2) shifted by 4(c%2) in the low half and 4(c%2) + 2 in
 * the high half; a 64-bit shift of under 8 brings each byte's own bits
 * down to bit 0. */
static inline void unpack_2bit(const uint8_t *qs, __m512i q[4]) {
    const __m512i m2 = _mm512_set1_epi8(3);
    for (int c = 0; c < 4; c++) {
        __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 2))));
        long long lo = 4 * (c % 2), hi = lo + 2;
        __m512i by = _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo);
        q[c] = _mm512_and_si512(_mm512_srlv_epi64(v, by), m2);
    }
}

/* Q3_K's high bit (bit k of hmask[l] for 32-value vector k; set: +0,
 * clear: -4) added as bit 2, so the values are q + 4 in 0..7: unsigned
 * for the u8 x s8 product, the 4 taken back through bsums. */
static inline void unpack_q3_K(const gg_block_q3_K *w, __m512i q[4]) {
    const __m512i one = _mm512_set1_epi8(1);
    __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)w->hmask));
    unpack_2bit(w->qs, q);
    for (int c = 0; c < 4; c++) {
        long long lo = 2 * c, hi = lo + 1;
        __m512i hb =
            _mm512_and_si512(_mm512_srlv_epi64(hm, _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo)),
                             one);
        q[c] = _mm512_or_si512(q[c], _mm512_slli_epi16(hb, 2));
    }
}

/* Lane i of chunk c belongs to sub-block 4c + i/4 (16 values, 4 lanes). */
static inline __m512i quad_idx(int c) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_srli_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(16 * c)), 2);
}

#endif
