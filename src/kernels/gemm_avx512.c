/*
 * gemm_avx512.c - the packed matrix products (gg_gemm_rows) on AVX-512:
 * quantized weights times int8 activations with VNNI, and F16 weights.
 *
 * Quantized weights. Sixteen weight rows at a time are unpacked, one
 * segment of SEG values, into a panel in L1 that every token of the call
 * then reads: one row per 32-bit lane, 4 consecutive values per lane, so
 * that vpdpbusd of a panel vector with a token's 4 values broadcast to
 * every lane adds to each row's own sum. The panel holds per weight
 * sub-block (the values sharing one scale: 16 or 32) its int8 vectors,
 * the rows' float scales, float mins (types with mins) and -128 * the sum
 * of each row's values there (an activation is packed as its int8 value
 * + 128, unsigned, as vpdpbusd wants; starting a sub-block's sum from that
 * correction takes the 128 back out). A register tile of up to TT tokens
 * by 16 rows then does, per sub-block,
 *     isum = corr + sum of S/4 vpdpbusd           (exact in int32)
 *     f = f + float(isum) * scale [- min * bsum]
 * and per activation block (256 values for Q8_K, 32 for Q8_0)
 *     tot = tot + f * d_act,
 * so 8 of every 11 vector instructions are vpdpbusd for 32-value
 * sub-blocks (4 of 6 for 16). Each row and token is one lane going
 * through the same instructions whatever the tile, the batch or the row
 * range: a token's results do not depend on which others share the call.
 *
 * Activations: packed as gemm_x86.h lays them out (n bytes of value + 128,
 * then the float d of each block, then for Q8_K the sums of each 16 and
 * each 32 values as floats, for the mins), by gemm_avx2.c's packers.
 */
#include "kernels_internal.h"
#include "unpack_avx512.h"
#include "gemm_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <string.h>

#define GR 16                 /* weight rows per panel: one per lane */
#define SEG 1024              /* values per panel, a multiple of 256 */
#define MAX_SUB (SEG / 16)    /* sub-blocks per panel, at most */
#define TT 8                  /* tokens per register tile */

typedef struct panel {
    int8_t q[SEG / 4][64]; /* vector j: values 4j..4j+3 of each of 16 rows */
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

#define UNPACK_K45(name, wtype, qh_of)                                                   \
    static void name(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,       \
                     float *mn) {                                                        \
        const wtype *w = (const wtype *)row + k0 / GG_QK_K;                              \
        for (int64_t j = 0; j < m / GG_QK_K; j++) {                                      \
            if (q) {                                                                     \
                __m512i v[4];                                                            \
                unpack_k45(w[j].qs, qh_of, v);                                           \
                for (int c = 0; c < 4; c++) _mm512_storeu_si512(q + 256 * j + 64 * c, v[c]); \
            }                                                                            \
            if (sc) k45_scales(w[j].scales, w[j].d, w[j].dmin, sc + 8 * j, mn + 8 * j);  \
        }                                                                                \
    }
UNPACK_K45(unpack_row_q4_K, gg_block_q4_K, NULL)
UNPACK_K45(unpack_row_q5_K, gg_block_q5_K, w[j].qh)

/* 16 signed bytes of scale times d, to 16 floats. */
static inline void put_scales16(float *dst, __m128i s8, gg_half d) {
    _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)),
                                        _mm512_set1_ps(half(d))));
}

static void unpack_row_q6_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,
                            float *mn) {
    (void)mn;
    const gg_block_q6_K *w = (const gg_block_q6_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m512i v[4], scv[4];
        unpack_q6_K(&w[j], v, scv);
        for (int c = 0; c < 4; c++)
            _mm512_storeu_si512(q + 256 * j + 64 * c, _mm512_sub_epi8(v[c], _mm512_set1_epi8(32)));
        put_scales16(sc + 16 * j, _mm_loadu_si128((const __m128i *)w[j].scales), w[j].d);
    }
}

static void unpack_row_q3_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,
                            float *mn) {
    (void)mn;
    const gg_block_q3_K *w = (const gg_block_q3_K *)row + k0 / GG_QK_K;
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m512i v[4];
        unpack_q3_K(&w[j], v);
        for (int c = 0; c < 4; c++)
            _mm512_storeu_si512(q + 256 * j + 64 * c, _mm512_sub_epi8(v[c], _mm512_set1_epi8(4)));
        put_scales16(sc + 16 * j, q3scales(w[j].scales), w[j].d);
    }
}

static void unpack_row_q2_K(const void *row, int64_t k0, int64_t m, int8_t *q, float *sc,
                            float *mn) {
    const gg_block_q2_K *w = (const gg_block_q2_K *)row + k0 / GG_QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int64_t j = 0; j < m / GG_QK_K; j++) {
        __m512i v[4];
        unpack_2bit(w[j].qs, v);
        for (int c = 0; c < 4; c++) _mm512_storeu_si512(q + 256 * j + 64 * c, v[c]);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[j].scales);
        put_scales16(sc + 16 * j, _mm_and_si128(raw, m4), w[j].d);
        put_scales16(mn + 16 * j, _mm_and_si128(_mm_srli_epi16(raw, 4), m4), w[j].dmin);
    }
}

/* ---- the panel ---- */

/* r[i] lane j <- r[j] lane i, for 16 vectors of 16 32-bit lanes. */
static inline void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3 */
    __m512i u[16];
    for (int g = 0; g < 4; g++) {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i lo01 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);
        __m512i hi01 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
        __m512i lo23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
        __m512i hi23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(lo01, lo23, 0xdd);
        r[4 + c] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(hi01, hi23, 0xdd);
    }
}

/* dst[j][lane r] = src + r * src_stride, element j, for j < n (32-bit
 * elements; n <= MAX_SUB). */
static void transpose_cols(const void *src, size_t src_stride, int n, void *dst) {
    for (int j0 = 0; j0 < n; j0 += 16) {
        __m512i v[16];
        for (int r = 0; r < GR; r++)
            v[r] = _mm512_loadu_si512((const char *)src + r * src_stride + 4 * (size_t)j0);
        transpose16(v);
        for (int j = 0; j < 16 && j0 + j < n; j++)
            _mm512_storeu_si512((char *)dst + 64 * (size_t)(j0 + j), v[j]);
    }
}

typedef struct gdesc {
    int sb;   /* values per activation scale */
    int sub;  /* values per weight scale */
    bool mins;
    row_unpack_fn unpack;
    /* optional: the panel's values straight from the rows' packed bytes,
     * unpack then being asked for scales only (q == NULL) */
    void (*panel_q)(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p);
    /* optional: the panel's scales and mins likewise (unpack given NULL) */
    void (*panel_sc)(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m, panel *p);
    /* the register tile over nt <= TT tokens (see tile) */
    void (*micro)(int nt, const panel *p, int64_t m, const uint8_t *a, size_t stride,
                  ptrdiff_t ad_off, ptrdiff_t bs_off, float *out);
} gdesc;

/* Q4_K values straight from 16 rows' packed bytes (no row-major copy):
 * the 64 bytes of chunks 2h and 2h+1 of a super-block (32 bytes each;
 * byte l holds value l of the chunk in its low nibble and value 32 + l in
 * its high one) transposed as 16 dwords give, for dword d < 8 of a chunk,
 * the panel vector of values 4d..4d+3 (low nibbles) and of 32+4d..
 * (high nibbles). */
static void panel_q_q4_K(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m,
                         panel *p) {
    const gg_block_q4_K *rows[GR];
    for (int r = 0; r < GR; r++)
        rows[r] = r < nr ? (const gg_block_q4_K *)(const void *)((const uint8_t *)w->data +
                                                                 (size_t)(rb + r) * w->row_bytes) +
                               k0 / GG_QK_K
                         : NULL;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int64_t b = 0; b < m / GG_QK_K; b++)
        for (int h = 0; h < 2; h++) {
            __m512i v[16];
            for (int r = 0; r < GR; r++)
                v[r] = rows[r] ? _mm512_loadu_si512(rows[r][b].qs + 64 * h) : _mm512_setzero_si512();
            transpose16(v);
            for (int cc = 0; cc < 2; cc++) {
                int8_t(*q)[64] = p->q + 16 * (4 * b + 2 * h + cc);
                for (int d = 0; d < 8; d++) {
                    const __m512i x = v[8 * cc + d];
                    _mm512_storeu_si512(q[d], _mm512_and_si512(x, m4));
                    _mm512_storeu_si512(q[8 + d], _mm512_and_si512(_mm512_srli_epi16(x, 4), m4));
                }
            }
        }
}

/* Q4_K/Q5_K scales and mins of 16 rows at once: the first 16 bytes of a
 * super-block (d, dmin, then the 12 bytes kscales reads) gathered as four
 * dwords per row, one row per lane, and the 6-bit fields cut out there. */
static void panel_sc_k45(const gg_matrix *w, int64_t rb, int nr, int64_t k0, int64_t m,
                         panel *p) {
    const size_t bb = gg_type_info(w->type)->type_size;
    const __mmask16 live = (__mmask16)((1u << nr) - 1);
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i idx = _mm512_mullo_epi32(iota, _mm512_set1_epi32((int)w->row_bytes));
    const __m512i lo6 = _mm512_set1_epi32(63), lo4 = _mm512_set1_epi32(15), top2 = _mm512_set1_epi32(0x30);
    const uint8_t *base = (const uint8_t *)w->data + (size_t)rb * w->row_bytes + (size_t)(k0 / GG_QK_K) * bb;
    for (int64_t b = 0; b < m / GG_QK_K; b++) {
        const uint8_t *blk = base + (size_t)b * bb;
        const __m512i z = _mm512_setzero_si512();
        __m512i dd = _mm512_mask_i32gather_epi32(z, live, idx, blk, 1);
        __m512i u0 = _mm512_mask_i32gather_epi32(z, live, idx, blk + 4, 1);
        __m512i u1 = _mm512_mask_i32gather_epi32(z, live, idx, blk + 8, 1);
        __m512i u2 = _mm512_mask_i32gather_epi32(z, live, idx, blk + 12, 1);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
        __m512 dm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
        for (int j = 0; j < 4; j++) {
            __m512i s0 = _mm512_and_si512(_mm512_srli_epi32(u0, 8 * j), lo6);
            __m512i m0 = _mm512_and_si512(_mm512_srli_epi32(u1, 8 * j), lo6);
            __m512i s1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 8 * j), lo4),
                                         _mm512_and_si512(_mm512_srli_epi32(u0, 8 * j + 2), top2));
            __m512i m1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 8 * j + 4), lo4),
                                         _mm512_and_si512(_mm512_srli_epi32(u1, 8 * j + 2), top2));
            _mm512_storeu_ps(p->sc[8 * b + j], _mm512_mul_ps(_mm512_cvtepi32_ps(s0), d));
            _mm512_storeu_ps(p->mn[8 * b + j], _mm512_mul_ps(_mm512_cvtepi32_ps(m0), dm));
            _mm512_storeu_ps(p->sc[8 * b + 4 + j], _mm512_mul_ps(_mm512_cvtepi32_ps(s1), d));
            _mm512_storeu_ps(p->mn[8 * b + 4 + j], _mm512_mul_ps(_mm512_cvtepi32_ps(m1), dm));
        }
    }
}

static void build_panel(const gdesc *g, const gg_matrix *w, int64_t rb, int nr, int64_t k0,
                        int64_t m, rows_buf *rw, panel *p) {
    const int nsub = (int)(m / g->sub), nsub16 = (nsub + 15) & ~15;
    for (int r = 0; r < GR && !(g->panel_q && g->panel_sc); r++) {
        if (r < nr) {
            g->unpack((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes, k0, m,
                      g->panel_q ? NULL : rw->q[r], g->panel_sc ? NULL : rw->sc[r],
                      g->panel_sc ? NULL : rw->mn[r]);
        } else {
            /* lanes of no row: zeros, computed and never stored */
            if (!g->panel_q) memset(rw->q[r], 0, (size_t)m);
            memset(rw->sc[r], 0, sizeof(float) * (size_t)nsub);
            memset(rw->mn[r], 0, sizeof(float) * (size_t)nsub);
        }
        for (int s = nsub; s < nsub16; s++) rw->sc[r][s] = rw->mn[r][s] = 0;
    }
    if (g->panel_q) g->panel_q(w, rb, nr, k0, m, p);
    for (int64_t c = 0; !g->panel_q && c < m / 64; c++) {
        __m512i v[16];
        for (int r = 0; r < GR; r++) v[r] = _mm512_loadu_si512(rw->q[r] + 64 * c);
        transpose16(v);
        for (int j = 0; j < 16; j++) _mm512_storeu_si512(p->q[16 * c + j], v[j]);
    }
    if (g->panel_sc) {
        g->panel_sc(w, rb, nr, k0, m, p);
    } else {
        transpose_cols(rw->sc, sizeof rw->sc[0], nsub, p->sc);
        if (g->mins) transpose_cols(rw->mn, sizeof rw->mn[0], nsub, p->mn);
    }
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    const int steps = g->sub / 4;
    for (int s = 0; s < nsub; s++) {
        __m512i acc = _mm512_setzero_si512();
        for (int j = 0; j < steps; j++)
            acc = _mm512_dpbusd_epi32(acc, k128, _mm512_loadu_si512(p->q[s * steps + j]));
        _mm512_storeu_si512(p->corr[s], _mm512_sub_epi32(_mm512_setzero_si512(), acc));
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

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* out[t] = the segment's sums for token t, whose values are at
 * a + t * stride and whose block scales and sub-block sums at ad_off and
 * bs_off bytes from there. One base pointer (not one per token) leaves the
 * general registers to the addresses the loop needs. With several
 * sub-blocks per activation block, each block's sum f goes to out[] in
 * memory, so that the registers hold only the int32 sums and f. */
ALWAYS_INLINE void tile(int SB, int S, int MINS, int NT, const panel *p, int64_t m,
                        const uint8_t *a, size_t stride, ptrdiff_t ad_off, ptrdiff_t bs_off,
                        float *out) {
    const int nsb = SB / S, steps = S / 4;
    const uint8_t *at[TT];
    for (int t = 0; t < NT; t++) at[t] = a + (size_t)t * stride;
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(out + 16 * t, _mm512_setzero_ps());
    for (int64_t b = 0; b < m / SB; b++) {
        __m512 f[TT];
        for (int s = 0; s < nsb; s++) {
            const int64_t si = b * nsb + s;
            __m512i acc[TT];
            const __m512i corr = _mm512_loadu_si512(p->corr[si]);
            for (int t = 0; t < NT; t++) acc[t] = corr;
            for (int j = 0; j < steps; j++) {
                const __m512i wv = _mm512_loadu_si512(p->q[si * steps + j]);
                for (int t = 0; t < NT; t++)
                    acc[t] = _mm512_dpbusd_epi32(acc[t], bcast4(at[t] + si * S + 4 * j), wv);
            }
            const __m512 sc = _mm512_loadu_ps(p->sc[si]);
            for (int t = 0; t < NT; t++) {
                __m512 x = _mm512_cvtepi32_ps(acc[t]);
                f[t] = s == 0 ? _mm512_mul_ps(x, sc) : _mm512_fmadd_ps(x, sc, f[t]);
            }
            if (MINS) {
                const __m512 mn = _mm512_loadu_ps(p->mn[si]);
                for (int t = 0; t < NT; t++) {
                    const float *bs = (const float *)(const void *)(at[t] + bs_off);
                    f[t] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(bs[si]), f[t]);
                }
            }
        }
        for (int t = 0; t < NT; t++) {
            const float *ad = (const float *)(const void *)(at[t] + ad_off);
            _mm512_storeu_ps(out + 16 * t, _mm512_fmadd_ps(f[t], _mm512_set1_ps(ad[b]),
                                                           _mm512_loadu_ps(out + 16 * t)));
        }
    }
}

static void gemm_run(const gdesc *g, const gg_matrix *w, const void *act, size_t stride,
                     int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    /* 64-byte aligned by hand: the stack of a mingw thread is not. */
    unsigned char pmem[sizeof(panel) + 64], rmem[sizeof(rows_buf) + 64];
    panel *p = (panel *)(void *)(pmem + (64 - (uintptr_t)pmem % 64) % 64);
    rows_buf *rw = (rows_buf *)(void *)(rmem + (64 - (uintptr_t)rmem % 64) % 64);
    const int64_t n = w->cols;
    const size_t ad_off = (size_t)n;
    const size_t bs_off = ad_off + 4 * (size_t)(n / g->sb) + (g->sub == 32 ? 4 * (size_t)(n / 16) : 0);
    for (int64_t rb = r0; rb < r1; rb += GR) {
        const int nr = (int)GG_MIN(GR, r1 - rb);
        const __mmask16 keep = (__mmask16)((1u << nr) - 1);
        for (int64_t k0 = 0; k0 < n; k0 += SEG) {
            const int64_t m = GG_MIN(SEG, n - k0);
            build_panel(g, w, rb, nr, k0, m, rw, p);
            if (k0 + SEG < n) prefetch_panel(w, rb, r1, k0 + SEG, GG_MIN(SEG, n - k0 - SEG));
            else if (rb + GR < r1) prefetch_panel(w, rb + GR, r1, 0, GG_MIN(SEG, n));
            for (int t0 = 0; t0 < n_tok; t0 += TT) {
                const int nt = GG_MIN(TT, n_tok - t0);
                const uint8_t *a = (const uint8_t *)act + (size_t)t0 * stride + k0;
                float out[TT * 16]; /* not __m512[]: mingw does not align the stack */
                g->micro(nt, p, m, a, stride, (ptrdiff_t)(ad_off - (size_t)k0 + 4 * (size_t)(k0 / g->sb)),
                         (ptrdiff_t)(bs_off - (size_t)k0 + 4 * (size_t)(k0 / g->sub)), out);
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (int64_t)(t0 + t) * ldy + rb;
                    __m512 v = _mm512_loadu_ps(out + 16 * t);
                    if (k0 > 0) v = _mm512_add_ps(_mm512_maskz_loadu_ps(keep, yt), v);
                    _mm512_mask_storeu_ps(yt, keep, v);
                }
            }
        }
    }
}

#define GEMM(name, SB, S, MINS, unpack_fn, panel_q, panel_sc)                            \
    static void name##_micro(int nt, const panel *p, int64_t m, const uint8_t *a, size_t st, \
                             ptrdiff_t ado, ptrdiff_t bso, float *out) {                 \
        switch (nt) {                                                                    \
        case 8: tile(SB, S, MINS, 8, p, m, a, st, ado, bso, out); break;                 \
        case 7: tile(SB, S, MINS, 7, p, m, a, st, ado, bso, out); break;                 \
        case 6: tile(SB, S, MINS, 6, p, m, a, st, ado, bso, out); break;                 \
        case 5: tile(SB, S, MINS, 5, p, m, a, st, ado, bso, out); break;                 \
        case 4: tile(SB, S, MINS, 4, p, m, a, st, ado, bso, out); break;                 \
        case 3: tile(SB, S, MINS, 3, p, m, a, st, ado, bso, out); break;                 \
        case 2: tile(SB, S, MINS, 2, p, m, a, st, ado, bso, out); break;                 \
        default: tile(SB, S, MINS, 1, p, m, a, st, ado, bso, out); break;                \
        }                                                                                \
    }                                                                                    \
    static void name(const gg_matrix *w, const void *act, size_t stride, int n_tok,      \
                     float *y, int64_t ldy, int64_t r0, int64_t r1) {                    \
        static const gdesc g = {SB, S, MINS, unpack_fn, panel_q, panel_sc, name##_micro}; \
        gemm_run(&g, w, act, stride, n_tok, y, ldy, r0, r1);                             \
    }
GEMM(gemm_q8_0, 32, 32, 0, unpack_row_q8_0, NULL, NULL)
GEMM(gemm_q4_0, 32, 32, 0, unpack_row_q4_0, NULL, NULL)
GEMM(gemm_q5_0, 32, 32, 0, unpack_row_q5_0, NULL, NULL)
GEMM(gemm_q2_K, 256, 16, 1, unpack_row_q2_K, NULL, NULL)
GEMM(gemm_q3_K, 256, 16, 0, unpack_row_q3_K, NULL, NULL)
GEMM(gemm_q4_K, 256, 32, 1, unpack_row_q4_K, panel_q_q4_K, panel_sc_k45)
GEMM(gemm_q5_K, 256, 32, 1, unpack_row_q5_K, NULL, panel_sc_k45)
GEMM(gemm_q6_K, 256, 16, 0, unpack_row_q6_K, NULL, NULL)

/* ---- activations ----
 * Packed by gemm_avx2.c's packers (the AVX2 table, which this level's
 * starts from), in the layout of gemm_x86.h. */

/* ---- F16 ---- */

#define F_SEG 2048 /* values per weight segment */
#define F_TR 4     /* weight rows per tile */
#define F_TT 4     /* tokens per tile */

static void prefetch_tile(const gg_matrix *w, int64_t r0, int64_t r1, int64_t k0, int64_t m) {
    size_t b0 = (size_t)k0 * 2, b1 = (size_t)(k0 + m) * 2;
    for (int64_t r = r0; r < r1; r++) {
        const char *row = (const char *)w->data + (size_t)r * w->row_bytes;
        for (size_t o = b0; o < b1; o += 64) _mm_prefetch(row + o, _MM_HINT_T0);
    }
}

/* F16: weights widened to floats per tile of rows, activations kept as
 * the F16 row gg_quantize_act makes (widened as they are loaded, once
 * for the 4 rows of a tile); one FMA per row, token and 16 values. */
typedef struct fbuf {
    float w[F_TR][F_SEG];
} fbuf;

static void pack_f16_act(const float *x, void *dst, int64_t n) {
    gg_quantize_act(GG_TYPE_F16, x, dst, n);
}

ALWAYS_INLINE void micro_f16(int NR, int NT, int64_t m, const fbuf *b, const gg_half *const *a,
                             float out[F_TR][F_TT]) {
    __m512 acc[F_TR][F_TT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < m; i += 16) {
        __m512 w[F_TR];
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
                          float out[F_TR][F_TT]) {
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
    for (int64_t rb = r0; rb < r1; rb += F_TR) {
        int nr = (int)GG_MIN(F_TR, r1 - rb);
        for (int64_t k0 = 0; k0 < n; k0 += F_SEG) {
            int64_t m = GG_MIN(F_SEG, n - k0);
            for (int r = 0; r < nr; r++) {
                const gg_half *row =
                    (const gg_half *)((const uint8_t *)w->data + (size_t)(rb + r) * w->row_bytes) + k0;
                for (int64_t i = 0; i < m; i += 16)
                    _mm512_storeu_ps(buf.w[r] + i,
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i))));
            }
            prefetch_tile(w, rb + F_TR, GG_MIN(rb + 2 * F_TR, r1), k0, m);
            for (int t0 = 0; t0 < n_tok; t0 += F_TT) {
                int nt = GG_MIN(F_TT, n_tok - t0);
                const gg_half *a[F_TT];
                float out[F_TR][F_TT];
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

static size_t gemm_act_bytes(gg_type vdt, int64_t n) {
    if (vdt == GG_TYPE_F16) return (size_t)n * 2;
    return gemm_q8_act_bytes(vdt, n);
}

void gg_gemm_fill_avx512(gg_kernel_table *t, bool ext) {
    t->gemm_act_bytes = gemm_act_bytes;
    t->gemm_pack[GG_TYPE_F16] = pack_f16_act;
    t->gemm[GG_TYPE_F16] = gemm_f16;
    if (!ext || !gg_cpu_get()->avx512vnni) return;
    t->gemm[GG_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[GG_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[GG_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[GG_TYPE_Q2_K] = gemm_q2_K;
    t->gemm[GG_TYPE_Q3_K] = gemm_q3_K;
    t->gemm[GG_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[GG_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[GG_TYPE_Q6_K] = gemm_q6_K;
}
