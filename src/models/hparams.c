/*
 * hparams.c - the <arch>.* hyperparameters, read the same way for every
 * architecture and checked once: positive sizes, heads that divide,
 * heads of a usable width, and the rotary settings where the row has
 * rotary positions (scaled linearly or by YaRN as the
 * <arch>.rope.scaling.* metadata says and llama.cpp reads it).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ggembed.h"
#include "model.h"

#define KEY(buf, arch, suffix) (snprintf(buf, sizeof buf, "%s.%s", arch, suffix), buf)

/* The scaling factor of <arch>.rope.scaling.factor (or the older
 * rope.scale_linear), as a frequency scale: 1 when neither is there or
 * the factor is 0, as llama.cpp reads it. */
static int read_freq_scale(const gguf_file *f, const char *arch, float *freq_scale, gg_err *e) {
    char key[128];
    float factor = 0.0f;
    if (!gguf_find_kv(f, KEY(key, arch, "rope.scaling.factor"))) KEY(key, arch, "rope.scale_linear");
    if (gguf_get_f32_or(f, key, 0.0f, &factor, e)) return -1;
    if (!(factor >= 0.0f) || isinf(factor))
        return gg_fail(e, "%s = %g is not a usable factor", key, factor);
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
    KEY(key, arch, "rope.scaling.original_context_length");
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
    if (gguf_find_kv(f, KEY(key, arch, "rope.scaling.type")) && gguf_get_str(f, key, &type, e))
        return -1;
    const bool yarn = gguf_str_eq(type, "yarn");
    if (!yarn && !gguf_str_eq(type, "linear") && !gguf_str_eq(type, "none"))
        return gg_fail_kind(e, GG_E_UNSUPPORTED,
                            "rope scaling '%.*s' is not supported (none, linear and yarn are)",
                            (int)GG_MIN(type.len, 32), type.ptr);
    if (read_freq_scale(f, arch, &hp->rope.freq_scale, e)) return -1;
    if (gguf_str_eq(type, "none")) hp->rope.freq_scale = 1.0f;
    KEY(key, arch, "rope.scaling.attn_factor");
    if (gguf_get_f32_or(f, key, 1.0f, &hp->rope.attn_factor, e)) return -1;
    if (!(hp->rope.attn_factor > 0.0f) || isinf(hp->rope.attn_factor))
        return gg_fail(e, "%s = %g is not a positive number", key, hp->rope.attn_factor);
    return yarn ? read_yarn(f, arch, hp, e) : 0;
}

static int read_rope(const gguf_file *f, const gg_arch_desc *d, gg_hparams *hp, gg_err *e) {
    char key[128];
    uint32_t n_rot;
    float base;
    KEY(key, d->name, "rope.dimension_count");
    if (gguf_get_u32_or(f, key, (uint32_t)hp->head_dim, &n_rot, e)) return -1;
    if (n_rot == 0 || n_rot > (uint32_t)hp->head_dim || n_rot % 2)
        return gg_fail(e, "%s = %u does not fit heads of %d", key, n_rot, hp->head_dim);
    if (gguf_get_f32_or(f, KEY(key, d->name, "rope.freq_base"), 10000.0f, &base, e)) return -1;
    if (!(base > 1.0f) || isinf(base)) return gg_fail(e, "%s = %g is not a usable base", key, base);
    hp->rope = gg_rope_plain((int)n_rot, base, d->pos == GG_POS_ROPE_NEOX);
    /* sliding-window blocks: their own base (Gemma's fixed 10000, or the
     * file's rope.freq_base_swa, by default the main one) and no scaling,
     * as llama.cpp sets them */
    float swa_base = d->swa_rope_base;
    if (swa_base == 0.0f &&
        gguf_get_f32_or(f, KEY(key, d->name, "rope.freq_base_swa"), base, &swa_base, e))
        return -1;
    if (!(swa_base > 1.0f) || isinf(swa_base))
        return gg_fail(e, "%s = %g is not a usable base", key, swa_base);
    hp->rope_swa = gg_rope_plain((int)n_rot, swa_base, d->pos == GG_POS_ROPE_NEOX);
    return read_rope_scaling(f, d->name, hp, e);
}

static int get_int(const gguf_file *f, const char *arch, const char *suffix, int def, int max, int *out,
                   gg_err *e) {
    char key[128];
    uint32_t v;
    KEY(key, arch, suffix);
    if (def < 0 ? gguf_get_u32(f, key, &v, e) : gguf_get_u32_or(f, key, (uint32_t)def, &v, e)) return -1;
    if (v == 0 || v > (uint32_t)max) return gg_fail(e, "%s = %u is out of range (1..%d)", key, v, max);
    *out = (int)v;
    return 0;
}

/* <arch>.hidden_activation of a gated FFN, the names llama.cpp maps: gelu
 * and geglu are GeGLU, silu, swish and swiglu SwiGLU. llama.cpp takes any
 * other name as GeGLU; here it is refused, since it means another
 * activation (relu and reglu too, which ggembed has no op for). */
static int read_activation(const gguf_file *f, const char *a, gg_hparams *hp, gg_err *e) {
    char key[128];
    gguf_str act;
    if (!gguf_find_kv(f, KEY(key, a, "hidden_activation"))) return 0;
    if (gguf_get_str(f, key, &act, e)) return -1;
    static const struct {
        const char *name;
        gg_ffn_kind ffn;
    } acts[] = {
        {"gelu", GG_FFN_GEGLU},   {"geglu", GG_FFN_GEGLU},   {"silu", GG_FFN_SWIGLU},
        {"swish", GG_FFN_SWIGLU}, {"swiglu", GG_FFN_SWIGLU},
    };
    for (size_t i = 0; i < GG_ARRAY_LEN(acts); i++)
        if (gguf_str_eq(act, acts[i].name)) {
            hp->ffn = acts[i].ffn;
            return 0;
        }
    return gg_fail_kind(e, GG_E_UNSUPPORTED,
                        "%s = '%.*s' is not supported (gelu, geglu, silu, swish, swiglu are)", key,
                        (int)GG_MIN(act.len, 32), act.ptr);
}

/* The sentence-transformers projection's widths, <arch>.dense_2_feat_in
 * and _out, dense_3_feat_in and _out: E -> P -> E, the only shape
 * llama.cpp takes. Without the keys there is none, and a file that has its
 * tensors anyway is refused, as llama.cpp does. */
static int read_dense(const gguf_file *f, const char *a, gg_hparams *hp, gg_err *e) {
    char key[128];
    uint32_t in2, out2, in3, out3;
    const uint32_t E = (uint32_t)hp->n_embd;
    if (gguf_get_u32_or(f, KEY(key, a, "dense_2_feat_out"), 0, &out2, e)) return -1;
    if (out2 == 0) {
        if (gguf_find_tensor(f, "dense_2.weight") || gguf_find_tensor(f, "dense_3.weight"))
            return gg_fail(e, "the file has the dense_2/dense_3 projection but no %s", key);
        return 0;
    }
    if (out2 > (1u << 20)) return gg_fail(e, "%s = %u is out of range", key, out2);
    if (gguf_get_u32_or(f, KEY(key, a, "dense_2_feat_in"), E, &in2, e)) return -1;
    if (in2 != E) return gg_fail(e, "%s = %u, not the embedding's %u", key, in2, E);
    if (gguf_get_u32_or(f, KEY(key, a, "dense_3_feat_in"), out2, &in3, e)) return -1;
    if (in3 != out2) return gg_fail(e, "%s = %u, not dense_2's output of %u", key, in3, out2);
    if (gguf_get_u32_or(f, KEY(key, a, "dense_3_feat_out"), E, &out3, e)) return -1;
    if (out3 != E) return gg_fail(e, "%s = %u, not the embedding's %u", key, out3, E);
    hp->n_dense = (int)out2;
    return 0;
}

/* <arch>.pooling_type, and for a reranker (rank) the number of its head's
 * outputs: the labels of <arch>.classifier.output_labels, 1 without them,
 * as llama.cpp counts them. */
static int read_pooling(const gguf_file *f, const gg_arch_desc *d, gg_hparams *hp, gg_err *e) {
    char key[128];
    uint32_t pooling;
    if (gguf_get_u32_or(f, KEY(key, d->name, "pooling_type"), (uint32_t)d->pooling, &pooling, e))
        return -1;
    if (pooling > GGEMBED_POOLING_RANK)
        return gg_fail_kind(e, GG_E_UNSUPPORTED,
                            "%s = %u is not a pooling ggembed knows "
                            "(none, mean, cls, last, rank)",
                            key, pooling);
    hp->pooling = (int)pooling;
    hp->n_cls_out = 1;
    if (pooling != GGEMBED_POOLING_RANK) return 0;
    if (d->rank == GG_RANK_NONE)
        return gg_fail_kind(e, GG_E_UNSUPPORTED,
                            "%s says rank (a reranker), and rerankers of "
                            "architecture %s are not supported (bert and qwen3 ones are)",
                            key, d->name);
    gguf_array labels;
    if (gguf_find_kv(f, KEY(key, d->name, "classifier.output_labels"))) {
        if (gguf_get_arr(f, key, GGUF_STRING, &labels, e)) return -1;
        if (labels.n == 0 || labels.n > (uint64_t)hp->n_embd)
            return gg_fail(e, "%s has %llu labels (1..%d)", key, (unsigned long long)labels.n,
                           hp->n_embd);
        hp->n_cls_out = (int)labels.n;
    }
    return 0;
}

int gg_hparams_read(const gguf_file *f, const gg_arch_desc *d, gg_hparams *hp, gg_err *e) {
    const char *a = d->name;
    char key[128];
    memset(hp, 0, sizeof *hp);
    if (get_int(f, a, "embedding_length", -1, 65536, &hp->n_embd, e) ||
        get_int(f, a, "block_count", -1, 4096, &hp->n_layer, e) ||
        get_int(f, a, "attention.head_count", -1, 4096, &hp->n_head, e) ||
        get_int(f, a, "attention.head_count_kv", hp->n_head, hp->n_head, &hp->n_head_kv, e) ||
        get_int(f, a, "feed_forward_length", -1, 1 << 20, &hp->n_ff, e) ||
        get_int(f, a, "context_length", -1, 1 << 30, &hp->n_ctx_train, e))
        return -1;
    if (hp->n_head % hp->n_head_kv)
        return gg_fail(e, "%s: %d query heads do not share %d key/value heads evenly", a, hp->n_head,
                       hp->n_head_kv);
    /* Heads are n_embd / n_head wide unless the file says otherwise. */
    const bool own_width = gguf_find_kv(f, KEY(key, a, "attention.key_length")) != NULL;
    if (!own_width && hp->n_embd % hp->n_head)
        return gg_fail(e, "%s: embedding of %d does not split into %d heads", a, hp->n_embd, hp->n_head);
    if (get_int(f, a, "attention.key_length", hp->n_embd / hp->n_head, 1024, &hp->head_dim, e))
        return -1;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    const char *eps = d->norm == GG_NORM_RMS ? "attention.layer_norm_rms_epsilon"
                                             : "attention.layer_norm_epsilon";
    if (gguf_get_f32(f, KEY(key, a, eps), &hp->norm_eps, e)) return -1;
    if (!(hp->norm_eps >= 0.0f) || isinf(hp->norm_eps))
        return gg_fail(e, "%s = %g is not a usable epsilon", key, hp->norm_eps);
    hp->causal = d->causal;
    if (!d->causal && gguf_get_bool_or(f, KEY(key, a, "attention.causal"), false, &hp->causal, e))
        return -1;
    if (read_pooling(f, d, hp, e)) return -1;
    if (d->moe) {
        if (get_int(f, a, "moe_every_n_layers", -1, hp->n_layer, &hp->moe_every, e) ||
            get_int(f, a, "expert_count", -1, 256, &hp->n_expert, e) ||
            get_int(f, a, "expert_used_count", -1, hp->n_expert, &hp->n_expert_used, e))
            return -1;
        /* the router's scores and an expert's output share a [chunk][n_ff] buffer */
        if (hp->n_ff < hp->n_embd || hp->n_ff < hp->n_expert || hp->n_expert_used > 8)
            return gg_fail_kind(e, GG_E_UNSUPPORTED,
                                "%s: experts of %d (%d of %d used) with an embedding of %d "
                                "are not supported",
                                a, hp->n_ff, hp->n_expert_used, hp->n_expert, hp->n_embd);
    }
    if (d->swa_pattern > 0) { /* optional where the full-attention block comes first */
        uint32_t n_swa = 0;
        KEY(key, a, "attention.sliding_window");
        if (d->swa_dense_first ? gguf_get_u32_or(f, key, 0, &n_swa, e) : gguf_get_u32(f, key, &n_swa, e))
            return -1;
        if (n_swa > (1u << 30) || (!d->swa_dense_first && n_swa == 0))
            return gg_fail(e, "%s = %u is out of range", key, n_swa);
        hp->swa_half = (int)(n_swa / 2);
        hp->swa_pattern = d->swa_pattern;
        KEY(key, a, "attention.sliding_window_pattern");
        uint32_t pat = (uint32_t)d->swa_pattern;
        if (d->swa_dense_first && gguf_get_u32_or(f, key, pat, &pat, e)) return -1;
        if (pat == 0 || pat > 4096) return gg_fail(e, "%s = %u is out of range", key, pat);
        if (n_swa > 0) hp->swa_pattern = (int)pat;
        else hp->swa_pattern = 0;
    }
    hp->ffn = d->ffn;
    if (d->act_key && read_activation(f, a, hp, e)) return -1;
    if (d->dense_out && read_dense(f, a, hp, e)) return -1;
    /* llama.cpp tells the two forms apart by whether ffn_gate is there */
    if (d->up_gate_either) hp->up_gate_fused = !gguf_find_tensor(f, "blk.0.ffn_gate.weight");
    /* llama.cpp fixes ALiBi's maximum bias at 8 and reads no key for it */
    if (d->pos == GG_POS_ALIBI) hp->alibi_max = 8.0f;
    if (d->pos == GG_POS_ROPE || d->pos == GG_POS_ROPE_NEOX) return read_rope(f, d, hp, e);
    return 0;
}
