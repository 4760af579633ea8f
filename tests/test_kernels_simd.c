/*
 * test_kernels_simd.c - the SIMD kernels (AVX2 without and with AVX-VNNI;
 * AVX-512 without and with VNNI/BF16) against the scalar reference, at
 * every level this CPU has.
 *
 * For each computed type, random weight rows of awkward lengths (odd
 * numbers of blocks; for the float types lengths that leave a tail) are
 * multiplied with activations quantized by the reference, and:
 *   - quantize_act must give the reference's bytes exactly;
 *   - dequantize must give the reference's floats exactly (same
 *     operations in the same order);
 *   - vec_dot and vec_dot_multi must agree with gg_vec_dot_ref within
 *     1e-5 of the sum of |terms| (the integer part of each block is exact
 *     in both; only the order of float additions differs), and
 *     vec_dot_multi must equal vec_dot bit for bit for each row;
 *   - gg_matmul_rows and the packed products (gg_gemm_rows) must agree
 *     with the reference in the same way, the packed ones for every batch
 *     of 1..70 tokens bit for bit with the whole batch (so the few-token
 *     products, which take batches of up to GG_GEMM_FEW_TOKENS, give the
 *     panels' bits), and AVX2's and AVX-VNNI's bit for bit with each other;
 *   - each level must really dispatch to its own kernels (test_dispatch),
 *     or the comparisons would pass without testing anything.
 */
#include "check.h"
#include "kernels/kernels_internal.h"
#include "platform/platform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frand(void) { return (float)(next_u32() % 2000001) / 1000000.0f - 1.0f; }

static const gg_type dot_types[] = {GG_TYPE_F32,  GG_TYPE_F16,  GG_TYPE_BF16, GG_TYPE_Q4_0, GG_TYPE_Q4_1,
                                    GG_TYPE_Q5_0, GG_TYPE_Q5_1, GG_TYPE_Q8_0, GG_TYPE_Q2_K, GG_TYPE_Q3_K,
                                    GG_TYPE_Q4_K, GG_TYPE_Q5_K, GG_TYPE_Q6_K};

/* Lengths: a few blocks (odd counts), and ~4096; plain types get tails. */
static int64_t length(gg_type t, int which) {
    static const int64_t blocks[] = {1, 3, 5, 16};
    int bs = gg_type_info(t)->block_size;
    if (bs == 1) {
        static const int64_t plain[] = {7, 77, 333, 4099};
        return plain[which];
    }
    return bs == 32 ? 32 * (blocks[which] * 8 + 1) : 256 * blocks[which];
}

/* Weights: the reference quantizer applied to random floats, with a few
 * large values so that scales vary between blocks. */
static void *make_weights(gg_type t, int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * (i % 41 == 0 ? 8.0f : 1.0f);
    void *w = malloc(gg_row_size(t, n));
    gg_quantize_row_ref(t, x, w, n);
    free(x);
    return w;
}

/* sum of |w_i * a_i| from the dequantized rows: the scale of the error. */
static double magnitude(gg_type t, const void *w, const void *a, int64_t n) {
    gg_type at = gg_type_info(t)->vec_dot_type;
    float *wf = malloc((size_t)n * sizeof *wf), *af = malloc((size_t)n * sizeof *af);
    gg_dequantize_row_ref(t, w, wf, n);
    gg_dequantize_row_ref(at, a, af, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m += fabs((double)wf[i] * af[i]);
    free(wf);
    free(af);
    return m;
}

static bool close_enough(float got, float want, double mag) {
    return fabs((double)got - want) <= 1e-5 * mag + 1e-30;
}

#define N_ACT 7 /* more than the 4 rows a multi kernel takes at once */

static void test_type(const gg_kernel_table *k, const char *lv, gg_type t, int which) {
    const gg_type_traits *ti = gg_type_info(t);
    gg_type at = ti->vec_dot_type;
    int64_t n = length(t, which);
    size_t as = gg_row_size(at, n);
    void *w = make_weights(t, n);
    float *x = malloc((size_t)n * N_ACT * sizeof *x);
    uint8_t *a = malloc(as * N_ACT), *a2 = malloc(as * N_ACT);
    for (int64_t i = 0; i < n * N_ACT; i++) x[i] = frand() * (i % 53 == 0 ? 5.0f : 1.0f);
    /* exact halves of the quantization step test rounding ties */
    for (int64_t i = 0; i < GG_MIN(n, 32); i++) x[i] = (float)(i % 8) * 0.5f - 2.0f;
    x[1] = 127.0f;
    for (int r = 0; r < N_ACT; r++) {
        gg_quantize_row_ref(at, x + r * n, a + r * as, n);
        k->quantize_act[at](x + r * n, a2 + r * as, n);
    }
    CHECKF(memcmp(a, a2, as * N_ACT) == 0, "%s quantize_act %s n=%lld differs", lv, gg_type_name(at),
           (long long)n);

    if (k->dequantize[t]) {
        float *d0 = malloc((size_t)n * sizeof *d0), *d1 = malloc((size_t)n * sizeof *d1);
        gg_dequantize_row_ref(t, w, d0, n);
        k->dequantize[t](w, d1, n);
        CHECKF(memcmp(d0, d1, (size_t)n * sizeof *d0) == 0, "%s dequantize %s n=%lld differs", lv,
               ti->name, (long long)n);
        free(d0);
        free(d1);
    }

    float multi[N_ACT];
    k->vec_dot_multi[t](n, multi, w, a, as, N_ACT);
    for (int r = 0; r < N_ACT; r++) {
        float ref, one;
        gg_vec_dot_ref(t, n, &ref, w, a + r * as);
        k->vec_dot[t](n, &one, w, a + r * as);
        double mag = magnitude(t, w, a + r * as, n);
        CHECKF(close_enough(one, ref, mag), "%s vec_dot %s n=%lld row %d: %.9g vs ref %.9g", lv,
               ti->name, (long long)n, r, one, ref);
        CHECKF(multi[r] == one, "%s vec_dot_multi %s n=%lld row %d: %.9g vs %.9g", lv, ti->name,
               (long long)n, r, multi[r], one);
    }
    free(w);
    free(x);
    free(a);
    free(a2);
}

/* gg_matmul_rows over a small matrix, a row range and 1 or 5 tokens,
 * compared with the reference dot of each row and token. */
static void test_matmul(const char *lv, gg_type t, int n_tok) {
    const int64_t rows = 21, cols = gg_type_info(t)->block_size == 1 ? 100 : 512;
    gg_type at = gg_type_info(t)->vec_dot_type;
    size_t rb = gg_row_size(t, cols), as = gg_row_size(at, cols);
    uint8_t *wd = malloc(rb * rows);
    for (int64_t r = 0; r < rows; r++) {
        void *row = make_weights(t, cols);
        memcpy(wd + r * rb, row, rb);
        free(row);
    }
    gg_matrix m = {wd, t, cols, rows, rb};
    float *x = malloc(sizeof(float) * cols);
    uint8_t *a = malloc(as * n_tok);
    for (int tk = 0; tk < n_tok; tk++) {
        for (int64_t i = 0; i < cols; i++) x[i] = frand();
        gg_quantize_row_ref(at, x, a + tk * as, cols);
    }
    const int64_t ldy = rows + 3, r0 = 2, r1 = 19;
    float *y = calloc((size_t)(ldy * n_tok), sizeof *y);
    gg_matmul_rows(&m, a, as, n_tok, y, ldy, r0, r1);
    int bad = 0;
    for (int tk = 0; tk < n_tok; tk++) {
        for (int64_t r = 0; r < rows; r++) {
            float got = y[tk * ldy + r], ref = 0;
            if (r < r0 || r >= r1) {
                if (got != 0) bad++; /* rows outside the range untouched */
                continue;
            }
            gg_vec_dot_ref(t, cols, &ref, wd + r * rb, a + tk * as);
            if (!close_enough(got, ref, magnitude(t, wd + r * rb, a + tk * as, cols))) bad++;
        }
    }
    CHECKF(bad == 0, "%s matmul_rows %s n_tok=%d: %d wrong", lv, gg_type_name(t), n_tok, bad);
    free(wd);
    free(x);
    free(a);
    free(y);
}

/* gg_gemm_rows (where the level has a packed kernel for t) against the
 * reference dot of each row and token, for widths of one segment and of
 * several (2304 = 2 * 1024 + 256) and, for 32-value blocks, an odd number
 * of 32-value blocks; 37 rows (whole 8- and 16-row panels and a part of
 * one). Then every batch of 1..N_TOK tokens (every tile remainder) over
 * an odd sub-range of rows must give the same bits as the whole batch.
 * The whole batch's output is kept per level (gemm_out) so that levels
 * whose products must agree bit for bit can be compared. */
#define N_TOK 70
#define G_ROWS 37
static const int64_t gemm_cols[] = {320, 768, 2304};
#define N_GCOLS 3
static int gemm_tested;
/* slots: one per level, then the AVX-512 level with its panels built
 * without GFNI (GEMM_NO_GFNI) */
#define GEMM_NO_GFNI (GG_SIMD_AVX512 + 1)
static float *gemm_out[GEMM_NO_GFNI + 1][GG_TYPE_COUNT][N_GCOLS];

static const char *slot_name(int slot) {
    return slot == GEMM_NO_GFNI ? "avx512 without GFNI" : gg_simd_name((gg_simd)slot);
}

static void test_gemm(int lvl, const char *lv, gg_type t, int ci) {
    const int64_t cols = gemm_cols[ci], rows = G_ROWS;
    const int n_tok = N_TOK;
    if (cols % gg_type_info(t)->block_size != 0) return;
    rng = 0x9e3779b97f4a7c15ull + 1000003ull * (uint64_t)(t * N_GCOLS + ci);
    gg_type at = gg_type_info(t)->vec_dot_type;
    size_t rb = gg_row_size(t, cols), as = gg_row_size(at, cols);
    uint8_t *wd = malloc(rb * rows);
    for (int64_t r = 0; r < rows; r++) {
        void *row = make_weights(t, cols);
        memcpy(wd + r * rb, row, rb);
        free(row);
    }
    gg_matrix m = {wd, t, cols, rows, rb};
    size_t ps = gg_gemm_act_size(&m);
    if (!ps) {
        free(wd);
        return;
    }
    gemm_tested++;
    float *x = malloc(sizeof(float) * cols * n_tok);
    uint8_t *a = malloc(as * n_tok), *p = malloc(ps * n_tok);
    for (int tk = 0; tk < n_tok; tk++) {
        for (int64_t i = 0; i < cols; i++) x[tk * cols + i] = frand() * (i % 37 == 0 ? 5.0f : 1.0f);
        gg_quantize_row_ref(at, x + tk * cols, a + tk * as, cols);
        gg_gemm_pack_act(&m, x + tk * cols, p + tk * ps);
    }
    const int64_t ldy = rows + 1;
    float *y = calloc((size_t)(ldy * n_tok), sizeof *y), *y1 = calloc((size_t)(ldy * n_tok), sizeof *y1);
    gg_gemm_rows(&m, p, ps, n_tok, y, ldy, 0, rows);
    int bad = 0, differ = 0;
    for (int tk = 0; tk < n_tok; tk++) {
        for (int64_t r = 0; r < rows; r++) {
            float ref = 0;
            gg_vec_dot_ref(t, cols, &ref, wd + r * rb, a + tk * as);
            if (!close_enough(y[tk * ldy + r], ref, magnitude(t, wd + r * rb, a + tk * as, cols))) bad++;
        }
    }
    for (int n = 1; n <= n_tok; n++) {
        const int first = (n * 7) % (n_tok - n + 1); /* tokens first..first+n-1 */
        memset(y1, 0, sizeof(float) * (size_t)(ldy * n_tok));
        gg_gemm_rows(&m, p + (size_t)first * ps, ps, n, y1, ldy, 3, rows);
        for (int tk = 0; tk < n; tk++) {
            const float *got = y1 + tk * ldy, *want = y + (first + tk) * ldy;
            for (int64_t r = 3; r < rows; r++) differ += memcmp(&got[r], &want[r], 4) != 0;
            differ += got[0] != 0 || got[1] != 0 || got[2] != 0 || got[rows] != 0;
        }
    }
    CHECKF(bad == 0, "%s gemm %s cols=%lld: %d wrong", lv, gg_type_name(t), (long long)cols, bad);
    CHECKF(differ == 0, "%s gemm %s cols=%lld: %d differ from the whole batch", lv, gg_type_name(t),
           (long long)cols, differ);
    gemm_out[lvl][t][ci] = y;
    free(wd);
    free(x);
    free(a);
    free(p);
    free(y1);
}

/* The packed products of every level run the same operations per lane
 * (gemm_tile_x86.h): the vpmaddubsw and vpdpbusd instances of the 256-bit
 * products and the 512-bit ones, whose panels some types build another
 * way, give the same bits (on the same weights and activations: the
 * generator is reseeded per level). */
static void test_gemm_same(int l1, int l2) {
    int compared = 0;
    for (int t = 0; t < GG_TYPE_COUNT; t++)
        for (int ci = 0; ci < N_GCOLS; ci++) {
            const float *u = gemm_out[l1][t][ci], *v = gemm_out[l2][t][ci];
            if (!u || !v) continue;
            compared++;
            CHECKF(memcmp(u, v, sizeof(float) * (size_t)((G_ROWS + 1) * N_TOK)) == 0,
                   "gemm %s cols=%lld: %s and %s differ", gg_type_name((gg_type)t),
                   (long long)gemm_cols[ci], slot_name(l1), slot_name(l2));
        }
    CHECKF(compared > 0, "no products compared between %s and %s", slot_name(l1), slot_name(l2));
}

static bool is_k_quant(gg_type t) {
    return t == GG_TYPE_Q2_K || t == GG_TYPE_Q3_K || t == GG_TYPE_Q4_K || t == GG_TYPE_Q5_K ||
           t == GG_TYPE_Q6_K;
}

/* Every type of dot_types has SIMD dot products at every level (not the
 * reference left in place); at the AVX-512 levels the K-quants have
 * 512-bit ones, not AVX2's (`avx2`). Packed products: at avx2, the
 * vpmaddubsw ones for every quantized type but Q8_0, which the plain
 * AVX-512 level keeps (`plain` has them too); at avxvnni, the vpdpbusd
 * ones for all, Q8_0 included; at the full level on a CPU with VNNI, the
 * 512-bit ones and 512-bit dot products of their own, not the plain
 * level's. */
static void test_dispatch(const gg_kernel_table *k, gg_simd lvl, const gg_kernel_table *avx2,
                          const gg_kernel_table *plain, const char *lv) {
    const bool vnni = gg_cpu_get()->avx512vnni;
    gg_kernel_table ref;
    memset(&ref, 0, sizeof ref);
    gg_kernels_fill_ref(&ref);
    /* attention: a SIMD kernel at every level; int8 scores with single
     * precision values (I8F) at avxvnni only, the AVX-512 forms at avx512 */
    CHECKF(k->attn_block != ref.attn_block, "%s: scalar attention", lv);
    CHECKF(k->attn_forms[GG_ATTN_I8F] == (lvl == GG_SIMD_AVXVNNI), "%s: attention form I8F %s", lv,
           lvl == GG_SIMD_AVXVNNI ? "missing" : "present");
    CHECKF(!k->attn_forms[GG_ATTN_I8] || lvl == GG_SIMD_AVX512, "%s: attention form I8", lv);
    /* int8 scores and values (I8V) wherever vpdpbusd is: avxvnni, and avx512 with VNNI */
    CHECKF(k->attn_forms[GG_ATTN_I8V] == (lvl == GG_SIMD_AVXVNNI || (lvl == GG_SIMD_AVX512 && vnni)),
           "%s: attention form I8V %s", lv, k->attn_forms[GG_ATTN_I8V] ? "present" : "missing");
    if (lvl == GG_SIMD_AVXVNNI && avx2)
        CHECKF(k->attn_block != avx2->attn_block, "%s: avx2's attention", lv);
    for (size_t i = 0; i < GG_ARRAY_LEN(dot_types); i++) {
        gg_type t = dot_types[i];
        const char *name = gg_type_name(t);
        const bool quant = gg_type_info(t)->block_size > 1;
        const bool offset = t == GG_TYPE_Q4_1 || t == GG_TYPE_Q5_1;
        CHECKF(k->vec_dot[t] && k->vec_dot[t] != ref.vec_dot[t] && k->vec_dot_multi[t],
               "%s %s: no SIMD dot product", lv, name);
        if (quant && !offset) {
            const bool full = lvl == GG_SIMD_AVXVNNI || (lvl == GG_SIMD_AVX512 && vnni);
            const bool want = full || t != GG_TYPE_Q8_0;
            CHECKF((k->gemm[t] != NULL) == want, "%s %s: %s packed kernel", lv, name, want ? "no" : "a");
            if (lvl == GG_SIMD_AVXVNNI && avx2 && t != GG_TYPE_Q8_0)
                CHECKF(k->gemm[t] != avx2->gemm[t], "%s %s: the avx2 packed kernel", lv, name);
            if ((lvl == GG_SIMD_AVX512_PLAIN || (lvl == GG_SIMD_AVX512 && !vnni)) && avx2)
                CHECKF(k->gemm[t] == avx2->gemm[t], "%s %s: not the avx2 packed kernel", lv, name);
            if (lvl == GG_SIMD_AVX512 && vnni && avx2)
                CHECKF(k->gemm[t] != avx2->gemm[t], "%s %s: the avx2 packed kernel", lv, name);
            /* the few-token products go with vpmaddubsw's, and only them */
            const bool few = want && (lvl == GG_SIMD_AVX2 || lvl == GG_SIMD_AVX512_PLAIN ||
                                      (lvl == GG_SIMD_AVX512 && !vnni));
            CHECKF((k->gemm_few[t] != NULL) == few, "%s %s: %s few-token product", lv, name,
                   few ? "no" : "a");
        }
        if (lvl < GG_SIMD_AVX512_PLAIN || !is_k_quant(t)) continue;
        CHECKF(avx2 && k->vec_dot[t] != avx2->vec_dot[t] &&
                   k->vec_dot_multi[t] != avx2->vec_dot_multi[t],
               "%s %s: the AVX2 kernel, not a 512-bit one", lv, name);
        if (lvl == GG_SIMD_AVX512 && vnni)
            CHECKF(plain && k->vec_dot_multi[t] != plain->vec_dot_multi[t], "%s %s: the plain kernel",
                   lv, name);
    }
}

/* A case of blocked attention: nq queries over the keys and values of a
 * sequence of NKV rows (odd, and not whole blocks), query g over keys
 * [lo[g], hi[g]). shape 0: all keys (an encoder); 1: causal, query g at
 * position off + g; 2: a window of 7 either side around position off +
 * g. Rows ld = d (each head's keys contiguous, as the forward pass lays
 * them out: read in place) or d + 5 apart (copied block by block); kp,
 * vp: them packed (gg_attn_pack) for the form run. */
enum { NKV = 317 };
typedef struct attn_case {
    int d, nq, shape, off;
    float slope;
    size_t ld;
    float *k, *v, *q, *out, *kp, *vp;
    gg_attn_form form;
    int lo[GG_ATTN_Q_MAX], hi[GG_ATTN_Q_MAX];
} attn_case;

static void attn_case_make(attn_case *c, int d, int nq, int shape, float slope, bool packed,
                           gg_attn_form form) {
    c->d = d, c->nq = nq, c->shape = shape, c->slope = slope;
    c->ld = (size_t)d + (packed ? 0 : 5);
    c->off = shape == 1 ? NKV - nq : 40;
    c->k = malloc(sizeof(float) * c->ld * NKV), c->v = malloc(sizeof(float) * c->ld * NKV);
    c->q = malloc(sizeof(float) * c->ld * (size_t)nq),
    c->out = malloc(sizeof(float) * c->ld * (size_t)nq);
    /* keys with a common part (which I8 takes out) on top of their own */
    for (size_t i = 0; i < c->ld * NKV; i++)
        c->k[i] = 2 * frand() + (float)(i % c->ld % 3), c->v[i] = frand();
    for (size_t i = 0; i < c->ld * (size_t)nq; i++) c->q[i] = 2 * frand();
    for (int g = 0; g < nq; g++) {
        const int pos = c->off + g;
        c->lo[g] = shape == 2 ? GG_MAX(0, pos - 7) : 0;
        c->hi[g] = shape == 0 ? NKV : shape == 1 ? pos + 1 : GG_MIN(NKV, pos + 8);
    }
    c->form = gg_attn_has(form, d) ? form : GG_ATTN_F32;
    c->kp = malloc(sizeof(float) * (size_t)d * NKV), c->vp = malloc(sizeof(float) * (size_t)d * NKV);
    for (int j = 0; j < NKV; j++) {
        memcpy(c->kp + (size_t)j * d, c->k + (size_t)j * c->ld, sizeof(float) * (size_t)d);
        memcpy(c->vp + (size_t)j * d, c->v + (size_t)j * c->ld, sizeof(float) * (size_t)d);
    }
    gg_attn_pack(c->form, c->kp, c->vp, NKV, d);
}

static void attn_case_free(attn_case *c) {
    free(c->k), free(c->v), free(c->q), free(c->out), free(c->kp), free(c->vp);
}

/* Queries [g0, g0 + nq) of the case through gg_attn_block in form (F32
 * or the case's), into out. */
static void attn_case_run(const attn_case *c, int g0, int nq, float *out, float *scratch,
                          gg_attn_form form) {
    const bool f32 = form == GG_ATTN_F32;
    gg_attn_block_args r = {
        .nq = nq,
        .q = c->q + (size_t)g0 * c->ld,
        .ld_q = c->ld,
        .out = out + (size_t)g0 * c->ld,
        .ld_out = c->ld,
        .lo = c->lo + g0,
        .hi = c->hi + g0,
        .k = f32 ? c->k : c->kp,
        .v = f32 ? c->v : c->vp,
        .ld_k = c->ld,
        .ld_v = c->ld,
        .d = c->d,
        .scale = 0.125f,
        .alibi_slope = c->slope,
        .pos0 = c->off + g0,
        .form = form,
        .scratch = scratch,
    };
    gg_attn_block(&r);
}

/* x rounded to bfloat16, n values. */
static void round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = gg_bf16_to_float(gg_float_to_bf16(x[i]));
}

/* Rows [0, n) of x (d wide, ld apart) less mean (NULL: none), each
 * rounded to 127 steps of its largest magnitude: form I8's rows. */
static void round_i8(float *x, int n, int d, size_t ld, const float *mean) {
    for (int j = 0; j < n; j++) {
        float *r = x + (size_t)j * ld, amax = 0.0f;
        for (int c = 0; c < d; c++) r[c] -= mean ? mean[c] : 0.0f, amax = fmaxf(amax, fabsf(r[c]));
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int c = 0; c < d; c++) r[c] = nearbyintf(r[c] * inv) * (amax / 127.0f);
    }
}

/* Values as form I8V keeps them (attn_pack_values_i8): each column in
 * 127 steps of its largest magnitude over the n rows, then each row of
 * those in 127 steps of its own; the same operations, so the same
 * roundings. */
static void round_i8v(float *v, int n, int d, size_t ld) {
    float cmax[300] = {0};
    for (int j = 0; j < n; j++)
        for (int c = 0; c < d; c++) cmax[c] = fmaxf(cmax[c], fabsf(v[(size_t)j * ld + c]));
    for (int j = 0; j < n; j++) {
        float *r = v + (size_t)j * ld, amax = 0.0f, x[300];
        for (int c = 0; c < d; c++)
            x[c] = r[c] * (cmax[c] > 0.0f ? 127.0f / cmax[c] : 0.0f), amax = fmaxf(amax, fabsf(x[c]));
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int c = 0; c < d; c++) r[c] = nearbyintf(x[c] * inv) * (amax / 127.0f) * (cmax[c] / 127.0f);
    }
}

/* Blocked attention against the scalar definition (gg_attn_row_ref over
 * each query's own keys, ALiBi as its bias), for head widths with and
 * without a tail, all keys, causal and windowed ranges. In a packed form
 * where the level has it (gg_attn_has), the definition is taken over
 * query, key and value rows rounded as the kernel multiplies them (BF16:
 * to bfloat16; I8: queries, and keys less their mean, to int8 steps,
 * values to bfloat16); what is left is the weights' own rounding to
 * bfloat16 (relative 2^-9 each, with the sum of the weights as rounded):
 * a weighted average moves by at most 2 x 2^-9 x the spread of the
 * values (2 here), 2^-8. I8V: values as it rounds them (round_i8v), and
 * each weight times its key's row step rounded to 255 steps of the
 * block's largest: at most half a step each, 16 a block, so a query
 * moves by at most 8 / 255 of the largest value magnitude (1 here) times
 * the sum over blocks of their largest weights over the sum of all
 * weights (at most 1); those roundings being independent, the rms over a
 * case must also stay below 2^-8 (measured: up to 0.0014, where a
 * query's weight is in one or two blocks). And the packed
 * form must differ from single precision somewhere (it is the one that
 * ran). */
static void test_attn(const char *lv, gg_attn_form form) {
    static const int ds[] = {32, 64, 80, 128, 300};
    static const int nqs[] = {1, 5, 16, 37, 64, GG_ATTN_Q_MAX};
    int bad = 0, cases = 0, differ = 0, packed_cases = 0;
    float worst = 0.0f, worst_rms = 0.0f;
    for (size_t a = 0; a < GG_ARRAY_LEN(ds); a++)
        /* a width without the form runs in F32, which form F32 tests */
        if (gg_attn_has(form, ds[a]))
            for (size_t b = 0; b < GG_ARRAY_LEN(nqs); b++)
                for (int shape = 0; shape < 3; shape++)
                    for (int alibi = 0; alibi < 2; alibi++)
                        for (int packed = 0; packed < 2; packed++) {
                            attn_case c;
                            attn_case_make(&c, ds[a], nqs[b], shape, alibi ? 0.0625f : 0.0f, packed,
                                           form);
                            const bool pk = c.form != GG_ATTN_F32, i8 = c.form == GG_ATTN_I8 ||
                                                                        c.form == GG_ATTN_I8F ||
                                                                        c.form == GG_ATTN_I8V;
                            /* bfloat16 weights (BF16, I8), single precision (F32, I8F), or
                             * weights in int8 steps (I8V) */
                            const float tol = c.form == GG_ATTN_I8V         ? 8.0f / 255 + 1e-5f
                                              : pk && c.form != GG_ATTN_I8F ? 1.0f / 256 + 1e-5f
                                                                            : 1e-5f;
                            double sq = 0;
                            float *scratch = malloc(sizeof(float) * gg_attn_scratch_floats(c.d));
                            float *one = malloc(sizeof(float) * (size_t)c.d), sc[NKV], bias[NKV];
                            const size_t nkv = c.ld * NKV, nq = c.ld * (size_t)c.nq;
                            float *k = malloc(sizeof(float) * nkv), *v = malloc(sizeof(float) * nkv);
                            float *q = malloc(sizeof(float) * nq), *f32 = malloc(sizeof(float) * nq);
                            memcpy(k, c.k, sizeof(float) * nkv), memcpy(v, c.v, sizeof(float) * nkv);
                            memcpy(q, c.q, sizeof(float) * nq);
                            if (c.form == GG_ATTN_BF16) round_bf16(k, nkv), round_bf16(q, nq);
                            if (i8) {
                                float mean[300] = {0}; /* as the kernel takes it: the sum, then over n */
                                for (int j = 0; j < NKV; j++)
                                    for (int i = 0; i < c.d; i++) mean[i] += k[(size_t)j * c.ld + i];
                                for (int i = 0; i < c.d; i++) mean[i] /= (float)NKV;
                                round_i8(k, NKV, c.d, c.ld, mean);
                                round_i8(q, c.nq, c.d, c.ld, NULL);
                            }
                            if (c.form == GG_ATTN_I8V) round_i8v(v, NKV, c.d, c.ld);
                            else if (pk && c.form != GG_ATTN_I8F) round_bf16(v, nkv);
                            attn_case_run(&c, 0, c.nq, c.out, scratch, c.form);
                            if (pk) attn_case_run(&c, 0, c.nq, f32, scratch, GG_ATTN_F32);
                            for (int g = 0; g < c.nq; g++) {
                                const int lo = c.lo[g], n = c.hi[g] - lo, pos = c.off + g;
                                for (int j = 0; j < n; j++)
                                    bias[j] = c.slope * -(float)abs(pos - (lo + j));
                                gg_attn_row_ref(q + (size_t)g * c.ld, k + (size_t)lo * c.ld, c.ld,
                                                v + (size_t)lo * c.ld, c.ld, n, c.d, 0.125f,
                                                alibi ? bias : NULL, sc, one);
                                const float *o = c.out + (size_t)g * c.ld;
                                for (int i = 0; i < c.d; i++) {
                                    bad += !(fabsf(one[i] - o[i]) <= tol);
                                    worst = fmaxf(worst, fabsf(one[i] - o[i]));
                                    sq += (double)(one[i] - o[i]) * (one[i] - o[i]);
                                }
                                if (pk)
                                    differ += memcmp(o, f32 + (size_t)g * c.ld,
                                                     sizeof(float) * (size_t)c.d) != 0;
                            }
                            cases++;
                            packed_cases += pk;
                            const float rms = (float)sqrt(sq / ((double)c.nq * c.d));
                            worst_rms = fmaxf(worst_rms, rms);
                            bad += c.form == GG_ATTN_I8V && !(rms <= 1.0f / 256);
                            free(scratch), free(one), free(k), free(v), free(q), free(f32);
                            attn_case_free(&c);
                        }
    static const char *names[] = {"", " (bf16)", " (i8)", " (i8f)", " (i8v)"};
    CHECKF(bad == 0,
           "%s attention%s: %d values off the reference (%d cases, %d packed; largest %g, rms of a "
           "case up to %g)",
           lv, names[form], bad, cases, packed_cases, (double)worst, (double)worst_rms);
    if (getenv("GGEMBED_TEST_VERBOSE"))
        printf("%s attention%s: largest difference %g, rms of a case up to %g\n", lv, names[form],
               (double)worst, (double)worst_rms);
    CHECKF(packed_cases == 0 || differ > 0, "%s attention%s: the same as single precision", lv,
           names[form]);
}

/* A query's result is the same, bit for bit, alone and with any others
 * in the call: every query of a call of 1 to GG_ATTN_Q_MAX against the
 * same query alone and in a call of the queries from it on (other tile
 * lanes, other neighbours), over all the shapes of attn_case (in calls
 * of more than 40, every third query, every lane of a tile in turn, and
 * the last). */
static void test_attn_alone(const char *lv, gg_attn_form form) {
    static const int ds[] = {64, 80, 128, 300};
    static const int nqs[] = {1, 3, 16, 17, 40, 130, GG_ATTN_Q_MAX};
    int bad = 0;
    for (size_t a = 0; a < GG_ARRAY_LEN(ds); a++)
        if (gg_attn_has(form, ds[a]))
            for (size_t b = 0; b < GG_ARRAY_LEN(nqs); b++)
                for (int shape = 0; shape < 3; shape++)
                    for (int alibi = 0; alibi < 2; alibi++)
                        for (int packed = 0; packed < 2; packed++) {
                            attn_case c;
                            attn_case_make(&c, ds[a], nqs[b], shape, alibi ? 0.25f : 0.0f, packed, form);
                            float *scratch = malloc(sizeof(float) * gg_attn_scratch_floats(c.d));
                            float *other = malloc(sizeof(float) * c.ld * (size_t)c.nq);
                            attn_case_run(&c, 0, c.nq, c.out, scratch, c.form);
                            for (int g = 0; g<c.nq; g += c.nq> 40 && g + 3 < c.nq ? 3 : 1) {
                                const size_t row = (size_t)g * c.ld, bytes = sizeof(float) * (size_t)c.d;
                                attn_case_run(&c, g, 1, other, scratch, c.form);
                                bad += memcmp(other + row, c.out + row, bytes) != 0;
                                if (g % 5 == 3) { /* with the queries from g on */
                                    attn_case_run(&c, g, c.nq - g, other, scratch, c.form);
                                    bad += memcmp(other + row, c.out + row, bytes) != 0;
                                }
                            }
                            free(scratch), free(other);
                            attn_case_free(&c);
                        }
    CHECKF(bad == 0, "%s attention (form %d): %d queries differ from alone", lv, (int)form, bad);
}

/* Rounding through half precision must be exact; silu(g) * u within a
 * few ulp, over signs and magnitudes up to where exp saturates. */
static void test_elementwise(const char *lv) {
    enum { N = 1003 };
    float x[N], y[N], g1[N], g2[N], u[N];
    for (int i = 0; i < N; i++) {
        x[i] = y[i] = frand() * (float)(1 << (i % 20)) * 1e-4f;
        g1[i] = g2[i] = frand() * (float)(i % 200), u[i] = frand();
    }
    x[5] = y[5] = 70000.0f, x[6] = y[6] = 1e-7f, x[7] = y[7] = -6e-8f;
    gg_round_half_ref(x, N);
    gg_round_half(y, N);
    CHECKF(memcmp(x, y, sizeof x) == 0, "%s round_half differs from the reference", lv);
    static gg_half table[1 << 16];
    for (uint32_t i = 0; i < (1u << 16); i++) table[i] = (gg_half)(next_u32() & 0x3fff);
    float z1[N], z2[N];
    for (int i = 0; i < N; i++) z1[i] = z2[i] = frand() * 12.0f;
    z1[0] = z2[0] = -10.0f, z1[1] = z2[1] = 10.0f, z1[2] = z2[2] = 9.999f, z1[3] = z2[3] = -9.999f;
    gg_gelu_table_row_ref(z1, N, table);
    gg_gelu_table_row(z2, N, table);
    CHECKF(memcmp(z1, z2, sizeof z1) == 0, "%s gelu table differs from the reference", lv);
    gg_swiglu_ref(g1, u, N);
    gg_swiglu(g2, u, N);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double e = fabs((double)g1[i] - g2[i]) / (fabs((double)g1[i]) + 1e-30);
        if (e > worst) worst = e;
        bad += !(e <= 4e-7);
    }
    if (bad) printf("swiglu worst relative error %g\n", worst);
    CHECKF(bad == 0, "%s swiglu: %d values off", lv, bad);
}

/* Q8_K of a block whose largest magnitude is negative and appears twice
 * with both signs: the first one sets the sign of the scale. */
static void test_q8_K_sign(const gg_kernel_table *k, const char *lv) {
    float x[GG_QK_K];
    for (int i = 0; i < GG_QK_K; i++) x[i] = frand();
    x[10] = -3.0f;
    x[200] = 3.0f;
    gg_block_q8_K r, s;
    gg_quantize_row_ref(GG_TYPE_Q8_K, x, &r, GG_QK_K);
    k->quantize_act[GG_TYPE_Q8_K](x, &s, GG_QK_K);
    CHECKF(s.qs[10] == -127 && s.qs[200] == 127, "%s q8_K sign: %d %d", lv, s.qs[10], s.qs[200]);
    CHECKF(memcmp(&r, &s, sizeof r) == 0, "%s q8_K differs from the reference", lv);
    /* all zero: d = 0, no quants */
    memset(x, 0, sizeof x);
    k->quantize_act[GG_TYPE_Q8_K](x, &s, GG_QK_K);
    CHECKF(s.d == 0 && s.qs[5] == 0 && s.bsums[3] == 0, "%s q8_K of zeros", lv);
}

int main(void) {
    int tested = 0;
    const gg_kernel_table *avx2 = NULL, *plain = NULL;
    for (int lvl = GG_SIMD_AVX2; lvl <= GG_SIMD_AVX512; lvl++) {
        if (gg_kernels_select((gg_simd)lvl) != (gg_simd)lvl) {
            printf("level %s not available here: skipped\n", gg_simd_name((gg_simd)lvl));
            continue;
        }
        tested++;
        const gg_kernel_table *k = gg_kernels_get();
        const char *lv = gg_simd_name((gg_simd)lvl);
        test_dispatch(k, (gg_simd)lvl, avx2, plain, lv);
        if (lvl == GG_SIMD_AVX2) avx2 = k;
        if (lvl == GG_SIMD_AVX512_PLAIN) plain = k;
        for (size_t i = 0; i < GG_ARRAY_LEN(dot_types); i++) {
            for (int which = 0; which < 4; which++) test_type(k, lv, dot_types[i], which);
            test_matmul(lv, dot_types[i], 1);
            test_matmul(lv, dot_types[i], 5);
            for (int ci = 0; ci < N_GCOLS; ci++) test_gemm((gg_simd)lvl, lv, dot_types[i], ci);
        }
        test_q8_K_sign(k, lv);
        /* a level without a packed form would only run F32 again */
        for (int form = GG_ATTN_F32; form <= GG_ATTN_I8V; form++) {
            if (!gg_attn_has((gg_attn_form)form, 64)) continue;
            test_attn(lv, (gg_attn_form)form);
            test_attn_alone(lv, (gg_attn_form)form);
        }
        test_elementwise(lv);
#if defined(GG_HAVE_X86_KERNELS)
        /* the panels some types build with GFNI where the CPU has it, built
         * the other way (as on AVX-512 CPUs without GFNI): the same bits */
        if (lvl == GG_SIMD_AVX512 && !gg_cpu_get()->gfni)
            printf("no GFNI here: the AVX-512 panels' GFNI way is not tested\n");
        if (lvl == GG_SIMD_AVX512 && gg_cpu_get()->gfni) {
            gg_gemm_avx512_gfni(0);
            for (size_t i = 0; i < GG_ARRAY_LEN(dot_types); i++)
                for (int ci = 0; ci < N_GCOLS; ci++)
                    test_gemm(GEMM_NO_GFNI, "avx512 without GFNI", dot_types[i], ci);
            gg_gemm_avx512_gfni(-1);
            test_gemm_same(GG_SIMD_AVX512, GEMM_NO_GFNI);
        }
#endif
    }
    if (gemm_out[GG_SIMD_AVX2][GG_TYPE_Q4_K][1] && gemm_out[GG_SIMD_AVXVNNI][GG_TYPE_Q4_K][1])
        test_gemm_same(GG_SIMD_AVX2, GG_SIMD_AVXVNNI);
    /* the 512-bit products (other tiles for some types) against the 256-bit ones */
    if (gemm_out[GG_SIMD_AVX2][GG_TYPE_Q4_K][1] && gemm_out[GG_SIMD_AVX512][GG_TYPE_Q4_K][1])
        test_gemm_same(GG_SIMD_AVX2, GG_SIMD_AVX512);
    if (gemm_out[GG_SIMD_AVXVNNI][GG_TYPE_Q4_K][1] && gemm_out[GG_SIMD_AVX512][GG_TYPE_Q4_K][1])
        test_gemm_same(GG_SIMD_AVXVNNI, GG_SIMD_AVX512);
    for (int l = 0; l <= GEMM_NO_GFNI; l++)
        for (int t = 0; t < GG_TYPE_COUNT; t++)
            for (int ci = 0; ci < N_GCOLS; ci++) free(gemm_out[l][t][ci]);
    printf("levels tested: %d, packed products tested: %d\n", tested, gemm_tested);
    gg_kernels_select(GG_SIMD_AVX512);
    return check_done("test_kernels_simd");
}
