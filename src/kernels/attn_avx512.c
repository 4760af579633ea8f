/*
 * attn_avx512.c - blocked attention with AVX-512 (see gg_attn_block): up
 * to GG_ATTN_Q_MAX (256) queries of a head go through each block of 16
 * keys together, 16 queries a register tile, with single precision or
 * bfloat16 products; plus the element-wise rows (rounding through
 * half precision, SwiGLU, the GELU table) and the vectorized exp they
 * share. Agrees with the scalar gg_attn_row_ref within float rounding, and
 * a query's result with its result alone bit for bit (tested).
 */
#include "kernels_internal.h"
#include "simd_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <string.h>

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

/* ---- blocked attention ----
 *
 * Lanes are queries: a tile holds 16 queries of the call, their rows
 * transposed (qt[c][lane]) and their running sums of values likewise
 * (acc[c][lane]), so that a block of 16 keys is 16 accumulators of
 * scores built by multiply-adds of a query column with a broadcast key
 * element, and the values go in by multiply-adds of a value element
 * broadcast with the 16 queries' weights: no horizontal sums anywhere,
 * and the running maximum, sum and rescaling are plain lane-wise
 * operations. Every operation on a lane is masked by whether that key is
 * in that query's range, so a lane takes the same steps whichever other
 * queries share its tile or call: its result is its own, bit for bit.
 *
 * A call goes through the keys once for all its queries (up to
 * GG_ATTN_Q_MAX, 16 tiles): each block of keys and values is read from
 * memory once and used by every tile while it is in L1 (the tiles' sums
 * stay in L2). At 8,192 keys a head's keys and values are 4 MB, all
 * heads' more than L3, so what a block costs depends on how many tiles
 * share its trip from memory: a block of 16 x 16 in bfloat16 took ~15%
 * less time with 128 queries a call than with 64, and ~9% less again
 * with 256 (bench_attn_kernel, nomic-embed-text's heads at 8,192 keys).
 *
 * The bfloat16 kernel takes the same tiles, blocks and online softmax,
 * with the two products in vdpbf16ps (two bfloat16 products a lane per
 * instruction, summed in single precision, twice the multiply-adds of
 * vfmadd231ps): scores from query and key rows rounded to bfloat16
 * (pairs of head dimensions), weighted values from weights and values
 * rounded to bfloat16 (pairs of keys). A key outside a lane's range has
 * weight 0 there, so it adds nothing. */

typedef struct attn_tile {
    float *qt, *acc;  /* [d][16] */
    uint32_t *qp;     /* [d / 2][16] pairs of dimensions of qt in bfloat16 (bfloat16 kernel) */
    __m512 m, l;      /* running maximum and sum of weights */
    __m512i lo, hi;   /* each lane's key range */
    __m512 pos;       /* each lane's position (ALiBi) */
    int jlo, jhi;     /* the union of the lanes' ranges */
} attn_tile;

/* A call's scratch (gg_attn_scratch_floats(d) floats), in this order. */
typedef struct attn_scratch {
    float *qt, *acc; /* GG_ATTN_Q_MAX x d each, a tile 16 x d of it */
    float *kb, *vb;  /* a block of keys and one of values copied: 16 x d each */
    float *pt;       /* the block's weights of a tile: 16 x 16 */
    uint32_t *qp;    /* bfloat16 kernel: query pairs, GG_ATTN_Q_MAX / 2 x d */
    uint16_t *kh;    /* a block's keys in bfloat16: 16 x d */
    uint32_t *vp;    /* a block's values in pairs of keys: 8 x d */
    uint32_t *pp;    /* a tile's block weights in pairs of keys: 8 x 16 */
} attn_scratch;

static inline attn_scratch scratch_carve(float *sc, int d) {
    attn_scratch s;
    s.qt = sc;
    s.acc = s.qt + (size_t)GG_ATTN_Q_MAX * d;
    s.kb = s.acc + (size_t)GG_ATTN_Q_MAX * d;
    s.vb = s.kb + GG_ATTN_KEYS * d;
    s.pt = s.vb + GG_ATTN_KEYS * d;
    s.qp = (uint32_t *)(s.pt + 16 * 16);
    s.kh = (uint16_t *)(s.qp + GG_ATTN_Q_MAX / 2 * d);
    s.vp = (uint32_t *)(s.kh + GG_ATTN_KEYS * d);
    s.pp = s.vp + GG_ATTN_KEYS / 2 * d;
    return s;
}

/* 32 floats (lo: 16, hi: the next 16) to 32 bfloat16 in order. */
static inline __m512i bf16_row(__m512 lo, __m512 hi) {
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* The words of two 16-float vectors a, b as pairs (a[i], b[i]) in
 * 32-bit lane i, rounded to bfloat16. */
static inline __m512i bf16_pairs(__m512 a, __m512 b) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, bf16_row(a, b));
}

static inline __m512 bcast32(const void *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return _mm512_castsi512_ps(_mm512_set1_epi32(x));
}

/* Scores s[j] (q.k of key j0 + j, j < nj) of tile t to weights
 * exp(scale s + bias - m) in s, 0 in the lanes outside key j's range
 * (valid[j]: the lanes inside it), m being each lane's running maximum,
 * moved to the block's maximum in the lanes where that is larger.
 * Returns those lanes: what they summed shrinks by *alpha, done here for
 * their sum of weights and left to the caller for their sums of values
 * (rescale). Past the first blocks most tiles have no such lane, and
 * skip both. */
ALWAYS_INLINE __mmask16 block_weights(const gg_attn_block_args *a, attn_tile *t, __m512 *s, int j0,
                                      int nj, __mmask16 *valid, __m512 *alpha) {
    const __m512 scale = _mm512_set1_ps(a->scale), slope = _mm512_set1_ps(a->alibi_slope);
    const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
    __m512 bm = t->m;
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const __m512i jv = _mm512_set1_epi32(j0 + j);
        valid[j] = j < nj ? _mm512_cmp_epi32_mask(t->lo, jv, _MM_CMPINT_LE) &
                                _mm512_cmp_epi32_mask(jv, t->hi, _MM_CMPINT_LT)
                          : 0;
        __m512 x = _mm512_mul_ps(s[j], scale);
        if (a->alibi_slope != 0.0f) { /* slope * -|pos - j| */
            const __m512 dist = _mm512_abs_ps(_mm512_sub_ps(t->pos, _mm512_set1_ps((float)(j0 + j))));
            x = _mm512_add_ps(x, _mm512_mul_ps(slope, _mm512_sub_ps(_mm512_setzero_ps(), dist)));
        }
        s[j] = _mm512_mask_mov_ps(neg_inf, valid[j], x);
        bm = _mm512_max_ps(bm, s[j]);
    }
    const __mmask16 up = _mm512_cmp_ps_mask(bm, t->m, _CMP_GT_OQ);
    *alpha = _mm512_setzero_ps();
    if (up) {
        *alpha = exp_neg(_mm512_sub_ps(t->m, bm));
        t->l = _mm512_mask_mul_ps(t->l, up, t->l, *alpha);
        t->m = _mm512_mask_mov_ps(t->m, up, bm);
    }
    for (int j = 0; j < GG_ATTN_KEYS; j++)
        s[j] = _mm512_maskz_mov_ps(valid[j], exp_neg(_mm512_sub_ps(s[j], t->m)));
    return up;
}

/* The lanes up of a tile's sums of values ([d][16]) times alpha. */
ALWAYS_INLINE void rescale(float *acc, const int d, __mmask16 up, __m512 alpha) {
    for (int c = 0; c < d; c++) {
        const __m512 x = _mm512_loadu_ps(acc + 16 * c);
        _mm512_storeu_ps(acc + 16 * c, _mm512_mask_mul_ps(x, up, x, alpha));
    }
}

/* nc (up to 16) running sums of values of a tile, acc[i][lane], plus the
 * weights pt[j][lane] of keys j < nj times their values vb[j * d + i],
 * each in the lanes of valid[j] only. */
ALWAYS_INLINE void add_values(float *acc, const float *vb, const float *pt, const int d,
                              const int nj, const int nc, const __mmask16 *valid) {
    __m512 o[16];
    for (int i = 0; i < nc; i++) o[i] = _mm512_loadu_ps(acc + 16 * i);
    for (int j = 0; j < nj; j++) {
        const __m512 p = _mm512_loadu_ps(pt + 16 * j);
        const __mmask16 m = valid[j];
        for (int i = 0; i < nc; i++)
            o[i] = _mm512_mask3_fmadd_ps(_mm512_set1_ps(vb[j * d + i]), p, o[i], m);
    }
    for (int i = 0; i < nc; i++) _mm512_storeu_ps(acc + 16 * i, o[i]);
}

/* add_values of a full block whose keys are all valid in every lane:
 * the same operations (a multiply-add masked by all lanes is the plain
 * one), with the value broadcast from memory into the multiply-add. */
ALWAYS_INLINE void add_values_full(float *acc, const float *vb, const float *pt, const int d) {
    __m512 o[16];
    for (int i = 0; i < 16; i++) o[i] = _mm512_loadu_ps(acc + 16 * i);
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const __m512 p = _mm512_loadu_ps(pt + 16 * j);
        for (int i = 0; i < 16; i++) o[i] = _mm512_fmadd_ps(_mm512_set1_ps(vb[j * d + i]), p, o[i]);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(acc + 16 * i, o[i]);
}

/* One block of keys [j0, j0 + nj) (kb, vb: their rows, d apart; rows
 * past nj zero) into tile t, in single precision; pt is scratch for the
 * 16 x 16 weights. */
ALWAYS_INLINE void tile_block(const gg_attn_block_args *a, attn_tile *t, const float *kb,
                              const float *vb, float *pt, int j0, int nj, const int d) {
    __m512 s[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = _mm512_setzero_ps();
    for (int c = 0; c < d; c++) {
        const __m512 qv = _mm512_loadu_ps(t->qt + 16 * c);
        for (int j = 0; j < GG_ATTN_KEYS; j++)
            s[j] = _mm512_fmadd_ps(qv, _mm512_set1_ps(kb[j * d + c]), s[j]);
    }
    __mmask16 valid[GG_ATTN_KEYS];
    __m512 alpha;
    const __mmask16 up = block_weights(a, t, s, j0, nj, valid, &alpha);
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        t->l = _mm512_mask_add_ps(t->l, valid[j], t->l, s[j]);
        _mm512_storeu_ps(pt + 16 * j, s[j]);
    }
    if (up) rescale(t->acc, d, up, alpha);
    __mmask16 all = 0xffff;
    for (int j = 0; j < GG_ATTN_KEYS; j++) all &= valid[j];
    if (all == 0xffff && d % 16 == 0) { /* every key for every lane: no masks */
        for (int c0 = 0; c0 < d; c0 += 16) add_values_full(t->acc + 16 * c0, vb + c0, pt, d);
    } else {
        for (int c0 = 0; c0 < d; c0 += 16)
            add_values(t->acc + 16 * c0, vb + c0, pt, d, nj, d - c0 < 16 ? d - c0 : 16, valid);
    }
}

/* One block of keys [j0, j0 + nj) into tile t with bfloat16 products:
 * s->kh the block's keys, s->vp its values in pairs of keys (block_bf16);
 * s->pp scratch for the 8 x 16 pairs of weights. d a multiple of 16. */
ALWAYS_INLINE void tile_block_bf(const gg_attn_block_args *a, attn_tile *t, const attn_scratch *sc,
                                 int j0, int nj, const int d) {
    __m512 s[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = _mm512_setzero_ps();
    for (int c = 0; c < d / 2; c++) {
        const __m512bh qv = (__m512bh)_mm512_loadu_si512(t->qp + 16 * c);
        for (int j = 0; j < GG_ATTN_KEYS; j++)
            s[j] = _mm512_dpbf16_ps(s[j], qv, (__m512bh)bcast32(sc->kh + j * d + 2 * c));
    }
    __mmask16 valid[GG_ATTN_KEYS];
    __m512 alpha;
    const __mmask16 up = block_weights(a, t, s, j0, nj, valid, &alpha);
    /* the sum of the weights as rounded (times bfloat16 ones): the values'
     * weighted average stays a true average */
    for (int j = 0; j < GG_ATTN_KEYS; j += 2) {
        const __m512i pr = bf16_pairs(s[j], s[j + 1]);
        _mm512_storeu_si512(sc->pp + 8 * j, pr);
        t->l = _mm512_dpbf16_ps(t->l, (__m512bh)pr, (__m512bh)_mm512_set1_epi16(0x3f80));
    }
    if (up) rescale(t->acc, d, up, alpha);
    for (int c0 = 0; c0 < d; c0 += 16) {
        float *acc = t->acc + 16 * c0;
        __m512 o[16];
        for (int i = 0; i < 16; i++) o[i] = _mm512_loadu_ps(acc + 16 * i);
        for (int jp = 0; jp < GG_ATTN_KEYS / 2; jp++) {
            const __m512bh pv = (__m512bh)_mm512_loadu_si512(sc->pp + 16 * jp);
            for (int i = 0; i < 16; i++)
                o[i] = _mm512_dpbf16_ps(o[i], (__m512bh)bcast32(sc->vp + jp * d + c0 + i), pv);
        }
        for (int i = 0; i < 16; i++) _mm512_storeu_ps(acc + 16 * i, o[i]);
    }
}

/* The tiles of the call's queries: rows transposed (and with bf16 their
 * pairs of dimensions in bfloat16), sums cleared. */
ALWAYS_INLINE int tiles_init(const gg_attn_block_args *a, attn_tile *t, const attn_scratch *s,
                             const int d, const bool bf16) {
    const int ntile = (a->nq + 15) / 16;
    for (int ti = 0; ti < ntile; ti++) {
        attn_tile *x = &t[ti];
        x->qt = s->qt + (size_t)ti * 16 * d;
        x->acc = s->acc + (size_t)ti * 16 * d;
        x->qp = s->qp + (size_t)ti * 8 * d;
        int lo[16], hi[16];
        float pos[16];
        x->jlo = INT_MAX, x->jhi = 0;
        for (int lane = 0; lane < 16; lane++) {
            const int g = ti * 16 + lane;
            lo[lane] = g < a->nq ? a->lo[g] : 0;
            hi[lane] = g < a->nq ? a->hi[g] : 0; /* empty: never valid */
            pos[lane] = (float)(a->pos0 + g);
            if (g < a->nq) {
                x->jlo = lo[lane] < x->jlo ? lo[lane] : x->jlo;
                x->jhi = hi[lane] > x->jhi ? hi[lane] : x->jhi;
            }
            const float *q = a->q + (size_t)g * a->ld_q;
            for (int c = 0; c < d; c++) x->qt[16 * c + lane] = g < a->nq ? q[c] : 0.0f;
        }
        for (int c = 0; c < d; c++) _mm512_storeu_ps(x->acc + 16 * c, _mm512_setzero_ps());
        if (bf16)
            for (int c = 0; c < d; c += 2)
                _mm512_storeu_si512(x->qp + 8 * c, bf16_pairs(_mm512_loadu_ps(x->qt + 16 * c),
                                                              _mm512_loadu_ps(x->qt + 16 * (c + 1))));
        x->lo = _mm512_loadu_si512(lo);
        x->hi = _mm512_loadu_si512(hi);
        x->pos = _mm512_loadu_ps(pos);
        x->m = _mm512_set1_ps(-INFINITY);
        x->l = _mm512_setzero_ps();
    }
    return ntile;
}

/* The rows of keys and values of block [j0, j0 + nj): where they lie
 * when rows are d apart and the block is whole, else copied into s->kb,
 * s->vb with zero rows after nj, so that nothing past the last key is
 * read. */
ALWAYS_INLINE void block_rows(const gg_attn_block_args *a, const attn_scratch *s, int j0, int nj,
                              const int d, const float **kj, const float **vj) {
    if (a->ld_k == (size_t)d && a->ld_v == (size_t)d && nj == GG_ATTN_KEYS) {
        *kj = a->k + (size_t)j0 * d;
        *vj = a->v + (size_t)j0 * d;
        return;
    }
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        if (j < nj) {
            memcpy(s->kb + j * d, a->k + (size_t)(j0 + j) * a->ld_k, sizeof(float) * (size_t)d);
            memcpy(s->vb + j * d, a->v + (size_t)(j0 + j) * a->ld_v, sizeof(float) * (size_t)d);
        } else { /* weight 0 times a value 0 */
            memset(s->kb + j * d, 0, sizeof(float) * (size_t)d);
            memset(s->vb + j * d, 0, sizeof(float) * (size_t)d);
        }
    }
    *kj = s->kb;
    *vj = s->vb;
}

/* A block's keys rounded to bfloat16 (s->kh: rows of d) and its values
 * in bfloat16 pairs of keys (s->vp: 8 rows of d pairs), for all tiles. */
ALWAYS_INLINE void block_bf16(const attn_scratch *s, const float *kj, const float *vj, const int d) {
    for (int j = 0; j < GG_ATTN_KEYS; j++)
        for (int c = 0; c < d; c += 32)
            _mm512_storeu_si512(s->kh + j * d + c,
                                bf16_row(_mm512_loadu_ps(kj + j * d + c), _mm512_loadu_ps(kj + j * d + c + 16)));
    for (int j = 0; j < GG_ATTN_KEYS; j += 2)
        for (int c = 0; c < d; c += 16)
            _mm512_storeu_si512(s->vp + j / 2 * d + c,
                                bf16_pairs(_mm512_loadu_ps(vj + j * d + c), _mm512_loadu_ps(vj + (j + 1) * d + c)));
}

/* The call: each block of keys, aligned to key 0 whatever the queries'
 * ranges, through every tile whose lanes' ranges it meets; then each
 * query's sum of values over its sum of weights. bf16: the bfloat16
 * kernel (d a multiple of 16). */
ALWAYS_INLINE void attn_blocks(const gg_attn_block_args *a, const int d, const bool bf16) {
    const attn_scratch s = scratch_carve(a->scratch, d);
    attn_tile t[GG_ATTN_Q_MAX / 16];
    const int ntile = tiles_init(a, t, &s, d, bf16);
    int jlo = INT_MAX, jhi = 0;
    for (int ti = 0; ti < ntile; ti++) {
        jlo = t[ti].jlo < jlo ? t[ti].jlo : jlo;
        jhi = t[ti].jhi > jhi ? t[ti].jhi : jhi;
    }
    for (int j0 = jlo - jlo % GG_ATTN_KEYS; j0 < jhi; j0 += GG_ATTN_KEYS) {
        const int nj = jhi - j0 < GG_ATTN_KEYS ? jhi - j0 : GG_ATTN_KEYS;
        /* the next block's rows on their way while this one is worked on */
        for (int j = j0 + GG_ATTN_KEYS; j < j0 + 2 * GG_ATTN_KEYS && j < jhi; j++)
            for (int c = 0; c < d; c += 16) {
                _mm_prefetch((const char *)(a->k + (size_t)j * a->ld_k + c), _MM_HINT_T0);
                _mm_prefetch((const char *)(a->v + (size_t)j * a->ld_v + c), _MM_HINT_T0);
            }
        const float *kj, *vj;
        block_rows(a, &s, j0, nj, d, &kj, &vj);
        if (bf16) block_bf16(&s, kj, vj, d);
        for (int ti = 0; ti < ntile; ti++) {
            if (j0 >= t[ti].jhi || j0 + GG_ATTN_KEYS <= t[ti].jlo) continue;
            if (bf16) tile_block_bf(a, &t[ti], &s, j0, nj, d);
            else tile_block(a, &t[ti], kj, vj, s.pt, j0, nj, d);
        }
    }
    for (int ti = 0; ti < ntile; ti++) {
        float inv[16];
        _mm512_storeu_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), t[ti].l));
        for (int lane = 0; lane < 16 && ti * 16 + lane < a->nq; lane++) {
            float *out = a->out + (size_t)(ti * 16 + lane) * a->ld_out;
            for (int c = 0; c < d; c++) out[c] = t[ti].acc[16 * c + lane] * inv[lane];
        }
    }
}

/* The head width a constant for the common widths: the loops over a head
 * unroll and the addresses of a block's rows become immediate offsets.
 * The operations and their order are the same either way. */
static void attn_block(const gg_attn_block_args *a) {
    switch (a->d) {
    case 64: attn_blocks(a, 64, false); break;
    case 128: attn_blocks(a, 128, false); break;
    default: attn_blocks(a, a->d, false); break;
    }
}

/* Heads 64 and 128 wide (gg_attn_bf16); others in single precision. */
static void attn_block_bf(const gg_attn_block_args *a) {
    switch (a->d) {
    case 64: attn_blocks(a, 64, true); break;
    case 128: attn_blocks(a, 128, true); break;
    default: attn_block(a); break;
    }
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

void gg_attn_fill_avx512(gg_kernel_table *t, bool ext) {
    t->gelu_table_row = gelu_table_row;
    t->attn_block = attn_block;
    t->attn_block_bf16 = ext && gg_cpu_get()->avx512bf16 ? attn_block_bf : NULL;
    t->round_half = round_half;
    t->swiglu = swiglu;
}
