/*
 * transformer.c - the one forward pass every architecture runs, driven by
 * its row of the table (arch.c). Shapes: T tokens in the batch, c <= chunk
 * tokens at a time, E = n_embd, QW = n_head * head_dim, KV = n_head_kv *
 * head_dim, F = n_ff. Per layer, with norms where the row places them:
 *
 *   h      = attn_norm(x)                       [c][E]   (x itself: post-norm)
 *   q,k,v  = h Wq, h Wk, h Wv (+ biases)        [c][QW], [T][KV] x2
 *            per-head Q/K norms, rotary positions, K and V rounded to half;
 *            a long text's K and V then packed for attention (gg_pack_kv)
 *   a      = attention(q, k, v) Wo (+ bo)       [c][E]   each token within its own sequence;
 *            the mask (causal, sliding window, ALiBi) is the attention op's arguments
 *   x      = x + post_attn_norm(a)              [c][E]   then attn_out_norm(x): post-norm
 *            (with attn_norm_2: x = attn_norm_2(x + attn_out_norm(x + a)))
 *   h      = ffn_norm(x)                        [c][E]
 *   f      = down(act(gate h) * up h)           [c][F] -> [c][E]   (or a mixture of experts)
 *   x      = x + post_ffn_norm(f)               [c][E]   then out_norm(x): post-norm
 *
 *
 * After pooling, a model may project each text's vector (gg_model_project):
 *   y      = dense_3(dense_2(pooled))           [n][E] -> [n][P] -> [n][E]
 *
 * Memory: the residual stream x, keys and values exist for all T tokens;
 * queries and everything wider (the FFN) exist for one chunk at a time, so
 * a 7B model embeds 512 tokens in a few tens of MB. A layer therefore makes
 * every token's keys and values first (a token's attention needs them all,
 * and x changes as chunks finish), then finishes the chunks in order.
 */
#include <math.h>
#include <string.h>

#include "model.h"
#include "../opprof.h"

static void norm(const gg_model *m, gg_exec *ex, const float *in, float *out, int n, const float *g,
                 const float *b) {
    const gg_hparams *hp = &m->hp;
    gg_op_norm(ex, m->desc->norm == GG_NORM_RMS, in, out, n, hp->n_embd, g, b, hp->norm_eps);
}

/* x[t] = token (+ type 0) (+ position) (times sqrt(E)), then the embedding
 * norm. [T][E] */
static void embed_tokens(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b) {
    const int E = m->hp.n_embd;
    float *row = w->tmp; /* one row of scratch */
    for (int t = 0; t < b->n_tok; t++) {
        float *x = w->x + (size_t)t * E;
        gg_embedding_row(&m->tok_embd, b->tokens[t], x);
        if (m->type_embd.data) {
            gg_embedding_row(&m->type_embd, 0, row);
            for (int i = 0; i < E; i++) x[i] += row[i];
        }
        if (m->pos_embd.data) {
            gg_embedding_row(&m->pos_embd, w->pos[t], row);
            for (int i = 0; i < E; i++) x[i] += row[i];
        }
    }
    if (m->desc->embd_scale) {
        const float s = sqrtf((float)E);
        for (size_t i = 0; i < (size_t)b->n_tok * E; i++) w->x[i] *= s;
    }
    if (m->embd_norm) norm(m, ex, w->x, w->x, b->n_tok, m->embd_norm, m->embd_norm_b);
}

/* The attention input of tokens [c0, c0 + c): attn_norm(x) in tmp, or x
 * itself where the row has no pre-norm. [c][E] */
static const float *attn_input(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int c0,
                               int c) {
    const float *x = w->x + (size_t)c0 * m->hp.n_embd;
    if (!l->attn_norm) return x;
    norm(m, ex, x, w->tmp, c, l->attn_norm, l->attn_norm_b);
    return w->tmp;
}

/* Rows [c0, c0 + c) of stage ([c][KV], heads side by side) into the
 * head-by-head layout of w->k or w->v ([n_head_kv][max_tok][D]), where
 * each head's keys are one contiguous run for attention to stream. */
static void scatter_heads(const gg_hparams *hp, const gg_work *w, const float *stage, float *dst, int c0,
                          int c) {
    const int D = hp->head_dim, KV = D * hp->n_head_kv;
    for (int h = 0; h < hp->n_head_kv; h++)
        for (int t = 0; t < c; t++)
            memcpy(dst + ((size_t)h * w->max_tok + (size_t)(c0 + t)) * D,
                   stage + (size_t)t * KV + (size_t)h * D, sizeof(float) * (size_t)D);
}

/* Tokens a task of the per-token work takes (gg_op_tokens): rotary
 * positions cost a few microseconds a token. */
#define SHAPE_SPAN 4

/* The per-token rest of shaping n rows of q or k (after any whole-row
 * norm): per-head norms and rotary positions, and for keys the rounding
 * of keys and values to half and their copy into w->k, w->v. */
typedef struct shape_job {
    const gg_model *m;
    const gg_layer *l;
    const gg_work *w;
    float *x; /* [n][n_head * D] */
    int n_head;
    const float *g;     /* per-head norm, or NULL */
    const int32_t *pos; /* of row 0 */
    float *vs;          /* keys: their values ([n][KV]) to round and copy too; queries: NULL */
    int c0;             /* keys: the batch token of row 0 */
} shape_job;

static void shape_rows(void *ctx, int t0, int t1) {
    const shape_job *j = ctx;
    const gg_hparams *hp = &j->m->hp;
    const int D = hp->head_dim, W = j->n_head * D, n = t1 - t0;
    float *x = j->x + (size_t)t0 * W;
    if (j->g) gg_op_rmsnorm_heads(x, n, W, j->n_head, D, j->g, hp->norm_eps);
    const gg_pos_kind p = j->m->desc->pos;
    if (p == GG_POS_ROPE || p == GG_POS_ROPE_NEOX)
        gg_op_rope(x, n, W, j->n_head, D, j->pos + t0, j->l->swa ? &hp->rope_swa : &hp->rope);
    if (!j->vs) return;
    float *v = j->vs + (size_t)t0 * W;
    if (j->m->desc->kv_half) {
        gg_round_half(x, (int64_t)n * W);
        gg_round_half(v, (int64_t)n * W);
    }
    scatter_heads(hp, j->w, x, j->w->k, j->c0 + t0, n);
    scatter_heads(hp, j->w, v, j->w->v, j->c0 + t0, n);
}

/* Norms (of whole rows, or per head) and rotary positions of n rows of q
 * or k (n_head heads); for keys (vs not NULL: the values made with them)
 * also the rounding and the copy into w->k and w->v of both, c0 being
 * the batch token of row 0. All but the whole-row norm go token by token
 * through the pool in one run. */
static void shape_heads(const gg_model *m, const gg_layer *l, gg_exec *ex, const gg_work *w, float *x,
                        int n, int n_head, const float *g, const float *g_row, const float *b_row,
                        const int32_t *pos, float *vs, int c0) {
    const gg_hparams *hp = &m->hp;
    if (g_row) gg_op_norm(ex, false, x, x, n, n_head * hp->head_dim, g_row, b_row, hp->norm_eps);
    const gg_pos_kind p = m->desc->pos;
    if (!g && p != GG_POS_ROPE && p != GG_POS_ROPE_NEOX && !vs) return; /* nothing per token */
    shape_job j = {
        .m = m, .l = l, .w = w, .x = x, .n_head = n_head, .g = g, .pos = pos, .vs = vs, .c0 = c0};
    gg_op_tokens(ex, vs ? "keys" : "queries", n, SHAPE_SPAN, shape_rows, &j);
}

/* Keys and values of tokens [c0, c0 + c) (c <= w->chunk) into w->k,
 * w->v, made in w->q and w->attn ([c][KV] each: they are free until the
 * layer's queries and attention). */
static void project_kv(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int c0, int c) {
    const gg_hparams *hp = &m->hp;
    const int E = hp->n_embd, KV = hp->head_dim * hp->n_head_kv;
    float *ks = w->q, *vs = w->attn;
    const float *h = attn_input(m, l, ex, w, c0, c);
    const gg_mm_dst kv[] = {{&l->wk, l->bk, ks, KV}, {&l->wv, l->bv, vs, KV}};
    gg_op_matmul_n(ex, 2, kv, h, E, c);
    shape_heads(m, l, ex, w, ks, c, hp->n_head_kv, l->k_norm, l->k_norm_row, l->k_norm_row_b,
                w->pos + c0, vs, c0);
}

/* The FFN of h into out. [c][E] -> [c][F] -> [c][E] */
static void ffn(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, const float *h, int c,
                float *out) {
    const int E = m->hp.n_embd, F = m->hp.n_ff;
    const size_t n = (size_t)c * F;
    const gg_mm_dst up_gate[] = {{&l->ffn_up, l->ffn_up_b, w->ff_up, F},
                                 {&l->ffn_gate, NULL, w->ff_gate, F}};
    gg_op_matmul_n(ex, m->hp.ffn == GG_FFN_GELU ? 1 : 2, up_gate, h, E, c);
    float *act = w->ff_up;
    switch (m->hp.ffn) {
    case GG_FFN_GELU: gg_op_gelu(ex, w->ff_up, n); break;
    case GG_FFN_SWIGLU:
    case GG_FFN_GEGLU:
        if (m->hp.ffn == GG_FFN_SWIGLU) gg_op_swiglu(ex, w->ff_gate, w->ff_up, n);
        else gg_op_geglu(ex, w->ff_gate, w->ff_up, n);
        act = w->ff_gate;
        break;
    }
    gg_op_matmul(ex, &l->ffn_down, l->ffn_down_b, act, F, c, out, E);
}

/* Rows [r0, r0 + n) of a stacked matrix: one expert. */
static gg_matrix rows_of(const gg_matrix *w, int64_t r0, int64_t n) {
    gg_matrix v = *w;
    v.data = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
    v.rows = n;
    return v;
}

/* The n_expert_used experts of highest router probability for each token
 * (softmax as ggml's: exp(x - max) * (1 / sum) with the sum in double),
 * ids and probabilities best first. */
static void route(const gg_hparams *hp, const float *logits, int c, int32_t *ids, float *wts) {
    const int n = hp->n_expert, k = hp->n_expert_used;
    for (int t = 0; t < c; t++) {
        const float *x = logits + (size_t)t * n;
        float p[256], max = -INFINITY;
        for (int i = 0; i < n; i++) max = fmaxf(max, x[i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += (p[i] = expf(x[i] - max));
        const float inv = (float)(1.0 / sum);
        for (int i = 0; i < n; i++) p[i] *= inv;
        for (int s = 0; s < k; s++) {
            int best = -1;
            for (int i = 0; i < n; i++) {
                bool taken = false;
                for (int r = 0; r < s; r++) taken |= ids[t * k + r] == i;
                if (!taken && (best < 0 || p[i] > p[best])) best = i;
            }
            ids[t * k + s] = best;
            wts[t * k + s] = p[best];
        }
    }
}

/* A mixture of GELU experts over h into out, as llama.cpp's MoE FFN:
 * out = sum over the chosen experts, best first, of p * down(gelu(up h)).
 * The rows routed to one expert are gathered into q and run as one
 * product. Scratch: the router's scores and each expert's output in
 * ff_gate ([c][n_expert], [c][E]: n_ff is at least both). */
static void moe_ffn(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, const float *h, int c,
                    float *out) {
    const gg_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff, k = hp->n_expert_used;
    int32_t ids[64 * 8], rows[64];
    float wts[64 * 8];
    for (int c0 = 0; c0 < c; c0 += 64) { /* routes for at most 64 tokens at a time */
        const int n = GG_MIN(64, c - c0);
        const float *hc = h + (size_t)c0 * E;
        float *oc = out + (size_t)c0 * E;
        gg_op_matmul(ex, &l->ffn_router, NULL, hc, E, n, w->ff_gate, hp->n_expert);
        route(hp, w->ff_gate, n, ids, wts);
        memset(oc, 0, sizeof(float) * (size_t)n * E);
        for (int s = 0; s < k; s++) /* slot by slot: the sum's order is llama.cpp's */
            for (int x = 0; x < hp->n_expert; x++) {
                int g = 0;
                for (int t = 0; t < n; t++)
                    if (ids[t * k + s] == x) {
                        memcpy(w->q + (size_t)g * E, hc + (size_t)t * E, sizeof(float) * (size_t)E);
                        rows[g++] = t;
                    }
                if (!g) continue;
                const gg_matrix up = rows_of(&l->ffn_up_exps, (int64_t)x * F, F);
                const gg_matrix down = rows_of(&l->ffn_down_exps, (int64_t)x * E, E);
                gg_op_matmul(ex, &up, NULL, w->q, E, g, w->ff_up, F); /* [g][F] */
                gg_op_gelu(ex, w->ff_up, (size_t)g * F);
                gg_op_matmul(ex, &down, NULL, w->ff_up, F, g, w->ff_gate, E); /* [g][E] */
                for (int r = 0; r < g; r++) {
                    const float p = wts[rows[r] * k + s], *y = w->ff_gate + (size_t)r * E;
                    float *o = oc + (size_t)rows[r] * E;
                    for (int i = 0; i < E; i++) o[i] += y[i] * p;
                }
            }
    }
}

/* Queries of tokens [c0, c0 + c) into q ([c][QW]); h_in_tmp: project_kv
 * left these tokens' attention input in tmp. */
static void make_queries(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int c0, int c,
                         bool h_in_tmp, float *q) {
    const gg_hparams *hp = &m->hp;
    const int E = hp->n_embd, QW = hp->head_dim * hp->n_head;
    const float *h = h_in_tmp ? w->tmp : attn_input(m, l, ex, w, c0, c); /* [c][E] */
    gg_op_matmul(ex, &l->wq, l->bq, h, E, c, q, QW);
    shape_heads(m, l, ex, w, q, c, hp->n_head, l->q_norm, l->q_norm_row, l->q_norm_row_b, w->pos + c0,
                NULL, 0);
}

/* The rest of the layer for tokens [c0, c0 + c) from their attention
 * output a (c rows of QW, AW apart: gg_attend_chunk), free once Wo has
 * read it: the FFN's output ([c][E]) goes there. */
static void finish_chunk(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int c0, int c,
                         float *a) {
    const gg_hparams *hp = &m->hp;
    const int E = hp->n_embd, QW = hp->head_dim * hp->n_head;
    float *x = w->x + (size_t)c0 * E;                                /* [c][E] */
    gg_op_matmul(ex, &l->wo, l->bo, a, GG_MAX(E, QW), c, w->tmp, E); /* [c][E] */
    if (l->attn_post_norm) norm(m, ex, w->tmp, w->tmp, c, l->attn_post_norm, NULL);
    if (l->attn_norm_2) { /* x = norm_2(x + attn_out_norm(x + a)): the input added twice */
        gg_op_add(ex, w->tmp, x, (size_t)c * E);
        norm(m, ex, w->tmp, w->tmp, c, l->attn_out_norm, l->attn_out_norm_b);
    }
    gg_op_add(ex, x, w->tmp, (size_t)c * E);
    if (l->attn_norm_2) norm(m, ex, x, x, c, l->attn_norm_2, l->attn_norm_2_b);
    else if (l->attn_out_norm) norm(m, ex, x, x, c, l->attn_out_norm, l->attn_out_norm_b);
    const float *h = x;
    if (l->ffn_norm) {
        norm(m, ex, x, w->tmp, c, l->ffn_norm, l->ffn_norm_b);
        h = w->tmp;
    }
    if (l->ffn_router.data) moe_ffn(m, l, ex, w, h, c, a); /* [c][E] in a */
    else ffn(m, l, ex, w, h, c, a);
    if (l->ffn_post_norm) norm(m, ex, a, a, c, l->ffn_post_norm, NULL);
    gg_op_add(ex, x, a, (size_t)c * E);
    if (l->out_norm) norm(m, ex, x, x, c, l->out_norm, l->out_norm_b);
}

/* The layer for tokens [g0, g0 + n) (n <= w->q_rows, whole chunks but the
 * batch's last), once all keys and values exist: their queries chunk by
 * chunk, the attention of all n at once (a call over each head's keys
 * takes up to GG_ATTN_Q_MAX queries, and a long text's keys stream from
 * memory once per call), the rest chunk by chunk. h_in_tmp: the first
 * chunk's attention input is in tmp. */
static void finish_group(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w,
                         const gg_batch *b, int g0, int n, int chunk, bool h_in_tmp) {
    const size_t QW = (size_t)m->hp.head_dim * m->hp.n_head, AW = GG_MAX((size_t)m->hp.n_embd, QW);
    for (int c0 = g0; c0 < g0 + n; c0 += chunk)
        make_queries(m, l, ex, w, c0, GG_MIN(chunk, g0 + n - c0), h_in_tmp && c0 == g0,
                     w->q + (size_t)(c0 - g0) * QW);
    gg_attend_chunk(m, l, ex, w, b, g0, n, w->q); /* n rows AW apart in attn */
    for (int c0 = g0; c0 < g0 + n; c0 += chunk)
        finish_chunk(m, l, ex, w, c0, GG_MIN(chunk, g0 + n - c0), w->attn + (size_t)(c0 - g0) * AW);
}

int gg_model_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b, gg_cancel_fn cancel,
                     void *cancel_user, gg_err *e) {
    if (b->n_tok > w->max_tok) return gg_fail(e, "batch of %d tokens exceeds %d", b->n_tok, w->max_tok);
    GG_PROF_PASS();
    for (int s = 0; s < b->n_seq; s++)
        for (int t = b->seq_start[s]; t < b->seq_start[s + 1]; t++) w->pos[t] = t - b->seq_start[s];
    embed_tokens(m, ex, w, b);
    /* Keys and values a chunk at a time, the first chunk last, so that
     * its attention input (a pre-norm's, in tmp) is still there when
     * finish_chunk starts. */
    const int chunk = gg_work_chunk_for(b->n_tok, w->chunk);
    const int last_chunk = b->n_tok > 0 ? (b->n_tok - 1) / chunk * chunk : -1;
    /* tokens attending together: more than a chunk only where a text
     * is longer than one, its keys and values then streaming once for
     * all their queries */
    int longest = 0;
    for (int s = 0; s < b->n_seq; s++) longest = GG_MAX(longest, b->seq_start[s + 1] - b->seq_start[s]);
    const int group = longest > chunk ? GG_MAX(1, w->q_rows / chunk) * chunk : chunk;
    for (int il = 0; il < m->hp.n_layer; il++) {
        if (cancel && cancel(cancel_user)) return gg_fail_kind(e, GG_E_CANCELLED, "cancelled");
        const gg_layer *l = &m->layers[il];
        for (int c0 = last_chunk; c0 >= 0; c0 -= chunk)
            project_kv(m, l, ex, w, c0, GG_MIN(chunk, b->n_tok - c0));
        gg_pack_kv(m, ex, w, b);
        const bool h_in_tmp = l->attn_norm != NULL;
        for (int g0 = 0; g0 < b->n_tok; g0 += group)
            finish_group(m, l, ex, w, b, g0, GG_MIN(group, b->n_tok - g0), chunk, h_in_tmp && g0 == 0);
    }
    if (m->out_norm) norm(m, ex, w->x, w->x, b->n_tok, m->out_norm, m->out_norm_b);
    return 0;
}

/* As llama.cpp applies the sentence-transformers modules: two products
 * without bias or activation, after pooling and before normalization. */
void gg_model_project(const gg_model *m, gg_exec *ex, gg_work *w, float *rows, int n) {
    if (!m->dense_2.data) return;
    const int E = m->hp.n_embd, P = m->hp.n_dense;
    gg_op_matmul(ex, &m->dense_2, NULL, rows, E, n, w->ff_up, P); /* [n][P] */
    gg_op_matmul(ex, &m->dense_3, NULL, w->ff_up, P, n, rows, E); /* [n][E] */
}

/* ---------------- a reranker's head ---------------- */

int gg_rank_token(const gg_model *m, const gg_batch *b, int s) {
    return m->desc->rank == GG_RANK_LAST_SOFTMAX ? b->seq_start[s + 1] - 1 : b->seq_start[s];
}

/* Softmax of one row in place, as ggml's: exp(x - max) / sum. */
static void softmax_row(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = fmaxf(max, x[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (x[i] = expf(x[i] - max));
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* Per group of c <= chunk sequences, as llama.cpp's rank pooling:
 *
 *   p = x[the rank token of each sequence]      [c][E]   in tmp
 *   p = tanh(p Wcls + bcls)                     [c][E]   in attn (GG_RANK_CLS; when present)
 *   o = p Wout + bout                           [c][n_cls_out]  (when present)
 *   o = softmax(o)                              (GG_RANK_LAST_SOFTMAX)
 *   score = o[0]
 */
void gg_model_rank(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b, float *scores) {
    const int E = m->hp.n_embd, O = m->cls_out.data ? m->hp.n_cls_out : E;
    for (int s0 = 0; s0 < b->n_seq; s0 += w->chunk) {
        const int c = GG_MIN(w->chunk, b->n_seq - s0);
        for (int i = 0; i < c; i++)
            memcpy(w->tmp + (size_t)i * E, w->x + (size_t)gg_rank_token(m, b, s0 + i) * E,
                   sizeof(float) * (size_t)E);
        float *p = w->tmp, *spare = w->attn;
        if (m->cls.data) {
            gg_op_matmul(ex, &m->cls, m->cls_b, p, E, c, spare, E);
            for (size_t i = 0; i < (size_t)c * E; i++) spare[i] = tanhf(spare[i]);
            spare = p;
            p = w->attn;
        }
        if (m->cls_out.data) {
            gg_op_matmul(ex, &m->cls_out, m->cls_out_b, p, E, c, spare, O);
            p = spare;
        }
        for (int i = 0; i < c; i++) {
            float *o = p + (size_t)i * (m->cls_out.data ? O : E);
            if (m->desc->rank == GG_RANK_LAST_SOFTMAX) softmax_row(o, O);
            scores[s0 + i] = o[0];
        }
    }
}
