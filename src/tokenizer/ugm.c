/*
 * ugm.c - the SentencePiece unigram tokenizer (tokenizer.ggml.model =
 * "t5": T5, XLM-RoBERTa and so bge-m3, multilingual-e5), as llama.cpp
 * runs it.
 *
 * Normalization first, a prefix at a time: a user-defined token's text is
 * kept as it is; otherwise the longest prefix that the model's
 * precompiled character map (tokenizer.ggml.precompiled_charsmap) knows
 * is replaced by its normalized form; otherwise one UTF-8 character is
 * kept (a byte that does not start one becomes U+FFFD). Spaces become
 * U+2581 ("▁"); with add_space_prefix a run of non-space text at the
 * start of the fragment gets one in front, and with
 * remove_extra_whitespaces every run does while the spaces themselves
 * are dropped.
 *
 * Then the segmentation of highest total score (Viterbi): every token
 * (normal, user-defined at score 0, or unused) that matches at a
 * character boundary is a step from there to its end; a character that
 * no single token covers is a step of the unknown token at the lowest
 * normal score minus 10. Scores are summed in double and a later path
 * must be strictly better to replace an earlier one, which fixes ties as
 * llama.cpp does. Consecutive unknown tokens are given once. The tokens
 * that match at a position are found in the matchable tokens sorted by
 * text: each further byte narrows a range of them by binary search, and
 * an empty range ends the walk (a trie's walk, without a trie).
 *
 * The character map is an XOR-compressed compact double array (a trie
 * over bytes, each node a 32-bit word: BASE in bits 10-30 shifted by
 * bit 9, a leaf flag in bit 8, the byte that leads to the node (LCHECK)
 * in bits 0-7 and 31) followed by the NUL-terminated replacements. Every
 * index into it is checked; a map that points outside itself is an
 * error of the model file.
 */
#include "tokenizer_internal.h"
#include "unicode.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define SPACE "\xe2\x96\x81"

static bool matcher_type(int32_t type) {
    return type == GG_TOKTYPE_NORMAL || type == GG_TOKTYPE_USER_DEFINED || type == GG_TOKTYPE_UNUSED;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int by_text(const void *a, const void *b) {
    const gg_ugm_tok *x = a, *y = b;
    int c = memcmp(x->text, y->text, GG_MIN(x->len, y->len));
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

/* The matchable tokens (non-empty) in text order, equal texts by id. */
static int sort_matchable(gg_tokenizer *t, gg_err *e) {
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) n += matcher_type(t->types[i]) && t->tokens[i].len > 0;
    t->ugm_sorted = malloc((size_t)(n ? n : 1) * sizeof *t->ugm_sorted);
    if (!t->ugm_sorted) return gg_fail_kind(e, GG_E_MEMORY, "unigram tokenizer: out of memory");
    t->memory += (size_t)n * sizeof *t->ugm_sorted;
    for (int32_t i = 0, k = 0; i < t->n_vocab; i++)
        if (matcher_type(t->types[i]) && t->tokens[i].len > 0)
            t->ugm_sorted[k++] = (gg_ugm_tok){t->tokens[i].ptr,
                                              (uint32_t)GG_MIN(t->tokens[i].len, UINT32_MAX), i};
    t->ugm_n_sorted = n;
    qsort(t->ugm_sorted, (size_t)n, sizeof *t->ugm_sorted, by_text);
    return 0;
}

int gg_ugm_init(gg_tokenizer *t, gg_err *e) {
    if (t->info.unk < 0) return gg_fail(e, "unigram tokenizer: the model has no unknown token");
    float lo = FLT_MAX;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->types[i] == GG_TOKTYPE_NORMAL && t->scores[i] < lo) lo = t->scores[i];
        if (!matcher_type(t->types[i])) continue;
        if (t->types[i] == GG_TOKTYPE_USER_DEFINED && (int64_t)t->tokens[i].len > t->ugm_max_user_len)
            t->ugm_max_user_len = (int32_t)GG_MIN(t->tokens[i].len, 1024);
    }
    t->ugm_unk_score = lo - 10.0f;
    if (sort_matchable(t, e)) return -1;
    if (!gguf_find_kv(t->file, "tokenizer.ggml.precompiled_charsmap")) return 0;
    gguf_array a;
    if (gguf_get_arr(t->file, "tokenizer.ggml.precompiled_charsmap", GGUF_VTYPE_COUNT, &a, e)) return -1;
    if ((a.type != GGUF_UINT8 && a.type != GGUF_INT8) || a.n < 4)
        return gg_fail(e, "tokenizer.ggml.precompiled_charsmap: %llu elements of %s, want bytes",
                       (unsigned long long)a.n, gguf_vtype_name(a.type));
    uint32_t xcda_bytes = rd32(a.data);
    if ((uint64_t)xcda_bytes + 4 >= a.n || xcda_bytes % 4)
        return gg_fail(e,
                       "tokenizer.ggml.precompiled_charsmap: a trie of %u bytes does not fit its %llu",
                       xcda_bytes, (unsigned long long)a.n);
    t->ugm_xcda = a.data + 4;
    t->ugm_xcda_n = xcda_bytes / 4;
    t->ugm_repl = (const char *)a.data + 4 + xcda_bytes;
    t->ugm_repl_len = (size_t)a.n - 4 - xcda_bytes;
    return 0;
}

/* ---- normalization ---- */

typedef struct piece {
    const char *s;
    size_t len, consumed;
} piece;

/* Node i of the character map, or false when i is outside it. */
static bool node(const gg_tokenizer *t, uint32_t i, uint32_t *out) {
    if (i >= t->ugm_xcda_n) return false;
    *out = rd32(t->ugm_xcda + (size_t)i * 4);
    return true;
}

static uint32_t node_base(uint32_t n) { return (n >> 10) << ((n & (1u << 9)) >> 6); }

/* The longest prefix of s the character map replaces: its length (0:
 * none) and its replacement. -1 when the map points outside itself. */
static int charsmap_match(const gg_tokenizer *t, const char *s, size_t len, piece *out) {
    uint32_t n, at;
    if (!t->ugm_xcda_n) return 0;
    if (!node(t, 0, &n)) return -1;
    at = node_base(n);
    size_t best = 0;
    uint32_t best_value = 0;
    for (size_t i = 0; i < len; i++) {
        const uint8_t c = (uint8_t)s[i];
        if (c == 0) break;
        at ^= c;
        if (!node(t, at, &n)) return -1;
        if ((n & ((1u << 31) | 0xffu)) != c) break;
        const bool leaf = (n >> 8) & 1;
        at ^= node_base(n);
        if (leaf) {
            if (!node(t, at, &n)) return -1;
            best = i + 1;
            best_value = n & ((1u << 31) - 1);
        }
    }
    if (!best) return 0;
    if (best_value >= t->ugm_repl_len) return -1;
    const char *r = t->ugm_repl + best_value;
    const char *end = memchr(r, 0, t->ugm_repl_len - best_value);
    *out = (piece){r, end ? (size_t)(end - r) : t->ugm_repl_len - best_value, best};
    return 1;
}

/* The normalized form of the prefix of s (len > 0). */
static int normalize_prefix(const gg_tokenizer *t, const char *s, size_t len, piece *out) {
    for (size_t n = GG_MIN((size_t)t->ugm_max_user_len, len); n > 0; n--) {
        int32_t id = gg_strmap_get(&t->vocab, s, n);
        if (id >= 0 && t->types[id] == GG_TOKTYPE_USER_DEFINED) {
            *out = (piece){s, n, n};
            return 0;
        }
    }
    int m = charsmap_match(t, s, len, out);
    if (m < 0) return -1;
    if (m) return 0;
    size_t used;
    const uint32_t cp = gg_utf8_decode_lax(s, len, &used);
    if (cp == 0xFFFD && used == 1) *out = (piece){"\xef\xbf\xbd", 3, 1}; /* not UTF-8 */
    else *out = (piece){s, used, used};
    return 0;
}

typedef struct charbuf {
    char *s;
    size_t n, cap;
} charbuf;

static int put(charbuf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = GG_MAX(b->cap * 2, b->n + n + 64);
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    return 0;
}

static int normalize(const gg_tokenizer *t, const char *s, size_t len, charbuf *out, gg_err *e) {
    const bool merge = t->ugm_remove_extra_ws;
    bool prepended = false, in_word = false;
    for (size_t off = 0; off < len;) {
        piece p;
        if (normalize_prefix(t, s + off, len - off, &p))
            return gg_fail(e, "tokenizer.ggml.precompiled_charsmap points outside itself");
        for (size_t i = 0; i < p.len; i++) {
            int rc = 0;
            if (p.s[i] != ' ') {
                if (!in_word) {
                    in_word = true;
                    if ((t->spm_add_space_prefix && !prepended) || merge) {
                        rc = put(out, SPACE, 3);
                        prepended = true;
                    }
                }
                if (!rc) rc = put(out, p.s + i, 1);
            } else {
                in_word = false;
                if (!merge) rc = put(out, SPACE, 3);
            }
            if (rc) return gg_fail_kind(e, GG_E_MEMORY, "unigram tokenizer: out of memory");
        }
        off += p.consumed;
    }
    return 0;
}

/* ---- segmentation ---- */

typedef struct best {
    int32_t id;
    size_t from;
    double score;
} best;

static void offer(best *b, int32_t id, size_t from, double score) {
    if (score > b->score) *b = (best){id, from, score};
}

/* [lo, hi): tokens that share their first len - 1 bytes (all of them at
 * least that long, the ones of exactly that length first); narrows it to
 * those whose byte len - 1 is c. False when none is left. */
static bool narrow(const gg_ugm_tok *tok, size_t *lo, size_t *hi, size_t len, uint8_t c) {
    size_t a = *lo, b = *hi;
    while (a < b && tok[a].len < len) a++;
    size_t l = a, r = b; /* first with byte >= c */
    while (l < r) {
        size_t mid = l + (r - l) / 2;
        if ((uint8_t)tok[mid].text[len - 1] < c) l = mid + 1;
        else r = mid;
    }
    size_t first = l;
    r = b; /* first with byte > c */
    while (l < r) {
        size_t mid = l + (r - l) / 2;
        if ((uint8_t)tok[mid].text[len - 1] <= c) l = mid + 1;
        else r = mid;
    }
    *lo = first;
    *hi = l;
    return first < l;
}

static int segment(const gg_tokenizer *t, const char *s, size_t n, gg_tokvec *out, gg_err *e) {
    best *dp = malloc((n + 1) * sizeof *dp);
    if (!dp) return gg_fail_kind(e, GG_E_MEMORY, "unigram tokenizer: out of memory for %zu bytes", n);
    const int32_t unk = t->info.unk;
    for (size_t i = 0; i <= n; i++) dp[i] = (best){unk, 0, -DBL_MAX};
    dp[0].score = 0;
    for (size_t at = 0; at < n;) {
        const size_t ch = GG_MIN((size_t)gg_utf8_len((uint8_t)s[at]), n - at);
        bool whole_char = false;
        size_t lo = 0, hi = (size_t)t->ugm_n_sorted;
        for (size_t len = 1;
             at + len <= n && narrow(t->ugm_sorted, &lo, &hi, len, (uint8_t)s[at + len - 1]); len++) {
            size_t k = lo; /* the tokens that are exactly s[at, at + len) come first */
            while (k < hi && t->ugm_sorted[k].len == len) k++;
            if (k == lo) continue;
            const int32_t id = t->ugm_sorted[k - 1].id; /* of equal texts, the last id */
            whole_char |= len == ch;
            double score = t->types[id] == GG_TOKTYPE_USER_DEFINED ? 0.0 : (double)t->scores[id];
            offer(&dp[at + len], id, at, dp[at].score + score);
        }
        if (!whole_char) offer(&dp[at + ch], unk, at, dp[at].score + (double)t->ugm_unk_score);
        at += ch;
    }
    size_t first = out->n;
    bool prev_unk = false;
    for (size_t at = n;;) {
        const bool is_unk = dp[at].id == unk;
        if (!(prev_unk && is_unk) && gg_tokvec_push(out, dp[at].id)) {
            free(dp);
            return gg_fail_kind(e, GG_E_MEMORY, "unigram tokenizer: out of memory");
        }
        if (dp[at].from == 0) break;
        prev_unk = is_unk;
        at = dp[at].from;
    }
    for (size_t i = first, j = out->n - 1; i < j; i++, j--) {
        int32_t x = out->ids[i];
        out->ids[i] = out->ids[j];
        out->ids[j] = x;
    }
    free(dp);
    return 0;
}

int gg_ugm_encode(const gg_tokenizer *t, const char *s, size_t len, gg_tokvec *out, gg_err *e) {
    charbuf b = {0};
    int rc = normalize(t, s, len, &b, e);
    if (!rc && b.n > 0) rc = segment(t, b.s, b.n, out, e);
    free(b.s);
    return rc;
}
