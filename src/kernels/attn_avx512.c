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
 * The packed forms take the same tiles, blocks and online softmax, with
 * keys and values packed once per layer (gg_attn_pack, below) rather
 * than converted block by block for each call. BF16: the two products
 * in vdpbf16ps (two bfloat16 products a lane per instruction, summed in
 * single precision, twice the multiply-adds of vfmadd231ps): scores
 * from query and key rows rounded to bfloat16 (pairs of head
 * dimensions), weighted values from weights and values rounded to
 * bfloat16 (pairs of keys). I8: the scores in vpdpbusd (four int8
 * products a lane per instruction, twice vdpbf16ps's) from the query
 * and key rows in int8 steps, exact integer sums scaled by both steps;
 * the values as BF16. A key outside a lane's range has weight 0 there,
 * so it adds nothing. */

typedef struct attn_tile {
    float *qt, *acc;  /* [d][16] */
    uint32_t *qp;     /* BF16: [d / 2][16] pairs of dimensions of qt in bfloat16;
                         I8: [d / 4][16] fours of dimensions in int8 */
    __m512 qs;        /* what a lane's scores are multiplied by: the scale (I8: times its row's step) */
    __m512i q0;       /* I8: where a lane's integer scores start, -128 x the sum of its int8 row */
    __m512 m, l;      /* running maximum and sum of weights */
    __m512i lo, hi;   /* each lane's key range */
    __m512 pos;       /* each lane's position (ALiBi) */
    int jlo, jhi;     /* the union of the lanes' ranges */
    int klo, khi;     /* their intersection (empty unless all 16 lanes are queries) */
} attn_tile;

/* A call's scratch (gg_attn_scratch_floats(d) floats), in this order. */
typedef struct attn_scratch {
    float *qt, *acc; /* GG_ATTN_Q_MAX x d each, a tile 16 x d of it */
    float *kb, *vb;  /* a block of keys and one of values copied: 16 x d each */
    float *pt;       /* the block's weights of a tile: 16 x 16 */
    uint32_t *qp;    /* the packed forms' queries: GG_ATTN_Q_MAX / 2 x d */
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
    s.pp = s.qp + GG_ATTN_Q_MAX / 2 * d;
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

static inline __m512i bcast32(const void *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return _mm512_set1_epi32(x);
}

/* ---- the packed forms (gg_attn_pack) ----
 *
 * Whole blocks of GG_ATTN_KEYS keys, the last padded with zero keys and
 * values, so that a block is always read in place. Values (both forms):
 * pairs of keys, block b at v + b x 8 d pairs: pair row p holds
 * (v[2p][c], v[2p+1][c]) in bfloat16 for each c. Keys: BF16, rows of d
 * bfloat16 (block b at k + b x 16 d of them); I8, block b at byte
 * b x (64 + 16 d) of k: the 16 keys' steps (floats), then their rows of
 * d bytes, each key less the mean of the sequence's keys rounded to
 * 127 steps of its largest magnitude, plus 128 (vpdpbusd's unsigned
 * operand; the queries, signed, start their sums at -128 x their sum to
 * make up for it). Each fits in the floats' space (n >= 16): the packed
 * block b ends before float row 16 (b + 1) starts, and is written only
 * once all of its own float rows are read. */
#define I8_BLOCK_BYTES(d) (64 + GG_ATTN_KEYS * (size_t)(d))

/* Values [0, n) (rows of d) into pairs of keys in place, zero past n up
 * to a whole block. Pair p is written over float row p < 2p, which is
 * read already; pair 0 over row 0, 16 floats at a time after reading them. */
static void attn_pack_values(float *v, int n, const int d) {
    uint32_t *vp = (uint32_t *)v;
    const int nb = (n + GG_ATTN_KEYS - 1) / GG_ATTN_KEYS, np = (n + 1) / 2;
    for (int p = 0; p < np; p++) {
        const float *a = v + (size_t)2 * p * d, *b = a + d;
        for (int c = 0; c < d; c += 16) {
            const __m512 x = _mm512_loadu_ps(a + c);
            const __m512 y = 2 * p + 1 < n ? _mm512_loadu_ps(b + c) : _mm512_setzero_ps();
            _mm512_storeu_si512(vp + (size_t)p * d + c, bf16_pairs(x, y));
        }
    }
    memset(vp + (size_t)np * d, 0, sizeof(uint32_t) * (size_t)d * (size_t)(nb * GG_ATTN_KEYS / 2 - np));
}

/* Keys into bfloat16 rows in place (row j over bytes [2jd, 2jd + 2d) of
 * float row j, 32 at a time after reading them), zero rows past n. */
static void attn_pack_keys_bf16(float *k, int n, const int d) {
    uint16_t *kh = (uint16_t *)k;
    const int nb = (n + GG_ATTN_KEYS - 1) / GG_ATTN_KEYS;
    for (int j = 0; j < n; j++)
        for (int c = 0; c < d; c += 32) {
            const __m512 lo = _mm512_loadu_ps(k + (size_t)j * d + c), hi = _mm512_loadu_ps(k + (size_t)j * d + c + 16);
            _mm512_storeu_si512(kh + (size_t)j * d + c, bf16_row(lo, hi));
        }
    memset(kh + (size_t)n * d, 0, sizeof(uint16_t) * (size_t)d * (size_t)(nb * GG_ATTN_KEYS - n));
}

/* The largest magnitude of 16-float vectors x[0 .. d / 16). */
static inline float amax_row(const __m512 *x, const int d) {
    __m512 m = _mm512_setzero_ps();
    for (int c = 0; c < d / 16; c++) m = _mm512_max_ps(m, _mm512_abs_ps(x[c]));
    return _mm512_reduce_max_ps(m);
}

/* Keys less their mean, in int8 steps, block by block in place (see the
 * packed forms above): each block's 16 rows are read into a block of
 * their own before it is written. */
static void attn_pack_keys_i8(float *k, int n, const int d) {
    __m512 mean[128 / 16], sum[128 / 16];
    for (int c = 0; c < d / 16; c++) sum[c] = _mm512_setzero_ps();
    for (int j = 0; j < n; j++)
        for (int c = 0; c < d / 16; c++) sum[c] = _mm512_add_ps(sum[c], _mm512_loadu_ps(k + (size_t)j * d + 16 * c));
    for (int c = 0; c < d / 16; c++) mean[c] = _mm512_div_ps(sum[c], _mm512_set1_ps((float)n));
    const int nb = (n + GG_ATTN_KEYS - 1) / GG_ATTN_KEYS;
    uint8_t block[64 + GG_ATTN_KEYS * 128];
    for (int b = 0; b < nb; b++) {
        float steps[GG_ATTN_KEYS];
        for (int r = 0; r < GG_ATTN_KEYS; r++) {
            const int j = b * GG_ATTN_KEYS + r;
            uint8_t *row = block + 64 + (size_t)r * d;
            if (j >= n) {
                steps[r] = 0.0f;
                memset(row, 128, (size_t)d);
                continue;
            }
            __m512 x[128 / 16];
            for (int c = 0; c < d / 16; c++) x[c] = _mm512_sub_ps(_mm512_loadu_ps(k + (size_t)j * d + 16 * c), mean[c]);
            const float amax = amax_row(x, d);
            steps[r] = amax / 127.0f;
            const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
            for (int c = 0; c < d / 16; c++) {
                const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(x[c], inv)); /* nearest, ties to even */
                _mm_storeu_si128((__m128i *)(row + 16 * c), _mm512_cvtepi32_epi8(_mm512_add_epi32(q, _mm512_set1_epi32(128))));
            }
        }
        memcpy(block, steps, sizeof steps);
        memcpy((uint8_t *)k + (size_t)b * I8_BLOCK_BYTES(d), block, I8_BLOCK_BYTES(d));
    }
}

static void attn_pack(gg_attn_form form, float *k, float *v, int n, int d) {
    if (form == GG_ATTN_I8) attn_pack_keys_i8(k, n, d);
    else attn_pack_keys_bf16(k, n, d);
    attn_pack_values(v, n, d);
}

/* Scores s[j] (q.k of key j0 + j, j < nj) of tile t to weights
 * exp(qs s + bias - m) in s, 0 in the lanes outside key j's range
 * (valid[j]: the lanes inside it), m being each lane's running maximum,
 * moved to the block's maximum in the lanes where that is larger.
 * Returns those lanes: what they summed shrinks by *alpha, done here for
 * their sum of weights and left to the caller for their sums of values
 * (rescale). Past the first blocks most tiles have no such lane, and
 * skip both. full: every key of the block is in every lane's range (the
 * masks all ones, and left out: the same results). */
ALWAYS_INLINE __mmask16 block_weights(const gg_attn_block_args *a, attn_tile *t, __m512 *s, int j0,
                                      int nj, __mmask16 *valid, __m512 *alpha, const bool full) {
    const __m512 slope = _mm512_set1_ps(a->alibi_slope);
    const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
    __m512 bm = t->m;
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const __m512i jv = _mm512_set1_epi32(j0 + j);
        valid[j] = full ? 0xffff
                   : j < nj ? _mm512_cmp_epi32_mask(t->lo, jv, _MM_CMPINT_LE) &
                                  _mm512_cmp_epi32_mask(jv, t->hi, _MM_CMPINT_LT)
                            : 0;
        __m512 x = _mm512_mul_ps(s[j], t->qs);
        if (a->alibi_slope != 0.0f) { /* slope * -|pos - j| */
            const __m512 dist = _mm512_abs_ps(_mm512_sub_ps(t->pos, _mm512_set1_ps((float)(j0 + j))));
            x = _mm512_add_ps(x, _mm512_mul_ps(slope, _mm512_sub_ps(_mm512_setzero_ps(), dist)));
        }
        s[j] = full ? x : _mm512_mask_mov_ps(neg_inf, valid[j], x);
        bm = _mm512_max_ps(bm, s[j]);
    }
    const __mmask16 up = _mm512_cmp_ps_mask(bm, t->m, _CMP_GT_OQ);
    *alpha = _mm512_setzero_ps();
    if (up) {
        *alpha = exp_neg(_mm512_sub_ps(t->m, bm));
        t->l = _mm512_mask_mul_ps(t->l, up, t->l, *alpha);
        t->m = _mm512_mask_mov_ps(t->m, up, bm);
    }
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const __m512 e = exp_neg(_mm512_sub_ps(s[j], t->m));
        s[j] = full ? e : _mm512_maskz_mov_ps(valid[j], e);
    }
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
                              const float *vb, float *pt, int j0, int nj, const int d, const bool full) {
    __m512 s[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = _mm512_setzero_ps();
    for (int c = 0; c < d; c++) {
        const __m512 qv = _mm512_loadu_ps(t->qt + 16 * c);
        for (int j = 0; j < GG_ATTN_KEYS; j++)
            s[j] = _mm512_fmadd_ps(qv, _mm512_set1_ps(kb[j * d + c]), s[j]);
    }
    __mmask16 valid[GG_ATTN_KEYS];
    __m512 alpha;
    const __mmask16 up = block_weights(a, t, s, j0, nj, valid, &alpha, full);
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

/* The packed forms' second half for tile t and a block of keys
 * [j0, j0 + nj) with scores s: weights, then the values (vp: the
 * block's pairs) in with vdpbf16ps; pp is scratch for the 8 x 16 pairs
 * of weights. */
ALWAYS_INLINE void weights_values_bf(const gg_attn_block_args *a, attn_tile *t, __m512 *s,
                                     const uint32_t *vp, uint32_t *pp, int j0, int nj, const int d,
                                     const bool full) {
    __mmask16 valid[GG_ATTN_KEYS];
    __m512 alpha;
    const __mmask16 up = block_weights(a, t, s, j0, nj, valid, &alpha, full);
    /* the sum of the weights as rounded (times bfloat16 ones): the values'
     * weighted average stays a true average */
    for (int j = 0; j < GG_ATTN_KEYS; j += 2) {
        const __m512i pr = bf16_pairs(s[j], s[j + 1]);
        _mm512_storeu_si512(pp + 8 * j, pr);
        t->l = _mm512_dpbf16_ps(t->l, (__m512bh)pr, (__m512bh)_mm512_set1_epi16(0x3f80));
    }
    if (up) rescale(t->acc, d, up, alpha);
    for (int c0 = 0; c0 < d; c0 += 16) {
        float *acc = t->acc + 16 * c0;
        __m512 o[16];
        for (int i = 0; i < 16; i++) o[i] = _mm512_loadu_ps(acc + 16 * i);
        for (int jp = 0; jp < GG_ATTN_KEYS / 2; jp++) {
            const __m512bh pv = (__m512bh)_mm512_loadu_si512(pp + 16 * jp);
            for (int i = 0; i < 16; i++)
                o[i] = _mm512_dpbf16_ps(o[i], (__m512bh)bcast32(vp + jp * d + c0 + i), pv);
        }
        for (int i = 0; i < 16; i++) _mm512_storeu_ps(acc + 16 * i, o[i]);
    }
}

/* One block of keys [j0, j0 + nj) into tile t in form BF16: kh the
 * block's keys, vp its values. */
ALWAYS_INLINE void tile_block_bf(const gg_attn_block_args *a, attn_tile *t, const uint16_t *kh,
                                 const uint32_t *vp, uint32_t *pp, int j0, int nj, const int d,
                                 const bool full) {
    __m512 s[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = _mm512_setzero_ps();
    for (int c = 0; c < d / 2; c++) {
        const __m512bh qv = (__m512bh)_mm512_loadu_si512(t->qp + 16 * c);
        for (int j = 0; j < GG_ATTN_KEYS; j++)
            s[j] = _mm512_dpbf16_ps(s[j], qv, (__m512bh)bcast32(kh + j * d + 2 * c));
    }
    weights_values_bf(a, t, s, vp, pp, j0, nj, d, full);
}

/* One block of keys [j0, j0 + nj) into tile t in form I8: kb the
 * block's steps and rows, vp its values. The integer scores are exact;
 * each times its key's step (and, in block_weights, the query's). */
ALWAYS_INLINE void tile_block_i8(const gg_attn_block_args *a, attn_tile *t, const uint8_t *kb,
                                 const uint32_t *vp, uint32_t *pp, int j0, int nj, const int d,
                                 const bool full) {
    const uint8_t *rows = kb + 64;
    __m512i si[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) si[j] = t->q0;
    for (int c = 0; c < d / 4; c++) {
        const __m512i qv = _mm512_loadu_si512(t->qp + 16 * c);
        for (int j = 0; j < GG_ATTN_KEYS; j++)
            si[j] = _mm512_dpbusd_epi32(si[j], bcast32(rows + j * d + 4 * c), qv);
    }
    float steps[GG_ATTN_KEYS];
    memcpy(steps, kb, sizeof steps);
    __m512 s[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = _mm512_mul_ps(_mm512_cvtepi32_ps(si[j]), _mm512_set1_ps(steps[j]));
    weights_values_bf(a, t, s, vp, pp, j0, nj, d, full);
}

/* A tile's queries in int8 for form I8: per lane, its row in 127 steps
 * of its largest magnitude (qp: fours of dimensions, lane by lane), its
 * scale times that step (qs) and its sums' start (q0). */
static inline void tile_queries_i8(attn_tile *x, const float *scale, const int d) {
    int8_t *qb = (int8_t *)x->qp;
    float qs[16];
    int32_t q0[16];
    for (int lane = 0; lane < 16; lane++) {
        float amax = 0.0f;
        for (int c = 0; c < d; c++) amax = fmaxf(amax, fabsf(x->qt[16 * c + lane]));
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int c = 0; c < d; c++) {
            const int q = (int)nearbyintf(x->qt[16 * c + lane] * inv);
            qb[(c / 4) * 64 + lane * 4 + c % 4] = (int8_t)q;
            sum += q;
        }
        qs[lane] = *scale * (amax / 127.0f);
        q0[lane] = -128 * sum;
    }
    x->qs = _mm512_loadu_ps(qs);
    x->q0 = _mm512_loadu_si512(q0);
}

/* The tiles of the call's queries: rows transposed (and in the packed
 * forms, in their operands' types), sums cleared. */
ALWAYS_INLINE int tiles_init(const gg_attn_block_args *a, attn_tile *t, const attn_scratch *s,
                             const int d, const gg_attn_form form) {
    const int ntile = (a->nq + 15) / 16;
    for (int ti = 0; ti < ntile; ti++) {
        attn_tile *x = &t[ti];
        x->qt = s->qt + (size_t)ti * 16 * d;
        x->acc = s->acc + (size_t)ti * 16 * d;
        x->qp = s->qp + (size_t)ti * 8 * d;
        int lo[16], hi[16];
        float pos[16];
        x->jlo = INT_MAX, x->jhi = 0;
        x->klo = 0, x->khi = INT_MAX;
        for (int lane = 0; lane < 16; lane++) {
            const int g = ti * 16 + lane;
            lo[lane] = g < a->nq ? a->lo[g] : 0;
            hi[lane] = g < a->nq ? a->hi[g] : 0; /* empty: never valid */
            pos[lane] = (float)(a->pos0 + g);
            if (g < a->nq) {
                x->jlo = lo[lane] < x->jlo ? lo[lane] : x->jlo;
                x->jhi = hi[lane] > x->jhi ? hi[lane] : x->jhi;
            }
            x->klo = lo[lane] > x->klo ? lo[lane] : x->klo;
            x->khi = hi[lane] < x->khi ? hi[lane] : x->khi;
            const float *q = a->q + (size_t)g * a->ld_q;
            for (int c = 0; c < d; c++) x->qt[16 * c + lane] = g < a->nq ? q[c] : 0.0f;
        }
        for (int c = 0; c < d; c++) _mm512_storeu_ps(x->acc + 16 * c, _mm512_setzero_ps());
        x->qs = _mm512_set1_ps(a->scale);
        x->q0 = _mm512_setzero_si512();
        if (form == GG_ATTN_BF16)
            for (int c = 0; c < d; c += 2)
                _mm512_storeu_si512(x->qp + 8 * c, bf16_pairs(_mm512_loadu_ps(x->qt + 16 * c),
                                                              _mm512_loadu_ps(x->qt + 16 * (c + 1))));
        if (form == GG_ATTN_I8) tile_queries_i8(x, &a->scale, d);
        x->lo = _mm512_loadu_si512(lo);
        x->hi = _mm512_loadu_si512(hi);
        x->pos = _mm512_loadu_ps(pos);
        x->m = _mm512_set1_ps(-INFINITY);
        x->l = _mm512_setzero_ps();
    }
    return ntile;
}

/* The rows of keys and values of block [j0, j0 + nj) in form F32: where
 * they lie when rows are d apart and the block is whole, else copied into
 * s->kb, s->vb with zero rows after nj, so that nothing past the last key
 * is read. */
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

/* Where block b (keys from b x GG_ATTN_KEYS) of a packed form lies. */
ALWAYS_INLINE const uint8_t *packed_keys(const gg_attn_block_args *a, int b, const int d,
                                         const gg_attn_form form) {
    const size_t bytes = form == GG_ATTN_I8 ? I8_BLOCK_BYTES(d) : (size_t)GG_ATTN_KEYS * d * 2;
    return (const uint8_t *)a->k + (size_t)b * bytes;
}
ALWAYS_INLINE const uint32_t *packed_values(const gg_attn_block_args *a, int b, const int d) {
    return (const uint32_t *)a->v + (size_t)b * (GG_ATTN_KEYS / 2) * d;
}

/* The next block's rows on their way while one is worked on. */
ALWAYS_INLINE void prefetch_block(const gg_attn_block_args *a, int j0, int jhi, const int d,
                                  const gg_attn_form form) {
    if (j0 >= jhi) return;
    if (form == GG_ATTN_F32) {
        for (int j = j0; j < j0 + GG_ATTN_KEYS && j < jhi; j++)
            for (int c = 0; c < d; c += 16) {
                _mm_prefetch((const char *)(a->k + (size_t)j * a->ld_k + c), _MM_HINT_T0);
                _mm_prefetch((const char *)(a->v + (size_t)j * a->ld_v + c), _MM_HINT_T0);
            }
        return;
    }
    const int b = j0 / GG_ATTN_KEYS;
    const char *k = (const char *)packed_keys(a, b, d, form), *v = (const char *)packed_values(a, b, d);
    const size_t kbytes = form == GG_ATTN_I8 ? I8_BLOCK_BYTES(d) : (size_t)GG_ATTN_KEYS * d * 2;
    for (size_t i = 0; i < kbytes; i += 64) _mm_prefetch(k + i, _MM_HINT_T0);
    for (size_t i = 0; i < (size_t)GG_ATTN_KEYS * d * 2; i += 64) _mm_prefetch(v + i, _MM_HINT_T0);
}

/* The call: each block of keys, aligned to key 0 whatever the queries'
 * ranges, through every tile whose lanes' ranges it meets; then each
 * query's sum of values over its sum of weights. form: the keys' and
 * values' (the packed ones with d a multiple of 16). */
ALWAYS_INLINE void attn_blocks(const gg_attn_block_args *a, const int d, const gg_attn_form form) {
    const attn_scratch s = scratch_carve(a->scratch, d);
    attn_tile t[GG_ATTN_Q_MAX / 16];
    const int ntile = tiles_init(a, t, &s, d, form);
    int jlo = INT_MAX, jhi = 0;
    for (int ti = 0; ti < ntile; ti++) {
        jlo = t[ti].jlo < jlo ? t[ti].jlo : jlo;
        jhi = t[ti].jhi > jhi ? t[ti].jhi : jhi;
    }
    for (int j0 = jlo - jlo % GG_ATTN_KEYS; j0 < jhi; j0 += GG_ATTN_KEYS) {
        const int nj = jhi - j0 < GG_ATTN_KEYS ? jhi - j0 : GG_ATTN_KEYS;
        prefetch_block(a, j0 + GG_ATTN_KEYS, jhi, d, form);
        const float *kj = NULL, *vj = NULL;
        if (form == GG_ATTN_F32) block_rows(a, &s, j0, nj, d, &kj, &vj);
        const uint8_t *kp = packed_keys(a, j0 / GG_ATTN_KEYS, d, form);
        const uint32_t *vp = packed_values(a, j0 / GG_ATTN_KEYS, d);
        for (int ti = 0; ti < ntile; ti++) {
            attn_tile *x = &t[ti];
            if (j0 >= x->jhi || j0 + GG_ATTN_KEYS <= x->jlo) continue;
            const bool full = nj == GG_ATTN_KEYS && x->klo <= j0 && j0 + GG_ATTN_KEYS <= x->khi;
            if (form == GG_ATTN_I8) {
                if (full) tile_block_i8(a, x, kp, vp, s.pp, j0, nj, d, true);
                else tile_block_i8(a, x, kp, vp, s.pp, j0, nj, d, false);
            } else if (form == GG_ATTN_BF16) {
                if (full) tile_block_bf(a, x, (const uint16_t *)kp, vp, s.pp, j0, nj, d, true);
                else tile_block_bf(a, x, (const uint16_t *)kp, vp, s.pp, j0, nj, d, false);
            } else {
                if (full) tile_block(a, x, kj, vj, s.pt, j0, nj, d, true);
                else tile_block(a, x, kj, vj, s.pt, j0, nj, d, false);
            }
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

/* The head width a constant for the common widths (the only ones of the
 * packed forms): the loops over a head unroll and the addresses of a
 * block's rows become immediate offsets. The operations and their order
 * are the same either way. */
static void attn_block(const gg_attn_block_args *a) {
    switch (a->form) {
    case GG_ATTN_I8:
        if (a->d == 64) attn_blocks(a, 64, GG_ATTN_I8);
        else attn_blocks(a, 128, GG_ATTN_I8);
        break;
    case GG_ATTN_BF16:
        if (a->d == 64) attn_blocks(a, 64, GG_ATTN_BF16);
        else attn_blocks(a, 128, GG_ATTN_BF16);
        break;
    default:
        switch (a->d) {
        case 64: attn_blocks(a, 64, GG_ATTN_F32); break;
        case 128: attn_blocks(a, 128, GG_ATTN_F32); break;
        default: attn_blocks(a, a->d, GG_ATTN_F32); break;
        }
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
    const gg_cpu_features *f = gg_cpu_get();
    t->attn_forms[GG_ATTN_BF16] = ext && f->avx512bf16;
    t->attn_forms[GG_ATTN_I8] = ext && f->avx512bf16 && f->avx512vnni;
    t->attn_pack = t->attn_forms[GG_ATTN_BF16] ? attn_pack : NULL;
    t->round_half = round_half;
    t->swiglu = swiglu;
}
