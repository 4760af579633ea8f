/*
 * bert.c - the encoder architectures "bert" (all-MiniLM, bge, e5, gte,
 * mxbai ...) and "nomic-bert" (nomic-embed-text), as llama.cpp's
 * converter writes them.
 *
 * Both are post-norm encoders: h = LN(x + Attn(x)); x' = LN(h + FFN(h)).
 * bert adds learned absolute positions and a GELU FFN with biases;
 * nomic-bert has a fused QKV projection, rotary positions (NeoX layout)
 * and a SwiGLU FFN without biases. Attention is bidirectional within each
 * sequence of the batch and never crosses sequences.
 *
 * The pass works layer by layer: K and V of every token first, then
 * the rest of the layer chunk by chunk (queries, attention, FFN), so
 * queries and the FFN's wide activations exist for one chunk at a time.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ggembed.h"
#include "model.h"

static int read_hparams(const gguf_file *f, const char *arch, gg_hparams *hp, gg_err *e) {
    char key[128];
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    uint32_t v;
    if (gguf_get_u32(f, KEY("embedding_length"), &v, e)) return -1;
    hp->n_embd = (int)v;
    if (gguf_get_u32(f, KEY("block_count"), &v, e)) return -1;
    hp->n_layer = (int)v;
    if (gguf_get_u32(f, KEY("attention.head_count"), &v, e)) return -1;
    hp->n_head = (int)v;
    if (gguf_get_u32_or(f, KEY("attention.head_count_kv"), v, &v, e)) return -1;
    hp->n_head_kv = (int)v;
    if (gguf_get_u32(f, KEY("feed_forward_length"), &v, e)) return -1;
    hp->n_ff = (int)v;
    if (gguf_get_u32(f, KEY("context_length"), &v, e)) return -1;
    hp->n_ctx_train = (int)v;
    if (gguf_get_f32(f, KEY("attention.layer_norm_epsilon"), &hp->norm_eps, e)) return -1;
    bool causal;
    if (gguf_get_bool_or(f, KEY("attention.causal"), false, &causal, e)) return -1;
    hp->causal = causal;
    if (gguf_get_u32_or(f, KEY("pooling_type"), GGEMBED_POOLING_MEAN, &v, e)) return -1;
    hp->pooling = (int)v;
    float base;
    if (gguf_get_f32_or(f, KEY("rope.freq_base"), 10000.0f, &base, e)) return -1;
#undef KEY
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ff <= 0 || hp->n_ctx_train <= 0 || hp->n_embd % hp->n_head != 0 ||
        hp->n_head % hp->n_head_kv != 0 || hp->n_layer > 4096 || hp->n_embd > 65536)
        return gg_fail(e, "%s: inconsistent shape (embedding %d, layers %d, heads %d/%d, ffn %d, "
                       "context %d)", arch, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv,
                       hp->n_ff, hp->n_ctx_train);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->rope = gg_rope_plain(hp->head_dim, base, true);
    return 0;
}

/* A fused QKV projection is three projections whose rows follow each
 * other: Q's E rows, then K's and V's; views of each keep one code path
 * and let queries be made a chunk at a time. */
static gg_matrix rows_of(const gg_matrix *w, int64_t r0, int64_t n) {
    gg_matrix v = *w;
    v.data = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
    v.rows = n;
    return v;
}

static void split_qkv(const gg_matrix *qkv, const float *b, int64_t E, int64_t KV, gg_layer *l) {
    l->wq = rows_of(qkv, 0, E);
    l->wk = rows_of(qkv, E, KV);
    l->wv = rows_of(qkv, E + KV, KV);
    l->bq = b;
    l->bk = b ? b + E : NULL;
    l->bv = b ? b + E + KV : NULL;
}

static int load_layer(const gguf_file *f, const gg_model *m, int il, gg_layer *l, gg_err *e) {
    const gg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff, KV = (int64_t)hp->head_dim * hp->n_head_kv;
    const bool bert = m->arch == GG_ARCH_BERT;
    char n[96];
#define T(name) (snprintf(n, sizeof n, "blk.%d.%s", il, name), n)
    if (bert) {
        if (gg_load_matrix(f, T("attn_q.weight"), E, E, true, &l->wq, e) ||
            gg_load_vector(f, T("attn_q.bias"), E, true, &l->bq, e) ||
            gg_load_matrix(f, T("attn_k.weight"), E, KV, true, &l->wk, e) ||
            gg_load_vector(f, T("attn_k.bias"), KV, true, &l->bk, e) ||
            gg_load_matrix(f, T("attn_v.weight"), E, KV, true, &l->wv, e) ||
            gg_load_vector(f, T("attn_v.bias"), KV, true, &l->bv, e) ||
            gg_load_vector(f, T("attn_output.bias"), E, true, &l->bo, e) ||
            gg_load_vector(f, T("ffn_up.bias"), F, true, &l->ffn_up_b, e) ||
            gg_load_vector(f, T("ffn_down.bias"), E, true, &l->ffn_down_b, e))
            return -1;
    } else {
        gg_matrix qkv;
        const float *bqkv;
        if (gg_load_matrix(f, T("attn_qkv.weight"), E, E + 2 * KV, true, &qkv, e) ||
            gg_load_vector(f, T("attn_qkv.bias"), E + 2 * KV, false, &bqkv, e) ||
            gg_load_vector(f, T("attn_output.bias"), E, false, &l->bo, e) ||
            gg_load_matrix(f, T("ffn_gate.weight"), E, F, true, &l->ffn_gate, e))
            return -1;
        split_qkv(&qkv, bqkv, E, KV, l);
    }
    if (gg_load_matrix(f, T("attn_output.weight"), E, E, true, &l->wo, e) ||
        gg_load_vector(f, T("attn_output_norm.weight"), E, true, &l->attn_out_norm, e) ||
        gg_load_vector(f, T("attn_output_norm.bias"), E, true, &l->attn_out_norm_b, e) ||
        gg_load_matrix(f, T("ffn_up.weight"), E, F, true, &l->ffn_up, e) ||
        gg_load_matrix(f, T("ffn_down.weight"), F, E, true, &l->ffn_down, e) ||
        gg_load_vector(f, T("layer_output_norm.weight"), E, true, &l->out_norm, e) ||
        gg_load_vector(f, T("layer_output_norm.bias"), E, true, &l->out_norm_b, e))
        return -1;
#undef T
    return 0;
}

int gg_bert_load(const gguf_file *f, gg_model *m, gg_err *e) {
    if (read_hparams(f, m->arch_name, &m->hp, e)) return -1;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) return gg_fail(e, "missing tensor 'token_embd.weight'");
    m->hp.n_vocab = (int)te->ne[1];
    const int64_t E = m->hp.n_embd;
    if (gg_load_matrix(f, "token_embd.weight", E, m->hp.n_vocab, true, &m->tok_embd, e)) return -1;
    const gguf_tensor *tt = gguf_find_tensor(f, "token_types.weight");
    if (tt && gg_load_matrix(f, "token_types.weight", E, tt->ne[1], true, &m->type_embd, e))
        return -1;
    if (m->arch == GG_ARCH_BERT &&
        gg_load_matrix(f, "position_embd.weight", E, m->hp.n_ctx_train, true, &m->pos_embd, e))
        return -1;
    if (gg_load_vector(f, "token_embd_norm.weight", E, true, &m->tok_norm, e) ||
        gg_load_vector(f, "token_embd_norm.bias", E, true, &m->tok_norm_b, e))
        return -1;
    for (int il = 0; il < m->hp.n_layer; il++)
        if (load_layer(f, m, il, &m->layers[il], e)) return -1;
    return 0;
}

static void add_row(float *x, const float *y, int n) {
    for (int i = 0; i < n; i++) x[i] += y[i];
}

/* x[t] = token + type 0 + position, then the embedding layer norm. */
static void embed_tokens(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b) {
    const int E = m->hp.n_embd;
    float *row = w->tmp; /* one row of scratch */
    for (int t = 0; t < b->n_tok; t++) {
        float *x = w->x + (size_t)t * E;
        gg_embedding_row(&m->tok_embd, b->tokens[t], x);
        if (m->type_embd.data) {
            gg_embedding_row(&m->type_embd, 0, row);
            add_row(x, row, E);
        }
        if (m->pos_embd.data) {
            gg_embedding_row(&m->pos_embd, w->pos[t], row);
            add_row(x, row, E);
        }
    }
    gg_op_layernorm(ex, w->x, b->n_tok, E, m->tok_norm, m->tok_norm_b, m->hp.norm_eps);
}

/* Keys and values of all tokens, rotated where the model says. */
static void project_kv(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int n) {
    const int E = m->hp.n_embd, KV = m->hp.head_dim * m->hp.n_head_kv;
    gg_op_matmul(ex, &l->wk, l->bk, w->x, E, n, w->k, KV);
    gg_op_matmul(ex, &l->wv, l->bv, w->x, E, n, w->v, KV);
    if (m->arch == GG_ARCH_NOMIC_BERT)
        gg_op_rope(w->k, n, KV, m->hp.n_head_kv, m->hp.head_dim, w->pos, &m->hp.rope);
}

/* Queries of tokens [c0, c0 + c) into w->q, from the layer's input. */
static void project_q(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int c0, int c) {
    const int E = m->hp.n_embd;
    gg_op_matmul(ex, &l->wq, l->bq, w->x + (size_t)c0 * E, E, c, w->q, E);
    if (m->arch == GG_ARCH_NOMIC_BERT)
        gg_op_rope(w->q, c, E, m->hp.n_head, m->hp.head_dim, w->pos + c0, &m->hp.rope);
}

static void ffn_chunk(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, float *h,
                      int c) {
    const int E = m->hp.n_embd, F = m->hp.n_ff;
    gg_op_matmul(ex, &l->ffn_up, l->ffn_up_b, h, E, c, w->ff_up, F);
    if (l->ffn_gate.data) {
        gg_op_matmul(ex, &l->ffn_gate, NULL, h, E, c, w->ff_gate, F);
        gg_op_swiglu(ex, w->ff_gate, w->ff_up, (size_t)c * F);
        gg_op_matmul(ex, &l->ffn_down, l->ffn_down_b, w->ff_gate, F, c, w->tmp, E);
    } else {
        gg_op_gelu(ex, w->ff_up, (size_t)c * F);
        gg_op_matmul(ex, &l->ffn_down, l->ffn_down_b, w->ff_up, F, c, w->tmp, E);
    }
}

static void layer_forward(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w,
                          const gg_batch *b) {
    const int E = m->hp.n_embd;
    const float eps = m->hp.norm_eps;
    project_kv(m, l, ex, w, b->n_tok);
    for (int c0 = 0; c0 < b->n_tok; c0 += w->chunk) {
        int c = GG_MIN(w->chunk, b->n_tok - c0);
        float *x = w->x + (size_t)c0 * E;
        project_q(m, l, ex, w, c0, c); /* before x changes under it */
        gg_attend_chunk(m, ex, w, b, c0, c, w->q);
        gg_op_matmul(ex, &l->wo, l->bo, w->attn, E, c, w->tmp, E);
        gg_op_add(ex, x, w->tmp, (size_t)c * E);
        gg_op_layernorm(ex, x, c, E, l->attn_out_norm, l->attn_out_norm_b, eps);
        ffn_chunk(m, l, ex, w, x, c);
        gg_op_add(ex, x, w->tmp, (size_t)c * E);
        gg_op_layernorm(ex, x, c, E, l->out_norm, l->out_norm_b, eps);
    }
}

int gg_bert_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b,
                    gg_cancel_fn cancel, void *cancel_user, gg_err *e) {
    for (int s = 0; s < b->n_seq; s++)
        for (int t = b->seq_start[s]; t < b->seq_start[s + 1]; t++) w->pos[t] = t - b->seq_start[s];
    embed_tokens(m, ex, w, b);
    for (int il = 0; il < m->hp.n_layer; il++) {
        if (cancel && cancel(cancel_user)) return gg_fail(e, "cancelled");
        layer_forward(m, &m->layers[il], ex, w, b);
    }
    return 0;
}
