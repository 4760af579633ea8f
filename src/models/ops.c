/*
 * ops.c - the forward-pass operations of ops.h. Work is split across the
 * pool in tasks that write disjoint outputs, so results do not depend on
 * the number of threads.
 */
#include "ops.h"

#include "../opprof.h"
#include "../platform/platform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- matrix products ---------------- */

/* The products of one call share the input, and so one quantization of
 * it; their rows are cut into tasks as one row space (matrix 0's rows,
 * then matrix 1's, ...), guided: each task takes a share of the rows
 * still unassigned, largest first, so the threads' last tasks are small
 * and they finish together; the first tasks stay small enough
 * (1 / (GUIDE * threads)) that a descheduled thread holds up little. */
#define GUIDE 3
#define MIN_TASK_ROWS 32
#define MAX_TASKS 256

typedef struct mm_job {
    int n;
    const gg_mm_dst *d;
    const gg_matrix *w; /* d[0].w: its activation format is every product's */
    const float *in;
    int ld_in;
    int n_tok, t0;
    const uint8_t *act;
    size_t act_stride;
    gg_type vdt;
    bool packed; /* the gg_gemm_* path */
    uint8_t *act_dst;
    int n_tasks;
    int64_t task_end[MAX_TASKS + 1];  /* task i: rows [task_end[i-1], task_end[i]) of the row space */
    int64_t first_row[GG_MM_MAX + 1]; /* matrix k: rows [first_row[k], first_row[k+1]) */
} mm_job;

static size_t act_row_bytes(const gg_matrix *w) {
    size_t packed = gg_gemm_act_size(w);
    if (packed) return gg_align_up(packed, 64);
    const gg_type_traits *t = gg_type_info(w->type);
    return gg_align_up(gg_row_size(t->vec_dot_type, w->cols), 64);
}

size_t gg_matmul_scratch(const gg_matrix *w, int n_tok) { return act_row_bytes(w) * (size_t)n_tok; }

/* Whether a and b take the same packed or quantized activation row. */
static bool same_activation(const gg_matrix *a, const gg_matrix *b) {
    return a->cols == b->cols && (gg_gemm_act_size(a) != 0) == (gg_gemm_act_size(b) != 0) &&
           gg_type_info(a->type)->vec_dot_type == gg_type_info(b->type)->vec_dot_type;
}

static void quantize_task(void *ctx, int t, int thread) {
    (void)thread;
    mm_job *j = ctx;
    if (j->packed) {
        gg_gemm_pack_act(j->w, j->in + (size_t)t * j->ld_in, j->act_dst + (size_t)t * j->act_stride);
        return;
    }
    gg_quantize_act(j->vdt, j->in + (size_t)t * j->ld_in, j->act_dst + (size_t)t * j->act_stride,
                    j->w->cols);
}

/* Rows [r0, r1) of product k. */
static void product_rows(const mm_job *j, int k, int64_t r0, int64_t r1) {
    const gg_mm_dst *d = &j->d[k];
    float *out = d->out + (size_t)j->t0 * d->ld_out;
    if (j->packed) gg_gemm_rows(d->w, j->act, j->act_stride, j->n_tok, out, d->ld_out, r0, r1);
    else gg_matmul_rows(d->w, j->act, j->act_stride, j->n_tok, out, d->ld_out, r0, r1);
    if (!d->bias) return;
    for (int t = 0; t < j->n_tok; t++) {
        float *y = out + (size_t)t * d->ld_out;
        for (int64_t r = r0; r < r1; r++) y[r] += d->bias[r];
    }
}

static void rows_task(void *ctx, int task, int thread) {
    (void)thread;
    mm_job *j = ctx;
    const int64_t v0 = task ? j->task_end[task - 1] : 0, v1 = j->task_end[task];
    for (int k = 0; k < j->n; k++) { /* the products the task's rows fall in */
        const int64_t lo = GG_MAX(v0, j->first_row[k]), hi = GG_MIN(v1, j->first_row[k + 1]);
        if (lo < hi) product_rows(j, k, lo - j->first_row[k], hi - j->first_row[k]);
    }
}

/* Task boundaries, in multiples of 16 rows within each product so that
 * kernels working on row tiles see whole tiles. */
static void plan_tasks(mm_job *j, int n_threads) {
    j->first_row[0] = 0;
    for (int k = 0; k < j->n; k++) j->first_row[k + 1] = j->first_row[k] + j->d[k].w->rows;
    const int64_t total = j->first_row[j->n];
    int64_t v = 0;
    int k = 0;
    j->n_tasks = 0;
    while (v < total) {
        int64_t size = total;
        if (n_threads > 1 && j->n_tasks < MAX_TASKS - 1) {
            size = (total - v + GUIDE * n_threads - 1) / (GUIDE * n_threads);
            size = GG_MAX((size + 15) & ~(int64_t)15, MIN_TASK_ROWS);
        }
        int64_t end = GG_MIN(v + size, total);
        while (end > j->first_row[k + 1]) k++; /* the product the task ends in */
        const int64_t left = j->first_row[k + 1] - end;
        /* a product's last few rows do not make a task of their own; a
         * task ends on a tile of its last product (v is on one of its
         * first: where it started, or the product's start) */
        if (left > 0 && left < MIN_TASK_ROWS) end = j->first_row[k + 1];
        else if (left > 0) end -= (end - j->first_row[k]) % 16;
        j->task_end[j->n_tasks++] = end;
        v = end;
    }
}

void gg_op_matmul_n(gg_exec *ex, int n, const gg_mm_dst *d, const float *in, int ld_in, int n_tok) {
    /* products whose activation rows differ go one by one */
    for (int k = 1; k < n; k++)
        if (!same_activation(d[0].w, d[k].w)) {
            for (int i = 0; i < n; i++) gg_op_matmul_n(ex, 1, &d[i], in, ld_in, n_tok);
            return;
        }
    mm_job j = {.n = n, .d = d, .w = d[0].w, .in = in, .ld_in = ld_in};
    j.vdt = gg_type_info(j.w->type)->vec_dot_type;
    j.packed = gg_gemm_act_size(j.w) != 0;
    j.act_stride = act_row_bytes(j.w);
    plan_tasks(&j, ex->n_threads);
    int chunk = (int)(ex->act_cap / j.act_stride);
    if (chunk < 1) chunk = 1;
    for (int t0 = 0; t0 < n_tok; t0 += chunk) {
        j.t0 = t0;
        j.n_tok = GG_MIN(chunk, n_tok - t0);
        j.in = in + (size_t)t0 * ld_in;
        j.act_dst = ex->act;
        j.act = ex->act;
        int64_t pt = GG_PROF_START();
        gg_pool_run(ex->pool, j.n_tok, quantize_task, &j);
        GG_PROF_STOP(pt, "pack", j.w, ex->n_threads);
        pt = GG_PROF_START();
        gg_pool_run(ex->pool, j.n_tasks, rows_task, &j);
        GG_PROF_STOP(pt, n > 1 ? "matmul_n" : "matmul", j.w, ex->n_threads);
    }
}

void gg_op_matmul(gg_exec *ex, const gg_matrix *w, const float *bias, const float *in, int ld_in,
                  int n_tok, float *out, int ld_out) {
    const gg_mm_dst d = {.w = w, .bias = bias, .out = out, .ld_out = ld_out};
    gg_op_matmul_n(ex, 1, &d, in, ld_in, n_tok);
}

/* ---------------- norms ---------------- */

typedef struct norm_job {
    const float *in;
    float *out;
    int width;
    const float *g, *b;
    float eps;
} norm_job;

static void rmsnorm_task(void *ctx, int t, int thread);

static void layernorm_task(void *ctx, int t, int thread) {
    (void)thread;
    norm_job *j = ctx;
    float *x = j->out + (size_t)t * j->width;
    if (j->in != j->out) memcpy(x, j->in + (size_t)t * j->width, sizeof(float) * (size_t)j->width);
    double sum = 0;
    for (int i = 0; i < j->width; i++) sum += x[i];
    float mean = (float)(sum / j->width);
    double var = 0;
    for (int i = 0; i < j->width; i++) {
        x[i] -= mean;
        var += (double)x[i] * x[i];
    }
    float scale = 1.0f / sqrtf((float)(var / j->width) + j->eps);
    for (int i = 0; i < j->width; i++) {
        float v = x[i] * scale;
        if (j->g) v *= j->g[i];
        if (j->b) v += j->b[i];
        x[i] = v;
    }
}

void gg_op_layernorm(gg_exec *ex, float *x, int n_tok, int width, const float *g, const float *b,
                     float eps) {
    int64_t pt = GG_PROF_START();
    norm_job j = {.in = x, .out = x, .width = width, .g = g, .b = b, .eps = eps};
    gg_pool_run(ex->pool, n_tok, layernorm_task, &j);
    GG_PROF_STOP(pt, "layernorm", NULL, ex->n_threads);
}

void gg_op_norm(gg_exec *ex, bool rms, const float *in, float *out, int n_tok, int width, const float *g,
                const float *b, float eps) {
    int64_t pt = GG_PROF_START();
    norm_job j = {.in = in, .out = out, .width = width, .g = g, .b = b, .eps = eps};
    gg_pool_run(ex->pool, n_tok, rms ? rmsnorm_task : layernorm_task, &j);
    GG_PROF_STOP(pt, "norm", NULL, ex->n_threads);
}

static void rmsnorm_row(const float *in, float *out, int width, const float *g, float eps) {
    double sum = 0;
    for (int i = 0; i < width; i++) sum += (double)in[i] * in[i];
    float scale = 1.0f / sqrtf((float)(sum / width) + eps);
    for (int i = 0; i < width; i++) out[i] = in[i] * scale * (g ? g[i] : 1.0f);
}

static void rmsnorm_task(void *ctx, int t, int thread) {
    (void)thread;
    norm_job *j = ctx;
    size_t off = (size_t)t * j->width;
    rmsnorm_row(j->in + off, j->out + off, j->width, j->g, j->eps);
}

void gg_op_rmsnorm(gg_exec *ex, const float *in, float *out, int n_tok, int width, const float *g,
                   float eps) {
    int64_t pt = GG_PROF_START();
    norm_job j = {.in = in, .out = out, .width = width, .g = g, .eps = eps};
    gg_pool_run(ex->pool, n_tok, rmsnorm_task, &j);
    GG_PROF_STOP(pt, "rmsnorm", NULL, ex->n_threads);
}

void gg_op_rmsnorm_heads(float *x, int n_tok, int ld, int n_head, int d, const float *g, float eps) {
    for (int t = 0; t < n_tok; t++)
        for (int h = 0; h < n_head; h++) {
            float *row = x + (size_t)t * ld + (size_t)h * d;
            rmsnorm_row(row, row, d, g, eps);
        }
}

/* ---------------- per-token work ---------------- */

typedef struct tokens_job {
    gg_tokens_fn fn;
    void *ctx;
    int n_tok, span;
} tokens_job;

static void tokens_task(void *ctx, int task, int thread) {
    (void)thread;
    const tokens_job *j = ctx;
    const int t0 = task * j->span;
    j->fn(j->ctx, t0, GG_MIN(t0 + j->span, j->n_tok));
}

void gg_op_tokens(gg_exec *ex, const char *name, int n_tok, int span, gg_tokens_fn fn, void *ctx) {
    int64_t pt = GG_PROF_START();
    tokens_job j = {.fn = fn, .ctx = ctx, .n_tok = n_tok, .span = span};
    gg_pool_run(ex->pool, (n_tok + span - 1) / span, tokens_task, &j);
    GG_PROF_STOP(pt, name, NULL, ex->n_threads);
}

/* ---------------- element-wise ---------------- */

/* GELU goes through a table indexed by the input rounded to half
 * precision, as ggml computes it, so results track llama.cpp's and cost a
 * lookup instead of a tanh. Built once, before any thread uses it. */
static gg_half gelu_table[1 << 16];

void gg_ops_init(void) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (uint32_t i = 0; i < (1u << 16); i++) {
        float v = gg_half_to_float((gg_half)i);
        float g = 0.5f * v * (1.0f + tanhf(c * v * (1.0f + 0.044715f * v * v)));
        gelu_table[i] = gg_float_to_half(g);
    }
}

typedef struct ew_job {
    float *x;
    const float *y;
    size_t n;
    int kind;
} ew_job;

enum { EW_GELU, EW_SWIGLU, EW_GEGLU, EW_ADD };
#define EW_SPAN 4096

static void gelu_span(float *x, size_t n) { gg_gelu_table_row(x, (int64_t)n, gelu_table); }

static void ew_task(void *ctx, int task, int thread) {
    (void)thread;
    ew_job *j = ctx;
    size_t i0 = (size_t)task * EW_SPAN, n = GG_MIN(EW_SPAN, j->n - i0);
    float *x = j->x + i0;
    const float *y = j->y ? j->y + i0 : NULL;
    if (j->kind == EW_GELU) {
        gelu_span(x, n);
    } else if (j->kind == EW_SWIGLU) {
        gg_swiglu(x, y, (int64_t)n);
    } else if (j->kind == EW_GEGLU) {
        gelu_span(x, n);
        for (size_t i = 0; i < n; i++) x[i] *= y[i];
    } else {
        for (size_t i = 0; i < n; i++) x[i] += y[i];
    }
}

static void ew_run(gg_exec *ex, int kind, float *x, const float *y, size_t n) {
    int64_t pt = GG_PROF_START();
    ew_job j = {.x = x, .y = y, .n = n, .kind = kind};
    gg_pool_run(ex->pool, (int)((n + EW_SPAN - 1) / EW_SPAN), ew_task, &j);
    static const char *const names[] = {"gelu", "swiglu", "geglu", "add"};
    GG_PROF_STOP(pt, names[kind], NULL, ex->n_threads);
}

void gg_op_gelu(gg_exec *ex, float *x, size_t n) { ew_run(ex, EW_GELU, x, NULL, n); }
void gg_op_swiglu(gg_exec *ex, float *gate, const float *up, size_t n) {
    ew_run(ex, EW_SWIGLU, gate, up, n);
}
void gg_op_geglu(gg_exec *ex, float *gate, const float *up, size_t n) {
    ew_run(ex, EW_GEGLU, gate, up, n);
}
void gg_op_add(gg_exec *ex, float *x, const float *y, size_t n) { ew_run(ex, EW_ADD, x, y, n); }

/* ---------------- rotary embeddings ---------------- */

gg_rope gg_rope_plain(int n_rot, float base, bool neox) {
    return (gg_rope){.n_rot = n_rot,
                     .base = base,
                     .freq_scale = 1.0f,
                     .neox = neox,
                     .attn_factor = 1.0f,
                     .ext_factor = 0.0f};
}

/* The pair index whose angle turns `turns` full circles over n_ctx_orig
 * positions (solving n_ctx_orig * base^(-2i/n_rot) = turns * 2 pi for i),
 * in float as ggml computes it, so the range rounds to the same pairs. */
static float yarn_corr_dim(int n_rot, int n_ctx_orig, float turns, float base) {
    const float two_pi = 6.28318530717958647692f;
    return (float)n_rot * logf((float)n_ctx_orig / (turns * two_pi)) / (2.0f * logf(base));
}

void gg_rope_set_yarn(gg_rope *r, int n_ctx_orig, float beta_fast, float beta_slow) {
    float lo = floorf(yarn_corr_dim(r->n_rot, n_ctx_orig, beta_fast, r->base));
    float hi = ceilf(yarn_corr_dim(r->n_rot, n_ctx_orig, beta_slow, r->base));
    r->corr_lo = lo > 0.0f ? lo : 0.0f;
    r->corr_hi = hi < (float)(r->n_rot - 1) ? hi : (float)(r->n_rot - 1);
}

/* Per pair, the weight of the unscaled angle (YaRN's ramp times
 * ext_factor): 1 below corr_lo, 0 above corr_hi. */
static void yarn_mix(const gg_rope *r, float *mix) {
    const float width = fmaxf(0.001f, r->corr_hi - r->corr_lo);
    for (int p = 0; p < r->n_rot / 2; p++) {
        float y = ((float)p - r->corr_lo) / width;
        mix[p] = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * r->ext_factor;
    }
}

/* cos and sin of every pair's angle at position pos, times mscale. */
static void rope_angles(const gg_rope *r, float theta_scale, const float *mix, float mscale, int32_t pos,
                        float *cs, float *sn) {
    /* theta advances by repeated multiplication, as ggml does, so the
     * angles round the same way. */
    float theta = (float)pos;
    for (int p = 0; p < r->n_rot / 2; p++) {
        const float extrap = r->freq_factors ? theta / r->freq_factors[p] : theta;
        float th = extrap * r->freq_scale;
        if (mix) th = th * (1.0f - mix[p]) + extrap * mix[p];
        cs[p] = cosf(th) * mscale;
        sn[p] = sinf(th) * mscale;
        theta *= theta_scale;
    }
}

static void rotate_heads(const gg_rope *r, float *row, int n_head, int d, const float *cs,
                         const float *sn) {
    const int n_pair = r->n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = row + (size_t)h * d;
        for (int i = 0; i < r->n_rot; i += 2) {
            float c = cs[i / 2], s = sn[i / 2];
            int a = r->neox ? i / 2 : i;
            int b = r->neox ? i / 2 + n_pair : i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void gg_op_rope(float *x, int n_tok, int ld, int n_head, int d, const int32_t *pos,
                const gg_rope *rope) {
    if (rope->n_rot > 1024) { /* wider than the tables: one head at a time */
        for (int h = 0; h < n_head; h++) gg_op_rope(x + (size_t)h * d, n_tok, ld, 1, d, pos, rope);
        return;
    }
    const float theta_scale = powf(rope->base, -2.0f / (float)rope->n_rot);
    float cs[512], sn[512], mix[512]; /* per pair; every head of a token shares them */
    float mscale = rope->attn_factor;
    const bool yarn = rope->ext_factor != 0.0f;
    if (yarn) {
        yarn_mix(rope, mix);
        mscale *= 1.0f + 0.1f * logf(1.0f / rope->freq_scale);
    }
    for (int t = 0; t < n_tok; t++) {
        rope_angles(rope, theta_scale, yarn ? mix : NULL, mscale, pos[t], cs, sn);
        rotate_heads(rope, x + (size_t)t * ld, n_head, d, cs, sn);
    }
}

/* ---------------- attention ---------------- */

gg_attn_form gg_attn_form_for(int n_kv, int d) {
    static const struct {
        gg_attn_form form;
        int min_keys;
    } forms[] = {{GG_ATTN_I8V, GG_ATTN_I8_KEYS},
                 {GG_ATTN_I8, GG_ATTN_I8_KEYS},
                 {GG_ATTN_I8F, GG_ATTN_I8_KEYS},
                 {GG_ATTN_BF16, GG_ATTN_BF16_KEYS}};
    for (size_t i = 0; i < GG_ARRAY_LEN(forms); i++)
        if (n_kv >= forms[i].min_keys && gg_attn_has(forms[i].form, d)) return forms[i].form;
    return GG_ATTN_F32;
}

typedef struct pack_job {
    float *k, *v;
    size_t ld_head;
    int n_kv, d;
    gg_attn_form form;
} pack_job;

static void pack_task(void *ctx, int task, int thread) {
    (void)thread;
    const pack_job *j = ctx;
    gg_attn_pack(j->form, j->k + (size_t)task * j->ld_head, j->v + (size_t)task * j->ld_head, j->n_kv,
                 j->d);
}

void gg_op_attn_pack(gg_exec *ex, float *k, float *v, size_t ld_head, int n_head_kv, int n_kv, int d) {
    pack_job j = {
        .k = k, .v = v, .ld_head = ld_head, .n_kv = n_kv, .d = d, .form = gg_attn_form_for(n_kv, d)};
    if (j.form == GG_ATTN_F32) return;
    int64_t pt = GG_PROF_START();
    gg_pool_run(ex->pool, n_head_kv, pack_task, &j);
    GG_PROF_STOP(pt, "attention", NULL, ex->n_threads);
}

typedef struct attn_job {
    const gg_attn_args *a;
    gg_exec *ex;
    int q_per_task;
    int tasks_per_head;
} attn_job;

/* ALiBi's slope for head h, as ggml's soft_max computes it: the first
 * 2^floor(log2(n_head)) heads take powers of m0, the rest odd powers of m1. */
static float alibi_slope(float max_bias, int n_head, int h) {
    int n_log2 = 1;
    while (n_log2 * 2 <= n_head) n_log2 *= 2;
    const float m0 = powf(2.0f, -max_bias / (float)n_log2);
    const float m1 = powf(2.0f, -(max_bias / 2.0f) / (float)n_log2);
    return h < n_log2 ? powf(m0, (float)(h + 1)) : powf(m1, (float)(2 * (h - n_log2) + 1));
}

/* Keys [lo, hi) of query i. */
static void key_range(const gg_attn_args *a, int i, int *lo, int *hi) {
    const int pos = a->q_pos0 + i;
    *lo = 0;
    *hi = a->causal ? GG_MIN(a->n_kv, pos + 1) : a->n_kv;
    if (a->window > 0) {
        *lo = GG_MAX(*lo, pos - a->window);
        *hi = GG_MIN(*hi, pos + a->window + 1);
    }
}

/* Queries [i0, i1) of head h, GG_ATTN_Q_MAX at a time through each block
 * of keys. A query's result does not depend on which others share its
 * call (gg_attn_block). */
static void attend_rows(const gg_attn_args *a, int h, int i0, int i1, float *scratch) {
    const int kvh = h / (a->n_head / a->n_head_kv);
    const float slope = a->alibi_max > 0.0f ? alibi_slope(a->alibi_max, a->n_head, h) : 0.0f;
    for (int i = i0; i < i1; i += GG_ATTN_Q_MAX) {
        const int nq = GG_MIN(GG_ATTN_Q_MAX, i1 - i);
        int lo[GG_ATTN_Q_MAX], hi[GG_ATTN_Q_MAX];
        for (int g = 0; g < nq; g++) key_range(a, i + g, &lo[g], &hi[g]);
        /* clang-format off */
        gg_attn_block_args r = {
            .nq = nq,
            .q = a->q + (size_t)i * a->ld_q + (size_t)h * a->d, .ld_q = (size_t)a->ld_q,
            .out = a->out + (size_t)i * a->ld_out + (size_t)h * a->d, .ld_out = (size_t)a->ld_out,
            .lo = lo, .hi = hi,
            .k = a->k + (size_t)kvh * a->ld_head, .ld_k = (size_t)a->ld_k,
            .v = a->v + (size_t)kvh * a->ld_head, .ld_v = (size_t)a->ld_v,
            .d = a->d, .scale = a->scale, .alibi_slope = slope, .pos0 = a->q_pos0 + i,
            .form = gg_attn_form_for(a->n_kv, a->d),
            .scratch = scratch,
        };
        /* clang-format on */
        gg_attn_block(&r);
    }
}

static void attn_task(void *ctx, int task, int thread) {
    attn_job *j = ctx;
    const gg_attn_args *a = j->a;
    int h = task / j->tasks_per_head;
    int i0 = (task % j->tasks_per_head) * j->q_per_task;
    int i1 = GG_MIN(i0 + j->q_per_task, a->n_q);
    attend_rows(a, h, i0, i1, j->ex->scores + (size_t)thread * j->ex->score_cap);
}

void gg_op_attention(gg_exec *ex, const gg_attn_args *a) {
    int64_t pt = GG_PROF_START();
    attn_job j = {.a = a, .ex = ex};
    /* as many queries a task as a call takes, unless that leaves too few
     * tasks to spread over the threads */
    j.q_per_task = GG_ATTN_Q_MAX;
    while (j.q_per_task > 16 &&
           a->n_head * ((a->n_q + j.q_per_task - 1) / j.q_per_task) < 4 * ex->n_threads)
        j.q_per_task /= 2;
    j.tasks_per_head = (a->n_q + j.q_per_task - 1) / j.q_per_task;
    gg_pool_run(ex->pool, a->n_head * j.tasks_per_head, attn_task, &j);
    GG_PROF_STOP(pt, "attention", NULL, ex->n_threads);
}
