/*
 * tokenizer.h - text to token ids for the four tokenizer families a GGUF
 * file can name in tokenizer.ggml.model: "bert" (WordPiece), "llama"
 * (SentencePiece), "gpt2" (byte-level BPE with the pre-tokenizer named
 * by tokenizer.ggml.pre) and "t5" (SentencePiece unigram).
 *
 * A tokenizer is built once from the file's metadata and is read-only
 * afterwards, so any number of threads may call gg_tokenize at once.
 * Token strings are views into the model's mapping.
 */
#ifndef GG_TOKENIZER_H
#define GG_TOKENIZER_H

#include "../common.h"
#include "../gguf/gguf.h"

typedef enum gg_tok_kind { GG_TOK_WPM = 1, GG_TOK_SPM = 2, GG_TOK_BPE = 3, GG_TOK_UGM = 4 } gg_tok_kind;

typedef struct gg_tokenizer gg_tokenizer;

/* Reads tokenizer.ggml.* from f (which must outlive the tokenizer). */
int gg_tokenizer_load(const gguf_file *f, gg_tokenizer **out, gg_err *e);
void gg_tokenizer_free(gg_tokenizer *t);

typedef struct gg_tok_options {
    bool add_special;   /* BOS/CLS, SEP/EOS as the model adds them for an embedding */
    bool parse_special; /* recognise special tokens' text in the input */
} gg_tok_options;

/* Tokenizes text[0..len) (any bytes; invalid UTF-8 is handled as
 * documented in the implementation). Writes at most `cap` ids to out and
 * returns how many the whole text yields (which may exceed cap: call
 * again with a larger buffer), or -1 with a message on failure. */
int64_t gg_tokenize(const gg_tokenizer *t, const char *text, size_t len, const gg_tok_options *opt,
                    int32_t *out, int64_t cap, gg_err *e);

typedef struct gg_tok_info {
    gg_tok_kind kind;
    const char *model_name; /* "bert", "llama", "gpt2" */
    const char *pre_name;   /* tokenizer.ggml.pre, or "default" */
    int32_t n_vocab;
    int32_t bos, eos, unk, sep, pad, cls, mask; /* -1 when absent */
    bool add_bos, add_eos, add_sep;
} gg_tok_info;

const gg_tok_info *gg_tokenizer_info(const gg_tokenizer *t);
/* Text of a token id (a view; len 0 for an id out of range). */
gguf_str gg_token_text(const gg_tokenizer *t, int32_t id);
/* Bytes of working memory the tokenizer holds (tables, maps). */
size_t gg_tokenizer_memory(const gg_tokenizer *t);

#endif
