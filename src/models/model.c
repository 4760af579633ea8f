/*
 * model.c - picks the architecture of a GGUF file, loads it through the
 * architecture's file, and sizes the working memory of a forward pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const struct {
    const char *name;
    gg_arch arch;
} arch_names[] = {
    {"bert", GG_ARCH_BERT},   {"nomic-bert", GG_ARCH_NOMIC_BERT}, {"llama", GG_ARCH_LLAMA},
    {"qwen2", GG_ARCH_QWEN2}, {"qwen3", GG_ARCH_QWEN3},
};

static bool is_decoder(gg_arch a) { return a == GG_ARCH_LLAMA || a == GG_ARCH_QWEN2 || a == GG_ARCH_QWEN3; }

int gg_model_load(const gguf_file *f, gg_model *m, gg_err *e) {
    memset(m, 0, sizeof *m);
    gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch, e)) return -1;
    for (size_t i = 0; i < GG_ARRAY_LEN(arch_names); i++)
        if (gguf_str_eq(arch, arch_names[i].name)) {
            m->arch = arch_names[i].arch;
            m->arch_name = arch_names[i].name;
        }
    if (!m->arch_name)
        return gg_fail(e, "architecture '%.*s' is not supported (supported: bert, nomic-bert, "
                       "llama, qwen2, qwen3)", (int)GG_MIN(arch.len, 64), arch.ptr);
    uint32_t n_layer;
    char key[96];
    snprintf(key, sizeof key, "%s.block_count", m->arch_name);
    if (gguf_get_u32(f, key, &n_layer, e)) return -1;
    if (n_layer == 0 || n_layer > 4096) return gg_fail(e, "%s: %u layers is out of range", key, n_layer);
    m->layers = calloc(n_layer, sizeof *m->layers);
    if (!m->layers) return gg_fail(e, "out of memory for %u layers", n_layer);
    int rc = is_decoder(m->arch) ? gg_decoder_load(f, m, e) : gg_bert_load(f, m, e);
    if (rc) {
        gg_model_free(m);
        return -1;
    }
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    return 0;
}

void gg_model_free(gg_model *m) {
    free(m->layers);
    m->layers = NULL;
}

int gg_model_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b,
                     gg_cancel_fn cancel, void *cancel_user, gg_err *e) {
    if (b->n_tok > w->max_tok) return gg_fail(e, "batch of %d tokens exceeds %d", b->n_tok, w->max_tok);
    if (is_decoder(m->arch)) return gg_decoder_forward(m, ex, w, b, cancel, cancel_user, e);
    return gg_bert_forward(m, ex, w, b, cancel, cancel_user, e);
}

/* Attention output for tokens [c0, c0 + c) into w->attn, each token
 * attending over its own sequence only. */
void gg_attend_chunk(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b, int c0,
                     int c, const float *q) {
    const gg_hparams *hp = &m->hp;
    const int QW = hp->head_dim * hp->n_head, KV = hp->head_dim * hp->n_head_kv;
    for (int s = 0; s < b->n_seq; s++) {
        int s0 = b->seq_start[s], s1 = b->seq_start[s + 1];
        int lo = GG_MAX(s0, c0), hi = GG_MIN(s1, c0 + c);
        if (lo >= hi) continue;
        gg_attn_args a = {
            .q = q + (size_t)(lo - c0) * QW, .ld_q = QW,
            .k = w->k + (size_t)s0 * KV, .ld_k = KV,
            .v = w->v + (size_t)s0 * KV, .ld_v = KV,
            .out = w->attn + (size_t)(lo - c0) * QW, .ld_out = QW,
            .n_q = hi - lo, .n_kv = s1 - s0, .q_pos0 = lo - s0,
            .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .d = hp->head_dim,
            .scale = 1.0f / sqrtf((float)hp->head_dim), .causal = hp->causal,
        };
        gg_op_attention(ex, &a);
    }
}

/* Buffer sizes in floats, in carving order. */
static void work_sizes(const gg_model *m, int max_tok, int chunk, size_t sz[8]) {
    const gg_hparams *hp = &m->hp;
    size_t E = (size_t)hp->n_embd, KV = (size_t)hp->head_dim * hp->n_head_kv;
    size_t QW = GG_MAX(E, (size_t)hp->head_dim * hp->n_head);
    size_t T = (size_t)max_tok, C = (size_t)chunk;
    sz[0] = T * E;           /* x */
    sz[1] = T * KV;          /* k */
    sz[2] = T * KV;          /* v */
    sz[3] = C * QW;          /* q: made one chunk at a time */
    sz[4] = C * QW;          /* attn: also an FFN output chunk */
    sz[5] = C * E;           /* tmp */
    sz[6] = C * hp->n_ff;    /* ff_up */
    sz[7] = C * hp->n_ff;    /* ff_gate */
}

static size_t matrix_scratch(const gg_matrix *w, int chunk) {
    return w->data ? gg_matmul_scratch(w, chunk) : 0;
}

void gg_work_plan_make(const gg_model *m, int max_tok, int chunk, int n_threads, gg_work_plan *p) {
    size_t sz[8];
    work_sizes(m, max_tok, chunk, sz);
    p->work_bytes = 0;
    for (int i = 0; i < 8; i++) p->work_bytes += gg_align_up(sz[i] * sizeof(float), 64);
    p->work_bytes += gg_align_up((size_t)max_tok * sizeof(int32_t), 64);
    size_t act = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const gg_layer *l = &m->layers[il];
        const gg_matrix *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo,
                                 &l->ffn_up, &l->ffn_gate, &l->ffn_down};
        for (size_t i = 0; i < GG_ARRAY_LEN(ws); i++) act = GG_MAX(act, matrix_scratch(ws[i], chunk));
    }
    p->act_bytes = gg_align_up(act, 64);
    p->score_floats = gg_align_up((size_t)max_tok, 16);
    p->total = p->work_bytes + p->act_bytes + p->score_floats * sizeof(float) * (size_t)n_threads;
}

void gg_work_carve(const gg_model *m, int max_tok, int chunk, uint8_t *mem, gg_work *w) {
    size_t sz[8];
    work_sizes(m, max_tok, chunk, sz);
    float **slots[8] = {&w->x, &w->k, &w->v, &w->q, &w->attn, &w->tmp, &w->ff_up, &w->ff_gate};
    for (int i = 0; i < 8; i++) {
        *slots[i] = (float *)(void *)mem;
        mem += gg_align_up(sz[i] * sizeof(float), 64);
    }
    w->pos = (int32_t *)(void *)mem;
    w->max_tok = max_tok;
    w->chunk = chunk;
}
