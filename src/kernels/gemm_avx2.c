/*
 * gemm_avx2.c - the packed matrix products (gg_gemm_rows) on 256-bit
 * registers: quantized weights times int8 activations, for CPUs with
 * AVX2 (vpmaddubsw + vpmaddwd) and with AVX-VNNI (vpdpbusd on ymm), the
 * two being one template that takes the instruction.
 *
 * The scheme is gemm_avx512.c's at half the width: eight weight rows at
 * a time are unpacked, one segment of SEG values, into a panel in L1 that
 * every token of the call then reads, one row per 32-bit lane and 4
 * consecutive values per lane; a token's 4 values broadcast to every lane
 * times a panel vector add to each row's own sum. Per weight sub-block
 * (the values sharing one scale) the panel holds the int8 vectors, the
 * rows' float scales and mins and -128 * each row's sum there (the
 * activations come as value + 128, see gemm_x86.h). A register tile of up
 * to TT tokens by 8 rows does, per sub-block,
 *     isum = corr + sum of S/4 dot steps         (exact in int32)
 *     f = f + float(isum) * scale [- min * bsum]
 * and per activation block  tot = tot + f * d_act.
 * Each row and token is one lane going through the same operations in
 * the same order whatever the tile, batch, row range or instruction (and
 * as in gemm_avx512.c), so the results do not depend on any of them.
 *
 * vpmaddubsw adds two u8 x s8 products into an int16 with saturation: with
 * activations up to 255 that is exact only for weights within +-64, so
 * the vpmaddubsw instance leaves out Q8_0 (whose weights reach 127) and
 * Q8_0 goes through gg_matmul_rows there; the vpdpbusd instance has no
 * such limit.
 */
#include "kernels_internal.h"
#include "gemm_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <string.h>

/* The compilers that know AVX-VNNI as a function target. */
#if (defined(__clang__) && !defined(__apple_build_version__) && __clang_major__ >= 12) ||     \
    (defined(__clang__) && defined(__apple_build_version__) && __clang_major__ >= 13) ||      \
    (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define GG_HAVE_AVXVNNI 1
#define AVXVNNI_TARGET __attribute__((target("avxvnni")))
#endif

#define GR 8                  /* weight rows per panel: one per lane */
#define SEG 1024              /* values per panel, a multiple of 256 */
#define MAX_SUB (SEG / 16)    /* sub-blocks per panel, at most */
#define TT 4                  /* tokens per register tile */

typedef struct panel {
    int8_t q[SEG / 4][32]; /* vector j: values 4j..4j+3 of each of 8 rows */
    int32_t corr[MAX_SUB][GR];
    float sc[MAX_SUB][GR];
    float mn[MAX_SUB][GR];
} panel;

/* The rows as unpacked, before they are turned into a panel. */
typedef struct rows_buf {
    int8_t q[GR][SEG];
    float sc[GR][MAX_SUB];
    float mn[GR][MAX_SUB];
} rows_buf;

/* ---- unpacking one row ---- */

UNPACK_32(unpack_row_q8_0, gg_block_q8_0, unpack_q8_0)
UNPACK_32(unpack_row_q4_0, gg_block_q4_0, unpack_q4_0)
UNPACK_32(unpack_row_q5_0, gg_block_q5_0, unpack_q5_0)

static inline void store8(int8_t *q, const __m256i v[8], int off) {
    for (int c = 0; c < 8; c++)
        _mm256_storeu_si256((__m256i *)(q + 32 * c),
                            _mm256_sub_epi8(v[c], _mm256_set1_epi8((char)off)));
}

#define UNPACK_K45(name, wtype, qh_of)                                                   \
    static void name(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,       \
                     float *mn) {                                                        \
        const wtype *w = (const wtype *)row + k0 / GG_QK_K;                              \
        for (int64_t j = 0; j < m / GG_QK_K; j++) {                                      \
            __m256i v[8];                                                                \
            unpack_k45_256(w[j].qs, qh_of, v);                                           \
            store8(q + 256 * j, v, 0);                                                   \
            k45_scales(w[j].scales, w[j].d, w[j].dmin, sc + 8 * j, mn + 8 * j);          \
        }                                                                                \
    }
UNPACK_K45(unpack_row_q4_K, gg_block_q4_K, NULL)
UNPACK_K45(unpack_row_q5_K, gg_block_q5_K, w[j].qh)

/* 16 signed bytes of scale times d, to 16 floats. */
static inline void put_scales16(float *dst, __m128i s8, gg_half d) {
    const __m256 dv = _mm256_set1_ps(half(d));
    _mm256_storeu_ps(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8)), dv));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(s8, 8))), dv));
}

static void unpack_row_q6_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,
                            float *mn) {
    (void)mn;
    const gg_block_q6_K *w = (const gg_block_q6_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m256i v[8];
        unpack_q6_K_256(&w[j], v);
        store8(q + 256 * j, v, 32);
        put_scales16(sc + 16 * j, _mm_loadu_si128((const __m128i *)w[j].scales), w[j].d);
    }
}

static void unpack_row_q3_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,
                            float *mn) {
    (void)mn;
    const gg_block_q3_K *w = (const gg_block_q3_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m256i v[8];
        unpack_q3_K_256(&w[j], v);
        store8(q + 256 * j, v, 4);
        put_scales16(sc + 16 * j, q3scales(w[j].scales), w[j].d);
    }
}

static void unpack_row_q2_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,
                            float *mn) {
    const gg_block_q2_K *w = (const gg_block_q2_K *)row + k0 / GG_QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m256i v[8];
        unpack_2bit_256(w[j].qs, v);
        store8(q + 256 * j, v, 0);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[j].scales);
        put_scales16(sc + 16 * j, _mm_and_si128(raw, m4), w[j].d);
        put_scales16(mn + 16 * j, _mm_and_si128(_mm_srli_epi16(raw, 4), m4), w[j].dmin);
    }
}

/* ---- the panel ---- */

/* r[i] lane j <- r[j] lane i, for 8 vectors of 8 32-bit lanes. */
static inline void transpose8(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3 */
    for (int g = 0; g < 2; g++) {
        u[4 * g] = _mm256_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm256_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm256_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm256_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

/* dst[j][r] = src[r][j] for the 8 rows and j < n rounded up to 8 (the
 * caller zeroes src past n). */
static void transpose_cols(const float (*src)[MAX_SUB], int n, float (*dst)[GR]) {
    for (int j0 = 0; j0 < n; j0 += 8) {
        __m256i v[8];
        for (int r = 0; r < GR; r++) v[r] = _mm256_loadu_si256((const __m256i *)(src[r] + j0));
        transpose8(v);
        for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)dst[j0 + j], v[j]);
    }
}

typedef struct gdesc {
    int sb;   /* values per activation scale */
    int sub;  /* values per weight scale */
    bool mins;
    row_unpack_fn unpack;
    /* the register tile over nt <= TT tokens (see tile) */
    void (*micro)(int nt, const panel *p, int64_t m, const uint8_t *a, size_t stride,
                  ptrdiff_t ad_off, ptrdiff_t bs_off, float *out);
} gdesc;

static void build_panel(const gdesc *g, const gg_matrix *w, int64_t rb, int nr, int64_t k0,
                        int64_t m, rows_buf *rw, panel *p) {
    const int nsub = (int)(m / g->sub), nsub8 = (nsub + 7) & ~7;
    for (int r = 0; r < GR; r++) {
        if (r < nr) {
            g->unpack((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes, k0, m,
                      rw->q[r], rw->sc[r], rw->mn[r]);
        } else {
            /* lanes of no row: zeros, computed and never stored */
            memset(rw->q[r], 0, (size_t)m);
            memset(rw->sc[r], 0, sizeof(float) * (size_t)nsub);
            if (g->mins) memset(rw->mn[r], 0, sizeof(float) * (size_t)nsub);
        }
        for (int j = nsub; j < nsub8; j++) rw->sc[r][j] = rw->mn[r][j] = 0;
    }
    for (int64_t c = 0; c < m / 32; c++) {
        __m256i v[8];
        for (int r = 0; r < GR; r++) v[r] = _mm256_loadu_si256((const __m256i *)(rw->q[r] + 32 * c));
        transpose8(v);
        for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)p->q[8 * c + j], v[j]);
    }
    transpose_cols(rw->sc, nsub, p->sc);
    if (g->mins) transpose_cols(rw->mn, nsub, p->mn);
    /* 128 * (w0 + w1) fits an int16 for any int8 pair: vpmaddubsw is exact */
    const __m256i k128 = _mm256_set1_epi8((char)0x80), one = _mm256_set1_epi16(1);
    const int steps = g->sub / 4;
    for (int s = 0; s < nsub; s++) {
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < steps; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)p->q[s * steps + j]);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(k128, q), one));
        }
        _mm256_storeu_si256((__m256i *)p->corr[s], _mm256_sub_epi32(_mm256_setzero_si256(), acc));
    }
}

/* The next panel's bytes, on their way while this one computes. */
static void prefetch_panel(const gg_matrix *w, int64_t rb, int64_t r1, int64_t k0, int64_t m) {
    const gg_type_traits *ti = gg_type_info(w->type);
    size_t b0 = (size_t)(k0 / ti->block_size) * ti->type_size;
    size_t b1 = (size_t)((k0 + m) / ti->block_size) * ti->type_size;
    for (int64_t r = rb; r < GG_MIN(rb + GR, r1); r++) {
        const char *row = (const char *)w->data + (size_t)r * w->row_bytes;
        for (size_t o = b0; o < b1; o += 64) _mm_prefetch(row + o, _MM_HINT_T0);
    }
}

static inline __m256i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* acc + the sums of four u8 x s8 products per lane. */
ALWAYS_INLINE __m256i dot_maddubs(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s),
                                                   _mm256_set1_epi16(1)));
}
#ifdef GG_HAVE_AVXVNNI
AVXVNNI_TARGET ALWAYS_INLINE __m256i dot_vnni(__m256i acc, __m256i u, __m256i s) {
    return _mm256_dpbusd_avx_epi32(acc, u, s);
}
#endif

/* The register tile, instantiated per dot instruction (a function target
 * must be on every function that inlines the instruction, hence a macro):
 * out[t] = the segment's sums for token t, whose values are at
 * a + t * stride and whose block scales and sub-block sums at ad_off and
 * bs_off bytes from there. */
#define TILE(name, ATTR, DOT)                                                            \
    ATTR ALWAYS_INLINE void name(int SB, int S, int MINS, int NT, const panel *p, int64_t m, \
                                 const uint8_t *a, size_t stride, ptrdiff_t ad_off,      \
                                 ptrdiff_t bs_off, float *out) {                         \
        const int nsb = SB / S, steps = S / 4;                                           \
        const uint8_t *at[TT];                                                           \
        for (int t = 0; t < NT; t++) at[t] = a + (size_t)t * stride;                     \
        for (int t = 0; t < NT; t++) _mm256_storeu_ps(out + 8 * t, _mm256_setzero_ps()); \
        for (int64_t b = 0; b < m / SB; b++) {                                           \
            __m256 f[TT];                                                                \
            for (int s = 0; s < nsb; s++) {                                              \
                const int64_t si = b * nsb + s;                                          \
                __m256i acc[TT];                                                         \
                const __m256i corr = _mm256_loadu_si256((const __m256i *)p->corr[si]);   \
                for (int t = 0; t < NT; t++) acc[t] = corr;                              \
                for (int j = 0; j < steps; j++) {                                        \
                    const __m256i wv = _mm256_loadu_si256((const __m256i *)p->q[si * steps + j]); \
                    for (int t = 0; t < NT; t++)                                         \
                        acc[t] = DOT(acc[t], bcast4(at[t] + si * S + 4 * j), wv);        \
                }                                                                        \
                const __m256 sc = _mm256_loadu_ps(p->sc[si]);                            \
                for (int t = 0; t < NT; t++) {                                           \
                    __m256 x = _mm256_cvtepi32_ps(acc[t]);                               \
                    f[t] = s == 0 ? _mm256_mul_ps(x, sc) : _mm256_fmadd_ps(x, sc, f[t]); \
                }                                                                        \
                if (MINS) {                                                              \
                    const __m256 mn = _mm256_loadu_ps(p->mn[si]);                        \
                    for (int t = 0; t < NT; t++) {                                       \
                        const float *bs = (const float *)(const void *)(at[t] + bs_off); \
                        f[t] = _mm256_fnmadd_ps(mn, _mm256_set1_ps(bs[si]), f[t]);       \
                    }                                                                    \
                }                                                                        \
            }                                                                            \
            for (int t = 0; t < NT; t++) {                                               \
                const float *ad = (const float *)(const void *)(at[t] + ad_off);         \
                _mm256_storeu_ps(out + 8 * t, _mm256_fmadd_ps(f[t], _mm256_set1_ps(ad[b]), \
                                                              _mm256_loadu_ps(out + 8 * t))); \
            }                                                                            \
        }                                                                                \
    }

TILE(tile_maddubs, , dot_maddubs)
#ifdef GG_HAVE_AVXVNNI
TILE(tile_vnni, AVXVNNI_TARGET, dot_vnni)
#endif

static void gemm_run(const gdesc *g, const gg_matrix *w, const void *act, size_t stride,
                     int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    /* 32-byte aligned by hand: the stack of a mingw thread is not. */
    unsigned char pmem[sizeof(panel) + 32], rmem[sizeof(rows_buf) + 32];
    panel *p = (panel *)(void *)(pmem + (32 - (uintptr_t)pmem % 32) % 32);
    rows_buf *rw = (rows_buf *)(void *)(rmem + (32 - (uintptr_t)rmem % 32) % 32);
    const int64_t n = w->cols;
    const size_t ad_off = (size_t)n;
    const size_t bs_off = ad_off + 4 * (size_t)(n / g->sb) + (g->sub == 32 ? 4 * (size_t)(n / 16) : 0);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t rb = r0; rb < r1; rb += GR) {
        const int nr = (int)GG_MIN(GR, r1 - rb);
        const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), iota);
        for (int64_t k0 = 0; k0 < n; k0 += SEG) {
            const int64_t m = GG_MIN(SEG, n - k0);
            build_panel(g, w, rb, nr, k0, m, rw, p);
            if (k0 + SEG < n) prefetch_panel(w, rb, r1, k0 + SEG, GG_MIN(SEG, n - k0 - SEG));
            else if (rb + GR < r1) prefetch_panel(w, rb + GR, r1, 0, GG_MIN(SEG, n));
            for (int t0 = 0; t0 < n_tok; t0 += TT) {
                const int nt = GG_MIN(TT, n_tok - t0);
                const uint8_t *a = (const uint8_t *)act + (size_t)t0 * stride + k0;
                float out[TT * 8];
                g->micro(nt, p, m, a, stride, (ptrdiff_t)(ad_off - (size_t)k0 + 4 * (size_t)(k0 / g->sb)),
                         (ptrdiff_t)(bs_off - (size_t)k0 + 4 * (size_t)(k0 / g->sub)), out);
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (int64_t)(t0 + t) * ldy + rb;
                    __m256 v = _mm256_loadu_ps(out + 8 * t);
                    if (k0 > 0) v = _mm256_add_ps(_mm256_maskload_ps(yt, keep), v);
                    _mm256_maskstore_ps(yt, keep, v);
                }
            }
        }
    }
}

/* One product per weight type and instruction: the tile made constant in
 * its shape by a switch on the token count. */
#define GEMM(name, ATTR, tilefn, SB, S, MINS, unpack_fn)                                 \
    ATTR static void name##_micro(int nt, const panel *p, int64_t m, const uint8_t *a,   \
                                  size_t st, ptrdiff_t ado, ptrdiff_t bso, float *out) { \
        switch (nt) {                                                                    \
        case 4: tilefn(SB, S, MINS, 4, p, m, a, st, ado, bso, out); break;               \
        case 3: tilefn(SB, S, MINS, 3, p, m, a, st, ado, bso, out); break;               \
        case 2: tilefn(SB, S, MINS, 2, p, m, a, st, ado, bso, out); break;               \
        default: tilefn(SB, S, MINS, 1, p, m, a, st, ado, bso, out); break;              \
        }                                                                                \
    }                                                                                    \
    static void name(const gg_matrix *w, const void *act, size_t stride, int n_tok,      \
                     float *y, int64_t ldy, int64_t r0, int64_t r1) {                    \
        static const gdesc g = {SB, S, MINS, unpack_fn, name##_micro};                   \
        gemm_run(&g, w, act, stride, n_tok, y, ldy, r0, r1);                             \
    }

/* Every type, for one instruction (Q8_0 apart: see the top). */
#define GEMM_TYPES(sfx, ATTR, tilefn)                                                    \
    GEMM(gemm_q4_0_##sfx, ATTR, tilefn, 32, 32, 0, unpack_row_q4_0)                      \
    GEMM(gemm_q5_0_##sfx, ATTR, tilefn, 32, 32, 0, unpack_row_q5_0)                      \
    GEMM(gemm_q2_K_##sfx, ATTR, tilefn, 256, 16, 1, unpack_row_q2_K)                     \
    GEMM(gemm_q3_K_##sfx, ATTR, tilefn, 256, 16, 0, unpack_row_q3_K)                     \
    GEMM(gemm_q4_K_##sfx, ATTR, tilefn, 256, 32, 1, unpack_row_q4_K)                     \
    GEMM(gemm_q5_K_##sfx, ATTR, tilefn, 256, 32, 1, unpack_row_q5_K)                     \
    GEMM(gemm_q6_K_##sfx, ATTR, tilefn, 256, 16, 0, unpack_row_q6_K)

GEMM_TYPES(maddubs, , tile_maddubs)
#ifdef GG_HAVE_AVXVNNI
GEMM_TYPES(vnni, AVXVNNI_TARGET, tile_vnni)
GEMM(gemm_q8_0_vnni, AVXVNNI_TARGET, tile_vnni, 32, 32, 0, unpack_row_q8_0)
#endif

/* ---- activations ---- */

#define QSEG 2048 /* values quantized per call of the quantizer */

static void pack_q8_0_act(const float *x, void *dst, int64_t n) {
    uint8_t *qs = dst;
    float *ad = (float *)(void *)(qs + n);
    gg_block_q8_0 tmp[QSEG / 32];
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i0 = 0; i0 < n; i0 += QSEG) {
        int64_t m = GG_MIN(QSEG, n - i0);
        gg_quantize_act(GG_TYPE_Q8_0, x + i0, tmp, m);
        for (int64_t b = 0; b < m / 32; b++) {
            _mm256_storeu_si256((__m256i *)(qs + i0 + 32 * b),
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)tmp[b].qs), flip));
            ad[i0 / 32 + b] = half(tmp[b].d);
        }
    }
}

static void pack_q8_K_act(const float *x, void *dst, int64_t n) {
    uint8_t *qs = dst;
    float *ad = (float *)(void *)(qs + n), *bs16 = ad + n / 256, *bs32 = bs16 + n / 16;
    gg_block_q8_K tmp[QSEG / GG_QK_K];
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i0 = 0; i0 < n; i0 += QSEG) {
        int64_t m = GG_MIN(QSEG, n - i0);
        gg_quantize_act(GG_TYPE_Q8_K, x + i0, tmp, m);
        for (int64_t b = 0; b < m / GG_QK_K; b++) {
            int64_t i = i0 + GG_QK_K * b;
            for (int c = 0; c < 8; c++)
                _mm256_storeu_si256((__m256i *)(qs + i + 32 * c),
                                    _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(tmp[b].qs + 32 * c)), flip));
            ad[i / 256] = tmp[b].d;
            for (int j = 0; j < 16; j++) bs16[i / 16 + j] = (float)tmp[b].bsums[j];
            for (int j = 0; j < 8; j++)
                bs32[i / 32 + j] = (float)(tmp[b].bsums[2 * j] + tmp[b].bsums[2 * j + 1]);
        }
    }
}

bool gg_gemm_avxvnni_compiled(void) {
#ifdef GG_HAVE_AVXVNNI
    return true;
#else
    return false;
#endif
}

void gg_gemm_fill_avx2(gg_kernel_table *t, bool vnni) {
    t->gemm_act_bytes = gemm_q8_act_bytes;
    t->gemm_pack[GG_TYPE_Q8_0] = pack_q8_0_act;
    t->gemm_pack[GG_TYPE_Q8_K] = pack_q8_K_act;
#define SET(sfx)                                 \
    (t->gemm[GG_TYPE_Q4_0] = gemm_q4_0_##sfx,    \
     t->gemm[GG_TYPE_Q5_0] = gemm_q5_0_##sfx,    \
     t->gemm[GG_TYPE_Q2_K] = gemm_q2_K_##sfx,    \
     t->gemm[GG_TYPE_Q3_K] = gemm_q3_K_##sfx,    \
     t->gemm[GG_TYPE_Q4_K] = gemm_q4_K_##sfx,    \
     t->gemm[GG_TYPE_Q5_K] = gemm_q5_K_##sfx,    \
     t->gemm[GG_TYPE_Q6_K] = gemm_q6_K_##sfx)
#ifdef GG_HAVE_AVXVNNI
    if (vnni) {
        SET(vnni);
        t->gemm[GG_TYPE_Q8_0] = gemm_q8_0_vnni;
        return;
    }
#else
    (void)vnni;
#endif
    SET(maddubs);
#undef SET
}
