/*
 * dot_avx2.c - AVX2 + FMA + F16C versions of the hot kernels: dot
 * products of a weight row with one or several activation rows,
 * activation quantizers and row dequantizers.
 *
 * Compiled with -mavx2 -mfma -mf16c and called only when the CPU has
 * those, through the table kernels.c fills (gg_kernels_fill_avx2).
 *
 * Meaning is that of the scalar reference (quant_ref.c, dot_ref.c): the
 * integer part of every block product is computed exactly, only the order
 * in which the float scales are accumulated differs. Quantizers and
 * dequantizers do the same float operations as the reference in the same
 * order, so their output is bit for bit the same.
 *
 * The int8 products use vpmaddubsw (unsigned x signed bytes to pairs of
 * int16). It saturates at 32767, so the unsigned operand is kept small:
 * weights as 0..3 up to 0..63 (an offset such as Q3_K's -4 or Q6_K's -32
 * taken back through the activation sums), or |w| with the sign moved
 * onto the activation (vpsignb) where weights are signed.
 *
 * Each dot kernel is written once as a function of the number of
 * activation rows (1 to 4) and forced inline so the compiler keeps the
 * accumulators in registers; the weights of a block are unpacked once and
 * reused for every activation row, which is what makes matrix-matrix
 * products (batched prompts) faster than repeated vector products.
 */
#include "kernels_internal.h"
#include "dot_blocks_x86.h"

#include <immintrin.h>
#include <string.h>


/* ---- small helpers ---- */

static inline gg_half to_half(float f) {
    return (gg_half)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* ---- F32, F16, BF16 ---- */

static inline __m256 load_f32(const void *p, int64_t i) { return _mm256_loadu_ps((const float *)p + i); }
static inline __m256 load_f16(const void *p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const gg_half *)p + i)));
}
static inline __m256 load_bf16(const void *p, int64_t i) {
    __m128i h = _mm_loadu_si128((const __m128i *)((const gg_bf16 *)p + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline float get_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static inline float get_f16(const void *p, int64_t i) { return half(((const gg_half *)p)[i]); }
static inline float get_bf16(const void *p, int64_t i) {
    return gg_bf16_to_float(((const gg_bf16 *)p)[i]);
}

/* Weight and activations share the element type. Two accumulators per
 * row hide the FMA latency; the tail is done one value at a time. */
#define FLOAT_ROWS(name, load, get)                                                                     \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *w, const uint8_t *a, size_t st,            \
                            int rows) {                                                                 \
        __m256 acc0[MAX_ROWS], acc1[MAX_ROWS];                                                          \
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();                         \
        int64_t i = 0;                                                                                  \
        for (; i + 16 <= n; i += 16) {                                                                  \
            __m256 w0 = load(w, i), w1 = load(w, i + 8);                                                \
            for (int r = 0; r < rows; r++) {                                                            \
                acc0[r] = _mm256_fmadd_ps(w0, load(a + r * st, i), acc0[r]);                            \
                acc1[r] = _mm256_fmadd_ps(w1, load(a + r * st, i + 8), acc1[r]);                        \
            }                                                                                           \
        }                                                                                               \
        for (; i + 8 <= n; i += 8) {                                                                    \
            __m256 w0 = load(w, i);                                                                     \
            for (int r = 0; r < rows; r++) acc0[r] = _mm256_fmadd_ps(w0, load(a + r * st, i), acc0[r]); \
        }                                                                                               \
        for (int r = 0; r < rows; r++) {                                                                \
            float t = hsum_ps(_mm256_add_ps(acc0[r], acc1[r]));                                         \
            for (int64_t j = i; j < n; j++) t += get(w, j) * get(a + r * st, j);                        \
            s[r] = t;                                                                                   \
        }                                                                                               \
    }

FLOAT_ROWS(f32_rows, load_f32, get_f32)
FLOAT_ROWS(f16_rows, load_f16, get_f16)
FLOAT_ROWS(bf16_rows, load_bf16, get_bf16)
MULTI(f32_multi, f32_rows)
MULTI(f16_multi, f16_rows)
MULTI(bf16_multi, bf16_rows)

/* ---- 32-value blocks against Q8_0 / Q8_1 (dot_blocks_x86.h) ---- */

SIGNED_BLOCK_ROWS(q4_0_rows, gg_block_q4_0, unpack_q4_0, dot_us8_maddubs)
SIGNED_BLOCK_ROWS(q5_0_rows, gg_block_q5_0, unpack_q5_0, dot_us8_maddubs)
SIGNED_BLOCK_ROWS(q8_0_rows, gg_block_q8_0, unpack_q8_0, dot_us8_maddubs)
MULTI(q4_0_multi, q4_0_rows)
MULTI(q5_0_multi, q5_0_rows)
MULTI(q8_0_multi, q8_0_rows)

OFFSET_BLOCK_ROWS(q4_1_rows, gg_block_q4_1, unpack_q4_1, dot_us8_maddubs)
OFFSET_BLOCK_ROWS(q5_1_rows, gg_block_q5_1, unpack_q5_1, dot_us8_maddubs)
MULTI(q4_1_multi, q4_1_rows)
MULTI(q5_1_multi, q5_1_rows)

/* ---- K-quants against Q8_K (unpackers: unpack_avx2.h) ---- */

#define K45_ROWS(name, wtype, qh_of)                                                                  \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,         \
                            int rows) {                                                               \
        const wtype *w = wv;                                                                          \
        __m256 acc[MAX_ROWS];                                                                         \
        float mins[MAX_ROWS];                                                                         \
        for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps(), mins[r] = 0;                     \
        for (int64_t b = 0; b < n / GG_QK_K; b++) {                                                   \
            uint8_t sc[8], mn[8];                                                                     \
            __m256i q[8], scv[8];                                                                     \
            kscales(w[b].scales, sc, mn);                                                             \
            unpack_k45_256(w[b].qs, qh_of, q);                                                        \
            for (int j = 0; j < 8; j++) scv[j] = _mm256_set1_epi16(sc[j]);                            \
            float dw = half(w[b].d), mw = half(w[b].dmin);                                            \
            for (int r = 0; r < rows; r++) {                                                          \
                const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;                     \
                __m256i sum = _mm256_setzero_si256();                                                 \
                for (int j = 0; j < 8; j++) {                                                         \
                    __m256i yv = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));               \
                    __m256i p16 = _mm256_maddubs_epi16(q[j], yv);                                     \
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(scv[j], p16));                      \
                }                                                                                     \
                mins[r] += mw * y->d * (float)kmins(mn, y->bsums);                                    \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sum), acc[r]); \
            }                                                                                         \
        }                                                                                             \
        for (int r = 0; r < rows; r++) s[r] = hsum_ps(acc[r]) - mins[r];                              \
    }

K45_ROWS(q4_K_rows, gg_block_q4_K, NULL)
K45_ROWS(q5_K_rows, gg_block_q5_K, w[b].qh)
MULTI(q4_K_multi, q4_K_rows)
MULTI(q5_K_multi, q5_K_rows)

/* Q6_K: q = ql nibble | 2 bits of qh << 4, in 0..63, x = q - 32. The -32
 * is applied once per super-block through the activation's bsums:
 * sum sc*(q-32)*y = sum sc*q*y - 32 * sum_j sc[j]*bsums[j]. */
ALWAYS_INLINE void q6_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,
                             int rows) {
    const gg_block_q6_K *w = wv;
    __m256 acc[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / GG_QK_K; b++) {
        __m256i q[8], scv[8];
        unpack_q6_K_256(&w[b], q);
        /* 32 values span two sub-blocks of 16: scale per int16 pair lane. */
        for (int j = 0; j < 8; j++) {
            __m128i lo = _mm_set1_epi16(w[b].scales[2 * j]);
            __m128i hi = _mm_set1_epi16(w[b].scales[2 * j + 1]);
            scv[j] = _mm256_set_m128i(hi, lo);
        }
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));
        float dw = half(w[b].d);
        for (int r = 0; r < rows; r++) {
            const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;
            __m256i sum = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++) {
                __m256i yv = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));
                __m256i p16 = _mm256_maddubs_epi16(q[j], yv);
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(scv[j], p16));
            }
            __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
            __m256i corr = _mm256_madd_epi16(sc16, bs);
            sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(corr, 5));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sum), acc[r]);
        }
    }
    for (int r = 0; r < rows; r++) s[r] = hsum_ps(acc[r]);
}
MULTI(q6_K_multi, q6_K_rows)

/* Per 32-value vector j, the scales of its two sub-blocks of 16 as int16:
 * sc[2j] across the low lane, sc[2j+1] across the high one. Even scales
 * go to the low lane and odd to the high first, so that one in-lane
 * shuffle per vector then does it (broadcasts from memory cost more). */
static inline void pair_scales(__m128i sc8, __m256i scv[8]) {
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, even_odd));
    for (int j = 0; j < 8; j++)
        scv[j] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0101 * 2 * j + 0x0100)));
}

/* sum over a super-block of scale * q * y, 8 int32 lanes: |q| <= 7 and
 * |scale| <= 32 keep every pair and lane far from overflow. */
ALWAYS_INLINE __m256i k16_isum(const __m256i q[8], const __m256i scv[8], const gg_block_q8_K *y) {
    __m256i sum = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        __m256i yv = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(scv[j], _mm256_maddubs_epi16(q[j], yv)));
    }
    return sum;
}

ALWAYS_INLINE void q2_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,
                             int rows) {
    const gg_block_q2_K *w = wv;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256 acc[MAX_ROWS];
    float mins[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps(), mins[r] = 0;
    for (int64_t b = 0; b < n / GG_QK_K; b++) {
        __m256i q[8], scv[8];
        unpack_2bit_256(w[b].qs, q);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[b].scales);
        pair_scales(_mm_and_si128(raw, m4), scv);
        __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
        float dw = half(w[b].d), mw = half(w[b].dmin);
        for (int r = 0; r < rows; r++) {
            const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;
            __m256i sum = k16_isum(q, scv, y);
            mins[r] += mw * y->d * (float)hsum_epi32(madd_bsums(mn, y->bsums));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sum), acc[r]);
        }
    }
    for (int r = 0; r < rows; r++) s[r] = hsum_ps(acc[r]) - mins[r];
}
MULTI(q2_K_multi, q2_K_rows)

ALWAYS_INLINE void q3_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,
                             int rows) {
    const gg_block_q3_K *w = wv;
    __m256 acc[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / GG_QK_K; b++) {
        __m256i q[8], scv[8];
        unpack_q3_K_256(&w[b], q);
        __m128i sc = q3scales(w[b].scales);
        pair_scales(sc, scv);
        __m256i sc16 = _mm256_cvtepi8_epi16(sc);
        float dw = half(w[b].d);
        for (int r = 0; r < rows; r++) {
            const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;
            __m256i sum = k16_isum(q, scv, y);
            sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(madd_bsums(sc16, y->bsums), 2));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y->d), _mm256_cvtepi32_ps(sum), acc[r]);
        }
    }
    for (int r = 0; r < rows; r++) s[r] = hsum_ps(acc[r]);
}
MULTI(q3_K_multi, q3_K_rows)

/* ---- activation quantizers ---- */

static inline float amax8(const float *x, int count) {
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < count; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* Rounds x*id to the nearest integer (ties to even: the MXCSR default)
 * and stores 32 int8; returns their sum. */
static inline int round_store32(const float *x, float id, int8_t *dst) {
    __m256 m = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), m));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), m));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), m));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), m));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    /* packs work per 128-bit lane; the permute puts the dwords back in order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, p);
    return hsum_epi32(sum);
}

static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    gg_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = amax8(x, 32);
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f; /* not 1/d: as the reference */
        y[b].d = to_half(d);
        round_store32(x, id, y[b].qs);
    }
}

static void quantize_q8_1(const float *x, void *dst, int64_t n) {
    gg_block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        float amax = amax8(x, 32);
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f; /* not 1/d: as the reference */
        y[b].d = to_half(d);
        int sum = round_store32(x, id, y[b].qs);
        y[b].s = to_half((float)sum * d);
    }
}

/* Q8_K scales by the value of largest magnitude (the first one, if
 * several), sign included: that value maps to -127. */
static void quantize_q8_K(const float *x, void *dst, int64_t n) {
    gg_block_q8_K *y = dst;
    for (int64_t b = 0; b < n / GG_QK_K; b++, x += GG_QK_K) {
        float amax = amax8(x, GG_QK_K);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        int first = 0;
        while (x[first] != amax && x[first] != -amax) first++;
        float iscale = -127.0f / x[first];
        for (int j = 0; j < GG_QK_K; j += 32) {
            int8_t *q = y[b].qs + j;
            round_store32(x + j, iscale, q);
            /* the clamp to 127 of the reference never bites: |x*iscale| <= 127.
             * Sums of 16 bytes via sad on the bytes biased to unsigned. */
            __m256i v = _mm256_loadu_si256((const __m256i *)q);
            __m256i u = _mm256_sad_epu8(_mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)),
                                        _mm256_setzero_si256());
            y[b].bsums[j / 16] = (int16_t)(_mm256_extract_epi64(u, 0) + _mm256_extract_epi64(u, 1) -
                                           16 * 128);
            y[b].bsums[j / 16 + 1] = (int16_t)(_mm256_extract_epi64(u, 2) + _mm256_extract_epi64(u, 3) -
                                               16 * 128);
        }
        y[b].d = 1.0f / iscale;
    }
}

static void quantize_f16(const float *x, void *dst, int64_t n) {
    gg_half *y = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = gg_float_to_half(x[i]);
}

/* Round to nearest even on the bits; NaN stays NaN (made quiet). */
static inline __m256i bf16_round8(__m256i u) {
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    r = _mm256_srli_epi32(r, 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
    __m256i qnan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, qnan, nan);
}

static void quantize_bf16(const float *x, void *dst, int64_t n) {
    gg_bf16 *y = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_round8(_mm256_castps_si256(_mm256_loadu_ps(x + i)));
        __m256i b = bf16_round8(_mm256_castps_si256(_mm256_loadu_ps(x + i + 8)));
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
    for (; i < n; i++) y[i] = gg_float_to_bf16(x[i]);
}

/* ---- dequantizers ---- */

static void dequant_f16(const void *src, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_f16(src, i));
    for (; i < n; i++) y[i] = get_f16(src, i);
}

static void dequant_bf16(const void *src, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_bf16(src, i));
    for (; i < n; i++) y[i] = get_bf16(src, i);
}

/* y[0..32) = d * x for 32 signed bytes x. */
static inline void store_scaled32(__m256i x, float d, float *y) {
    __m256 dv = _mm256_set1_ps(d);
    __m128i lo = _mm256_castsi256_si128(x), hi = _mm256_extracti128_si256(x, 1);
    _mm256_storeu_ps(y, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
    _mm256_storeu_ps(y + 8,
                     _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
    _mm256_storeu_ps(y + 24,
                     _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
}

/* y[0..32) = d * q + m, the multiply and the add rounded separately. */
static inline void store_affine32(__m256i q, float d, float m, float *y) {
    __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    for (int k = 0; k < 4; k++) {
        __m128i part = k < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
        if (k & 1) part = _mm_srli_si128(part, 8);
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
        _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(dv, f), mv));
    }
}

#define DEQUANT_SIGNED(name, wtype, unpack)                                                           \
    static void name(const void *src, float *y, int64_t n) {                                          \
        const wtype *w = src;                                                                         \
        for (int64_t b = 0; b < n / 32; b++) store_scaled32(unpack(&w[b]), half(w[b].d), y + 32 * b); \
    }
#define DEQUANT_OFFSET(name, wtype, unpack)                                        \
    static void name(const void *src, float *y, int64_t n) {                       \
        const wtype *w = src;                                                      \
        for (int64_t b = 0; b < n / 32; b++)                                       \
            store_affine32(unpack(&w[b]), half(w[b].d), half(w[b].m), y + 32 * b); \
    }
DEQUANT_SIGNED(dequant_q4_0, gg_block_q4_0, unpack_q4_0)
DEQUANT_SIGNED(dequant_q5_0, gg_block_q5_0, unpack_q5_0)
DEQUANT_SIGNED(dequant_q8_0, gg_block_q8_0, unpack_q8_0)
DEQUANT_OFFSET(dequant_q4_1, gg_block_q4_1, unpack_q4_1)
DEQUANT_OFFSET(dequant_q5_1, gg_block_q5_1, unpack_q5_1)

/* Q4_K/Q5_K: per sub-block dl = d*sc and ml = dmin*m, then dl*q - ml
 * rounded twice, as the reference does. */
static inline void store_k32(__m256i q, float dl, float ml, float *y) {
    __m256 dv = _mm256_set1_ps(dl), mv = _mm256_set1_ps(ml);
    for (int k = 0; k < 4; k++) {
        __m128i part = k < 2 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
        if (k & 1) part = _mm_srli_si128(part, 8);
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
        _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(dv, f), mv));
    }
}

#define DEQUANT_K45(name, wtype, qh_of)                                           \
    static void name(const void *src, float *y, int64_t n) {                      \
        const wtype *w = src;                                                     \
        for (int64_t b = 0; b < n / GG_QK_K; b++, y += GG_QK_K) {                 \
            uint8_t sc[8], mn[8];                                                 \
            __m256i q[8];                                                         \
            kscales(w[b].scales, sc, mn);                                         \
            unpack_k45_256(w[b].qs, qh_of, q);                                    \
            float d = half(w[b].d), dmin = half(w[b].dmin);                       \
            for (int j = 0; j < 8; j++)                                           \
                store_k32(q[j], d *(float)sc[j], dmin *(float)mn[j], y + 32 * j); \
        }                                                                         \
    }
DEQUANT_K45(dequant_q4_K, gg_block_q4_K, NULL)
DEQUANT_K45(dequant_q5_K, gg_block_q5_K, w[b].qh)

/* Q6_K: (d*sc) * (q - 32) per sub-block of 16. */
static void dequant_q6_K(const void *src, float *y, int64_t n) {
    const gg_block_q6_K *w = src;
    for (int64_t b = 0; b < n / GG_QK_K; b++, y += GG_QK_K) {
        __m256i q[8];
        unpack_q6_K_256(&w[b], q);
        float d = half(w[b].d);
        for (int j = 0; j < 8; j++) {
            __m256i x = _mm256_sub_epi8(q[j], _mm256_set1_epi8(32));
            for (int k = 0; k < 4; k++) {
                __m128i part = k < 2 ? _mm256_castsi256_si128(x) : _mm256_extracti128_si256(x, 1);
                if (k & 1) part = _mm_srli_si128(part, 8);
                __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part));
                __m256 dl = _mm256_set1_ps(d * (float)w[b].scales[2 * j + k / 2]);
                _mm256_storeu_ps(y + 32 * j + 8 * k, _mm256_mul_ps(dl, f));
            }
        }
    }
}

/* ---- the table ---- */

void gg_kernels_fill_avx2(gg_kernel_table *t) {
#define DOT(type, fn) (t->vec_dot[type] = fn##_one, t->vec_dot_multi[type] = fn)
    DOT(GG_TYPE_F32, f32_multi);
    DOT(GG_TYPE_F16, f16_multi);
    DOT(GG_TYPE_BF16, bf16_multi);
    DOT(GG_TYPE_Q4_0, q4_0_multi);
    DOT(GG_TYPE_Q5_0, q5_0_multi);
    DOT(GG_TYPE_Q8_0, q8_0_multi);
    DOT(GG_TYPE_Q4_1, q4_1_multi);
    DOT(GG_TYPE_Q5_1, q5_1_multi);
    DOT(GG_TYPE_Q2_K, q2_K_multi);
    DOT(GG_TYPE_Q3_K, q3_K_multi);
    DOT(GG_TYPE_Q4_K, q4_K_multi);
    DOT(GG_TYPE_Q5_K, q5_K_multi);
    DOT(GG_TYPE_Q6_K, q6_K_multi);
#undef DOT
    t->quantize_act[GG_TYPE_Q8_0] = quantize_q8_0;
    t->quantize_act[GG_TYPE_Q8_1] = quantize_q8_1;
    t->quantize_act[GG_TYPE_Q8_K] = quantize_q8_K;
    t->quantize_act[GG_TYPE_F16] = quantize_f16;
    t->quantize_act[GG_TYPE_BF16] = quantize_bf16;
    t->dequantize[GG_TYPE_F16] = dequant_f16;
    t->dequantize[GG_TYPE_BF16] = dequant_bf16;
    t->dequantize[GG_TYPE_Q4_0] = dequant_q4_0;
    t->dequantize[GG_TYPE_Q5_0] = dequant_q5_0;
    t->dequantize[GG_TYPE_Q8_0] = dequant_q8_0;
    t->dequantize[GG_TYPE_Q4_1] = dequant_q4_1;
    t->dequantize[GG_TYPE_Q5_1] = dequant_q5_1;
    t->dequantize[GG_TYPE_Q4_K] = dequant_q4_K;
    t->dequantize[GG_TYPE_Q5_K] = dequant_q5_K;
    t->dequantize[GG_TYPE_Q6_K] = dequant_q6_K;
}
