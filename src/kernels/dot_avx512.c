/*
 * dot_avx512.c - AVX-512 versions of the dot products, with VNNI for the
 * int8 products and AVX512-BF16 for bfloat16 rows when the CPU has them.
 *
 * gg_kernels_fill_avx512 starts from the AVX2 table (the quantizers and
 * dequantizers stay there: they are not where the time goes) and
 * replaces the dot products:
 *   F32, F16        512-bit FMA, masked loads for the tail;
 *   BF16            vdpbf16ps when AVX512-BF16 is present;
 *   K-quants        64 values per register, with vpdpbusd when VNNI is
 *                   present and vpmaddubsw + vpmaddwd otherwise;
 *   32-value blocks vpdpbusd on 256-bit registers in the templates of
 *                   dot_blocks_x86.h (VNNI only; without it
 *                   the AVX2 kernels are as good).
 *
 * As in dot_avx2.c, the integer part of each block is exact and only the
 * order of the float accumulation differs from the reference; each kernel
 * is one inline function of the number of activation rows (1 to 4) so the
 * unpacked weights of a block serve every row.
 */
#include "kernels_internal.h"
#include "simd_x86.h"
#include "unpack_avx512.h"
#include "dot_blocks_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <string.h>


/* ---- F32, F16, BF16 ---- */

static inline __m512 load_f32(const void *p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}
static inline __m512 load_f16(const void *p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const gg_half *)p + i));
}
static inline __m512 load_bf16(const void *p, int64_t i, __mmask16 m) {
    __m256i h = _mm256_maskz_loadu_epi16(m, (const gg_bf16 *)p + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The tail (n % 16 values) is read with a masked load: the lanes past
 * the end are zero and add nothing. */
#define FLOAT_ROWS(name, load)                                                                       \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *w, const uint8_t *a, size_t st,         \
                            int rows) {                                                              \
        __m512 acc0[MAX_ROWS], acc1[MAX_ROWS];                                                       \
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();                      \
        const __mmask16 all = 0xffff;                                                                \
        int64_t i = 0;                                                                               \
        for (; i + 32 <= n; i += 32) {                                                               \
            __m512 w0 = load(w, i, all), w1 = load(w, i + 16, all);                                  \
            for (int r = 0; r < rows; r++) {                                                         \
                acc0[r] = _mm512_fmadd_ps(w0, load(a + r * st, i, all), acc0[r]);                    \
                acc1[r] = _mm512_fmadd_ps(w1, load(a + r * st, i + 16, all), acc1[r]);               \
            }                                                                                        \
        }                                                                                            \
        for (; i < n; i += 16) {                                                                     \
            __mmask16 m = n - i >= 16 ? all : (__mmask16)((1u << (n - i)) - 1);                      \
            __m512 w0 = load(w, i, m);                                                               \
            for (int r = 0; r < rows; r++)                                                           \
                acc0[r] = _mm512_fmadd_ps(w0, load(a + r * st, i, m), acc0[r]);                      \
        }                                                                                            \
        for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r])); \
    }

FLOAT_ROWS(f32_rows, load_f32)
FLOAT_ROWS(f16_rows, load_f16)
FLOAT_ROWS(bf16_rows, load_bf16)
MULTI(f32_multi, f32_rows)
MULTI(f16_multi, f16_rows)
MULTI(bf16_multi, bf16_rows)

/* vdpbf16ps multiplies pairs of bfloat16 exactly and adds them in single
 * precision (denormals flushed: they are below the tolerance anyway). */
ALWAYS_INLINE void bf16dp_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,
                               int rows) {
    const gg_bf16 *w = wv;
    __m512 acc0[MAX_ROWS], acc1[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i w0 = _mm512_loadu_si512(w + i), w1 = _mm512_loadu_si512(w + i + 32);
        for (int r = 0; r < rows; r++) {
            const gg_bf16 *y = (const gg_bf16 *)(a + r * st) + i;
            acc0[r] = _mm512_dpbf16_ps(acc0[r], (__m512bh)w0, (__m512bh)_mm512_loadu_si512(y));
            acc1[r] = _mm512_dpbf16_ps(acc1[r], (__m512bh)w1, (__m512bh)_mm512_loadu_si512(y + 32));
        }
    }
    for (; i < n; i += 32) {
        __mmask32 m = n - i >= 32 ? 0xffffffffu : (__mmask32)((1u << (n - i)) - 1);
        __m512i w0 = _mm512_maskz_loadu_epi16(m, w + i);
        for (int r = 0; r < rows; r++) {
            const gg_bf16 *y = (const gg_bf16 *)(a + r * st) + i;
            acc0[r] = _mm512_dpbf16_ps(acc0[r], (__m512bh)w0, (__m512bh)_mm512_maskz_loadu_epi16(m, y));
        }
    }
    for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}
MULTI(bf16dp_multi, bf16dp_rows)

/* ---- 32-value blocks with VNNI on 256-bit registers ---- */


/* vpdpbusd on 256-bit registers, for the templates of dot_blocks_x86.h. */
static inline __m256i dot_us8_vnni256(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

SIGNED_BLOCK_ROWS(q4_0_rows, gg_block_q4_0, unpack_q4_0, dot_us8_vnni256)
SIGNED_BLOCK_ROWS(q5_0_rows, gg_block_q5_0, unpack_q5_0, dot_us8_vnni256)
SIGNED_BLOCK_ROWS(q8_0_rows, gg_block_q8_0, unpack_q8_0, dot_us8_vnni256)
OFFSET_BLOCK_ROWS(q4_1_rows, gg_block_q4_1, unpack_q4_1, dot_us8_vnni256)
OFFSET_BLOCK_ROWS(q5_1_rows, gg_block_q5_1, unpack_q5_1, dot_us8_vnni256)
MULTI(q4_0_multi, q4_0_rows)
MULTI(q5_0_multi, q5_0_rows)
MULTI(q8_0_multi, q8_0_rows)
MULTI(q4_1_multi, q4_1_rows)
MULTI(q5_1_multi, q5_1_rows)

/* ---- K-quants: 64 values per register ---- */

/* Sums of 4 u8 x s8 products per int32 lane. Each is at most
 * 4 * 63 * 128 in magnitude, so it also fits the low 16 bits of its lane,
 * which is what scale() relies on. */
ALWAYS_INLINE __m512i dot_us8(__m512i u, __m512i s, int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}

/* p * sc per lane, where sc holds the scale in the low 16 bits of each
 * lane and zero above: vpmaddwd is cheaper than vpmulld. */
static inline __m512i scale(__m512i p, __m512i sc) { return _mm512_madd_epi16(p, sc); }

static inline __m512i scale_pair(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi32(lo & 0xffff), _mm256_set1_epi32(hi & 0xffff), 1);
}


ALWAYS_INLINE __m512i load_y64(const gg_block_q8_K *y, int c) {
    return _mm512_loadu_si512(y->qs + 64 * c);
}

#define K45_ROWS(name, wtype, qh_of, vnni)                                                            \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,         \
                            int rows) {                                                               \
        const wtype *w = wv;                                                                          \
        __m512 acc[MAX_ROWS];                                                                         \
        float mins[MAX_ROWS];                                                                         \
        for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps(), mins[r] = 0;                     \
        for (int64_t b = 0; b < n / GG_QK_K; b++) {                                                   \
            uint8_t sc[8], mn[8];                                                                     \
            __m512i q[4], scv[4];                                                                     \
            kscales(w[b].scales, sc, mn);                                                             \
            unpack_k45(w[b].qs, qh_of, q);                                                            \
            for (int c = 0; c < 4; c++) scv[c] = scale_pair(sc[2 * c], sc[2 * c + 1]);                \
            float dw = half(w[b].d), mw = half(w[b].dmin);                                            \
            for (int r = 0; r < rows; r++) {                                                          \
                const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;                     \
                __m512i sum = _mm512_setzero_si512();                                                 \
                for (int c = 0; c < 4; c++)                                                           \
                    sum = _mm512_add_epi32(sum, scale(dot_us8(q[c], load_y64(y, c), vnni), scv[c]));  \
                mins[r] += mw * y->d * (float)kmins(mn, y->bsums);                                    \
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sum), acc[r]); \
            }                                                                                         \
        }                                                                                             \
        for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(acc[r]) - mins[r];                 \
    }

K45_ROWS(q4_K_rows_vnni, gg_block_q4_K, NULL, 1)
K45_ROWS(q5_K_rows_vnni, gg_block_q5_K, w[b].qh, 1)
K45_ROWS(q4_K_rows_plain, gg_block_q4_K, NULL, 0)
K45_ROWS(q5_K_rows_plain, gg_block_q5_K, w[b].qh, 0)
MULTI(q4_K_multi_vnni, q4_K_rows_vnni)
MULTI(q5_K_multi_vnni, q5_K_rows_vnni)
MULTI(q4_K_multi_plain, q4_K_rows_plain)
MULTI(q5_K_multi_plain, q5_K_rows_plain)


#define Q6K_ROWS(name, vnni)                                                                           \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,          \
                            int rows) {                                                                \
        const gg_block_q6_K *w = wv;                                                                   \
        __m512 acc[MAX_ROWS];                                                                          \
        for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();                                   \
        for (int64_t b = 0; b < n / GG_QK_K; b++) {                                                    \
            __m512i q[4], scv[4];                                                                      \
            unpack_q6_K(&w[b], q, scv);                                                                \
            __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));        \
            float dw = half(w[b].d);                                                                   \
            for (int r = 0; r < rows; r++) {                                                           \
                const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;                      \
                __m512i sum = _mm512_setzero_si512();                                                  \
                for (int c = 0; c < 4; c++)                                                            \
                    sum = _mm512_add_epi32(sum, scale(dot_us8(q[c], load_y64(y, c), vnni), scv[c]));   \
                __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums)); \
                sum = _mm512_sub_epi32(sum, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));       \
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sum), acc[r]);  \
            }                                                                                          \
        }                                                                                              \
        for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(acc[r]);                            \
    }

Q6K_ROWS(q6_K_rows_vnni, 1)
Q6K_ROWS(q6_K_rows_plain, 0)
MULTI(q6_K_multi_vnni, q6_K_rows_vnni)
MULTI(q6_K_multi_plain, q6_K_rows_plain)


/* sc32: the 16 scales as int32 with zero in the top 16 bits (scale()). */
static inline void spread_scales(__m512i sc32, __m512i scv[4]) {
    for (int c = 0; c < 4; c++) scv[c] = _mm512_permutexvar_epi32(quad_idx(c), sc32);
}

ALWAYS_INLINE __m512i k16_isum(const __m512i q[4], const __m512i scv[4], const gg_block_q8_K *y,
                               int vnni) {
    __m512i sum = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++)
        sum = _mm512_add_epi32(sum, scale(dot_us8(q[c], load_y64(y, c), vnni), scv[c]));
    return sum;
}

ALWAYS_INLINE void q2_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st, int rows,
                             int vnni) {
    const gg_block_q2_K *w = wv;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m512 acc[MAX_ROWS];
    float mins[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps(), mins[r] = 0;
    for (int64_t b = 0; b < n / GG_QK_K; b++) {
        __m512i q[4], scv[4];
        unpack_2bit(w[b].qs, q);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[b].scales);
        spread_scales(_mm512_cvtepu8_epi32(_mm_and_si128(raw, m4)), scv);
        __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
        float dw = half(w[b].d), mw = half(w[b].dmin);
        for (int r = 0; r < rows; r++) {
            const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;
            __m512i sum = k16_isum(q, scv, y, vnni);
            mins[r] += mw * y->d * (float)hsum_epi32(madd_bsums(mn, y->bsums));
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sum), acc[r]);
        }
    }
    for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(acc[r]) - mins[r];
}

ALWAYS_INLINE void q3_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st, int rows,
                             int vnni) {
    const gg_block_q3_K *w = wv;
    __m512 acc[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / GG_QK_K; b++) {
        __m512i q[4], scv[4];
        unpack_q3_K(&w[b], q);
        __m128i sc = q3scales(w[b].scales);
        spread_scales(_mm512_and_si512(_mm512_cvtepi8_epi32(sc), _mm512_set1_epi32(0xffff)), scv);
        __m256i sc16 = _mm256_cvtepi8_epi16(sc);
        float dw = half(w[b].d);
        for (int r = 0; r < rows; r++) {
            const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;
            __m512i sum = k16_isum(q, scv, y, vnni);
            __m256i corr = _mm256_slli_epi32(madd_bsums(sc16, y->bsums), 2);
            sum = _mm512_sub_epi32(sum, _mm512_zextsi256_si512(corr));
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sum), acc[r]);
        }
    }
    for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* The VNNI and the vpmaddubsw copies of a kernel, each with its rows
 * count made constant by MULTI. */
#define VNNI_AND_PLAIN(base)                                                                         \
    ALWAYS_INLINE void base##_vnni(int64_t n, float *s, const void *w, const uint8_t *a, size_t st,  \
                                   int rows) {                                                       \
        base(n, s, w, a, st, rows, 1);                                                               \
    }                                                                                                \
    ALWAYS_INLINE void base##_plain(int64_t n, float *s, const void *w, const uint8_t *a, size_t st, \
                                    int rows) {                                                      \
        base(n, s, w, a, st, rows, 0);                                                               \
    }
VNNI_AND_PLAIN(q2_K_rows)
VNNI_AND_PLAIN(q3_K_rows)
MULTI(q2_K_multi_vnni, q2_K_rows_vnni)
MULTI(q3_K_multi_vnni, q3_K_rows_vnni)
MULTI(q2_K_multi_plain, q2_K_rows_plain)
MULTI(q3_K_multi_plain, q3_K_rows_plain)

/* ---- the table ---- */

void gg_kernels_fill_avx512(gg_kernel_table *t, bool ext) {
    const bool vnni = ext && gg_cpu_get()->avx512vnni, bf16 = ext && gg_cpu_get()->avx512bf16;
    gg_kernels_fill_avx2(t);
#define DOT(type, fn) (t->vec_dot[type] = fn##_one, t->vec_dot_multi[type] = fn)
    DOT(GG_TYPE_F32, f32_multi);
    DOT(GG_TYPE_F16, f16_multi);
    if (bf16) DOT(GG_TYPE_BF16, bf16dp_multi);
    else DOT(GG_TYPE_BF16, bf16_multi);
    if (vnni) {
        DOT(GG_TYPE_Q4_0, q4_0_multi);
        DOT(GG_TYPE_Q5_0, q5_0_multi);
        DOT(GG_TYPE_Q8_0, q8_0_multi);
        DOT(GG_TYPE_Q4_1, q4_1_multi);
        DOT(GG_TYPE_Q5_1, q5_1_multi);
        DOT(GG_TYPE_Q2_K, q2_K_multi_vnni);
        DOT(GG_TYPE_Q3_K, q3_K_multi_vnni);
        DOT(GG_TYPE_Q4_K, q4_K_multi_vnni);
        DOT(GG_TYPE_Q5_K, q5_K_multi_vnni);
        DOT(GG_TYPE_Q6_K, q6_K_multi_vnni);
    } else {
        DOT(GG_TYPE_Q2_K, q2_K_multi_plain);
        DOT(GG_TYPE_Q3_K, q3_K_multi_plain);
        DOT(GG_TYPE_Q4_K, q4_K_multi_plain);
        DOT(GG_TYPE_Q5_K, q5_K_multi_plain);
        DOT(GG_TYPE_Q6_K, q6_K_multi_plain);
    }
#undef DOT
}
