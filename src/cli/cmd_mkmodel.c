/*
 * cmd_mkmodel.c - `ggembed mkmodel`: writes a GGUF model of a real
 * architecture and shape with seeded random weights and a real tokenizer
 * copied from a vocabulary file, in any supported tensor type or
 * llama.cpp mix. Tests and benchmarks make their models with it; the
 * files load in llama.cpp as well as here.
 *
 * Weights are generated row by row and streamed to disk, so a 7B model
 * needs a few MB of memory. A tensor's values depend only on the seed
 * and its name, so the same preset in two types holds the same weights
 * before quantization.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ggembed.h"
#include "kernels/kernels.h"
#include "mkmodel.h"
#include "models/model.h"

typedef enum { K_EMBED, K_MATRIX, K_NORM, K_BIAS, K_ROPE_FREQS } mk_kind;

typedef struct mk_tensor {
    char name[96];
    int64_t ne0, ne1, ne2; /* ne2 > 0: a stack of matrices (experts) */
    int n_dims, layer;
    mk_kind kind;
    gg_type type;
} mk_tensor;

typedef struct mk_job {
    const mk_preset *p;
    const mk_ftype *ft;
    const char *vocab_path, *out_path, *arch;
    const char *pre; /* tokenizer.ggml.pre over the copied vocabulary's, or NULL */
    const gg_arch_desc *desc;
    uint64_t seed;
    int n_layer, n_ctx, n_vocab;
    int n_types;     /* rows of token_types */
    mk_preset shape; /* the preset with the command line's overrides; p points here */
    /* rotary scaling metadata, written only when given (decoders) */
    const char *rope_scaling;
    float rope_factor, rope_attn_factor; /* 0: not given */
    int rope_orig_ctx;                   /* 0: not given */
    float rope_freqs;                    /* 0: none; else a Llama 3 rope_freqs tensor, this stretch */
    mk_tensor *t;
    int n_t, cap_t;
} mk_job;

static void add(mk_job *j, int layer, const char *name, int64_t ne0, int64_t ne1, mk_kind kind) {
    if (j->n_t == j->cap_t) {
        j->cap_t = j->cap_t ? 2 * j->cap_t : 64;
        j->t = realloc(j->t, sizeof *j->t * (size_t)j->cap_t);
        if (!j->t) {
            fprintf(stderr, "ggembed mkmodel: out of memory\n");
            exit(1);
        }
    }
    mk_tensor *t = &j->t[j->n_t++];
    if (layer >= 0) snprintf(t->name, sizeof t->name, "blk.%d.%s", layer, name);
    else snprintf(t->name, sizeof t->name, "%s", name);
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->ne2 = 0;
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->layer = layer;
    t->kind = kind;
}

static mk_kind kind_of(gg_tensor_role r) {
    switch (r) {
    case GG_T_EMBED: return K_EMBED;
    case GG_T_MATRIX: return K_MATRIX;
    case GG_T_NORM: return K_NORM;
    case GG_T_BIAS: return K_BIAS;
    case GG_T_ROPE_FREQS: return K_ROPE_FREQS;
    }
    return K_MATRIX;
}

/* The tensors the architecture's row implies: those real models have
 * (GG_USUAL and up), and rope_freqs when asked for. */
static int add_spec(const gg_tensor_spec *t, void *user) {
    mk_job *j = user;
    bool want = t->need >= GG_USUAL || (t->role == GG_T_ROPE_FREQS && j->rope_freqs > 0) ||
                (t->need == GG_MAY && j->p->all_optional && t->role != GG_T_ROPE_FREQS);
    if (want) add(j, -1, t->name, t->ne0, t->ne1, kind_of(t->role));
    if (want) j->t[j->n_t - 1].layer = t->layer;
    if (want && t->ne2 > 0) j->t[j->n_t - 1].ne2 = t->ne2, j->t[j->n_t - 1].n_dims = 3;
    return 0;
}

static void shape_of(const mk_job *j, gg_hparams *hp) {
    const mk_preset *p = j->p;
    memset(hp, 0, sizeof *hp);
    hp->n_vocab = j->n_vocab;
    hp->n_embd = p->n_embd;
    hp->n_layer = j->n_layer;
    hp->n_head = p->n_head;
    hp->n_head_kv = p->n_head_kv;
    hp->head_dim = p->head_dim;
    hp->n_ff = p->n_ff;
    hp->n_ctx_train = j->n_ctx;
    hp->rope.n_rot = p->head_dim;
    hp->moe_every = p->moe_every;
    hp->n_expert = p->n_expert;
    hp->n_expert_used = p->n_expert_used;
    hp->n_dense = p->n_dense;
    hp->up_gate_fused = p->up_gate_fused;
    hp->ffn = j->desc->ffn;
    hp->pooling = p->pooling;
    hp->n_cls_out = p->pooling == GGEMBED_POOLING_RANK && j->desc->rank == GG_RANK_LAST_SOFTMAX ? 2 : 1;
}

/* A Qwen3-Reranker's prompt, as the model card gives it and llama.cpp's
 * converter stores it; {query} and {document} are filled in per pair. */
static const char qwen3_rerank_template[] =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and "
    "the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n"
    "<|im_start|>user\n<Instruct>: Given a web search query, retrieve relevant passages that answer "
    "the query\n<Query>: {query}\n<Document>: {document}<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n\n</think>\n\n";

/* A reranker's metadata: Qwen3-Reranker's two labels (its head's rows)
 * and prompt; a BERT cross-encoder has one unnamed output and no prompt. */
static void set_rerank(const mk_job *j, gguf_writer *w) {
    if (j->p->pooling != GGEMBED_POOLING_RANK || j->desc->rank != GG_RANK_LAST_SOFTMAX) return;
    char k[96];
    const gguf_str labels[] = {{"yes", 3}, {"no", 2}};
    snprintf(k, sizeof k, "%s.classifier.output_labels", j->p->arch);
    gguf_set_arr_str(w, k, labels, 2);
    gguf_set_str(w, "tokenizer.chat_template.rerank", qwen3_rerank_template);
}

static void set_hparams(mk_job *j, gguf_writer *w) {
    const mk_preset *p = j->p;
    const gg_arch_desc *d = j->desc;
    char k[96];
#define SET(fn, suffix, v) (snprintf(k, sizeof k, "%s.%s", p->arch, suffix), fn(w, k, v))
    SET(gguf_set_u32, "context_length", (uint32_t)j->n_ctx);
    SET(gguf_set_u32, "embedding_length", (uint32_t)p->n_embd);
    SET(gguf_set_u32, "feed_forward_length", (uint32_t)p->n_ff);
    SET(gguf_set_u32, "block_count", (uint32_t)j->n_layer);
    SET(gguf_set_u32, "attention.head_count", (uint32_t)p->n_head);
    SET(gguf_set_u32, "attention.head_count_kv", (uint32_t)p->n_head_kv);
    SET(gguf_set_u32, "attention.key_length", (uint32_t)p->head_dim);
    SET(gguf_set_u32, "attention.value_length", (uint32_t)p->head_dim);
    SET(gguf_set_u32, "pooling_type", (uint32_t)p->pooling);
    SET(gguf_set_f32,
        d->norm == GG_NORM_RMS ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon",
        p->norm_eps);
    if (!d->causal) SET(gguf_set_bool, "attention.causal", false);
    if (d->swa_pattern > 0) SET(gguf_set_u32, "attention.sliding_window", (uint32_t)p->n_swa);
    if (d->swa_pattern > 0 && d->swa_rope_base == 0.0f)
        SET(gguf_set_f32, "rope.freq_base_swa", 10000.0f);
    if (d->moe) {
        SET(gguf_set_u32, "moe_every_n_layers", (uint32_t)p->moe_every);
        SET(gguf_set_u32, "expert_count", (uint32_t)p->n_expert);
        SET(gguf_set_u32, "expert_used_count", (uint32_t)p->n_expert_used);
    }
    if (p->hidden_act) SET(gguf_set_str, "hidden_activation", p->hidden_act);
    if (p->n_dense > 0) {
        SET(gguf_set_u32, "dense_2_feat_in", (uint32_t)p->n_embd);
        SET(gguf_set_u32, "dense_2_feat_out", (uint32_t)p->n_dense);
        SET(gguf_set_u32, "dense_3_feat_in", (uint32_t)p->n_dense);
        SET(gguf_set_u32, "dense_3_feat_out", (uint32_t)p->n_embd);
    }
    if (d->pos == GG_POS_ROPE || d->pos == GG_POS_ROPE_NEOX) {
        SET(gguf_set_f32, "rope.freq_base", p->rope_base);
        SET(gguf_set_u32, "rope.dimension_count", (uint32_t)p->head_dim);
        if (j->rope_scaling) SET(gguf_set_str, "rope.scaling.type", j->rope_scaling);
        if (j->rope_factor > 0) SET(gguf_set_f32, "rope.scaling.factor", j->rope_factor);
        if (j->rope_orig_ctx > 0)
            SET(gguf_set_u32, "rope.scaling.original_context_length", (uint32_t)j->rope_orig_ctx);
        if (j->rope_attn_factor > 0) SET(gguf_set_f32, "rope.scaling.attn_factor", j->rope_attn_factor);
    }
#undef SET
}

/* Copies the tokenizer, padding the vocabulary with unused [PADn]
 * tokens up to the preset's size, as llama.cpp's converter does. */
static int copy_vocab(mk_job *j, gguf_writer *w) {
    gguf_file *v;
    gg_err e = {{0}};
    if (gguf_open(j->vocab_path, &v, &e)) {
        fprintf(stderr, "ggembed mkmodel: %s\n", e.msg);
        return -1;
    }
    gguf_array toks;
    if (gguf_get_arr(v, "tokenizer.ggml.tokens", GGUF_STRING, &toks, &e)) {
        fprintf(stderr, "ggembed mkmodel: %s: %s\n", j->vocab_path, e.msg);
        gguf_close(v);
        return -1;
    }
    int have = (int)toks.n;
    /* token_types has as many rows as the vocabulary says there are types
     * (XLM-R: 1), as llama.cpp checks */
    uint32_t n_types = 2;
    if (gguf_find_kv(v, "tokenizer.ggml.token_type_count") &&
        gguf_get_u32(v, "tokenizer.ggml.token_type_count", &n_types, NULL) == 0 && n_types >= 1 &&
        n_types <= 16)
        j->n_types = (int)n_types;
    else if (j->desc->token_types) /* as llama.cpp's converter writes it for a BPE jina-v2 */
        gguf_set_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)j->n_types);
    j->n_vocab = j->p->n_vocab > have ? j->p->n_vocab : have;
    int pad = j->n_vocab - have;
    for (uint64_t i = 0; i < gguf_kv_count(v); i++) {
        const gguf_kv *kv = gguf_kv_at(v, i);
        bool tok = kv->key.len > 10 && !memcmp(kv->key.ptr, "tokenizer.", 10);
        if (!tok) continue;
        bool per_token = gguf_str_eq(kv->key, "tokenizer.ggml.tokens") ||
                         gguf_str_eq(kv->key, "tokenizer.ggml.token_type") ||
                         gguf_str_eq(kv->key, "tokenizer.ggml.scores");
        if (!pad || !per_token) gguf_set_kv_from(w, kv);
    }
    if (pad) {
        gguf_str *strs = malloc(sizeof *strs * (size_t)j->n_vocab);
        int32_t *types = malloc(sizeof *types * (size_t)j->n_vocab);
        float *scores = calloc((size_t)j->n_vocab, sizeof *scores);
        char *names = malloc((size_t)pad * 16);
        gguf_array ty, sc;
        bool has_types = !gguf_get_arr(v, "tokenizer.ggml.token_type", GGUF_INT32, &ty, NULL);
        bool has_scores = !gguf_get_arr(v, "tokenizer.ggml.scores", GGUF_FLOAT32, &sc, NULL);
        gguf_arr_strs(&toks, strs);
        for (int i = 0; i < have; i++) {
            types[i] = has_types ? gguf_arr_i32(&ty, (uint64_t)i) : 1;
            scores[i] = has_scores ? gguf_arr_f32(&sc, (uint64_t)i) : 0.0f;
        }
        for (int i = have; i < j->n_vocab; i++) {
            char *s = names + (size_t)(i - have) * 16;
            int len = snprintf(s, 16, "[PAD%d]", i);
            strs[i] = (gguf_str){s, (uint64_t)len};
            types[i] = 5; /* unused */
        }
        gguf_set_arr_str(w, "tokenizer.ggml.tokens", strs, (uint64_t)j->n_vocab);
        gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, types, (uint64_t)j->n_vocab);
        if (has_scores)
            gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_FLOAT32, scores, (uint64_t)j->n_vocab);
        free(strs), free(types), free(scores), free(names); /* the writer copied them */
    }
    gguf_close(v);
    return 0;
}

/* ---------------- weights ---------------- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s) { /* in [-1, 1) */
    return (float)((splitmix(s) >> 40) * (1.0 / 8388608.0) - 1.0);
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Llama 3.1's per-pair divisors of the rotary angle, as its converter
 * writes them: pairs that turn more than 4 times within the original
 * context (--rope-orig-ctx, default 8192) keep their angle, pairs that turn
 * less than once are stretched by the whole factor, a smooth ramp between. */
static void llama3_rope_freqs(const mk_job *j, int64_t n_pair, float *row) {
    const float factor = j->rope_freqs, lo = 1.0f, hi = 4.0f;
    const float orig = j->rope_orig_ctx > 0 ? (float)j->rope_orig_ctx : 8192.0f;
    const float base = j->p->rope_base > 0 ? j->p->rope_base : 10000.0f;
    for (int64_t i = 0; i < n_pair; i++) {
        float wavelen = 2.0f * 3.14159265f * powf(base, (float)(2 * i) / (float)(2 * n_pair));
        if (wavelen < orig / hi) row[i] = 1.0f;
        else if (wavelen > orig / lo) row[i] = factor;
        else {
            float smooth = (orig / wavelen - lo) / (hi - lo);
            row[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
}

static void fill_row(const mk_job *j, const mk_tensor *t, uint64_t *rng, float *row) {
    if (t->kind == K_ROPE_FREQS) return llama3_rope_freqs(j, t->ne0, row);
    /* Uniform values. Matrices get a standard deviation of 0.55/sqrt(fan-in):
     * 0.02 at width 768, the initializer range of BERT and LLaMA, and the
     * same gain per layer at every width. Much larger gains make random
     * networks chaotic: a one-ulp difference anywhere (a different
     * summation order, an activation rounding the other way when it is
     * quantized to 8 bits) then grows layer by layer until two correct
     * engines disagree at the third decimal of the cosine. */
    float a = t->kind == K_MATRIX ? 0.9526f / sqrtf((float)t->ne0) : t->kind == K_EMBED ? 1.0f : 0.1f;
    for (int64_t i = 0; i < t->ne0; i++) {
        float u = uniform(rng) * a;
        row[i] = t->kind == K_NORM ? 1.0f + u : u;
    }
}

static int write_tensor(gguf_writer *w, const mk_job *j, const mk_tensor *t, float *row, uint8_t *buf,
                        gg_err *e) {
    uint64_t rng = j->seed ^ name_hash(t->name);
    size_t row_bytes = gg_row_size(t->type, t->ne0);
    int64_t rows = t->n_dims == 3 ? t->ne1 * t->ne2 : t->n_dims == 2 ? t->ne1 : 1;
    for (int64_t r = 0; r < rows; r++) {
        fill_row(j, t, &rng, row);
        gg_quantize_row_ref(t->type, row, buf, t->ne0);
        if (gguf_write_data(w, buf, row_bytes, e)) return -1;
    }
    return 0;
}

static int write_model(mk_job *j) {
    gguf_writer *w = gguf_writer_new();
    gg_err e = {{0}};
    char name[160];
    gguf_set_str(w, "general.architecture", j->p->arch);
    snprintf(name, sizeof name, "ggembed-mkmodel %s %s seed %llu", j->p->name, j->ft->name,
             (unsigned long long)j->seed);
    gguf_set_str(w, "general.name", name);
    gguf_set_u32(w, "general.file_type", j->ft->llama_ftype);
    gguf_set_u32(w, "general.quantization_version", 2);
    if (j->vocab_path) {
        if (copy_vocab(j, w)) {
            gguf_writer_free(w);
            return -1;
        }
        if (j->pre) gguf_set_str(w, "tokenizer.ggml.pre", j->pre);
    } else {
        mk_builtin_vocab(w, &j->n_vocab);
    }
    if (j->p->add_eos >= 0) gguf_set_bool(w, "tokenizer.ggml.add_eos_token", j->p->add_eos != 0);
    set_hparams(j, w);
    set_rerank(j, w);
    gg_hparams hp;
    shape_of(j, &hp);
    gg_arch_tensors(j->desc, &hp, j->n_types, NULL, add_spec, j);
    int64_t widest = 0;
    for (int i = 0; i < j->n_t; i++) {
        mk_tensor *t = &j->t[i];
        t->type = mk_tensor_type(j->ft, t->name, t->layer, j->n_layer, t->ne0, t->n_dims);
        int64_t ne[3] = {t->ne0, t->ne1, t->ne2};
        gguf_add_tensor(w, t->name, t->type, (uint32_t)t->n_dims, ne);
        if (t->ne0 > widest) widest = t->ne0;
    }
    float *row = malloc(sizeof(float) * (size_t)widest);
    uint8_t *buf = malloc(sizeof(float) * (size_t)widest);
    int rc = row && buf ? gguf_writer_begin(w, j->out_path, 3, &e) : gg_fail(&e, "out of memory");
    for (int i = 0; i < j->n_t && rc == 0; i++) rc = write_tensor(w, j, &j->t[i], row, buf, &e);
    if (rc == 0) rc = gguf_writer_finish(w, &e);
    if (rc) fprintf(stderr, "ggembed mkmodel: %s\n", e.msg);
    free(row);
    free(buf);
    gguf_writer_free(w);
    return rc;
}

static void usage(FILE *out) {
    fprintf(out, "usage: ggembed mkmodel --preset NAME -o OUT.gguf [--type TYPE] [--vocab VOCAB.gguf]\n"
                 "                       [--seed N] [--layers N] [--ctx N] [--pooling P]\n"
                 "                       [--embd N] [--ff N] [--rope-scaling none|linear|yarn]\n"
                 "                       [--rope-factor F] [--rope-orig-ctx N] [--rope-attn-factor F]\n"
                 "                       [--rope-freqs F] [--dense N] [--fused-up-gate 0|1]\n"
                 "                       [--hidden-act NAME] [--pre NAME]\n\n"
                 "Writes a model with seeded random weights in the shape of a real one.\n"
                 "  --vocab FILE  copy the tokenizer from a GGUF file (default: a small built-in\n"
                 "                WordPiece vocabulary, for BERT-family presets)\n"
                 "  --type TYPE   tensor type or llama.cpp mix (default f16)\n"
                 "  --layers N    fewer (or more) layers than the preset\n"
                 "  --ctx N       another context length\n"
                 "  --pooling P   <arch>.pooling_type: none, mean, cls or last (default: the preset's)\n"
                 "  --embd N      another width (the heads stay; their size is n_embd / heads, except\n"
                 "                Qwen3's, which stays the preset's)\n"
                 "  --ff N        another feed-forward width (K-quants need widths that are multiples\n"
                 "                of 256, else llama.cpp and mkmodel fall back to 32-blocks)\n"
                 "  --dense N     gemma-embedding: the projection after pooling through N (0: none)\n"
                 "  --fused-up-gate 0|1  jina-bert-v2: gate and up in one ffn_up tensor, or two\n"
                 "  --hidden-act NAME    modern-bert: <arch>.hidden_activation (gelu, silu, ...)\n"
                 "  --pre NAME    tokenizer.ggml.pre instead of the --vocab file's (the pre-tokenizer\n"
                 "                of a model whose vocabulary has no fixture, e.g. jina-v2-es)\n"
                 "Rotary scaling of decoder presets (each key is written only when given):\n"
                 "  --rope-scaling T      <arch>.rope.scaling.type: none, linear or yarn\n"
                 "  --rope-factor F       <arch>.rope.scaling.factor: positions stretched F times\n"
                 "  --rope-orig-ctx N     <arch>.rope.scaling.original_context_length (YaRN's\n"
                 "                        trained context; llama.cpp's default is the context)\n"
                 "  --rope-attn-factor F  <arch>.rope.scaling.attn_factor (cos/sin multiplier)\n"
                 "  --rope-freqs F        llama: a rope_freqs tensor as Llama 3.1's, slow pairs\n"
                 "                        stretched F times (over --rope-orig-ctx, default 8192)\n"
                 "\npresets:\n");
    if (out == stderr) return;
    fflush(out);
    mk_list_presets();
    fprintf(stderr, "types:");
    mk_list_ftypes();
}

/* A positive finite float option value; prints a message naming the
 * option and returns false when it is not one. */
static bool parse_positive(const char *opt, const char *val, float *out) {
    char *end;
    float f = strtof(val, &end);
    if (end == val || *end || !(f > 0.0f) || isinf(f)) {
        fprintf(stderr, "ggembed mkmodel: %s wants a positive number, not '%s'\n", opt, val);
        return false;
    }
    *out = f;
    return true;
}

/* The --rope-* options: 1 when a was one (and val was good), 0 when it
 * is not one of them, -1 on a bad value. */
static int parse_rope(mk_job *j, const char *a, const char *val) {
    long v;
    if (!strcmp(a, "--rope-scaling")) {
        if (strcmp(val, "none") && strcmp(val, "linear") && strcmp(val, "yarn")) {
            fprintf(stderr, "ggembed mkmodel: --rope-scaling must be none, linear or yarn, not '%s'\n",
                    val);
            return -1;
        }
        j->rope_scaling = val;
        return 1;
    }
    if (!strcmp(a, "--rope-factor")) return parse_positive(a, val, &j->rope_factor) ? 1 : -1;
    if (!strcmp(a, "--rope-attn-factor")) return parse_positive(a, val, &j->rope_attn_factor) ? 1 : -1;
    if (!strcmp(a, "--rope-freqs")) return parse_positive(a, val, &j->rope_freqs) ? 1 : -1;
    if (!strcmp(a, "--rope-orig-ctx")) {
        if (!cli_parse_int(a, val, 1, 1 << 20, &v)) return -1;
        j->rope_orig_ctx = (int)v;
        return 1;
    }
    return 0;
}

static int parse(mk_job *j, int argc, char **argv) {
    const char *preset = NULL, *type = "f16";
    int pooling = -1, embd = 0, ff = 0, dense = -1, fused = -1;
    const char *act = NULL;
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!val) {
            fprintf(stderr, "ggembed mkmodel: %s needs a value\n", a);
            return -1;
        }
        i++;
        int rope = parse_rope(j, a, val);
        if (rope < 0) return -1;
        if (rope > 0) continue;
        if (!strcmp(a, "--preset")) preset = val;
        else if (!strcmp(a, "--hidden-act")) act = val;
        else if (!strcmp(a, "--pre")) j->pre = val;
        else if (!strcmp(a, "--type")) type = val;
        else if (!strcmp(a, "--vocab")) j->vocab_path = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) j->out_path = val;
        else if (!strcmp(a, "--seed") && cli_parse_int(a, val, 0, 0x7fffffffL, &v))
            j->seed = (uint64_t)v;
        else if (!strcmp(a, "--layers") && cli_parse_int(a, val, 1, 256, &v)) j->n_layer = (int)v;
        else if (!strcmp(a, "--ctx") && cli_parse_int(a, val, 8, 1 << 20, &v)) j->n_ctx = (int)v;
        else if (!strcmp(a, "--embd") && cli_parse_int(a, val, 32, 1 << 16, &v)) embd = (int)v;
        else if (!strcmp(a, "--ff") && cli_parse_int(a, val, 32, 1 << 18, &v)) ff = (int)v;
        else if (!strcmp(a, "--dense") && cli_parse_int(a, val, 0, 1 << 16, &v)) dense = (int)v;
        else if (!strcmp(a, "--fused-up-gate") && cli_parse_int(a, val, 0, 1, &v)) fused = (int)v;
        else if (!strcmp(a, "--pooling")) {
            pooling = ggembed_pooling_parse(val);
            if (pooling < 0) {
                fprintf(stderr,
                        "ggembed mkmodel: --pooling must be none, mean, cls, last or rank, not '%s'\n",
                        val);
                return -1;
            }
        } else if (strcmp(a, "--seed") && strcmp(a, "--layers") && strcmp(a, "--ctx") &&
                   strcmp(a, "--embd") && strcmp(a, "--ff") && strcmp(a, "--dense") &&
                   strcmp(a, "--fused-up-gate")) {
            fprintf(stderr, "ggembed mkmodel: unknown option '%s'\n", a);
            return -1;
        } else return -1;
    }
    if (!preset || !j->out_path) {
        fprintf(stderr, "ggembed mkmodel: --preset and -o are required\n");
        usage(stderr);
        return -1;
    }
    if (!(j->p = mk_find_preset(preset))) {
        fprintf(stderr, "ggembed mkmodel: unknown preset '%s'; presets:\n", preset);
        mk_list_presets();
        return -1;
    }
    if (!(j->ft = mk_find_ftype(type))) {
        fprintf(stderr, "ggembed mkmodel: unknown type '%s'; types:", type);
        mk_list_ftypes();
        return -1;
    }
    j->desc = gg_arch_find((gguf_str){j->p->arch, strlen(j->p->arch)});
    if (!j->desc) {
        fprintf(stderr, "ggembed mkmodel: preset '%s' has no architecture row\n", preset);
        return -1;
    }
    if (j->pre && !j->vocab_path) {
        fprintf(stderr, "ggembed mkmodel: --pre renames a --vocab file's pre-tokenizer; give --vocab\n");
        return -1;
    }
    if (!j->vocab_path && !j->p->builtin_vocab) {
        fprintf(stderr,
                "ggembed mkmodel: preset '%s' needs --vocab (the built-in vocabulary is "
                "WordPiece, for BERT-family models)\n",
                preset);
        return -1;
    }
    bool rope = j->rope_scaling || j->rope_factor > 0 || j->rope_orig_ctx || j->rope_attn_factor > 0;
    if (rope && !j->desc->causal) {
        fprintf(stderr,
                "ggembed mkmodel: the --rope-* options are for decoder presets (llama, "
                "qwen2, qwen3), not '%s'\n",
                preset);
        return -1;
    }
    if (j->rope_freqs > 0 && !j->desc->rope_freqs) {
        fprintf(stderr,
                "ggembed mkmodel: --rope-freqs is for llama presets (llama.cpp reads the "
                "tensor for no other of these architectures), not '%s'\n",
                preset);
        return -1;
    }
    const char *wrong = dense >= 0 && !j->desc->dense_out        ? "--dense"
                        : fused >= 0 && !j->desc->up_gate_either ? "--fused-up-gate"
                        : act && !j->desc->act_key               ? "--hidden-act"
                                                                 : NULL;
    if (wrong) {
        fprintf(stderr,
                "ggembed mkmodel: %s is not an option of '%s' (an architecture without that "
                "variant)\n",
                wrong, preset);
        return -1;
    }
    j->shape = *j->p;
    if (dense >= 0) j->shape.n_dense = dense;
    if (fused >= 0) j->shape.up_gate_fused = fused != 0;
    if (act) j->shape.hidden_act = act;
    if (pooling >= 0) j->shape.pooling = pooling;
    if (j->shape.pooling == GGEMBED_POOLING_RANK && j->desc->rank == GG_RANK_NONE) {
        fprintf(stderr,
                "ggembed mkmodel: --pooling rank (a reranker) is for bert and qwen3 presets, "
                "not '%s'\n",
                preset);
        return -1;
    }
    if (ff) j->shape.n_ff = ff;
    if (embd) {
        /* Qwen3 has its own head size; the others' is n_embd / n_head
         * (llama.cpp's qwen2 requires it). */
        bool own_head = j->p->head_dim * j->p->n_head != j->p->n_embd;
        if (!own_head && embd % j->p->n_head) {
            fprintf(stderr, "ggembed mkmodel: --embd %d is not a multiple of the %d heads\n", embd,
                    j->p->n_head);
            return -1;
        }
        j->shape.n_embd = embd;
        if (!own_head) j->shape.head_dim = embd / j->p->n_head;
    }
    j->p = &j->shape;
    if (!j->n_layer) j->n_layer = j->p->n_layer;
    if (!j->n_ctx) j->n_ctx = j->p->n_ctx;
    return 0;
}

int cmd_mkmodel(int argc, char **argv) {
    mk_job j = {.seed = 42, .n_types = 2};
    if (parse(&j, argc, argv)) return 2;
    int rc = write_model(&j);
    free(j.t);
    if (rc) {
        remove(j.out_path);
        return 1;
    }
    fprintf(stderr, "ggembed mkmodel: wrote %s (%s, %s, %d layers, %d tokens)\n", j.out_path, j.p->name,
            j.ft->name, j.n_layer, j.n_vocab);
    return 0;
}
