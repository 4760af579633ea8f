/*
 * attn_x86.h - blocked attention (gg_attn_block, gg_attn_pack), written
 * once for every x86 vector width: attn_avx512.c instantiates it at 512
 * bits (16 queries a tile; forms F32, BF16 and I8 with vdpbf16ps and
 * vpdpbusd zmm), attn_avx2.c at 256 bits (8 queries a tile; form F32, and
 * with AVX-VNNI, attn_avxvnni_avx2.c, I8F with vpdpbusd ymm). A lane takes
 * the same operations in the same order at either width.
 *
 * Lanes are queries: a tile holds AT_LANES queries of the call, their
 * rows transposed (qt[c][lane]) and their running sums of values likewise
 * (acc[c][lane]), so that a block of GG_ATTN_KEYS keys is that many
 * accumulators of scores built by multiply-adds of a query column with a
 * broadcast key element, and the values go in by multiply-adds of a value
 * element broadcast with the tile's weights: no horizontal sums anywhere,
 * and the running maximum, sum and rescaling are plain lane-wise
 * operations. Every operation on a lane is masked by whether that key is
 * in that query's range, so a lane takes the same steps whichever other
 * queries share its tile or call: its result is its own, bit for bit.
 *
 * A call goes through the keys once for all its queries (up to
 * GG_ATTN_Q_MAX): each block of keys and values is read from memory once
 * and used by every tile while it is in L1 (the tiles' sums stay in L2).
 * At 8,192 keys a head's keys and values are 4 MB, all heads' more than
 * L3, so what a block costs depends on how many tiles share its trip from
 * memory: a block of 16 x 16 in bfloat16 took ~15% less time with 128
 * queries a call than with 64, and ~9% less again with 256
 * (bench_attn_kernel, nomic-embed-text's heads at 8,192 keys).
 *
 * The packed forms take the same tiles, blocks and online softmax, with
 * keys (and for BF16 and I8 values) packed once per layer (gg_attn_pack)
 * rather than converted block by block for each call. BF16: the two
 * products in vdpbf16ps (two bfloat16 products a lane per instruction,
 * summed in single precision): scores from query and key rows rounded to
 * bfloat16 (pairs of head dimensions), weighted values from weights and
 * values rounded to bfloat16 (pairs of keys). I8 and I8F: the scores in
 * vpdpbusd (four int8 products a lane per instruction) from the query and
 * key rows in int8 steps, exact integer sums scaled by both steps; the
 * values as BF16 (I8) or in single precision (I8F, for the widths without
 * a bfloat16 product). I8V, at both widths: I8's scores, and the values'
 * product in vpdpbusd too (weights in 255 steps of a block's largest per
 * lane, values in int8 steps of their column and row; tile_block_i8v),
 * where vdpbf16ps (a quarter of vpdpbusd's rate on the Intel Xeon it was measured on) or
 * vfmadd231ps took as long as all the rest of a block. A key outside a
 * lane's range has weight 0 there, so it adds nothing.
 *
 * The includer defines, before including this file once:
 *   AT_LANES                  queries a tile (32-bit lanes of a vector)
 *   AT_SKEYS                  keys whose scores accumulate at once (the
 *                             registers that leaves; a divisor of GG_ATTN_KEYS)
 *   AT_VDIMS                  dimensions whose sums of values accumulate at once
 *   AT_BF16                   1: forms BF16 and I8 (vdpbf16ps), else 0
 *   AT_I8                     1: an int8-score form (vpdpbusd), else 0
 *   AT_I8_FORM                that form: GG_ATTN_I8 (values bfloat16) or
 *                             GG_ATTN_I8F (values single precision)
 *   at_vf, at_vi, at_mask     float and integer vectors, a lane mask
 *   at_loadf(p) at_storef(p, v) at_loadi(p) at_set1f(x) at_set1i(x)
 *   at_zerof() at_addf at_subf at_mulf at_divf at_maxf (a, b) at_absf(a)
 *   at_fmaddf(a, b, c) at_cvtif(v) at_cvtfi(v) (to int, nearest) at_addi(a, b)
 *   at_storei(p, v) at_zeroi() at_ori(a, b) at_slli(a, n)   (integer vectors)
 *   at_store_u8(p, v)         the low bytes of v's lanes, in order, at p
 *   at_fnmaddf(a, b, c)       c - a * b
 *   at_roundf(a)              to the nearest integer, as a float
 *   at_scale2f(p, n)          p * 2^n (n integral, >= AT_EXP_MIN / ln 2 - 1)
 *   AT_EXP_MIN                where exp_neg clamps its input
 *   AT_ALL AT_NONE            the masks of every lane and of none
 *   at_mand(a, b) at_mis_all(m) at_many(m)   and, all lanes, any lane
 *   at_range(lo, hi, j)       lanes with lo <= j < hi (int vectors)
 *   at_gtf(a, b)              lanes with a > b (ordered)
 *   at_sel(src, m, a)         a in the lanes of m, src elsewhere
 *   at_selz(m, a)             a in the lanes of m, 0 elsewhere
 *   at_mmulf(x, m, a) at_maddf(x, m, a)   x * a, x + a in the lanes of m
 *   at_mfmaddf(a, b, c, m)    a * b + c in the lanes of m, c elsewhere
 *   at_dot_i8(acc, u, s)      (AT_I8) acc + per lane the sum of 4 u8 x s8 products
 *   at_prefetch(p)
 * and under AT_BF16 the 512-bit bfloat16 helpers bf16_row, bf16_pairs.
 */

#include <limits.h>
#include <math.h>
#include <string.h>

/* exp(x) for x <= 0 (and not NaN), about 1 ulp: 2^n * p(r), n = x / ln2
 * rounded, r = x - n ln2 in [-ln2/2, ln2/2] (ln2 in two parts, the first
 * exact in a float, so that r is exact), p of degree 6. The same steps at
 * every width; only the clamp differs, by how the width makes 2^n. */
static inline at_vf exp_neg(at_vf x) {
    x = at_maxf(x, at_set1f(AT_EXP_MIN));
    const at_vf n = at_roundf(at_mulf(x, at_set1f(1.44269504088896341f)));
    at_vf r = at_fnmaddf(n, at_set1f(0.693145751953125f), x);
    r = at_fnmaddf(n, at_set1f(1.428606765330187045e-06f), r);
    at_vf p = at_set1f(1.0f / 720);
    p = at_fmaddf(p, r, at_set1f(1.0f / 120));
    p = at_fmaddf(p, r, at_set1f(1.0f / 24));
    p = at_fmaddf(p, r, at_set1f(1.0f / 6));
    p = at_fmaddf(p, r, at_set1f(0.5f));
    p = at_fmaddf(p, r, at_set1f(1.0f));
    p = at_fmaddf(p, r, at_set1f(1.0f));
    return at_scale2f(p, n);
}

/* 2^x for x <= 0 (and not NaN), within 4.3e-5 relative: 2^n * p(r), n
 * = x rounded, r = x - n in [-1/2, 1/2] (exact), p of degree 4 (2^r's
 * Taylor series: its first term left out, (r ln 2)^5 / 120, is at most
 * 4.3e-5). Form I8V's weights, which go on in 255 steps of a block's
 * largest (a half step being 2e-3 of it): 8 operations against exp_neg's
 * 12, in a part of the block that is as long as its products. */
static inline at_vf exp2_neg(at_vf x) {
    x = at_maxf(x, at_set1f(AT_EXP_MIN * 1.44269504088896341f));
    const at_vf n = at_roundf(x);
    const at_vf r = at_subf(x, n);
    at_vf p = at_set1f(9.618129107628477e-3f);
    p = at_fmaddf(p, r, at_set1f(5.550410866482158e-2f));
    p = at_fmaddf(p, r, at_set1f(2.402265069591007e-1f));
    p = at_fmaddf(p, r, at_set1f(6.931471805599453e-1f));
    p = at_fmaddf(p, r, at_set1f(1.0f));
    return at_scale2f(p, n);
}

typedef struct attn_tile {
    float *qt, *acc; /* [d][AT_LANES] */
    uint32_t *qp;    /* BF16: [d / 2][AT_LANES] pairs of dimensions of qt in bfloat16;
                         I8, I8F: [d / 4][AT_LANES] fours of dimensions in int8 */
    at_vf qs;        /* what a lane's scores are multiplied by: the scale (I8: times its row's step) */
    at_vi q0;        /* I8: where a lane's integer scores start, -128 x the sum of its int8 row */
    at_vf m, l;      /* running maximum and sum of weights */
    at_vi lo, hi;    /* each lane's key range */
    at_vf pos;       /* each lane's position (ALiBi) */
    int jlo, jhi;    /* the union of the lanes' ranges */
    int klo, khi;    /* their intersection (empty unless all lanes are queries) */
} attn_tile;

/* A call's scratch (gg_attn_scratch_floats(d) floats), in this order. */
typedef struct attn_scratch {
    float *qt, *acc; /* GG_ATTN_Q_MAX x d each, a tile AT_LANES x d of it */
    float *kb, *vb;  /* a block of keys and one of values copied: 16 x d each */
    float *pt;       /* the block's weights of a tile: 16 x AT_LANES */
    uint32_t *qp;    /* the packed forms' queries: GG_ATTN_Q_MAX / 2 x d */
    uint32_t *pp;    /* a tile's block weights in pairs of keys: 8 x AT_LANES */
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

static inline at_vi bcast32(const void *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return at_set1i(x);
}

/* ---- the packed forms (gg_attn_pack) ----
 *
 * Whole blocks of GG_ATTN_KEYS keys, the last padded with zero keys (and
 * in BF16 and I8 zero values), so that a block is always read in place.
 * I8V: keys as I8's, values after d floats of column steps in blocks as
 * the keys' (attn_pack_values_i8). Values (BF16, I8): pairs of keys, block b at v + b x 8 d pairs: pair
 * row p holds (v[2p][c], v[2p+1][c]) in bfloat16 for each c; I8F leaves
 * them as they are, rows of d floats. Keys: BF16, rows of d bfloat16
 * (block b at k + b x 16 d of them); I8 and I8F, block b at byte
 * b x (64 + 16 d) of k: the 16 keys' steps (floats), then their rows of
 * d bytes, each key less the mean of the sequence's keys rounded to
 * 127 steps of its largest magnitude, plus 128 (vpdpbusd's unsigned
 * operand; the queries, signed, start their sums at -128 x their sum to
 * make up for it). Each fits in the floats' space (n >= 16): the packed
 * block b ends before float row 16 (b + 1) starts, and is written only
 * once all of its own float rows are read. */
#define I8_BLOCK_BYTES(d) (64 + GG_ATTN_KEYS * (size_t)(d))
#define AT_VECS(d) ((d) / AT_LANES)

#if AT_BF16
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
            const __m512 lo = _mm512_loadu_ps(k + (size_t)j * d + c),
                         hi = _mm512_loadu_ps(k + (size_t)j * d + c + 16);
            _mm512_storeu_si512(kh + (size_t)j * d + c, bf16_row(lo, hi));
        }
    memset(kh + (size_t)n * d, 0, sizeof(uint16_t) * (size_t)d * (size_t)(nb * GG_ATTN_KEYS - n));
}
#endif

#if AT_I8
/* The largest magnitude of vectors x[0 .. d / AT_LANES). */
static inline float amax_row(const at_vf *x, const int d) {
    at_vf m = at_zerof();
    for (int c = 0; c < AT_VECS(d); c++) m = at_maxf(m, at_absf(x[c]));
    float lanes[AT_LANES], r = 0.0f;
    at_storef(lanes, m);
    for (int i = 0; i < AT_LANES; i++) r = lanes[i] > r ? lanes[i] : r;
    return r;
}

/* Keys less their mean, in int8 steps, block by block in place (see the
 * packed forms above): each block's 16 rows are read into a block of
 * their own before it is written. */
static void attn_pack_keys_i8(float *k, int n, const int d) {
    at_vf mean[128 / AT_LANES], sum[128 / AT_LANES];
    for (int c = 0; c < AT_VECS(d); c++) sum[c] = at_zerof();
    for (int j = 0; j < n; j++)
        for (int c = 0; c < AT_VECS(d); c++)
            sum[c] = at_addf(sum[c], at_loadf(k + (size_t)j * d + AT_LANES * c));
    for (int c = 0; c < AT_VECS(d); c++) mean[c] = at_divf(sum[c], at_set1f((float)n));
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
            at_vf x[128 / AT_LANES];
            for (int c = 0; c < AT_VECS(d); c++)
                x[c] = at_subf(at_loadf(k + (size_t)j * d + AT_LANES * c), mean[c]);
            const float amax = amax_row(x, d);
            steps[r] = amax / 127.0f;
            const at_vf inv = at_set1f(amax > 0.0f ? 127.0f / amax : 0.0f);
            for (int c = 0; c < AT_VECS(d); c++) /* nearest, ties to even */
                at_store_u8(row + AT_LANES * c, at_addi(at_cvtfi(at_mulf(x[c], inv)), at_set1i(128)));
        }
        memcpy(block, steps, sizeof steps);
        memcpy((uint8_t *)k + (size_t)b * I8_BLOCK_BYTES(d), block, I8_BLOCK_BYTES(d));
    }
}

/* I8V's values in place (see the packed forms above): each column in
 * 127 steps of its largest magnitude over the sequence (the header, d
 * floats), then each row of those in 127 steps of its own (a block's 16
 * row steps, then its rows as fours of keys: byte 4 (q d + c) + i of the
 * block's rows is key 4q + i's column c). A block's rows are read into
 * a block of their own before it is written, and it ends before the next
 * block's floats start (4 d + (b + 1)(64 + 16 d) <= 64 d (b + 1)). */
static void attn_pack_values_i8(float *v, int n, const int d) {
    at_vf cmax[128 / AT_LANES], cinv[128 / AT_LANES];
    for (int c = 0; c < AT_VECS(d); c++) cmax[c] = at_zerof();
    for (int j = 0; j < n; j++)
        for (int c = 0; c < AT_VECS(d); c++)
            cmax[c] = at_maxf(cmax[c], at_absf(at_loadf(v + (size_t)j * d + AT_LANES * c)));
    float csteps[128];
    for (int c = 0; c < AT_VECS(d); c++) {
        at_storef(csteps + AT_LANES * c, at_divf(cmax[c], at_set1f(127.0f)));
        cinv[c] = at_selz(at_gtf(cmax[c], at_zerof()), at_divf(at_set1f(127.0f), cmax[c]));
    }
    const int nb = (n + GG_ATTN_KEYS - 1) / GG_ATTN_KEYS;
    uint8_t block[64 + GG_ATTN_KEYS * 128];
    for (int b = 0; b < nb; b++) {
        float steps[GG_ATTN_KEYS];
        uint8_t *rows = block + 64;
        for (int r = 0; r < GG_ATTN_KEYS; r++) {
            const int j = b * GG_ATTN_KEYS + r;
            uint8_t *quad = rows + (size_t)(r / 4) * 4 * d + r % 4;
            if (j >= n) {
                steps[r] = 0.0f;
                for (int c = 0; c < d; c++) quad[4 * c] = 0;
                continue;
            }
            at_vf x[128 / AT_LANES];
            for (int c = 0; c < AT_VECS(d); c++)
                x[c] = at_mulf(at_loadf(v + (size_t)j * d + AT_LANES * c), cinv[c]);
            const float amax = amax_row(x, d);
            steps[r] = amax / 127.0f;
            const at_vf inv = at_set1f(amax > 0.0f ? 127.0f / amax : 0.0f);
            for (int c = 0; c < AT_VECS(d); c++) { /* nearest, ties to even */
                int32_t lanes[AT_LANES];
                at_storei(lanes, at_cvtfi(at_mulf(x[c], inv)));
                for (int i = 0; i < AT_LANES; i++) quad[4 * (AT_LANES * c + i)] = (uint8_t)lanes[i];
            }
        }
        memcpy(block, steps, sizeof steps);
        memcpy((uint8_t *)v + 4 * (size_t)d + (size_t)b * I8_BLOCK_BYTES(d), block, I8_BLOCK_BYTES(d));
    }
    memcpy(v, csteps, sizeof(float) * (size_t)d);
}
#endif

#if AT_I8 || AT_BF16
static void attn_pack(gg_attn_form form, float *k, float *v, int n, int d) {
    (void)v;
#if AT_I8
    if (form == GG_ATTN_I8V) {
        attn_pack_keys_i8(k, n, d);
        attn_pack_values_i8(v, n, d);
        return;
    }
#endif
    if (form == AT_I8_FORM) attn_pack_keys_i8(k, n, d);
#if AT_BF16
    else attn_pack_keys_bf16(k, n, d);
    attn_pack_values(v, n, d);
#endif
}
#endif

/* Scores s[j] (q.k of key j0 + j, j < nj) of tile t to weights
 * exp(qs s + bias - m) in s, 0 in the lanes outside key j's range
 * (valid[j]: the lanes inside it), m being each lane's running maximum,
 * moved to the block's maximum in the lanes where that is larger.
 * Returns those lanes: what they summed shrinks by *alpha, done here for
 * their sum of weights and left to the caller for their sums of values
 * (rescale). Past the first blocks most tiles have no such lane, and
 * skip both. full: every key of the block is in every lane's range (the
 * masks all ones, and left out: the same results). base2: the scores
 * (qs) are in units of log2 e (form I8V), and the weights 2^(s - m). */
ALWAYS_INLINE at_mask block_weights(const gg_attn_block_args *a, attn_tile *t, at_vf *s, int j0, int nj,
                                    at_mask *valid, at_vf *alpha, const bool full, const bool base2) {
    const at_vf slope = at_set1f(base2 ? a->alibi_slope * 1.44269504088896341f : a->alibi_slope);
    const at_vf neg_inf = at_set1f(-INFINITY);
    at_vf bm = t->m;
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const at_vi jv = at_set1i(j0 + j);
        valid[j] = full ? AT_ALL : j < nj ? at_range(t->lo, t->hi, jv) : AT_NONE;
        at_vf x = at_mulf(s[j], t->qs);
        if (a->alibi_slope != 0.0f) { /* slope * -|pos - j| */
            const at_vf dist = at_absf(at_subf(t->pos, at_set1f((float)(j0 + j))));
            x = at_addf(x, at_mulf(slope, at_subf(at_zerof(), dist)));
        }
        s[j] = full ? x : at_sel(neg_inf, valid[j], x);
        bm = at_maxf(bm, s[j]);
    }
    const at_mask up = at_gtf(bm, t->m);
    *alpha = at_zerof();
    if (at_many(up)) {
        *alpha = base2 ? exp2_neg(at_subf(t->m, bm)) : exp_neg(at_subf(t->m, bm));
        t->l = at_mmulf(t->l, up, *alpha);
        t->m = at_sel(t->m, up, bm);
    }
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const at_vf e = base2 ? exp2_neg(at_subf(s[j], t->m)) : exp_neg(at_subf(s[j], t->m));
        s[j] = full ? e : at_selz(valid[j], e);
    }
    return up;
}

/* The lanes up of a tile's sums of values ([d][AT_LANES]) times alpha. */
ALWAYS_INLINE void rescale(float *acc, const int d, at_mask up, at_vf alpha) {
    for (int c = 0; c < d; c++) {
        const at_vf x = at_loadf(acc + AT_LANES * c);
        at_storef(acc + AT_LANES * c, at_mmulf(x, up, alpha));
    }
}

/* nc (up to AT_VDIMS) running sums of values of a tile, acc[i][lane],
 * plus the weights pt[j][lane] of keys j < nj times their values
 * vb[j * d + i], each in the lanes of valid[j] only. */
ALWAYS_INLINE void add_values(float *acc, const float *vb, const float *pt, const int d, const int nj,
                              const int nc, const at_mask *valid) {
    at_vf o[AT_VDIMS];
    for (int i = 0; i < nc; i++) o[i] = at_loadf(acc + AT_LANES * i);
    for (int j = 0; j < nj; j++) {
        const at_vf p = at_loadf(pt + AT_LANES * j);
        const at_mask m = valid[j];
        for (int i = 0; i < nc; i++) o[i] = at_mfmaddf(at_set1f(vb[j * d + i]), p, o[i], m);
    }
    for (int i = 0; i < nc; i++) at_storef(acc + AT_LANES * i, o[i]);
}

/* add_values of a full block whose keys are all valid in every lane:
 * the same operations (a multiply-add masked by all lanes is the plain
 * one), with the value broadcast from memory into the multiply-add. */
ALWAYS_INLINE void add_values_full(float *acc, const float *vb, const float *pt, const int d) {
    at_vf o[AT_VDIMS];
    for (int i = 0; i < AT_VDIMS; i++) o[i] = at_loadf(acc + AT_LANES * i);
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        const at_vf p = at_loadf(pt + AT_LANES * j);
        for (int i = 0; i < AT_VDIMS; i++) o[i] = at_fmaddf(at_set1f(vb[j * d + i]), p, o[i]);
    }
    for (int i = 0; i < AT_VDIMS; i++) at_storef(acc + AT_LANES * i, o[i]);
}

/* The second half in single precision for tile t and a block of keys
 * [j0, j0 + nj) with scores s: weights, then the values (vb: their rows,
 * d apart; rows past nj zero) in; pt is scratch for the 16 x AT_LANES
 * weights. */
ALWAYS_INLINE void weights_values(const gg_attn_block_args *a, attn_tile *t, at_vf *s, const float *vb,
                                  float *pt, int j0, int nj, const int d, const bool full) {
    at_mask valid[GG_ATTN_KEYS];
    at_vf alpha;
    const at_mask up = block_weights(a, t, s, j0, nj, valid, &alpha, full, false);
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        t->l = at_maddf(t->l, valid[j], s[j]);
        at_storef(pt + AT_LANES * j, s[j]);
    }
    if (at_many(up)) rescale(t->acc, d, up, alpha);
    at_mask all = AT_ALL;
    for (int j = 0; j < GG_ATTN_KEYS; j++) all = at_mand(all, valid[j]);
    if (at_mis_all(all) && d % AT_VDIMS == 0) { /* every key for every lane: no masks */
        for (int c0 = 0; c0 < d; c0 += AT_VDIMS) add_values_full(t->acc + AT_LANES * c0, vb + c0, pt, d);
    } else {
        for (int c0 = 0; c0 < d; c0 += AT_VDIMS)
            add_values(t->acc + AT_LANES * c0, vb + c0, pt, d, nj, d - c0 < AT_VDIMS ? d - c0 : AT_VDIMS,
                       valid);
    }
}

/* One block of keys [j0, j0 + nj) (kb, vb: their rows, d apart; rows
 * past nj zero) into tile t, in single precision; pt is scratch for the
 * 16 x AT_LANES weights. */
ALWAYS_INLINE void tile_block(const gg_attn_block_args *a, attn_tile *t, const float *kb,
                              const float *vb, float *pt, int j0, int nj, const int d, const bool full) {
    at_vf s[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = at_zerof();
    for (int g = 0; g < GG_ATTN_KEYS; g += AT_SKEYS)
        for (int c = 0; c < d; c++) {
            const at_vf qv = at_loadf(t->qt + AT_LANES * c);
            for (int j = g; j < g + AT_SKEYS; j++) s[j] = at_fmaddf(qv, at_set1f(kb[j * d + c]), s[j]);
        }
    weights_values(a, t, s, vb, pt, j0, nj, d, full);
}

#if AT_BF16
/* The packed forms' second half for tile t and a block of keys
 * [j0, j0 + nj) with scores s: weights, then the values (vp: the
 * block's pairs) in with vdpbf16ps; pp is scratch for the 8 x 16 pairs
 * of weights. */
ALWAYS_INLINE void weights_values_bf(const gg_attn_block_args *a, attn_tile *t, __m512 *s,
                                     const uint32_t *vp, uint32_t *pp, int j0, int nj, const int d,
                                     const bool full) {
    __mmask16 valid[GG_ATTN_KEYS];
    __m512 alpha;
    const __mmask16 up = block_weights(a, t, s, j0, nj, valid, &alpha, full, false);
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
#endif

#if AT_I8
/* The int8 forms' scores of tile t against block kb (its keys' steps,
 * then their int8 rows): exact integer sums, each times its key's step
 * (the query's step comes in block_weights). */
ALWAYS_INLINE void scores_i8(const attn_tile *t, const uint8_t *kb, const int d, at_vf s[GG_ATTN_KEYS]) {
    const uint8_t *rows = kb + 64;
    at_vi si[GG_ATTN_KEYS];
    for (int j = 0; j < GG_ATTN_KEYS; j++) si[j] = t->q0;
    for (int g = 0; g < GG_ATTN_KEYS; g += AT_SKEYS)
        for (int c = 0; c < d / 4; c++) {
            const at_vi qv = at_loadi(t->qp + AT_LANES * c);
            for (int j = g; j < g + AT_SKEYS; j++)
                si[j] = at_dot_i8(si[j], bcast32(rows + j * d + 4 * c), qv);
        }
    float steps[GG_ATTN_KEYS];
    memcpy(steps, kb, sizeof steps);
    for (int j = 0; j < GG_ATTN_KEYS; j++) s[j] = at_mulf(at_cvtif(si[j]), at_set1f(steps[j]));
}

/* One block of keys [j0, j0 + nj) into tile t in the int8-score form:
 * kb the block's steps and rows, and its values: vp (I8, pairs) or vb
 * (I8F, rows d apart, rows past nj zero). The integer scores are exact;
 * each times its key's step (and, in block_weights, the query's). */
ALWAYS_INLINE void tile_block_i8(const gg_attn_block_args *a, attn_tile *t, const uint8_t *kb,
                                 const uint32_t *vp, const float *vb, void *pp, int j0, int nj,
                                 const int d, const bool full) {
    at_vf s[GG_ATTN_KEYS];
    scores_i8(t, kb, d, s);
#if AT_BF16
    (void)vb;
    weights_values_bf(a, t, s, vp, pp, j0, nj, d, full);
#else
    (void)vp;
    weights_values(a, t, s, vb, pp, j0, nj, d, full);
#endif
}

/* One block of keys [j0, j0 + nj) into tile t in form I8V: kb the
 * block's keys (as I8's), vb its values (row steps, then fours of keys).
 * The scores and weights as I8F's; then per lane each weight times its
 * key's row step, in 255 steps of the block's largest (so a lane's
 * weights keep their precision whatever its running maximum, and a key
 * whose values are small counts as little as it weighs), four keys to a
 * 32-bit lane for vpdpbusd against the values' fours of keys: the
 * block's exact integer sums of each column, scaled by the lane's step
 * into its running sums. A key outside a lane's range has weight 0. */
ALWAYS_INLINE void tile_block_i8v(const gg_attn_block_args *a, attn_tile *t, const uint8_t *kb,
                                  const uint8_t *vb, int j0, int nj, const int d, const bool full) {
    at_vf s[GG_ATTN_KEYS];
    scores_i8(t, kb, d, s);
    float steps[GG_ATTN_KEYS];
    at_mask valid[GG_ATTN_KEYS];
    at_vf alpha;
    const at_mask up = block_weights(a, t, s, j0, nj, valid, &alpha, full, true);
    for (int j = 0; j < GG_ATTN_KEYS; j++) t->l = at_maddf(t->l, valid[j], s[j]);
    if (at_many(up)) rescale(t->acc, d, up, alpha);
    memcpy(steps, vb, sizeof steps);
    at_vf wmax = at_zerof();
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        s[j] = at_mulf(s[j], at_set1f(steps[j]));
        wmax = at_maxf(wmax, s[j]);
    }
    const at_vf inv = at_selz(at_gtf(wmax, at_zerof()), at_divf(at_set1f(255.0f), wmax));
    const at_vf step = at_mulf(wmax, at_set1f(1.0f / 255));
    at_vi pq[GG_ATTN_KEYS / 4];
    for (int q = 0; q < GG_ATTN_KEYS / 4; q++) { /* each in [0, 255]: nearest, ties to even */
        at_vi x = at_cvtfi(at_mulf(s[4 * q], inv));
        x = at_ori(x, at_slli(at_cvtfi(at_mulf(s[4 * q + 1], inv)), 8));
        x = at_ori(x, at_slli(at_cvtfi(at_mulf(s[4 * q + 2], inv)), 16));
        pq[q] = at_ori(x, at_slli(at_cvtfi(at_mulf(s[4 * q + 3], inv)), 24));
    }
    const uint8_t *vq = vb + 64;
    for (int c0 = 0; c0 < d; c0 += AT_VDIMS) {
        float *acc = t->acc + AT_LANES * c0;
        at_vi o[AT_VDIMS];
        for (int i = 0; i < AT_VDIMS; i++) o[i] = at_zeroi();
        for (int q = 0; q < GG_ATTN_KEYS / 4; q++)
            for (int i = 0; i < AT_VDIMS; i++)
                o[i] = at_dot_i8(o[i], pq[q], bcast32(vq + 4 * ((size_t)q * d + c0 + i)));
        for (int i = 0; i < AT_VDIMS; i++)
            at_storef(acc + AT_LANES * i, at_fmaddf(at_cvtif(o[i]), step, at_loadf(acc + AT_LANES * i)));
    }
}

/* A tile's queries in int8 for the int8-score form: per lane, its row in
 * 127 steps of its largest magnitude (qp: fours of dimensions, lane by
 * lane), its scale times that step (qs) and its sums' start (q0). */
static inline void tile_queries_i8(attn_tile *x, const float *scale, const int d) {
    int8_t *qb = (int8_t *)x->qp;
    float qs[AT_LANES];
    int32_t q0[AT_LANES];
    for (int lane = 0; lane < AT_LANES; lane++) {
        float amax = 0.0f;
        for (int c = 0; c < d; c++) amax = fmaxf(amax, fabsf(x->qt[AT_LANES * c + lane]));
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int c = 0; c < d; c++) {
            const int q = (int)nearbyintf(x->qt[AT_LANES * c + lane] * inv);
            qb[(c / 4) * 4 * AT_LANES + lane * 4 + c % 4] = (int8_t)q;
            sum += q;
        }
        qs[lane] = *scale * (amax / 127.0f);
        q0[lane] = -128 * sum;
    }
    x->qs = at_loadf(qs);
    x->q0 = at_loadi(q0);
}
#endif

/* The tiles of the call's queries: rows transposed (and in the packed
 * forms, in their operands' types), sums cleared. */
ALWAYS_INLINE int tiles_init(const gg_attn_block_args *a, attn_tile *t, const attn_scratch *s,
                             const int d, const gg_attn_form form) {
    const int ntile = (a->nq + AT_LANES - 1) / AT_LANES;
    for (int ti = 0; ti < ntile; ti++) {
        attn_tile *x = &t[ti];
        x->qt = s->qt + (size_t)ti * AT_LANES * d;
        x->acc = s->acc + (size_t)ti * AT_LANES * d;
        x->qp = s->qp + (size_t)ti * (AT_LANES / 2) * d;
        int lo[AT_LANES], hi[AT_LANES];
        float pos[AT_LANES];
        x->jlo = INT_MAX, x->jhi = 0;
        x->klo = 0, x->khi = INT_MAX;
        for (int lane = 0; lane < AT_LANES; lane++) {
            const int g = ti * AT_LANES + lane;
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
            for (int c = 0; c < d; c++) x->qt[AT_LANES * c + lane] = g < a->nq ? q[c] : 0.0f;
        }
        for (int c = 0; c < d; c++) at_storef(x->acc + AT_LANES * c, at_zerof());
        x->qs = at_set1f(a->scale);
        x->q0 = at_set1i(0);
#if AT_BF16
        if (form == GG_ATTN_BF16)
            for (int c = 0; c < d; c += 2)
                _mm512_storeu_si512(x->qp + 8 * c, bf16_pairs(_mm512_loadu_ps(x->qt + 16 * c),
                                                              _mm512_loadu_ps(x->qt + 16 * (c + 1))));
#endif
#if AT_I8
        if (form == AT_I8_FORM || form == GG_ATTN_I8V) { /* I8V's scores in units of log2 e */
            const float scale = form == GG_ATTN_I8V ? a->scale * 1.44269504088896341f : a->scale;
            tile_queries_i8(x, &scale, d);
        }
#endif
        x->lo = at_loadi(lo);
        x->hi = at_loadi(hi);
        x->pos = at_loadf(pos);
        x->m = at_set1f(-INFINITY);
        x->l = at_zerof();
    }
    return ntile;
}

/* The rows of keys (kj: NULL for none) and values of block
 * [j0, j0 + nj) in single precision: where they lie when rows are d
 * apart and the block is whole, else copied into s->kb, s->vb with zero
 * rows after nj, so that nothing past the last key is read. */
ALWAYS_INLINE void block_rows(const float *k, size_t ld_k, const float *v, size_t ld_v,
                              const attn_scratch *s, int j0, int nj, const int d, const float **kj,
                              const float **vj) {
    if ((!kj || ld_k == (size_t)d) && ld_v == (size_t)d && nj == GG_ATTN_KEYS) {
        if (kj) *kj = k + (size_t)j0 * d;
        *vj = v + (size_t)j0 * d;
        return;
    }
    for (int j = 0; j < GG_ATTN_KEYS; j++) {
        if (j < nj) {
            if (kj) memcpy(s->kb + j * d, k + (size_t)(j0 + j) * ld_k, sizeof(float) * (size_t)d);
            memcpy(s->vb + j * d, v + (size_t)(j0 + j) * ld_v, sizeof(float) * (size_t)d);
        } else { /* weight 0 times a value 0 */
            if (kj) memset(s->kb + j * d, 0, sizeof(float) * (size_t)d);
            memset(s->vb + j * d, 0, sizeof(float) * (size_t)d);
        }
    }
    if (kj) *kj = s->kb;
    *vj = s->vb;
}

/* Where block b (keys from b x GG_ATTN_KEYS) of a packed form lies. */
ALWAYS_INLINE const uint8_t *packed_keys(const gg_attn_block_args *a, int b, const int d,
                                         const gg_attn_form form) {
    const size_t bytes = form == AT_I8_FORM || form == GG_ATTN_I8V ? I8_BLOCK_BYTES(d)
                                                                   : (size_t)GG_ATTN_KEYS * d * 2;
    return (const uint8_t *)a->k + (size_t)b * bytes;
}
/* I8V's: after the column steps, blocks as I8's keys'. */
ALWAYS_INLINE const uint8_t *packed_values_i8(const gg_attn_block_args *a, int b, const int d) {
    return (const uint8_t *)a->v + 4 * (size_t)d + (size_t)b * I8_BLOCK_BYTES(d);
}
ALWAYS_INLINE const uint32_t *packed_values(const gg_attn_block_args *a, int b, const int d) {
    return (const uint32_t *)a->v + (size_t)b * (GG_ATTN_KEYS / 2) * d;
}

/* The next block's rows on their way while one is worked on. */
ALWAYS_INLINE void prefetch_block(const gg_attn_block_args *a, int j0, int jhi, const int d,
                                  const gg_attn_form form) {
    if (j0 >= jhi) return;
    if (form == GG_ATTN_F32 || form == GG_ATTN_I8F) { /* rows of floats: F32's keys, I8F's values */
        const size_t ld_v = form == GG_ATTN_F32 ? a->ld_v : (size_t)d;
        for (int j = j0; j < j0 + GG_ATTN_KEYS && j < jhi; j++)
            for (int c = 0; c < d; c += 16) {
                if (form == GG_ATTN_F32) at_prefetch((const char *)(a->k + (size_t)j * a->ld_k + c));
                at_prefetch((const char *)(a->v + (size_t)j * ld_v + c));
            }
        if (form == GG_ATTN_F32) return;
    }
    const int b = j0 / GG_ATTN_KEYS;
    const char *k = (const char *)packed_keys(a, b, d, form);
    const size_t kbytes = form == AT_I8_FORM || form == GG_ATTN_I8V ? I8_BLOCK_BYTES(d)
                                                                    : (size_t)GG_ATTN_KEYS * d * 2;
    for (size_t i = 0; i < kbytes; i += 64) at_prefetch(k + i);
    if (form == GG_ATTN_I8F) return;
#if AT_I8
    if (form == GG_ATTN_I8V) {
        const char *v = (const char *)packed_values_i8(a, b, d);
        for (size_t i = 0; i < I8_BLOCK_BYTES(d); i += 64) at_prefetch(v + i);
        return;
    }
#endif
    const char *v = (const char *)packed_values(a, b, d);
    for (size_t i = 0; i < (size_t)GG_ATTN_KEYS * d * 2; i += 64) at_prefetch(v + i);
}

/* The call: each block of keys, aligned to key 0 whatever the queries'
 * ranges, through every tile whose lanes' ranges it meets; then each
 * query's sum of values over its sum of weights. form: the keys' and
 * values' (the packed ones with d a multiple of 16). */
ALWAYS_INLINE void attn_blocks(const gg_attn_block_args *a, const int d, const gg_attn_form form) {
    const attn_scratch s = scratch_carve(a->scratch, d);
    attn_tile t[GG_ATTN_Q_MAX / AT_LANES];
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
        if (form == GG_ATTN_F32) block_rows(a->k, a->ld_k, a->v, a->ld_v, &s, j0, nj, d, &kj, &vj);
        if (form == GG_ATTN_I8F) block_rows(NULL, 0, a->v, (size_t)d, &s, j0, nj, d, NULL, &vj);
#if AT_I8 || AT_BF16
        const uint8_t *kp = packed_keys(a, j0 / GG_ATTN_KEYS, d, form);
        const uint32_t *vp = packed_values(a, j0 / GG_ATTN_KEYS, d);
#endif
#if AT_I8
        void *wp = form == GG_ATTN_I8F ? (void *)s.pt : (void *)s.pp;
#endif
        for (int ti = 0; ti < ntile; ti++) {
            attn_tile *x = &t[ti];
            if (j0 >= x->jhi || j0 + GG_ATTN_KEYS <= x->jlo) continue;
            const bool full = nj == GG_ATTN_KEYS && x->klo <= j0 && j0 + GG_ATTN_KEYS <= x->khi;
            if (0) {
#if AT_I8
            } else if (form == GG_ATTN_I8V) {
                const uint8_t *vq = packed_values_i8(a, j0 / GG_ATTN_KEYS, d);
                if (full) tile_block_i8v(a, x, kp, vq, j0, nj, d, true);
                else tile_block_i8v(a, x, kp, vq, j0, nj, d, false);
            } else if (form == AT_I8_FORM) {
                if (full) tile_block_i8(a, x, kp, vp, vj, wp, j0, nj, d, true);
                else tile_block_i8(a, x, kp, vp, vj, wp, j0, nj, d, false);
#endif
#if AT_BF16
            } else if (form == GG_ATTN_BF16) {
                if (full) tile_block_bf(a, x, (const uint16_t *)kp, vp, s.pp, j0, nj, d, true);
                else tile_block_bf(a, x, (const uint16_t *)kp, vp, s.pp, j0, nj, d, false);
#endif
            } else {
                if (full) tile_block(a, x, kj, vj, s.pt, j0, nj, d, true);
                else tile_block(a, x, kj, vj, s.pt, j0, nj, d, false);
            }
        }
    }
    /* I8V's sums are in its columns' steps */
    const float *csteps = form == GG_ATTN_I8V ? a->v : NULL;
    for (int ti = 0; ti < ntile; ti++) {
        float inv[AT_LANES];
        at_storef(inv, at_divf(at_set1f(1.0f), t[ti].l));
        for (int lane = 0; lane < AT_LANES && ti * AT_LANES + lane < a->nq; lane++) {
            float *out = a->out + (size_t)(ti * AT_LANES + lane) * a->ld_out;
            if (csteps)
                for (int c = 0; c < d; c++)
                    out[c] = t[ti].acc[AT_LANES * c + lane] * inv[lane] * csteps[c];
            else
                for (int c = 0; c < d; c++) out[c] = t[ti].acc[AT_LANES * c + lane] * inv[lane];
        }
    }
}

/* The head width a constant for the common widths (the only ones of the
 * packed forms): the loops over a head unroll and the addresses of a
 * block's rows become immediate offsets. The operations and their order
 * are the same either way. */
static void attn_block(const gg_attn_block_args *a) {
    switch (a->form) {
#if AT_I8
    case GG_ATTN_I8V:
        if (a->d == 64) attn_blocks(a, 64, GG_ATTN_I8V);
        else attn_blocks(a, 128, GG_ATTN_I8V);
        break;
    case AT_I8_FORM:
        if (a->d == 64) attn_blocks(a, 64, AT_I8_FORM);
        else attn_blocks(a, 128, AT_I8_FORM);
        break;
#endif
#if AT_BF16
    case GG_ATTN_BF16:
        if (a->d == 64) attn_blocks(a, 64, GG_ATTN_BF16);
        else attn_blocks(a, 128, GG_ATTN_BF16);
        break;
#endif
    default:
        switch (a->d) {
        case 64: attn_blocks(a, 64, GG_ATTN_F32); break;
        case 128: attn_blocks(a, 128, GG_ATTN_F32); break;
        default: attn_blocks(a, a->d, GG_ATTN_F32); break;
        }
    }
}
