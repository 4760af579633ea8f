/*
 * model.c - attention over a packed batch, and the working memory of a
 * forward pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

void gg_pack_kv(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b) {
    const int D = m->hp.head_dim;
    for (int s = 0; s < b->n_seq; s++) {
        const int s0 = b->seq_start[s], n = b->seq_start[s + 1] - s0;
        gg_op_attn_pack(ex, w->k + (size_t)s0 * D, w->v + (size_t)s0 * D, (size_t)w->max_tok * D,
                        m->hp.n_head_kv, n, D);
    }
}

/* Attention output for tokens [c0, c0 + c) into w->attn, rows
 * max(n_embd, QW) apart (each token's row can take its FFN output
 * later), each token attending over its own sequence only. */
void gg_attend_chunk(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, const gg_batch *b,
                     int c0, int c, const float *q) {
    const gg_hparams *hp = &m->hp;
    const int QW = hp->head_dim * hp->n_head, D = hp->head_dim, AW = GG_MAX(hp->n_embd, QW);
    for (int s = 0; s < b->n_seq; s++) {
        int s0 = b->seq_start[s], s1 = b->seq_start[s + 1];
        int lo = GG_MAX(s0, c0), hi = GG_MIN(s1, c0 + c);
        if (lo >= hi) continue;
        gg_attn_args a = {
            .q = q + (size_t)(lo - c0) * QW,
            .ld_q = QW,
            .k = w->k + (size_t)s0 * D,
            .ld_k = D,
            .v = w->v + (size_t)s0 * D,
            .ld_v = D,
            .ld_head = (size_t)w->max_tok * D,
            .out = w->attn + (size_t)(lo - c0) * AW,
            .ld_out = AW,
            .n_q = hi - lo,
            .n_kv = s1 - s0,
            .q_pos0 = lo - s0,
            .n_head = hp->n_head,
            .n_head_kv = hp->n_head_kv,
            .d = hp->head_dim,
            .scale = hp->attn_scale,
            .causal = hp->causal,
            .alibi_max = hp->alibi_max,
            .window = l->swa ? hp->swa_half : 0,
        };
        gg_op_attention(ex, &a);
    }
}

/* Buffer sizes in floats, in carving order. */
static void work_sizes(const gg_model *m, int max_tok, int chunk, int q_rows, size_t sz[8]) {
    const gg_hparams *hp = &m->hp;
    size_t E = (size_t)hp->n_embd, KV = (size_t)hp->head_dim * hp->n_head_kv;
    size_t QW = GG_MAX(E, (size_t)hp->head_dim * hp->n_head);
    size_t T = (size_t)max_tok, C = (size_t)chunk, A = (size_t)q_rows;
    sz[0] = T * E;                                     /* x */
    sz[1] = T * KV;                                    /* k */
    sz[2] = T * KV;                                    /* v */
    sz[3] = A * QW;                                    /* q: the queries attending together */
    sz[4] = A * QW;                                    /* attn: their output; also an FFN output chunk */
    sz[5] = C * E;                                     /* tmp */
    sz[6] = C * (size_t)GG_MAX(hp->n_ff, hp->n_dense); /* ff_up: also the projection's */
    sz[7] = C * hp->n_ff;                              /* ff_gate */
}

static size_t matrix_scratch(const gg_matrix *w, int chunk) {
    return w->data ? gg_matmul_scratch(w, chunk) : 0;
}

/* gg_work_plan_make with q_rows rows of queries. */
static void plan_make(const gg_model *m, int max_tok, int chunk, int q_rows, int n_threads,
                      gg_work_plan *p) {
    size_t sz[8];
    work_sizes(m, max_tok, chunk, q_rows, sz);
    p->work_bytes = 0;
    for (int i = 0; i < 8; i++) p->work_bytes += gg_align_up(sz[i] * sizeof(float), 64);
    p->work_bytes += gg_align_up((size_t)max_tok * sizeof(int32_t), 64);
    size_t act = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const gg_layer *l = &m->layers[il];
        const gg_matrix *ws[] = {&l->wq,          &l->wk,           &l->wv,       &l->wo,
                                 &l->ffn_up,      &l->ffn_gate,     &l->ffn_down, &l->ffn_router,
                                 &l->ffn_up_exps, &l->ffn_down_exps};
        for (size_t i = 0; i < GG_ARRAY_LEN(ws); i++) act = GG_MAX(act, matrix_scratch(ws[i], chunk));
    }
    act = GG_MAX(act, GG_MAX(matrix_scratch(&m->dense_2, chunk), matrix_scratch(&m->dense_3, chunk)));
    act = GG_MAX(act, GG_MAX(matrix_scratch(&m->cls, chunk), matrix_scratch(&m->cls_out, chunk)));
    p->act_bytes = gg_align_up(act, 64);
    /* attention's blocks and running sums, bounded whatever max_tok */
    p->score_floats = gg_align_up(gg_attn_scratch_floats(m->hp.head_dim), 16);
    p->total = p->work_bytes + p->act_bytes + p->score_floats * sizeof(float) * (size_t)n_threads;
}

void gg_work_plan_make(const gg_model *m, int max_tok, int chunk, int n_threads, gg_work_plan *p) {
    plan_make(m, max_tok, chunk, gg_work_q_rows(m, max_tok, chunk), n_threads, p);
}

/* Bytes of one layer's weights (all its matrices). */
static size_t layer_bytes(const gg_layer *l) {
    const gg_matrix *ws[] = {&l->wq,          &l->wk,           &l->wv,       &l->wo,
                             &l->ffn_up,      &l->ffn_gate,     &l->ffn_down, &l->ffn_router,
                             &l->ffn_up_exps, &l->ffn_down_exps};
    size_t n = 0;
    for (size_t i = 0; i < GG_ARRAY_LEN(ws); i++)
        if (ws[i]->data) n += ws[i]->row_bytes * (size_t)ws[i]->rows;
    return n;
}

/* Each chunk of tokens reads every weight once, so a text of T tokens
 * streams a model's weights ceil(T / chunk) times. Where a layer stays in
 * the caches from one chunk to the next that costs nothing, and chunks of
 * GG_WORK_CHUNK_MIN tokens keep the activations in L2. Where it does not (the
 * 7B decoders: ~100 MB a layer), each pass is a trip through memory, and
 * the chunk grows as far as CHUNK_BYTES of chunk buffers allow: the
 * bound on anonymous memory (50 MB for a 7B at 512 tokens,
 * tests/slow/big_model_memory.sh) is what caps it. There the rest of the
 * process takes ~23 MB and a chunk token ~220 KB, so 20 MB of chunks
 * (94 tokens; 5 passes for 406 tokens where 64 made 7) peaks at 42 MB
 * (37 MB with 64). Under a --max-memory that this does not fit, the
 * engine takes GG_WORK_CHUNK_MIN again. */
#define LAYER_CACHED ((size_t)32 << 20)
#define CHUNK_BYTES ((size_t)20 << 20)

int gg_work_chunk(const gg_model *m, int max_tok) {
    int chunk = GG_WORK_CHUNK_MIN;
    if (m->hp.n_layer > 0 && layer_bytes(&m->layers[0]) > LAYER_CACHED) {
        gg_work_plan a, b; /* a chunk token's bytes, with no queries grouped */
        plan_make(m, max_tok, GG_WORK_CHUNK_MIN, GG_WORK_CHUNK_MIN, 1, &a);
        plan_make(m, max_tok, 2 * GG_WORK_CHUNK_MIN, 2 * GG_WORK_CHUNK_MIN, 1, &b);
        const size_t per_tok = (b.total - a.total) / GG_WORK_CHUNK_MIN;
        if (per_tok > 0)
            chunk = (int)GG_MAX((size_t)GG_WORK_CHUNK_MIN,
                                GG_MIN(CHUNK_BYTES / per_tok, (size_t)1 << 16));
    }
    return GG_MAX(1, GG_MIN(chunk, max_tok));
}

/* The queries and attention output of the tokens attending together
 * take at most this much beyond one chunk's: 256 tokens for widths up to
 * 2,048 (nomic-embed-text, Qwen3-Embedding-0.6B), one chunk as before
 * for a 7B (whose bound is its anonymous memory, and whose attention
 * over a 512-token text is a small part of the pass). */
#define GROUP_BYTES ((size_t)4 << 20)

int gg_work_q_rows(const gg_model *m, int max_tok, int chunk) {
    const size_t QW = GG_MAX((size_t)m->hp.n_embd, (size_t)m->hp.head_dim * m->hp.n_head);
    const size_t fit = GROUP_BYTES / (2 * QW * sizeof(float));
    const int rows = (int)GG_MIN((size_t)GG_ATTN_Q_MAX, fit) / chunk * chunk;
    return GG_MAX(chunk, GG_MIN(rows, max_tok));
}

int gg_work_chunk_for(int n_tok, int chunk) {
    if (n_tok <= chunk) return GG_MAX(n_tok, 1);
    const int passes = (n_tok + chunk - 1) / chunk;
    return (n_tok + passes - 1) / passes;
}

void gg_work_carve(const gg_model *m, int max_tok, int chunk, uint8_t *mem, gg_work *w) {
    size_t sz[8];
    work_sizes(m, max_tok, chunk, gg_work_q_rows(m, max_tok, chunk), sz);
    float **slots[8] = {&w->x, &w->k, &w->v, &w->q, &w->attn, &w->tmp, &w->ff_up, &w->ff_gate};
    for (int i = 0; i < 8; i++) {
        *slots[i] = (float *)(void *)mem;
        mem += gg_align_up(sz[i] * sizeof(float), 64);
    }
    w->pos = (int32_t *)(void *)mem;
    w->max_tok = max_tok;
    w->chunk = chunk;
    w->q_rows = gg_work_q_rows(m, max_tok, chunk);
}
