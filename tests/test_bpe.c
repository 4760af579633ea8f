/*
 * test_bpe.c - the BPE and SentencePiece merge loops on tiny hand-made
 * vocabularies, where the expected ids follow from the merge rules by
 * hand: rank order, leftmost-first ties, stale pairs, byte fallback,
 * ignore_merges, the space prefix; and long adversarial inputs that a
 * quadratic merge would not finish.
 */
#include "check.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vocab {
    gg_tokenizer t;
    gguf_str toks[64];
    float scores[64];
    int32_t types[64];
} vocab;

/* Builds a tokenizer with the given tokens (ids in order) and merges
 * (ranks in order); gg_*_init then does the family set-up. */
static void build(vocab *v, const char *const *toks, int n_toks, const char *const *merges,
                  int n_merges) {
    gg_tokenizer *t = &v->t;
    memset(v, 0, sizeof *v);
    t->n_vocab = n_toks;
    t->tokens = v->toks;
    t->scores = v->scores;
    t->types = v->types;
    gg_strmap_init(&t->vocab, (size_t)n_toks);
    for (int i = 0; i < n_toks; i++) {
        v->toks[i] = (gguf_str){toks[i], strlen(toks[i])};
        v->types[i] = GG_TOKTYPE_NORMAL;
        gg_strmap_put(&t->vocab, toks[i], strlen(toks[i]), i);
    }
    gg_strmap_init(&t->merge_rank, (size_t)n_merges + 1);
    for (int i = 0; i < n_merges; i++) gg_strmap_put(&t->merge_rank, merges[i], strlen(merges[i]), i);
}

static void unbuild(vocab *v) {
    gg_strmap_free(&v->t.vocab);
    gg_strmap_free(&v->t.merge_rank);
}

/* Encodes and compares with the expected ids (terminated by -1). */
static void expect(const gg_tokenizer *t, bool spm, bool first, const char *text, const int *want,
                   int line) {
    gg_tokvec out = {0};
    gg_err e = {{0}};
    int rc = spm ? gg_spm_encode(t, text, strlen(text), first, &out, &e)
                 : gg_bpe_encode(t, text, strlen(text), &out, &e);
    size_t n = 0;
    bool same;
    while (want[n] >= 0) n++;
    same = rc == 0 && out.n == n && (n == 0 || memcmp(out.ids, want, n * sizeof *want) == 0);
    check_report(same, __FILE__, line, "\"%s\": rc %d (%s), %zu ids, first %d, want %zu ids", text, rc,
                 e.msg, out.n, out.n ? out.ids[0] : -1, n);
    free(out.ids);
}
#define EXPECT(t, spm, first, text, ...)              \
    do {                                              \
        static const int want_[] = {__VA_ARGS__, -1}; \
        expect(t, spm, first, text, want_, __LINE__); \
    } while (0)
#define EXPECT_NONE(t, spm, first, text)              \
    do {                                              \
        static const int want_[] = {-1};              \
        expect(t, spm, first, text, want_, __LINE__); \
    } while (0)

static void test_bpe_merges(void) {
    /* "Ġ" is the GPT-2 symbol of the space byte */
    static const char *const toks[] = {"a",  "b",  "c",  "\xC4\xA0", "ab", "abc", "\xC4\xA0\x61",
                                       "bc", "aa", "ac", "!"};
    static const char *const merges[] = {"a b", "ab c", "\xC4\xA0 a", "b c", "a a"};
    vocab v;
    build(&v, toks, 11, merges, 5);
    v.t.info.pre_name = "gpt-2";
    CHECK(gg_bpe_init(&v.t, NULL) == 0);
    CHECK_EQ_INT(v.t.pre, GG_PRE_GPT2);
    CHECK_EQ_INT(v.t.byte_ids[' '], 3);
    CHECK_EQ_INT(v.t.byte_ids['a'], 0);
    CHECK_EQ_INT(v.t.byte_ids[0xFF], -1);
    /* a b c: "a b" (rank 0) before "b c" (rank 3), then "ab c" */
    EXPECT(&v.t, false, false, "abc", 5);
    /* Ġ a b c: "a b" first makes "Ġ a" stale; "Ġ abc" is no merge */
    EXPECT(&v.t, false, false, "abc abc", 5, 3, 5);
    /* equal ranks: the leftmost pair merges first */
    EXPECT(&v.t, false, false, "aaa", 8, 0);
    EXPECT(&v.t, false, false, "aaaa", 8, 8);
    /* "a c" is no merge: "ac" is a token but merges ignore it */
    EXPECT(&v.t, false, false, "ac", 0, 2);
    /* é is two byte symbols with no tokens: dropped, as llama.cpp does */
    EXPECT(&v.t, false, false,
           "a\xC3\xA9"
           "b",
           0, 1);
    EXPECT_NONE(&v.t, false, false, "\xC3\xA9");
    EXPECT(&v.t, false, false, "a!", 0, 10);

    /* llama3 turns on ignore_merges: a word that is a token is taken whole */
    v.t.info.pre_name = "llama3";
    CHECK(gg_bpe_init(&v.t, NULL) == 0);
    CHECK_EQ_INT(v.t.pre, GG_PRE_LLAMA3);
    CHECK(v.t.bpe_ignore_merges);
    EXPECT(&v.t, false, false, "ac", 9);
    EXPECT(&v.t, false, false, "abc", 5);

    v.t.info.pre_name = "no-such-pre";
    {
        gg_err e = {{0}};
        CHECK(gg_bpe_init(&v.t, &e) < 0);
        CHECKF(strstr(e.msg, "no-such-pre") && strstr(e.msg, "qwen2"), "message: %s", e.msg);
    }
    v.t.info.pre_name = NULL; /* no tokenizer.ggml.pre: llama.cpp's default list */
    CHECK(gg_bpe_init(&v.t, NULL) == 0);
    CHECK_EQ_INT(v.t.pre, GG_PRE_DEFAULT);
    unbuild(&v);
}

static void test_spm(void) {
    static const char *const toks[] = {
        "<unk>",  "\xE2\x96\x81", "a",      "b", "\xE2\x96\x81\x61", "ab", "\xE2\x96\x81\x61\x62",
        "<0x5A>", "<0xC3>",       "<0xA9>", "ba"};
    vocab v;
    build(&v, toks, 11, NULL, 0);
    /* scores decide the order: "▁a" (-1) beats "ab" (-2) */
    v.scores[4] = -1, v.scores[5] = -2, v.scores[6] = -3, v.scores[10] = -1;
    v.t.spm_add_space_prefix = true;
    CHECK(gg_spm_init(&v.t, NULL) == 0);
    CHECK_EQ_INT(v.t.byte_ids['Z'], 7);
    CHECK_EQ_INT(v.t.byte_ids['a'], 2); /* no <0x61>: the token "a" itself */
    CHECK_EQ_INT(v.t.byte_ids['q'], -1);
    /* ▁ a b: "▁a" first, then "▁ab" */
    EXPECT(&v.t, true, true, "ab", 6);
    /* not at the start: no prefix, "ab" */
    EXPECT(&v.t, true, false, "ab", 5);
    /* a b a: "ba" (-1) outscores "ab" (-2) */
    EXPECT(&v.t, true, false, "aba", 2, 10);
    /* spaces become ▁ */
    EXPECT(&v.t, true, false, "a a", 2, 4);
    /* characters without a token are spelled in byte tokens */
    EXPECT(&v.t, true, false, "Z\xC3\xA9", 7, 8, 9);
    EXPECT_NONE(&v.t, true, true, "");
    {
        gg_tokvec out = {0};
        gg_err e = {{0}};
        CHECK(gg_spm_encode(&v.t, "q", 1, false, &out, &e) < 0);
        CHECKF(strstr(e.msg, "0x71") != NULL, "message: %s", e.msg);
        free(out.ids);
    }
    v.t.spm_add_space_prefix = false;
    EXPECT(&v.t, true, true, "ab", 5);
    unbuild(&v);
}

/* 1 MiB of one letter, and 1 MiB with no space: a quadratic merge or
 * split would not finish within the test timeout. */
static void test_long(void) {
    static const char *const toks[] = {"a", "aa", "aaaa", "b", "ab", "\xE2\x96\x81", "\xE2\x96\x81\x61"};
    static const char *const merges[] = {"a a", "aa aa", "a b"};
    size_t n = 1 << 20;
    char *text = malloc(n + 1);
    vocab v;
    gg_tokvec out = {0};
    build(&v, toks, 7, merges, 3);
    v.scores[1] = -1, v.scores[2] = -2, v.scores[4] = -3;
    memset(text, 'a', n);
    text[n] = 0;
    v.t.info.pre_name = "qwen2";
    CHECK(gg_bpe_init(&v.t, NULL) == 0);
    CHECK(gg_bpe_encode(&v.t, text, n, &out, NULL) == 0);
    CHECK_EQ_INT(out.n, n / 4); /* all "aaaa" */
    CHECK(out.n > 0 && out.ids[0] == 2 && out.ids[out.n - 1] == 2);
    out.n = 0;
    for (size_t i = 0; i < n; i++) text[i] = "ab.\xC3"[i % 4];
    CHECK(gg_bpe_encode(&v.t, text, n, &out, NULL) == 0);
    CHECK(out.n > 0);
    out.n = 0;
    v.t.spm_add_space_prefix = true;
    memset(text, 'a', n);
    CHECK(gg_spm_init(&v.t, NULL) == 0);
    CHECK(gg_spm_encode(&v.t, text, n, false, &out, NULL) == 0);
    CHECK_EQ_INT(out.n, n / 4);
    free(out.ids);
    free(text);
    unbuild(&v);
}

int main(void) {
    test_bpe_merges();
    test_spm();
    test_long();
    return check_done("test_bpe");
}
