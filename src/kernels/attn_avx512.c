/*
 * attn_avx512.c - one query row of attention with AVX-512: scores of 16
 * keys at a time (each a dot product over the head, the 16 sums reduced
 * together by a transpose-add tree), a vectorized exp, and the weighted
 * sum of the values as broadcast-multiply-adds. Agrees with the scalar
 * gg_attn_row_ref within float rounding (tested); attn_rows, several
 * queries sharing each block of keys, with attn_row exactly (tested).
 */
#include "kernels_internal.h"
#include "simd_x86.h"

#include <immintrin.h>
#include <math.h>

/* exp(x) for x <= 0 (and not NaN): 2^n * p(r), r = x - n ln2 in
 * [-ln2/2, ln2/2], p of degree 6; about 1 ulp. */
static inline __m512 exp_neg(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* Lane j of the result: the sum of the lanes of a[j]. */
static inline __m512 sum16(__m512 a[16]) {
    __m512 c[8], d[4], e[2];
    for (int k = 0; k < 8; k++)
        c[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]),
                             _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
    for (int k = 0; k < 4; k++) {
        __m512d x = _mm512_castps_pd(c[2 * k]), y = _mm512_castps_pd(c[2 * k + 1]);
        d[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int k = 0; k < 2; k++)
        e[k] = _mm512_add_ps(_mm512_shuffle_f32x4(d[2 * k], d[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(d[2 * k], d[2 * k + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(e[0], e[1], 0x88),
                         _mm512_shuffle_f32x4(e[0], e[1], 0xdd));
}

/* The query's vectors (zero past d). */
ALWAYS_INLINE void load_q(const float *q, int d, int nv, __m512 qv[16]) {
    for (int c = 0; c < nv; c++) {
        __mmask16 m = d - 16 * c >= 16 ? 0xffff : (__mmask16)((1u << (d - 16 * c)) - 1);
        qv[c] = _mm512_maskz_loadu_ps(m, q + 16 * c);
    }
}

/* Scores of keys [j0, j0 + 16) below n into scores[], and the running
 * maximum of the lanes updated. */
ALWAYS_INLINE __m512 score_block(const __m512 *qv, int nv, __mmask16 tail, const float *k,
                                 size_t ld_k, int j0, int n, float scale, const float *bias,
                                 float *scores, __m512 vmax) {
    int nj = n - j0 < 16 ? n - j0 : 16;
    __m512 acc[16];
    for (int j = 0; j < 16; j++) {
        acc[j] = _mm512_setzero_ps();
        if (j >= nj) continue;
        const float *kr = k + (size_t)(j0 + j) * ld_k;
        for (int c = 0; c < nv; c++) {
            __mmask16 m = c == nv - 1 ? tail : 0xffff;
            acc[j] = _mm512_fmadd_ps(qv[c], _mm512_maskz_loadu_ps(m, kr + 16 * c), acc[j]);
        }
    }
    __mmask16 jm = nj == 16 ? 0xffff : (__mmask16)((1u << nj) - 1);
    __m512 s = _mm512_mul_ps(sum16(acc), _mm512_set1_ps(scale));
    if (bias) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(jm, bias + j0));
    _mm512_mask_storeu_ps(scores + j0, jm, s);
    return _mm512_mask_max_ps(vmax, jm, vmax, s);
}

/* scores[j] = exp(scores[j] - max) for j < n; returns 1 / their sum. */
ALWAYS_INLINE float exp_scores(float *scores, int n, __m512 vmax) {
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int j0 = 0; j0 < n; j0 += 16) {
        int nj = n - j0 < 16 ? n - j0 : 16;
        __mmask16 jm = nj == 16 ? 0xffff : (__mmask16)((1u << nj) - 1);
        __m512 e = exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(jm, scores + j0), mx));
        e = _mm512_maskz_mov_ps(jm, e);
        _mm512_mask_storeu_ps(scores + j0, jm, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(vsum);
}

/* o += scores[j] * v_j for j in [j0, j1), in order. */
ALWAYS_INLINE void add_values(__m512 *o, int nv, __mmask16 tail, const float *v, size_t ld_v,
                              const float *scores, int j0, int j1) {
    for (int j = j0; j < j1; j++) {
        const float *vr = v + (size_t)j * ld_v;
        __m512 p = _mm512_set1_ps(scores[j]);
        for (int c = 0; c < nv; c++) {
            __mmask16 m = c == nv - 1 ? tail : 0xffff;
            o[c] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m, vr + 16 * c), o[c]);
        }
    }
}

/* add_values for K queries at once, their sums parked in ob[k]: each
 * query's sums take the same steps in the same order, but K independent
 * chains of multiply-adds keep the FMA units busy where one chain waits
 * on each add's latency, and each row of values is loaded once for K. */
ALWAYS_INLINE void add_values_sums(const int K, int nv, __mmask16 tail, const float *v,
                                   size_t ld_v, const float *const *sc, float *const *ob, int j0,
                                   int j1) {
    __m512 o[4][16];
    for (int k = 0; k < K; k++)
        for (int c = 0; c < nv; c++) o[k][c] = _mm512_loadu_ps(ob[k] + 16 * c);
    for (int j = j0; j < j1; j++) {
        const float *vr = v + (size_t)j * ld_v;
        __m512 p[4];
        for (int k = 0; k < K; k++) p[k] = _mm512_set1_ps(sc[k][j]);
        for (int c = 0; c < nv; c++) {
            __mmask16 m = c == nv - 1 ? tail : 0xffff;
            const __m512 vv = _mm512_maskz_loadu_ps(m, vr + 16 * c);
            for (int k = 0; k < K; k++) o[k][c] = _mm512_fmadd_ps(p[k], vv, o[k][c]);
        }
    }
    for (int k = 0; k < K; k++)
        for (int c = 0; c < nv; c++) _mm512_storeu_ps(ob[k] + 16 * c, o[k][c]);
}

ALWAYS_INLINE void store_out(float *out, const __m512 *o, int nv, __mmask16 tail, float inv) {
    for (int c = 0; c < nv; c++) {
        __mmask16 m = c == nv - 1 ? tail : 0xffff;
        _mm512_mask_storeu_ps(out + 16 * c, m, _mm512_mul_ps(o[c], _mm512_set1_ps(inv)));
    }
}

/* The kernels below take nv = d / 16 rounded up as an argument that the
 * callers make a constant for the common head widths (64, 128): with a
 * constant the loops over a head unroll and the query, the 16 sums and the
 * output stay in registers, where with a variable nv the compiler keeps
 * them in memory and each multiply-add waits for a store (10x slower).
 * The operations and their order are the same either way. */
#define BY_HEAD_WIDTH(nv, call) \
    switch (nv) {               \
    case 4: call(4); break;     \
    case 8: call(8); break;     \
    default: call(nv); break;   \
    }

ALWAYS_INLINE void attn_row_nv(const float *q, const float *k, size_t ld_k, const float *v,
                               size_t ld_v, int n, int d, float scale, const float *bias,
                               float *scores, float *out, const int nv) {
    __m512 qv[16]; /* heads up to 256 wide; wider ones take the reference */
    load_q(q, d, nv, qv);
    const __mmask16 tail = (d % 16) ? (__mmask16)((1u << (d % 16)) - 1) : 0xffff;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int j0 = 0; j0 < n; j0 += 16)
        vmax = score_block(qv, nv, tail, k, ld_k, j0, n, scale, bias, scores, vmax);
    const float inv = exp_scores(scores, n, vmax);
    __m512 o[16];
    for (int c = 0; c < nv; c++) o[c] = _mm512_setzero_ps();
    add_values(o, nv, tail, v, ld_v, scores, 0, n);
    store_out(out, o, nv, tail, inv);
}

static void attn_row(const float *q, const float *k, size_t ld_k, const float *v, size_t ld_v,
                     int n, int d, float scale, const float *bias, float *scores, float *out) {
#define ROW(NV) attn_row_nv(q, k, ld_k, v, ld_v, n, d, scale, bias, scores, out, NV)
    BY_HEAD_WIDTH((d + 15) / 16, ROW)
#undef ROW
}

static void attn_row_any(const float *q, const float *k, size_t ld_k, const float *v, size_t ld_v,
                         int n, int d, float scale, const float *bias, float *scores, float *out) {
    if (d > 256) gg_attn_row_ref(q, k, ld_k, v, ld_v, n, d, scale, bias, scores, out);
    else attn_row(q, k, ld_k, v, ld_v, n, d, scale, bias, scores, out);
}

/* Several queries over the same keys and values, block by block of 16
 * keys: a block read from memory once serves every query from L1, where
 * attn_row per query would stream all keys and values through the caches
 * once per query (at 8k tokens, megabytes per head). Each query goes
 * through attn_row's operations in attn_row's order (its sums of values
 * parked in obuf between blocks), so its result is attn_row's bit for bit
 * whatever the other queries. */
ALWAYS_INLINE void attn_rows_nv(const gg_attn_rows_args *a, const int nv) {
    const int nq = a->nq, d = a->d;
    const __mmask16 tail = (d % 16) ? (__mmask16)((1u << (d % 16)) - 1) : 0xffff;
    int nmax = 0;
    __m512 vmax[GG_ATTN_ROWS_MAX];
    for (int g = 0; g < nq; g++) {
        nmax = a->n[g] > nmax ? a->n[g] : nmax;
        vmax[g] = _mm512_set1_ps(-INFINITY);
    }
    for (int j0 = 0; j0 < nmax; j0 += 16)
        for (int g = 0; g < nq; g++) {
            if (j0 >= a->n[g]) continue;
            __m512 qv[16];
            load_q(a->q[g], d, nv, qv);
            vmax[g] = score_block(qv, nv, tail, a->k, a->ld_k, j0, a->n[g], a->scale,
                                  a->bias ? a->bias[g] : NULL, a->scores + (size_t)g * a->ld_scores,
                                  vmax[g]);
        }
    float inv[GG_ATTN_ROWS_MAX];
    for (int g = 0; g < nq; g++) inv[g] = exp_scores(a->scores + (size_t)g * a->ld_scores, a->n[g], vmax[g]);
    float obuf[GG_ATTN_ROWS_MAX][256];
    for (int g = 0; g < nq; g++)
        for (int c = 0; c < nv; c++) _mm512_storeu_ps(obuf[g] + 16 * c, _mm512_setzero_ps());
    /* queries whose sums fit in registers together: up to 64 floats of
     * sums each, 16 vectors in all */
    const int together = nv <= 4 ? 4 : nv <= 8 ? 2 : 1;
    for (int j0 = 0; j0 < nmax; j0 += 16)
        for (int g = 0; g < nq;) {
            if (j0 >= a->n[g]) {
                g++;
                continue;
            }
            const int j1 = j0 + 16 < a->n[g] ? j0 + 16 : a->n[g];
            int nk = 1;
            while (nk < together && g + nk < nq && j0 < a->n[g + nk] &&
                   (j0 + 16 < a->n[g + nk] ? j0 + 16 : a->n[g + nk]) == j1)
                nk++;
            const float *sc[4];
            float *ob[4];
            for (int k = 0; k < nk; k++) {
                sc[k] = a->scores + (size_t)(g + k) * a->ld_scores;
                ob[k] = obuf[g + k];
            }
#define VALUES(K) add_values_sums(K, nv, tail, a->v, a->ld_v, sc, ob, j0, j1)
            switch (nk) {
            case 4: VALUES(4); break;
            case 3: VALUES(3); break;
            case 2: VALUES(2); break;
            default: VALUES(1); break;
            }
#undef VALUES
            g += nk;
        }
    for (int g = 0; g < nq; g++) {
        __m512 o[16];
        for (int c = 0; c < nv; c++) o[c] = _mm512_loadu_ps(obuf[g] + 16 * c);
        store_out(a->out[g], o, nv, tail, inv[g]);
    }
}

static void attn_rows(const gg_attn_rows_args *a) {
    if (a->d > 256 || a->nq > GG_ATTN_ROWS_MAX) {
        for (int g = 0; g < a->nq; g++)
            attn_row_any(a->q[g], a->k, a->ld_k, a->v, a->ld_v, a->n[g], a->d, a->scale,
                         a->bias ? a->bias[g] : NULL, a->scores + (size_t)g * a->ld_scores, a->out[g]);
        return;
    }
#define ROWS(NV) attn_rows_nv(a, NV)
    BY_HEAD_WIDTH((a->d + 15) / 16, ROWS)
#undef ROWS
}

/* ---- element-wise rows ---- */

/* Rounds through half precision (vcvtps2ph rounds to nearest even, as
 * gg_float_to_half does). */
static void round_half(float *x, int64_t n) {
    int64_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        v = _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}

/* g = g / (1 + exp(-g)) * u; exp(-g) of large g saturates to inf and the
 * quotient to -0, as expf gives. */
static void swiglu(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        /* exp(-|x|), inverted where x < 0 */
        __m512 e = exp_neg(_mm512_min_ps(x, _mm512_sub_ps(_mm512_setzero_ps(), x)));
        __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 ex = _mm512_mask_div_ps(e, neg, _mm512_set1_ps(1.0f), e);
        __m512 r = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), ex));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(r, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* GELU through a table of 65536 halves indexed by the input rounded to
 * half: lanes in (-10, 10) gather their entry, lanes at or below -10
 * become 0, lanes at or above 10 stay. Only in-range lanes read the
 * table, and their indices stay below 0xffff, so the 4-byte gather reads
 * inside it. */
static void gelu_table_row(float *x, int64_t n, const gg_half *table) {
    const __m512 lo = _mm512_set1_ps(-10.0f), hi = _mm512_set1_ps(10.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __mmask16 in = _mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, hi, _CMP_LT_OQ);
        __mmask16 low = _mm512_cmp_ps_mask(v, lo, _CMP_LE_OQ);
        __m512i idx = _mm512_cvtepu16_epi32(
            _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), in, idx, table, 2);
        __m512 gv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
        __m512 r = _mm512_mask_mov_ps(v, in, gv);
        r = _mm512_mask_mov_ps(r, low, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(x + i, m, r);
    }
}

void gg_attn_fill_avx512(gg_kernel_table *t) {
    t->gelu_table_row = gelu_table_row;
    t->attn_row = attn_row_any;
    t->attn_rows = attn_rows;
    t->round_half = round_half;
    t->swiglu = swiglu;
}
