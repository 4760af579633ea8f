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
 *   32-value blocks vpdpbusd on 256-bit registers (VNNI only; without it
 *                   the AVX2 kernels are as good).
 *
 * As in dot_avx2.c, the integer part of each block is exact and only the
 * order of the float accumulation differs from the reference; each kernel
 * is one inline function of the number of activation rows (1 to 4) so the
 * unpacked weights of a block serve every row.
 */
#include "kernels_internal.h"
#include "simd_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <string.h>


static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

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
#define FLOAT_ROWS(name, load)                                                           \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *w, const uint8_t *a,        \
                            size_t st, int rows) {                                       \
        __m512 acc0[MAX_ROWS], acc1[MAX_ROWS];                                           \
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();          \
        const __mmask16 all = 0xffff;                                                    \
        int64_t i = 0;                                                                   \
        for (; i + 32 <= n; i += 32) {                                                   \
            __m512 w0 = load(w, i, all), w1 = load(w, i + 16, all);                      \
            for (int r = 0; r < rows; r++) {                                             \
                acc0[r] = _mm512_fmadd_ps(w0, load(a + r * st, i, all), acc0[r]);        \
                acc1[r] = _mm512_fmadd_ps(w1, load(a + r * st, i + 16, all), acc1[r]);   \
            }                                                                            \
        }                                                                                \
        for (; i < n; i += 16) {                                                         \
            __mmask16 m = n - i >= 16 ? all : (__mmask16)((1u << (n - i)) - 1);         \
            __m512 w0 = load(w, i, m);                                                   \
            for (int r = 0; r < rows; r++)                                               \
                acc0[r] = _mm512_fmadd_ps(w0, load(a + r * st, i, m), acc0[r]);          \
        }                                                                                \
        for (int r = 0; r < rows; r++)                                                   \
            s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));                \
    }

FLOAT_ROWS(f32_rows, load_f32)
FLOAT_ROWS(f16_rows, load_f16)
FLOAT_ROWS(bf16_rows, load_bf16)
MULTI(f32_multi, f32_rows)
MULTI(f16_multi, f16_rows)
MULTI(bf16_multi, bf16_rows)

/* vdpbf16ps multiplies pairs of bfloat16 exactly and adds them in single
 * precision (denormals flushed: they are below the tolerance anyway). */
ALWAYS_INLINE void bf16dp_rows(int64_t n, float *s, const void *wv, const uint8_t *a,
                               size_t st, int rows) {
    const gg_bf16 *w = wv;
    __m512 acc0[MAX_ROWS], acc1[MAX_ROWS];
    for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i w0 = _mm512_loadu_si512(w + i), w1 = _mm512_loadu_si512(w + i + 32);
        for (int r = 0; r < rows; r++) {
            const gg_bf16 *y = (const gg_bf16 *)(a + r * st) + i;
            acc0[r] = _mm512_dpbf16_ps(acc0[r], (__m512bh)w0, (__m512bh)_mm512_loadu_si512(y));
            acc1[r] = _mm512_dpbf16_ps(acc1[r], (__m512bh)w1,
                                       (__m512bh)_mm512_loadu_si512(y + 32));
        }
    }
    for (; i < n; i += 32) {
        __mmask32 m = n - i >= 32 ? 0xffffffffu : (__mmask32)((1u << (n - i)) - 1);
        __m512i w0 = _mm512_maskz_loadu_epi16(m, w + i);
        for (int r = 0; r < rows; r++) {
            const gg_bf16 *y = (const gg_bf16 *)(a + r * st) + i;
            acc0[r] = _mm512_dpbf16_ps(acc0[r], (__m512bh)w0,
                                       (__m512bh)_mm512_maskz_loadu_epi16(m, y));
        }
    }
    for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}
MULTI(bf16dp_multi, bf16dp_rows)

/* ---- 32-value blocks with VNNI on 256-bit registers ---- */

static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 0x10 in byte j where bit j of qh (little-endian) is set. */
static inline __m256i bits32(const uint8_t *qh) {
    uint32_t m;
    memcpy(&m, qh, 4);
    return _mm256_maskz_set1_epi8((__mmask32)m, 0x10);
}

static inline __m256i unpack_q4_0(const gg_block_q4_0 *b) {
    return _mm256_sub_epi8(nibbles32(b->qs), _mm256_set1_epi8(8));
}
static inline __m256i unpack_q5_0(const gg_block_q5_0 *b) {
    return _mm256_sub_epi8(_mm256_or_si256(nibbles32(b->qs), bits32(b->qh)),
                           _mm256_set1_epi8(16));
}
static inline __m256i unpack_q8_0(const gg_block_q8_0 *b) {
    return _mm256_loadu_si256((const __m256i *)b->qs);
}
static inline __m256i unpack_q4_1(const gg_block_q4_1 *b) { return nibbles32(b->qs); }
static inline __m256i unpack_q5_1(const gg_block_q5_1 *b) {
    return _mm256_or_si256(nibbles32(b->qs), bits32(b->qh));
}

/* Signed weights: vpdpbusd takes |x| as the unsigned operand and the
 * activation with x's sign. */
#define SIGNED_BLOCK_ROWS(name, wtype, unpack)                                           \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a,       \
                            size_t st, int rows) {                                       \
        const wtype *w = wv;                                                             \
        __m256 acc[MAX_ROWS];                                                            \
        for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();                     \
        for (int64_t b = 0; b < n / 32; b++) {                                           \
            __m256i x = unpack(&w[b]);                                                   \
            __m256i ax = _mm256_abs_epi8(x);                                             \
            float dw = half(w[b].d);                                                     \
            for (int r = 0; r < rows; r++) {                                             \
                const gg_block_q8_0 *y = (const gg_block_q8_0 *)(a + r * st) + b;        \
                __m256i yv = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), x); \
                __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, yv);         \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half(y->d)),                \
                                         _mm256_cvtepi32_ps(p), acc[r]);                 \
            }                                                                            \
        }                                                                                \
        for (int r = 0; r < rows; r++) s[r] = hsum256(acc[r]);                           \
    }

#define OFFSET_BLOCK_ROWS(name, wtype, unpack)                                           \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a,       \
                            size_t st, int rows) {                                       \
        const wtype *w = wv;                                                             \
        __m256 acc[MAX_ROWS];                                                            \
        float offs[MAX_ROWS];                                                            \
        for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps(), offs[r] = 0;        \
        for (int64_t b = 0; b < n / 32; b++) {                                           \
            __m256i q = unpack(&w[b]);                                                   \
            float dw = half(w[b].d), mw = half(w[b].m);                                  \
            for (int r = 0; r < rows; r++) {                                             \
                const gg_block_q8_1 *y = (const gg_block_q8_1 *)(a + r * st) + b;        \
                __m256i yv = _mm256_loadu_si256((const __m256i *)y->qs);                 \
                __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, yv);          \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half(y->d)),                \
                                         _mm256_cvtepi32_ps(p), acc[r]);                 \
                offs[r] += mw * half(y->s);                                              \
            }                                                                            \
        }                                                                                \
        for (int r = 0; r < rows; r++) s[r] = hsum256(acc[r]) + offs[r];                 \
    }

SIGNED_BLOCK_ROWS(q4_0_rows, gg_block_q4_0, unpack_q4_0)
SIGNED_BLOCK_ROWS(q5_0_rows, gg_block_q5_0, unpack_q5_0)
SIGNED_BLOCK_ROWS(q8_0_rows, gg_block_q8_0, unpack_q8_0)
OFFSET_BLOCK_ROWS(q4_1_rows, gg_block_q4_1, unpack_q4_1)
OFFSET_BLOCK_ROWS(q5_1_rows, gg_block_q5_1, unpack_q5_1)
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

ALWAYS_INLINE __m512i load_y64(const gg_block_q8_K *y, int c) {
    return _mm512_loadu_si512(y->qs + 64 * c);
}

#define K45_ROWS(name, wtype, qh_of, vnni)                                               \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a,       \
                            size_t st, int rows) {                                       \
        const wtype *w = wv;                                                             \
        __m512 acc[MAX_ROWS];                                                            \
        float mins[MAX_ROWS];                                                            \
        for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps(), mins[r] = 0;       \
        for (int64_t b = 0; b < n / GG_QK_K; b++) {                                      \
            uint8_t sc[8], mn[8];                                                        \
            __m512i q[4], scv[4];                                                        \
            kscales(w[b].scales, sc, mn);                                                \
            unpack_k45(w[b].qs, qh_of, q);                                               \
            for (int c = 0; c < 4; c++) scv[c] = scale_pair(sc[2 * c], sc[2 * c + 1]);   \
            float dw = half(w[b].d), mw = half(w[b].dmin);                               \
            for (int r = 0; r < rows; r++) {                                             \
                const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;        \
                __m512i sum = _mm512_setzero_si512();                                    \
                for (int c = 0; c < 4; c++)                                              \
                    sum = _mm512_add_epi32(sum, scale(dot_us8(q[c], load_y64(y, c), vnni), \
                                                      scv[c]));                          \
                mins[r] += mw * y->d * (float)kmins(mn, y->bsums);                       \
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sum), \
                                         acc[r]);                                        \
            }                                                                            \
        }                                                                                \
        for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(acc[r]) - mins[r];    \
    }

K45_ROWS(q4_K_rows_vnni, gg_block_q4_K, NULL, 1)
K45_ROWS(q5_K_rows_vnni, gg_block_q5_K, w[b].qh, 1)
K45_ROWS(q4_K_rows_plain, gg_block_q4_K, NULL, 0)
K45_ROWS(q5_K_rows_plain, gg_block_q5_K, w[b].qh, 0)
MULTI(q4_K_multi_vnni, q4_K_rows_vnni)
MULTI(q5_K_multi_vnni, q5_K_rows_vnni)
MULTI(q4_K_multi_plain, q4_K_rows_plain)
MULTI(q5_K_multi_plain, q5_K_rows_plain)

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
    __m512i sc = _mm512_and_si512(
        _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)w->scales)),
        _mm512_set1_epi32(0xffff));
    for (int k = 0; k < 4; k++) {
        __m512i idx = _mm512_set_epi32(4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
                                       4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2,
                                       4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
                                       4 * k, 4 * k, 4 * k, 4 * k);
        scv[k] = _mm512_permutexvar_epi32(idx, sc);
    }
}

#define Q6K_ROWS(name, vnni)                                                             \
    ALWAYS_INLINE void name(int64_t n, float *s, const void *wv, const uint8_t *a,       \
                            size_t st, int rows) {                                       \
        const gg_block_q6_K *w = wv;                                                     \
        __m512 acc[MAX_ROWS];                                                            \
        for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();                     \
        for (int64_t b = 0; b < n / GG_QK_K; b++) {                                      \
            __m512i q[4], scv[4];                                                        \
            unpack_q6_K(&w[b], q, scv);                                                  \
            __m256i sc16 =                                                               \
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));     \
            float dw = half(w[b].d);                                                     \
            for (int r = 0; r < rows; r++) {                                             \
                const gg_block_q8_K *y = (const gg_block_q8_K *)(a + r * st) + b;        \
                __m512i sum = _mm512_setzero_si512();                                    \
                for (int c = 0; c < 4; c++)                                              \
                    sum = _mm512_add_epi32(sum, scale(dot_us8(q[c], load_y64(y, c), vnni), \
                                                      scv[c]));                          \
                __m256i corr = _mm256_madd_epi16(                                        \
                    sc16, _mm256_loadu_si256((const __m256i *)y->bsums));                \
                sum = _mm512_sub_epi32(                                                  \
                    sum, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));            \
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(dw * y->d), _mm512_cvtepi32_ps(sum), \
                                         acc[r]);                                        \
            }                                                                            \
        }                                                                                \
        for (int r = 0; r < rows; r++) s[r] = _mm512_reduce_add_ps(acc[r]);              \
    }

Q6K_ROWS(q6_K_rows_vnni, 1)
Q6K_ROWS(q6_K_rows_plain, 0)
MULTI(q6_K_multi_vnni, q6_K_rows_vnni)
MULTI(q6_K_multi_plain, q6_K_rows_plain)

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
        __m512i hb = _mm512_and_si512(_mm512_srlv_epi64(hm, _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo)), one);
        q[c] = _mm512_or_si512(q[c], _mm512_slli_epi16(hb, 2));
    }
}

/* Lane i of chunk c belongs to sub-block 4c + i/4 (16 values, 4 lanes). */
static inline __m512i quad_idx(int c) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_srli_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(16 * c)), 2);
}

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

ALWAYS_INLINE void q2_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,
                             int rows, int vnni) {
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

ALWAYS_INLINE void q3_K_rows(int64_t n, float *s, const void *wv, const uint8_t *a, size_t st,
                             int rows, int vnni) {
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
#define VNNI_AND_PLAIN(base)                                                             \
    ALWAYS_INLINE void base##_vnni(int64_t n, float *s, const void *w, const uint8_t *a, \
                                   size_t st, int rows) {                                \
        base(n, s, w, a, st, rows, 1);                                                   \
    }                                                                                    \
    ALWAYS_INLINE void base##_plain(int64_t n, float *s, const void *w, const uint8_t *a, \
                                    size_t st, int rows) {                               \
        base(n, s, w, a, st, rows, 0);                                                   \
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

/* ---- packed matrix products (VNNI) ----
 *
 * gg_gemm_rows computes many tokens against many weight rows with a
 * register tile of up to 4 rows x 4 tokens. Both sides are first brought
 * to one form, 64 values at a time:
 *   activations (packed once per chunk by gg_gemm_pack_act, from the
 *     reference quantization of the vec_dot_type): the int8 values + 128
 *     as unsigned bytes, then one float scale per 4 values (the block's
 *     d repeated), then d * sum(q) per 16 values (for the K-quant mins:
 *     Q2_K has a min per 16);
 *   weights (unpacked per tile of rows, SEG values at a time, into a
 *     buffer on the stack): signed int8 values, one float scale per 4
 *     values, -128 * sum of the 4 values (undoes the + 128 of the
 *     activations inside vpdpbusd) and the float min per 16 values.
 * Each 4-value group of a product is exact in int32; the float part is
 * acc += float(p) * (ws * as) per lane, reduced once per segment, so a
 * token's result does not depend on which tile or batch it is in. */

#define SEG 2048 /* values per weight segment (a multiple of 256) */
#define TR 4     /* weight rows per tile */
#define TT 4     /* tokens per tile */

typedef struct wbuf {
    int8_t q[TR][SEG];
    float s[TR][SEG / 4];
    int32_t c[TR][SEG / 4];
    float m[TR][SEG / 16];
} wbuf;

/* The activation row layout: n bytes, n/4 floats, n/16 floats. */
static inline const float *act_scales(const uint8_t *a, int64_t n) {
    return (const float *)(const void *)(a + n);
}
static inline const float *act_sums(const uint8_t *a, int64_t n) {
    return (const float *)(const void *)(a + 2 * n);
}

static void pack_q8_0_act(const float *x, void *dst, int64_t n) {
    uint8_t *qs = dst;
    float *as = (float *)(void *)(qs + n), *sum = as + n / 4;
    gg_block_q8_0 tmp[SEG / 32];
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i0 = 0; i0 < n; i0 += SEG) {
        int64_t m = GG_MIN(SEG, n - i0);
        gg_quantize_act(GG_TYPE_Q8_0, x + i0, tmp, m);
        for (int64_t b = 0; b < m / 32; b++) {
            int64_t i = i0 + 32 * b;
            _mm256_storeu_si256((__m256i *)(qs + i),
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)tmp[b].qs), flip));
            _mm256_storeu_ps(as + i / 4, _mm256_set1_ps(half(tmp[b].d)));
            sum[i / 16] = sum[i / 16 + 1] = 0;
        }
    }
}

static void pack_q8_K_act(const float *x, void *dst, int64_t n) {
    uint8_t *qs = dst;
    float *as = (float *)(void *)(qs + n), *sum = as + n / 4;
    gg_block_q8_K tmp[SEG / GG_QK_K];
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int64_t i0 = 0; i0 < n; i0 += SEG) {
        int64_t m = GG_MIN(SEG, n - i0);
        gg_quantize_act(GG_TYPE_Q8_K, x + i0, tmp, m);
        for (int64_t b = 0; b < m / GG_QK_K; b++) {
            int64_t i = i0 + GG_QK_K * b;
            for (int c = 0; c < 4; c++)
                _mm512_storeu_si512(qs + i + 64 * c,
                                    _mm512_xor_si512(_mm512_loadu_si512(tmp[b].qs + 64 * c), flip));
            __m512 d = _mm512_set1_ps(tmp[b].d);
            for (int c = 0; c < 4; c++) _mm512_storeu_ps(as + i / 4 + 16 * c, d);
            for (int j = 0; j < 16; j++) sum[i / 16 + j] = tmp[b].d * (float)tmp[b].bsums[j];
        }
    }
}

/* -128 * (sum of each 4 weights), per lane. */
static inline __m512i neg_corr(__m512i q) {
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), q);
    return _mm512_sub_epi32(_mm512_setzero_si512(), p);
}

static inline void put64(wbuf *b, int r, int64_t i, __m512i q, __m512 s) {
    _mm512_storeu_si512(b->q[r] + i, q);
    _mm512_storeu_si512(b->c[r] + i / 4, neg_corr(q));
    _mm512_storeu_ps(b->s[r] + i / 4, s);
}

static inline __m512 pair_scale(gg_half d0, gg_half d1) {
    return _mm512_insertf32x8(_mm512_set1_ps(half(d0)), _mm256_set1_ps(half(d1)), 1);
}

#define UNPACK_32(name, wtype, unpack)                                                   \
    static void name(const void *row, int64_t k0, int64_t m, wbuf *b, int r) {           \
        const wtype *w = (const wtype *)row + k0 / 32;                                   \
        for (int64_t j = 0; j < m / 32; j += 2) {                                        \
            __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(unpack(&w[j])),        \
                                           unpack(&w[j + 1]), 1);                        \
            put64(b, r, 32 * j, q, pair_scale(w[j].d, w[j + 1].d));                      \
        }                                                                                \
    }
UNPACK_32(unpack_rows_q8_0, gg_block_q8_0, unpack_q8_0)
UNPACK_32(unpack_rows_q4_0, gg_block_q4_0, unpack_q4_0)
UNPACK_32(unpack_rows_q5_0, gg_block_q5_0, unpack_q5_0)

static void unpack_rows_q6_K(const void *row, int64_t k0, int64_t m, wbuf *b, int r) {
    const gg_block_q6_K *w = (const gg_block_q6_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m512i q[4], scv[4];
        unpack_q6_K(&w[j], q, scv);
        __m512 sc = _mm512_mul_ps(
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)w[j].scales))),
            _mm512_set1_ps(half(w[j].d)));
        for (int c = 0; c < 4; c++) {
            __m512i idx = _mm512_srli_epi32(
                _mm512_add_epi32(_mm512_set1_epi32(16 * c),
                                 _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)),
                2);
            put64(b, r, GG_QK_K * j + 64 * c, _mm512_sub_epi8(q[c], _mm512_set1_epi8(32)),
                  _mm512_permutexvar_ps(idx, sc));
        }
    }
}

#define UNPACK_K45(name, wtype, qh_of)                                                   \
    static void name(const void *row, int64_t k0, int64_t m, wbuf *b, int r) {           \
        const wtype *w = (const wtype *)row + k0 / GG_QK_K;                              \
        for (int64_t j = 0; j < m / GG_QK_K; j++) {                                      \
            uint8_t sc[8], mn[8];                                                        \
            __m512i q[4];                                                                \
            kscales(w[j].scales, sc, mn);                                                \
            unpack_k45(w[j].qs, qh_of, q);                                               \
            float d = half(w[j].d), dm = half(w[j].dmin);                                \
            for (int c = 0; c < 4; c++)                                                  \
                put64(b, r, GG_QK_K * j + 64 * c, q[c],                                  \
                      _mm512_insertf32x8(_mm512_set1_ps(d * sc[2 * c]),                  \
                                         _mm256_set1_ps(d * sc[2 * c + 1]), 1));         \
            for (int s = 0; s < 16; s++) b->m[r][GG_QK_K / 16 * j + s] = dm * mn[s / 2]; \
        }                                                                                \
    }
UNPACK_K45(unpack_rows_q4_K, gg_block_q4_K, NULL)
UNPACK_K45(unpack_rows_q5_K, gg_block_q5_K, w[j].qh)

/* Q2_K: values 0..3, scale d*sc per lane and min dmin*m per 16. */
static void unpack_rows_q2_K(const void *row, int64_t k0, int64_t m, wbuf *b, int r) {
    const gg_block_q2_K *w = (const gg_block_q2_K *)row + k0 / GG_QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m512i q[4];
        unpack_2bit(w[j].qs, q);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[j].scales);
        __m512 sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(raw, m4))),
                                  _mm512_set1_ps(half(w[j].d)));
        __m512i mn = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
        for (int c = 0; c < 4; c++)
            put64(b, r, GG_QK_K * j + 64 * c, q[c], _mm512_permutexvar_ps(quad_idx(c), sc));
        _mm512_storeu_ps(b->m[r] + GG_QK_K / 16 * j,
                         _mm512_mul_ps(_mm512_cvtepi32_ps(mn), _mm512_set1_ps(half(w[j].dmin))));
    }
}

/* Q3_K: values -4..3 (the stored q + 4 less 4), scale d*sc per lane. */
static void unpack_rows_q3_K(const void *row, int64_t k0, int64_t m, wbuf *b, int r) {
    const gg_block_q3_K *w = (const gg_block_q3_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m512i q[4];
        unpack_q3_K(&w[j], q);
        __m512 sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q3scales(w[j].scales))),
                                  _mm512_set1_ps(half(w[j].d)));
        for (int c = 0; c < 4; c++)
            put64(b, r, GG_QK_K * j + 64 * c, _mm512_sub_epi8(q[c], _mm512_set1_epi8(4)),
                  _mm512_permutexvar_ps(quad_idx(c), sc));
    }
}

typedef void (*unpack_fn)(const void *row, int64_t k0, int64_t m, wbuf *b, int r);

/* out[r][t] = the segment's dot products of NR buffered rows and NT
 * tokens (a[t], s[t] point at the segment in each token's row). */
ALWAYS_INLINE void micro(int NR, int NT, int64_t m, const wbuf *b, const uint8_t *const *a,
                         const float *const *s, float out[TR][TT]) {
    __m512 acc[TR][TT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < m; i += 64) {
        __m512i w[TR], c[TR];
        __m512 ws[TR];
        for (int r = 0; r < NR; r++) {
            w[r] = _mm512_loadu_si512(b->q[r] + i);
            c[r] = _mm512_loadu_si512(b->c[r] + i / 4);
            ws[r] = _mm512_loadu_ps(b->s[r] + i / 4);
        }
        for (int t = 0; t < NT; t++) {
            __m512i av = _mm512_loadu_si512(a[t] + i);
            __m512 as = _mm512_loadu_ps(s[t] + i / 4);
            for (int r = 0; r < NR; r++) {
                __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c[r], av, w[r]));
                acc[r][t] = _mm512_fmadd_ps(p, _mm512_mul_ps(ws[r], as), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
}

static void micro_any(int nr, int nt, int64_t m, const wbuf *b, const uint8_t *const *a,
                      const float *const *s, float out[TR][TT]) {
#define CASE(R, T) \
    case (R) * 8 + (T): micro(R, T, m, b, a, s, out); break;
    switch (nr * 8 + nt) {
        CASE(4, 4) CASE(4, 3) CASE(4, 2) CASE(4, 1)
        CASE(3, 4) CASE(3, 3) CASE(3, 2) CASE(3, 1)
        CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1)
        CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1)
    default: break;
    }
#undef CASE
}

/* sum over the segment's 16-value groups of min * (d * sum(q)) of a token. */
static inline float mins_dot(const float *wm, const float *as, int64_t nb) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < nb; j += 16) {
        __mmask16 k = nb - j >= 16 ? 0xffff : (__mmask16)((1u << (nb - j)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, wm + j), _mm512_maskz_loadu_ps(k, as + j), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void prefetch_tile(const gg_matrix *w, int64_t r0, int64_t r1, int64_t k0, int64_t m) {
    const gg_type_traits *ti = gg_type_info(w->type);
    size_t b0 = (size_t)(k0 / ti->block_size) * ti->type_size;
    size_t b1 = (size_t)((k0 + m) / ti->block_size) * ti->type_size;
    for (int64_t r = r0; r < r1; r++) {
        const char *row = (const char *)w->data + (size_t)r * w->row_bytes;
        for (size_t o = b0; o < b1; o += 64) _mm_prefetch(row + o, _MM_HINT_T0);
    }
}

static void gemm_rows(unpack_fn unpack, bool mins, const gg_matrix *w, const void *act,
                      size_t stride, int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    wbuf buf;
    const int64_t n = w->cols;
    for (int64_t rb = r0; rb < r1; rb += TR) {
        int nr = (int)GG_MIN(TR, r1 - rb);
        for (int64_t k0 = 0; k0 < n; k0 += SEG) {
            int64_t m = GG_MIN(SEG, n - k0);
            for (int r = 0; r < nr; r++)
                unpack((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes, k0, m, &buf, r);
            /* The next tile's weights come from memory while this one
             * computes: the unpacking above would otherwise wait for them. */
            prefetch_tile(w, rb + TR, GG_MIN(rb + 2 * TR, r1), k0, m);
            for (int t0 = 0; t0 < n_tok; t0 += TT) {
                int nt = GG_MIN(TT, n_tok - t0);
                const uint8_t *a[TT];
                const float *s[TT];
                float out[TR][TT];
                for (int t = 0; t < nt; t++) {
                    const uint8_t *row = (const uint8_t *)act + (size_t)(t0 + t) * stride;
                    a[t] = row + k0;
                    s[t] = act_scales(row, n) + k0 / 4;
                }
                micro_any(nr, nt, m, &buf, a, s, out);
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (int64_t)(t0 + t) * ldy + rb;
                    const uint8_t *row = (const uint8_t *)act + (size_t)(t0 + t) * stride;
                    for (int r = 0; r < nr; r++) {
                        float v = out[r][t];
                        if (mins) v -= mins_dot(buf.m[r], act_sums(row, n) + k0 / 16, m / 16);
                        yt[r] = k0 == 0 ? v : yt[r] + v;
                    }
                }
            }
        }
    }
}

#define GEMM(name, unpack, mins)                                                         \
    static void name(const gg_matrix *w, const void *act, size_t stride, int n_tok,      \
                     float *y, int64_t ldy, int64_t r0, int64_t r1) {                    \
        gemm_rows(unpack, mins, w, act, stride, n_tok, y, ldy, r0, r1);                  \
    }
GEMM(gemm_q8_0, unpack_rows_q8_0, false)
GEMM(gemm_q4_0, unpack_rows_q4_0, false)
GEMM(gemm_q5_0, unpack_rows_q5_0, false)
GEMM(gemm_q2_K, unpack_rows_q2_K, true)
GEMM(gemm_q3_K, unpack_rows_q3_K, false)
GEMM(gemm_q4_K, unpack_rows_q4_K, true)
GEMM(gemm_q5_K, unpack_rows_q5_K, true)
GEMM(gemm_q6_K, unpack_rows_q6_K, false)

/* F16: weights widened to floats per tile of rows, activations kept as
 * the F16 row gg_quantize_act makes (widened as they are loaded, once
 * for the 4 rows of a tile); one FMA per row, token and 16 values. */
typedef struct fbuf {
    float w[TR][SEG];
} fbuf;

static void pack_f16_act(const float *x, void *dst, int64_t n) {
    gg_quantize_act(GG_TYPE_F16, x, dst, n);
}

ALWAYS_INLINE void micro_f16(int NR, int NT, int64_t m, const fbuf *b, const gg_half *const *a,
                             float out[TR][TT]) {
    __m512 acc[TR][TT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < m; i += 16) {
        __m512 w[TR];
        for (int r = 0; r < NR; r++) w[r] = _mm512_loadu_ps(b->w[r] + i);
        for (int t = 0; t < NT; t++) {
            __m512 av = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a[t] + i)));
            for (int r = 0; r < NR; r++) acc[r][t] = _mm512_fmadd_ps(w[r], av, acc[r][t]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
}

static void micro_f16_any(int nr, int nt, int64_t m, const fbuf *b, const gg_half *const *a,
                          float out[TR][TT]) {
#define CASE(R, T) \
    case (R) * 8 + (T): micro_f16(R, T, m, b, a, out); break;
    switch (nr * 8 + nt) {
        CASE(4, 4) CASE(4, 3) CASE(4, 2) CASE(4, 1)
        CASE(3, 4) CASE(3, 3) CASE(3, 2) CASE(3, 1)
        CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1)
        CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1)
    default: break;
    }
#undef CASE
}

static void gemm_f16(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y,
                     int64_t ldy, int64_t r0, int64_t r1) {
    fbuf buf;
    const int64_t n = w->cols;
    for (int64_t rb = r0; rb < r1; rb += TR) {
        int nr = (int)GG_MIN(TR, r1 - rb);
        for (int64_t k0 = 0; k0 < n; k0 += SEG) {
            int64_t m = GG_MIN(SEG, n - k0);
            for (int r = 0; r < nr; r++) {
                const gg_half *row =
                    (const gg_half *)((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes) + k0;
                for (int64_t i = 0; i < m; i += 16)
                    _mm512_storeu_ps(buf.w[r] + i,
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i))));
            }
            prefetch_tile(w, rb + TR, GG_MIN(rb + 2 * TR, r1), k0, m);
            for (int t0 = 0; t0 < n_tok; t0 += TT) {
                int nt = GG_MIN(TT, n_tok - t0);
                const gg_half *a[TT];
                float out[TR][TT];
                for (int t = 0; t < nt; t++)
                    a[t] = (const gg_half *)((const uint8_t *)act + (size_t)(t0 + t) * stride) + k0;
                micro_f16_any(nr, nt, m, &buf, a, out);
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (int64_t)(t0 + t) * ldy + rb;
                    for (int r = 0; r < nr; r++) yt[r] = k0 == 0 ? out[r][t] : yt[r] + out[r][t];
                }
            }
        }
    }
}

void gg_gemm_fill_avx512(gg_kernel_table *t, bool ext) {
    t->gemm_pack[GG_TYPE_F16] = pack_f16_act;
    t->gemm[GG_TYPE_F16] = gemm_f16;
    if (!ext || !gg_cpu_get()->avx512vnni) return;
    t->gemm_pack[GG_TYPE_Q8_0] = pack_q8_0_act;
    t->gemm_pack[GG_TYPE_Q8_K] = pack_q8_K_act;
    t->gemm[GG_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[GG_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[GG_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[GG_TYPE_Q2_K] = gemm_q2_K;
    t->gemm[GG_TYPE_Q3_K] = gemm_q3_K;
    t->gemm[GG_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[GG_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[GG_TYPE_Q6_K] = gemm_q6_K;
}
