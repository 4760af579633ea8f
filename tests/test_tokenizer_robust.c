/*
 * test_tokenizer_robust.c - the tokenizers on input nobody would choose:
 * random bytes, invalid UTF-8, every kind of white space, empty text and
 * a megabyte of mixed text, for every vocabulary fixture. Each must
 * return without crashing, give ids inside the vocabulary, and give the
 * same ids every time. Also the string map the tokenizers are built on,
 * the output-buffer contract, and a few WordPiece facts whose expected
 * ids are found by scanning the vocabulary, not through the tokenizer.
 */
#include "check.h"
#include "tokenizer/strmap.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint32_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Tokenizes twice (once only counting) and checks range and determinism;
 * returns the count, ids in *ids (caller frees). */
static int64_t tokenize_checked(const gg_tokenizer *t, const char *name, const char *s, size_t len,
                                bool special, int32_t **ids) {
    gg_tok_options opt = {.add_special = special, .parse_special = special};
    gg_err e = {{0}};
    int64_t n = gg_tokenize(t, s, len, &opt, NULL, 0, &e);
    CHECKF(n >= 0, "%s: %zu bytes: %s", name, len, e.msg);
    if (n < 0) return -1;
    int32_t *a = malloc((size_t)(n + 1) * sizeof(int32_t));
    int32_t *b = malloc((size_t)(n + 1) * sizeof(int32_t));
    int64_t na = gg_tokenize(t, s, len, &opt, a, n + 1, &e);
    int64_t nb = gg_tokenize(t, s, len, &opt, b, n + 1, &e);
    CHECKF(na == n && nb == n, "%s: counts %lld %lld %lld", name, (long long)n, (long long)na,
           (long long)nb);
    CHECKF(na != n || memcmp(a, b, (size_t)n * sizeof(int32_t)) == 0, "%s: not deterministic", name);
    int32_t n_vocab = gg_tokenizer_info(t)->n_vocab;
    int64_t bad = 0;
    for (int64_t i = 0; i < na && i < n; i++) bad += a[i] < 0 || a[i] >= n_vocab;
    CHECKF(bad == 0, "%s: %lld ids outside the vocabulary", name, (long long)bad);
    free(b);
    *ids = a;
    return n;
}

static void random_bytes(const gg_tokenizer *t, const char *name) {
    char buf[512];
    for (int round = 0; round < 300; round++) {
        size_t len = next_random() % sizeof buf;
        /* mix fully random bytes with runs biased toward UTF-8 lead and
         * continuation bytes, where decoders go wrong */
        for (size_t i = 0; i < len; i++) {
            uint32_t r = next_random();
            buf[i] = (char)((round & 1) ? r : (r & 1 ? 0x80 | (r >> 8 & 0x3F) : 0xC0 | (r >> 8 & 0x3F)));
        }
        int32_t *ids = NULL;
        tokenize_checked(t, name, buf, len, round % 3 == 0, &ids);
        free(ids);
    }
}

static void invalid_utf8(const gg_tokenizer *t, const char *name) {
    /* \377 is 0xFF: a hex escape would take the b after it in */
    static const char *const cases[] = {
        "\x80",
        "\xBF",
        "\xC0\x80",
        "\xC1\xBF",
        "\xC2",
        "\xE2\x82",
        "\xE2\x28\xA1",
        "\xED\xA0\x80",
        "\xED\xBF\xBF",
        "\xF0\x9F\x98",
        "\xF4\x90\x80\x80",
        "\xF5\x80\x80\x80",
        "\xF8\x88\x80\x80\x80",
        "\xFC\x84\x80\x80\x80\x80",
        "\xFE",
        "\xFF",
        "\xEF\xBB\xBF",
        "\xEF\xBF\xBD",
        "\xEF\xBF\xBE",
        "a\377b",
        "hello \xC3 world",
        "\xE4\xB8",
        "\xE4\xB8\xAD\xE6",
        "\x00\x01\x02",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i]);
        if (i == sizeof cases / sizeof cases[0] - 1) len = 3; /* NUL bytes included */
        int32_t *ids = NULL;
        tokenize_checked(t, name, cases[i], len, false, &ids);
        free(ids);
    }
}

static void white_space(const gg_tokenizer *t, const char *name) {
    static const char *const spaces[] = {
        " ",
        "\t",
        "\n",
        "\v",
        "\f",
        "\r",
        "\r\n",
        "\xC2\x85",
        "\xC2\xA0",
        "\xE1\x9A\x80",
        "\xE2\x80\x80",
        "\xE2\x80\x8A",
        "\xE2\x80\x8B",
        "\xE2\x80\xA8",
        "\xE2\x80\xA9",
        "\xE2\x80\xAF",
        "\xE2\x81\x9F",
        "\xE3\x80\x80",
        "\xEF\xBB\xBF",
        "\xE1\xA0\x8E",
    };
    char buf[256];
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
        const char *forms[] = {"%s", "%s%s%s", "a%sb", "%sa", "a%s", "%s\xE4\xB8\xAD%s"};
        for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
            int n = snprintf(buf, sizeof buf, forms[k], spaces[i], spaces[i], spaces[i]);
            int32_t *ids = NULL;
            tokenize_checked(t, name, buf, (size_t)n, false, &ids);
            free(ids);
        }
    }
}

static void empty_text(const gg_tokenizer *t, const char *name) {
    const gg_tok_info *in = gg_tokenizer_info(t);
    gg_tok_options plain = {false, false}, special = {true, true};
    gg_err e = {{0}};
    int32_t ids[8] = {0};
    CHECKF(gg_tokenize(t, "", 0, &plain, ids, 8, &e) == 0, "%s: empty text gives tokens", name);
    CHECKF(gg_tokenize(t, NULL, 0, &plain, ids, 8, &e) == 0, "%s: NULL empty text", name);
    int64_t n = gg_tokenize(t, "", 0, &special, ids, 8, &e);
    if (in->kind == GG_TOK_WPM)
        CHECKF(n == 2 && ids[0] == in->bos && ids[1] == in->sep, "%s: empty text is [CLS] [SEP]", name);
    else
        CHECKF(n == (int64_t)in->add_bos + (int64_t)in->add_eos, "%s: empty text special count %lld",
               name, (long long)n);
}

/* A megabyte of text mixing scripts, code, white space and bad bytes. */
static void megabyte(const gg_tokenizer *t, const char *name) {
    static const char *const pieces[] = {
        "The quick brown fox ",
        "jumps over 1234567 lazy dogs. ",
        "int main(void) { return 0; }\n",
        "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97 ",
        "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D ",
        "caf\xC3\xA9 na\xC3\xAFve ",
        "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 ",
        "\t\t    \n\n",
        "\xFF\xFE\x80",
        "<s></s>[CLS]<|endoftext|>",
        "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 ",
        "'''```\"\"\"...!!!??? ",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    while (len < cap) {
        const char *p = pieces[next_random() % (sizeof pieces / sizeof pieces[0])];
        size_t n = GG_MIN(strlen(p), cap - len);
        memcpy(text + len, p, n);
        len += n;
    }
    int32_t *ids = NULL;
    int64_t n = tokenize_checked(t, name, text, len, true, &ids);
    CHECKF(n > 100000, "%s: a megabyte gave only %lld tokens", name, (long long)n);
    free(ids);
    free(text);
}

/* The count is returned even when it exceeds cap; nothing past cap is written. */
static void buffer_contract(const gg_tokenizer *t, const char *name) {
    const char *text = "one two three four five six seven eight nine ten";
    gg_tok_options opt = {true, false};
    gg_err e = {{0}};
    int32_t full[64], part[8];
    int64_t n = gg_tokenize(t, text, strlen(text), &opt, full, 64, &e);
    for (int i = 0; i < 8; i++) part[i] = -7;
    int64_t m = gg_tokenize(t, text, strlen(text), &opt, part, 3, &e);
    CHECKF(n > 3 && m == n, "%s: count with small buffer %lld vs %lld", name, (long long)m,
           (long long)n);
    CHECKF(memcmp(part, full, 3 * sizeof(int32_t)) == 0 && part[3] == -7, "%s: small buffer contents",
           name);
}

/* Id of a token text, by a linear scan of the vocabulary. */
static int32_t scan_id(const gg_tokenizer *t, const char *text) {
    int32_t found = -1;
    for (int32_t i = 0; i < gg_tokenizer_info(t)->n_vocab; i++) {
        gguf_str s = gg_token_text(t, i);
        if (s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0) found = i;
    }
    return found;
}

static void expect_ids(const gg_tokenizer *t, const char *text, size_t len, bool special,
                       const int32_t *want, int n_want) {
    gg_tok_options opt = {special, special};
    int32_t got[32];
    gg_err e = {{0}};
    int64_t n = gg_tokenize(t, text, len, &opt, got, 32, &e);
    bool ok = n == n_want;
    for (int i = 0; ok && i < n_want; i++) ok = got[i] == want[i] && want[i] >= 0;
    CHECKF(ok, "wordpiece \"%.*s\": %lld ids", (int)len, text, (long long)n);
}

/* WordPiece rules from BERT's basic tokenizer, ids by vocabulary scan. */
static void wordpiece_facts(const gg_tokenizer *t) {
    int32_t hello = scan_id(t, "\xE2\x96\x81hello"), world = scan_id(t, "\xE2\x96\x81world");
    int32_t bang = scan_id(t, "\xE2\x96\x81!"), cls = scan_id(t, "[CLS]"), sep = scan_id(t, "[SEP]");
    int32_t cafe = scan_id(t, "\xE2\x96\x81"
                              "cafe"),
            zhong = scan_id(t, "\xE2\x96\x81\xE4\xB8\xAD");
    int32_t unk = gg_tokenizer_info(t)->unk;
    expect_ids(t, "Hello world", 11, false, (int32_t[]){hello, world}, 2);
    expect_ids(t, "HELLO\t\xE3\x80\x80 world!", 16, false, (int32_t[]){hello, world, bang}, 3);
    /* invalid bytes and controls vanish; they do not split words */
    expect_ids(t, "hel\xFFlo", 6, false, (int32_t[]){hello}, 1);
    expect_ids(t, "hel\xE2\x80\x8Blo", 8, false, (int32_t[]){hello}, 1); /* zero width space, Cf */
    expect_ids(t, "Caf\xC3\xA9", 5, false, (int32_t[]){cafe}, 1);        /* accent stripped */
    expect_ids(t, "cafe\xCC\x81", 6, false, (int32_t[]){cafe}, 1);       /* combining mark dropped */
    expect_ids(t,
               "\xE4\xB8\xAD"
               "hello",
               8, false, (int32_t[]){zhong, hello}, 2); /* CJK stands alone */
    expect_ids(t, "[CLS] hello", 11, true, (int32_t[]){cls, cls, hello, sep}, 4);
    /* a word that cannot be spelled from the vocabulary is one [UNK] */
    expect_ids(t, "\xF0\x9F\x98\x80", 4, false, (int32_t[]){unk}, 1);
}

static void strmap_basics(void) {
    gg_strmap m;
    CHECK(gg_strmap_init(&m, 1000) == 0);
    static char keys[1000][8];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        gg_strmap_put(&m, keys[i], strlen(keys[i]), i);
    }
    int bad = 0;
    for (int i = 0; i < 1000; i++) bad += gg_strmap_get(&m, keys[i], strlen(keys[i])) != i;
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(m.count, 1000);
    gg_strmap_put(&m, "k5", 2, 77); /* an existing key keeps its first value */
    CHECK_EQ_INT(gg_strmap_get(&m, "k5", 2), 5);
    CHECK_EQ_INT(gg_strmap_get(&m, "k5x", 2), 5); /* length bounds the key */
    CHECK_EQ_INT(gg_strmap_get(&m, "k1000", 5), -1);
    CHECK_EQ_INT(gg_strmap_get(&m, "", 0), -1);
    gg_strmap_put(&m, "", 0, 9);
    CHECK_EQ_INT(gg_strmap_get(&m, "", 0), 9);
    CHECK(gg_strmap_bytes(&m) >= 2000 * sizeof(gg_strmap_slot));
    gg_strmap_free(&m);
    CHECK_EQ_INT(gg_strmap_get(&m, "k1", 2), -1);
}

static void run(const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    gguf_file *f = NULL;
    gg_tokenizer *t = NULL;
    gg_err e = {{0}};
    if (gguf_open(path, &f, &e) || gg_tokenizer_load(f, &t, &e)) {
        CHECKF(false, "%s: %s", file, e.msg);
        gguf_close(f);
        return;
    }
    empty_text(t, file);
    random_bytes(t, file);
    invalid_utf8(t, file);
    white_space(t, file);
    buffer_contract(t, file);
    megabyte(t, file);
    if (gg_tokenizer_info(t)->kind == GG_TOK_WPM) wordpiece_facts(t);
    CHECKF(gg_tokenizer_memory(t) > 0, "%s: memory", file);
    gg_tokenizer_free(t);
    gguf_close(f);
}

/* A unigram vocabulary whose character map is `map` (n bytes): tokenizing
 * "ab" gives want_rc (0: ids; -1: an error naming the map); a map whose
 * trie does not fit it is refused when the tokenizer loads. */
static void ugm_charsmap(const char *what, const uint8_t *map, size_t n, bool loads, int want_rc) {
    static const gguf_str toks[] = {{"<pad>", 5},
                                    {"</s>", 4},
                                    {"<unk>", 5},
                                    {"\xe2\x96\x81"
                                     "a",
                                     4},
                                    {"b", 1}};
    const float scores[] = {0, 0, 0, -1, -2};
    const int32_t types[] = {3, 3, 2, 1, 1};
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "t5");
    gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", true);
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_FLOAT32, scores, 5);
    gguf_set_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, types, 5);
    gguf_set_arr(w, "tokenizer.ggml.precompiled_charsmap", GGUF_UINT8, map, n);
    uint8_t *img = NULL;
    size_t img_n = 0;
    gg_err e = {{0}};
    gguf_file *f = NULL;
    gg_tokenizer *t = NULL;
    CHECKF(gguf_writer_to_memory(w, 3, NULL, 0, &img, &img_n, &e) == 0, "%s: %s", what, e.msg);
    if (img && gguf_open_memory(img, img_n, &f, &e) == 0) {
        int rc = gg_tokenizer_load(f, &t, &e);
        CHECKF((rc == 0) == loads, "%s: load %d: %s", what, rc, e.msg);
        if (!loads)
            CHECKF(strstr(e.msg, "precompiled_charsmap") != NULL, "%s: message '%s'", what, e.msg);
        if (t) {
            int32_t ids[8];
            e.msg[0] = 0;
            int64_t got = gg_tokenize(t, "ab", 2, NULL, ids, 8, &e);
            CHECKF(want_rc == 0 ? got == 2 && ids[0] == 3 && ids[1] == 4 : got == -1,
                   "%s: tokenize gave %lld (%s)", what, (long long)got, e.msg);
            if (want_rc)
                CHECKF(strstr(e.msg, "precompiled_charsmap") != NULL, "%s: message '%s'", what, e.msg);
        }
    }
    gg_tokenizer_free(t);
    gguf_close(f);
    free(img);
    gguf_writer_free(w);
}

/* Little-endian words into bytes. */
static size_t words(uint8_t *out, const uint32_t *w, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) out[i * 4 + (size_t)b] = (uint8_t)(w[i] >> (8 * b));
    return n * 4;
}

static void ugm_charsmaps(void) {
    static uint8_t m[2048];
    /* size 8 (two nodes), root whose BASE (1000 << 10 >> 10) leads outside */
    size_t n = words(m, (const uint32_t[]){8, 1000u << 10, 0}, 3);
    m[n++] = 'x', m[n++] = 0;
    ugm_charsmap("root BASE outside the trie", m, n, true, -1);
    /* a trie that claims more bytes than the map has */
    n = words(m, (const uint32_t[]){4096, 0}, 2);
    ugm_charsmap("trie larger than the map", m, n, false, 0);
    /* a trie of 256 nodes that match nothing: text passes through */
    static uint32_t none[257];
    none[0] = 256 * 4;
    n = words(m, none, 257);
    m[n++] = 0;
    ugm_charsmap("a trie that matches nothing", m, n, true, 0);
}

int main(void) {
    static const char *const files[] = {
        "ggml-vocab-bert-bge.gguf",       "ggml-vocab-llama-spm.gguf",      "ggml-vocab-gpt-2.gguf",
        "ggml-vocab-qwen2.gguf",          "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-starcoder.gguf",
        "ggml-vocab-nomic-bert-moe.gguf",
    };
    strmap_basics();
    ugm_charsmaps();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) run(check_fixtures_dir(), files[i]);
    return check_done("test_tokenizer_robust");
}
