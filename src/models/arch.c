/*
 * arch.c - the architectures ggembed runs, one row each, and the tensors
 * each row implies. Adding an architecture that is a new combination of
 * known parts is one row here (and a mkmodel preset); a new kind of part
 * is a new enum value, its tensors below, and its op in transformer.c.
 */
#include <stdio.h>
#include <string.h>

#include "ggembed.h"
#include "model.h"

/* clang-format off */
static const gg_arch_desc archs[] = {
    {
        .name = "bert", .models = "all-MiniLM, bge, e5, gte, mxbai; rerankers: bge-reranker",
        .norm = GG_NORM_LAYER, .place = GG_NORM_POST, .embd_norm = true, .token_types = true,
        .pos = GG_POS_LEARNED, .ffn = GG_FFN_GELU,
        .bias_qkv = GG_MUST, .bias_out = GG_MUST, .bias_up = GG_MUST, .bias_down = GG_MUST,
        .pooling = GGEMBED_POOLING_MEAN, .rank = GG_RANK_CLS,
    },
    {
        .name = "nomic-bert", .models = "nomic-embed-text",
        .norm = GG_NORM_LAYER, .place = GG_NORM_POST, .embd_norm = true, .token_types = true,
        .pos = GG_POS_ROPE_NEOX, .ffn = GG_FFN_SWIGLU, .fused_qkv = true,
        .bias_qkv = GG_MAY, .bias_out = GG_MAY,
        .pooling = GGEMBED_POOLING_MEAN,
    },
    {
        .name = "jina-bert-v2", .models = "jina-embeddings-v2 (base-en, small-en, base-code, de, es)",
        .norm = GG_NORM_LAYER, .place = GG_NORM_POST, .embd_norm = true, .token_types = true,
        .pos = GG_POS_ALIBI, .ffn = GG_FFN_GEGLU, .qk_norm_rows = true, .attn_norm_2 = true,
        .up_gate_either = true, .bias_qkv = GG_MUST, .bias_out = GG_MUST, .bias_down = GG_MUST,
        .pooling = GGEMBED_POOLING_MEAN,
    },
    {
        .name = "nomic-bert-moe", .models = "nomic-embed-text-v2-moe",
        .norm = GG_NORM_LAYER, .place = GG_NORM_POST, .embd_norm = true, .token_types = true,
        .pos = GG_POS_ROPE_NEOX, .ffn = GG_FFN_GELU, .fused_qkv = true, .moe = true,
        .bias_qkv = GG_MAY, .bias_out = GG_MAY, .bias_up = GG_MAY, .bias_down = GG_MAY,
        .pooling = GGEMBED_POOLING_MEAN,
    },
    {
        .name = "gemma-embedding", .models = "EmbeddingGemma-300m",
        .norm = GG_NORM_RMS, .place = GG_NORM_SANDWICH, .embd_scale = true, .out_norm = true,
        .pos = GG_POS_ROPE_NEOX, .ffn = GG_FFN_GEGLU, .qk_norm = true, .swa_pattern = 6,
        .swa_rope_base = 10000.0f, .dense_out = true, .pooling = GGEMBED_POOLING_MEAN,
    },
    {
        .name = "modern-bert", .models = "ModernBERT, gte-modernbert (GeGLU), granite-embedding r2 (SwiGLU)",
        .norm = GG_NORM_LAYER, .norm_no_bias = true, .place = GG_NORM_PRE, .embd_norm = true,
        .out_norm = true, .first_attn_norm_may = true, .pos = GG_POS_ROPE_NEOX,
        .ffn = GG_FFN_GEGLU, .act_key = true, .fused_up_gate = true, .fused_qkv = true,
        .swa_pattern = 3, .swa_dense_first = true, .pooling = GGEMBED_POOLING_MEAN,
    },
    {
        .name = "llama", .models = "e5-mistral, SFR-Embedding",
        .causal = true, .norm = GG_NORM_RMS, .place = GG_NORM_PRE, .out_norm = true,
        .pos = GG_POS_ROPE, .ffn = GG_FFN_SWIGLU,
        .bias_qkv = GG_MAY, .bias_out = GG_MAY, .kv_half = true, .rope_freqs = true,
        .pooling = GGEMBED_POOLING_LAST, .default_ctx = 512,
    },
    {
        .name = "qwen2", .models = "nomic-embed-code, gte-Qwen2",
        .causal = true, .norm = GG_NORM_RMS, .place = GG_NORM_PRE, .out_norm = true,
        .pos = GG_POS_ROPE_NEOX, .ffn = GG_FFN_SWIGLU,
        .bias_qkv = GG_MUST, .bias_out = GG_MAY, .kv_half = true,
        .pooling = GGEMBED_POOLING_LAST, .default_ctx = 512,
    },
    {
        .name = "qwen3", .models = "Qwen3-Embedding, Qwen3-Reranker",
        .causal = true, .norm = GG_NORM_RMS, .place = GG_NORM_PRE, .out_norm = true,
        .pos = GG_POS_ROPE_NEOX, .ffn = GG_FFN_SWIGLU, .qk_norm = true,
        .bias_qkv = GG_MAY, .bias_out = GG_MAY, .kv_half = true,
        .pooling = GGEMBED_POOLING_LAST, .rank = GG_RANK_LAST_SOFTMAX, .default_ctx = 512,
    },
};
/* clang-format on */

const gg_arch_desc *gg_arch_find(gguf_str name) {
    for (size_t i = 0; i < GG_ARRAY_LEN(archs); i++)
        if (gguf_str_eq(name, archs[i].name)) return &archs[i];
    return NULL;
}

const gg_arch_desc *gg_arch_at(int i) {
    return i >= 0 && (size_t)i < GG_ARRAY_LEN(archs) ? &archs[i] : NULL;
}

void gg_arch_names(char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < GG_ARRAY_LEN(archs) && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", archs[i].name);
}

/* ---------------- the tensors a row implies ---------------- */

typedef struct walk {
    gg_tensor_fn fn;
    void *user;
    int layer;
    int rc;
} walk;

static void put(walk *w, const char *name, int64_t ne0, int64_t ne1, gg_need need, gg_tensor_role role,
                void *slot) {
    if (w->rc || need == GG_NO) return;
    gg_tensor_spec t = {
        .layer = w->layer, .ne0 = ne0, .ne1 = ne1, .need = need, .role = role, .slot = slot};
    if (w->layer >= 0) snprintf(t.name, sizeof t.name, "blk.%d.%s", w->layer, name);
    else snprintf(t.name, sizeof t.name, "%s", name);
    w->rc = w->fn(&t, w->user);
}

/* A stack of ne2 matrices [ne0, ne1] (experts). */
static void put3(walk *w, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, void *slot) {
    if (w->rc) return;
    gg_tensor_spec t = {.layer = w->layer,
                        .ne0 = ne0,
                        .ne1 = ne1,
                        .ne2 = ne2,
                        .need = GG_MUST,
                        .role = GG_T_MATRIX,
                        .slot = slot};
    snprintf(t.name, sizeof t.name, "blk.%d.%s", w->layer, name);
    w->rc = w->fn(&t, w->user);
}

/* "NAME.weight" [ne0, ne1] and, when `bias` says, "NAME.bias" [ne1]. */
static void weight(walk *w, const char *name, int64_t ne0, int64_t ne1, gg_need need, gg_need bias,
                   gg_matrix *slot, const float **bslot) {
    char n[48];
    snprintf(n, sizeof n, "%s.weight", name);
    put(w, n, ne0, ne1, need, GG_T_MATRIX, slot);
    snprintf(n, sizeof n, "%s.bias", name);
    put(w, n, ne1, 0, bias, GG_T_BIAS, bslot);
}

/* A norm's gain, and its bias for a layer norm. */
static void norm(walk *w, const gg_arch_desc *d, const char *name, int64_t n, bool have, const float **g,
                 const float **b) {
    if (!have) return;
    char s[48];
    snprintf(s, sizeof s, "%s.weight", name);
    const bool optional = d->first_attn_norm_may && w->layer == 0 && !strcmp(name, "attn_norm");
    put(w, s, n, 0, optional ? GG_MAY : GG_MUST, GG_T_NORM, g);
    snprintf(s, sizeof s, "%s.bias", name);
    put(w, s, n, 0, d->norm == GG_NORM_LAYER && !d->norm_no_bias ? GG_MUST : GG_NO, GG_T_BIAS, b);
}

#define SLOT(p) (m ? (void *)(p) : NULL)

static void layer_tensors(walk *w, const gg_arch_desc *d, const gg_hparams *hp, gg_layer *l,
                          gg_model *m) {
    const int64_t E = hp->n_embd, F = hp->n_ff, D = hp->head_dim;
    const int64_t QW = D * hp->n_head, KV = D * hp->n_head_kv;
    const bool pre = d->place != GG_NORM_POST, post = d->place == GG_NORM_POST;
    const bool sandwich = d->place == GG_NORM_SANDWICH;
    norm(w, d, "attn_norm", E, pre, SLOT(&l->attn_norm), SLOT(&l->attn_norm_b));
    if (d->fused_qkv) { /* loaded into wq/bq, split into views by the loader */
        weight(w, "attn_qkv", E, QW + 2 * KV, GG_MUST, d->bias_qkv, SLOT(&l->wq), SLOT(&l->bq));
    } else {
        weight(w, "attn_q", E, QW, GG_MUST, d->bias_qkv, SLOT(&l->wq), SLOT(&l->bq));
        weight(w, "attn_k", E, KV, GG_MUST, d->bias_qkv, SLOT(&l->wk), SLOT(&l->bk));
        weight(w, "attn_v", E, KV, GG_MUST, d->bias_qkv, SLOT(&l->wv), SLOT(&l->bv));
    }
    norm(w, d, "attn_q_norm", D, d->qk_norm, SLOT(&l->q_norm), NULL);
    norm(w, d, "attn_k_norm", D, d->qk_norm, SLOT(&l->k_norm), NULL);
    if (d->qk_norm_rows) {
        put(w, "attn_q_norm.weight", QW, 0, GG_MAY, GG_T_NORM, SLOT(&l->q_norm_row));
        put(w, "attn_q_norm.bias", QW, 0, GG_MAY, GG_T_BIAS, SLOT(&l->q_norm_row_b));
        put(w, "attn_k_norm.weight", KV, 0, GG_MAY, GG_T_NORM, SLOT(&l->k_norm_row));
        put(w, "attn_k_norm.bias", KV, 0, GG_MAY, GG_T_BIAS, SLOT(&l->k_norm_row_b));
    }
    weight(w, "attn_output", QW, E, GG_MUST, d->bias_out, SLOT(&l->wo), SLOT(&l->bo));
    norm(w, d, "post_attention_norm", E, sandwich, SLOT(&l->attn_post_norm), NULL);
    norm(w, d, "attn_output_norm", E, post, SLOT(&l->attn_out_norm), SLOT(&l->attn_out_norm_b));
    if (d->attn_norm_2) {
        put(w, "attn_norm_2.weight", E, 0, GG_MAY, GG_T_NORM, SLOT(&l->attn_norm_2));
        put(w, "attn_norm_2.bias", E, 0, GG_MAY, GG_T_BIAS, SLOT(&l->attn_norm_2_b));
    }
    norm(w, d, "ffn_norm", E, pre, SLOT(&l->ffn_norm), SLOT(&l->ffn_norm_b));
    if (gg_layer_is_moe(hp, w->layer)) {
        put(w, "ffn_gate_inp.weight", E, hp->n_expert, GG_MUST, GG_T_MATRIX, SLOT(&l->ffn_router));
        put3(w, "ffn_up_exps.weight", E, F, hp->n_expert, SLOT(&l->ffn_up_exps));
        put3(w, "ffn_down_exps.weight", F, E, hp->n_expert, SLOT(&l->ffn_down_exps));
    } else {
        if (d->fused_up_gate || hp->up_gate_fused) { /* into ffn_gate, split by the loader */
            weight(w, "ffn_up", E, 2 * F, GG_MUST, GG_NO, SLOT(&l->ffn_gate), NULL);
        } else {
            weight(w, "ffn_up", E, F, GG_MUST, d->bias_up, SLOT(&l->ffn_up), SLOT(&l->ffn_up_b));
            if (d->ffn != GG_FFN_GELU)
                weight(w, "ffn_gate", E, F, GG_MUST, GG_NO, SLOT(&l->ffn_gate), NULL);
        }
        weight(w, "ffn_down", F, E, GG_MUST, d->bias_down, SLOT(&l->ffn_down), SLOT(&l->ffn_down_b));
    }
    norm(w, d, "post_ffw_norm", E, sandwich, SLOT(&l->ffn_post_norm), NULL);
    norm(w, d, "layer_output_norm", E, post, SLOT(&l->out_norm), SLOT(&l->out_norm_b));
}

/* A reranker's classification head. llama.cpp loads each part as
 * optional (jina-reranker-v1-tiny has no cls.output); the real files of
 * these rows have them all, so mkmodel writes them. */
static void rank_head(walk *w, const gg_arch_desc *d, const gg_hparams *hp, gg_model *m) {
    const int64_t E = hp->n_embd;
    if (d->rank == GG_RANK_CLS)
        weight(w, "cls", E, E, GG_USUAL, GG_USUAL, SLOT(&m->cls), SLOT(&m->cls_b));
    const gg_need out_bias = d->rank == GG_RANK_CLS ? GG_USUAL : GG_MAY;
    weight(w, "cls.output", E, hp->n_cls_out, d->rank == GG_RANK_CLS ? GG_USUAL : GG_MUST, out_bias,
           SLOT(&m->cls_out), SLOT(&m->cls_out_b));
}

int gg_arch_tensors(const gg_arch_desc *d, const gg_hparams *hp, int n_types, gg_model *m,
                    gg_tensor_fn fn, void *user) {
    walk w = {.fn = fn, .user = user, .layer = -1};
    const int64_t E = hp->n_embd;
    put(&w, "token_embd.weight", E, hp->n_vocab, GG_MUST, GG_T_EMBED, SLOT(&m->tok_embd));
    if (d->token_types && n_types > 0)
        put(&w, "token_types.weight", E, n_types, GG_USUAL, GG_T_EMBED, SLOT(&m->type_embd));
    if (d->pos == GG_POS_LEARNED)
        put(&w, "position_embd.weight", E, hp->n_ctx_train, GG_MUST, GG_T_EMBED, SLOT(&m->pos_embd));
    norm(&w, d, "token_embd_norm", E, d->embd_norm, SLOT(&m->embd_norm), SLOT(&m->embd_norm_b));
    for (w.layer = 0; w.layer < hp->n_layer && !w.rc; w.layer++)
        layer_tensors(&w, d, hp, m ? &m->layers[w.layer] : NULL, m);
    w.layer = -1;
    norm(&w, d, "output_norm", E, d->out_norm, SLOT(&m->out_norm), SLOT(&m->out_norm_b));
    if (d->dense_out && hp->n_dense > 0) {
        put(&w, "dense_2.weight", E, hp->n_dense, GG_MUST, GG_T_MATRIX, SLOT(&m->dense_2));
        put(&w, "dense_3.weight", hp->n_dense, E, GG_MUST, GG_T_MATRIX, SLOT(&m->dense_3));
    }
    if (d->rope_freqs)
        put(&w, "rope_freqs.weight", hp->rope.n_rot / 2, 0, GG_MAY, GG_T_ROPE_FREQS,
            SLOT(&m->hp.rope.freq_factors));
    if (hp->pooling == GGEMBED_POOLING_RANK) rank_head(&w, d, hp, m);
    return w.rc;
}
