/*
 * loader.c - loading a model: its architecture's row, the shared
 * hyperparameters, and every tensor the row implies (gg_arch_tensors),
 * found by name with the shape the row expects. Every failure names the
 * tensor and both shapes. A tensor that some other row has but this one
 * does not (an ffn_gate in a GELU model, rope_freqs in a Qwen model) is
 * refused rather than ignored: the file means a computation this row
 * would not do.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const gguf_tensor *find(const gguf_file *f, const char *name, bool required, gg_err *e, int *rc) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    *rc = 0;
    if (!t && required) *rc = gg_fail(e, "missing tensor '%s'", name);
    return t;
}

int gg_load_matrix(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, bool required,
                   gg_matrix *out, gg_err *e) {
    int rc;
    memset(out, 0, sizeof *out);
    const gguf_tensor *t = find(f, name, required, e, &rc);
    if (!t) return rc;
    if (t->n_dims > 2 || t->ne[0] != ne0 || t->ne[1] != ne1)
        return gg_fail(e, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0, (long long)ne1);
    const gg_type_traits *tr = gg_type_info(t->type);
    if (!tr || !tr->can_compute)
        return gg_fail_kind(e, GG_E_UNSUPPORTED,
                            "tensor '%s' has type %s, which ggembed cannot compute with", name,
                            gg_type_name(t->type));
    out->data = t->data;
    out->type = (gg_type)t->type;
    out->cols = ne0;
    out->rows = ne1;
    out->row_bytes = gg_row_size((gg_type)t->type, ne0);
    return 0;
}

int gg_load_stack(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                  bool required, gg_matrix *out, gg_err *e) {
    int rc;
    memset(out, 0, sizeof *out);
    const gguf_tensor *t = find(f, name, required, e, &rc);
    if (!t) return rc;
    if (t->n_dims != 3 || t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != ne2)
        return gg_fail(e, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0, (long long)ne1, (long long)ne2);
    const gg_type_traits *tr = gg_type_info(t->type);
    if (!tr || !tr->can_compute)
        return gg_fail_kind(e, GG_E_UNSUPPORTED,
                            "tensor '%s' has type %s, which ggembed cannot compute with", name,
                            gg_type_name(t->type));
    *out = (gg_matrix){.data = t->data,
                       .type = (gg_type)t->type,
                       .cols = ne0,
                       .rows = ne1 * ne2,
                       .row_bytes = gg_row_size((gg_type)t->type, ne0)};
    return 0;
}

int gg_load_vector(const gguf_file *f, const char *name, int64_t n, bool required, const float **out,
                   gg_err *e) {
    int rc;
    *out = NULL;
    const gguf_tensor *t = find(f, name, required, e, &rc);
    if (!t) return rc;
    if (t->n_dims != 1 || t->ne[0] != n)
        return gg_fail(e,
                       "tensor '%s' has %u dimensions of which the first is %lld, expected a "
                       "vector of %lld",
                       name, t->n_dims, (long long)t->ne[0], (long long)n);
    if (t->type != GG_TYPE_F32)
        return gg_fail(e, "tensor '%s' has type %s; norms and biases must be f32", name,
                       gg_type_name(t->type));
    *out = (const float *)(const void *)t->data;
    return 0;
}

void gg_embedding_row(const gg_matrix *table, int64_t row, float *out) {
    const uint8_t *src = (const uint8_t *)table->data + (size_t)row * table->row_bytes;
    gg_dequantize_row(table->type, src, out, table->cols);
}

/* ---------------- loading a model ---------------- */

typedef struct load_ctx {
    const gguf_file *f;
    gg_model *m;
    gg_err *e;
} load_ctx;

static int load_one(const gg_tensor_spec *t, void *user) {
    load_ctx *c = user;
    const bool req = t->need == GG_MUST;
    if (t->ne2 > 0) return gg_load_stack(c->f, t->name, t->ne0, t->ne1, t->ne2, req, t->slot, c->e);
    if (t->ne1 > 0) return gg_load_matrix(c->f, t->name, t->ne0, t->ne1, req, t->slot, c->e);
    return gg_load_vector(c->f, t->name, t->ne0, req, t->slot, c->e);
}

/* A fused QKV projection is three projections whose rows follow each
 * other: Q's, then K's and V's; views of each keep one code path and let
 * queries be made a chunk at a time. */
static gg_matrix rows_of(const gg_matrix *w, int64_t r0, int64_t n) {
    gg_matrix v = *w;
    v.data = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
    v.rows = n;
    return v;
}

static void split_qkv(const gg_hparams *hp, gg_layer *l) {
    const int64_t QW = (int64_t)hp->head_dim * hp->n_head, KV = (int64_t)hp->head_dim * hp->n_head_kv;
    const gg_matrix qkv = l->wq;
    const float *b = l->bq;
    l->wq = rows_of(&qkv, 0, QW);
    l->wk = rows_of(&qkv, QW, KV);
    l->wv = rows_of(&qkv, QW + KV, KV);
    l->bk = b ? b + QW : NULL;
    l->bv = b ? b + QW + KV : NULL;
}

/* A fused up-gate projection: the activated half's rows first. */
static void split_up_gate(const gg_hparams *hp, gg_layer *l) {
    const gg_matrix both = l->ffn_gate;
    l->ffn_gate = rows_of(&both, 0, hp->n_ff);
    l->ffn_up = rows_of(&both, hp->n_ff, hp->n_ff);
}

static int check_rope_freqs(const gg_hparams *hp, gg_err *e) {
    const float *ff = hp->rope.freq_factors;
    for (int i = 0; ff && i < hp->rope.n_rot / 2; i++)
        if (!(ff[i] > 0.0f) || isinf(ff[i]))
            return gg_fail(e, "tensor 'rope_freqs.weight': value %d is %g, not a positive factor", i,
                           ff[i]);
    return 0;
}

/* The part of a tensor name after "blk.N.", which is what rows share. */
static gguf_str base_name(gguf_str n) {
    if (n.len < 4 || memcmp(n.ptr, "blk.", 4)) return n;
    for (uint64_t i = 4; i < n.len; i++)
        if (n.ptr[i] == '.') return (gguf_str){n.ptr + i + 1, n.len - i - 1};
    return n;
}

typedef struct name_set {
    char names[96][48];
    int n;
} name_set;

static bool in_set(const name_set *s, gguf_str name) {
    for (int i = 0; i < s->n; i++)
        if (gguf_str_eq(name, s->names[i])) return true;
    return false;
}

static int collect(const gg_tensor_spec *t, void *user) {
    name_set *s = user;
    gguf_str b = base_name((gguf_str){t->name, strlen(t->name)});
    if (s->n < (int)GG_ARRAY_LEN(s->names) && !in_set(s, b))
        snprintf(s->names[s->n++], sizeof s->names[0], "%.*s", (int)b.len, b.ptr);
    return 0;
}

/* Every tensor of the file that the architecture table knows by name
 * must be one this row has. */
static int check_foreign(const gguf_file *f, const gg_model *m, gg_err *e) {
    name_set mine = {.n = 0}, all = {.n = 0};
    gg_hparams one = m->hp; /* two blocks: the second has experts where any row has them */
    one.n_layer = 2;
    gg_arch_tensors(m->desc, &one, 1, NULL, collect, &mine);
    one.moe_every = 2;
    one.n_expert = one.n_expert_used = 1;
    one.n_dense = 1;
    for (int i = 0; gg_arch_at(i); i++) gg_arch_tensors(gg_arch_at(i), &one, 1, NULL, collect, &all);
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        gguf_str name = gguf_tensor_at(f, i)->name, b = base_name(name);
        if (in_set(&all, b) && !in_set(&mine, b))
            return gg_fail(e, "tensor '%.*s' is not part of a %s model", (int)GG_MIN(name.len, 64),
                           name.ptr, m->desc->name);
    }
    return 0;
}

int gg_model_load(const gguf_file *f, gg_model *m, gg_err *e) {
    memset(m, 0, sizeof *m);
    gguf_str arch;
    if (gguf_get_str(f, "general.architecture", &arch, e)) return -1;
    m->desc = gg_arch_find(arch);
    if (!m->desc) {
        char names[256];
        gg_arch_names(names, sizeof names);
        return gg_fail_kind(e, GG_E_UNSUPPORTED, "architecture '%.*s' is not supported (supported: %s)",
                            (int)GG_MIN(arch.len, 64), arch.ptr, names);
    }
    if (gg_hparams_read(f, m->desc, &m->hp, e)) return -1;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) return gg_fail(e, "missing tensor 'token_embd.weight'");
    if (te->ne[1] <= 0 || te->ne[1] > INT32_MAX)
        return gg_fail(e, "tensor 'token_embd.weight' has %lld rows", (long long)te->ne[1]);
    m->hp.n_vocab = (int)te->ne[1];
    const gguf_tensor *tt = gguf_find_tensor(f, "token_types.weight");
    int n_types = tt ? (int)GG_MIN(tt->ne[1], 1 << 16) : 0;
    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) return gg_fail_kind(e, GG_E_MEMORY, "out of memory for %d layers", m->hp.n_layer);
    load_ctx c = {.f = f, .m = m, .e = e};
    if (check_foreign(f, m, e) || gg_arch_tensors(m->desc, &m->hp, n_types, m, load_one, &c) ||
        check_rope_freqs(&m->hp, e)) {
        gg_model_free(m);
        return -1;
    }
    if (m->desc->fused_qkv)
        for (int il = 0; il < m->hp.n_layer; il++) split_qkv(&m->hp, &m->layers[il]);
    const int pat = m->hp.swa_pattern; /* llama.cpp's set_swa_pattern */
    for (int il = 0; pat > 0 && il < m->hp.n_layer; il++)
        m->layers[il].swa = m->desc->swa_dense_first ? il % pat != 0 : il % pat < pat - 1;
    if (m->desc->fused_up_gate || m->hp.up_gate_fused)
        for (int il = 0; il < m->hp.n_layer; il++) split_up_gate(&m->hp, &m->layers[il]);
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
