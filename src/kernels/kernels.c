/*
 * kernels.c - chooses between the scalar reference kernels and the SIMD
 * variants, and the entry points that go through that choice.
 *
 * There is one table per SIMD level: the reference fills every entry,
 * then each level's file overwrites the entries it speeds up. A table is
 * built once, on first use, under an atomic once-guard, so threads may
 * race on the first call. The level in use is the best the CPU supports,
 * capped by GGEMBED_SIMD=scalar|avx2|avxvnni|avx512-plain|avx512 if set; gg_kernels_select()
 * changes it (tests and benchmarks compare levels that way).
 */
#include "kernels_ref.h"

#include "../platform/platform.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_LEVELS 5

static gg_kernel_table tables[N_LEVELS];
static atomic_int table_state[N_LEVELS]; /* 0 not built, 1 being built, 2 ready */
static _Atomic(const gg_kernel_table *) active;
static atomic_int active_level;

static void attn_block_scalar(const gg_attn_block_args *a);

void gg_kernels_fill_ref(gg_kernel_table *t) {
    gg_ref_fill_quant(t);
    gg_ref_fill_dot(t);
    t->attn_block = attn_block_scalar;
    t->round_half = gg_round_half_ref;
    t->swiglu = gg_swiglu_ref;
    t->gelu_table_row = gg_gelu_table_row_ref;
}

/* Whether `level` is both compiled in and usable on this CPU and OS. */
static bool usable(gg_simd level) {
    if (level == GG_SIMD_SCALAR) return true;
#if defined(GG_HAVE_X86_KERNELS) && defined(GG_HAVE_SIMD_FILES)
    const gg_cpu_features *f = gg_cpu_get();
    if (!(f->avx2 && f->fma && f->f16c)) return false;
    switch (level) {
    case GG_SIMD_AVX2: return true;
    case GG_SIMD_AVXVNNI: return f->avxvnni && gg_gemm_avxvnni_compiled();
    default: return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq;
    }
#else
    return false;
#endif
}

/* The highest usable level at most `cap`. */
static gg_simd best_level(gg_simd cap) {
    int l = cap > GG_SIMD_AVX512 ? GG_SIMD_AVX512 : cap < GG_SIMD_SCALAR ? GG_SIMD_SCALAR : cap;
    while (l > GG_SIMD_SCALAR && !usable((gg_simd)l)) l--;
    return (gg_simd)l;
}

static void build(gg_kernel_table *t, gg_simd level) {
    memset(t, 0, sizeof *t);
    gg_kernels_fill_ref(t);
#if defined(GG_HAVE_X86_KERNELS) && defined(GG_HAVE_SIMD_FILES)
    if (level >= GG_SIMD_AVX2) {
        gg_kernels_fill_avx2(t);
        gg_gemm_fill_avx2(t, level == GG_SIMD_AVXVNNI);
        if (level != GG_SIMD_AVXVNNI) gg_gemm_few_fill_avx2(t);
        gg_attn_fill_avx2(t);
        if (level == GG_SIMD_AVXVNNI) gg_attn_fill_avxvnni(t);
    }
    if (level >= GG_SIMD_AVX512_PLAIN) {
        const bool ext = level >= GG_SIMD_AVX512;
        gg_kernels_fill_avx512(t, ext);
        gg_gemm_fill_avx512(t, ext);
        gg_attn_fill_avx512(t, ext);
    }
#else
    (void)level;
#endif
}

/* The table of `level`, built by whichever thread gets here first; the
 * others wait for it (building takes microseconds). */
static const gg_kernel_table *table_for(gg_simd level) {
    atomic_int *state = &table_state[level];
    if (atomic_load_explicit(state, memory_order_acquire) == 2) return &tables[level];
    int expected = 0;
    if (atomic_compare_exchange_strong(state, &expected, 1)) {
        build(&tables[level], level);
        atomic_store_explicit(state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(state, memory_order_acquire) != 2) gg_cpu_relax();
    }
    return &tables[level];
}

/* GGEMBED_SIMD's values, lowest first (gg_simd_name gives the same names). */
static const gg_simd env_levels[] = {GG_SIMD_SCALAR, GG_SIMD_AVX2, GG_SIMD_AVXVNNI, GG_SIMD_AVX512_PLAIN,
                                     GG_SIMD_AVX512};

/* Returns 1 and the level GGEMBED_SIMD names in *out; 0 when it names none. */
static int env_level(const char *v, gg_simd *out) {
    for (size_t i = 0; i < sizeof env_levels / sizeof env_levels[0]; i++)
        if (strcmp(v, gg_simd_name(env_levels[i])) == 0) return *out = env_levels[i], 1;
    return 0;
}

/* An unknown value caps nothing here; ggembed_open refuses it first
 * (gg_kernels_env_bad), so a typo is an error rather than a silent
 * full-speed run. */
static gg_simd env_cap(void) {
    const char *v = getenv("GGEMBED_SIMD");
    gg_simd level = GG_SIMD_AVX512;
    if (v) env_level(v, &level);
    return level;
}

const char *gg_kernels_env_bad(void) {
    const char *v = getenv("GGEMBED_SIMD");
    gg_simd level;
    return v && !env_level(v, &level) ? v : NULL;
}

static gg_simd use_level(gg_simd level) {
    const gg_kernel_table *t = table_for(level);
    atomic_store_explicit(&active_level, (int)level, memory_order_relaxed);
    atomic_store_explicit(&active, t, memory_order_release);
    return level;
}

gg_simd gg_kernels_select(gg_simd wanted) { return use_level(best_level(wanted)); }

const gg_kernel_table *gg_kernels_get(void) {
    const gg_kernel_table *t = atomic_load_explicit(&active, memory_order_acquire);
    if (t) return t;
    /* First use: racing threads all pick the same level and table. */
    use_level(best_level(env_cap()));
    return atomic_load_explicit(&active, memory_order_acquire);
}

gg_simd gg_kernels_level(void) {
    gg_kernels_get();
    return (gg_simd)atomic_load_explicit(&active_level, memory_order_relaxed);
}

const char *gg_simd_name(gg_simd level) {
    switch (level) {
    case GG_SIMD_SCALAR: return "scalar";
    case GG_SIMD_AVX2: return "avx2";
    case GG_SIMD_AVXVNNI: return "avxvnni";
    case GG_SIMD_AVX512_PLAIN: return "avx512-plain";
    case GG_SIMD_AVX512: return "avx512";
    }
    return "unknown";
}

/* A type without a kernel reaching here is a bug in the caller, which
 * must check gg_type_info()->can_compute first; carrying on would give
 * silently wrong numbers. */
static void no_kernel(const char *what, gg_type t) {
    fprintf(stderr, "ggembed: no %s kernel for type %s\n", what, gg_type_name(t));
    abort();
}

void gg_dequantize_row(gg_type t, const void *src, float *dst, int64_t n) {
    const gg_kernel_table *k = gg_kernels_get();
    if ((unsigned)t >= GG_TYPE_COUNT || !k->dequantize[t]) no_kernel("dequantize", t);
    k->dequantize[t](src, dst, n);
}

void gg_quantize_act(gg_type vec_dot_type, const float *src, void *dst, int64_t n) {
    const gg_kernel_table *k = gg_kernels_get();
    if ((unsigned)vec_dot_type >= GG_TYPE_COUNT || !k->quantize_act[vec_dot_type]) {
        no_kernel("quantize", vec_dot_type);
    }
    k->quantize_act[vec_dot_type](src, dst, n);
}

void gg_vec_dot(gg_type t, int64_t n, float *s, const void *w, const void *a) {
    const gg_kernel_table *k = gg_kernels_get();
    if ((unsigned)t >= GG_TYPE_COUNT || !k->vec_dot[t]) no_kernel("vec_dot", t);
    k->vec_dot[t](n, s, w, a);
}

/* ---------------- matrix rows ---------------- */

/* A tile of ROW_TILE weight rows stays in cache while every token passes
 * over it; with a multi-token kernel, tokens go TOK_CHUNK at a time. */
#define ROW_TILE 16
#define TOK_CHUNK 32

static void tile_multi(gg_vec_dot_multi_fn multi, const gg_matrix *w, const uint8_t *a, size_t a_stride,
                       int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    float s[TOK_CHUNK];
    for (int t0 = 0; t0 < n_tok; t0 += TOK_CHUNK) {
        int nt = GG_MIN(TOK_CHUNK, n_tok - t0);
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
            multi(w->cols, s, row, a + (size_t)t0 * a_stride, a_stride, nt);
            for (int k = 0; k < nt; k++) y[(int64_t)(t0 + k) * ldy + r] = s[k];
        }
    }
}

static void tile_single(gg_vec_dot_fn dot, const gg_matrix *w, const uint8_t *a, size_t a_stride,
                        int n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int t = 0; t < n_tok; t++) {
        const uint8_t *act = a + (size_t)t * a_stride;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
            dot(w->cols, &y[(int64_t)t * ldy + r], row, act);
        }
    }
}

void gg_matmul_rows(const gg_matrix *w, const void *a, size_t a_stride, int n_tok, float *y, int64_t ldy,
                    int64_t r0, int64_t r1) {
    const gg_kernel_table *k = gg_kernels_get();
    gg_type t = w->type;
    if ((unsigned)t >= GG_TYPE_COUNT || !k->vec_dot[t]) no_kernel("vec_dot", t);
    gg_vec_dot_multi_fn multi = k->vec_dot_multi[t];
    for (int64_t rb = r0; rb < r1; rb += ROW_TILE) {
        int64_t re = GG_MIN(rb + ROW_TILE, r1);
        if (multi && n_tok > 1) {
            tile_multi(multi, w, a, a_stride, n_tok, y, ldy, rb, re);
        } else {
            tile_single(k->vec_dot[t], w, a, a_stride, n_tok, y, ldy, rb, re);
        }
    }
}

/* ---------------- packed products ---------------- */

size_t gg_gemm_act_size(const gg_matrix *w) {
    const gg_kernel_table *k = gg_kernels_get();
    gg_type t = w->type;
    if ((unsigned)t >= GG_TYPE_COUNT || !k->gemm[t] || w->cols % 64 != 0) return 0;
    gg_type vdt = gg_type_info(t)->vec_dot_type;
    if (!k->gemm_pack[vdt] || !k->gemm_act_bytes) return 0;
    return k->gemm_act_bytes(vdt, w->cols);
}

void gg_gemm_pack_act(const gg_matrix *w, const float *x, void *dst) {
    const gg_kernel_table *k = gg_kernels_get();
    k->gemm_pack[gg_type_info(w->type)->vec_dot_type](x, dst, w->cols);
}

void gg_gemm_rows(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y, int64_t ldy,
                  int64_t r0, int64_t r1) {
    const gg_kernel_table *k = gg_kernels_get();
    if (n_tok <= GG_GEMM_FEW_TOKENS && k->gemm_few[w->type])
        k->gemm_few[w->type](w, act, stride, n_tok, y, ldy, r0, r1);
    else k->gemm[w->type](w, act, stride, n_tok, y, ldy, r0, r1);
}

/* ---------------- attention ---------------- */

void gg_attn_row_ref(const float *q, const float *k, size_t ld_k, const float *v, size_t ld_v, int n,
                     int d, float scale, const float *bias, float *scores, float *out) {
    float max = -INFINITY;
    for (int j = 0; j < n; j++) {
        float s;
        gg_vec_dot(GG_TYPE_F32, d, &s, k + (size_t)j * ld_k, q);
        s *= scale;
        if (bias) s += bias[j];
        scores[j] = s;
        if (s > max) max = s;
    }
    double sum = 0;
    for (int j = 0; j < n; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    float inv = (float)(1.0 / sum);
    memset(out, 0, sizeof(float) * (size_t)d);
    for (int j = 0; j < n; j++) {
        const float *vr = v + (size_t)j * ld_v;
        float p = scores[j] * inv;
        for (int c = 0; c < d; c++) out[c] += p * vr[c];
    }
}

/* gg_attn_block one query at a time, in the same blocks of keys as the
 * vector kernels: the scalar level's. */
static void attn_block_scalar(const gg_attn_block_args *a) {
    const int d = a->d;
    float *acc = a->scratch, *s = acc + d;
    for (int g = 0; g < a->nq; g++) {
        const float *q = a->q + (size_t)g * a->ld_q;
        const int lo = a->lo[g], hi = a->hi[g], pos = a->pos0 + g;
        float m = -INFINITY, l = 0.0f;
        memset(acc, 0, sizeof(float) * (size_t)d);
        for (int j0 = lo - lo % GG_ATTN_KEYS; j0 < hi; j0 += GG_ATTN_KEYS) {
            const int b0 = j0 > lo ? j0 : lo, b1 = j0 + GG_ATTN_KEYS < hi ? j0 + GG_ATTN_KEYS : hi;
            float bm = -INFINITY;
            for (int j = b0; j < b1; j++) {
                float x;
                gg_vec_dot(GG_TYPE_F32, d, &x, a->k + (size_t)j * a->ld_k, q);
                x *= a->scale;
                if (a->alibi_slope != 0.0f) x += a->alibi_slope * -(float)abs(pos - j);
                s[j - b0] = x;
                if (x > bm) bm = x;
            }
            if (bm > m) { /* a new maximum: what was summed shrinks by exp(m - bm) */
                const float alpha = expf(m - bm);
                l *= alpha;
                for (int c = 0; c < d; c++) acc[c] *= alpha;
                m = bm;
            }
            for (int j = b0; j < b1; j++) {
                const float p = expf(s[j - b0] - m), *vr = a->v + (size_t)j * a->ld_v;
                l += p;
                for (int c = 0; c < d; c++) acc[c] += p * vr[c];
            }
        }
        const float inv = 1.0f / l;
        float *out = a->out + (size_t)g * a->ld_out;
        for (int c = 0; c < d; c++) out[c] = acc[c] * inv;
    }
}

size_t gg_attn_scratch_floats(int d) {
    /* the vector kernels' (attn_scratch, attn_x86.h): per 16 queries
     * their transposed rows and sums (2 x 16 d), the block of keys and of
     * values (2 x 16 d), the block's weights (16 x 16); for the packed
     * forms the queries' operands (8 d per 16 queries) and the weights'
     * pairs (8 x 16); the scalar one needs d + 16 */
    return (size_t)(2 * GG_ATTN_Q_MAX + 2 * GG_ATTN_KEYS) * (size_t)d + 16 * 16 + 64 +
           (size_t)(GG_ATTN_Q_MAX / 2) * (size_t)d + 8 * 16;
}

void gg_attn_block(const gg_attn_block_args *a) { gg_kernels_get()->attn_block(a); }

bool gg_attn_has(gg_attn_form form, int d) {
    if (form == GG_ATTN_F32) return true;
    return gg_kernels_get()->attn_forms[form] && (d == 64 || d == 128);
}

void gg_attn_pack(gg_attn_form form, float *k, float *v, int n, int d) {
    if (form != GG_ATTN_F32) gg_kernels_get()->attn_pack(form, k, v, n, d);
}

/* ---------------- element-wise ---------------- */

void gg_round_half_ref(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = gg_half_to_float(gg_float_to_half(x[i]));
}
void gg_round_half(float *x, int64_t n) { gg_kernels_get()->round_half(x, n); }

void gg_swiglu_ref(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
void gg_swiglu(float *g, const float *u, int64_t n) { gg_kernels_get()->swiglu(g, u, n); }

void gg_gelu_table_row_ref(float *x, int64_t n, const gg_half *table) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f) x[i] = 0.0f;
        else if (v < 10.0f) x[i] = gg_half_to_float(table[gg_float_to_half(v)]);
    }
}
void gg_gelu_table_row(float *x, int64_t n, const gg_half *table) {
    gg_kernels_get()->gelu_table_row(x, n, table);
}
