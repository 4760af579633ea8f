/*
 * spm.c - the SentencePiece tokenizer (tokenizer.ggml.model = "llama"),
 * as llama.cpp runs it.
 *
 * Spaces become U+2581 ("▁"), and a fragment that starts the text gets
 * one in front when the model asks for it (add_space_prefix, true unless
 * tokenizer.ggml.add_space_prefix says otherwise). The text is cut into
 * UTF-8 characters, and adjacent symbols whose concatenation is a token
 * are merged, highest token score first and leftmost first among equal
 * scores, until no adjacent pair forms a token. A final symbol that is
 * not a token is spelled with byte tokens <0xXX> (or, failing that, the
 * token whose text is the byte itself).
 *
 * The merge itself (symmerge.c) is shared with byte-level BPE; here a
 * pair's cost is minus the score of the token it makes.
 */
#include "symmerge.h"
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct spm_work {
    const gg_tokenizer *t;
    char *text;
    size_t len;
    gg_sym *syms;
    gg_sym_pair *heap;
} spm_work;

/* A pair may join when its joined text is a token; the cost is minus
 * the token's score, so the best score joins first. Symbols are always
 * contiguous in w->text, so the joined text needs no copy. */
static bool token_score(void *ctx, const gg_sym *l, const gg_sym *r, double *cost) {
    const spm_work *w = ctx;
    const gg_tokenizer *t = w->t;
    int32_t id = gg_strmap_get(&t->vocab, w->text + l->start, l->len + r->len);
    if (id < 0 || id >= t->n_vocab) return false;
    *cost = -(double)(t->scores ? t->scores[id] : 0.0f);
    return true;
}

/* Copies the fragment with spaces escaped (and the prefix) to text;
 * returns its length. */
static size_t escape(const gg_tokenizer *t, char *text, const char *s, size_t len, bool first) {
    static const char space[3] = {'\xE2', '\x96', '\x81'};
    size_t n = 0;
    if (first && t->spm_add_space_prefix) memcpy(text, space, 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') memcpy(text + n, space, 3), n += 3;
        else text[n++] = s[i];
    }
    return n;
}

/* Every merged symbol is a token (that is why it was merged), so only
 * single characters can miss the vocabulary; they go out as bytes. */
static int emit_symbols(const gg_tokenizer *t, const spm_work *w, gg_tokvec *out, gg_err *e) {
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const gg_sym *s = &w->syms[i];
        int32_t id = gg_strmap_get(&t->vocab, w->text + s->start, s->len);
        if (id >= 0) {
            if (gg_tokvec_push(out, id))
                return gg_fail_kind(e, GG_E_MEMORY, "SentencePiece tokenizer: out of memory");
            continue;
        }
        for (uint32_t j = 0; j < s->len; j++) {
            uint8_t b = (uint8_t)w->text[s->start + j];
            if (t->byte_ids[b] < 0)
                return gg_fail(
                    e,
                    "SentencePiece tokenizer: byte 0x%02X has no token (no <0x%02X> in the vocabulary)",
                    b, b);
            if (gg_tokvec_push(out, t->byte_ids[b]))
                return gg_fail_kind(e, GG_E_MEMORY, "SentencePiece tokenizer: out of memory");
        }
    }
    return 0;
}

int gg_spm_encode(const gg_tokenizer *t, const char *s, size_t len, bool first, gg_tokvec *out,
                  gg_err *e) {
    spm_work w;
    size_t max;
    int rc;
    /* an empty fragment yields nothing, not even the space prefix */
    if (len == 0) return 0;
    if (len > (UINT32_MAX - 3) / 3)
        return gg_fail(e, "SentencePiece tokenizer: text too long (%zu bytes)", len);
    max = len * 3 + 3;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.text = malloc(max);
    w.syms = malloc(max * sizeof *w.syms);
    w.heap = malloc(max * 3 * sizeof *w.heap); /* three pairs per symbol, for gg_sym_merge */
    if (!w.text || !w.syms || !w.heap) {
        rc = gg_fail_kind(e, GG_E_MEMORY, "SentencePiece tokenizer: out of memory for %zu bytes of text",
                          len);
    } else {
        w.len = escape(t, w.text, s, len, first);
        gg_sym_merge(w.syms, gg_sym_cut(w.syms, w.text, w.len), w.heap, token_score, &w);
        rc = emit_symbols(t, &w, out, e);
    }
    free(w.text);
    free(w.syms);
    free(w.heap);
    return rc;
}

int gg_spm_init(gg_tokenizer *t, gg_err *e) {
    bool prefix = true;
    if (t->file && gguf_get_bool_or(t->file, "tokenizer.ggml.add_space_prefix", true, &prefix, e) < 0) {
        gg_err_prefix(e, "SentencePiece tokenizer");
        return -1;
    }
    if (t->file) t->spm_add_space_prefix = prefix;
    for (int b = 0; b < 256; b++) {
        char name[8], raw = (char)b;
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = gg_strmap_get(&t->vocab, name, 6);
        /* llama.cpp falls back to the token spelled as the byte itself */
        if (t->byte_ids[b] < 0) t->byte_ids[b] = gg_strmap_get(&t->vocab, &raw, 1);
    }
    return 0;
}
