/*
 * test_server_sched.c - the scheduler when a pass that holds requests of
 * several clients fails, against `ggembed serve --socket` as a child
 * process with a bert-tiny model and GGEMBED_TEST_DELAY_MS holding each
 * pass so that requests pile up and share one:
 *   - a text over the context with truncate=0 batched with innocent
 *     requests: it alone gets TOO_LONG, the others their vectors;
 *   - CANCEL of two batched requests while their pass is held: each is
 *     answered CANCELLED once;
 *   - deadlines expiring on two batched requests while their pass is
 *     held: each is answered TIMEOUT once.
 * Every request gets exactly one answer, vectors equal the library's in
 * this process, and the server then answers HEALTH and exits 0 when
 * stopped (under ASan/TSan a memory error or a race ends it early
 * instead). Over a Unix socket on POSIX, a named pipe on Windows, where
 * the C runtime's allocator does not hide a use-after-free as glibc's
 * may.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <process.h>
#define getpid _getpid
#else
#include <unistd.h>
#endif

#include "check.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "server_check.h"

enum { HOLD_MS = 400 }; /* GGEMBED_TEST_DELAY_MS: each pass waits this long first */

static ggembed_model *model;
static server_proc srv;
static char long_text[4096];
static const char *texts[] = {"hello world", "The quick brown fox.", "na\xc3\xafve caf\xc3\xa9",
                              long_text};
enum { NT = GG_ARRAY_LEN(texts), LONG = NT - 1 };
static ref_embedding refs[2][NT]; /* [truncate][text] */

enum { ANY = -1, FOUND = -2 };

typedef struct want {
    gg_client *c;
    uint32_t id;
    int code;  /* 0: EMBED_OK; ANY; FOUND: a CANCEL answered "found" */
    int text;  /* its one text, for EMBED_OK */
    int trunc; /* its truncate option */
    bool seen;
} want;

/* Reads answers on every client until each wanted one came; a second
 * answer to a request, or one to no request, is a failure. */
static void expect_answers(const char *what, want *w, int n) {
    gg_buf r = {0};
    for (int i = 0; i < n; i++) {
        if (w[i].seen) continue;
        gg_client *c = w[i].c;
        for (;;) {
            uint8_t type;
            uint32_t id;
            if (!gg_client_recv(c, &type, &id, &r)) {
                CHECKF(false, "%s: the connection ended before answer %d (server died?)", what, i);
                gg_buf_free(&r);
                return;
            }
            int k = -1;
            for (int j = 0; j < n; j++)
                if (w[j].c == c && w[j].id == id) k = j;
            CHECKF(k >= 0 && !w[k].seen, "%s: answer to id %u (%s)", what, id,
                   k < 0 ? "no such request" : "a second answer");
            if (k < 0 || w[k].seen) continue;
            w[k].seen = true;
            int code = answer_error_code(type, &r);
            if (w[k].code == 0) {
                const ref_embedding *ref = &refs[w[k].trunc][w[k].text];
                CHECKF(type == (GG_MSG_REPLY | GG_MSG_EMBED) &&
                           embed_ok_errors(r.data, r.len, &ref, 1) == 0,
                       "%s: request %d wants its vector, got type %u code %d", what, k, type, code);
            } else if (w[k].code == FOUND) {
                CHECKF(type == (GG_MSG_REPLY | GG_MSG_CANCEL) && r.len == 4 && r.data[0] == 1,
                       "%s: request %d is a CANCEL that found its target", what, k);
            } else if (w[k].code > 0) {
                CHECKF(code == w[k].code, "%s: request %d wants error %d, got type %u code %d", what, k,
                       w[k].code, type, code);
            }
            if (k == i) break;
        }
    }
    gg_buf_free(&r);
}

/* After all wanted answers: one more EMBED on each client goes through
 * the engine after the pass under test, so an answer that pass still owed
 * anyone would arrive before it. */
static void expect_quiet(const char *what, gg_client *const *cs, int n) {
    for (int i = 0; i < n; i++) {
        want w = {cs[i], send_embed(cs[i], &texts[0], 1, 0, true, NULL), 0, 0, 1, false};
        expect_answers(what, &w, 1);
    }
}

static uint32_t send_cancel(gg_client *c, uint32_t target) {
    uint8_t b[4] = {(uint8_t)target, (uint8_t)(target >> 8), (uint8_t)(target >> 16),
                    (uint8_t)(target >> 24)};
    return gg_client_send(c, GG_MSG_CANCEL, b, sizeof b);
}

/* The engine is kept busy with a request whose options (a prefix) differ,
 * so what is sent meanwhile waits and is taken into one pass together. */
static uint32_t occupy(gg_client *c) {
    uint32_t id = send_embed(c, &texts[1], 1, 0, true, "query: ");
    gg_sleep_ms(50); /* the engine has taken it and holds the pass */
    return id;
}

/* The server's count of passes that succeeded. */
static long long passes(gg_client *c) {
    gg_buf r = {0};
    long long n = -1;
    if (gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, NULL)) {
        gg_rd rd;
        gg_rd_init(&rd, r.data, r.len);
        for (uint32_t i = 0, count = gg_rd_u32(&rd); i < count && !rd.bad; i++) {
            gg_str k = gg_rd_str(&rd);
            uint64_t v = gg_rd_u64(&rd);
            if (k.len == 7 && !memcmp(k.p, "batches", 7)) n = (long long)v;
        }
    }
    gg_buf_free(&r);
    return n;
}

static void over_long_with_innocents(gg_client *a, gg_client *b) {
    long long before = passes(a);
    uint32_t busy = occupy(a);
    want w[] = {
        {a, busy, ANY, 0, 1, false},
        {b, send_embed(b, &texts[0], 1, 0, false, NULL), 0, 0, 0, false},
        {a, send_embed(a, &texts[LONG], 1, 0, false, NULL), GG_PE_TOO_LONG, LONG, 0, false},
        {b, send_embed(b, &texts[2], 1, 0, false, NULL), 0, 2, 0, false},
        {a, send_embed(a, &texts[1], 1, 0, false, NULL), 0, 1, 0, false},
    };
    expect_answers("over-long with innocents", w, GG_ARRAY_LEN(w));
    gg_client *cs[] = {a, b};
    expect_quiet("over-long with innocents", cs, 2);
    /* the occupier, the three innocents each alone after the shared pass
     * failed, and the two quiet checks: the four did share a pass */
    CHECK_EQ_INT(passes(a) - before, 6);
}

static void cancel_batched(gg_client *a, gg_client *b) {
    uint32_t busy = occupy(a);
    uint32_t ida = send_embed(a, &texts[0], 1, 0, true, NULL);
    uint32_t idb = send_embed(b, &texts[2], 1, 0, true, NULL);
    want first = {a, busy, ANY, 0, 1, false};
    expect_answers("cancel batched", &first, 1);
    /* the engine took ida and idb into one pass right after answering busy */
    gg_sleep_ms(50);
    uint32_t ca = send_cancel(a, ida), cb = send_cancel(b, idb);
    want w[] = {{a, ida, GG_PE_CANCELLED, 0, 1, false},
                {b, idb, GG_PE_CANCELLED, 2, 1, false},
                {a, ca, FOUND, 0, 0, false},
                {b, cb, FOUND, 0, 0, false}};
    expect_answers("cancel batched", w, GG_ARRAY_LEN(w));
    gg_client *cs[] = {a, b};
    expect_quiet("cancel batched", cs, 2);
}

static void deadlines_batched(gg_client *a, gg_client *b) {
    uint32_t busy = occupy(a);
    /* received ~50 ms after the pass began, taken into the next one at
     * ~HOLD_MS (not yet expired), expiring while that pass is held */
    uint32_t dl = HOLD_MS + 200;
    want w[] = {{a, busy, ANY, 0, 1, false},
                {a, send_embed(a, &texts[0], 1, dl, true, NULL), GG_PE_TIMEOUT, 0, 1, false},
                {b, send_embed(b, &texts[2], 1, dl, true, NULL), GG_PE_TIMEOUT, 2, 1, false}};
    expect_answers("deadlines batched", w, GG_ARRAY_LEN(w));
    gg_client *cs[] = {a, b};
    expect_quiet("deadlines batched", cs, 2);
}

int main(void) {
    /* Over the context (128 tokens) with one token per byte, so the
     * scheduler's guess of ~3 bytes a token lets it share a pass. */
    for (int i = 0; i < 90; i++) strcat(long_text, "!?");
    char path[600];
    snprintf(path, sizeof path, "%s/sched-tiny-%ld.gguf", check_tmp_dir(), (long)getpid());
    CHECKF(make_tiny_model(path), "mkmodel %s", path);
    ggembed_options o;
    ggembed_options_default(&o);
    o.n_threads = 1;
    char err[GGEMBED_ERR_LEN];
    CHECKF(ggembed_open(path, &o, &model, err, sizeof err) == GGEMBED_OK, "open %s: %s", path, err);
    for (int t = 0; model && t < 2; t++)
        for (int i = 0; i < NT; i++) CHECK(ref_embed(model, texts[i], t, NULL, &refs[t][i]));
    CHECK(model && refs[0][LONG].status == GGEMBED_E_TOO_LONG && refs[1][LONG].truncated);
    static const char *const args[] = {"--threads", "1", NULL};
    char hold[64];
    snprintf(hold, sizeof hold, "GGEMBED_TEST_DELAY_MS=%d", HOLD_MS);
    const char *env[] = {hold, NULL};
    bool up = model && server_proc_start(&srv, path, args, env);
    CHECKF(up, "the server did not start");
    if (up) {
        gg_client *a = gg_client_open(srv.address, srv.is_pipe, NULL);
        gg_client *b = gg_client_open(srv.address, srv.is_pipe, NULL);
        CHECK(a && b);
        if (a && b) {
            over_long_with_innocents(a, b);
            cancel_batched(a, b);
            deadlines_batched(a, b);
            gg_buf r = {0};
            gg_err e;
            CHECKF(gg_client_call(a, GG_MSG_HEALTH, NULL, 0, &r, NULL, &e), "HEALTH at the end");
            gg_buf_free(&r);
        }
        gg_client_close(a);
        gg_client_close(b);
        CHECK_EQ_INT(server_proc_stop(&srv), 0);
    }
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < NT; i++) free(refs[t][i].v);
    if (model) ggembed_close(model);
    remove(path);
    return check_done("test_server_sched");
}
