/*
 * test_rerank.c - ggembed_rerank through the public API, on rerankers
 * written by the ggembed program (GGEMBED_BIN mkmodel) into
 * GGEMBED_TEST_TMP: bge-reranker-tiny with the bert-bge (WordPiece) and
 * the XLM-R (unigram) vocabulary fixtures, qwen3-reranker-tiny with the
 * qwen2 one (and so with the Qwen3-Reranker template), and bert-tiny, an
 * embedding model, to be refused.
 *
 * Expected values come from the API by independent routes: a pair alone
 * against the same pair among others, in batches of another size, with
 * the pairs in another order; a pair's token count against the
 * tokenizer's counts of its texts plus the specials llama-server puts
 * around them; a cut pair against the same pair with a document that is
 * already as short as the cut. The scores themselves are compared with
 * llama.cpp by tests/diff/rerank.test.mjs.
 *
 * Tolerance: none. A pair's score must not depend on the pairs batched
 * with it nor on the batch size (bit-exact, as embeddings).
 */
#include "check.h"
#include "ggembed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char bert_path[2048], xlmr_path[2048], qwen_path[2048], embed_path[2048];


static ggembed_text T(const char *s) { return (ggembed_text){s, strlen(s)}; }

static const char *query = "what do pandas eat?";
static const char *docs[] = {
    "Giant pandas eat bamboo almost exclusively.",
    "",
    "Paris is the capital of France.",
    "héllo wörld — ça va? 你好，世界 😀",
    "x",
    ("The quick brown fox jumps over the lazy dog, and then it runs far away into the forest "
     "where nobody can find it again for a very long time."),
};
#define N_DOCS (sizeof docs / sizeof docs[0])

static ggembed_status rerank(ggembed_model *m, const ggembed_pair *p, size_t n,
                             const ggembed_rerank_options *o, float *scores, ggembed_result *r,
                             char *err) {
    return ggembed_rerank(m, p, n, o, scores, r, err, GGEMBED_ERR_LEN);
}

/* All documents at once (in input order), alone, reversed and in batches
 * of `batch` tokens (several batches, each pair still whole): the same
 * scores, bit for bit. */
static void test_order_and_batches(const char *path, int batch, const char *label) {
    ggembed_model *m = check_open_model(path, 2, 0), *small = check_open_model(path, 2, batch);
    if (!m || !small) {
        ggembed_close(m);
        ggembed_close(small);
        return;
    }
    CHECKF(ggembed_get_info(m)->pooling == GGEMBED_POOLING_RANK, "%s: info pooling %d", label,
           ggembed_get_info(m)->pooling);
    CHECK(!strcmp(ggembed_pooling_name(GGEMBED_POOLING_RANK), "rank"));
    CHECK(ggembed_pooling_parse("rank") == GGEMBED_POOLING_RANK);
    ggembed_pair p[N_DOCS], rev[N_DOCS];
    for (size_t i = 0; i < N_DOCS; i++) {
        p[i] = (ggembed_pair){T(query), T(docs[i])};
        rev[N_DOCS - 1 - i] = p[i];
    }
    float all[N_DOCS], back[N_DOCS], batched[N_DOCS];
    ggembed_result r[N_DOCS];
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = rerank(m, p, N_DOCS, NULL, all, r, err);
    CHECKF(st == GGEMBED_OK, "%s: rerank: %s", label, err);
    CHECKF(rerank(m, rev, N_DOCS, NULL, back, NULL, err) == GGEMBED_OK, "%s: reversed: %s", label, err);
    CHECKF(rerank(small, p, N_DOCS, NULL, batched, NULL, err) == GGEMBED_OK, "%s: batch %d: %s", label,
           batch, err);
    bool differ = false;
    for (size_t i = 0; i < N_DOCS; i++) {
        float alone;
        CHECKF(rerank(m, &p[i], 1, NULL, &alone, NULL, err) == GGEMBED_OK, "%s: alone: %s", label, err);
        CHECKF(!memcmp(&alone, &all[i], sizeof alone), "%s: pair %zu alone %.9g, among others %.9g",
               label, i, alone, all[i]);
        CHECKF(!memcmp(&back[N_DOCS - 1 - i], &all[i], sizeof alone), "%s: pair %zu reversed", label, i);
        CHECKF(!memcmp(&batched[i], &all[i], sizeof alone), "%s: pair %zu in batches of %d tokens",
               label, i, batch);
        CHECKF(!r[i].truncated && r[i].n_tokens > 0, "%s: pair %zu result", label, i);
        differ |= all[i] != all[0];
    }
    CHECKF(differ, "%s: every document got the same score", label);
    CHECK(rerank(m, NULL, 0, NULL, NULL, NULL, err) == GGEMBED_OK);
    ggembed_close(m);
    ggembed_close(small);
}

static size_t ntok(ggembed_model *m, const char *s) {
    int32_t ids[512];
    size_t n = 0;
    CHECK(ggembed_tokenize(m, s, strlen(s), 0, ids, 512, &n, NULL, 0) == GGEMBED_OK);
    return n;
}

/* A pair's tokens: the texts' own plus the specials llama-server puts
 * around them (BERT: [CLS] q [SEP] d). */
static void test_pair_tokens(const char *path, int specials, const char *label) {
    ggembed_model *m = check_open_model(path, 2, 0);
    if (!m) return;
    for (size_t i = 0; i < N_DOCS; i++) {
        ggembed_pair p = {T(query), T(docs[i])};
        float s;
        ggembed_result r;
        char err[GGEMBED_ERR_LEN] = "";
        CHECKF(rerank(m, &p, 1, NULL, &s, &r, err) == GGEMBED_OK, "%s: %s", label, err);
        size_t want = ntok(m, query) + ntok(m, docs[i]) + (size_t)specials;
        CHECKF(r.n_tokens == (int)want, "%s: pair %zu has %d tokens, want %zu", label, i, r.n_tokens,
               want);
    }
    ggembed_close(m);
}

/* A document over the context: cut at its end (truncate 1) to the same
 * score as the document already that short, refused with E_TOO_LONG
 * (truncate 0). "the" is one token of the bert-bge vocabulary. */
static void test_truncate(const char *path, int specials) {
    ggembed_model *m = check_open_model(path, 2, 0);
    if (!m) return;
    const int n_ctx = ggembed_get_info(m)->n_ctx;
    char *long_doc = malloc(4 * 4000 + 1), *cut_doc = malloc(4 * 4000 + 1);
    long_doc[0] = cut_doc[0] = '\0';
    for (int i = 0; i < 4000; i++) strcat(long_doc, i ? " the" : "the");
    const int keep = n_ctx - specials - (int)ntok(m, query);
    for (int i = 0; i < keep; i++) strcat(cut_doc, i ? " the" : "the");
    ggembed_pair p[2] = {{T(query), T(long_doc)}, {T(query), T(cut_doc)}};
    float s[2];
    ggembed_result r[2];
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_rerank_options o;
    ggembed_rerank_options_default(&o);
    CHECK(o.truncate == 1 && o.cancel == NULL);
    CHECKF(rerank(m, p, 2, &o, s, r, err) == GGEMBED_OK, "truncate 1: %s", err);
    CHECKF(r[0].truncated && r[0].n_tokens == n_ctx, "cut pair: truncated %d, %d tokens (context %d)",
           r[0].truncated, r[0].n_tokens, n_ctx);
    CHECKF(!r[1].truncated && r[1].n_tokens == n_ctx, "short pair: %d tokens", r[1].n_tokens);
    CHECKF(!memcmp(&s[0], &s[1], sizeof s[0]), "cut pair %.9g, pair already that short %.9g", s[0],
           s[1]);
    o.truncate = 0;
    ggembed_status st = rerank(m, p, 2, &o, s, r, err);
    CHECKF(st == GGEMBED_E_TOO_LONG && strstr(err, "pair 0"), "truncate 0: %s: %s",
           ggembed_status_name(st), err);
    CHECKF(rerank(m, &p[1], 1, &o, s, r, err) == GGEMBED_OK, "truncate 0, fits: %s", err);
    free(long_doc);
    free(cut_doc);
    ggembed_close(m);
}

/* With a template the pair is cut by the document's bytes: it fits, and
 * truncate 0 refuses it. */
static void test_truncate_template(const char *path) {
    ggembed_model *m = check_open_model(path, 2, 0);
    if (!m) return;
    const int n_ctx = ggembed_get_info(m)->n_ctx;
    char *long_doc = malloc(4 * 4000 + 1);
    long_doc[0] = '\0';
    for (int i = 0; i < 4000; i++) strcat(long_doc, "the ");
    ggembed_pair p = {T(query), T(long_doc)};
    float s;
    ggembed_result r;
    char err[GGEMBED_ERR_LEN] = "";
    CHECKF(rerank(m, &p, 1, NULL, &s, &r, err) == GGEMBED_OK, "template, truncate 1: %s", err);
    CHECKF(r.truncated && r.n_tokens <= n_ctx && r.n_tokens >= n_ctx - 2,
           "template cut: %d tokens of %d", r.n_tokens, n_ctx);
    ggembed_rerank_options o;
    ggembed_rerank_options_default(&o);
    o.truncate = 0;
    CHECK(rerank(m, &p, 1, &o, &s, &r, err) == GGEMBED_E_TOO_LONG);
    free(long_doc);
    ggembed_close(m);
}

static int cancel_calls;
static int cancel_yes(void *u) {
    (void)u;
    cancel_calls++;
    return 1;
}

static void test_refusals(const char *rerank_path, const char *embed_model) {
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_pair p = {T(query), T(docs[0])};
    float s;
    ggembed_model *m = check_open_model(embed_model, 2, 0);
    if (m) { /* an embedding model is not a reranker */
        ggembed_status st = rerank(m, &p, 1, NULL, &s, NULL, err);
        CHECKF(st == GGEMBED_E_INVALID && strstr(err, "not a reranker"), "embedding model: %s: %s",
               ggembed_status_name(st), err);
        CHECK(ggembed_get_info(m)->pooling != GGEMBED_POOLING_RANK);
        ggembed_close(m);
    }
    m = check_open_model(rerank_path, 2, 0);
    if (!m) return;
    ggembed_rerank_options o;
    ggembed_rerank_options_default(&o);
    o.cancel = cancel_yes;
    cancel_calls = 0;
    ggembed_status st = rerank(m, &p, 1, &o, &s, NULL, err);
    CHECKF(st == GGEMBED_E_CANCELLED && cancel_calls >= 1, "cancel: %s", ggembed_status_name(st));
    CHECK(rerank(m, &p, 1, NULL, NULL, NULL, err) == GGEMBED_E_INVALID); /* no output */
    /* embed on a reranker: refused with the model's pooling, fine with one given */
    ggembed_embed_options eo;
    ggembed_embed_options_default(&eo);
    float *v = malloc(sizeof(float) * (size_t)ggembed_get_info(m)->n_embd);
    ggembed_text t = T("hello");
    st = ggembed_embed(m, &t, 1, &eo, v, NULL, err, sizeof err);
    CHECKF(st == GGEMBED_E_INVALID && strstr(err, "reranker"), "embed on a reranker: %s: %s",
           ggembed_status_name(st), err);
    eo.pooling = GGEMBED_POOLING_CLS;
    CHECKF(ggembed_embed(m, &t, 1, &eo, v, NULL, err, sizeof err) == GGEMBED_OK,
           "embed, pooling cls: %s", err);
    free(v);
    ggembed_close(m);
}

int main(void) {
    const char *tmp = check_tmp_dir(), *fix = check_fixtures_dir();
    snprintf(bert_path, sizeof bert_path, "%s/rerank-bert.gguf", tmp);
    snprintf(xlmr_path, sizeof xlmr_path, "%s/rerank-xlmr.gguf", tmp);
    snprintf(qwen_path, sizeof qwen_path, "%s/rerank-qwen3.gguf", tmp);
    snprintf(embed_path, sizeof embed_path, "%s/rerank-embedder.gguf", tmp);
    char args[4096];
    snprintf(args, sizeof args,
             "--preset bge-reranker-tiny --type f32 --seed 3 --vocab \"%s/ggml-vocab-bert-bge.gguf\"",
             fix);
    int rc = check_mkmodel(args, bert_path);
    snprintf(
        args, sizeof args,
        "--preset bge-reranker-tiny --type q8_0 --seed 4 --vocab \"%s/ggml-vocab-nomic-bert-moe.gguf\"",
        fix);
    rc |= check_mkmodel(args, xlmr_path);
    snprintf(args, sizeof args,
             "--preset qwen3-reranker-tiny --type f16 --seed 5 --vocab \"%s/ggml-vocab-qwen2.gguf\"",
             fix);
    rc |= check_mkmodel(args, qwen_path);
    snprintf(args, sizeof args,
             "--preset bert-tiny --type f32 --seed 6 --vocab \"%s/ggml-vocab-bert-bge.gguf\"", fix);
    rc |= check_mkmodel(args, embed_path);
    if (rc == 0) {
        test_order_and_batches(bert_path, 64, "bert");
        test_order_and_batches(xlmr_path, 64, "xlm-r");
        test_order_and_batches(qwen_path, 128, "qwen3");
        /* the XLM-R fixture has no tokenizer.ggml.add_sep_token, so as
         * llama.cpp reads it, no SEP: <s> q </s> d </s> (a file that says
         * true gets <s> q </s></s> d </s>) */
        test_pair_tokens(bert_path, 2, "bert");
        test_pair_tokens(xlmr_path, 3, "xlm-r");
        test_truncate(bert_path, 2);
        test_truncate_template(qwen_path);
        test_refusals(bert_path, embed_path);
    }
    remove(bert_path);
    remove(xlmr_path);
    remove(qwen_path);
    remove(embed_path);
    return check_done("test_rerank");
}
