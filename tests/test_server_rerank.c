/*
 * test_server_rerank.c - RERANK against `ggembed serve` as a child process
 * with a tiny BERT reranker (bge-reranker-tiny), GGEMBED_TEST_DELAY_MS
 * holding each pass so that requests pile up and share one:
 *   - RERANK requests of two clients batched with each other, with an
 *     EMBED (explicit pooling) waiting beside them: every score, token
 *     count and truncation flag equals ggembed_rerank's on that pair
 *     alone in this process, the EMBED gets its vector, and STATS counts
 *     the RERANK requests and pairs;
 *   - EMBED with the default pooling on the reranker: INVALID;
 *   - CANCEL of a waiting RERANK, a RERANK whose deadline passes while it
 *     waits, and one past --max-queue: CANCELLED, TIMEOUT, BUSY;
 *   - a RERANK to a server of an embedding model: INVALID saying it is
 *     not a reranker.
 * Every request gets exactly one answer, and the servers exit 0 when
 * stopped.
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

enum { HOLD_MS = 300 };

static ggembed_model *model;
static char long_doc[1024];
static const char *query = "what is a giant panda";
static const char *docs[] = {"The giant panda is a bear species endemic to China.",
                             "Paris is the capital of France.", "", "na\xc3\xafve caf\xc3\xa9",
                             long_doc};
enum { ND = GG_ARRAY_LEN(docs) };
static float ref_score[ND];
static ggembed_result ref_res[ND];

static uint32_t send_rerank(gg_client *c, const char *q, const char *const *d, uint32_t n,
                            uint32_t deadline_ms) {
    gg_str store[ND];
    if (n > ND) return 0;
    for (uint32_t i = 0; i < n; i++) store[i] = (gg_str){d[i], (uint32_t)strlen(d[i])};
    gg_rerank_req r = {deadline_ms, 1, {q, (uint32_t)strlen(q)}, n, store};
    gg_buf b = {0};
    gg_encode_rerank(&b, &r);
    uint32_t id = b.oom ? 0 : gg_client_send(c, GG_MSG_RERANK, b.data, b.len);
    gg_buf_free(&b);
    return id;
}

static uint32_t send_embed_mean(gg_client *c, const char *text) {
    gg_str t = {text, (uint32_t)strlen(text)};
    gg_embed_req q = {0, GGEMBED_POOLING_MEAN, -1, 1, 0, 0, {"", 0}, 1, &t};
    gg_buf b = {0};
    gg_encode_embed(&b, &q);
    uint32_t id = b.oom ? 0 : gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
    gg_buf_free(&b);
    return id;
}

/* Failures of a RERANK_OK body for docs[first .. first + n) against the
 * library's scores of each pair alone. */
static int rerank_ok_errors(const gg_buf *r, int first, uint32_t n) {
    gg_rerank_ok ok;
    if (gg_decode_rerank_ok(r->data, r->len, &ok, NULL) || ok.n != n) return 1;
    int bad = 0;
    gg_rd info, sc;
    gg_rd_init(&info, ok.info, 8 * (size_t)n);
    gg_rd_init(&sc, ok.scores, 4 * (size_t)n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t tokens = gg_rd_u32(&info), flags = gg_rd_u32(&info);
        float s = gg_rd_f32(&sc), want = ref_score[first + (int)i];
        const ggembed_result *res = &ref_res[first + (int)i];
        if ((int)tokens != res->n_tokens || (int)(flags & 1) != res->truncated || s - want > 1e-5f ||
            want - s > 1e-5f) {
            fprintf(stderr, "  pair %d: tokens %u flags %u score %g; want %d %d %g\n", first + (int)i,
                    tokens, flags, (double)s, res->n_tokens, res->truncated, (double)want);
            bad++;
        }
    }
    return bad;
}

/* Reads one answer on c; it must be to id. */
static uint8_t answer(gg_client *c, uint32_t want_id, gg_buf *r, const char *what) {
    uint8_t type = 0;
    uint32_t id = 0;
    bool got = gg_client_recv(c, &type, &id, r);
    CHECKF(got && id == want_id, "%s: answer to %u, got %s id %u", what, want_id, got ? "one" : "none",
           id);
    return got ? type : 0;
}

static uint64_t stat_of(gg_client *c, const char *name) {
    gg_buf r = {0};
    uint64_t v = (uint64_t)-1;
    if (gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, NULL)) {
        gg_rd rd;
        gg_rd_init(&rd, r.data, r.len);
        for (uint32_t i = 0, count = gg_rd_u32(&rd); i < count && !rd.bad; i++) {
            gg_str k = gg_rd_str(&rd);
            uint64_t x = gg_rd_u64(&rd);
            if (k.len == strlen(name) && !memcmp(k.p, name, k.len)) v = x;
        }
    }
    gg_buf_free(&r);
    return v;
}

/* The engine is held by an EMBED, so that what comes next waits and is
 * taken together. */
static uint32_t occupy(gg_client *c) {
    uint32_t id = send_embed_mean(c, "occupy the engine");
    gg_sleep_ms(50);
    return id;
}

static void scores_batched(gg_client *a, gg_client *b) {
    gg_buf r = {0};
    uint64_t batches = stat_of(a, "batches");
    uint32_t busy = occupy(a);
    /* ra, rb and none share a pass; the EMBED beside them and the long
     * document (over the pass's token budget with them) each run later */
    uint32_t ra = send_rerank(a, query, docs, 2, 0);
    uint32_t rb = send_rerank(b, query, docs + 2, 2, 0);
    uint32_t em = send_embed_mean(b, "hello");
    uint32_t none = send_rerank(a, query, docs, 0, 0);
    uint32_t rl = send_rerank(a, query, docs + 4, 1, 0);
    CHECK_EQ_INT(answer(a, busy, &r, "occupier"), GG_MSG_REPLY | GG_MSG_EMBED);
    CHECK_EQ_INT(answer(a, ra, &r, "rerank a"), GG_MSG_REPLY | GG_MSG_RERANK);
    CHECKF(rerank_ok_errors(&r, 0, 2) == 0, "client a's scores are the library's");
    CHECK_EQ_INT(answer(a, none, &r, "rerank of no documents"), GG_MSG_REPLY | GG_MSG_RERANK);
    CHECKF(rerank_ok_errors(&r, 0, 0) == 0, "zero documents: an empty RERANK_OK");
    CHECK_EQ_INT(answer(b, rb, &r, "rerank b"), GG_MSG_REPLY | GG_MSG_RERANK);
    CHECKF(rerank_ok_errors(&r, 2, 2) == 0, "client b's scores are the library's");
    CHECK_EQ_INT(answer(b, em, &r, "embed beside them"), GG_MSG_REPLY | GG_MSG_EMBED);
    gg_embed_ok eo;
    CHECK(gg_decode_embed_ok(r.data, r.len, &eo, NULL) == 0 && eo.n == 1 && eo.dims == 64);
    CHECK_EQ_INT(answer(a, rl, &r, "rerank of the long document"), GG_MSG_REPLY | GG_MSG_RERANK);
    CHECKF(rerank_ok_errors(&r, 4, 1) == 0, "the long document is cut as the library cuts it");
    /* the occupier, the shared RERANK pass, the EMBED, the long one */
    CHECK_EQ_INT(stat_of(a, "batches") - batches, 4);
    CHECK_EQ_INT(stat_of(a, "rerank_requests"), 4);
    CHECK_EQ_INT(stat_of(a, "pairs"), ND);
    CHECK_EQ_INT(stat_of(a, "embed_requests"), 2);
    /* the default pooling of a reranker is its scoring head: not for EMBED */
    uint32_t id = send_embed(a, &docs[0], 1, 0, true, NULL);
    CHECK_EQ_INT(answer(a, id, &r, "embed, default pooling"), GG_MSG_ERROR);
    CHECK_EQ_INT(answer_error_code(GG_MSG_ERROR, &r), GG_PE_INVALID);
    gg_buf_free(&r);
}

static void cancel_deadline_busy(gg_client *a, gg_client *b) {
    gg_buf r = {0};
    uint32_t busy = occupy(a);
    uint32_t rc = send_rerank(a, query, docs, 2, 0);
    uint32_t rd = send_rerank(b, query, docs, 2, 50); /* passes while it waits behind the occupier */
    uint8_t body[4] = {(uint8_t)rc, (uint8_t)(rc >> 8), (uint8_t)(rc >> 16), (uint8_t)(rc >> 24)};
    uint32_t cancel = gg_client_send(a, GG_MSG_CANCEL, body, sizeof body);
    CHECK_EQ_INT(answer(a, rc, &r, "cancelled rerank"), GG_MSG_ERROR);
    CHECK_EQ_INT(answer_error_code(GG_MSG_ERROR, &r), GG_PE_CANCELLED);
    CHECK_EQ_INT(answer(a, cancel, &r, "cancel"), GG_MSG_REPLY | GG_MSG_CANCEL);
    CHECK(r.len == 4 && r.data[0] == 1);
    CHECK_EQ_INT(answer(b, rd, &r, "rerank past its deadline"), GG_MSG_ERROR);
    CHECK_EQ_INT(answer_error_code(GG_MSG_ERROR, &r), GG_PE_TIMEOUT);
    CHECK_EQ_INT(answer(a, busy, &r, "occupier"), GG_MSG_REPLY | GG_MSG_EMBED);
    gg_buf_free(&r);
}

/* --max-queue 1: a RERANK while another request holds the one place. */
static void busy_queue(const char *path) {
    static const char *const args[] = {"--threads", "1", "--max-queue", "1", NULL};
    char hold[64];
    snprintf(hold, sizeof hold, "GGEMBED_TEST_DELAY_MS=%d", HOLD_MS);
    const char *env[] = {hold, NULL};
    server_proc p;
    bool up = server_proc_start(&p, path, args, env);
    CHECKF(up, "the --max-queue 1 server did not start");
    if (!up) return;
    gg_client *c = gg_client_open(p.address, p.is_pipe, NULL);
    CHECK(c);
    if (c) {
        gg_buf r = {0};
        uint32_t first = send_rerank(c, query, docs, 1, 0);
        gg_sleep_ms(50);
        uint32_t second = send_rerank(c, query, docs, 1, 0);
        CHECK_EQ_INT(answer(c, second, &r, "over the queue"), GG_MSG_ERROR);
        CHECK_EQ_INT(answer_error_code(GG_MSG_ERROR, &r), GG_PE_BUSY);
        CHECK_EQ_INT(answer(c, first, &r, "first"), GG_MSG_REPLY | GG_MSG_RERANK);
        CHECKF(rerank_ok_errors(&r, 0, 1) == 0, "the first is served");
        gg_buf_free(&r);
        gg_client_close(c);
    }
    CHECK_EQ_INT(server_proc_stop(&p), 0);
}

static void not_a_reranker(const char *path) {
    static const char *const args[] = {"--threads", "1", NULL};
    server_proc p;
    bool up = server_proc_start(&p, path, args, NULL);
    CHECKF(up, "the embedding model's server did not start");
    if (!up) return;
    gg_client *c = gg_client_open(p.address, p.is_pipe, NULL);
    CHECK(c);
    if (c) {
        gg_buf r = {0};
        uint32_t id = send_rerank(c, query, docs, 2, 0);
        CHECK_EQ_INT(answer(c, id, &r, "rerank on an embedding model"), GG_MSG_ERROR);
        uint16_t code = 0;
        gg_str msg = {"", 0};
        CHECK(gg_decode_error(r.data, r.len, &code, &msg, NULL) == 0);
        CHECK_EQ_INT(code, GG_PE_INVALID);
        char text[256];
        snprintf(text, sizeof text, "%.*s", (int)msg.len, msg.p);
        CHECKF(strstr(text, "not a reranker") != NULL, "the message says why: %s", text);
        CHECK_EQ_INT(stat_of(c, "pairs"), 0);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    CHECK_EQ_INT(server_proc_stop(&p), 0);
}

int main(void) {
    /* over the context of 128 tokens with the query: truncated */
    for (int i = 0; i < 200; i++) strcat(long_doc, "x ");
    char path[600], embed_path[600];
    snprintf(path, sizeof path, "%s/rerank-tiny-%ld.gguf", check_tmp_dir(), (long)getpid());
    snprintf(embed_path, sizeof embed_path, "%s/rerank-embed-tiny-%ld.gguf", check_tmp_dir(),
             (long)getpid());
    CHECKF(make_preset_model(path, "bge-reranker-tiny"), "mkmodel %s", path);
    CHECKF(make_tiny_model(embed_path), "mkmodel %s", embed_path);
    ggembed_options o;
    ggembed_options_default(&o);
    o.n_threads = 1;
    char err[GGEMBED_ERR_LEN];
    CHECKF(ggembed_open(path, &o, &model, err, sizeof err) == GGEMBED_OK, "open %s: %s", path, err);
    if (model) {
        CHECK_EQ_INT(ggembed_get_info(model)->pooling, GGEMBED_POOLING_RANK);
        ggembed_rerank_options ro;
        ggembed_rerank_options_default(&ro);
        for (int i = 0; i < ND; i++) {
            ggembed_pair pr = {{query, strlen(query)}, {docs[i], strlen(docs[i])}};
            CHECK(ggembed_rerank(model, &pr, 1, &ro, &ref_score[i], &ref_res[i], err, sizeof err) ==
                  GGEMBED_OK);
        }
        CHECK(ref_res[ND - 1].truncated && !ref_res[0].truncated);
        CHECKF(ref_score[0] != ref_score[1], "the scores differ between documents");
    }
    static const char *const args[] = {"--threads", "1", NULL};
    char hold[64];
    snprintf(hold, sizeof hold, "GGEMBED_TEST_DELAY_MS=%d", HOLD_MS);
    const char *env[] = {hold, NULL};
    server_proc srv;
    bool up = model && server_proc_start(&srv, path, args, env);
    CHECKF(up, "the server did not start");
    if (up) {
        gg_client *a = gg_client_open(srv.address, srv.is_pipe, NULL);
        gg_client *b = gg_client_open(srv.address, srv.is_pipe, NULL);
        CHECK(a && b);
        if (a && b) {
            scores_batched(a, b);
            cancel_deadline_busy(a, b);
        }
        gg_client_close(a);
        gg_client_close(b);
        CHECK_EQ_INT(server_proc_stop(&srv), 0);
    }
    if (model) {
        busy_queue(path);
        not_a_reranker(embed_path);
        ggembed_close(model);
    }
    remove(path);
    remove(embed_path);
    return check_done("test_server_rerank");
}
