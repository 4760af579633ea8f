/*
 * wordpiece.c - the WordPiece tokenizer of BERT-family models
 * (tokenizer.ggml.model = "bert"), exactly as llama.cpp runs it.
 *
 * Text is first cut into words, the BERT "basic tokenizer" way:
 *  - each code point is replaced by the first code point of its
 *    canonical decomposition when accents are stripped (llama.cpp keeps
 *    only that one, so Hangul syllables become their leading jamo);
 *  - white space (the White_Space property) ends a word; U+0000, U+FFFD
 *    and \p{C} (control, format, private use, surrogates; unassigned
 *    code points are kept) are dropped, as are \p{M} marks when
 *    stripping accents;
 *  - \p{P}, ASCII \p{S} and CJK ideographs each form a word of their own;
 *  - everything else is appended, lower-cased (simple mapping) when the
 *    model is uncased.
 * Each word then becomes "▁" + word (llama.cpp's converter renames
 * "##piece" continuations to "piece" and word starts "w" to "▁w") and is
 * matched greedily, longest vocabulary entry first, byte by byte. A word
 * with any position that matches nothing becomes the single [UNK].
 */
#include "tokenizer_internal.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

#define WORD_START "\xe2\x96\x81" /* U+2581, the converted vocabulary's word start */
#define WORD_START_LEN 3

int gg_wpm_init(gg_tokenizer *t, gg_err *e) {
    if (t->info.unk < 0) return gg_fail(e, "WordPiece tokenizer: the model has no unknown token");
    return 0;
}

/* The word being built: WORD_START then the word's bytes. Small words
 * (nearly all) live in the inline buffer; longer ones grow a heap copy
 * that is kept for the rest of the call. */
typedef struct word_buf {
    char *p;
    size_t n, cap;
    char small[256];
} word_buf;

static int word_add(word_buf *w, const char *s, size_t n) {
    if (w->n + n > w->cap) {
        size_t cap = w->cap * 2;
        while (cap < w->n + n) cap *= 2;
        char *p = w->p == w->small ? malloc(cap) : realloc(w->p, cap);
        if (!p) return -1;
        if (w->p == w->small) memcpy(p, w->small, w->n);
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
    return 0;
}

/* Greedy longest match over "▁word"; [UNK] for the whole word when some
 * position matches nothing. */
static int match_word(const gg_tokenizer *t, const char *s, size_t n, gg_tokvec *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = GG_MIN(n, i + (size_t)t->max_token_len);
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = gg_strmap_get(&t->vocab, s + i, j - i)) >= 0) break;
        if (id < 0) {
            out->n = start;
            return gg_tokvec_push(out, t->info.unk);
        }
        if (gg_tokvec_push(out, id)) return -1;
        i = j;
    }
    return 0;
}

/* Emits the current word, if any, and starts a new one. */
static int flush_word(const gg_tokenizer *t, word_buf *w, gg_tokvec *out) {
    int rc = 0;
    if (w->n > WORD_START_LEN) rc = match_word(t, w->p, w->n, out);
    w->n = WORD_START_LEN;
    return rc;
}

/* CJK ideograph blocks as BERT (and llama.cpp) list them, including the
 * 0x2B920 start that llama.cpp copies from the Hugging Face code. */
static bool is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* One code point of the input: drop it, end the word, stand alone or
 * join the word. */
static int feed(const gg_tokenizer *t, uint32_t cp, word_buf *w, gg_tokvec *out) {
    if (t->wpm_strip_accents) cp = gg_unicode_nfd_first(cp);
    unsigned f = gg_unicode_flags(cp);
    if (f & GG_UF_WHITESPACE) return flush_word(t, w, out);
    if (cp == 0 || cp == 0xFFFD || cp > 0x10FFFF || (f & GG_UF_CONTROL)) return 0;
    if (t->wpm_strip_accents && (f & GG_UF_MARK)) return 0;
    char enc[4];
    int n = gg_utf8_encode(t->wpm_lowercase ? gg_unicode_lower(cp) : cp, enc);
    if ((f & GG_UF_PUNCT) || (cp < 0x7F && (f & GG_UF_SYMBOL)) || is_cjk(cp)) {
        if (flush_word(t, w, out) || word_add(w, enc, (size_t)n)) return -1;
        return flush_word(t, w, out);
    }
    return word_add(w, enc, (size_t)n);
}

int gg_wpm_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e) {
    word_buf w;
    w.p = w.small;
    w.cap = sizeof w.small;
    memcpy(w.p, WORD_START, WORD_START_LEN);
    w.n = WORD_START_LEN;
    int rc = 0;
    for (size_t i = 0, used; i < len && rc == 0; i += used) {
        uint32_t cp;
        if ((uint8_t)s[i] < 0x80) cp = (uint8_t)s[i], used = 1;
        else cp = gg_utf8_decode_lax(s + i, len - i, &used);
        rc = feed(t, cp, &w, out);
    }
    if (rc == 0) rc = flush_word(t, &w, out);
    if (w.p != w.small) free(w.p);
    return rc ? gg_fail_kind(e, GG_E_MEMORY, "WordPiece tokenizer: out of memory") : 0;
}
