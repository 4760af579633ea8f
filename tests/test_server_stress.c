/*
 * test_server_stress.c - a randomized, seeded, time-bounded stress test of
 * `ggembed serve --socket` with a bert-tiny model: many clients at once,
 * each opening connection after connection and sending a random mix of
 * EMBED (one to three texts, three option sets, random deadlines, texts
 * over the context with truncate=0, a text of several frames), CANCEL of
 * its own requests (queued, in a pass, already answered), HEALTH and
 * TOKENIZE; bursts of requests that share passes only with each other
 * (a prefix of the client's own) and are all cancelled at once or all
 * given short deadlines, so that whole passes of several requests stop;
 * some connections end abruptly: without reading, in the middle
 * of a frame, in the middle of a message of several frames, halfway
 * through their answers. The server holds each pass a few ms
 * (GGEMBED_TEST_DELAY_MS) so that CANCELs and deadlines land inside
 * passes, and has a small queue so that BUSY happens.
 *
 * Invariants: every request of a connection that stays gets exactly one
 * answer, of a kind its request allows (BUSY; TIMEOUT only with a
 * deadline and not before it; CANCELLED exactly when a CANCEL of it
 * answered "found"; TOO_LONG exactly for texts over the context with
 * truncate=0); EMBED vectors equal the library's in this process for the
 * same text and options; at the end the server answers HEALTH, its queue
 * is empty, its counters agree with what the clients saw, and SIGTERM
 * stops it with status 0. Under ASan/TSan any memory error or race ends
 * the server and fails the test.
 *
 *   GGEMBED_STRESS_SEED=N      the seed (printed; default from the clock)
 *   GGEMBED_STRESS_SECONDS=S   how long clients keep starting connections (default 8)
 *
 * POSIX only.
 */
#ifdef _WIN32
#include <stdio.h>
int main(void) {
    printf("test_server_stress: POSIX only (Unix sockets); skipped\n");
    return 77;
}
#else
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "server_check.h"

enum { CLIENTS = 12, MAX_REQ = 10, MAX_SESSIONS = 400, QUEUE = 24, HOLD_MS = 4 };

static const char *const prefixes[] = {NULL, NULL, "query: "};
static const bool truncates[] = {true, false, true};
enum { NOPT = 3 };

static char dense_text[512];   /* over the context, yet guessed to fit a shared pass */
static char long_text[4096];   /* over the context */
static char *multi_frame_text; /* over one frame (64 KiB): a message of several frames */
/* clang-format off */
static const char *pool[] = {"hello world", "", "The quick brown fox jumps over the lazy dog.",
                             "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9",
                             "tab\there \"quoted\" back\\slash", "short", "numbers 12345 and 67890",
                             dense_text, long_text, NULL /* multi_frame_text */};
/* clang-format on */
enum { NPOOL = GG_ARRAY_LEN(pool), NSHORT = 7 /* pool[0..NSHORT) are short */, DENSE = NSHORT, LONG };
static ref_embedding refs[NOPT][NPOOL];
/* Bursts use a prefix of their client's own, so that their requests share
 * passes only with each other: all of a pass's requests cancelled or past
 * their deadline at once. */
enum { OPT_OWN = NOPT };
static char own_prefix[CLIENTS][32];
static ref_embedding own_refs[CLIENTS][NSHORT];
static ggembed_model *model;
static server_proc srv;
static int64_t stop_at;

/* What the clients saw, summed over connections that stayed to the end
 * ("clean") and the most that connections closed abruptly may add. */
typedef struct totals {
    _Atomic uint64_t embed, ok, texts, busy, timeouts, cancelled, too_long;
    _Atomic uint64_t abrupt_embed, abrupt_texts, sessions, abrupt_sessions;
    _Atomic uint64_t lost; /* a connection ended before all its answers: the server died */
} totals;
static totals tot;
static atomic_int clients_done;
static atomic_int failures;

static void fail(int client, const char *fmt, ...) GG_PRINTF(2, 3);
static void fail(int client, const char *fmt, ...) {
    if (atomic_fetch_add(&failures, 1) < 20) {
        char msg[300];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fprintf(stderr, "test_server_stress: client %d: %s\n", client, msg);
    }
}

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (*s * 0x2545F4914F6CDD1DULL) >> 11;
}
static uint32_t below(uint64_t *s, uint32_t n) { return (uint32_t)(rnd(s) % n); }

typedef struct req {
    uint8_t kind;
    uint32_t id;
    int texts[3], n, opt;
    uint32_t deadline_ms;
    int64_t t_sent;
    int target;       /* CANCEL: index of the request it cancels, -1: an id never used */
    int found;        /* CANCEL: its answer */
    bool cancel_sent; /* EMBED: a CANCEL of it was sent */
    bool seen;
    int code; /* the error it was answered with, 0: a real answer */
} req;

static const ref_embedding *ref_of(int me, int opt, int text) {
    return opt == OPT_OWN ? &own_refs[me][text] : &refs[opt][text];
}

static bool over_context(int me, const req *r) {
    for (int i = 0; i < r->n; i++)
        if (ref_of(me, r->opt, r->texts[i])->status == GGEMBED_E_TOO_LONG) return true;
    return false;
}

/* Sends r (EMBED, TOKENIZE or HEALTH); returns its id. */
static uint32_t send_req(int me, gg_client *c, req *r) {
    r->t_sent = gg_now_ns();
    if (r->kind == GG_MSG_EMBED) {
        const char *t[3];
        for (int i = 0; i < r->n; i++) t[i] = pool[r->texts[i]];
        bool own = r->opt == OPT_OWN;
        return send_embed(c, t, (uint32_t)r->n, r->deadline_ms, own || truncates[r->opt],
                          own ? own_prefix[me] : prefixes[r->opt]);
    }
    if (r->kind == GG_MSG_TOKENIZE) {
        gg_tokenize_req q = {1, {pool[r->texts[0]], (uint32_t)strlen(pool[r->texts[0]])}};
        gg_buf b = {0};
        gg_encode_tokenize(&b, &q);
        uint32_t id = gg_client_send(c, GG_MSG_TOKENIZE, b.data, b.len);
        gg_buf_free(&b);
        return id;
    }
    return gg_client_send(c, r->kind, NULL, 0); /* HEALTH */
}

static uint32_t send_cancel(gg_client *c, uint32_t target) {
    uint8_t b[4] = {(uint8_t)target, (uint8_t)(target >> 8), (uint8_t)(target >> 16),
                    (uint8_t)(target >> 24)};
    return gg_client_send(c, GG_MSG_CANCEL, b, sizeof b);
}

/* A burst: 2 to 4 EMBEDs of short texts with the client's own prefix,
 * then a CANCEL of each (cancel) or none but short deadlines. */
static int plan_burst(uint64_t *rs, req *q, bool cancel) {
    int k = 2 + (int)below(rs, 3);
    for (int i = 0; i < k; i++) {
        memset(&q[i], 0, sizeof q[i]);
        q[i].kind = GG_MSG_EMBED;
        q[i].n = 1;
        q[i].texts[0] = (int)below(rs, NSHORT);
        q[i].opt = OPT_OWN;
        q[i].target = -1;
        if (!cancel) q[i].deadline_ms = 1 + below(rs, 20);
    }
    for (int i = 0; cancel && i < k; i++) {
        memset(&q[k + i], 0, sizeof q[k + i]);
        q[k + i].kind = GG_MSG_CANCEL;
        q[k + i].target = i;
    }
    return cancel ? 2 * k : k;
}

/* Builds a random request list; returns how many. */
static int plan(uint64_t *rs, req *q) {
    uint32_t kind = below(rs, 100);
    if (kind < 15) return plan_burst(rs, q, true);
    if (kind < 25) return plan_burst(rs, q, false);
    int n = 1 + (int)below(rs, MAX_REQ);
    for (int i = 0; i < n; i++) {
        req *r = &q[i];
        memset(r, 0, sizeof *r);
        r->target = -1;
        uint32_t k = below(rs, 100);
        int embeds = 0;
        for (int j = 0; j < i; j++) embeds += q[j].kind == GG_MSG_EMBED;
        if (k < 60 || (k < 78 && embeds == 0)) {
            r->kind = GG_MSG_EMBED;
            r->n = 1 + (int)below(rs, 3);
            for (int t = 0; t < r->n; t++) r->texts[t] = (int)below(rs, NPOOL);
            r->opt = (int)below(rs, NOPT);
            if (below(rs, 100) < 35) r->deadline_ms = 1 + below(rs, 300);
        } else if (k < 78) {
            r->kind = GG_MSG_CANCEL;
            int pick = (int)below(rs, (uint32_t)embeds);
            for (int j = 0; j < i; j++)
                if (q[j].kind == GG_MSG_EMBED && pick-- == 0) r->target = j;
            if (below(rs, 10) == 0) r->target = -1; /* an id that names nothing */
        } else if (k < 90) {
            r->kind = GG_MSG_HEALTH;
        } else {
            r->kind = GG_MSG_TOKENIZE;
            r->texts[0] = (int)below(rs, NSHORT); /* short enough for tokenize_answer_errors */
            r->n = 1;
        }
    }
    return n;
}

/* Failures in the answer to r; sets r->code. */
static int check_answer(int me, req *r, uint8_t type, const gg_buf *b, int64_t now) {
    int code = answer_error_code(type, b);
    r->code = code;
    if (r->kind == GG_MSG_EMBED) {
        if (code == GG_PE_BUSY) return 0;
        if (code == GG_PE_TIMEOUT) {
            if (!r->deadline_ms) return fail(me, "TIMEOUT without a deadline"), 1;
            if (now - r->t_sent < (int64_t)r->deadline_ms * 1000000)
                return fail(me, "TIMEOUT after %lld ms, before its deadline of %u ms",
                            (long long)((now - r->t_sent) / 1000000), r->deadline_ms),
                       1;
            return 0;
        }
        if (code == GG_PE_CANCELLED)
            return r->cancel_sent ? 0 : (fail(me, "CANCELLED, never cancelled"), 1);
        if (code == GG_PE_TOO_LONG)
            return over_context(me, r) ? 0 : (fail(me, "TOO_LONG for texts that fit"), 1);
        if (code) return fail(me, "EMBED answered with error %d", code), 1;
        if (type != (GG_MSG_REPLY | GG_MSG_EMBED))
            return fail(me, "EMBED answered with type %u", type), 1;
        if (over_context(me, r))
            return fail(me, "EMBED_OK for a text over the context with truncate=0"), 1;
        const ref_embedding *want[3];
        for (int i = 0; i < r->n; i++) want[i] = ref_of(me, r->opt, r->texts[i]);
        if (embed_ok_errors(b->data, b->len, want, (uint32_t)r->n))
            return fail(me, "EMBED vectors differ from the library's"), 1;
        return 0;
    }
    if (type != (GG_MSG_REPLY | r->kind))
        return fail(me, "type %u answered type %u (code %d)", r->kind, type, code), 1;
    if (r->kind == GG_MSG_CANCEL) {
        if (b->len != 4 || b->data[0] > 1) return fail(me, "bad CANCEL answer"), 1;
        r->found = b->data[0];
        return 0;
    }
    if (r->kind == GG_MSG_TOKENIZE && tokenize_answer_errors(model, pool[r->texts[0]], b->data, b->len))
        return fail(me, "TOKENIZE ids differ from the library's"), 1;
    if (r->kind == GG_MSG_HEALTH) {
        gg_health_ok h;
        if (gg_decode_health_ok(b->data, b->len, &h, NULL)) return fail(me, "bad HEALTH answer"), 1;
    }
    return 0;
}

/* Reads answers until every request of q has one; false when the
 * connection ended first. */
static bool read_answers(int me, gg_client *c, req *q, int n, int want) {
    gg_buf b = {0};
    bool ok = true;
    for (int got = 0; got < want;) {
        uint8_t type;
        uint32_t id;
        if (!gg_client_recv(c, &type, &id, &b)) {
            ok = false;
            break;
        }
        int64_t now = gg_now_ns();
        int k = -1;
        for (int i = 0; i < n; i++)
            if (q[i].id == id) k = i;
        if (k < 0 || q[k].seen) {
            fail(me, "answer to id %u: %s", id, k < 0 ? "no such request" : "a second answer");
            continue;
        }
        q[k].seen = true;
        got++;
        check_answer(me, &q[k], type, &b, now);
    }
    gg_buf_free(&b);
    return ok;
}

/* CANCEL found its target exactly when the target was answered CANCELLED. */
static void check_cancels(int me, const req *q, int n) {
    for (int i = 0; i < n; i++) {
        if (q[i].kind != GG_MSG_EMBED) continue;
        int found = 0;
        for (int j = 0; j < n; j++)
            if (q[j].kind == GG_MSG_CANCEL && q[j].target == i) found += q[j].found;
        if (found != (q[i].code == GG_PE_CANCELLED))
            fail(me, "request %d: %d CANCELs found it, answered with code %d", i, found, q[i].code);
    }
    for (int j = 0; j < n; j++)
        if (q[j].kind == GG_MSG_CANCEL && q[j].target < 0 && q[j].found)
            fail(me, "a CANCEL of an id never used found something");
}

/* One EMBED after all answers: it goes through the engine after every pass
 * that held this connection's requests, so an answer one of them still
 * owed would arrive before it. BUSY is retried. */
static void fence(int me, gg_client *c, uint64_t *rs) {
    gg_buf b = {0};
    for (int attempt = 0; attempt < 200; attempt++) {
        int t = (int)below(rs, NSHORT);
        uint32_t id = send_embed(c, &pool[t], 1, 0, true, NULL);
        uint8_t type;
        uint32_t got;
        if (!id || !gg_client_recv(c, &type, &got, &b)) {
            atomic_fetch_add(&tot.lost, 1);
            fail(me, "the connection ended during the fence");
            break;
        }
        if (got != id) {
            fail(me, "answer to id %u after all answers were in", got);
            continue;
        }
        atomic_fetch_add(&tot.embed, 1);
        int code = answer_error_code(type, &b);
        if (code == GG_PE_BUSY) {
            atomic_fetch_add(&tot.busy, 1);
            gg_sleep_ms(5);
            continue;
        }
        const ref_embedding *want = &refs[0][t];
        if (code || embed_ok_errors(b.data, b.len, &want, 1)) fail(me, "fence EMBED: code %d", code);
        else atomic_fetch_add(&tot.ok, 1), atomic_fetch_add(&tot.texts, 1);
        break;
    }
    gg_buf_free(&b);
}

/* Ends the connection abruptly in one of four ways. */
static void abrupt_end(gg_client *c, uint64_t *rs, int n) {
    gg_buf b = {0};
    switch (below(rs, 4)) {
    case 0: /* never reads its answers */ break;
    case 1: /* half a frame */
        gg_frames_put(&b, GG_MSG_HEALTH, 999, (const uint8_t *)"0123456789", 10, 65536);
        gg_conn_write(c->io, b.data, 12 + 4);
        break;
    case 2: { /* the first frame of a message of several */
        gg_str t = {multi_frame_text, (uint32_t)strlen(multi_frame_text)};
        gg_embed_req e = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &t};
        gg_buf body = {0};
        gg_encode_embed(&body, &e);
        gg_frames_put(&b, GG_MSG_EMBED, 998, body.data, body.len, 65536);
        gg_conn_write(c->io, b.data, 12 + 65536);
        gg_buf_free(&body);
        break;
    }
    default: { /* reads about half its answers */
        gg_buf r = {0};
        for (int i = 0; i < n / 2; i++) {
            uint8_t type;
            uint32_t id;
            if (!gg_client_recv(c, &type, &id, &r)) break;
        }
        gg_buf_free(&r);
    }
    }
    gg_buf_free(&b);
}

static void session(int me, uint64_t *rs) {
    req q[MAX_REQ];
    int n = plan(rs, q);
    gg_client *c = gg_client_open(srv.address, srv.is_pipe, NULL);
    if (!c) {
        atomic_fetch_add(&tot.lost, 1);
        fail(me, "cannot connect");
        gg_sleep_ms(50);
        return;
    }
    bool abrupt = below(rs, 100) < 15;
    uint64_t embeds = 0, texts = 0;
    for (int i = 0; i < n; i++) {
        req *r = &q[i];
        if (r->kind == GG_MSG_CANCEL) {
            if (r->target >= 0) q[r->target].cancel_sent = true;
            r->id = send_cancel(c, r->target >= 0 ? q[r->target].id : 0x7fffffffu);
        } else {
            r->id = send_req(me, c, r);
        }
        if (r->kind == GG_MSG_EMBED) embeds++, texts += (uint64_t)r->n;
        if (below(rs, 3) == 0) gg_sleep_ms((int)below(rs, 8));
    }
    if (abrupt) {
        abrupt_end(c, rs, n);
        gg_client_close(c);
        atomic_fetch_add(&tot.abrupt_sessions, 1);
        atomic_fetch_add(&tot.abrupt_embed, embeds);
        atomic_fetch_add(&tot.abrupt_texts, texts);
        return;
    }
    if (!read_answers(me, c, q, n, n)) {
        atomic_fetch_add(&tot.lost, 1);
        fail(me, "the connection ended before all answers came (the server died?)");
        gg_client_close(c);
        return;
    }
    check_cancels(me, q, n);
    for (int i = 0; i < n; i++) {
        if (q[i].kind != GG_MSG_EMBED) continue;
        atomic_fetch_add(&tot.embed, 1);
        switch (q[i].code) {
        case 0: atomic_fetch_add(&tot.ok, 1), atomic_fetch_add(&tot.texts, (uint64_t)q[i].n); break;
        case GG_PE_BUSY: atomic_fetch_add(&tot.busy, 1); break;
        case GG_PE_TIMEOUT: atomic_fetch_add(&tot.timeouts, 1); break;
        case GG_PE_CANCELLED: atomic_fetch_add(&tot.cancelled, 1); break;
        case GG_PE_TOO_LONG: atomic_fetch_add(&tot.too_long, 1); break;
        }
    }
    fence(me, c, rs);
    gg_client_close(c);
    atomic_fetch_add(&tot.sessions, 1);
}

typedef struct client_arg {
    int me;
    uint64_t seed;
} client_arg;

static void client_main(void *p) {
    client_arg *a = p;
    uint64_t rs = a->seed;
    for (int k = 0; k < MAX_SESSIONS && gg_now_ns() < stop_at && atomic_load(&tot.lost) == 0; k++)
        session(a->me, &rs);
    atomic_fetch_add(&clients_done, 1);
}

static uint64_t stat_of(const gg_buf *r, const char *name) {
    gg_rd rd;
    gg_rd_init(&rd, r->data, r->len);
    uint32_t n = gg_rd_u32(&rd);
    for (uint32_t i = 0; i < n && !rd.bad; i++) {
        gg_str k = gg_rd_str(&rd);
        uint64_t v = gg_rd_u64(&rd);
        if (k.len == strlen(name) && !memcmp(k.p, name, k.len)) return v;
    }
    return UINT64_MAX;
}

#define CHECK_RANGE(v, lo, hi)                                                            \
    CHECKF((v) >= (lo) && (v) <= (hi), "stats %s = %llu, the clients saw %llu..%llu", #v, \
           (unsigned long long)(v), (unsigned long long)(lo), (unsigned long long)(hi))

/* The server's counters against what the clients saw, once every other
 * connection is gone. */
static void check_stats(void) {
    gg_client *c = gg_client_open(srv.address, srv.is_pipe, NULL);
    CHECKF(c != NULL, "the server answers a new client at the end");
    if (!c) return;
    gg_buf r = {0};
    gg_err e;
    CHECKF(gg_client_call(c, GG_MSG_HEALTH, NULL, 0, &r, NULL, &e), "HEALTH at the end");
    uint64_t conns = 0;
    for (int i = 0; i < 500; i++) { /* up to 5 s for closed connections to wind down */
        if (!gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, &e)) break;
        conns = stat_of(&r, "connections");
        if (conns == 1) break;
        gg_sleep_ms(10);
    }
    CHECK_EQ_INT(conns, 1);
    uint64_t queue = stat_of(&r, "queue"), embed = stat_of(&r, "embed_requests");
    uint64_t busy = stat_of(&r, "busy"), timeouts = stat_of(&r, "timeouts");
    uint64_t cancelled = stat_of(&r, "cancelled"), texts = stat_of(&r, "texts");
    uint64_t errors = stat_of(&r, "errors"), batches = stat_of(&r, "batches");
    uint64_t ab = tot.abrupt_embed;
    CHECK_EQ_INT(queue, 0);
    CHECK_RANGE(embed, tot.embed, tot.embed + ab);
    CHECK_RANGE(busy, tot.busy, tot.busy + ab);
    CHECK_RANGE(timeouts, tot.timeouts, tot.timeouts + ab);
    CHECK_RANGE(cancelled, tot.cancelled, tot.cancelled + ab);
    CHECK_RANGE(texts, tot.texts, tot.texts + tot.abrupt_texts);
    CHECKF(errors >= busy + timeouts + cancelled + tot.too_long,
           "errors %llu cover busy, timeouts, cancelled, too long", (unsigned long long)errors);
    CHECKF(batches >= 1 && batches <= embed, "batches %llu of %llu EMBED requests",
           (unsigned long long)batches, (unsigned long long)embed);
    printf(
        "test_server_stress: server: %llu EMBED requests, %llu texts, %llu passes, %llu busy, %llu timeouts, "
        "%llu cancelled, %llu errors\n",
        (unsigned long long)embed, (unsigned long long)texts, (unsigned long long)batches,
        (unsigned long long)busy, (unsigned long long)timeouts, (unsigned long long)cancelled,
        (unsigned long long)errors);
    gg_buf_free(&r);
    gg_client_close(c);
}

int main(void) {
    const char *env_seed = getenv("GGEMBED_STRESS_SEED"), *env_secs = getenv("GGEMBED_STRESS_SECONDS");
    uint64_t seed = env_seed && *env_seed ? strtoull(env_seed, NULL, 0)
                                          : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
    double seconds = env_secs && *env_secs ? atof(env_secs) : 8.0;
    printf("test_server_stress: seed %llu (GGEMBED_STRESS_SEED=%llu repeats the request mix), %.1f s\n",
           (unsigned long long)seed, (unsigned long long)seed, seconds);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < 90; i++) strcat(dense_text, "!?"); /* a token a byte */
    for (int i = 0; i < 300; i++) strcat(long_text, i % 2 ? "word " : "token ");
    /* Over one frame, yet cheap to tokenize (mostly spaces), so that it
     * costs the engine little even under the sanitizers. */
    size_t big = 70000;
    multi_frame_text = malloc(big + 1);
    for (size_t i = 0; multi_frame_text && i < big; i++) multi_frame_text[i] = ' ';
    if (multi_frame_text)
        memcpy(multi_frame_text, "several", 7), memcpy(multi_frame_text + big - 6, "frames", 6);
    if (multi_frame_text) multi_frame_text[big] = '\0';
    pool[NPOOL - 1] = multi_frame_text;
    char path[600];
    snprintf(path, sizeof path, "%s/stress-tiny-%ld.gguf", check_tmp_dir(), (long)getpid());
    CHECKF(multi_frame_text && make_tiny_model(path), "mkmodel %s", path);
    ggembed_options o;
    ggembed_options_default(&o);
    o.n_threads = 1;
    char err[GGEMBED_ERR_LEN];
    CHECKF(ggembed_open(path, &o, &model, err, sizeof err) == GGEMBED_OK, "open %s: %s", path, err);
    for (int k = 0; model && k < NOPT; k++)
        for (int i = 0; i < NPOOL; i++)
            CHECKF(ref_embed(model, pool[i], truncates[k], prefixes[k], &refs[k][i]), "reference %d/%d",
                   k, i);
    for (int c = 0; model && c < CLIENTS; c++) {
        snprintf(own_prefix[c], sizeof own_prefix[c], "client %d: ", c);
        for (int i = 0; i < NSHORT; i++)
            CHECK(ref_embed(model, pool[i], true, own_prefix[c], &own_refs[c][i]));
    }
    for (int i = 0; model && i < NPOOL; i++)
        CHECKF((refs[1][i].status == GGEMBED_E_TOO_LONG) == (i == DENSE || i == LONG),
               "text %d over the context", i);

    char queue[16], hold[64];
    snprintf(queue, sizeof queue, "%d", QUEUE);
    snprintf(hold, sizeof hold, "GGEMBED_TEST_DELAY_MS=%d", HOLD_MS);
    const char *args[] = {"--threads", "2", "--max-queue", queue, NULL};
    const char *env[] = {hold, NULL};
    bool up = model && server_proc_start(&srv, path, args, env);
    CHECKF(up, "the server did not start");
    if (up) {
        int64_t t0 = gg_now_ns();
        stop_at = t0 + (int64_t)(seconds * 1e9);
        client_arg a[CLIENTS];
        gg_thread *t[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            a[i] = (client_arg){i,
                                seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i * 0xBF58476D1CE4E5B9ULL + 1};
            t[i] = gg_thread_start(client_main, &a[i], NULL);
            CHECK(t[i] != NULL);
        }
        /* An answer the server never sends would leave a client waiting
         * for ever: past the time and a generous grace, the server is
         * killed, which ends every wait, and that is a failure. */
        bool hung = false;
        while (atomic_load(&clients_done) < CLIENTS) {
            if (gg_now_ns() > stop_at + 120 * 1000000000LL && !hung) {
                hung = true;
                fprintf(
                    stderr,
                    "test_server_stress: clients still waiting 120 s after the end: killing the server\n");
                kill((pid_t)srv.pid, SIGKILL);
            }
            gg_sleep_ms(50);
        }
        for (int i = 0; i < CLIENTS; i++) gg_thread_join(t[i]);
        CHECKF(!hung, "every answer came");
        printf(
            "test_server_stress: %llu connections (%llu closed abruptly) in %.1f s: %llu EMBED answered: "
            "%llu with vectors, %llu busy, %llu timeouts, %llu cancelled, %llu too long\n",
            (unsigned long long)(tot.sessions + tot.abrupt_sessions),
            (unsigned long long)tot.abrupt_sessions, (double)(gg_now_ns() - t0) / 1e9,
            (unsigned long long)tot.embed, (unsigned long long)tot.ok, (unsigned long long)tot.busy,
            (unsigned long long)tot.timeouts, (unsigned long long)tot.cancelled,
            (unsigned long long)tot.too_long);
        CHECKF(atomic_load(&failures) == 0, "%d invariant failures (see above)", atomic_load(&failures));
        CHECK_EQ_INT(tot.lost, 0);
        CHECKF(tot.ok > 0 && tot.sessions + tot.abrupt_sessions >= CLIENTS, "the run did real work");
        if (!hung) check_stats();
        CHECK_EQ_INT(server_proc_stop(&srv), 0);
    }
    for (int k = 0; k < NOPT; k++)
        for (int i = 0; i < NPOOL; i++) free(refs[k][i].v);
    for (int c = 0; c < CLIENTS; c++)
        for (int i = 0; i < NSHORT; i++) free(own_refs[c][i].v);
    if (model) ggembed_close(model);
    free(multi_frame_text);
    unlink(path);
    printf("test_server_stress: seed %llu\n", (unsigned long long)seed);
    return check_done("test_server_stress");
}
#endif
