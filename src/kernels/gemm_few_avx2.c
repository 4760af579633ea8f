/*
 * gemm_few_avx2.c - the packed products (gg_gemm_rows) of plain AVX2
 * (vpmaddubsw) for a few tokens, up to GG_GEMM_FEW_TOKENS: the same bits
 * as the panel path of gemm_avx2.c, without its panels.
 *
 * Why. A panel (gemm_tile_x86.h) is built once per 8 rows and segment and
 * pays for itself over many tokens; at one token building it (unpacking
 * to memory, transposing, the correction sums) costs more than its dot
 * steps, and one token on an AVX2-only CPU ran at half the speed of the
 * row-by-row dot products that came before the panels.
 *
 * How. Each weight row is unpacked 256 values at a time into registers,
 * as unsigned values (Q6_K's 0..63, Q3_K's 0..7, Q4_0's 0..15, ...), and
 * multiplied with each token's signed int8 values (vpmaddubsw is
 * unsigned x signed); each sub-block's products are summed to one int32
 * per row. Those sums are exact, so they equal the panel's sums in any
 * order, once the type's offset times the activations' sum over the
 * sub-block is taken back out. Eight rows' sums are then transposed so
 * that a lane is a row, as in the panel, and from there the float steps
 * are the panel tile's, in its order (the scheme in gemm_tile_x86.h):
 *     per sub-block      f = x * sc (first of its activation block) or
 *                        fma(x, sc, f); types with mins f = fnma(mn, bsum, f)
 *     per act. block     tot = fma(f, d_act, tot), tot from 0.0f
 *     per GEMM_SEG values y = tot (first segment) or y + tot.
 * The scales are computed as the panel's unpackers compute them (one
 * float product each). test_kernels_simd checks every batch of 1..70
 * tokens bit for bit against the whole batch, which takes the panels.
 */
#include "kernels_internal.h"
#include "gemm_x86.h"

#include "../common.h"

#include <immintrin.h>
#include <string.h>

#define FT GG_GEMM_FEW_TOKENS

/* The weight types, each a constant that the inlined code below folds. */
enum { F_Q4_K, F_Q5_K, F_Q6_K, F_Q3_K, F_Q2_K, F_Q4_0, F_Q5_0 };

/* Values per weight scale; per activation scale; whether the type has
 * mins; what its unsigned values exceed the real ones by. */
#define F_SUB(K) ((K) == F_Q6_K || (K) == F_Q3_K || (K) == F_Q2_K ? 16 : 32)
#define F_SB(K) ((K) == F_Q4_0 || (K) == F_Q5_0 ? 32 : 256)
#define F_MINS(K) ((K) == F_Q4_K || (K) == F_Q5_K || (K) == F_Q2_K)
#define F_TYPE(K)                   \
    ((K) == F_Q4_K   ? GG_TYPE_Q4_K \
     : (K) == F_Q5_K ? GG_TYPE_Q5_K \
     : (K) == F_Q6_K ? GG_TYPE_Q6_K \
     : (K) == F_Q3_K ? GG_TYPE_Q3_K \
     : (K) == F_Q2_K ? GG_TYPE_Q2_K \
     : (K) == F_Q4_0 ? GG_TYPE_Q4_0 \
                     : GG_TYPE_Q5_0)
#define F_OFF(K) ((K) == F_Q6_K ? 32 : (K) == F_Q3_K ? 4 : (K) == F_Q4_0 ? 8 : (K) == F_Q5_0 ? 16 : 0)

/* The sums of 4 u8 x s8 products per lane (exact: weights <= 63). */
ALWAYS_INLINE __m256i madd4(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The rows' sums of one sub-block of 32: lane r = the sum of p[r]'s 8
 * lanes. */
ALWAYS_INLINE __m256i rows_sum32(const __m256i p[8]) {
    /* ab, 128-bit lane L: the sums of lane L of p[0..3]; cd of p[4..7] */
    const __m256i ab = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i cd = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20),
                            _mm256_permute2x128_si256(ab, cd, 0x31));
}

/* The rows' sums of two sub-blocks of 16, p[r]'s low 128-bit lane and
 * its high one: x[0] lane r the first's, x[1] the second's. */
ALWAYS_INLINE void rows_sum16(const __m256i p[8], __m256i x[2]) {
    const __m256i ab = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i cd = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    x[0] = _mm256_permute2x128_si256(ab, cd, 0x20);
    x[1] = _mm256_permute2x128_si256(ab, cd, 0x31);
}

/* 16 bytes of each of 8 rows, h[r], as 32-bit words: lane r of w[i] is
 * word i of row r. */
ALWAYS_INLINE void words4(const __m128i h[8], __m256i w[4]) {
    __m256i y[4];
    for (int r = 0; r < 4; r++) y[r] = _mm256_set_m128i(h[r + 4], h[r]);
    const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    w[0] = _mm256_unpacklo_epi64(t0, t2);
    w[1] = _mm256_unpackhi_epi64(t0, t2);
    w[2] = _mm256_unpacklo_epi64(t1, t3);
    w[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* The halves *d[r] as floats, lane r. */
ALWAYS_INLINE __m256 halves8(const gg_half *const d[8]) {
    return _mm256_cvtph_ps(_mm_setr_epi16((short)*d[0], (short)*d[1], (short)*d[2], (short)*d[3],
                                          (short)*d[4], (short)*d[5], (short)*d[6], (short)*d[7]));
}

/* The halves in the low (hi = 0) or high 16 bits of each lane, as floats. */
ALWAYS_INLINE __m256 halves_of(__m256i w, int hi) {
    const __m256i v = hi ? _mm256_srli_epi32(w, 16) : _mm256_and_si256(w, _mm256_set1_epi32(0xffff));
    return _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

/* An integer scale as a float times d: the one product the panel's
 * unpackers make of it. */
ALWAYS_INLINE __m256 times(__m256i v, __m256 d) { return _mm256_mul_ps(_mm256_cvtepi32_ps(v), d); }

/* The scales (and mins) of super-block j of the 8 rows, lane r = row r:
 * sc[s], mn[s] per sub-block s. */
ALWAYS_INLINE void group_scales(const int K, const uint8_t *const rows[8], int64_t j, __m256 sc[16],
                                __m256 mn[16]) {
    __m128i h[8];
    __m256i w[4];
    if (K == F_Q4_K || K == F_Q5_K) {
        /* d, dmin and the 12 bytes of scales lead both blocks; the fields
         * as kscales (simd_x86.h) finds them */
        const size_t bsz = K == F_Q4_K ? sizeof(gg_block_q4_K) : sizeof(gg_block_q5_K);
        for (int r = 0; r < 8; r++)
            h[r] = _mm_loadu_si128((const __m128i *)(const void *)(rows[r] + bsz * (size_t)j));
        words4(h, w);
        const __m256 d = halves_of(w[0], 0), dmin = halves_of(w[0], 1);
        const __m256i m6 = _mm256_set1_epi32(63), m4 = _mm256_set1_epi32(0x0f),
                      top = _mm256_set1_epi32(0x30);
        for (int i = 0; i < 4; i++) {
            const __m256i s = _mm256_and_si256(_mm256_srli_epi32(w[1], 8 * i), m6);
            const __m256i m = _mm256_and_si256(_mm256_srli_epi32(w[2], 8 * i), m6);
            const __m256i s_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w[3], 8 * i), m4),
                                                 _mm256_and_si256(_mm256_srli_epi32(w[1], 8 * i + 2),
                                                                  top));
            const __m256i m_hi =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w[3], 8 * i + 4), m4),
                                _mm256_and_si256(_mm256_srli_epi32(w[2], 8 * i + 2), top));
            sc[i] = times(s, d), mn[i] = times(m, dmin);
            sc[4 + i] = times(s_hi, d), mn[4 + i] = times(m_hi, dmin);
        }
    } else if (K == F_Q6_K || K == F_Q3_K) {
        const gg_half *dp[8];
        for (int r = 0; r < 8; r++) {
            if (K == F_Q6_K) {
                const gg_block_q6_K *b = (const gg_block_q6_K *)(const void *)rows[r] + j;
                h[r] = _mm_loadu_si128((const __m128i *)(const void *)b->scales);
                dp[r] = &b->d;
            } else {
                const gg_block_q3_K *b = (const gg_block_q3_K *)(const void *)rows[r] + j;
                h[r] = q3scales(b->scales);
                dp[r] = &b->d;
            }
        }
        words4(h, w);
        const __m256 d = halves8(dp);
        for (int s = 0; s < 16; s++) /* signed byte s % 4 of word s / 4 */
            sc[s] = times(_mm256_srai_epi32(_mm256_slli_epi32(w[s / 4], 24 - 8 * (s % 4)), 24), d);
    } else if (K == F_Q2_K) {
        const gg_half *dp[8], *mp[8];
        for (int r = 0; r < 8; r++) {
            const gg_block_q2_K *b = (const gg_block_q2_K *)(const void *)rows[r] + j;
            h[r] = _mm_loadu_si128((const __m128i *)(const void *)b->scales);
            dp[r] = &b->d, mp[r] = &b->dmin;
        }
        words4(h, w);
        const __m256 d = halves8(dp), dmin = halves8(mp);
        const __m256i m4 = _mm256_set1_epi32(0x0f);
        for (int s = 0; s < 16; s++) { /* byte s: scale in the low nibble, min in the high */
            const __m256i v = _mm256_srli_epi32(w[s / 4], 8 * (s % 4));
            sc[s] = times(_mm256_and_si256(v, m4), d);
            mn[s] = times(_mm256_and_si256(_mm256_srli_epi32(v, 4), m4), dmin);
        }
    }
}

/* Vector k (values 32k..32k+31) of super-block j of a row, unsigned: the
 * k-th of what unpack_k45_256 / unpack_q6_K_256 / unpack_q3_K_256 /
 * unpack_2bit_256 (unpack_avx2.h) give. */
ALWAYS_INLINE __m256i kvec(const int K, const uint8_t *row, int64_t j, int k) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    if (K == F_Q4_K || K == F_Q5_K) {
        const uint8_t *qs = K == F_Q4_K ? ((const gg_block_q4_K *)(const void *)row)[j].qs
                                        : ((const gg_block_q5_K *)(const void *)row)[j].qs;
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * (k / 2)));
        __m256i q = _mm256_and_si256(k % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
        if (K == F_Q5_K) { /* bit k of each qh byte to bit 4: 16-bit shifts of at
                            * most 4 carry no bit of one byte into bit 4 of the other */
            const __m256i hb = _mm256_loadu_si256(
                (const __m256i *)(const void *)((const gg_block_q5_K *)(const void *)row)[j].qh);
            const __m256i moved = k <= 4 ? _mm256_slli_epi16(hb, 4 - k) : _mm256_srli_epi16(hb, k - 4);
            q = _mm256_or_si256(q, _mm256_and_si256(moved, _mm256_set1_epi8(0x10)));
        }
        return q;
    }
    if (K == F_Q6_K) {
        const gg_block_q6_K *b = (const gg_block_q6_K *)(const void *)row + j;
        const int h = k / 4, c = k % 4;
        const __m256i l = _mm256_loadu_si256(
            (const __m256i *)(const void *)(b->ql + 64 * h + 32 * (c % 2)));
        const __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(b->qh + 32 * h));
        const __m256i lo4 = _mm256_and_si256(c < 2 ? l : _mm256_srli_epi16(l, 4), m4);
        const __m256i hi2 = c == 0   ? _mm256_slli_epi16(hi, 4)
                            : c == 1 ? _mm256_slli_epi16(hi, 2)
                            : c == 2 ? hi
                                     : _mm256_srli_epi16(hi, 2);
        return _mm256_or_si256(lo4, _mm256_and_si256(hi2, _mm256_set1_epi8(0x30)));
    }
    const uint8_t *qs = K == F_Q2_K ? ((const gg_block_q2_K *)(const void *)row)[j].qs
                                    : ((const gg_block_q3_K *)(const void *)row)[j].qs;
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * (k / 4)));
    __m256i q = _mm256_and_si256(_mm256_srli_epi16(v, 2 * (k % 4)), _mm256_set1_epi8(3));
    if (K == F_Q3_K) {
        const __m256i hm = _mm256_loadu_si256(
            (const __m256i *)(const void *)((const gg_block_q3_K *)(const void *)row)[j].hmask);
        const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(hm, k), _mm256_set1_epi8(1));
        q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 2));
    }
    return q;
}

/* Block i (32 values) of a Q4_0/Q5_0 row, unsigned. */
ALWAYS_INLINE __m256i bvec(const int K, const uint8_t *row, int64_t i) {
    if (K == F_Q4_0) return nibbles32(((const gg_block_q4_0 *)(const void *)row)[i].qs);
    const gg_block_q5_0 *b = (const gg_block_q5_0 *)(const void *)row + i;
    return _mm256_or_si256(nibbles32(b->qs), bits32(b->qh));
}

/* One sub-block's float step (K-quants): global sub-block gs, the rows'
 * integer sums x of the unsigned values, less the offset's share osum,
 * f so far. */
ALWAYS_INLINE __m256 kstep(const int K, int s, int64_t gs, __m256i x, int32_t osum, __m256 sc, __m256 mn,
                           const float *bs16, const float *bs32, __m256 f) {
    if (F_OFF(K)) x = _mm256_sub_epi32(x, _mm256_set1_epi32(osum));
    const __m256 xf = _mm256_cvtepi32_ps(x);
    f = s == 0 ? _mm256_mul_ps(xf, sc) : _mm256_fmadd_ps(xf, sc, f);
    if (F_MINS(K)) f = _mm256_fnmadd_ps(mn, _mm256_set1_ps(F_SUB(K) == 16 ? bs16[gs] : bs32[gs]), f);
    return f;
}

/* Eight rows read side by side are eight streams, which the hardware
 * prefetchers follow less well than one: `len` bytes of each row from
 * `off` + PREFETCH_AHEAD are asked for ahead of their use, past a row's
 * end in the same row of the next 8 (rows row_bytes apart). */
#define PREFETCH_AHEAD 1024
ALWAYS_INLINE void prefetch_rows(const uint8_t *const rows[8], size_t row_bytes, size_t off,
                                 size_t len) {
    size_t o = off + PREFETCH_AHEAD;
    if (o >= row_bytes) o += 7 * row_bytes;
    for (int r = 0; r < 8; r++)
        for (size_t l = 0; l < len; l += 64) _mm_prefetch((const char *)rows[r] + o + l, _MM_HINT_T0);
}

/* Tokens' signed values for one segment and, for types with an offset,
 * the offset times the sum of each sub-block's activations. */
typedef struct few_act {
    int8_t a[FT][GEMM_SEG];
    int32_t osum[FT][GEMM_SEG / 16];
} few_act;

ALWAYS_INLINE void sign_segment(const int K, const int NT, const uint8_t *act, size_t stride, int64_t n,
                                int64_t k0, int64_t m, few_act *fa) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < NT; t++) {
        const uint8_t *src = act + (size_t)t * stride + k0;
        for (int64_t i = 0; i < m; i += 32) {
            const __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
            _mm256_storeu_si256((__m256i *)(void *)(fa->a[t] + i), _mm256_xor_si256(u, flip));
            if (F_SB(K) == 32 && F_OFF(K)) { /* sum(u) - 128 * 32 */
                const __m256i s4 = _mm256_sad_epu8(u, _mm256_setzero_si256());
                fa->osum[t][i / 32] =
                    F_OFF(K) * ((int32_t)(_mm256_extract_epi64(s4, 0) + _mm256_extract_epi64(s4, 1) +
                                          _mm256_extract_epi64(s4, 2) + _mm256_extract_epi64(s4, 3)) -
                                128 * 32);
            }
        }
        if (F_SB(K) == 256 && F_OFF(K)) { /* the sums of 16 are in the packed row (gemm_x86.h) */
            const float *bs16 = (const float *)(const void *)(act + (size_t)t * stride + n) + n / 256;
            for (int64_t i = 0; i < m / 16; i++) fa->osum[t][i] = F_OFF(K) * (int32_t)bs16[k0 / 16 + i];
        }
    }
}

/* A segment (values k0..k0+m) of 8 rows times NT tokens, K-quants: the
 * tokens' segment totals tot[t]. */
ALWAYS_INLINE void kquant_segment(const int K, const int NT, const uint8_t *const rows[8],
                                  const few_act *fa, const uint8_t *act, size_t stride, int64_t n,
                                  size_t row_bytes, int64_t k0, int64_t m, __m256 tot[FT]) {
    const size_t bsz = gg_type_info(F_TYPE(K))->type_size;
    for (int g = 0; g < m / 256; g++) {
        const int64_t j = k0 / 256 + g;
        __m256 sc[16], mn[16], f[FT] = {0};
        prefetch_rows(rows, row_bytes, bsz * (size_t)j, bsz);
        group_scales(K, rows, j, sc, mn);
        for (int k = 0; k < 8; k++) {
            __m256i u[8];
            for (int r = 0; r < 8; r++) u[r] = kvec(K, rows[r], j, k);
            for (int t = 0; t < NT; t++) {
                const float *ad = (const float *)(const void *)(act + (size_t)t * stride + n);
                const float *bs16 = ad + n / 256, *bs32 = bs16 + n / 16;
                const __m256i a = _mm256_loadu_si256(
                    (const __m256i *)(const void *)(fa->a[t] + 256 * g + 32 * k));
                __m256i p[8];
                for (int r = 0; r < 8; r++) p[r] = madd4(u[r], a);
                if (F_SUB(K) == 32) {
                    f[t] = kstep(K, k, 8 * j + k, rows_sum32(p), 0, sc[k], mn[k], bs16, bs32, f[t]);
                } else {
                    __m256i x[2];
                    rows_sum16(p, x);
                    for (int h = 0; h < 2; h++)
                        f[t] = kstep(K, 2 * k + h, 16 * j + 2 * k + h, x[h],
                                     fa->osum[t][16 * g + 2 * k + h], sc[2 * k + h], mn[2 * k + h], bs16,
                                     bs32, f[t]);
                }
            }
        }
        for (int t = 0; t < NT; t++) {
            const float *ad = (const float *)(const void *)(act + (size_t)t * stride + n);
            tot[t] = _mm256_fmadd_ps(f[t], _mm256_set1_ps(ad[j]), tot[t]);
        }
    }
}

/* The same for Q4_0/Q5_0: per block, f = x * sc and tot = fma(f, d, tot). */
ALWAYS_INLINE void block_segment(const int K, const int NT, const uint8_t *const rows[8],
                                 const few_act *fa, const uint8_t *act, size_t stride, int64_t n,
                                 size_t row_bytes, int64_t k0, int64_t m, __m256 tot[FT]) {
    const size_t bsz = gg_type_info(F_TYPE(K))->type_size;
    for (int i = 0; i < m / 32; i++) {
        const int64_t bi = k0 / 32 + i;
        if (i % 4 == 0) prefetch_rows(rows, row_bytes, bsz * (size_t)bi, 4 * bsz);
        const gg_half *dp[8];
        __m256i u[8];
        for (int r = 0; r < 8; r++) {
            u[r] = bvec(K, rows[r], bi);
            dp[r] = K == F_Q4_0 ? &((const gg_block_q4_0 *)(const void *)rows[r])[bi].d
                                : &((const gg_block_q5_0 *)(const void *)rows[r])[bi].d;
        }
        const __m256 sc = halves8(dp);
        for (int t = 0; t < NT; t++) {
            const float *ad = (const float *)(const void *)(act + (size_t)t * stride + n);
            const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(fa->a[t] + 32 * i));
            __m256i p[8];
            for (int r = 0; r < 8; r++) p[r] = madd4(u[r], a);
            const __m256i x = _mm256_sub_epi32(rows_sum32(p), _mm256_set1_epi32(fa->osum[t][i]));
            const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(x), sc);
            tot[t] = _mm256_fmadd_ps(f, _mm256_set1_ps(ad[bi]), tot[t]);
        }
    }
}

/* The product for NT tokens of weight type K (see the top). */
ALWAYS_INLINE void few_run(const int K, const int NT, const gg_matrix *w, const void *act, size_t stride,
                           float *y, int64_t ldy, int64_t r0, int64_t r1) {
    few_act fa;
    const int64_t n = w->cols;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t rb = r0; rb < r1; rb += 8) {
        const int nr = (int)GG_MIN(8, r1 - rb);
        const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
        const uint8_t *rows[8];
        /* lanes of no row repeat row rb: computed, never stored */
        for (int r = 0; r < 8; r++)
            rows[r] = (const uint8_t *)w->data + (size_t)(rb + (r < nr ? r : 0)) * w->row_bytes;
        for (int64_t k0 = 0; k0 < n; k0 += GEMM_SEG) {
            const int64_t m = GG_MIN(GEMM_SEG, n - k0);
            sign_segment(K, NT, (const uint8_t *)act, stride, n, k0, m, &fa);
            __m256 tot[FT];
            for (int t = 0; t < NT; t++) tot[t] = _mm256_setzero_ps();
            if (F_SB(K) == 256)
                kquant_segment(K, NT, rows, &fa, (const uint8_t *)act, stride, n, w->row_bytes, k0, m,
                               tot);
            else
                block_segment(K, NT, rows, &fa, (const uint8_t *)act, stride, n, w->row_bytes, k0, m,
                              tot);
            for (int t = 0; t < NT; t++) {
                float *yt = y + (int64_t)t * ldy + rb;
                __m256 o = tot[t];
                if (k0 > 0) o = _mm256_add_ps(_mm256_maskload_ps(yt, keep), o);
                _mm256_maskstore_ps(yt, keep, o);
            }
        }
    }
}

/* One product per type, the token count made a constant by a switch. */
#define FEW_GEMM(name, K)                                                                     \
    static void name(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y, \
                     int64_t ldy, int64_t r0, int64_t r1) {                                   \
        switch (n_tok) {                                                                      \
        case 1: few_run(K, 1, w, act, stride, y, ldy, r0, r1); break;                         \
        case 2: few_run(K, 2, w, act, stride, y, ldy, r0, r1); break;                         \
        case 3: few_run(K, 3, w, act, stride, y, ldy, r0, r1); break;                         \
        default: few_run(K, 4, w, act, stride, y, ldy, r0, r1); break;                        \
        }                                                                                     \
    }
FEW_GEMM(few_q4_K, F_Q4_K)
FEW_GEMM(few_q5_K, F_Q5_K)
FEW_GEMM(few_q6_K, F_Q6_K)
FEW_GEMM(few_q3_K, F_Q3_K)
FEW_GEMM(few_q2_K, F_Q2_K)
FEW_GEMM(few_q4_0, F_Q4_0)
FEW_GEMM(few_q5_0, F_Q5_0)

void gg_gemm_few_fill_avx2(gg_kernel_table *t) {
    t->gemm_few[GG_TYPE_Q4_K] = few_q4_K;
    t->gemm_few[GG_TYPE_Q5_K] = few_q5_K;
    t->gemm_few[GG_TYPE_Q6_K] = few_q6_K;
    t->gemm_few[GG_TYPE_Q3_K] = few_q3_K;
    t->gemm_few[GG_TYPE_Q2_K] = few_q2_K;
    t->gemm_few[GG_TYPE_Q4_0] = few_q4_0;
    t->gemm_few[GG_TYPE_Q5_0] = few_q5_0;
}
