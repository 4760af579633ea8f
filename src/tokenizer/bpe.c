/*
 * bpe.c - the byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"),
 * as llama.cpp runs it.
 *
 * A fragment is cut into words by the pre-tokenizer (pretok.c). Each
 * word is re-encoded as UTF-8 and every byte replaced by its GPT-2 byte
 * symbol (printable bytes stand for themselves, the others are moved to
 * U+0100 and up). Then adjacent symbols are merged, lowest merge rank
 * first and leftmost first among equal ranks, until no adjacent pair is
 * in tokenizer.ggml.merges. A symbol that is not in the vocabulary falls
 * back to its single bytes, and bytes with no token of their own are
 * dropped, which is what llama.cpp does.
 *
 * The merge itself (symmerge.c) is shared with SentencePiece; here a
 * pair's cost is its merge rank. All working memory lives in one
 * bpe_work per call and is reused from word to word.
 */
#include "pretok.h"
#include "symmerge.h"
#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bpe_work {
    const gg_tokenizer *t;
    gg_pretok pt;
    char *word, *key;
    gg_sym *syms;
    gg_sym_pair *heap;
    size_t cap_word, cap_key, cap_syms, cap_heap;
} bpe_work;

/* GPT-2's byte-to-symbol table: the printable Latin-1 bytes keep their
 * code point, the other 68 take U+0100.. in byte order. */
static uint32_t byte_symbol(uint8_t b) {
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    if (b == 0xAD) return 0x100 + 33 + 34;
    return b;
}

static int reserve(void **buf, size_t *cap, size_t need, size_t elem) {
    void *nb;
    if (need <= *cap) return 0;
    if (need > SIZE_MAX / elem / 2) return -1;
    nb = realloc(*buf, need * 2 * elem);
    if (!nb) return -1;
    *buf = nb;
    *cap = need * 2;
    return 0;
}

/* A pair may join when "left right" is a merge; its rank is the cost. */
static bool merge_rank(void *ctx, const gg_sym *l, const gg_sym *r, double *cost) {
    bpe_work *w = ctx;
    int32_t rank;
    memcpy(w->key, w->word + l->start, l->len);
    w->key[l->len] = ' ';
    memcpy(w->key + l->len + 1, w->word + r->start, r->len);
    rank = gg_strmap_get(&w->t->merge_rank, w->key, l->len + 1 + r->len);
    *cost = rank;
    return rank >= 0;
}

static int emit_symbols(const gg_tokenizer *t, bpe_work *w, gg_tokvec *out) {
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const gg_sym *s = &w->syms[i];
        const char *txt = w->word + s->start;
        int32_t id = gg_strmap_get(&t->vocab, txt, s->len);
        if (id >= 0) {
            if (gg_tokvec_push(out, id)) return -1;
            continue;
        }
        for (uint32_t j = 0; j < s->len; j++) {
            id = gg_strmap_get(&t->vocab, txt + j, 1);
            if (id >= 0 && gg_tokvec_push(out, id)) return -1;
        }
    }
    return 0;
}

/* Byte-encodes the code points cps[0..n) into w->word; returns its length. */
static size_t encode_word(bpe_work *w, const uint32_t *cps, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char utf8[4];
        int k = gg_utf8_encode(cps[i], utf8);
        for (int j = 0; j < k; j++)
            len += (size_t)gg_utf8_encode(byte_symbol((uint8_t)utf8[j]), w->word + len);
    }
    return len;
}

static int encode_one(const gg_tokenizer *t, bpe_work *w, const uint32_t *cps, size_t n,
                      gg_tokvec *out) {
    size_t len;
    /* a code point is at most 4 bytes, each at most a 2-byte symbol */
    if (reserve((void **)&w->word, &w->cap_word, n * 8, 1)) return -1;
    if (reserve((void **)&w->key, &w->cap_key, n * 8 + 1, 1)) return -1;
    if (reserve((void **)&w->syms, &w->cap_syms, n * 4, sizeof *w->syms)) return -1;
    /* gg_sym_merge wants three pairs per symbol */
    if (reserve((void **)&w->heap, &w->cap_heap, n * 12, sizeof *w->heap)) return -1;
    len = encode_word(w, cps, n);
    if (t->bpe_ignore_merges) {
        int32_t id = gg_strmap_get(&t->vocab, w->word, len);
        if (id >= 0) return gg_tokvec_push(out, id);
    }
    gg_sym_merge(w->syms, gg_sym_cut(w->syms, w->word, len), w->heap, merge_rank, w);
    return emit_symbols(t, w, out);
}

int gg_bpe_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e) {
    bpe_work w;
    int rc = 0;
    size_t b = 0;
    memset(&w, 0, sizeof w);
    w.t = t;
    if (gg_pretok_split(&w.pt, t->pre, s, len)) {
        rc = gg_fail_kind(e, GG_E_MEMORY, "BPE tokenizer: out of memory splitting %zu bytes of text",
                          len);
        goto done;
    }
    for (size_t i = 0; i < w.pt.n_lens; i++) {
        if (encode_one(t, &w, w.pt.cps + b, w.pt.lens[i], out)) {
            rc = gg_fail_kind(e, GG_E_MEMORY, "BPE tokenizer: out of memory");
            goto done;
        }
        b += w.pt.lens[i];
    }
done:
    gg_pretok_free(&w.pt);
    free(w.word);
    free(w.key);
    free(w.syms);
    free(w.heap);
    return rc;
}

/* ---- set-up ---- */

typedef struct pre_name {
    const char *name;
    gg_pre_kind kind;
    bool ignore_merges;
} pre_name;

/* tokenizer.ggml.pre values and the llama.cpp regex list each selects. */
/* clang-format off */
static const pre_name pre_names[] = {
    {"default", GG_PRE_DEFAULT, false},
    {"gpt-2", GG_PRE_GPT2, false},          {"phi-2", GG_PRE_GPT2, false},
    {"modern-bert", GG_PRE_GPT2, false},
    {"jina-es", GG_PRE_GPT2, false},        {"jina-de", GG_PRE_GPT2, false},
    {"jina-v2-es", GG_PRE_GPT2, false},     {"jina-v2-de", GG_PRE_GPT2, false},
    {"jina-v1-en", GG_PRE_GPT2, false},     {"jina-v2-code", GG_PRE_GPT2, false},
    {"roberta-bpe", GG_PRE_GPT2, false},    {"gigachat", GG_PRE_GPT2, false},
    {"olmo", GG_PRE_GPT2, false},           {"jais", GG_PRE_GPT2, false},
    {"mpt", GG_PRE_MPT, false},
    {"llama3", GG_PRE_LLAMA3, true},        {"llama-v3", GG_PRE_LLAMA3, true},
    {"llama-bpe", GG_PRE_LLAMA3, true},     {"falcon3", GG_PRE_LLAMA3, true},
    {"dbrx", GG_PRE_LLAMA3, false},         {"smaug-bpe", GG_PRE_LLAMA3, false},
    {"qwen2", GG_PRE_QWEN2, false},         {"deepseek-r1-qwen", GG_PRE_QWEN2, false},
    {"stablelm2", GG_PRE_QWEN2, false},     {"megrez", GG_PRE_QWEN2, false},
    {"deepseek-coder", GG_PRE_DEEPSEEK_CODER, false},
    {"deepseek-llm", GG_PRE_DEEPSEEK_LLM, false},
    {"starcoder", GG_PRE_STARCODER, false}, {"refact", GG_PRE_REFACT, false},
    {"command-r", GG_PRE_STARCODER, false}, {"smollm", GG_PRE_STARCODER, false},
    {"codeshell", GG_PRE_STARCODER, false}, {"exaone", GG_PRE_STARCODER, false},
    {"minerva-7b", GG_PRE_STARCODER, false},
    {"falcon", GG_PRE_FALCON, false},
};
/* clang-format on */

static int unknown_pre(const char *name, size_t len, gg_err *e) {
    char list[420];
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; i < GG_ARRAY_LEN(pre_names) && used + 24 < sizeof list; i++) {
        int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", pre_names[i].name);
        if (k > 0) used += (size_t)k;
    }
    return gg_fail_kind(
        e, GG_E_UNSUPPORTED,
        "BPE tokenizer: unknown pre-tokenizer '%.*s' (tokenizer.ggml.pre); supported: %s",
        (int)GG_MIN(len, 64), name, list);
}

/* The pre-tokenizer name: from the file when there is one, else from
 * info.pre_name; NULL when the model names none (llama.cpp's default). */
static const char *pre_name_of(const gg_tokenizer *t, size_t *len) {
    if (t->file) {
        const gguf_kv *kv = gguf_find_kv(t->file, "tokenizer.ggml.pre");
        gguf_str s;
        if (!kv || gguf_get_str(t->file, "tokenizer.ggml.pre", &s, NULL) < 0) return NULL;
        *len = s.len;
        return s.ptr;
    }
    if (!t->info.pre_name) return NULL;
    *len = strlen(t->info.pre_name);
    return t->info.pre_name;
}

int gg_bpe_init(gg_tokenizer *t, gg_err *e) {
    size_t len = 0;
    const char *name = pre_name_of(t, &len);
    const pre_name *found = NULL;
    if (!name) {
        found = &pre_names[0];
    } else {
        for (size_t i = 0; i < GG_ARRAY_LEN(pre_names) && !found; i++)
            if (strlen(pre_names[i].name) == len && memcmp(pre_names[i].name, name, len) == 0)
                found = &pre_names[i];
        if (!found) return unknown_pre(name, len, e);
    }
    t->pre = found->kind;
    t->bpe_ignore_merges = found->ignore_merges;
    for (int b = 0; b < 256; b++) {
        char sym[4];
        int k = gg_utf8_encode(byte_symbol((uint8_t)b), sym);
        t->byte_ids[b] = gg_strmap_get(&t->vocab, sym, (size_t)k);
    }
    return 0;
}
