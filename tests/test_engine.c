/*
 * test_engine.c - the public API of include/ggembed.h on real model files,
 * through that API only.
 *
 * Models are written by the ggembed program (GGEMBED_BIN mkmodel) into
 * GGEMBED_TEST_TMP: a BERT (bert-tiny, f32, the bert-bge vocabulary
 * fixture), a BERT with the built-in vocabulary, and a Qwen2 decoder
 * (qwen2-tiny, f16, the qwen2 fixture: no BOS/EOS, so an embedding's
 * tokens are exactly the text's). Expected values come from the API
 * itself by independent routes (a text alone against the same text in a
 * batch, one thread against several, a prefix joined by hand, a causal
 * model's per-position states got as last-token vectors of the text's
 * prefixes), never from a stored output of the code under test.
 * Rotary scaling: models of the same weights whose scaling metadata must
 * give the same vectors (a factor with no type is linear, as llama.cpp
 * reads it; type none ignores the factor; YaRN with factor 1 is no
 * scaling) or different ones (linear, YaRN, none); the values themselves
 * are compared with llama.cpp by the differential tests.
 *
 * Tolerances: batch composition, thread count and concurrency must not
 * change a vector at all (bit-exact, memcmp): the engine computes each
 * output element in a fixed order whatever the batch and the threads.
 * Derived quantities use 1e-5 (dims: renormalized prefix; normalize:
 * raw / |raw|) and 2e-4 relative (the decoder's mean against the average
 * of its per-position states, which come from forward passes of other
 * lengths and so from other matrix tilings).
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* truncate */
#endif
#include "check.h"
#include "ggembed.h"
#include "gguf/gguf.h"
#include "models/model.h"
#include "models/ops.h"
#include "platform/platform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <unistd.h>
#endif

static char bert_path[2048], builtin_path[2048], qwen_path[2048], vocab_bert[2048];


static ggembed_text T(const char *s) { return (ggembed_text){s, strlen(s)}; }

/* Embeds n texts; returns a malloc'd n x dims array or NULL (and checks OK). */
static float *embed(ggembed_model *m, const ggembed_text *t, size_t n, const ggembed_embed_options *o,
                    ggembed_result *res) {
    int dims = o && o->dims ? o->dims : ggembed_get_info(m)->n_embd;
    float *out = malloc(sizeof(float) * (n ? n : 1) * (size_t)dims);
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = ggembed_embed(m, t, n, o, out, res, err, sizeof err);
    CHECKF(st == GGEMBED_OK, "embed %zu texts: %s: %s", n, ggembed_status_name(st), err);
    if (st != GGEMBED_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static float *embed1(ggembed_model *m, ggembed_text t, const ggembed_embed_options *o,
                     ggembed_result *res) {
    return embed(m, &t, 1, o, res);
}

static double norm(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static double max_abs_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static bool all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* Texts of mixed lengths and kinds. */
static const char *mixed[] = {
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Embeddings map texts to vectors; similar texts land near each other in the space, "
    "and that is what search, clustering and deduplication use. This one is longer than "
    "the others so that the batch mixes short and long sequences of tokens together.",
    "héllo wörld — ça va? 你好，世界 😀",
    "x",
    "   leading and trailing spaces   ",
};
#define N_MIXED (sizeof mixed / sizeof mixed[0])

/* ---- a text alone equals the text in a batch; threads; batch sizes ---- */

static void test_batch_and_threads(const char *path, const char *label) {
    ggembed_model *m1 = check_open_model(path, 1, 0);
    if (!m1) return;
    const int E = ggembed_get_info(m1)->n_embd;
    ggembed_text t[N_MIXED];
    for (size_t i = 0; i < N_MIXED; i++) t[i] = T(mixed[i]);
    ggembed_result res[N_MIXED];
    float *batch = embed(m1, t, N_MIXED, NULL, res);
    if (!batch) {
        ggembed_close(m1);
        return;
    }
    CHECK(all_finite(batch, N_MIXED * (size_t)E));
    for (size_t i = 0; i < N_MIXED; i++) {
        ggembed_result r1;
        float *alone = embed1(m1, t[i], NULL, &r1);
        if (!alone) continue;
        CHECKF(memcmp(alone, batch + i * E, sizeof(float) * E) == 0,
               "%s: text %zu alone differs from the same text in a batch (max |diff| %g)", label, i,
               max_abs_diff(alone, batch + i * E, E));
        CHECK_EQ_INT(r1.n_tokens, res[i].n_tokens);
        /* A text of no tokens (empty, and a model that adds no specials)
         * has the zero vector; the others unit vectors. */
        double want_norm = r1.n_tokens > 0 ? 1 : 0;
        CHECKF(fabs(norm(alone, E) - want_norm) < 1e-5, "%s: text %zu (%d tokens): norm %g", label, i,
               r1.n_tokens, norm(alone, E));
        free(alone);
    }
    /* Reversed order: the same vectors in the other rows. */
    ggembed_text rev[N_MIXED];
    for (size_t i = 0; i < N_MIXED; i++) rev[i] = t[N_MIXED - 1 - i];
    float *rb = embed(m1, rev, N_MIXED, NULL, NULL);
    if (rb)
        for (size_t i = 0; i < N_MIXED; i++)
            CHECKF(memcmp(rb + i * E, batch + (N_MIXED - 1 - i) * E, sizeof(float) * E) == 0,
                   "%s: text %zu in a reversed batch differs", label, N_MIXED - 1 - i);
    free(rb);
    /* More threads, and small forward passes (several per call). */
    const int threads[] = {2, 3}, batches[] = {0, 48};
    for (int ti = 0; ti < 2; ti++) {
        for (int bi = 0; bi < 2; bi++) {
            ggembed_model *mt = check_open_model(path, threads[ti], batches[bi]);
            if (!mt) continue;
            CHECK_EQ_INT(ggembed_get_info(mt)->n_threads, threads[ti]);
            ggembed_result rt[N_MIXED];
            float *v = embed(mt, t, N_MIXED, NULL, rt);
            /* A smaller batch is also a smaller context (a text is never
             * split across forward passes): texts longer than it are cut. */
            for (size_t i = 0; v && i < N_MIXED; i++) {
                if (res[i].n_tokens > ggembed_get_info(mt)->n_ctx) {
                    CHECK_EQ_INT(rt[i].truncated, 1);
                    CHECK_EQ_INT(rt[i].n_tokens, ggembed_get_info(mt)->n_ctx);
                    continue;
                }
                CHECK_EQ_INT(rt[i].n_tokens, res[i].n_tokens);
                CHECKF(memcmp(v + i * E, batch + i * E, sizeof(float) * E) == 0,
                       "%s: %d threads, batch %d: text %zu differs from 1 thread (max |diff| %g)", label,
                       threads[ti], batches[bi], i, max_abs_diff(v + i * E, batch + i * E, E));
            }
            free(v);
            ggembed_close(mt);
        }
    }
    free(batch);
    ggembed_close(m1);
}

/* ---- long texts: attention's packed forms from 1,024 tokens ----
 *
 * A text of 1,024 tokens or more takes attention in bfloat16, and one of
 * 4,096 or more with int8 scores, where the CPU has them
 * (gg_attn_form_for, src/models/ops.h), its keys and values packed in
 * place once per layer, decided by its own length: batched with a short
 * text (in the first long one's pass) and other long ones, with 1 or 2
 * threads, each vector is the one it has alone, bit for bit. Heads 64
 * wide (nomic-tiny at 256 wide), the width the packed forms take. Then
 * the same (2 threads, with the short text) at the AVX-VNNI level for the
 * 4,290-token text, which takes int8 scores and values on 256-bit
 * registers there (form I8V), and at the AVX2 level for the 1,110-token one (single
 * precision on 256-bit registers), where this CPU has them. */

/* Texts which[0 .. n) of all[] (see test_long_texts) in one batch and
 * each alone. */
static void long_texts_at(const char *path, const ggembed_text *all, const int *which, int n,
                          int threads) {
    ggembed_model *m = check_open_model(path, threads, 0);
    if (!m) return;
    const int E = ggembed_get_info(m)->n_embd;
    ggembed_text t[4];
    ggembed_result res[4];
    for (int k = 0; k < n; k++) t[k] = all[which[k]];
    float *batch = embed(m, t, n, NULL, res);
    for (int k = 0; batch && k < n; k++) {
        const int i = which[k];
        CHECKF((res[k].n_tokens >= 1024) == (i != 1), "text %d: %d tokens", i, res[k].n_tokens);
        CHECKF((res[k].n_tokens >= 4096) == (i == 3), "text %d: %d tokens", i, res[k].n_tokens);
        float *alone = embed1(m, t[k], NULL, NULL);
        if (!alone) continue;
        CHECKF(memcmp(alone, batch + (size_t)k * E, sizeof(float) * (size_t)E) == 0,
               "%s, %d threads: text %d (%d tokens) alone differs from the batch (max |diff| %g)",
               gg_simd_name(gg_kernels_level()), threads, i, res[k].n_tokens,
               max_abs_diff(alone, batch + (size_t)k * E, E));
        free(alone);
    }
    free(batch);
    ggembed_close(m);
}

static void test_long_texts(void) {
    char path[1024], args[1200];
    snprintf(path, sizeof path, "%s/engine-long.gguf", check_tmp_dir());
    snprintf(args, sizeof args, "--preset nomic-tiny --type f32 --seed 8 --embd 256 --ctx 4608");
    if (check_mkmodel(args, path)) return;
    static const char *words[] = {"alpha", "beta", "gamma", "delta", "river", "stone", "light", "owl"};
    char *text[4];
    const int n_words[4] = {400, 3, 300, 1200}; /* about 1,480, 12, 1,110 and 4,290 tokens */
    for (int i = 0; i < 4; i++) {
        text[i] = malloc((size_t)n_words[i] * 8 + 1);
        size_t at = 0;
        for (int w = 0; w < n_words[i]; w++)
            at += (size_t)sprintf(text[i] + at, "%s ", words[(w * 5 + w / 7 + i) % 8]);
    }
    ggembed_text t[4] = {T(text[0]), T(text[1]), T(text[2]), T(text[3])};
    const gg_simd best = gg_kernels_level();
    static const int every[4] = {0, 1, 2, 3};
    for (int threads = 1; threads <= 2; threads++) long_texts_at(path, t, every, 4, threads);
    /* below AVX-512, the texts whose form is new there (and the short one
     * in their batch), through one layer: fewer passes, which sanitized
     * builds feel */
    char path1[1024];
    snprintf(path1, sizeof path1, "%s/engine-long-1.gguf", check_tmp_dir());
    snprintf(args, sizeof args,
             "--preset nomic-tiny --type f32 --seed 8 --embd 256 --ctx 4608 --layers 1");
    const bool one = check_mkmodel(args, path1) == 0;
    static const struct {
        gg_simd level;
        gg_attn_form form; /* the 4,290-token text's */
        int which[2];
    } levels[] = {{GG_SIMD_AVXVNNI, GG_ATTN_I8V, {1, 3}}, {GG_SIMD_AVX2, GG_ATTN_F32, {1, 2}}};
    for (size_t l = 0; one && l < GG_ARRAY_LEN(levels); l++) {
        if (levels[l].level >= best || gg_kernels_select(levels[l].level) != levels[l].level) {
            printf("long texts at %s: not available here\n", gg_simd_name(levels[l].level));
            continue;
        }
        CHECKF(gg_attn_form_for(4290, 64) == levels[l].form && gg_attn_form_for(1480, 64) == GG_ATTN_F32,
               "%s: attention forms %d (4,290 keys) and %d (1,480)", gg_simd_name(levels[l].level),
               (int)gg_attn_form_for(4290, 64), (int)gg_attn_form_for(1480, 64));
        long_texts_at(path1, t, levels[l].which, 2, 2);
    }
    gg_kernels_select(best);
    for (int i = 0; i < 4; i++) free(text[i]);
    remove(path);
    remove(path1);
}

/* ---- concurrency: 4 threads calling ggembed_embed on one model ---- */

typedef struct worker {
    ggembed_model *m;
    int id, E, rounds;
    const float *want; /* N_MIXED x E, sequential results */
    int mismatches, failures;
} worker;

static void worker_main(void *arg) {
    worker *w = arg;
    for (int r = 0; r < w->rounds; r++) {
        /* Each worker embeds a different rotation of the texts. */
        ggembed_text t[N_MIXED];
        size_t which[N_MIXED];
        for (size_t i = 0; i < N_MIXED; i++) {
            which[i] = (i + (size_t)w->id + (size_t)r) % N_MIXED;
            t[i] = T(mixed[which[i]]);
        }
        float *out = malloc(sizeof(float) * N_MIXED * (size_t)w->E);
        char err[GGEMBED_ERR_LEN];
        if (ggembed_embed(w->m, t, N_MIXED, NULL, out, NULL, err, sizeof err) != GGEMBED_OK) {
            w->failures++;
        } else {
            for (size_t i = 0; i < N_MIXED; i++)
                if (memcmp(out + i * w->E, w->want + which[i] * w->E, sizeof(float) * w->E) != 0)
                    w->mismatches++;
        }
        free(out);
    }
}

static void test_concurrent(const char *path) {
    ggembed_model *m = check_open_model(path, 2, 0);
    if (!m) return;
    const int E = ggembed_get_info(m)->n_embd;
    ggembed_text t[N_MIXED];
    for (size_t i = 0; i < N_MIXED; i++) t[i] = T(mixed[i]);
    float *want = embed(m, t, N_MIXED, NULL, NULL);
    if (want) {
        worker w[4];
        gg_thread *th[4];
        for (int i = 0; i < 4; i++) {
            w[i] = (worker){.m = m, .id = i, .E = E, .rounds = 3, .want = want};
            gg_err e = {{0}};
            th[i] = gg_thread_start(worker_main, &w[i], &e);
            CHECKF(th[i] != NULL, "thread %d: %s", i, e.msg);
        }
        for (int i = 0; i < 4; i++) {
            if (!th[i]) continue;
            gg_thread_join(th[i]);
            CHECKF(w[i].failures == 0, "concurrent worker %d: %d calls failed", i, w[i].failures);
            CHECKF(w[i].mismatches == 0, "concurrent worker %d: %d vectors differ from sequential", i,
                   w[i].mismatches);
        }
    }
    free(want);
    ggembed_close(m);
}

/* ---- texts: empty, random bytes, invalid UTF-8, 1 MB, too long ---- */

static uint64_t rng_state = 0x1234567887654321ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void test_texts(ggembed_model *m) {
    const ggembed_info *in = ggembed_get_info(m);
    const int E = in->n_embd;
    ggembed_result r;

    /* Empty: valid, its vector is that of [CLS][SEP]. */
    float *v = embed1(m, (ggembed_text){NULL, 0}, NULL, &r);
    if (v) {
        CHECK_EQ_INT(r.n_tokens, 2);
        CHECK_EQ_INT(r.truncated, 0);
        CHECK(all_finite(v, (size_t)E));
        CHECKF(fabs(norm(v, E) - 1) < 1e-5, "empty text: norm %g", norm(v, E));
        float *v2 = embed1(m, T(""), NULL, NULL);
        if (v2) CHECK(memcmp(v, v2, sizeof(float) * E) == 0);
        free(v2);
    }
    free(v);

    /* Random bytes and invalid UTF-8: accepted, finite, deterministic.
     * (\200 is 0x80: a hex escape would take the "def" after it in.) */
    static const char *bad[] = {"\xff\xfe\xfd",
                                "abc\200def",
                                "\xc3",
                                "\xe2\x82",
                                "\xed\xa0\x80 surrogate",
                                "\xf4\x90\x80\x80 past U+10FFFF",
                                "\xc0\xaf overlong",
                                "nul\0inside"};
    size_t bad_len[] = {3, 7, 1, 2, 13, 19, 12, 10};
    char rb[4][200];
    ggembed_text tx[12];
    for (int i = 0; i < 8; i++) tx[i] = (ggembed_text){bad[i], bad_len[i]};
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 200; j++) rb[i][j] = (char)(rnd() & 0xff);
        tx[8 + i] = (ggembed_text){rb[i], 50 + 50 * (size_t)i};
    }
    ggembed_result rr[12];
    float *a = embed(m, tx, 12, NULL, rr);
    float *b = embed(m, tx, 12, NULL, NULL);
    if (a && b) {
        CHECK(all_finite(a, 12 * (size_t)E));
        CHECK(memcmp(a, b, sizeof(float) * 12 * E) == 0);
        for (int i = 0; i < 12; i++)
            CHECKF(rr[i].n_tokens >= 2, "bad text %d: %d tokens", i, rr[i].n_tokens);
    }
    free(a);
    free(b);

    /* 1 MB: cut to the context and flagged. */
    size_t big = 1 << 20;
    char *s = malloc(big);
    for (size_t i = 0; i < big; i++) s[i] = "lorem ipsum dolor sit amet, "[i % 28];
    ggembed_text two[2] = {{s, big}, T("short")};
    ggembed_result r2[2];
    float *w = embed(m, two, 2, NULL, r2);
    if (w) {
        CHECK_EQ_INT(r2[0].n_tokens, in->n_ctx);
        CHECK_EQ_INT(r2[0].truncated, 1);
        CHECK_EQ_INT(r2[1].truncated, 0);
        CHECK(all_finite(w, 2 * (size_t)E));
    }
    free(w);

    /* truncate = 0: E_TOO_LONG, naming the text (index 1 here). */
    ggembed_embed_options o;
    ggembed_embed_options_default(&o);
    o.truncate = 0;
    ggembed_text three[3] = {T("fine"), {s, 4000}, T("fine too")};
    float out[3 * 1024];
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = ggembed_embed(m, three, 3, &o, out, NULL, err, sizeof err);
    CHECKF(st == GGEMBED_E_TOO_LONG, "truncate=0: %s: %s", ggembed_status_name(st), err);
    CHECKF(strstr(err, "text 1") != NULL, "truncate=0: the message names the text: '%s'", err);
    CHECKF(strstr(err, "context") != NULL, "truncate=0: the message names the context: '%s'", err);
    /* A text exactly at the context passes with truncate = 0. */
    int32_t ids[4096];
    size_t nt = 0;
    size_t lo = 0, hi = 4000; /* longest prefix of s with n_ctx tokens (specials included) */
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        ggembed_tokenize(m, s, mid, 1, ids, 4096, &nt, NULL, 0);
        if ((int)nt <= in->n_ctx) lo = mid;
        else hi = mid - 1;
    }
    ggembed_tokenize(m, s, lo, 1, ids, 4096, &nt, NULL, 0);
    if ((int)nt == in->n_ctx) {
        ggembed_result re;
        st = ggembed_embed(m, &(ggembed_text){s, lo}, 1, &o, out, &re, err, sizeof err);
        CHECKF(st == GGEMBED_OK, "a text of exactly n_ctx tokens with truncate=0: %s", err);
        if (st == GGEMBED_OK) CHECK_EQ_INT(re.n_tokens, in->n_ctx);
        st = ggembed_embed(m, &(ggembed_text){s, lo + 7}, 1, &o, out, &re, err, sizeof err);
        CHECKF(st == GGEMBED_E_TOO_LONG, "n_ctx tokens and a few more with truncate=0: %s",
               ggembed_status_name(st));
    }
    free(s);

    /* Special-token text in the input is not parsed: "[CLS]" is plain text. */
    size_t n1 = 0, n2 = 0;
    int32_t i1[32], i2[32];
    CHECK(ggembed_tokenize(m, "[CLS]", 5, 0, i1, 32, &n1, NULL, 0) == GGEMBED_OK);
    CHECKF(n1 > 1, "\"[CLS]\" is %zu token(s): its text was parsed as the special token", n1);
    for (size_t i = 0; i < n1 && i < 32; i++)
        CHECKF(i1[i] != 101, "\"[CLS]\" gave id 101 (the [CLS] token)");
    CHECK(ggembed_tokenize(m, "[CLS] hi [SEP]", 14, 1, i2, 32, &n2, NULL, 0) == GGEMBED_OK);
    int n_cls = 0;
    for (size_t i = 0; i < n2 && i < 32; i++) n_cls += i2[i] == 101;
    CHECK_EQ_INT(n_cls, 1);
}

/* ---- dims, normalize, pooling, prefix ---- */

static void test_options(ggembed_model *m) {
    const int E = ggembed_get_info(m)->n_embd;
    ggembed_text t[3] = {T("dims, normalization and pooling"), T("a second text"), T("")};
    float *full = embed(m, t, 3, NULL, NULL);
    ggembed_embed_options o;

    /* dims: unit vectors, equal to the renormalized prefix of the full vector. */
    ggembed_embed_options_default(&o);
    o.dims = 16;
    float *d = embed(m, t, 3, &o, NULL);
    if (full && d) {
        for (int i = 0; i < 3; i++) {
            double n = norm(full + i * E, 16);
            CHECKF(fabs(norm(d + i * 16, 16) - 1) < 1e-5, "dims 16: norm %g", norm(d + i * 16, 16));
            double md = 0;
            for (int k = 0; k < 16; k++) md = fmax(md, fabs(d[i * 16 + k] - full[i * E + k] / n));
            CHECKF(md < 1e-5, "dims 16, text %d: differs from the renormalized prefix by %g", i, md);
        }
    }
    free(d);
    char err[GGEMBED_ERR_LEN];
    float tmp[4096];
    o.dims = E + 1;
    CHECK(ggembed_embed(m, t, 1, &o, tmp, NULL, err, sizeof err) == GGEMBED_E_INVALID);
    o.dims = -1;
    CHECK(ggembed_embed(m, t, 1, &o, tmp, NULL, err, sizeof err) == GGEMBED_E_INVALID);

    /* normalize off: the raw pooled vector; normalized it is the default output. */
    ggembed_embed_options_default(&o);
    o.normalize = 0;
    float *raw = embed(m, t, 3, &o, NULL);
    if (full && raw) {
        for (int i = 0; i < 3; i++) {
            double n = norm(raw + i * E, E);
            CHECKF(fabs(n - 1) > 1e-3, "normalize=0: text %d has norm %g (looks normalized)", i, n);
            double md = 0;
            for (int k = 0; k < E; k++) md = fmax(md, fabs(raw[i * E + k] / n - full[i * E + k]));
            CHECKF(md < 1e-5, "normalize=0, text %d: raw/|raw| differs from the default by %g", i, md);
        }
    }
    free(raw);

    /* Pooling: mean (the model's), cls and last each give other vectors. */
    float *pv[3] = {0};
    const int pools[3] = {GGEMBED_POOLING_MEAN, GGEMBED_POOLING_CLS, GGEMBED_POOLING_LAST};
    for (int p = 0; p < 3; p++) {
        ggembed_embed_options_default(&o);
        o.pooling = pools[p];
        pv[p] = embed(m, t, 1, &o, NULL);
    }
    if (pv[0] && pv[1] && pv[2] && full) {
        CHECK(memcmp(pv[0], full, sizeof(float) * E) == 0); /* mean is this model's default */
        CHECKF(max_abs_diff(pv[0], pv[1], E) > 1e-3, "mean and cls pooling agree");
        CHECKF(max_abs_diff(pv[0], pv[2], E) > 1e-3, "mean and last pooling agree");
        CHECKF(max_abs_diff(pv[1], pv[2], E) > 1e-3, "cls and last pooling agree");
    }
    for (int p = 0; p < 3; p++) free(pv[p]);
    ggembed_embed_options_default(&o);
    o.pooling = GGEMBED_POOLING_NONE;
    CHECK(ggembed_embed(m, t, 1, &o, tmp, NULL, err, sizeof err) == GGEMBED_E_INVALID);

    /* Prefix: equals embedding prefix + text joined, token counts included. */
    ggembed_embed_options_default(&o);
    o.prefix = "search_query: ";
    o.prefix_len = strlen(o.prefix);
    ggembed_result rp[3], rj[3];
    float *pre = embed(m, t, 3, &o, rp);
    char j0[128], j1[128];
    snprintf(j0, sizeof j0, "search_query: %s", t[0].text);
    snprintf(j1, sizeof j1, "search_query: %s", t[1].text);
    ggembed_text joined[3] = {T(j0), T(j1), T("search_query: ")};
    float *jv = embed(m, joined, 3, NULL, rj);
    if (pre && jv) {
        CHECK(memcmp(pre, jv, sizeof(float) * 3 * E) == 0);
        for (int i = 0; i < 3; i++) CHECK_EQ_INT(rp[i].n_tokens, rj[i].n_tokens);
        CHECKF(max_abs_diff(pre, full, E) > 1e-3, "the prefix changed nothing");
    }
    free(pre);
    free(jv);
    free(full);
}

/* The decoder's mean pooling is the average of its per-position states;
 * a causal model's state at position k is the last-token vector of the
 * text's first k+1 tokens. */
static void test_decoder_mean(void) {
    ggembed_model *m = check_open_model(qwen_path, 2, 0);
    if (!m) return;
    const ggembed_info *in = ggembed_get_info(m);
    CHECK_EQ_INT(in->causal, 1);
    CHECK_EQ_INT(in->pooling, GGEMBED_POOLING_LAST);
    const int E = in->n_embd;
    static const char *words[] = {"the",   " quick", " brown", " fox", " jumps",
                                  " over", " the",   " lazy",  " dog"};
    enum { NW = 9 };
    char prefixes[NW][80];
    ggembed_text pt[NW];
    size_t len = 0;
    char full[80] = "";
    for (int k = 0; k < NW; k++) {
        strcat(full, words[k]);
        len = strlen(full);
        memcpy(prefixes[k], full, len + 1);
        pt[k] = (ggembed_text){prefixes[k], len};
    }
    /* The precondition, checked: every word is one token and prefixes of
     * the text tokenize to prefixes of its ids (no BOS/EOS added). */
    int32_t all[64], part[64];
    size_t na = 0, np = 0;
    ggembed_tokenize(m, full, len, 1, all, 64, &na, NULL, 0);
    CHECK_EQ_INT(na, NW);
    bool ok = na == NW;
    for (int k = 0; k < NW && ok; k++) {
        ggembed_tokenize(m, prefixes[k], strlen(prefixes[k]), 1, part, 64, &np, NULL, 0);
        ok = np == (size_t)k + 1 && memcmp(part, all, sizeof(int32_t) * np) == 0;
    }
    CHECKF(ok, "qwen2 prefixes do not tokenize to prefixes: the mean test cannot run");
    if (ok) {
        ggembed_embed_options o;
        ggembed_embed_options_default(&o);
        o.normalize = 0;
        o.pooling = GGEMBED_POOLING_LAST;
        float *last = embed(m, pt, NW, &o, NULL); /* row k: state at position k */
        o.pooling = GGEMBED_POOLING_MEAN;
        float *mean = embed1(m, pt[NW - 1], &o, NULL);
        o.pooling = GGEMBED_POOLING_CLS;
        float *cls = embed1(m, pt[NW - 1], &o, NULL);
        if (last && mean && cls) {
            double worst = 0, scale = 0;
            for (int i = 0; i < E; i++) scale = fmax(scale, fabs(mean[i]));
            for (int i = 0; i < E; i++) {
                double avg = 0;
                for (int k = 0; k < NW; k++) avg += last[k * E + i];
                avg /= NW;
                worst = fmax(worst, fabs(avg - mean[i]));
            }
            CHECKF(worst <= 2e-4 * scale + 1e-6,
                   "decoder mean differs from the average of "
                   "its per-position states by %g (largest element %g)",
                   worst, scale);
            /* cls is position 0: the first prefix's last token. */
            CHECKF(max_abs_diff(cls, last, E) <= 2e-4 * scale + 1e-6,
                   "decoder cls differs from position 0 by %g", max_abs_diff(cls, last, E));
            /* the whole text's last token is its default pooling */
            CHECKF(max_abs_diff(last + (NW - 1) * E, mean, E) > 1e-3, "decoder last and mean agree");
        }
        free(last);
        free(mean);
        free(cls);
    }
    ggembed_close(m);
}

/* ---- rotary scaling metadata ---- */

enum { ROPE_N = 2 };
static const char *rope_texts[ROPE_N] = {
    "short",
    "A text of well over thirty-two tokens, so that its later positions lie past the "
    "original context that the scaled models below declare, where the kinds of rotary "
    "scaling part ways with each other and with no scaling at all.",
};

/* Vectors of rope_texts from a qwen2-tiny (the weights of qwen_path) with
 * the given rope options, or NULL. */
static float *rope_vectors(const char *opts, int *dims) {
    char path[2048], args[4096];
    snprintf(path, sizeof path, "%s/engine-rope.gguf", check_tmp_dir());
    snprintf(args, sizeof args,
             "--preset qwen2-tiny --type f16 --seed 5 --vocab \"%s/ggml-vocab-qwen2.gguf\" %s",
             check_fixtures_dir(), opts);
    float *v = NULL;
    ggembed_model *m = check_mkmodel(args, path) ? NULL : check_open_model(path, 2, 0);
    if (m) {
        ggembed_text t[ROPE_N] = {T(rope_texts[0]), T(rope_texts[1])};
        *dims = ggembed_get_info(m)->n_embd;
        v = embed(m, t, ROPE_N, NULL, NULL);
        ggembed_close(m);
    }
    remove(path);
    return v;
}

/* A copy of a YaRN model whose scaling type is renamed: refused, by name. */
static void rope_unknown_type(void) {
    char path[2048], args[4096];
    snprintf(path, sizeof path, "%s/engine-rope-bad.gguf", check_tmp_dir());
    snprintf(args, sizeof args,
             "--preset qwen2-tiny --type f16 --vocab \"%s/ggml-vocab-qwen2.gguf\" "
             "--rope-scaling yarn --rope-factor 4",
             check_fixtures_dir());
    size_t size = 0;
    uint8_t *data = check_mkmodel(args, path) ? NULL : check_read_file(path, &size);
    /* the key, then its value: type (u32), length (u64), "yarn" */
    static const char key[] = "qwen2.rope.scaling.type";
    uint8_t *at = NULL;
    for (size_t i = 0; data && !at && i + sizeof key + 16 <= size; i++)
        if (!memcmp(data + i, key, sizeof key - 1)) at = data + i + sizeof key - 1 + 12;
    CHECKF(at && !memcmp(at, "yarn", 4), "no YaRN type in the made model");
    if (at && !memcmp(at, "yarn", 4)) {
        memcpy(at, "yarx", 4);
        FILE *f = fopen(path, "wb");
        if (f) fwrite(data, 1, size, f), fclose(f);
        ggembed_model *m = NULL;
        char err[GGEMBED_ERR_LEN] = "";
        ggembed_status st = ggembed_open(path, NULL, &m, err, sizeof err);
        CHECKF(st == GGEMBED_E_UNSUPPORTED && !m, "unknown rope scaling: %s", ggembed_status_name(st));
        CHECKF(strstr(err, "rope scaling 'yarx' is not supported"), "the message names it: '%s'", err);
        if (m) ggembed_close(m);
    }
    free(data);
    remove(path);
}

/* A llama with Llama 3.1's rope_freqs tensor: its vectors differ from the
 * same weights without it; a non-positive divisor in it is refused with
 * the tensor's name. */
static void rope_freqs_tensor(void) {
    char path[2048], args[4096];
    snprintf(path, sizeof path, "%s/engine-rope-freqs.gguf", check_tmp_dir());
    const char *base =
        "--preset llama-tiny --type f16 --seed 5 --vocab \"%s/ggml-vocab-llama-spm.gguf\" %s";
    float *v[2] = {NULL, NULL};
    int E = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, base, check_fixtures_dir(),
                 k ? "--rope-freqs 8 --rope-orig-ctx 32" : "");
        ggembed_model *m = check_mkmodel(args, path) ? NULL : check_open_model(path, 2, 0);
        if (!m) continue;
        ggembed_text t[ROPE_N] = {T(rope_texts[0]), T(rope_texts[1])};
        E = ggembed_get_info(m)->n_embd;
        v[k] = embed(m, t, ROPE_N, NULL, NULL);
        ggembed_close(m);
    }
    CHECK(v[0] && v[1]);
    if (v[0] && v[1]) CHECKF(max_abs_diff(v[0] + E, v[1] + E, E) > 1e-4, "rope_freqs changed nothing");
    free(v[0]), free(v[1]);
    /* now the file with rope_freqs: its last divisor (8) becomes -8 */
    gguf_file *f = NULL;
    gg_err e = {{0}};
    uint64_t at = 0;
    if (!gguf_open(path, &f, &e)) {
        const gguf_tensor *t = gguf_find_tensor(f, "rope_freqs.weight");
        CHECKF(t && t->size >= 4, "no rope_freqs tensor in the made model");
        if (t) at = gguf_data_offset(f) + t->offset + t->size - 4;
        gguf_close(f);
    }
    size_t size = 0;
    uint8_t *data = at ? check_read_file(path, &size) : NULL;
    if (data && at + 4 <= size) {
        float x;
        memcpy(&x, data + at, 4);
        CHECKF(x == 8.0f, "last rope_freqs divisor %g, expected 8", x);
        x = -x;
        memcpy(data + at, &x, 4);
        FILE *fp = fopen(path, "wb");
        if (fp) fwrite(data, 1, size, fp), fclose(fp);
        ggembed_model *m = NULL;
        char err[GGEMBED_ERR_LEN] = "";
        ggembed_status st = ggembed_open(path, NULL, &m, err, sizeof err);
        CHECKF(st != GGEMBED_OK && !m, "a negative rope_freqs divisor: %s", ggembed_status_name(st));
        CHECKF(strstr(err, "rope_freqs.weight"), "the message names the tensor: '%s'", err);
        if (m) ggembed_close(m);
    }
    free(data);
    remove(path);
}

static void test_rope_scaling(void) {
    int E = 0;
    float *none = rope_vectors("", &E);
    float *none_f4 = rope_vectors("--rope-scaling none --rope-factor 4", &E);
    float *lin = rope_vectors("--rope-scaling linear --rope-factor 4", &E);
    float *lin_notype = rope_vectors("--rope-factor 4", &E);
    float *yarn = rope_vectors("--rope-scaling yarn --rope-factor 4 --rope-orig-ctx 32", &E);
    float *yarn_f1 = rope_vectors("--rope-scaling yarn --rope-factor 1 --rope-orig-ctx 32", &E);
    if (none && none_f4 && lin && lin_notype && yarn && yarn_f1) {
        size_t bytes = sizeof(float) * ROPE_N * (size_t)E;
        CHECKF(!memcmp(none, none_f4, bytes), "type none still scaled by its factor");
        CHECKF(!memcmp(lin, lin_notype, bytes), "a factor with no type is not linear scaling");
        /* YaRN at factor 1 mixes two equal angles: equal up to rounding */
        CHECKF(max_abs_diff(none, yarn_f1, ROPE_N * E) < 1e-5, "YaRN factor 1 differs from none by %g",
               max_abs_diff(none, yarn_f1, ROPE_N * E));
        const float *l = lin + E, *y = yarn + E, *n = none + E; /* the long text */
        CHECKF(max_abs_diff(n, l, E) > 1e-4, "linear scaling changed nothing");
        CHECKF(max_abs_diff(l, y, E) > 1e-4, "YaRN equals linear scaling");
        CHECKF(max_abs_diff(n, y, E) > 1e-4, "YaRN changed nothing");
    }
    free(none), free(none_f4), free(lin), free(lin_notype), free(yarn), free(yarn_f1);
    rope_unknown_type();
    rope_freqs_tensor();
}


/* ---- opening: memory ceiling, vocabulary-only, corrupt files, info ---- */

static void test_open_errors(void) {
    ggembed_model *m = check_open_model(bert_path, 2, 0);
    if (!m) return;
    const ggembed_info *in = ggembed_get_info(m);
    size_t need = in->working_memory;
    CHECKF(need > 0, "working_memory %zu", need);
    CHECK_EQ_INT(in->has_weights, 1);
    CHECK_EQ_INT(in->n_embd, 64);
    CHECK_EQ_INT(in->n_layer, 2);
    CHECK_EQ_INT(in->n_ctx, 128);
    CHECK_EQ_INT(in->causal, 0);
    CHECK_EQ_INT(in->pooling, GGEMBED_POOLING_MEAN);
    CHECK(strcmp(in->arch, "bert") == 0);
    CHECK(strcmp(in->tokenizer, "bert") == 0);
    CHECK(in->n_params > 0 && in->file_size > 0 && in->tokenizer_memory > 0);
    ggembed_close(m);

    ggembed_options o;
    ggembed_options_default(&o);
    o.n_threads = 2;
    char err[GGEMBED_ERR_LEN] = "";
    o.max_memory = need - 1;
    ggembed_status st = ggembed_open(bert_path, &o, &m, err, sizeof err);
    CHECKF(st == GGEMBED_E_MEMORY && m == NULL, "max_memory below the need: %s",
           ggembed_status_name(st));
    char mb[32];
    snprintf(mb, sizeof mb, "%.1f MB", need / 1048576.0);
    CHECKF(strstr(err, mb) != NULL, "the message says how much it would need (%s): '%s'", mb, err);
    o.max_memory = need;
    st = ggembed_open(bert_path, &o, &m, err, sizeof err);
    CHECKF(st == GGEMBED_OK, "max_memory equal to the need: %s", err);
    ggembed_close(m);
    m = NULL;

    /* A mistyped kernel level is refused, not run at full speed. */
    char saved[64] = "";
    const char *was = getenv("GGEMBED_SIMD");
    if (was) snprintf(saved, sizeof saved, "%s", was);
#ifdef _WIN32
    _putenv("GGEMBED_SIMD=avx3");
#else
    setenv("GGEMBED_SIMD", "avx3", 1);
#endif
    st = ggembed_open(bert_path, &o, &m, err, sizeof err);
    CHECKF(st == GGEMBED_E_INVALID && m == NULL && strstr(err, "GGEMBED_SIMD=avx3"),
           "GGEMBED_SIMD=avx3: %s: %s", ggembed_status_name(st), err);
    ggembed_close(m);
    m = NULL;
#ifdef _WIN32
    char restore[96];
    snprintf(restore, sizeof restore, "GGEMBED_SIMD=%s", saved);
    _putenv(restore);
#else
    if (was) setenv("GGEMBED_SIMD", saved, 1);
    else unsetenv("GGEMBED_SIMD");
#endif

    /* A vocabulary-only file: opens, tokenizes, cannot embed. */
    st = ggembed_open(vocab_bert, NULL, &m, err, sizeof err);
    CHECKF(st == GGEMBED_OK, "vocab-only open: %s", err);
    if (m) {
        CHECK_EQ_INT(ggembed_get_info(m)->has_weights, 0);
        int32_t ids[16];
        size_t n = 0;
        CHECK(ggembed_tokenize(m, "hello world", 11, 1, ids, 16, &n, err, sizeof err) == GGEMBED_OK);
        CHECK_EQ_INT(n, 4);
        if (n == 4) CHECK(ids[0] == 101 && ids[1] == 7592 && ids[2] == 2088 && ids[3] == 102);
        float out[8];
        err[0] = 0;
        st = ggembed_embed(m, &(ggembed_text){"hello", 5}, 1, NULL, out, NULL, err, sizeof err);
        CHECKF(st == GGEMBED_E_NO_WEIGHTS, "embed on a vocab-only file: %s", ggembed_status_name(st));
        CHECKF(strstr(err, "vocabulary-only") != NULL, "the message says why: '%s'", err);
        ggembed_close(m);
        m = NULL;
    }

    /* Truncated and corrupt copies of the model; a missing file. */
    size_t size = 0;
    uint8_t *data = check_read_file(bert_path, &size);
    CHECK(data != NULL && size > 1000);
    if (data) {
        char bad[2048];
        snprintf(bad, sizeof bad, "%s/engine-broken.gguf", check_tmp_dir());
        const size_t cuts[] = {size / 2, size - 1, 24, 0};
        for (int i = 0; i < 5; i++) {
            FILE *f = fopen(bad, "wb");
            if (!f) {
                CHECKF(0, "cannot write %s", bad);
                break;
            }
            if (i < 4) {
                fwrite(data, 1, cuts[i], f);
            } else { /* a tensor count far too large */
                uint8_t *c = malloc(size);
                memcpy(c, data, size);
                c[15] = 0x7f;
                fwrite(c, 1, size, f);
                free(c);
            }
            fclose(f);
            err[0] = 0;
            st = ggembed_open(bad, NULL, &m, err, sizeof err);
            CHECKF(st != GGEMBED_OK && m == NULL, "broken file %d opened", i);
            CHECKF(st == GGEMBED_E_FORMAT, "broken file %d: %s", i, ggembed_status_name(st));
            CHECKF(strlen(err) > 10 && strstr(err, "engine-broken.gguf"), "broken file %d: message '%s'",
                   i, err);
            if (m) ggembed_close(m);
            m = NULL;
        }
        remove(bad);
        free(data);
    }
    char missing[2048];
    snprintf(missing, sizeof missing, "%s/engine-no-such-file.gguf", check_tmp_dir());
    st = ggembed_open(missing, NULL, &m, err, sizeof err);
    CHECKF(st == GGEMBED_E_IO && m == NULL, "missing file: %s", ggembed_status_name(st));
}

/* A copy of `src` with general.architecture `arch` (NULL: kept) and one
 * extra f32 tensor `extra` [ne0, ne1] of zeros (NULL: none). */
static int copy_model(const char *src, const char *dst, const char *arch, const char *extra, int64_t ne0,
                      int64_t ne1) {
    gguf_file *f = NULL;
    gg_err e = {{0}};
    if (gguf_open(src, &f, &e)) return -1;
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_kv_count(f); i++)
        if (!arch || !gguf_str_eq(gguf_kv_at(f, i)->key, "general.architecture"))
            gguf_set_kv_from(w, gguf_kv_at(f, i));
    if (arch) gguf_set_str(w, "general.architecture", arch);
    char name[128];
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        gguf_add_tensor(w, name, (gg_type)t->type, t->n_dims, t->ne);
    }
    const int64_t ne[2] = {ne0, ne1};
    if (extra) gguf_add_tensor(w, extra, GG_TYPE_F32, 2, ne);
    float *zeros = calloc((size_t)(ne0 * ne1), sizeof(float));
    int rc = zeros ? gguf_writer_begin(w, dst, 3, &e) : -1;
    for (uint64_t i = 0; i < gguf_tensor_count(f) && !rc; i++)
        rc = gguf_write_data(w, gguf_tensor_at(f, i)->data, gguf_tensor_at(f, i)->size, &e);
    if (!rc && extra) rc = gguf_write_data(w, zeros, sizeof(float) * (size_t)(ne0 * ne1), &e);
    if (!rc) rc = gguf_writer_finish(w, &e);
    free(zeros);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

/* A tensor that another architecture has but this one does not (a gate
 * in a GELU BERT, which would mean a gated FFN) is refused by name
 * rather than ignored. */
static void test_foreign_tensor(void) {
    char path[2048], err[GGEMBED_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/engine-foreign.gguf", check_tmp_dir());
    CHECK(copy_model(bert_path, path, NULL, "blk.0.ffn_gate.weight", 64, 128) == 0);
    ggembed_model *m = NULL;
    ggembed_status st = ggembed_open(path, NULL, &m, err, sizeof err);
    CHECKF(st == GGEMBED_E_FORMAT && !m, "bert with ffn_gate: %s", ggembed_status_name(st));
    CHECKF(strstr(err, "blk.0.ffn_gate.weight") && strstr(err, "not part of a bert model"),
           "the message names the tensor and the architecture: '%s'", err);
    if (m) ggembed_close(m);
    /* gemma-embedding's projection after pooling, which a bert row lacks */
    CHECK(copy_model(bert_path, path, NULL, "dense_2.weight", 64, 256) == 0);
    st = ggembed_open(path, NULL, &m, err, sizeof err);
    CHECKF(st == GGEMBED_E_FORMAT && !m, "bert with dense_2: %s", ggembed_status_name(st));
    CHECKF(strstr(err, "dense_2.weight") && strstr(err, "not part of a bert model"), "message: '%s'",
           err);
    if (m) ggembed_close(m);
    remove(path);
}

/* EmbeddingGemma's projection after pooling: the same weights with it give
 * other vectors of the same width, normalized, and Matryoshka dims cut the
 * projected vector; its tensors without the widths' keys are refused, as
 * llama.cpp refuses them. (tests/diff checks the values against llama.cpp.) */
static void test_dense_projection(void) {
    char path[2048], args[4096], err[GGEMBED_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/engine-dense.gguf", check_tmp_dir());
    const char *base =
        "--preset gemma-emb-tiny --type f32 --seed 5 --vocab \"%s/ggml-vocab-llama-spm.gguf\" %s";
    float *v[2] = {NULL, NULL}, *cut = NULL;
    int E[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, base, check_fixtures_dir(), k ? "--dense 96" : "");
        ggembed_model *m = check_mkmodel(args, path) ? NULL : check_open_model(path, 2, 0);
        if (!m) continue;
        ggembed_text t[ROPE_N] = {T(rope_texts[0]), T(rope_texts[1])};
        E[k] = ggembed_get_info(m)->n_embd;
        v[k] = embed(m, t, ROPE_N, NULL, NULL);
        if (k) {
            ggembed_embed_options o;
            ggembed_embed_options_default(&o);
            o.dims = 16;
            cut = embed(m, t, ROPE_N, &o, NULL);
        }
        ggembed_close(m);
    }
    CHECK(v[0] && v[1] && cut && E[0] == 64 && E[1] == 64);
    if (v[0] && v[1]) CHECKF(max_abs_diff(v[0], v[1], 64) > 1e-3, "the projection changed nothing");
    if (v[1] && cut) {
        double n = 0, dot = 0;
        for (int i = 0; i < 16; i++) n += (double)v[1][i] * v[1][i], dot += (double)v[1][i] * cut[i];
        CHECKF(fabs(dot / sqrt(n) - 1.0) < 1e-4,
               "dims 16 is not the projected vector's head, renormalized");
    }
    free(v[0]), free(v[1]), free(cut);
    /* the projection's tensors in a file without its keys */
    char bare[2048];
    snprintf(bare, sizeof bare, "%s/engine-dense-bare.gguf", check_tmp_dir());
    snprintf(args, sizeof args, base, check_fixtures_dir(), "");
    if (!check_mkmodel(args, bare)) {
        CHECK(copy_model(bare, path, NULL, "dense_2.weight", 64, 96) == 0);
        ggembed_model *m = NULL;
        ggembed_status st = ggembed_open(path, NULL, &m, err, sizeof err);
        CHECKF(st == GGEMBED_E_FORMAT && !m, "dense_2 without its keys: %s", ggembed_status_name(st));
        CHECKF(strstr(err, "dense_2_feat_out"), "the message names the missing key: '%s'", err);
        if (m) ggembed_close(m);
    }
    remove(bare);
    remove(path);
}

/* A ModernBERT derivative's <arch>.hidden_activation: silu runs SwiGLU
 * (other vectors than the same weights' GeGLU), a name llama.cpp does not
 * map is refused by name rather than run as GeGLU. (tests/diff checks the
 * values against llama.cpp.) */
static void test_hidden_activation(void) {
    char path[2048], args[4096], err[GGEMBED_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/engine-act.gguf", check_tmp_dir());
    const char *base =
        "--preset modernbert-tiny --type f32 --seed 5 --vocab \"%s/ggml-vocab-gpt-2.gguf\" %s";
    float *v[2] = {NULL, NULL};
    const char *acts[2] = {"--hidden-act gelu", "--hidden-act silu"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, base, check_fixtures_dir(), acts[k]);
        ggembed_model *m = check_mkmodel(args, path) ? NULL : check_open_model(path, 2, 0);
        if (!m) continue;
        ggembed_text t[ROPE_N] = {T(rope_texts[0]), T(rope_texts[1])};
        v[k] = embed(m, t, ROPE_N, NULL, NULL);
        ggembed_close(m);
    }
    CHECK(v[0] && v[1]);
    if (v[0] && v[1]) CHECKF(max_abs_diff(v[0], v[1], 64) > 1e-3, "silu ran as gelu");
    free(v[0]), free(v[1]);
    snprintf(args, sizeof args, base, check_fixtures_dir(), "--hidden-act relu");
    if (!check_mkmodel(args, path)) {
        ggembed_model *m = NULL;
        ggembed_status st = ggembed_open(path, NULL, &m, err, sizeof err);
        CHECKF(st == GGEMBED_E_UNSUPPORTED && !m, "hidden_activation relu: %s", ggembed_status_name(st));
        CHECKF(strstr(err, "modern-bert.hidden_activation") && strstr(err, "relu"), "message: '%s'",
               err);
        if (m) ggembed_close(m);
    }
    remove(path);
}

/* Statuses come from the kind of error set where it happened, not from
 * the message: an unknown architecture whose name says "memory" is
 * UNSUPPORTED, not MEMORY. */
static void test_error_kinds(void) {
    char path[2048], err[GGEMBED_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/engine-kinds.gguf", check_tmp_dir());
    CHECK(copy_model(bert_path, path, "memory-bert", NULL, 0, 0) == 0);
    ggembed_model *m = NULL;
    ggembed_status st = ggembed_open(path, NULL, &m, err, sizeof err);
    CHECKF(st == GGEMBED_E_UNSUPPORTED && !m, "architecture 'memory-bert': %s (%s)",
           ggembed_status_name(st), err);
    CHECKF(strstr(err, "'memory-bert' is not supported") && strstr(err, "bert, nomic-bert"),
           "the message names it and the supported ones: '%s'", err);
    if (m) ggembed_close(m);
    remove(path);
}

/* ---- tokenize with specials = lead + plain + trail, every fixture ---- */

static void test_tokenize_specials(void) {
    static const char *names[] = {"bert-bge",       "llama-spm", "gpt-2",
                                  "deepseek-coder", "starcoder", "qwen2"};
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[2048], inp[2100];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", check_fixtures_dir(), names[f]);
        snprintf(inp, sizeof inp, "%s.inp", path);
        ggembed_options o;
        ggembed_options_default(&o);
        o.vocab_only = 1;
        ggembed_model *m = NULL;
        char err[GGEMBED_ERR_LEN];
        if (ggembed_open(path, &o, &m, err, sizeof err) != GGEMBED_OK) {
            CHECKF(0, "%s: %s", names[f], err);
            continue;
        }
        size_t size = 0;
        char *text = (char *)check_read_file(inp, &size);
        CHECKF(text != NULL, "cannot read %s", inp);
        /* What the specials are: the empty text's ids. */
        int32_t sp[8];
        size_t nsp = 0;
        ggembed_tokenize(m, "", 0, 1, sp, 8, &nsp, NULL, 0);
        CHECKF(nsp <= 2, "%s: %zu specials", names[f], nsp);
        int lead = -1, texts = 0, bad = 0;
        const char *sep = "\n__ggml_vocab_test__\n";
        for (char *p = text; p && *p;) {
            char *q = strstr(p, sep);
            if (!q) break;
            size_t len = (size_t)(q - p);
            enum { CAP = 4096 };
            static int32_t plain[CAP], with[CAP + 8];
            size_t np = 0, nw = 0;
            ggembed_tokenize(m, p, len, 0, plain, CAP, &np, NULL, 0);
            ggembed_tokenize(m, p, len, 1, with, CAP + 8, &nw, NULL, 0);
            texts++;
            if (np > CAP || nw != np + nsp) {
                bad++;
            } else if (np > 0) {
                /* with == sp[0..L) + plain + sp[L..) for one L, the same for all texts */
                int found = -1;
                for (int L = 0; L <= (int)nsp && found < 0; L++) {
                    if (memcmp(with, sp, sizeof(int32_t) * (size_t)L) == 0 &&
                        memcmp(with + L, plain, sizeof(int32_t) * np) == 0 &&
                        memcmp(with + L + np, sp + L, sizeof(int32_t) * (nsp - (size_t)L)) == 0)
                        found = L;
                }
                if (found < 0 || (lead >= 0 && found != lead && nsp > 0)) bad++;
                else if (nsp > 0 && np > 0 && lead < 0) lead = found;
            }
            p = q + strlen(sep);
        }
        CHECKF(texts > 10, "%s: %d fixture texts", names[f], texts);
        CHECKF(bad == 0, "%s: %d of %d texts are not lead + plain + trail", names[f], bad, texts);
        /* the expected specials, as llama.cpp adds them for an embedding */
        if (!strcmp(names[f], "bert-bge")) CHECK(nsp == 2 && sp[0] == 101 && sp[1] == 102 && lead == 1);
        if (!strcmp(names[f], "llama-spm")) CHECK(nsp == 1 && sp[0] == 1 && lead == 1);
        if (!strcmp(names[f], "qwen2") || !strcmp(names[f], "gpt-2")) CHECK_EQ_INT(nsp, 0);
        free(text);
        ggembed_close(m);
    }
}

/* ---- cancel ---- */

static int cancel_calls;
static int cancel_yes(void *u) {
    (void)u;
    cancel_calls++;
    return 1;
}
static int cancel_no(void *u) {
    (void)u;
    cancel_calls++;
    return 0;
}

static void test_cancel(ggembed_model *m) {
    ggembed_embed_options o;
    ggembed_embed_options_default(&o);
    o.cancel = cancel_yes;
    float out[2 * 1024];
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_text t[2] = {T("cancel me"), T("and me")};
    cancel_calls = 0;
    ggembed_status st = ggembed_embed(m, t, 2, &o, out, NULL, err, sizeof err);
    CHECKF(st == GGEMBED_E_CANCELLED, "cancel returning 1: %s (%s)", ggembed_status_name(st), err);
    CHECK(cancel_calls >= 1);
    o.cancel = cancel_no;
    cancel_calls = 0;
    st = ggembed_embed(m, t, 2, &o, out, NULL, err, sizeof err);
    CHECKF(st == GGEMBED_OK, "cancel returning 0: %s", err);
    CHECK(cancel_calls >= 1);
    float *want = embed(m, t, 2, NULL, NULL);
    if (want && st == GGEMBED_OK) CHECK(memcmp(want, out, sizeof(float) * 2 * 64) == 0);
    free(want);
}

/* ---- the model file changing under an open model ---- */

static char other_path[2048], changing_path[2048];
static uint8_t *other_bytes;
static size_t other_size;

/* A fresh copy of bert_path at changing_path. */
static bool fresh_copy(void) {
    size_t n;
    uint8_t *b = check_read_file(bert_path, &n);
    FILE *f = b ? fopen(changing_path, "wb") : NULL;
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    free(b);
    CHECKF(ok, "cannot copy %s to %s", bert_path, changing_path);
    return ok;
}

/* What `cp other.gguf model.gguf` does: the same file, new bytes. */
static bool overwrite_in_place(void) {
    gg_sleep_ms(30); /* file times tick in steps of a few ms */
    FILE *f = fopen(changing_path, "r+b");
    bool ok = f && fwrite(other_bytes, 1, other_size, f) == other_size;
    if (f) ok = fclose(f) == 0 && ok;
    return ok;
}

static ggembed_status embed_status(ggembed_model *m, const ggembed_embed_options *o, float *out,
                                   char *err, size_t n) {
    ggembed_text t = T("hello world");
    return ggembed_embed(m, &t, 1, o, out, NULL, err, n);
}

/* The call fails with MODEL_CHANGED, naming the file; so do later ones,
 * and tokenizing. */
static void expect_changed(ggembed_model *m, const char *what) {
    float v[1024];
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = embed_status(m, NULL, v, err, sizeof err);
    CHECKF(st == GGEMBED_E_MODEL_CHANGED, "%s: embed gave %s (%s)", what, ggembed_status_name(st), err);
    CHECKF(strstr(err, changing_path) && strstr(err, "changed"), "%s: message: %s", what, err);
    CHECK(embed_status(m, NULL, v, NULL, 0) == GGEMBED_E_MODEL_CHANGED);
    int32_t ids[64];
    size_t n;
    st = ggembed_tokenize(m, "hello", 5, 1, ids, 64, &n, err, sizeof err);
    CHECKF(st == GGEMBED_E_MODEL_CHANGED, "%s: tokenize gave %s", what, ggembed_status_name(st));
    CHECK(!strcmp(ggembed_status_name(GGEMBED_E_MODEL_CHANGED), "model_changed"));
}

#ifndef _WIN32 /* only the POSIX-only case below uses it */
static int rewrite_calls;
/* Polled between layers: rewrites the file once, in the middle of the pass. */
static int rewrite_mid_pass(void *u) {
    (void)u;
    if (rewrite_calls++ == 1) CHECK(overwrite_in_place());
    return 0;
}
#endif

static void test_model_changed(void) {
    snprintf(other_path, sizeof other_path, "%s/engine-bert-other.gguf", check_tmp_dir());
    snprintf(changing_path, sizeof changing_path, "%s/engine-bert-changing.gguf", check_tmp_dir());
    char args[4096];
    snprintf(args, sizeof args, "--preset bert-tiny --type f32 --seed 6 --vocab \"%s\"", vocab_bert);
    size_t bert_size = 0;
    free(check_read_file(bert_path, &bert_size));
    if (check_mkmodel(args, other_path) || !(other_bytes = check_read_file(other_path, &other_size)))
        return;
    CHECK_EQ_INT(other_size, bert_size); /* same shapes: only the bytes differ */
    float want[1024], v[1024];
    char err[GGEMBED_ERR_LEN];

    /* Rewritten in place between calls. */
    ggembed_model *m = fresh_copy() ? check_open_model(changing_path, 1, 0) : NULL;
    if (!m) return;
    CHECK(embed_status(m, NULL, want, err, sizeof err) == GGEMBED_OK);
    CHECK(overwrite_in_place()); /* Windows allows this too */
    expect_changed(m, "rewritten in place");
    ggembed_close(m);

#ifndef _WIN32
    /* Rewritten during a pass: the vectors of mixed weights are not given out. */
    m = fresh_copy() ? check_open_model(changing_path, 1, 0) : NULL;
    if (m) {
        ggembed_embed_options o;
        ggembed_embed_options_default(&o);
        o.cancel = rewrite_mid_pass;
        rewrite_calls = 0;
        ggembed_status st = embed_status(m, &o, v, err, sizeof err);
        CHECKF(rewrite_calls >= 2 && st == GGEMBED_E_MODEL_CHANGED,
               "rewritten mid-pass: %s after %d polls", ggembed_status_name(st), rewrite_calls);
        ggembed_close(m);
    }
    /* Truncated: found before anything reads the file (no SIGBUS). */
    m = fresh_copy() ? check_open_model(changing_path, 1, 0) : NULL;
    if (m) {
        CHECK(truncate(changing_path, 1000) == 0);
        expect_changed(m, "truncated");
        ggembed_close(m);
    }
#endif

    /* Replaced by a rename (Windows may refuse it while the file is mapped). */
    char renamed[2100];
    snprintf(renamed, sizeof renamed, "%s.new", changing_path);
    m = fresh_copy() ? check_open_model(changing_path, 1, 0) : NULL;
    FILE *f = fopen(renamed, "wb");
    bool written = f && fwrite(other_bytes, 1, other_size, f) == other_size;
    if (f) written = fclose(f) == 0 && written;
    if (m && written) {
#ifdef _WIN32
        bool replaced = MoveFileExA(renamed, changing_path, MOVEFILE_REPLACE_EXISTING) != 0;
#else
        bool replaced = rename(renamed, changing_path) == 0;
#endif
        if (replaced) {
            expect_changed(m, "replaced by a rename");
        } else {
            printf("test_engine: renaming over a mapped model is refused here\n");
            CHECK(embed_status(m, NULL, v, err, sizeof err) == GGEMBED_OK &&
                  !memcmp(v, want, sizeof(float) * 32));
        }
    }
    if (m) ggembed_close(m);
    remove(renamed);

    /* Removed (the mapping keeps the old bytes readable, but the name is
     * gone). Windows (wine at least) may keep the name until the mapping
     * goes: then the file is still the same one and must still work. */
    m = fresh_copy() ? check_open_model(changing_path, 1, 0) : NULL;
    if (m) {
        gg_file_identity id;
        if (remove(changing_path) != 0) {
            printf("test_engine: removing a mapped model is refused here\n");
        } else if (gg_file_identity_get(changing_path, &id, NULL) == 0) {
            printf("test_engine: a removed mapped model keeps its name until it is unmapped here\n");
            CHECK(embed_status(m, NULL, v, err, sizeof err) == GGEMBED_OK &&
                  !memcmp(v, want, sizeof(float) * 32));
        } else {
            expect_changed(m, "removed");
        }
        ggembed_close(m);
    }
    remove(changing_path);
    remove(other_path);
    free(other_bytes);
}

/* The chunk a pass uses: never over the planned chunk (its buffers are
 * that big), as few passes as the planned chunk allows, and those passes
 * even (the last one not a short remainder). */
static void test_chunk_split(void) {
    const int chunks[] = {1, 7, 64, 113, 256};
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++)
        for (int n = 1; n <= 1500; n++) {
            const int chunk = chunks[k], c = gg_work_chunk_for(n, chunk);
            const int passes = (n + c - 1) / c, fewest = (n + chunk - 1) / chunk;
            const int last = n - (passes - 1) * c;
            CHECKF(c >= 1 && c <= chunk && passes == fewest && last > c - passes,
                   "chunk %d, %d tokens: passes of %d (%d passes, last %d; fewest %d)", chunk, n, c,
                   passes, last, fewest);
        }
}

int main(void) {
    test_chunk_split();
    const char *tmp = check_tmp_dir(), *fix = check_fixtures_dir();
    snprintf(vocab_bert, sizeof vocab_bert, "%s/ggml-vocab-bert-bge.gguf", fix);
    snprintf(bert_path, sizeof bert_path, "%s/engine-bert-tiny.gguf", tmp);
    snprintf(builtin_path, sizeof builtin_path, "%s/engine-bert-builtin.gguf", tmp);
    snprintf(qwen_path, sizeof qwen_path, "%s/engine-qwen2-tiny.gguf", tmp);
    char args[4096];
    snprintf(args, sizeof args, "--preset bert-tiny --type f32 --seed 3 --vocab \"%s\"", vocab_bert);
    int rc = check_mkmodel(args, bert_path);
    rc |= check_mkmodel("--preset bert-tiny --type q8_0 --seed 4", builtin_path);
    snprintf(args, sizeof args,
             "--preset qwen2-tiny --type f16 --seed 5 --vocab \"%s/ggml-vocab-qwen2.gguf\"", fix);
    rc |= check_mkmodel(args, qwen_path);
    if (rc == 0) {
        test_batch_and_threads(bert_path, "bert f32");
        test_batch_and_threads(builtin_path, "bert q8_0 built-in vocab");
        test_batch_and_threads(qwen_path, "qwen2 f16");
        test_concurrent(bert_path);
        test_long_texts();
        ggembed_model *m = check_open_model(bert_path, 2, 0);
        if (m) {
            test_texts(m);
            test_options(m);
            test_cancel(m);
            ggembed_close(m);
        }
        test_decoder_mean();
        test_rope_scaling();
        test_open_errors();
        test_model_changed();
        test_foreign_tensor();
        test_dense_projection();
        test_hidden_activation();
        test_error_kinds();
    }
    test_tokenize_specials();
    remove(bert_path);
    remove(builtin_path);
    remove(qwen_path);
    return check_done("test_engine");
}
