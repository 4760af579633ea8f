/*
 * test_server_unix.c - `ggembed serve --socket` as a separate process,
 * driven over its Unix socket: the handshake, TOKENIZE answers equal to
 * the library's own ggembed_tokenize, 32 concurrent clients with 200 mixed
 * requests each matched by id, garbage frames, a client that disconnects
 * mid-request, a client that never reads, and SIGTERM answering what is
 * in flight. Uses a vocabulary-only model (EMBED answers NO_WEIGHTS),
 * so it needs no weights. POSIX only.
 */
#ifdef _WIN32
#include "check.h"
int main(void) { return check_done("test_server_unix (POSIX only)"); }
#else
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "server/client.h"

extern char **environ;

static char sock_path[512];
static ggembed_model *vocab;
static const char *texts[] = {"hello world", "The quick brown fox.", "", "naïve café",
                              "a much longer sentence, with punctuation; and numbers 12345!"};

static pid_t start_server(const char *model) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/srv-%ld", check_tmp_dir(), (long)getpid());
    mkdir(dir, 0700);
    chmod(dir, 0700);
    snprintf(sock_path, sizeof sock_path, "%s/s.sock", dir);
    const char *bin = getenv("GGEMBED_BIN");
    char *argv[] = {(char *)bin, "serve", "-m", (char *)model, "--vocab-only", "--socket", sock_path,
                    "--max-queue", "8", NULL};
    pid_t pid;
    if (!bin || posix_spawn(&pid, bin, NULL, NULL, argv, environ) != 0) return -1;
    for (int i = 0; i < 500; i++) { /* up to 5 s for the socket to answer */
        gg_client *c = gg_client_open(sock_path, false, NULL);
        if (c) {
            gg_client_close(c);
            return pid;
        }
        gg_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    return -1;
}

/* Expected ids from the library itself, not from the server. */
static size_t expect_ids(const char *t, int32_t *ids, size_t cap) {
    size_t n = 0;
    ggembed_tokenize(vocab, t, strlen(t), 1, ids, cap, &n, NULL, 0);
    return n;
}

static void test_tokenize(gg_client *c) {
    for (size_t i = 0; i < GG_ARRAY_LEN(texts); i++) {
        gg_tokenize_req q = {1, {texts[i], (uint32_t)strlen(texts[i])}};
        gg_buf b = {0}, r = {0};
        gg_encode_tokenize(&b, &q);
        gg_err e;
        CHECKF(gg_client_call(c, GG_MSG_TOKENIZE, b.data, b.len, &r, NULL, &e), "tokenize: %s", e.msg);
        int32_t ids[256];
        size_t n = expect_ids(texts[i], ids, 256);
        gg_rd rd;
        gg_rd_init(&rd, r.data, r.len);
        CHECK_EQ_INT(gg_rd_u32(&rd), n);
        for (size_t k = 0; k < n && !rd.bad; k++) CHECK_EQ_INT((int32_t)gg_rd_u32(&rd), ids[k]);
        CHECK(gg_rd_done(&rd));
        gg_buf_free(&b);
        gg_buf_free(&r);
    }
}

static void test_basic(void) {
    gg_err e;
    gg_client *c = gg_client_open(sock_path, false, &e);
    CHECKF(c != NULL, "connect: %s", c ? "" : e.msg);
    if (!c) return;
    CHECK_EQ_INT(c->hello.version, 1);
    CHECK_EQ_INT(c->hello.has_weights, 0);
    CHECK_EQ_INT(c->hello.max_queue, 8);
    test_tokenize(c);
    gg_buf r = {0};
    gg_health_ok h;
    CHECK(gg_client_call(c, GG_MSG_HEALTH, NULL, 0, &r, NULL, &e));
    CHECK(gg_decode_health_ok(r.data, r.len, &h, NULL) == 0 && h.state == 0 && h.connections >= 1);
    int code;
    gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &(gg_str){"x", 1}};
    gg_buf b = {0};
    gg_encode_embed(&b, &q);
    CHECK(!gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, &code, &e) && code == GG_PE_NO_WEIGHTS);
    CHECK(!gg_client_call(c, 0x42, NULL, 0, &r, &code, &e) && code == GG_PE_UNKNOWN_TYPE);
    CHECK(!gg_client_call(c, GG_MSG_HEALTH, b.data, 3, &r, &code, &e) && code == GG_PE_BAD_REQUEST);
    /* invalid UTF-8 in a TOKENIZE */
    gg_buf bad = {0};
    gg_buf_u8(&bad, 1), gg_buf_zero(&bad, 3), gg_buf_str(&bad, "\xc0\x80", 2);
    CHECK(!gg_client_call(c, GG_MSG_TOKENIZE, bad.data, bad.len, &r, &code, &e) && code == GG_PE_BAD_UTF8);
    CHECK(gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, &e));
    CHECK(r.len > 4 && r.data[0] >= 19);
    gg_buf_free(&bad);
    gg_buf_free(&b);
    gg_buf_free(&r);
    gg_client_close(c);
}

/* 32 clients, each sends 200 requests without waiting, then reads all
 * answers and matches every one to its request by id. */
enum { CLIENTS = 32, PER_CLIENT = 200 };

static int client_errors[CLIENTS];

static void client_main(void *arg) {
    int me = (int)(intptr_t)arg, bad = 0;
    gg_client *c = gg_client_open(sock_path, false, NULL);
    if (!c) {
        client_errors[me] = 1000;
        return;
    }
    uint8_t kind[PER_CLIENT + 2];
    size_t which[PER_CLIENT + 2];
    uint32_t first = 0;
    for (int i = 0; i < PER_CLIENT; i++) {
        gg_buf b = {0};
        uint8_t type;
        which[i] = (size_t)(me + i) % GG_ARRAY_LEN(texts);
        if (i % 3 == 0) type = GG_MSG_HEALTH;
        else {
            gg_tokenize_req q = {1, {texts[which[i]], (uint32_t)strlen(texts[which[i]])}};
            gg_encode_tokenize(&b, &q);
            type = GG_MSG_TOKENIZE;
        }
        uint32_t id = gg_client_send(c, type, b.data, b.len);
        if (i == 0) first = id;
        kind[i] = type;
        gg_buf_free(&b);
    }
    bool seen[PER_CLIENT] = {0};
    gg_buf r = {0};
    for (int k = 0; k < PER_CLIENT; k++) {
        uint8_t type;
        uint32_t id;
        if (!gg_client_recv(c, &type, &id, &r)) {
            bad += PER_CLIENT - k;
            break;
        }
        uint32_t i = id - first;
        if (i >= PER_CLIENT || seen[i] || type != (GG_MSG_REPLY | kind[i])) {
            bad++;
            continue;
        }
        seen[i] = true;
        if (kind[i] == GG_MSG_TOKENIZE) {
            int32_t ids[256];
            size_t n = expect_ids(texts[which[i]], ids, 256);
            gg_rd rd;
            gg_rd_init(&rd, r.data, r.len);
            if (gg_rd_u32(&rd) != n) bad++;
            for (size_t t = 0; t < n; t++)
                if ((int32_t)gg_rd_u32(&rd) != ids[t]) bad++;
        }
    }
    gg_buf_free(&r);
    gg_client_close(c);
    client_errors[me] = bad;
}

static void test_concurrent(void) {
    gg_thread *t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) t[i] = gg_thread_start(client_main, (void *)(intptr_t)i, NULL);
    int bad = 0;
    for (int i = 0; i < CLIENTS; i++) {
        if (t[i]) gg_thread_join(t[i]);
        else bad++;
        bad += client_errors[i];
    }
    CHECK_EQ_INT(bad, 0);
}

typedef struct flood_arg {
    gg_conn *io;
    gg_buf *flood;
} flood_arg;

static void flood_main(void *arg) {
    flood_arg *a = arg;
    gg_conn_write(a->io, a->flood->data, a->flood->len);
}

/* Garbage, a vanished client and a non-reading client do not hurt others. */
static void test_abuse(void) {
    gg_err e;
    gg_conn *g = gg_connect_unix(sock_path, &e);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    if (g) {
        gg_conn_write(g, junk, sizeof junk);
        uint8_t buf[256];
        long n = gg_conn_read(g, buf, sizeof buf); /* MALFORMED error, then closed */
        CHECK(n >= 12 && buf[4] == GG_MSG_ERROR);
        while (n > 0) n = gg_conn_read(g, buf, sizeof buf);
        CHECK_EQ_INT(n, 0);
        gg_conn_close(g);
    }
    /* disconnects right after sending, and one that sends half a frame */
    for (int k = 0; k < 2; k++) {
        gg_client *c = gg_client_open(sock_path, false, &e);
        if (!c) continue;
        gg_tokenize_req q = {1, {texts[4], (uint32_t)strlen(texts[4])}};
        gg_buf b = {0};
        gg_encode_tokenize(&b, &q);
        if (k == 0) gg_client_send(c, GG_MSG_TOKENIZE, b.data, b.len);
        else gg_conn_write(c->io, "\x10\x00\x00\x00\x03", 5);
        gg_buf_free(&b);
        gg_client_close(c);
    }
    /* a slow reader: floods requests and never reads */
    gg_client *slow = gg_client_open(sock_path, false, &e);
    gg_tokenize_req q = {1, {texts[4], (uint32_t)strlen(texts[4])}};
    gg_buf b = {0};
    gg_encode_tokenize(&b, &q);
    gg_buf flood = {0};
    for (int i = 0; i < 20000; i++) gg_frames_put(&flood, GG_MSG_TOKENIZE, (uint32_t)i + 100, b.data, b.len, 65536);
    gg_buf_free(&b);
    /* written from a thread: the server stops reading it, so the write blocks */
    flood_arg fa = {slow ? slow->io : NULL, &flood};
    gg_thread *w = slow ? gg_thread_start(flood_main, &fa, NULL) : NULL;
    gg_sleep_ms(300);
    gg_client *c = gg_client_open(sock_path, false, &e);
    CHECKF(c != NULL, "a new client is still served");
    if (c) {
        test_tokenize(c);
        gg_client_close(c);
    }
    if (slow) gg_conn_shutdown(slow->io);
    if (w) gg_thread_join(w);
    gg_buf_free(&flood);
    if (slow) gg_client_close(slow);
}

int main(void) {
    char model[600];
    snprintf(model, sizeof model, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    ggembed_options o;
    ggembed_options_default(&o);
    o.vocab_only = 1;
    char err[GGEMBED_ERR_LEN];
    CHECKF(ggembed_open(model, &o, &vocab, err, sizeof err) == GGEMBED_OK, "open %s: %s", model, err);
    pid_t pid = vocab ? start_server(model) : -1;
    CHECKF(pid > 0, "server did not start");
    if (pid > 0) {
        test_basic();
        test_concurrent();
        test_abuse();
        /* SIGTERM: the server answers, removes its socket and exits 0 */
        kill(pid, SIGTERM);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(access(sock_path, F_OK) != 0);
    }
    if (vocab) ggembed_close(vocab);
    return check_done("test_server_unix");
}
#endif
