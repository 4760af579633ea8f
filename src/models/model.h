/*
 * model.h - a transformer's shape and weights as read from a GGUF file,
 * and the forward passes that the architecture files provide.
 *
 * Weights are views into the file mapping (gg_matrix, const float *);
 * nothing here owns tensor data. A forward pass turns a packed batch of
 * sequences into final hidden states, one row of n_embd per token, using
 * the caller's working buffers (gg_work), sized by gg_work_plan.
 */
#ifndef GG_MODEL_H
#define GG_MODEL_H

#include "../gguf/gguf.h"
#include "ops.h"

typedef enum gg_arch {
    GG_ARCH_BERT,
    GG_ARCH_NOMIC_BERT,
    GG_ARCH_LLAMA,
    GG_ARCH_QWEN2,
    GG_ARCH_QWEN3,
} gg_arch;

typedef struct gg_hparams {
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ff;
    int n_ctx_train;
    float norm_eps;
    gg_rope rope;
    int pooling; /* ggembed_pooling from metadata */
    bool causal;
} gg_hparams;

typedef struct gg_layer {
    gg_matrix wq, wk, wv, wo; /* a fused QKV tensor is loaded as three views */
    const float *bq, *bk, *bv, *bo;
    gg_matrix ffn_up, ffn_gate, ffn_down;
    const float *ffn_up_b, *ffn_down_b;
    /* BERT: post-norms with biases */
    const float *attn_out_norm, *attn_out_norm_b, *out_norm, *out_norm_b;
    /* decoders: pre-norms, per-head Q/K norms (Qwen3) */
    const float *attn_norm, *ffn_norm, *q_norm, *k_norm;
} gg_layer;

typedef struct gg_model {
    gg_arch arch;
    const char *arch_name;
    gg_hparams hp;
    gg_matrix tok_embd, type_embd, pos_embd;
    const float *tok_norm, *tok_norm_b; /* BERT embedding norm */
    const float *out_norm;              /* decoders: final RMS norm */
    gg_layer *layers;
    uint64_t n_params;
} gg_model;

/* A packed batch: n_seq sequences, sequence s being tokens
 * [seq_start[s], seq_start[s + 1]). */
typedef struct gg_batch {
    const int32_t *tokens;
    const int *seq_start;
    int n_seq;
    int n_tok;
} gg_batch;

/* Working buffers, carved from one allocation made at open. */
typedef struct gg_work {
    float *x;      /* [max_tok][n_embd] the residual stream; final states */
    float *k, *v;  /* [max_tok][n_kv_width] one layer's keys and values */
    float *q;      /* [chunk][n_head * head_dim] */
    float *attn;   /* [chunk][max(n_embd, n_head * head_dim)] */
    float *tmp;    /* [chunk][n_embd] */
    float *ff_up;  /* [chunk][n_ff] */
    float *ff_gate;/* [chunk][n_ff] */
    int32_t *pos;  /* [max_tok] */
    int max_tok;
    int chunk;
} gg_work;

/* Sizes of everything a forward pass over max_tok tokens needs. */
typedef struct gg_work_plan {
    size_t work_bytes;  /* gg_work buffers */
    size_t act_bytes;   /* quantized activation scratch */
    size_t score_floats;/* per thread */
    size_t total;       /* work + act + scores for n_threads */
} gg_work_plan;

void gg_work_plan_make(const gg_model *m, int max_tok, int chunk, int n_threads, gg_work_plan *p);
/* Carves the gg_work buffers out of mem (work_bytes long, 64-aligned). */
void gg_work_carve(const gg_model *m, int max_tok, int chunk, uint8_t *mem, gg_work *w);

/* Reads the architecture, shapes and weights from f. Fails with a message
 * naming the missing or misshapen tensor or key. */
int gg_model_load(const gguf_file *f, gg_model *m, gg_err *e);
void gg_model_free(gg_model *m);

/* Final hidden states of every token into w->x. Returns -1 (with the
 * message "cancelled") when cancel() says so between layers. */
typedef int (*gg_cancel_fn)(void *user);
int gg_model_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b,
                     gg_cancel_fn cancel, void *cancel_user, gg_err *e);

/* Attention output for tokens [c0, c0 + c) of the batch into w->attn,
 * each token attending within its own sequence only; q holds the chunk's
 * queries, token c0 first (model.c). */
void gg_attend_chunk(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b, int c0, int c,
                     const float *q);

/* Architecture files. */
int gg_bert_load(const gguf_file *f, gg_model *m, gg_err *e);
int gg_bert_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b,
                    gg_cancel_fn cancel, void *cancel_user, gg_err *e);
int gg_decoder_load(const gguf_file *f, gg_model *m, gg_err *e);
int gg_decoder_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b,
                       gg_cancel_fn cancel, void *cancel_user, gg_err *e);

/* Tensor lookup with shape checks (loader.c). ne0 = row length. */
int gg_load_matrix(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, bool required,
                   gg_matrix *out, gg_err *e);
int gg_load_vector(const gguf_file *f, const char *name, int64_t n, bool required,
                   const float **out, gg_err *e);
/* Dequantizes row `row` of an embedding table into out (n_embd floats). */
void gg_embedding_row(const gg_matrix *table, int64_t row, float *out);

#endif
