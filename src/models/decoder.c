/*
 * decoder.c - the decoder architectures used as embedding models:
 * "llama" (LLaMA, Mistral: e5-mistral, SFR-Embedding), "qwen2"
 * (nomic-embed-code, gte-Qwen2) and "qwen3" (Qwen3-Embedding), as
 * llama.cpp's converter writes them.
 *
 * Pre-norm blocks: h = x + Attn(RMSNorm(x)); x' = h + FFN(RMSNorm(h)),
 * causal grouped-query attention with rotary positions (adjacent pairs
 * for llama, whose converter permutes Q/K; NeoX halves for Qwen), Q/K/V
 * biases where present (Qwen2), per-head RMS norms of Q and K (Qwen3), a
 * SwiGLU FFN, and a final RMS norm. Keys and values are rounded to half
 * precision, as llama.cpp's F16 KV cache holds them. Rotary positions may
 * be scaled, linearly or by YaRN, as the <arch>.rope.scaling.* metadata
 * says and llama.cpp reads it, and (llama) divided per pair by a
 * rope_freqs tensor.
 *
 * Memory: the residual stream, keys and values exist for all tokens;
 * queries and everything wider (the FFN) exist for one chunk of tokens
 * at a time, so a 7B model embeds 512 tokens in a few tens of MB.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ggembed.h"
#include "model.h"

/* The scaling factor of <arch>.rope.scaling.factor (or the older
 * rope.scale_linear), as a frequency scale: 1 when neither is there or
 * the factor is 0, as llama.cpp reads it. */
static int read_freq_scale(const gguf_file *f, const char *arch, float *freq_scale, gg_err *e) {
    char key[128];
    float factor = 0.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
    if (!gguf_find_kv(f, key)) snprintf(key, sizeof key, "%s.rope.scale_linear", arch);
    if (gguf_get_f32_or(f, key, 0.0f, &factor, e)) return -1;
    if (!(factor >= 0.0f) || isinf(factor)) return gg_fail(e, "%s = %g is not a usable factor", key, factor);
    *freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    return 0;
}

/* YaRN's cos/sin multiplier before the rope op's own 1 + 0.1 ln(factor):
 * llama.cpp sets it to that same amount and then divides the op's factor
 * back out, so the net magnitude is 1 + 0.1 ln(factor) either way; it is
 * computed the same way here so that it rounds the same. */
static float yarn_attn_factor(float freq_scale) {
    const float factor = 1.0f / freq_scale;
    float af = factor <= 1.0f ? 1.0f : 0.1f * logf(factor) + 1.0f;
    return af * (1.0f / (1.0f + 0.1f * logf(factor)));
}

/* YaRN over <arch>.rope.scaling.original_context_length positions (default
 * the training context), with ggml's default betas (32 and 1): llama.cpp
 * reads no others for these architectures. */
static int read_yarn(const gguf_file *f, const char *arch, gg_hparams *hp, gg_err *e) {
    char key[128];
    uint32_t n_orig;
    snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", arch);
    if (gguf_get_u32_or(f, key, (uint32_t)hp->n_ctx_train, &n_orig, e)) return -1;
    if (n_orig == 0) n_orig = (uint32_t)hp->n_ctx_train;
    if (n_orig > (1u << 30)) return gg_fail(e, "%s = %u is out of range", key, n_orig);
    hp->rope.ext_factor = 1.0f;
    hp->rope.attn_factor *= yarn_attn_factor(hp->rope.freq_scale);
    gg_rope_set_yarn(&hp->rope, (int)n_orig, 32.0f, 1.0f);
    return 0;
}

/* <arch>.rope.scaling.*: the type (llama.cpp takes a missing type as
 * linear, so a factor alone scales), the factor, an extra cos/sin factor
 * (attn_factor) and, for YaRN, the original context. */
static int read_rope_scaling(const gguf_file *f, const char *arch, gg_hparams *hp, gg_err *e) {
    char key[128];
    gguf_str type = {"linear", 6};
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (gguf_find_kv(f, key) && gguf_get_str(f, key, &type, e)) return -1;
    const bool yarn = gguf_str_eq(type, "yarn");
    if (!yarn && !gguf_str_eq(type, "linear") && !gguf_str_eq(type, "none"))
        return gg_fail(e, "rope scaling '%.*s' is not supported (none, linear and yarn are)",
                       (int)GG_MIN(type.len, 32), type.ptr);
    if (read_freq_scale(f, arch, &hp->rope.freq_scale, e)) return -1;
    if (gguf_str_eq(type, "none")) hp->rope.freq_scale = 1.0f;
    snprintf(key, sizeof key, "%s.rope.scaling.attn_factor", arch);
    if (gguf_get_f32_or(f, key, 1.0f, &hp->rope.attn_factor, e)) return -1;
    if (!(hp->rope.attn_factor > 0.0f) || isinf(hp->rope.attn_factor))
        return gg_fail(e, "%s = %g is not a positive number", key, hp->rope.attn_factor);
    return yarn ? read_yarn(f, arch, hp, e) : 0;
}

static int read_rope(const gguf_file *f, const char *arch, gg_hparams *hp, gg_err *e) {
    char key[128];
    uint32_t n_rot;
    float base;
    snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
    if (gguf_get_u32_or(f, key, (uint32_t)hp->head_dim, &n_rot, e)) return -1;
    if (n_rot == 0 || n_rot > (uint32_t)hp->head_dim || n_rot % 2)
        return gg_fail(e, "%s = %u does not fit heads of %d", key, n_rot, hp->head_dim);
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (gguf_get_f32_or(f, key, 10000.0f, &base, e)) return -1;
    hp->rope = gg_rope_plain((int)n_rot, base, strcmp(arch, "llama") != 0);
    return read_rope_scaling(f, arch, hp, e);
}

static int read_hparams(const gguf_file *f, const char *arch, gg_hparams *hp, gg_err *e) {
    char key[128];
    uint32_t v;
#define GET(suffix, dst)                                            \
    do {                                                            \
        snprintf(key, sizeof key, "%s.%s", arch, suffix);           \
        if (gguf_get_u32(f, key, &v, e)) return -1;                 \
        dst = (int)v;                                               \
    } while (0)
    GET("embedding_length", hp->n_embd);
    GET("block_count", hp->n_layer);
    GET("attention.head_count", hp->n_head);
    GET("feed_forward_length", hp->n_ff);
    GET("context_length", hp->n_ctx_train);
#undef GET
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if (gguf_get_u32_or(f, key, (uint32_t)hp->n_head, &v, e)) return -1;
    hp->n_head_kv = (int)v;
    if (hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv || hp->n_embd <= 0 ||
        hp->n_ff <= 0 || hp->n_ctx_train <= 0 || hp->n_embd > 65536)
        return gg_fail(e, "%s: inconsistent shape (embedding %d, heads %d/%d, ffn %d, context %d)",
                       arch, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_ctx_train);
    snprintf(key, sizeof key, "%s.attention.key_length", arch);
    if (gguf_get_u32_or(f, key, (uint32_t)(hp->n_embd / hp->n_head), &v, e)) return -1;
    if (v == 0 || v > 1024) return gg_fail(e, "%s = %u is out of range", key, v);
    hp->head_dim = (int)v;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if (gguf_get_f32(f, key, &hp->norm_eps, e)) return -1;
    snprintf(key, sizeof key, "%s.pooling_type", arch);
    if (gguf_get_u32_or(f, key, GGEMBED_POOLING_LAST, &v, e)) return -1;
    hp->pooling = (int)v;
    hp->causal = true;
    return read_rope(f, arch, hp, e);
}

static int load_layer(const gguf_file *f, const gg_model *m, int il, gg_layer *l, gg_err *e) {
    const gg_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff, D = hp->head_dim;
    const int64_t QW = D * hp->n_head, KV = D * hp->n_head_kv;
    const bool qwen3 = m->arch == GG_ARCH_QWEN3;
    char n[96];
#define T(name) (snprintf(n, sizeof n, "blk.%d.%s", il, name), n)
    if (gg_load_vector(f, T("attn_norm.weight"), E, true, &l->attn_norm, e) ||
        gg_load_matrix(f, T("attn_q.weight"), E, QW, true, &l->wq, e) ||
        gg_load_matrix(f, T("attn_k.weight"), E, KV, true, &l->wk, e) ||
        gg_load_matrix(f, T("attn_v.weight"), E, KV, true, &l->wv, e) ||
        gg_load_vector(f, T("attn_q.bias"), QW, false, &l->bq, e) ||
        gg_load_vector(f, T("attn_k.bias"), KV, false, &l->bk, e) ||
        gg_load_vector(f, T("attn_v.bias"), KV, false, &l->bv, e) ||
        gg_load_matrix(f, T("attn_output.weight"), QW, E, true, &l->wo, e) ||
        gg_load_vector(f, T("attn_output.bias"), E, false, &l->bo, e) ||
        gg_load_vector(f, T("attn_q_norm.weight"), D, qwen3, &l->q_norm, e) ||
        gg_load_vector(f, T("attn_k_norm.weight"), D, qwen3, &l->k_norm, e) ||
        gg_load_vector(f, T("ffn_norm.weight"), E, true, &l->ffn_norm, e) ||
        gg_load_matrix(f, T("ffn_gate.weight"), E, F, true, &l->ffn_gate, e) ||
        gg_load_matrix(f, T("ffn_up.weight"), E, F, true, &l->ffn_up, e) ||
        gg_load_matrix(f, T("ffn_down.weight"), F, E, true, &l->ffn_down, e))
        return -1;
#undef T
    return 0;
}

/* Llama 3's per-pair rotary frequency divisors, one f32 vector shared by
 * every layer. llama.cpp reads it for llama only and refuses a qwen2 or
 * qwen3 file that has it (a tensor it does not expect), so that is
 * refused here too rather than run one way or the other. */
static int load_rope_freqs(const gguf_file *f, gg_model *m, gg_err *e) {
    static const char name[] = "rope_freqs.weight";
    if (!gguf_find_tensor(f, name)) return 0;
    if (m->arch != GG_ARCH_LLAMA)
        return gg_fail(e, "tensor '%s' is not part of a %s model", name, m->arch_name);
    const float *ff;
    if (gg_load_vector(f, name, m->hp.rope.n_rot / 2, true, &ff, e)) return -1;
    for (int i = 0; i < m->hp.rope.n_rot / 2; i++)
        if (!(ff[i] > 0.0f) || isinf(ff[i]))
            return gg_fail(e, "tensor '%s': value %d is %g, not a positive factor", name, i, ff[i]);
    m->hp.rope.freq_factors = ff;
    return 0;
}

int gg_decoder_load(const gguf_file *f, gg_model *m, gg_err *e) {
    if (read_hparams(f, m->arch_name, &m->hp, e)) return -1;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) return gg_fail(e, "missing tensor 'token_embd.weight'");
    m->hp.n_vocab = (int)te->ne[1];
    if (gg_load_matrix(f, "token_embd.weight", m->hp.n_embd, m->hp.n_vocab, true, &m->tok_embd, e) ||
        gg_load_vector(f, "output_norm.weight", m->hp.n_embd, true, &m->out_norm, e))
        return -1;
    for (int il = 0; il < m->hp.n_layer; il++)
        if (load_layer(f, m, il, &m->layers[il], e)) return -1;
    return load_rope_freqs(f, m, e);
}

/* Keys and values of tokens [c0, c0 + c) from RMSNorm(x), with K norms,
 * rotary positions and rounding as the KV cache would hold them. */
static void project_kv(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, int c0,
                       int c) {
    const gg_hparams *hp = &m->hp;
    const int E = hp->n_embd, D = hp->head_dim, KV = D * hp->n_head_kv;
    float *h = w->tmp, *k = w->k + (size_t)c0 * KV, *v = w->v + (size_t)c0 * KV;
    gg_op_rmsnorm(ex, w->x + (size_t)c0 * E, h, c, E, l->attn_norm, hp->norm_eps);
    gg_op_matmul(ex, &l->wk, l->bk, h, E, c, k, KV);
    gg_op_matmul(ex, &l->wv, l->bv, h, E, c, v, KV);
    if (l->k_norm) gg_op_rmsnorm_heads(k, c, KV, hp->n_head_kv, D, l->k_norm, hp->norm_eps);
    gg_op_rope(k, c, KV, hp->n_head_kv, D, w->pos + c0, &hp->rope);
    gg_round_half(k, (int64_t)c * KV);
    gg_round_half(v, (int64_t)c * KV);
}

/* Queries of the chunk (made here, so they exist for one chunk only),
 * attention, output projection and the FFN, added into x. */
static void finish_chunk(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w,
                         const gg_batch *b, int c0, int c) {
    const gg_hparams *hp = &m->hp;
    const int E = hp->n_embd, F = hp->n_ff, D = hp->head_dim, QW = D * hp->n_head;
    float *x = w->x + (size_t)c0 * E;
    gg_op_rmsnorm(ex, x, w->tmp, c, E, l->attn_norm, hp->norm_eps);
    gg_op_matmul(ex, &l->wq, l->bq, w->tmp, E, c, w->q, QW);
    if (l->q_norm) gg_op_rmsnorm_heads(w->q, c, QW, hp->n_head, D, l->q_norm, hp->norm_eps);
    gg_op_rope(w->q, c, QW, hp->n_head, D, w->pos + c0, &hp->rope);
    gg_attend_chunk(m, ex, w, b, c0, c, w->q);
    gg_op_matmul(ex, &l->wo, l->bo, w->attn, QW, c, w->tmp, E);
    gg_op_add(ex, x, w->tmp, (size_t)c * E);
    gg_op_rmsnorm(ex, x, w->tmp, c, E, l->ffn_norm, hp->norm_eps);
    gg_op_matmul(ex, &l->ffn_gate, NULL, w->tmp, E, c, w->ff_gate, F);
    gg_op_matmul(ex, &l->ffn_up, NULL, w->tmp, E, c, w->ff_up, F);
    gg_op_swiglu(ex, w->ff_gate, w->ff_up, (size_t)c * F);
    gg_op_matmul(ex, &l->ffn_down, NULL, w->ff_gate, F, c, w->attn, E);
    gg_op_add(ex, x, w->attn, (size_t)c * E);
}

int gg_decoder_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b,
                       gg_cancel_fn cancel, void *cancel_user, gg_err *e) {
    const int E = m->hp.n_embd;
    for (int s = 0; s < b->n_seq; s++)
        for (int t = b->seq_start[s]; t < b->seq_start[s + 1]; t++) w->pos[t] = t - b->seq_start[s];
    for (int t = 0; t < b->n_tok; t++) gg_embedding_row(&m->tok_embd, b->tokens[t], w->x + (size_t)t * E);
    for (int il = 0; il < m->hp.n_layer; il++) {
        if (cancel && cancel(cancel_user)) return gg_fail(e, "cancelled");
        const gg_layer *l = &m->layers[il];
        /* All keys and values of the layer first: a token's attention
         * needs every earlier token's, and x changes as chunks finish. */
        for (int c0 = 0; c0 < b->n_tok; c0 += w->chunk)
            project_kv(m, l, ex, w, c0, GG_MIN(w->chunk, b->n_tok - c0));
        for (int c0 = 0; c0 < b->n_tok; c0 += w->chunk)
            finish_chunk(m, l, ex, w, b, c0, GG_MIN(w->chunk, b->n_tok - c0));
    }
    gg_op_rmsnorm(ex, w->x, w->x, b->n_tok, E, m->out_norm, m->hp.norm_eps);
    return 0;
}
