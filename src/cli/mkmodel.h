/*
 * mkmodel.h - what `ggembed mkmodel` knows: the shapes of real embedding
 * models (presets), the tensors each architecture has, the tensor types of
 * llama.cpp's quantization mixes, and a small built-in vocabulary for
 * when no vocabulary file is given.
 */
#ifndef GG_MKMODEL_H
#define GG_MKMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct mk_preset {
    const char *name;
    const char *arch;
    const char *about;
    int n_vocab; /* rows of token_embd; 0: the vocabulary's size */
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
    float norm_eps, rope_base;
    int pooling;
    int add_eos;                            /* -1: as the vocabulary says */
    bool builtin_vocab;                     /* the built-in WordPiece vocabulary fits (BERT family) */
    int n_expert, n_expert_used, moe_every; /* mixture-of-experts rows */
    int n_swa;                              /* sliding-window rows: attention.sliding_window */
    bool all_optional;      /* also the tensors the row may have (jina-v2-base-code's Q/K norms
                        * and attn_norm_2) */
    int n_dense;            /* the projection after pooling, E -> n_dense -> E (EmbeddingGemma) */
    bool up_gate_fused;     /* gate and up in one ffn_up [E, 2F] where the row allows both forms */
    const char *hidden_act; /* <arch>.hidden_activation (act_key rows); NULL: not written */
} mk_preset;

const mk_preset *mk_find_preset(const char *name);
void mk_list_presets(void);

/* A file type: a plain tensor type or a mix such as q4_K_M. */
typedef struct mk_ftype {
    const char *name;
    gg_type base;
    int mix;              /* 0 none, 4 for q4_K_M, 5 for q5_K_M */
    uint32_t llama_ftype; /* general.file_type as llama.cpp numbers it */
} mk_ftype;

const mk_ftype *mk_find_ftype(const char *name);
void mk_list_ftypes(void);

/* The type a tensor gets under a file type, as llama.cpp's quantizer
 * picks it (one-dimensional tensors stay f32). */
gg_type mk_tensor_type(const mk_ftype *ft, const char *name, int layer, int n_layer, int64_t ne0,
                       int n_dims);

/* The built-in WordPiece vocabulary: specials, characters and common
 * English words, so a model can be made with no vocabulary file. */
void mk_builtin_vocab(gguf_writer *w, int *n_vocab);

#endif
