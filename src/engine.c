/*
 * engine.c - the public API of include/ggembed.h: opening a model (map,
 * validate, load the tokenizer and weights, size and allocate all working
 * memory once), packing texts into batches, running the forward pass,
 * pooling and normalizing.
 *
 * Memory: everything a forward pass touches is carved out of one
 * allocation made at open, sized from the model's shapes, the batch token
 * budget and the thread count; embedding allocates only the temporary
 * text buffer a prefix needs. Weights are read through the mapping.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggembed.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "models/model.h"
#include "platform/platform.h"
#include "threadpool.h"
#include "tokenizer/tokenizer.h"

#define MAX_SPECIAL 4 /* special tokens around a text, at each end */

struct ggembed_model {
    char *path; /* as given to open: the file checked before each pass */
    gguf_file *file;
    gg_tokenizer *tok;
    gg_model model;
    bool has_weights;
    ggembed_options opt;
    ggembed_info info;
    char arch[64], name[128], tok_name[32], tok_pre[64];
    gg_pool *pool;
    gg_exec ex;
    gg_work work;
    uint8_t *mem;
    int n_ctx; /* tokens per text, specials included */
    int32_t lead[MAX_SPECIAL], trail[MAX_SPECIAL];
    int n_lead, n_trail;
    int embed_pooling; /* embed()'s default: the open option's, else the file's */
    /* a reranker's pair without a template: lead query mid document trail */
    int32_t pair_lead[1], pair_mid[2], pair_trail[1];
    int n_pair_lead, n_pair_mid, n_pair_trail;
    gguf_str rerank_template; /* tokenizer.chat_template.rerank; len 0: none */
    int32_t *tokens;          /* the packed batch */
    int *seq_start;           /* n_seq + 1 */
    int *seq_text;            /* text index of each sequence */
    gg_mutex *lock;
};

static ggembed_status fail(char *err, size_t len, ggembed_status st, const char *fmt, ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return st;
}

void ggembed_options_default(ggembed_options *o) {
    memset(o, 0, sizeof *o);
    o->pooling = GGEMBED_POOLING_DEFAULT;
    o->normalize = 1;
}

void ggembed_embed_options_default(ggembed_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->pooling = GGEMBED_POOLING_DEFAULT;
    o->normalize = -1;
    o->truncate = 1;
}

static void copy_str(char *dst, size_t cap, gguf_str s) {
    size_t n = GG_MIN(s.len, cap - 1);
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* The special tokens an embedding puts before and after a text, found by
 * comparing a probe text tokenized with and without them. */
static int find_specials(ggembed_model *m, gg_err *e) {
    int32_t with[64], without[64];
    gg_tok_options sp = {.add_special = true}, plain = {.add_special = false};
    int64_t nw = gg_tokenize(m->tok, "a", 1, &sp, with, 64, e);
    int64_t np = gg_tokenize(m->tok, "a", 1, &plain, without, 64, e);
    if (nw < 0 || np < 0) return -1;
    if (nw > 64 || np > 64 || nw < np || nw - np > 2 * MAX_SPECIAL)
        return gg_fail_kind(e, GG_E_UNSUPPORTED, "tokenizer: unexpected special tokens around a text");
    for (int lead = 0; lead <= nw - np && lead <= MAX_SPECIAL; lead++) {
        if (memcmp(with + lead, without, sizeof(int32_t) * (size_t)np) != 0) continue;
        int trail = (int)(nw - np) - lead;
        if (trail > MAX_SPECIAL) continue;
        m->n_lead = lead;
        m->n_trail = trail;
        memcpy(m->lead, with, sizeof(int32_t) * (size_t)lead);
        memcpy(m->trail, with + lead + np, sizeof(int32_t) * (size_t)trail);
        return 0;
    }
    return gg_fail_kind(e, GG_E_UNSUPPORTED,
                        "tokenizer: special tokens are not only at the ends of a text");
}

/* How a reranker's pair is put together, as llama-server does it: the
 * model's rerank template when it has one (tokenized whole, special
 * tokens' text recognised); otherwise BOS query EOS SEP document EOS, each
 * special where the vocabulary adds it, and SEP where EOS is wanted but
 * the vocabulary has none (BERT: [CLS] query [SEP] document). */
static int find_pair_specials(ggembed_model *m, gg_err *e) {
    const gg_tok_info *ti = gg_tokenizer_info(m->tok);
    gguf_str tpl;
    if (gguf_find_kv(m->file, "tokenizer.chat_template.rerank")) {
        if (gguf_get_str(m->file, "tokenizer.chat_template.rerank", &tpl, e)) return -1;
        m->rerank_template = tpl;
        return 0;
    }
    const int32_t eos = ti->eos >= 0 ? ti->eos : ti->sep;
    if ((ti->add_bos && ti->bos < 0) || (ti->add_eos && eos < 0) || (ti->add_sep && ti->sep < 0))
        return gg_fail(e, "the vocabulary adds a BOS, EOS or SEP token that it does not have");
    if (ti->add_bos) m->pair_lead[m->n_pair_lead++] = ti->bos;
    if (ti->add_eos) m->pair_mid[m->n_pair_mid++] = eos;
    if (ti->add_sep) m->pair_mid[m->n_pair_mid++] = ti->sep;
    if (ti->add_eos) m->pair_trail[m->n_pair_trail++] = eos;
    const int fixed = m->n_pair_lead + m->n_pair_mid + m->n_pair_trail;
    if (m->n_ctx < fixed + 1)
        return gg_fail(e, "a context of %d tokens has no room for a pair", m->n_ctx);
    return 0;
}

static int alloc_work(ggembed_model *m, gg_err *e) {
    const int threads = gg_pool_size(m->pool);
    const int max_tok = m->opt.max_batch_tokens;
    int chunk = gg_work_chunk(&m->model, max_tok);
    gg_work_plan plan;
    gg_work_plan_make(&m->model, max_tok, chunk, threads, &plan);
    size_t batch_bytes = (size_t)max_tok * (sizeof(int32_t) + 2 * sizeof(int)) + sizeof(int);
    size_t need = plan.total + batch_bytes;
    if (m->opt.max_memory && need > m->opt.max_memory && chunk > GG_WORK_CHUNK_MIN) {
        /* a larger chunk only saves passes over the weights: not worth refusing to open */
        chunk = GG_MIN(GG_WORK_CHUNK_MIN, max_tok);
        gg_work_plan_make(&m->model, max_tok, chunk, threads, &plan);
        need = plan.total + batch_bytes;
    }
    if (m->opt.max_memory && need > m->opt.max_memory)
        return gg_fail_kind(e, GG_E_MEMORY,
                            "working memory would be %.1f MB (batch of %d tokens, %d threads), over the "
                            "ceiling of %.1f MB: lower the batch size or raise the ceiling",
                            need / 1048576.0, max_tok, threads, m->opt.max_memory / 1048576.0);
    m->mem = gg_aligned_alloc(plan.total);
    m->tokens = malloc((size_t)max_tok * sizeof(int32_t));
    m->seq_start = malloc(((size_t)max_tok + 1) * sizeof(int));
    m->seq_text = malloc((size_t)max_tok * sizeof(int));
    if (!m->mem || !m->tokens || !m->seq_start || !m->seq_text)
        return gg_fail_kind(e, GG_E_MEMORY, "out of memory allocating %.1f MB of working memory",
                            need / 1048576.0);
    gg_work_carve(&m->model, max_tok, chunk, m->mem, &m->work);
    m->ex.pool = m->pool;
    m->ex.n_threads = threads;
    m->ex.act = m->mem + plan.work_bytes;
    m->ex.act_cap = plan.act_bytes;
    m->ex.scores = (float *)(void *)(m->mem + plan.work_bytes + plan.act_bytes);
    m->ex.score_cap = plan.score_floats;
    m->info.working_memory = need;
    return 0;
}

static int open_weights(ggembed_model *m, gg_err *e) {
    if (gg_model_load(m->file, &m->model, e)) return -1;
    const gg_hparams *hp = &m->model.hp;
    if (hp->n_vocab != gg_tokenizer_info(m->tok)->n_vocab)
        return gg_fail(e, "token_embd.weight has %d rows but the vocabulary has %d tokens", hp->n_vocab,
                       gg_tokenizer_info(m->tok)->n_vocab);
    const int cap = m->model.desc->default_ctx;
    int def = cap ? GG_MIN(hp->n_ctx_train, cap) : hp->n_ctx_train;
    if (m->opt.max_batch_tokens <= 0) m->opt.max_batch_tokens = def;
    if (m->opt.max_batch_tokens < m->n_lead + m->n_trail + 1)
        return gg_fail(e, "batch of %d tokens is too small", m->opt.max_batch_tokens);
    m->n_ctx = GG_MIN(hp->n_ctx_train, m->opt.max_batch_tokens);
    int threads = m->opt.n_threads > 0 ? m->opt.n_threads : gg_cpu_count();
    m->pool = gg_pool_new(threads, e);
    if (!m->pool) return -1;
    m->lock = gg_mutex_new();
    if (!m->lock) return gg_fail(e, "cannot create a lock");
    gg_ops_init();
    return alloc_work(m, e);
}

static void fill_info(ggembed_model *m) {
    ggembed_info *in = &m->info;
    gguf_str s;
    const gg_tok_info *ti = gg_tokenizer_info(m->tok);
    if (!gguf_get_str(m->file, "general.architecture", &s, NULL)) copy_str(m->arch, sizeof m->arch, s);
    if (!gguf_get_str(m->file, "general.name", &s, NULL)) copy_str(m->name, sizeof m->name, s);
    snprintf(m->tok_name, sizeof m->tok_name, "%s", ti->model_name);
    snprintf(m->tok_pre, sizeof m->tok_pre, "%s", ti->pre_name ? ti->pre_name : "default");
    in->arch = m->arch;
    in->name = m->name;
    in->tokenizer = m->tok_name;
    in->tokenizer_pre = m->tok_pre;
    in->n_vocab = ti->n_vocab;
    in->file_size = gguf_file_size(m->file);
    in->tokenizer_memory = gg_tokenizer_memory(m->tok);
    in->has_weights = m->has_weights;
    in->simd = gg_simd_name(gg_kernels_level());
    if (!m->has_weights) return;
    const gg_hparams *hp = &m->model.hp;
    in->n_embd = hp->n_embd;
    in->n_ctx = m->n_ctx;
    in->n_layer = hp->n_layer;
    in->n_head = hp->n_head;
    in->n_head_kv = hp->n_head_kv;
    in->n_ff = hp->n_ff;
    m->embed_pooling = m->opt.pooling >= 0 ? m->opt.pooling : hp->pooling;
    in->pooling = hp->pooling == GGEMBED_POOLING_RANK ? GGEMBED_POOLING_RANK : m->embed_pooling;
    in->causal = hp->causal;
    in->n_params = m->model.n_params;
    in->n_threads = gg_pool_size(m->pool);
    in->max_batch_tokens = m->opt.max_batch_tokens;
}

/* The mapped file must still be the file that was opened: rewritten in
 * place, its pages would mix two models and give vectors that match
 * neither; truncated, reading them faults. A change is for good: the
 * identity can never be set back (ctime, or a new file id). */
static ggembed_status check_file(const ggembed_model *m, gg_err *e) {
    const gg_mapping *map = gguf_mapping(m->file);
    if (!map) return GGEMBED_OK;
    gg_file_identity now;
    gg_err os;
    if (gg_file_identity_get(m->path, &now, &os)) {
        gg_fail(e,
                "%s: the model file changed on disk since it was opened (it cannot be found: %s); "
                "reopen it",
                m->path, os.msg);
        return GGEMBED_E_MODEL_CHANGED;
    }
    const gg_file_identity *was = &map->id;
    char what[128];
    if (now.device != was->device || now.file_id != was->file_id)
        snprintf(what, sizeof what, "its name now belongs to another file");
    else if (now.size != was->size)
        snprintf(what, sizeof what, "its size went from %llu to %llu bytes",
                 (unsigned long long)was->size, (unsigned long long)now.size);
    else if (now.mtime_ns != was->mtime_ns || now.ctime_ns != was->ctime_ns)
        snprintf(what, sizeof what, "it was written to");
    else return GGEMBED_OK;
    gg_fail(e, "%s: the model file changed on disk since it was opened (%s); reopen it", m->path, what);
    return GGEMBED_E_MODEL_CHANGED;
}

/* The public status of an error of kind k; `invalid` is what
 * GG_E_INVALID means where it happened (a bad file while opening, a bad
 * argument otherwise). */
static ggembed_status status_of(gg_err_kind k, ggembed_status invalid) {
    switch (k) {
    case GG_E_IO: return GGEMBED_E_IO;
    case GG_E_UNSUPPORTED: return GGEMBED_E_UNSUPPORTED;
    case GG_E_MEMORY: return GGEMBED_E_MEMORY;
    case GG_E_TOO_LONG: return GGEMBED_E_TOO_LONG;
    case GG_E_CANCELLED: return GGEMBED_E_CANCELLED;
    case GG_E_NONE:
    case GG_E_INVALID:
    case GG_E_KIND_COUNT: break;
    }
    return invalid;
}

static ggembed_status open_steps(ggembed_model *m, const char *path, gg_err *e) {
    FILE *probe = fopen(path, "rb"); /* tell "cannot read" from "not a model" */
    if (!probe) {
        gg_fail_kind(e, GG_E_IO, "cannot open: %s", strerror(errno));
        return GGEMBED_E_IO;
    }
    fclose(probe);
    if (gguf_open(path, &m->file, e) || gg_tokenizer_load(m->file, &m->tok, e) || find_specials(m, e))
        return status_of(e->kind, GGEMBED_E_FORMAT);
    m->has_weights = !m->opt.vocab_only && gguf_tensor_count(m->file) > 0;
    if (m->has_weights && open_weights(m, e)) return status_of(e->kind, GGEMBED_E_FORMAT);
    if (m->has_weights && m->model.hp.pooling == GGEMBED_POOLING_RANK && find_pair_specials(m, e))
        return status_of(e->kind, GGEMBED_E_FORMAT);
    fill_info(m);
    return GGEMBED_OK;
}

ggembed_status ggembed_open(const char *path, const ggembed_options *opt, ggembed_model **out, char *err,
                            size_t err_len) {
    *out = NULL;
    if (!path) return fail(err, err_len, GGEMBED_E_INVALID, "no model path given");
    const char *simd = gg_kernels_env_bad();
    if (simd)
        return fail(err, err_len, GGEMBED_E_INVALID,
                    "GGEMBED_SIMD=%.40s is not one of scalar, avx2, avxvnni, avx512-plain, avx512",
                    simd);
    ggembed_model *m = calloc(1, sizeof *m);
    if (!m) return fail(err, err_len, GGEMBED_E_MEMORY, "out of memory");
    if (opt) m->opt = *opt;
    else ggembed_options_default(&m->opt);
    size_t path_len = strlen(path);
    m->path = malloc(path_len + 1);
    if (!m->path) {
        free(m);
        return fail(err, err_len, GGEMBED_E_MEMORY, "out of memory");
    }
    memcpy(m->path, path, path_len + 1);
    if (m->opt.pooling < GGEMBED_POOLING_DEFAULT || m->opt.pooling > GGEMBED_POOLING_LAST) {
        free(m->path);
        free(m);
        return fail(err, err_len, GGEMBED_E_INVALID, "pooling %d is not one of none, mean, cls, last",
                    opt->pooling);
    }
    gg_err e = {{0}};
    ggembed_status st = open_steps(m, path, &e);
    if (st != GGEMBED_OK) {
        ggembed_close(m);
        return fail(err, err_len, st, "%s: %s", path, e.msg);
    }
    *out = m;
    return GGEMBED_OK;
}

void ggembed_close(ggembed_model *m) {
    if (!m) return;
    gg_model_free(&m->model);
    if (m->pool) gg_pool_free(m->pool);
    if (m->lock) gg_mutex_free(m->lock);
    gg_aligned_free(m->mem);
    free(m->tokens);
    free(m->seq_start);
    free(m->seq_text);
    gg_tokenizer_free(m->tok);
    gguf_close(m->file);
    free(m->path);
    free(m);
}

const ggembed_info *ggembed_get_info(const ggembed_model *m) { return &m->info; }

/* ---------------- embedding ---------------- */

typedef struct embed_call {
    ggembed_model *m;
    const ggembed_embed_options *o;
    int pooling, dims;
    bool normalize;
    float *out;
    ggembed_result *results;
    int n_tok, n_seq; /* the batch being filled */
    char *joined;     /* prefix + text scratch */
    size_t joined_cap;
} embed_call;

static void l2_normalize(float *v, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)v[i] * v[i];
    if (sum <= 0) return;
    float inv = (float)(1.0 / sqrt(sum));
    for (int i = 0; i < n; i++) v[i] *= inv;
}

/* Sequence s's vector over all n_embd columns into dst. */
static void pool_sequence(const embed_call *c, int s, float *dst) {
    const ggembed_model *m = c->m;
    const int E = m->model.hp.n_embd;
    const int t0 = m->seq_start[s], t1 = m->seq_start[s + 1];
    const float *x = m->work.x;
    if (c->pooling == GGEMBED_POOLING_MEAN) {
        for (int i = 0; i < E; i++) {
            double sum = 0;
            for (int t = t0; t < t1; t++) sum += x[(size_t)t * E + i];
            dst[i] = (float)(sum / (t1 - t0));
        }
    } else {
        int t = c->pooling == GGEMBED_POOLING_CLS ? t0 : t1 - 1;
        memcpy(dst, x + (size_t)t * E, sizeof(float) * (size_t)E);
    }
}

/* The batch's vectors, a chunk of sequences at a time: pooled into the
 * pass's scratch rows (w.tmp, [chunk][E], free once the pass is done),
 * projected where the model says, then cut to dims and normalized into
 * each text's place. */
static void pool_batch(embed_call *c) {
    ggembed_model *m = c->m;
    const int E = m->model.hp.n_embd, chunk = m->work.chunk;
    float *rows = m->work.tmp;
    for (int s0 = 0; s0 < c->n_seq; s0 += chunk) {
        const int n = GG_MIN(chunk, c->n_seq - s0);
        for (int i = 0; i < n; i++) pool_sequence(c, s0 + i, rows + (size_t)i * E);
        gg_model_project(&m->model, &m->ex, &m->work, rows, n);
        for (int i = 0; i < n; i++) {
            float *dst = c->out + (size_t)m->seq_text[s0 + i] * c->dims;
            memcpy(dst, rows + (size_t)i * E, sizeof(float) * (size_t)c->dims);
            if (c->normalize) l2_normalize(dst, c->dims);
        }
    }
}

static int cancel_hook(void *user) {
    const ggembed_embed_options *o = user;
    return o->cancel(o->cancel_user);
}

static ggembed_status flush(embed_call *c, gg_err *e) {
    ggembed_model *m = c->m;
    if (c->n_seq == 0) return GGEMBED_OK;
    m->seq_start[c->n_seq] = c->n_tok;
    gg_batch b = {.tokens = m->tokens, .seq_start = m->seq_start, .n_seq = c->n_seq, .n_tok = c->n_tok};
    if (gg_model_forward(&m->model, &m->ex, &m->work, &b, c->o->cancel ? cancel_hook : NULL,
                         (void *)c->o, e))
        return status_of(e->kind, GGEMBED_E_INVALID);
    /* A file rewritten during the pass leaves vectors of mixed weights.
     * This check is also the one before the next pass: only tokenizing
     * comes between (the call checked once before its first). */
    ggembed_status st = check_file(m, e);
    if (st != GGEMBED_OK) return st;
    pool_batch(c);
    c->n_tok = c->n_seq = 0;
    return GGEMBED_OK;
}

/* The text to tokenize: the prefix and the text joined, or the text. */
static const char *joined_text(embed_call *c, const ggembed_text *t, size_t *len, gg_err *e) {
    if (!c->o->prefix || c->o->prefix_len == 0) {
        *len = t->len;
        return t->text ? t->text : "";
    }
    size_t need = c->o->prefix_len + t->len;
    if (need > c->joined_cap) {
        char *p = realloc(c->joined, need ? need : 1);
        if (!p) {
            gg_fail_kind(e, GG_E_MEMORY, "out of memory joining a prefix to a text of %zu bytes",
                         t->len);
            return NULL;
        }
        c->joined = p;
        c->joined_cap = need;
    }
    memcpy(c->joined, c->o->prefix, c->o->prefix_len);
    if (t->len) memcpy(c->joined + c->o->prefix_len, t->text, t->len);
    *len = need;
    return c->joined;
}

/* Tokenizes text i into the batch at the current end; flushes first when
 * it does not fit. */
static ggembed_status add_text(embed_call *c, size_t i, const ggembed_text *t, gg_err *e) {
    ggembed_model *m = c->m;
    const int budget = m->n_ctx - m->n_lead - m->n_trail;
    size_t len;
    const char *s = joined_text(c, t, &len, e);
    if (!s) return GGEMBED_E_MEMORY;
    gg_tok_options plain = {.add_special = false};
    for (int attempt = 0; attempt < 2; attempt++) {
        int room = m->opt.max_batch_tokens - c->n_tok - m->n_lead - m->n_trail;
        int cap = GG_MIN(budget, room);
        int32_t *dst = m->tokens + c->n_tok + m->n_lead;
        int64_t n = cap > 0 ? gg_tokenize(m->tok, s, len, &plain, dst, cap, e) : INT64_MAX;
        if (n < 0) return status_of(e->kind, GGEMBED_E_INVALID);
        bool truncated = n > budget;
        if (truncated && !c->o->truncate) {
            gg_fail_kind(e, GG_E_TOO_LONG, "text %zu has %lld tokens, more than the context of %d", i,
                         (long long)(n + m->n_lead + m->n_trail), m->n_ctx);
            return GGEMBED_E_TOO_LONG;
        }
        int use = (int)GG_MIN(n, (int64_t)budget);
        if (use + m->n_lead + m->n_trail == 0) {
            /* No tokens at all (an empty text, no specials added: e.g.
             * Qwen2): nothing to pool; its vector is zeros, and it takes
             * no place in the batch (pooling "last" would otherwise read
             * the previous text's last token, or before the buffer). */
            memset(c->out + i * (size_t)c->dims, 0, sizeof(float) * (size_t)c->dims);
            if (c->results) c->results[i] = (ggembed_result){.n_tokens = 0, .truncated = false};
            return GGEMBED_OK;
        }
        if (use > cap) { /* does not fit in what is left of this batch */
            ggembed_status st = flush(c, e);
            if (st != GGEMBED_OK) return st;
            continue;
        }
        memcpy(m->tokens + c->n_tok, m->lead, sizeof(int32_t) * (size_t)m->n_lead);
        memcpy(dst + use, m->trail, sizeof(int32_t) * (size_t)m->n_trail);
        m->seq_start[c->n_seq] = c->n_tok;
        m->seq_text[c->n_seq] = (int)i;
        c->n_seq++;
        int total = use + m->n_lead + m->n_trail;
        c->n_tok += total;
        if (c->results) c->results[i] = (ggembed_result){.n_tokens = total, .truncated = truncated};
        return GGEMBED_OK;
    }
    gg_fail(e, "text %zu does not fit an empty batch", i);
    return GGEMBED_E_INVALID;
}

static ggembed_status check_embed_args(ggembed_model *m, const ggembed_embed_options *o, embed_call *c,
                                       gg_err *e) {
    if (!m->has_weights) {
        gg_fail(e, "this is a vocabulary-only model file (no weight tensors): it can tokenize "
                   "but not embed");
        return GGEMBED_E_NO_WEIGHTS;
    }
    c->pooling = o->pooling >= 0 ? o->pooling : m->embed_pooling;
    if (c->pooling == GGEMBED_POOLING_RANK) {
        gg_fail(e, "this model is a reranker (pooling rank): score pairs with rerank, or pass "
                   "a pooling (mean, cls or last) to embed with it");
        return GGEMBED_E_INVALID;
    }
    if (c->pooling < GGEMBED_POOLING_MEAN || c->pooling > GGEMBED_POOLING_LAST) {
        gg_fail(e, "pooling '%s' does not give one vector per text: choose mean, cls or last",
                ggembed_pooling_name(c->pooling));
        return GGEMBED_E_INVALID;
    }
    const int E = m->model.hp.n_embd;
    if (o->dims < 0 || o->dims > E) {
        gg_fail(e, "dims %d is out of range (1..%d, or 0 for all)", o->dims, E);
        return GGEMBED_E_INVALID;
    }
    c->dims = o->dims ? o->dims : E;
    c->normalize = o->normalize >= 0 ? o->normalize != 0 : m->opt.normalize != 0;
    return GGEMBED_OK;
}

ggembed_status ggembed_embed(ggembed_model *m, const ggembed_text *texts, size_t n,
                             const ggembed_embed_options *opt, float *out, ggembed_result *results,
                             char *err, size_t err_len) {
    ggembed_embed_options defaults;
    ggembed_embed_options_default(&defaults);
    const ggembed_embed_options *o = opt ? opt : &defaults;
    embed_call c = {.m = m, .o = o, .out = out, .results = results};
    gg_err e = {{0}};
    ggembed_status st = check_embed_args(m, o, &c, &e);
    if (st != GGEMBED_OK) return fail(err, err_len, st, "%s", e.msg);
    if (n > 0 && (!texts || !out)) return fail(err, err_len, GGEMBED_E_INVALID, "no texts or output");
    gg_mutex_lock(m->lock);
    st = check_file(m, &e); /* tokenizing reads the vocabulary in the file */
    for (size_t i = 0; i < n && st == GGEMBED_OK; i++) st = add_text(&c, i, &texts[i], &e);
    if (st == GGEMBED_OK) st = flush(&c, &e);
    gg_mutex_unlock(m->lock);
    free(c.joined);
    if (st != GGEMBED_OK) return fail(err, err_len, st, "%s", e.msg);
    return GGEMBED_OK;
}

/* ---------------- reranking ---------------- */

void ggembed_rerank_options_default(ggembed_rerank_options *o) {
    memset(o, 0, sizeof *o);
    o->truncate = 1;
}

typedef struct rerank_call {
    ggembed_model *m;
    const ggembed_rerank_options *o;
    float *scores;
    ggembed_result *results;
    int n_tok, n_seq;  /* the batch being filled */
    int32_t *q, *d;    /* [n_ctx] each: a pair's query and document tokens */
    float *seq_scores; /* [max_batch_tokens]: the batch's scores by sequence */
    char *text;        /* a filled template */
    size_t text_cap;
} rerank_call;

static int rerank_cancel_hook(void *user) {
    const ggembed_rerank_options *o = user;
    return o->cancel(o->cancel_user);
}

static ggembed_status rerank_flush(rerank_call *c, gg_err *e) {
    ggembed_model *m = c->m;
    if (c->n_seq == 0) return GGEMBED_OK;
    m->seq_start[c->n_seq] = c->n_tok;
    gg_batch b = {.tokens = m->tokens, .seq_start = m->seq_start, .n_seq = c->n_seq, .n_tok = c->n_tok};
    if (gg_model_forward(&m->model, &m->ex, &m->work, &b, c->o->cancel ? rerank_cancel_hook : NULL,
                         (void *)c->o, e))
        return status_of(e->kind, GGEMBED_E_INVALID);
    ggembed_status st = check_file(m, e); /* as in flush() */
    if (st != GGEMBED_OK) return st;
    gg_model_rank(&m->model, &m->ex, &m->work, &b, c->seq_scores);
    for (int s = 0; s < c->n_seq; s++) c->scores[m->seq_text[s]] = c->seq_scores[s];
    c->n_tok = c->n_seq = 0;
    return GGEMBED_OK;
}

/* Appends n tokens as pair i's sequence, flushing first when the batch
 * has no room for them (n <= n_ctx <= the batch always fits). */
static ggembed_status rerank_push(rerank_call *c, size_t i, const int32_t *const parts[],
                                  const int lens[], int n_parts, bool truncated, gg_err *e) {
    ggembed_model *m = c->m;
    int n = 0;
    for (int k = 0; k < n_parts; k++) n += lens[k];
    if (c->results) c->results[i] = (ggembed_result){.n_tokens = n, .truncated = truncated};
    if (n == 0) { /* nothing to score (no specials, empty texts): 0, as node-llama-cpp */
        c->scores[i] = 0.0f;
        return GGEMBED_OK;
    }
    if (c->n_tok + n > m->opt.max_batch_tokens) {
        ggembed_status st = rerank_flush(c, e);
        if (st != GGEMBED_OK) return st;
    }
    m->seq_start[c->n_seq] = c->n_tok;
    m->seq_text[c->n_seq++] = (int)i;
    for (int k = 0; k < n_parts; k++) {
        if (lens[k]) memcpy(m->tokens + c->n_tok, parts[k], sizeof(int32_t) * (size_t)lens[k]);
        c->n_tok += lens[k];
    }
    return GGEMBED_OK;
}

static ggembed_status too_long(size_t i, int64_t n, int n_ctx, gg_err *e) {
    gg_fail_kind(e, GG_E_TOO_LONG, "pair %zu has %lld tokens, more than the context of %d", i,
                 (long long)n, n_ctx);
    return GGEMBED_E_TOO_LONG;
}

/* Without a template: lead query mid document trail, the texts tokenized
 * apart without specials; an over-long pair loses the document's end,
 * then the query's. */
static ggembed_status rerank_plain(rerank_call *c, size_t i, const ggembed_pair *p, gg_err *e) {
    ggembed_model *m = c->m;
    const gg_tok_options plain = {.add_special = false};
    const int fixed = m->n_pair_lead + m->n_pair_mid + m->n_pair_trail;
    int64_t nq = gg_tokenize(m->tok, p->query.text ? p->query.text : "",
                             p->query.text ? p->query.len : 0, &plain, c->q, m->n_ctx, e);
    int64_t nd = nq < 0 ? -1
                        : gg_tokenize(m->tok, p->doc.text ? p->doc.text : "",
                                      p->doc.text ? p->doc.len : 0, &plain, c->d, m->n_ctx, e);
    if (nq < 0 || nd < 0) return status_of(e->kind, GGEMBED_E_INVALID);
    const int64_t total = fixed + nq + nd;
    const bool truncated = total > m->n_ctx;
    if (truncated && !c->o->truncate) return too_long(i, total, m->n_ctx, e);
    const int q = (int)GG_MIN(nq, (int64_t)(m->n_ctx - fixed));
    const int d = (int)GG_MIN(nd, (int64_t)(m->n_ctx - fixed - q));
    const int32_t *const parts[] = {m->pair_lead, c->q, m->pair_mid, c->d, m->pair_trail};
    const int lens[] = {m->n_pair_lead, q, m->n_pair_mid, d, m->n_pair_trail};
    return rerank_push(c, i, parts, lens, 5, truncated, e);
}

/* The template with every {query} replaced by q, then every {document}
 * by d, in that order (as llama-server's string replacements), into
 * c->text; its length, or -1 when out of memory. */
static int64_t fill_template(rerank_call *c, const char *q, size_t ql, const char *d, size_t dl) {
    const gguf_str t = c->m->rerank_template;
    static const char kq[] = "{query}", kd[] = "{document}";
    size_t nq = 0, nd = 0;
    for (uint64_t k = 0; k + 7 <= t.len; k++) nq += !memcmp(t.ptr + k, kq, 7);
    char *tmp = malloc((size_t)t.len + nq * ql + 1);
    if (!tmp) return -1;
    size_t n = 0;
    for (uint64_t k = 0; k < t.len;) { /* pass 1: {query} */
        if (k + 7 <= t.len && !memcmp(t.ptr + k, kq, 7)) {
            if (ql) memcpy(tmp + n, q, ql);
            n += ql, k += 7;
        } else tmp[n++] = t.ptr[k++];
    }
    for (size_t k = 0; k + 10 <= n; k++) nd += !memcmp(tmp + k, kd, 10); /* a bound */
    const size_t need = n + nd * dl + 1;
    if (need > c->text_cap) {
        char *grown = realloc(c->text, need);
        if (!grown) {
            free(tmp);
            return -1;
        }
        c->text = grown, c->text_cap = need;
    }
    size_t o = 0;
    for (size_t k = 0; k < n;) { /* pass 2: {document} */
        if (k + 10 <= n && !memcmp(tmp + k, kd, 10)) {
            if (dl) memcpy(c->text + o, d, dl);
            o += dl, k += 10;
        } else c->text[o++] = tmp[k++];
    }
    free(tmp);
    return (int64_t)o;
}

/* Tokens of the template filled with q[0..ql) and d[0..dl) (at most n_ctx
 * of them into c->q); the full count, or -1. */
static int64_t template_tokens(rerank_call *c, const char *q, size_t ql, const char *d, size_t dl,
                               gg_err *e) {
    const gg_tok_options o = {.add_special = false, .parse_special = true};
    int64_t len = fill_template(c, q, ql, d, dl);
    if (len < 0) return gg_fail_kind(e, GG_E_MEMORY, "out of memory filling the rerank template");
    return gg_tokenize(c->m->tok, c->text, (size_t)len, &o, c->q, c->m->n_ctx, e);
}

/* n moved back to the start of the UTF-8 character s[n] is in (n < the
 * length of s). */
static size_t utf8_floor(const char *s, size_t n) {
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* With a template: the whole prompt tokenized at once, as llama-server
 * does (the texts' edges may merge with the template's); an over-long
 * pair keeps the longest prefix of the document (then of the query) for
 * which the prompt fits, found by bisection over bytes. */
static ggembed_status rerank_template(rerank_call *c, size_t i, const ggembed_pair *p, gg_err *e) {
    ggembed_model *m = c->m;
    const char *q = p->query.text ? p->query.text : "", *d = p->doc.text ? p->doc.text : "";
    size_t ql = p->query.text ? p->query.len : 0, dl = p->doc.text ? p->doc.len : 0;
    int64_t n = template_tokens(c, q, ql, d, dl, e);
    if (n < 0) return status_of(e->kind, GGEMBED_E_INVALID);
    const bool truncated = n > m->n_ctx;
    if (truncated && !c->o->truncate) return too_long(i, n, m->n_ctx, e);
    if (truncated) {
        size_t *cut = &dl; /* the document first; when even none of it fits, the query */
        if ((n = template_tokens(c, q, ql, d, 0, e)) > m->n_ctx) dl = 0, cut = &ql;
        if (n < 0) return status_of(e->kind, GGEMBED_E_INVALID);
        const char *s = cut == &dl ? d : q;
        size_t lo = 0, hi = *cut; /* prefix lo fits, hi does not */
        while (hi - lo > 1) {
            size_t mid = utf8_floor(s, lo + (hi - lo) / 2);
            if (mid <= lo) mid = lo + 1; /* inside lo's character: try one byte further */
            *cut = mid;
            n = template_tokens(c, q, ql, d, dl, e);
            if (n < 0) return status_of(e->kind, GGEMBED_E_INVALID);
            if (n <= m->n_ctx) lo = mid;
            else hi = mid;
        }
        *cut = utf8_floor(s, lo);
        n = template_tokens(c, q, ql, d, dl, e);
        if (n < 0) return status_of(e->kind, GGEMBED_E_INVALID);
        if (n > m->n_ctx) return too_long(i, n, m->n_ctx, e); /* the template alone is too long */
    }
    const int32_t *const parts[] = {c->q};
    const int lens[] = {(int)n};
    return rerank_push(c, i, parts, lens, 1, truncated, e);
}

static ggembed_status check_rerank_args(const ggembed_model *m, gg_err *e) {
    if (!m->has_weights) {
        gg_fail(e, "this is a vocabulary-only model file (no weight tensors): it can tokenize "
                   "but not rerank");
        return GGEMBED_E_NO_WEIGHTS;
    }
    if (m->model.hp.pooling != GGEMBED_POOLING_RANK) {
        gg_fail(e,
                "this model is not a reranker (its pooling is %s, not rank): it embeds texts "
                "but cannot score pairs",
                ggembed_pooling_name(m->model.hp.pooling));
        return GGEMBED_E_INVALID;
    }
    return GGEMBED_OK;
}

ggembed_status ggembed_rerank(ggembed_model *m, const ggembed_pair *pairs, size_t n,
                              const ggembed_rerank_options *opt, float *scores, ggembed_result *results,
                              char *err, size_t err_len) {
    ggembed_rerank_options defaults;
    ggembed_rerank_options_default(&defaults);
    rerank_call c = {.m = m, .o = opt ? opt : &defaults, .scores = scores, .results = results};
    gg_err e = {{0}};
    ggembed_status st = check_rerank_args(m, &e);
    if (st != GGEMBED_OK) return fail(err, err_len, st, "%s", e.msg);
    if (n > 0 && (!pairs || !scores)) return fail(err, err_len, GGEMBED_E_INVALID, "no pairs or output");
    c.q = malloc(sizeof(int32_t) * 2 * (size_t)m->n_ctx);
    c.seq_scores = malloc(sizeof(float) * (size_t)m->opt.max_batch_tokens);
    if (!c.q || !c.seq_scores) {
        free(c.q), free(c.seq_scores);
        return fail(err, err_len, GGEMBED_E_MEMORY, "out of memory");
    }
    c.d = c.q + m->n_ctx;
    gg_mutex_lock(m->lock);
    st = check_file(m, &e); /* tokenizing reads the vocabulary in the file */
    for (size_t i = 0; i < n && st == GGEMBED_OK; i++)
        st = m->rerank_template.len ? rerank_template(&c, i, &pairs[i], &e)
                                    : rerank_plain(&c, i, &pairs[i], &e);
    if (st == GGEMBED_OK) st = rerank_flush(&c, &e);
    gg_mutex_unlock(m->lock);
    free(c.q), free(c.seq_scores), free(c.text);
    if (st != GGEMBED_OK) return fail(err, err_len, st, "%s", e.msg);
    return GGEMBED_OK;
}

/* ---------------- tokens and names ---------------- */

ggembed_status ggembed_tokenize(const ggembed_model *m, const char *text, size_t len, int add_special,
                                int32_t *ids, size_t cap, size_t *n_tokens, char *err, size_t err_len) {
    gg_tok_options o = {.add_special = add_special != 0};
    gg_err e = {{0}};
    ggembed_status st = check_file(m, &e);
    if (st != GGEMBED_OK) return fail(err, err_len, st, "%s", e.msg);
    int64_t n = gg_tokenize(m->tok, text ? text : "", text ? len : 0, &o, ids,
                            (int64_t)GG_MIN(cap, (size_t)INT64_MAX), &e);
    if (n < 0) return fail(err, err_len, GGEMBED_E_INVALID, "%s", e.msg);
    *n_tokens = (size_t)n;
    return GGEMBED_OK;
}

const char *ggembed_token_text(const ggembed_model *m, int32_t id, size_t *len) {
    gguf_str s = gg_token_text(m->tok, id);
    *len = (size_t)s.len;
    return s.ptr;
}

const char *ggembed_status_name(ggembed_status s) {
    static const char *names[] = {"ok",     "invalid",  "io",         "format",    "unsupported",
                                  "memory", "too_long", "no_weights", "cancelled", "model_changed"};
    return (unsigned)s < GG_ARRAY_LEN(names) ? names[s] : "unknown";
}

static const char *pooling_names[] = {"none", "mean", "cls", "last", "rank"};

const char *ggembed_pooling_name(int pooling) {
    if (pooling == GGEMBED_POOLING_DEFAULT) return "default";
    return pooling >= 0 && pooling < (int)GG_ARRAY_LEN(pooling_names) ? pooling_names[pooling]
                                                                      : "unknown";
}

int ggembed_pooling_parse(const char *name) {
    for (int i = 0; i < (int)GG_ARRAY_LEN(pooling_names); i++)
        if (!strcmp(name, pooling_names[i])) return i;
    return -2;
}
