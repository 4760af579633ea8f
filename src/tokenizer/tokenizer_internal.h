/*
 * tokenizer_internal.h - what the tokenizer families share: the vocabulary
 * as loaded from GGUF metadata, a string-to-id map, the growable id
 * vector, and the per-family encoders that tokenizer.c dispatches to.
 *
 * tokenizer.c splits the input around special tokens (when asked),
 * adds the model's special tokens, and hands each plain fragment to the
 * family's encoder, which appends ids.
 */
#ifndef GG_TOKENIZER_INTERNAL_H
#define GG_TOKENIZER_INTERNAL_H

#include "tokenizer.h"
#include "strmap.h"

/* tokenizer.ggml.token_type values */
enum {
    GG_TOKTYPE_NORMAL = 1,
    GG_TOKTYPE_UNKNOWN = 2,
    GG_TOKTYPE_CONTROL = 3,
    GG_TOKTYPE_USER_DEFINED = 4,
    GG_TOKTYPE_UNUSED = 5,
    GG_TOKTYPE_BYTE = 6,
};

/* Pre-tokenizers of byte-level BPE (tokenizer.ggml.pre). */
typedef enum gg_pre_kind {
    GG_PRE_GPT2 = 0, /* "gpt-2" (unknown names are an error) */
    GG_PRE_LLAMA3,
    GG_PRE_QWEN2,
    GG_PRE_DEEPSEEK_CODER,
    GG_PRE_DEEPSEEK_LLM,
    GG_PRE_STARCODER,
    GG_PRE_FALCON,
    GG_PRE_MPT,
    GG_PRE_REFACT,
    GG_PRE_DEFAULT, /* "default" or no tokenizer.ggml.pre: llama.cpp's own list */
    GG_PRE_COUNT
} gg_pre_kind;

/* Whether splitting around a special token also eats the white space
 * before (LSTRIP) or after (RSTRIP) it, as llama.cpp sets for a few
 * models by name. */
enum { GG_STRIP_LEFT = 1, GG_STRIP_RIGHT = 2 };

/* A matchable token of a unigram vocabulary, in the table sorted by text. */
typedef struct gg_ugm_tok {
    const char *text;
    uint32_t len;
    int32_t id;
} gg_ugm_tok;

typedef struct gg_tokvec {
    int32_t *ids;
    size_t n, cap;
} gg_tokvec;

/* Appends one id; returns -1 when memory runs out. */
int gg_tokvec_push(gg_tokvec *v, int32_t id);

struct gg_tokenizer {
    gg_tok_info info;
    const gguf_file *file;
    int32_t n_vocab;
    gguf_str *tokens; /* views into the mapping */
    float *scores;    /* n_vocab, 0 when the file has none */
    int32_t *types;   /* n_vocab, GG_TOKTYPE_NORMAL when absent */
    gg_strmap vocab;  /* token text -> id */
    gguf_str *merges; /* BPE merges "left right", rank = index */
    int32_t n_merges;
    gg_strmap merge_rank; /* "left right" -> rank */
    gg_pre_kind pre;
    bool wpm_lowercase;     /* WordPiece: uncased model */
    bool wpm_strip_accents; /* WordPiece: first code point of NFD, marks dropped */
    int32_t max_token_len;  /* longest token text in bytes */
    bool spm_add_space_prefix;
    bool bpe_ignore_merges;   /* llama3-style: whole words found in vocab first */
    bool ugm_remove_extra_ws; /* unigram: tokenizer.ggml.remove_extra_whitespaces */
    float ugm_unk_score;      /* unigram: lowest normal score - 10 */
    int32_t ugm_max_user_len; /* longest user-defined token */
    gg_ugm_tok *ugm_sorted;   /* matchable tokens sorted by text */
    int32_t ugm_n_sorted;
    const uint8_t *ugm_xcda; /* unigram: the character map's trie (in the mapping) */
    uint32_t ugm_xcda_n;
    const char *ugm_repl; /* and its replacements */
    size_t ugm_repl_len;
    int32_t byte_ids[256];  /* SPM <0xXX> tokens / BPE byte tokens; -1 absent */
    int32_t *specials;      /* control/user-defined/unknown ids, longest text first */
    uint8_t *special_strip; /* per entry of specials: GG_STRIP_* */
    int32_t n_specials;
    size_t memory; /* bytes allocated for the above, maps excluded */
};

/* Encoders append the ids of a plain text fragment (no special tokens in
 * it). `first` is true for a fragment at the start of the text or right
 * after a special token (BOS included): llama.cpp gives SentencePiece's
 * space prefix to exactly those. */
int gg_wpm_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e);
int gg_spm_encode(const gg_tokenizer *t, const char *s, size_t len, bool first, gg_tokvec *out,
                  gg_err *e);
int gg_bpe_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e);
int gg_ugm_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e);

/* Family set-up after the common load (maps, byte tokens, flags). */
int gg_wpm_init(gg_tokenizer *t, gg_err *e);
int gg_spm_init(gg_tokenizer *t, gg_err *e);
int gg_bpe_init(gg_tokenizer *t, gg_err *e);
int gg_ugm_init(gg_tokenizer *t, gg_err *e);

#endif
