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
 * Candidate pairs wait in a binary heap; a popped pair whose symbols
 * changed since it was queued is skipped, so the cost is O(n log n).
 */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct spm_sym {
    uint32_t start, len; /* len 0 once merged into the left neighbour */
    int32_t prev, next;
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t size; /* left.len + right.len when queued */
} spm_pair;

typedef struct spm_work {
    char *text;
    size_t len;
    spm_sym *syms;
    spm_pair *heap;
    size_t n_heap;
} spm_work;

/* Bytes in the UTF-8 character a byte starts, by its high nibble, as
 * llama.cpp counts them (no validation; clipped at the end of text). */
static uint32_t utf8_len(uint8_t b) {
    static const uint8_t by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_nibble[b >> 4];
}

/* ---- the heap: highest score first, then leftmost ---- */

static bool pair_before(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_work *w, spm_pair pr) {
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&pr, &w->heap[up])) break;
        w->heap[i] = w->heap[up];
        i = up;
    }
    w->heap[i] = pr;
}

static spm_pair heap_pop(spm_work *w) {
    spm_pair top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

/* Queues (left, right) when their joined text is a token. Symbols are
 * always contiguous in w->text, so the joined text needs no copy. */
static void try_pair(const gg_tokenizer *t, spm_work *w, int32_t left, int32_t right) {
    const spm_sym *l, *r;
    int32_t id;
    if (left < 0 || right < 0) return;
    l = &w->syms[left];
    r = &w->syms[right];
    id = gg_strmap_get(&t->vocab, w->text + l->start, l->len + r->len);
    if (id < 0 || id >= t->n_vocab) return;
    heap_push(w, (spm_pair){t->scores ? t->scores[id] : 0.0f, left, right, l->len + r->len});
}

/* Copies the fragment with spaces escaped (and the prefix), cut into characters. */
static void escape_and_cut(const gg_tokenizer *t, spm_work *w, const char *s, size_t len,
                           bool first) {
    static const char space[3] = {'\xE2', '\x96', '\x81'};
    size_t n = 0;
    int32_t k = 0;
    if (first && t->spm_add_space_prefix) memcpy(w->text, space, 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') memcpy(w->text + n, space, 3), n += 3;
        else w->text[n++] = s[i];
    }
    w->len = n;
    for (size_t off = 0; off < n; k++) {
        uint32_t c = utf8_len((uint8_t)w->text[off]);
        if (c > n - off) c = (uint32_t)(n - off);
        w->syms[k] = (spm_sym){(uint32_t)off, c, k - 1, -1};
        if (k > 0) w->syms[k - 1].next = k;
        off += c;
    }
}

static void merge(const gg_tokenizer *t, spm_work *w) {
    int32_t n = 0;
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) n++;
    w->n_heap = 0;
    for (int32_t i = 1; i < n; i++) try_pair(t, w, i - 1, i);
    while (w->n_heap > 0) {
        spm_pair pr = heap_pop(w);
        spm_sym *l = &w->syms[pr.left], *r = &w->syms[pr.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != pr.size) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = pr.left;
        try_pair(t, w, l->prev, pr.left);
        try_pair(t, w, pr.left, l->next);
    }
}

/* Every merged symbol is a token (that is why it was merged), so only
 * single characters can miss the vocabulary; they go out as bytes. */
static int emit_symbols(const gg_tokenizer *t, const spm_work *w, gg_tokvec *out, gg_err *e) {
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) {
        const spm_sym *s = &w->syms[i];
        int32_t id = gg_strmap_get(&t->vocab, w->text + s->start, s->len);
        if (id >= 0) {
            if (gg_tokvec_push(out, id)) return gg_fail(e, "SentencePiece tokenizer: out of memory");
            continue;
        }
        for (uint32_t j = 0; j < s->len; j++) {
            uint8_t b = (uint8_t)w->text[s->start + j];
            if (t->byte_ids[b] < 0)
                return gg_fail(e, "SentencePiece tokenizer: byte 0x%02X has no token (no <0x%02X> in the vocabulary)", b, b);
            if (gg_tokvec_push(out, t->byte_ids[b])) return gg_fail(e, "SentencePiece tokenizer: out of memory");
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
    if (len > (UINT32_MAX - 3) / 3) return gg_fail(e, "SentencePiece tokenizer: text too long (%zu bytes)", len);
    max = len * 3 + 3;
    memset(&w, 0, sizeof w);
    w.text = malloc(max);
    w.syms = malloc(max * sizeof *w.syms);
    w.heap = malloc(max * 3 * sizeof *w.heap); /* n-1 pairs, then two per merge */
    if (!w.text || !w.syms || !w.heap) {
        rc = gg_fail(e, "SentencePiece tokenizer: out of memory for %zu bytes of text", len);
    } else {
        escape_and_cut(t, &w, s, len, first);
        merge(t, &w);
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
