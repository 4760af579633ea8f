/*
 * model.h - a transformer's shape and weights as read from a GGUF file,
 * the table of architectures that describes each one, and the one
 * forward pass they all run (transformer.c).
 *
 * An architecture is one row of a table (arch.c): whether attention is
 * causal, the norm kind and where norms sit, the position scheme, the FFN
 * kind, fused or separate QKV, Q/K norms, the pooling default. Which
 * tensors a file must (or may) hold follows from the row, and the same
 * enumeration (gg_arch_tensors) drives the loader and `ggembed mkmodel`.
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

typedef enum gg_norm_kind { GG_NORM_LAYER, GG_NORM_RMS } gg_norm_kind;

/* Where each sub-layer f (attention, FFN) has its norms. */
typedef enum gg_norm_place {
    GG_NORM_POST,     /* x = norm(x + f(x))            BERT */
    GG_NORM_PRE,      /* x = x + f(norm(x))            LLaMA */
    GG_NORM_SANDWICH, /* x = x + norm(f(norm(x)))      Gemma */
} gg_norm_place;

typedef enum gg_pos_kind {
    GG_POS_LEARNED,   /* position_embd rows added to the token embeddings */
    GG_POS_ROPE,      /* rotary, adjacent pairs (llama.cpp's converter permutes Q/K) */
    GG_POS_ROPE_NEOX, /* rotary, pairs of the two halves of a head */
    GG_POS_ALIBI,     /* none in the embeddings; a distance penalty in the attention mask */
} gg_pos_kind;

typedef enum gg_ffn_kind {
    GG_FFN_GELU,   /* down(gelu(up(x))) */
    GG_FFN_SWIGLU, /* down(silu(gate(x)) * up(x)) */
    GG_FFN_GEGLU,  /* down(gelu(gate(x)) * up(x)) */
} gg_ffn_kind;

/* How a file of the row whose <arch>.pooling_type is rank (4) turns one
 * sequence into a relevance score, as llama.cpp's rank pooling does. */
typedef enum gg_rank_kind {
    GG_RANK_NONE = 0,     /* no rerankers of this architecture: rank pooling is refused */
    GG_RANK_CLS,          /* the first token; cls (dense + tanh) and cls.output, each optional;
                        * score: the first output (a logit; BERT/XLM-R cross-encoders) */
    GG_RANK_LAST_SOFTMAX, /* the last token; cls.output (the LM head's "yes" and "no" rows);
                        * softmax; score: the first output, P(yes) (Qwen3-Reranker) */
} gg_rank_kind;

/* How much a file is held to having a tensor. GG_USUAL: optional, but the
 * real models have it (so mkmodel writes it). */
typedef enum gg_need { GG_NO = 0, GG_MAY, GG_USUAL, GG_MUST } gg_need;

typedef struct gg_arch_desc {
    const char *name;   /* general.architecture */
    const char *models; /* what it covers, for messages and docs */
    bool causal;        /* the default; non-causal rows read <arch>.attention.causal */
    gg_norm_kind norm;
    gg_norm_place place;
    bool embd_norm;           /* token_embd_norm right after the embedding */
    bool embd_scale;          /* embeddings times sqrt(n_embd) (Gemma) */
    int swa_pattern;          /* > 0: of every swa_pattern blocks all but one attend
                              * within <arch>.attention.sliding_window (symmetric) */
    bool swa_dense_first;     /* the full-attention block is the first of each period
                              * (else the last); the window key may be absent (no SWA) */
    float swa_rope_base;      /* the windowed blocks' rotary base; 0: <arch>.rope.freq_base_swa */
    bool norm_no_bias;        /* layer norms without biases (ModernBERT) */
    bool first_attn_norm_may; /* block 0 may lack attn_norm (identity) */
    bool fused_up_gate;       /* ffn_up [E, 2F]: rows 0..F the activated half, F..2F the linear */
    bool out_norm;            /* output_norm after the last block */
    bool token_types;         /* token_types rows (type 0 is added) */
    gg_pos_kind pos;
    gg_ffn_kind ffn;
    bool fused_qkv;      /* attn_qkv, rows Q then K then V */
    bool qk_norm;        /* per-head norms of Q and K */
    bool qk_norm_rows;   /* optional layer norms of whole Q and K rows, with biases
                              * (jina-embeddings-v2-base-code) */
    bool attn_norm_2;    /* optional attn_norm_2 (with bias) after attn_out_norm: the
                              * block's input added once more, then normed
                              * (jina-embeddings-v2-base-code) */
    bool up_gate_either; /* the gated FFN as ffn_up + ffn_gate, or fused in ffn_up [E, 2F]
                              * (llama.cpp's converter writes either, by version) */
    bool act_key;        /* <arch>.hidden_activation may name the gated FFN's
                              * activation (gelu, silu; ModernBERT derivatives) */
    bool dense_out;      /* may carry the sentence-transformers projection after
                              * pooling, dense_2 [E, P] then dense_3 [P, E] (EmbeddingGemma) */
    gg_need bias_qkv, bias_out, bias_up, bias_down;
    bool kv_half;      /* K, V rounded to half, as llama.cpp's F16 KV cache holds them */
    bool rope_freqs;   /* may carry Llama 3's rope_freqs tensor */
    bool moe;          /* every moe_every_n_layers-th block (il % n == 1) has a
                              * mixture of GELU experts, top-k of a softmax router */
    int pooling;       /* when <arch>.pooling_type is absent */
    gg_rank_kind rank; /* what pooling_type rank means for this row */
    int default_ctx;   /* cap on the default batch (0: the training context) */
} gg_arch_desc;

/* The row of general.architecture `name`, or NULL. */
const gg_arch_desc *gg_arch_find(gguf_str name);
/* Row i of the table, or NULL past its end. */
const gg_arch_desc *gg_arch_at(int i);
/* The supported names, comma-separated ("bert, nomic-bert, ..."). */
void gg_arch_names(char *buf, size_t cap);

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
    float attn_scale;
    float alibi_max;                        /* ALiBi's maximum bias; 0: no ALiBi */
    int moe_every, n_expert, n_expert_used; /* 0: no experts */
    gg_rope rope;
    gg_rope rope_swa;   /* the sliding-window blocks' rotary positions */
    int swa_half;       /* those blocks see keys within this distance */
    int swa_pattern;    /* 0: no windowed blocks */
    int n_dense;        /* the projection's inner width <arch>.dense_2_feat_out; 0: none */
    gg_ffn_kind ffn;    /* the row's, or as <arch>.hidden_activation says (act_key rows) */
    bool up_gate_fused; /* ffn_up holds the gate's rows too (up_gate_either rows) */
    int pooling;        /* ggembed_pooling from metadata */
    int n_cls_out;      /* a reranker's head outputs: <arch>.classifier.output_labels, else 1 */
    bool causal;
} gg_hparams;

/* The <arch>.* hyperparameters of an architecture, every shape checked
 * once here (hparams.c). n_vocab comes from token_embd. */
int gg_hparams_read(const gguf_file *f, const gg_arch_desc *d, gg_hparams *hp, gg_err *e);

typedef struct gg_layer {
    bool swa;                 /* attends within hp.swa_half, rotary by hp.rope_swa */
    gg_matrix wq, wk, wv, wo; /* a fused QKV tensor is loaded as three views */
    const float *bq, *bk, *bv, *bo;
    const float *q_norm, *k_norm;                                       /* [head_dim] */
    const float *q_norm_row, *q_norm_row_b, *k_norm_row, *k_norm_row_b; /* [QW], [KV] */
    const float *attn_norm, *attn_norm_b;                               /* pre-attention */
    const float *attn_post_norm;                  /* on the attention output (sandwich) */
    const float *attn_out_norm, *attn_out_norm_b; /* after the residual add (post) */
    const float *attn_norm_2, *attn_norm_2_b;     /* after attn_out_norm, the input added again */
    gg_matrix ffn_up, ffn_gate, ffn_down;
    /* a mixture-of-experts block: the router [n_expert rows], and the
     * experts' up and down matrices stacked, expert e's rows at e * F (up)
     * and e * E (down) */
    gg_matrix ffn_router, ffn_up_exps, ffn_down_exps;
    const float *ffn_up_b, *ffn_down_b;
    const float *ffn_norm, *ffn_norm_b; /* pre-FFN */
    const float *ffn_post_norm;         /* on the FFN output (sandwich) */
    const float *out_norm, *out_norm_b; /* after the residual add (post) */
} gg_layer;

typedef struct gg_model {
    const gg_arch_desc *desc;
    gg_hparams hp;
    gg_matrix tok_embd, type_embd, pos_embd;
    const float *embd_norm, *embd_norm_b;
    const float *out_norm, *out_norm_b;
    gg_matrix dense_2, dense_3; /* the projection after pooling (hp.n_dense > 0) */
    gg_layer *layers;
    /* a reranker's head (pooling rank): [E][E] + tanh, then [E][n_cls_out] */
    gg_matrix cls, cls_out;
    const float *cls_b, *cls_out_b;
    uint64_t n_params;
} gg_model;

/* Every tensor an architecture has, in file order, for the loader and
 * mkmodel. ne1 == 0: a vector. slot: where the loader puts it (NULL when
 * gg_arch_tensors is given no model). */
typedef enum gg_tensor_role {
    GG_T_EMBED,
    GG_T_MATRIX,
    GG_T_NORM,
    GG_T_BIAS,
    GG_T_ROPE_FREQS
} gg_tensor_role;
typedef struct gg_tensor_spec {
    char name[64];
    int layer; /* -1: not in a block */
    int64_t ne0, ne1;
    int64_t ne2; /* > 0: a stack of ne2 matrices (experts), loaded as one tall matrix */
    gg_need need;
    gg_tensor_role role;
    void *slot; /* gg_matrix * (ne1 > 0) or const float ** */
} gg_tensor_spec;
typedef int (*gg_tensor_fn)(const gg_tensor_spec *t, void *user);
/* Calls fn for each tensor of d with shapes hp (n_vocab, n_ctx_train,
 * n_types rows of token types); stops at and returns fn's first non-zero. */
int gg_arch_tensors(const gg_arch_desc *d, const gg_hparams *hp, int n_types, gg_model *m,
                    gg_tensor_fn fn, void *user);

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
    float *x;       /* [max_tok][n_embd] the residual stream; final states */
    float *k, *v;   /* [n_head_kv][max_tok][head_dim] one layer's keys and values, head by head */
    float *q;       /* [q_rows][n_head * head_dim] */
    float *attn;    /* [q_rows][max(n_embd, n_head * head_dim)] */
    float *tmp;     /* [chunk][n_embd] */
    float *ff_up;   /* [chunk][max(n_ff, n_dense)] */
    float *ff_gate; /* [chunk][n_ff] */
    int32_t *pos;   /* [max_tok] */
    int max_tok;
    int chunk;
    int q_rows; /* gg_work_q_rows */
} gg_work;

/* Sizes of everything a forward pass over max_tok tokens needs. */
typedef struct gg_work_plan {
    size_t work_bytes;   /* gg_work buffers */
    size_t act_bytes;    /* quantized activation scratch */
    size_t score_floats; /* per thread */
    size_t total;        /* work + act + scores for n_threads */
} gg_work_plan;

void gg_work_plan_make(const gg_model *m, int max_tok, int chunk, int n_threads, gg_work_plan *p);
/* The chunk of tokens whose queries and FFN activations exist at once,
 * for batches of up to max_tok tokens (see model.c: as few passes over
 * the weights as the memory bound allows). */
#define GG_WORK_CHUNK_MIN 64 /* tokens: every model's chunk when memory is short */
int gg_work_chunk(const gg_model *m, int max_tok);
/* Tokens whose queries may attend together (w->q, w->attn): as many
 * whole chunks as one attention call takes (GG_ATTN_Q_MAX queries) and
 * 4 MB of queries and outputs hold, so that a text longer than a chunk
 * streams its keys and values from memory once for all of them (a
 * quarter as often as 64-token chunks); at least one chunk; never more
 * than max_tok. */
int gg_work_q_rows(const gg_model *m, int max_tok, int chunk);
/* The chunk a pass over n_tok tokens uses: the fewest passes that chunk
 * allows, split evenly (no short last pass); never more than chunk. */
int gg_work_chunk_for(int n_tok, int chunk);
/* Carves the gg_work buffers out of mem (work_bytes long, 64-aligned). */
void gg_work_carve(const gg_model *m, int max_tok, int chunk, uint8_t *mem, gg_work *w);

/* Reads the architecture, shapes and weights from f. Fails with a message
 * naming the missing or misshapen tensor or key. */
int gg_model_load(const gguf_file *f, gg_model *m, gg_err *e);
void gg_model_free(gg_model *m);

/* Final hidden states of every token into w->x (transformer.c). Returns
 * -1 (kind GG_E_CANCELLED) when cancel() says so between layers. */
typedef int (*gg_cancel_fn)(void *user);
int gg_model_forward(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b, gg_cancel_fn cancel,
                     void *cancel_user, gg_err *e);

/* The projection after pooling, in place, of n <= w->chunk pooled rows
 * [n][n_embd]; nothing when the model has none (transformer.c). */
void gg_model_project(const gg_model *m, gg_exec *ex, gg_work *w, float *rows, int n);

/* The token of sequence s a reranker's head reads: the first (GG_RANK_CLS)
 * or the last (GG_RANK_LAST_SOFTMAX). */
int gg_rank_token(const gg_model *m, const gg_batch *b, int s);
/* Relevance scores of every sequence of the batch just run through
 * gg_model_forward (w->x holds its final states) into scores[n_seq], by
 * the row's rank head (transformer.c). */
void gg_model_rank(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b, float *scores);

/* The layer's keys and values of every sequence (all made, in w->k and
 * w->v) packed in place for attention (gg_op_attn_pack), before its
 * first gg_attend_chunk (model.c). */
void gg_pack_kv(const gg_model *m, gg_exec *ex, gg_work *w, const gg_batch *b);

/* Attention output for tokens [c0, c0 + c) of the batch into w->attn,
 * each token attending within its own sequence only; q holds the chunk's
 * queries, token c0 first (model.c). */
void gg_attend_chunk(const gg_model *m, const gg_layer *l, gg_exec *ex, gg_work *w, const gg_batch *b,
                     int c0, int c, const float *q);

/* Whether block il has experts. */
static inline bool gg_layer_is_moe(const gg_hparams *hp, int il) {
    return hp->moe_every > 0 && il % hp->moe_every == 1;
}

/* Tensor lookup with shape checks (loader.c). ne0 = row length. */
int gg_load_matrix(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, bool required,
                   gg_matrix *out, gg_err *e);
/* A [ne0, ne1, ne2] stack as one matrix of ne1 * ne2 rows. */
int gg_load_stack(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                  bool required, gg_matrix *out, gg_err *e);
int gg_load_vector(const gguf_file *f, const char *name, int64_t n, bool required, const float **out,
                   gg_err *e);
/* Dequantizes row `row` of an embedding table into out (n_embd floats). */
void gg_embedding_row(const gg_matrix *table, int64_t row, float *out);

#endif
