/*
 * ggembed.h - the public C API: open a GGUF embedding model, embed texts,
 * score (query, document) pairs with a reranker, tokenize, describe the
 * model, close.
 *
 * Weights are read in place through a read-only mapping of the file; all
 * working memory is allocated when the model opens, sized from the
 * model's shapes and the options, and ggembed_info reports it.
 *
 * Threads: a ggembed_model may be used from several threads at once.
 * ggembed_tokenize and ggembed_info never block each other. Calls to
 * ggembed_embed on one model are serialized by an internal lock (one
 * forward pass at a time uses the model's thread pool and buffers); to
 * embed in parallel from independent threads, open the model once per
 * thread (the mapping, and so the page cache, is shared by the OS).
 *
 * Errors are values: functions return GGEMBED_OK or a status, and fill
 * `err` (when not NULL) with a message naming what was wrong.
 */
#ifndef GGEMBED_H
#define GGEMBED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) || defined(__CYGWIN__)
#define GGEMBED_API
#elif defined(__GNUC__)
#define GGEMBED_API __attribute__((visibility("default")))
#else
#define GGEMBED_API
#endif

#define GGEMBED_VERSION "0.1.0"
#define GGEMBED_ERR_LEN 512

typedef enum ggembed_status {
    GGEMBED_OK = 0,
    GGEMBED_E_INVALID = 1,     /* a bad argument or option */
    GGEMBED_E_IO = 2,          /* the file cannot be opened or mapped */
    GGEMBED_E_FORMAT = 3,      /* not a valid GGUF file */
    GGEMBED_E_UNSUPPORTED = 4, /* architecture, tensor type or tokenizer not supported */
    GGEMBED_E_MEMORY = 5,      /* allocation failed or over the memory ceiling */
    GGEMBED_E_TOO_LONG = 6,    /* a text is longer than the context and truncation is off */
    GGEMBED_E_NO_WEIGHTS = 7,  /* vocabulary-only file: can tokenize, cannot embed */
    GGEMBED_E_CANCELLED = 8,
    GGEMBED_E_MODEL_CHANGED = 9, /* the model file was rewritten, truncated, replaced or
                                    removed since it was opened: close and reopen it */
} ggembed_status;

typedef struct ggembed_model ggembed_model;

typedef enum ggembed_pooling {
    GGEMBED_POOLING_DEFAULT = -1, /* what the model's metadata says */
    GGEMBED_POOLING_NONE = 0,     /* per-token vectors: not for embed(); reported only */
    GGEMBED_POOLING_MEAN = 1,
    GGEMBED_POOLING_CLS = 2,
    GGEMBED_POOLING_LAST = 3,
    GGEMBED_POOLING_RANK = 4, /* the model is a reranker (a classification head): use
                                     ggembed_rerank; embed() needs an explicit pooling */
} ggembed_pooling;

typedef struct ggembed_options {
    int n_threads;        /* 0: all usable CPUs */
    int max_batch_tokens; /* tokens per forward pass; 0: the model's context */
    int pooling;          /* ggembed_pooling; GGEMBED_POOLING_DEFAULT from metadata */
    int normalize;        /* L2-normalize outputs (default 1) */
    size_t max_memory;    /* ceiling on working memory in bytes; 0: none */
    int vocab_only;       /* open for tokenization only (no weights needed) */
} ggembed_options;

/* Fills defaults: all CPUs, context-sized batch, metadata pooling,
 * normalization on, no ceiling. */
GGEMBED_API void ggembed_options_default(ggembed_options *opt);

GGEMBED_API ggembed_status ggembed_open(const char *path, const ggembed_options *opt,
                                        ggembed_model **out, char *err, size_t err_len);
GGEMBED_API void ggembed_close(ggembed_model *m);

typedef struct ggembed_info {
    const char *arch;          /* general.architecture: "bert", "nomic-bert", "qwen2", ... */
    const char *name;          /* general.name or "" */
    const char *tokenizer;     /* "bert", "llama", "gpt2" */
    const char *tokenizer_pre; /* pre-tokenizer name or "default" */
    int n_embd;                /* output dimensions */
    int n_ctx;                 /* maximum tokens per text */
    int n_layer;
    int n_head;
    int n_head_kv;
    int n_ff;
    int n_vocab;
    int pooling;     /* effective default pooling; GGEMBED_POOLING_RANK: a reranker */
    int causal;      /* 1 for decoder models */
    int has_weights; /* 0 for a vocabulary-only file */
    uint64_t n_params;
    uint64_t file_size;
    size_t working_memory;   /* bytes allocated up front for inference */
    size_t tokenizer_memory; /* bytes held by the tokenizer */
    int n_threads;
    int max_batch_tokens;
    const char *simd; /* kernel level in use: "scalar", "avx2", "avx512" */
} ggembed_info;

GGEMBED_API const ggembed_info *ggembed_get_info(const ggembed_model *m);

typedef struct ggembed_text {
    const char *text; /* UTF-8 (invalid sequences are handled, never rejected) */
    size_t len;
} ggembed_text;

typedef struct ggembed_embed_options {
    int pooling;        /* GGEMBED_POOLING_DEFAULT: the model's */
    int normalize;      /* -1: the model's option; 0 or 1 */
    int dims;           /* 0: all; else keep the first dims (Matryoshka), renormalized */
    int truncate;       /* 1 (default): cut texts to the context; 0: fail with E_TOO_LONG */
    const char *prefix; /* prepended to every text (counted in the budget); NULL: none */
    size_t prefix_len;
    /* Polled between layers; returning non-zero stops the call with
     * GGEMBED_E_CANCELLED (deadlines, cancelled requests). NULL: never. */
    int (*cancel)(void *user);
    void *cancel_user;
} ggembed_embed_options;

GGEMBED_API void ggembed_embed_options_default(ggembed_embed_options *o);

/* Per-text outcome of ggembed_embed. */
typedef struct ggembed_result {
    int n_tokens;  /* tokens embedded (after truncation, specials included) */
    int truncated; /* 1 when the text was cut to the context */
} ggembed_result;

/* Embeds n texts into out[n * dims] (dims: options' dims or n_embd),
 * row i for text i; results[i] (optional) tells each text's token count.
 * A text's vector does not depend on which texts share its batch.
 *
 * The weights are read in place, so the file must not change while the
 * model is open. Before the call's work and after each forward pass (so
 * before the next), the file's identity (size, modification and change
 * times, file id; one stat) is compared with the one it had at open; any
 * difference fails the call with GGEMBED_E_MODEL_CHANGED, and every later
 * call as well. Truncating
 * the file while a pass reads it faults; a program that wants a message
 * instead of a death by SIGBUS installs a handler (ggembed's own commands
 * do: they print the file's name and exit with status 4). A relative path
 * is checked against the current directory of the moment. */
GGEMBED_API ggembed_status ggembed_embed(ggembed_model *m, const ggembed_text *texts, size_t n,
                                         const ggembed_embed_options *opt, float *out,
                                         ggembed_result *results, char *err, size_t err_len);

/* A (query, document) pair for a reranker. */
typedef struct ggembed_pair {
    ggembed_text query, doc;
} ggembed_pair;

typedef struct ggembed_rerank_options {
    int truncate;              /* 1 (default): cut a pair that is over the context (the document's end,
                     then the query's; the special tokens and the template are kept);
                     0: fail with GGEMBED_E_TOO_LONG */
    int (*cancel)(void *user); /* as in ggembed_embed_options */
    void *cancel_user;
} ggembed_rerank_options;

GGEMBED_API void ggembed_rerank_options_default(ggembed_rerank_options *o);

/* Scores n (query, document) pairs into scores[n]: the score llama.cpp
 * gives the same pair (llama-server's /v1/rerank relevance_score for that
 * model: the classification head's first output for a BERT-family
 * cross-encoder, a logit; P("yes") for Qwen3-Reranker). The pair is built
 * as llama-server builds it: the model's `tokenizer.chat_template.rerank`
 * with {query} and {document} filled in, or else BOS query EOS SEP
 * document EOS with each special as the vocabulary adds it. Fails with
 * GGEMBED_E_INVALID when the model is not a reranker (its info's pooling
 * is not GGEMBED_POOLING_RANK). A pair's score never depends on the other
 * pairs batched with it. results[i] (optional) as in ggembed_embed: the
 * pair's tokens and whether it was cut. Checks the file as ggembed_embed. */
GGEMBED_API ggembed_status ggembed_rerank(ggembed_model *m, const ggembed_pair *pairs, size_t n,
                                          const ggembed_rerank_options *opt, float *scores,
                                          ggembed_result *results, char *err, size_t err_len);

/* Tokenizes one text. Writes at most cap ids and stores the full count in
 * *n_tokens (larger than cap means: call again with more room). Fails
 * with GGEMBED_E_MODEL_CHANGED as ggembed_embed does (the vocabulary is
 * read in place too). */
GGEMBED_API ggembed_status ggembed_tokenize(const ggembed_model *m, const char *text, size_t len,
                                            int add_special, int32_t *ids, size_t cap, size_t *n_tokens,
                                            char *err, size_t err_len);

/* A token's text (a view into the model; not NUL-terminated). */
GGEMBED_API const char *ggembed_token_text(const ggembed_model *m, int32_t id, size_t *len);

GGEMBED_API const char *ggembed_status_name(ggembed_status s);
GGEMBED_API const char *ggembed_pooling_name(int pooling);
/* Parses "none", "mean", "cls", "last", "rank"; -2 when unknown. */
GGEMBED_API int ggembed_pooling_parse(const char *name);

#ifdef __cplusplus
}
#endif

#endif
