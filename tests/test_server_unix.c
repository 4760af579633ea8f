/*
 * test_server_unix.c - `ggembed serve --socket` as a separate process,
 * driven over its Unix socket: the handshake, TOKENIZE answers equal to
 * the library's own ggembed_tokenize, 32 concurrent clients with 200 mixed
 * requests each matched by id, garbage frames, a client that disconnects
 * mid-request, a client that never reads, and SIGTERM answering what is
 * in flight, with a vocabulary-only model (EMBED answers NO_WEIGHTS).
 * Then with a bert-tiny model from `ggembed mkmodel`: EMBED answers equal
 * to `ggembed embed` output; BUSY from a small --max-queue and TIMEOUT
 * from a deadline, with GGEMBED_TEST_DELAY_MS slowing the engine; SIGTERM
 * with EMBED requests in flight answering every one; the
 * GGEMBED_TEST_POISON exit; and the model file changing under the server:
 * overwritten in place (every request in flight answered MODEL_CHANGED,
 * exit status 4) and truncated during a long request (exit status 4 with a
 * message naming the file, by the check or by the SIGBUS guard, and no
 * socket file left), and `ggembed embed` on a model truncated while it runs
 * (exit status 4, a line naming the file). POSIX only.
 */
#ifdef _WIN32
/* On Windows: Unix sockets are refused with a message naming --pipe. */
#include "check.h"
#include "server_check.h"
int main(void) {
    check_transport_refused(gg_listen_unix, gg_connect_unix, "ggembed-test.sock", "--pipe", "pipe");
    return check_done("test_server_unix (Unix sockets: POSIX only)");
}
#else
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
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
#include "server_check.h"

extern char **environ;

static char sock_path[512];
static const char *server_stderr; /* the next server's stderr goes here when set */
static ggembed_model *vocab;
static const char *texts[] = {"hello world", "The quick brown fox.", "", "naïve café",
                              "a much longer sentence, with punctuation; and numbers 12345!"};

/* Starts `ggembed serve -m model --socket ... extra...` with the extra
 * environment entries env (NULL-terminated, may be NULL); waits until it
 * answers. */
static pid_t start_server_with(const char *model, const char *const *extra, const char *const *env) {
    static int serial;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/srv-%ld-%d", check_tmp_dir(), (long)getpid(), serial++);
    mkdir(dir, 0700);
    chmod(dir, 0700);
    snprintf(sock_path, sizeof sock_path, "%s/s.sock", dir);
    const char *bin = getenv("GGEMBED_BIN");
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin, argv[n++] = "serve", argv[n++] = "-m", argv[n++] = (char *)model;
    argv[n++] = "--socket", argv[n++] = sock_path;
    for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    size_t ne = 0, nx = 0;
    while (environ[ne]) ne++;
    while (env && env[nx]) nx++;
    char **envp = calloc(ne + nx + 1, sizeof *envp);
    if (!envp) return -1;
    memcpy(envp, environ, ne * sizeof *envp);
    for (size_t i = 0; i < nx; i++) envp[ne + i] = (char *)env[i];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (server_stderr)
        posix_spawn_file_actions_addopen(&fa, 2, server_stderr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = bin ? posix_spawn(&pid, bin, &fa, NULL, argv, envp) : -1;
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0) return -1;
    for (int i = 0; i < 1000; i++) { /* up to 10 s for the socket to answer */
        gg_client *c = gg_client_open(sock_path, false, NULL);
        if (c) {
            gg_client_close(c);
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        gg_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static pid_t start_server(const char *model) {
    static const char *const extra[] = {"--vocab-only", "--max-queue", "8", NULL};
    return start_server_with(model, extra, NULL);
}

static void test_tokenize(gg_client *c) {
    for (size_t i = 0; i < GG_ARRAY_LEN(texts); i++) {
        gg_tokenize_req q = {1, {texts[i], (uint32_t)strlen(texts[i])}};
        gg_buf b = {0}, r = {0};
        gg_encode_tokenize(&b, &q);
        gg_err e;
        CHECKF(gg_client_call(c, GG_MSG_TOKENIZE, b.data, b.len, &r, NULL, &e), "tokenize: %s", e.msg);
        CHECKF(tokenize_answer_errors(vocab, texts[i], r.data, r.len) == 0, "TOKENIZE of text %zu", i);
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
    CHECK(!gg_client_call(c, GG_MSG_TOKENIZE, bad.data, bad.len, &r, &code, &e) &&
          code == GG_PE_BAD_UTF8);
    CHECK(gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, &e));
    CHECK(r.len > 4 && r.data[0] >= 19);
    gg_buf_free(&bad);
    gg_buf_free(&b);
    gg_buf_free(&r);
    gg_client_close(c);
}

/* 32 clients of 200 HEALTH and TOKENIZE requests each. */
static void test_concurrent(void) {
    mixed_clients m = {sock_path, false, vocab, texts, GG_ARRAY_LEN(texts), 32, 200, NULL};
    CHECK_EQ_INT(run_mixed_clients(&m), 0);
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
    check_garbage_refused(sock_path, false);
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
    for (int i = 0; i < 20000; i++)
        gg_frames_put(&flood, GG_MSG_TOKENIZE, (uint32_t)i + 100, b.data, b.len, 65536);
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

/* ---- with a real model (bert-tiny from `ggembed mkmodel`) ---- */

static char tiny_path[600];
static const char *mtexts[] = {"hello world",
                               "The quick brown fox.",
                               "",
                               "na\xc3\xafve caf\xc3\xa9",
                               "a much longer sentence, with punctuation; and numbers 12345!",
                               "tab\there \"quoted\" back\\slash",
                               NULL /* over the context */};
enum { NM = GG_ARRAY_LEN(mtexts), MAX_DIMS = 1024 };
static char long_text[4096];

typedef struct ref_vec {
    int tokens, truncated, dims;
    float v[MAX_DIMS];
} ref_vec;
static ref_vec refs[NM];

/* Runs bin with argv; stdin and stdout from/to files when not NULL. */
static int run(char **argv, const char *in, const char *out) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in) posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
    if (out) posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void json_put(FILE *f, const char *t) {
    fputc('"', f);
    for (; *t; t++) {
        unsigned char ch = (unsigned char)*t;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputs("\"\n", f);
}

/* The reference: `ggembed embed --jsonl` on mtexts, parsed from its JSON lines. */
static bool embed_reference(void) {
    char in[600], out[600];
    snprintf(in, sizeof in, "%s/unix-texts-%ld.jsonl", check_tmp_dir(), (long)getpid());
    snprintf(out, sizeof out, "%s/unix-embed-%ld.jsonl", check_tmp_dir(), (long)getpid());
    FILE *f = fopen(in, "w");
    if (!f) return false;
    for (size_t i = 0; i < NM; i++) json_put(f, mtexts[i]);
    fclose(f);
    char *argv[] = {getenv("GGEMBED_BIN"), "embed", "-m", tiny_path, "--jsonl", NULL};
    int rc = run(argv, in, out);
    CHECKF(rc == 0, "ggembed embed exited with %d", rc);
    size_t size;
    char *text = (char *)check_read_file(out, &size);
    unlink(in);
    unlink(out);
    if (rc != 0 || !text) return free(text), false;
    size_t lines = 0;
    for (char *line = text, *next; line < text + size && lines < NM; line = next, lines++) {
        char *nl = memchr(line, '\n', (size_t)(text + size - line));
        next = nl ? nl + 1 : text + size;
        if (nl) *nl = '\0';
        ref_vec *r = &refs[lines];
        char *p = strstr(line, "\"tokens\": ");
        r->tokens = p ? atoi(p + 10) : -1;
        r->truncated = strstr(line, "\"truncated\": true") != NULL;
        p = strchr(line, '[');
        r->dims = 0;
        while (p && *p != ']' && *p && r->dims < MAX_DIMS) {
            char *end;
            float v = strtof(p + 1, &end);
            if (end == p + 1) break;
            r->v[r->dims++] = v;
            p = end;
            while (*p == ' ') p++;
        }
    }
    free(text);
    CHECK_EQ_INT(lines, NM);
    return lines == NM;
}

static void encode_embed(gg_buf *b, uint32_t deadline_ms, size_t first, size_t n, gg_str *store) {
    for (size_t i = 0; i < n; i++)
        store[i] = (gg_str){mtexts[first + i], (uint32_t)strlen(mtexts[first + i])};
    gg_embed_req q = {deadline_ms, -1, -1, 1, 0, 0, {"", 0}, (uint32_t)n, store};
    gg_encode_embed(b, &q);
}

/* Failures in an EMBED_OK body compared with refs[first..first+n). */
static int compare_embed_ok(const uint8_t *body, size_t len, size_t first, size_t n) {
    gg_embed_ok ok;
    if (gg_decode_embed_ok(body, len, &ok, NULL) || ok.n != n || ok.format != 0) return 1;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const ref_vec *r = &refs[first + i];
        gg_rd rd;
        gg_rd_init(&rd, ok.info + 8 * i, 8);
        uint32_t tokens = gg_rd_u32(&rd), flags = gg_rd_u32(&rd);
        if ((int)tokens != r->tokens || (int)(flags & 1) != r->truncated || (int)ok.dims != r->dims) {
            bad++;
            continue;
        }
        gg_rd_init(&rd, ok.vectors + 4 * i * ok.dims, 4 * (size_t)ok.dims);
        for (uint32_t k = 0; k < ok.dims; k++) {
            float d = gg_rd_f32(&rd) - r->v[k];
            if (d > 1e-6f || d < -1e-6f) {
                bad++;
                break;
            }
        }
    }
    return bad;
}

static int stop_and_wait(pid_t pid) {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* EMBED over the socket equals `ggembed embed`: all texts in one request and each alone. */
static void test_embed_equal(void) {
    static const char *const extra[] = {"--threads", "1", NULL};
    pid_t pid = start_server_with(tiny_path, extra, NULL);
    CHECKF(pid > 0, "model server did not start");
    if (pid <= 0) return;
    gg_err e;
    gg_client *c = gg_client_open(sock_path, false, &e);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->hello.has_weights, 1);
        CHECK_EQ_INT(c->hello.dims, refs[0].dims);
        gg_str store[NM];
        gg_buf b = {0}, r = {0};
        encode_embed(&b, 0, 0, NM, store);
        CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, NULL, &e), "embed: %s", e.msg);
        CHECK_EQ_INT(compare_embed_ok(r.data, r.len, 0, NM), 0);
        for (size_t i = 0; i < NM; i++) {
            b.len = 0;
            encode_embed(&b, 0, i, 1, store);
            CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, NULL, &e), "embed %zu: %s", i,
                   e.msg);
            CHECKF(compare_embed_ok(r.data, r.len, i, 1) == 0, "text %zu equals ggembed embed", i);
        }
        gg_buf_free(&b);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    CHECK_EQ_INT(stop_and_wait(pid), 0);
}

/* A 30 ms deadline behind or inside a 300 ms pass: its TIMEOUT comes when
 * the deadline passes, so before the pass's own answer. With a prefix the
 * short request cannot join the long one's pass and waits in the queue;
 * without, it may share the pass. */
static void overdue_hears_first(gg_client *c, bool waits) {
    gg_str store[1];
    gg_buf b = {0}, r = {0};
    encode_embed(&b, 0, 1, 1, store);
    uint32_t id_long = gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
    b.len = 0;
    for (size_t i = 0; i < 1; i++) store[i] = (gg_str){mtexts[2], (uint32_t)strlen(mtexts[2])};
    gg_embed_req q = {30, -1, -1, 1, 0, 0, {waits ? "query: " : "", waits ? 7u : 0u}, 1, store};
    gg_encode_embed(&b, &q);
    uint32_t id_short = gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
    uint8_t type = 0;
    uint32_t id = 0;
    uint16_t code = 0;
    gg_str msg;
    CHECK(gg_client_recv(c, &type, &id, &r));
    CHECKF(id == id_short && type == GG_MSG_ERROR, "%s: first answer: id %u type %u",
           waits ? "waiting" : "sharing", id, type);
    CHECK(!gg_decode_error(r.data, r.len, &code, &msg, NULL) && code == GG_PE_TIMEOUT);
    CHECK(gg_client_recv(c, &type, &id, &r));
    CHECKF(id == id_long && type == (GG_MSG_REPLY | GG_MSG_EMBED), "second answer: id %u type %u", id,
           type);
    CHECK(compare_embed_ok(r.data, r.len, 1, 1) == 0);
    gg_buf_free(&b);
    gg_buf_free(&r);
}

/* CANCEL of a request inside a 300 ms pass: its CANCELLED answer comes at
 * once, before the answers to the CANCEL and to a HEALTH sent after it. */
static void cancel_answers_at_once(gg_client *c) {
    gg_str store[1];
    gg_buf b = {0}, r = {0};
    encode_embed(&b, 0, 3, 1, store);
    uint32_t id_embed = gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
    gg_sleep_ms(50); /* the engine has taken it: it is running */
    uint8_t target[4] = {(uint8_t)id_embed, (uint8_t)(id_embed >> 8), (uint8_t)(id_embed >> 16),
                         (uint8_t)(id_embed >> 24)};
    uint32_t id_cancel = gg_client_send(c, GG_MSG_CANCEL, target, sizeof target);
    uint32_t id_health = gg_client_send(c, GG_MSG_HEALTH, NULL, 0);
    int order[3] = {-1, -1, -1};
    for (int k = 0; k < 3; k++) {
        uint8_t type = 0;
        uint32_t id = 0;
        if (!gg_client_recv(c, &type, &id, &r)) break;
        uint16_t code = 0;
        gg_str msg;
        if (id == id_embed && type == GG_MSG_ERROR &&
            !gg_decode_error(r.data, r.len, &code, &msg, NULL) && code == GG_PE_CANCELLED)
            order[k] = 0;
        else if (id == id_cancel && type == (GG_MSG_REPLY | GG_MSG_CANCEL) && r.len == 4 &&
                 r.data[0] == 1)
            order[k] = 1;
        else if (id == id_health && type == (GG_MSG_REPLY | GG_MSG_HEALTH)) order[k] = 2;
    }
    CHECKF(order[0] == 0 && order[1] == 1 && order[2] == 2, "answers in order %d %d %d (want 0 1 2)",
           order[0], order[1], order[2]);
    gg_buf_free(&b);
    gg_buf_free(&r);
}

/* A slow engine (GGEMBED_TEST_DELAY_MS) and a queue of 2: a burst gets
 * BUSY for what does not fit; a deadline shorter than the delay gets
 * TIMEOUT. Every request gets exactly one answer. */
static void test_busy_timeout(void) {
    static const char *const extra[] = {"--threads", "1", "--max-queue", "2", NULL};
    static const char *const env[] = {"GGEMBED_TEST_DELAY_MS=300", NULL};
    pid_t pid = start_server_with(tiny_path, extra, env);
    CHECKF(pid > 0, "delayed server did not start");
    if (pid <= 0) return;
    gg_client *c = gg_client_open(sock_path, false, NULL);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->hello.max_queue, 2);
        enum { BURST = 6 };
        gg_str store[1];
        gg_buf b = {0}, r = {0};
        uint32_t ids[BURST];
        for (int i = 0; i < BURST; i++) {
            b.len = 0;
            encode_embed(&b, 0, (size_t)i % NM, 1, store);
            ids[i] = gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
        }
        int ok = 0, busy = 0, other = 0, seen = 0;
        for (int k = 0; k < BURST; k++) {
            uint8_t type;
            uint32_t id;
            if (!gg_client_recv(c, &type, &id, &r)) break;
            int i = -1;
            for (int j = 0; j < BURST; j++)
                if (ids[j] == id && !(seen & (1 << j))) i = j;
            if (i < 0) {
                other++;
                continue;
            }
            seen |= 1 << i;
            uint16_t code = 0;
            gg_str msg;
            if (type == (GG_MSG_REPLY | GG_MSG_EMBED))
                ok++, other += compare_embed_ok(r.data, r.len, (size_t)i % NM, 1);
            else if (type == GG_MSG_ERROR && !gg_decode_error(r.data, r.len, &code, &msg, NULL) &&
                     code == GG_PE_BUSY)
                busy++;
            else other++;
        }
        CHECKF(ok + busy == BURST && other == 0, "burst: %d ok, %d busy, %d other", ok, busy, other);
        CHECKF(busy >= 1 && ok >= 2, "burst: %d ok, %d busy", ok, busy);
        /* deadline 50 ms, engine delay 300 ms */
        int code = 0;
        gg_err e;
        b.len = 0;
        encode_embed(&b, 50, 0, 1, store);
        CHECK(!gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, &code, &e));
        CHECK_EQ_INT(code, GG_PE_TIMEOUT);
        /* and without a deadline the same request is answered */
        b.len = 0;
        encode_embed(&b, 0, 0, 1, store);
        CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, &code, &e), "embed: %s", e.msg);
        overdue_hears_first(c, true);
        overdue_hears_first(c, false);
        cancel_answers_at_once(c);
        CHECK(gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, &e));
        gg_rd rd;
        gg_rd_init(&rd, r.data, r.len);
        uint32_t n = gg_rd_u32(&rd);
        uint64_t st_busy = 0, st_timeouts = 0, st_cancelled = 0;
        for (uint32_t i = 0; i < n && !rd.bad; i++) {
            gg_str name = gg_rd_str(&rd);
            uint64_t v = gg_rd_u64(&rd);
            if (name.len == 4 && !memcmp(name.p, "busy", 4)) st_busy = v;
            if (name.len == 9 && !memcmp(name.p, "cancelled", 9)) st_cancelled = v;
            if (name.len == 8 && !memcmp(name.p, "timeouts", 8)) st_timeouts = v;
        }
        CHECK_EQ_INT(st_busy, busy);
        CHECK_EQ_INT(st_timeouts, 3);
        CHECK_EQ_INT(st_cancelled, 1);
        gg_buf_free(&b);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    CHECK_EQ_INT(stop_and_wait(pid), 0);
}

/* SIGTERM while EMBED requests wait: every one is answered (EMBED_OK for
 * those the server had read; SHUTTING_DOWN is allowed only for any read
 * after the signal), then exit 0 and the socket file is gone. */
static void test_sigterm_inflight(void) {
    static const char *const extra[] = {"--threads", "1", "--max-queue", "64", NULL};
    static const char *const env[] = {"GGEMBED_TEST_DELAY_MS=150", NULL};
    pid_t pid = start_server_with(tiny_path, extra, env);
    CHECKF(pid > 0, "delayed server did not start");
    if (pid <= 0) return;
    enum { CONNS = 2, EACH = 8 };
    gg_client *c[CONNS];
    uint32_t ids[CONNS][EACH];
    gg_str store[1];
    gg_buf b = {0}, r = {0};
    for (int k = 0; k < CONNS; k++) {
        c[k] = gg_client_open(sock_path, false, NULL);
        CHECK(c[k] != NULL);
        for (int i = 0; c[k] && i < EACH; i++) {
            b.len = 0;
            encode_embed(&b, 0, (size_t)(k + i) % NM, 1, store);
            ids[k][i] = gg_client_send(c[k], GG_MSG_EMBED, b.data, b.len);
        }
    }
    /* wait (bounded) until the server has read them all */
    gg_client *h = gg_client_open(sock_path, false, NULL);
    bool all_queued = false;
    for (int t = 0; h && t < 400 && !all_queued; t++) {
        gg_health_ok hh;
        if (gg_client_call(h, GG_MSG_HEALTH, NULL, 0, &r, NULL, NULL) &&
            !gg_decode_health_ok(r.data, r.len, &hh, NULL))
            all_queued = hh.queue >= CONNS * EACH;
        if (!all_queued) gg_sleep_ms(2);
    }
    gg_client_close(h);
    kill(pid, SIGTERM);
    int ok = 0, shutting = 0, bad = 0, missing = 0;
    for (int k = 0; k < CONNS; k++) {
        bool seen[EACH] = {0};
        for (int n = 0; c[k] && n < EACH; n++) {
            uint8_t type;
            uint32_t id;
            if (!gg_client_recv(c[k], &type, &id, &r)) {
                missing += EACH - n;
                break;
            }
            int i = -1;
            for (int j = 0; j < EACH; j++)
                if (ids[k][j] == id && !seen[j]) i = j;
            if (i < 0) {
                bad++;
                continue;
            }
            seen[i] = true;
            uint16_t code = 0;
            gg_str msg;
            if (type == (GG_MSG_REPLY | GG_MSG_EMBED))
                ok++, bad += compare_embed_ok(r.data, r.len, (size_t)(k + i) % NM, 1);
            else if (type == GG_MSG_ERROR && !gg_decode_error(r.data, r.len, &code, &msg, NULL) &&
                     code == GG_PE_SHUTTING_DOWN)
                shutting++;
            else bad++;
        }
        gg_client_close(c[k]);
    }
    CHECKF(missing == 0 && bad == 0, "sigterm: %d ok, %d shutting down, %d missing, %d bad", ok,
           shutting, missing, bad);
    if (all_queued)
        CHECKF(ok == CONNS * EACH, "every queued request answered with its embedding: %d", ok);
    else CHECK(ok >= 1);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(access(sock_path, F_OK) != 0);
    gg_buf_free(&b);
    gg_buf_free(&r);
}

/* GGEMBED_TEST_POISON: an EMBED text containing it ends the server at once
 * with status 3 and no answer; ordinary requests before it are served. */
static void test_poison(void) {
    static const char *const extra[] = {"--threads", "1", NULL};
    static const char *const env[] = {"GGEMBED_TEST_POISON=xyzzy", NULL};
    pid_t pid = start_server_with(tiny_path, extra, env);
    CHECKF(pid > 0, "poisoned server did not start");
    if (pid <= 0) return;
    gg_client *c = gg_client_open(sock_path, false, NULL);
    CHECK(c != NULL);
    if (c) {
        gg_str store[1];
        gg_buf b = {0}, r = {0};
        gg_err e;
        encode_embed(&b, 0, 0, 1, store);
        CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, NULL, &e), "embed: %s", e.msg);
        gg_str poison = {"a xyzzy b", 9};
        gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &poison};
        b.len = 0;
        gg_encode_embed(&b, &q);
        int code = 0;
        CHECK(!gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, &code, &e));
        CHECK_EQ_INT(code, 0); /* no answer at all: the connection ended */
        gg_buf_free(&b);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 3, "exit status %d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- the model file changing under the server ---- */

static char changing_path[700], other_path[700], changing_err[700];

static bool copy_file(const char *from, const char *to) {
    size_t n;
    uint8_t *b = check_read_file(from, &n);
    FILE *f = b ? fopen(to, "wb") : NULL;
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    free(b);
    return ok;
}

/* Overwrites `to` in place with the bytes of `from`, as `cp` does. */
static bool overwrite_in_place(const char *from, const char *to) {
    size_t n;
    uint8_t *b = check_read_file(from, &n);
    FILE *f = b ? fopen(to, "r+b") : NULL;
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    free(b);
    return ok;
}

static int wait_status(pid_t pid, int seconds) {
    int status = 0;
    for (int i = 0; i < seconds * 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        gg_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static bool log_has(const char *needle) {
    size_t n;
    char *log = (char *)check_read_file(changing_err, &n);
    bool found = log && strstr(log, needle);
    if (!found) fprintf(stderr, "server log, without '%s':\n%s\n", needle, log ? log : "(none)");
    free(log);
    return found;
}

/* `cp other.gguf model.gguf` under a running server: requests served
 * before are right; the request that finds the change and those queued
 * behind it (other options, so other passes) are answered MODEL_CHANGED,
 * none with vectors; the server exits 4 naming the file, socket removed. */
static void test_overwritten(void) {
    if (!copy_file(tiny_path, changing_path)) return (void)CHECKF(false, "cannot copy the model");
    static const char *const extra[] = {"--threads", "1", NULL};
    static const char *const env[] = {"GGEMBED_TEST_DELAY_MS=200", NULL};
    server_stderr = changing_err;
    pid_t pid = start_server_with(changing_path, extra, env);
    server_stderr = NULL;
    CHECKF(pid > 0, "server did not start");
    if (pid <= 0) return;
    gg_client *c = gg_client_open(sock_path, false, NULL);
    CHECK(c != NULL);
    if (c) {
        gg_str store[NM];
        gg_buf b = {0}, r = {0};
        gg_err e;
        encode_embed(&b, 0, 0, 2, store);
        CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, NULL, &e), "embed before: %s", e.msg);
        CHECK(compare_embed_ok(r.data, r.len, 0, 2) == 0);
        gg_sleep_ms(30); /* file times tick in steps of a few ms */
        CHECK(overwrite_in_place(other_path, changing_path));
        enum { N = 3 };
        uint32_t ids[N];
        for (int i = 0; i < N; i++) { /* dims 0, 8, 16: three passes */
            gg_str text = {mtexts[0], (uint32_t)strlen(mtexts[0])};
            gg_embed_req q = {0, -1, -1, 1, 0, (uint32_t)(8 * i), {"", 0}, 1, &text};
            b.len = 0;
            gg_encode_embed(&b, &q);
            ids[i] = gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
        }
        int changed = 0;
        for (int k = 0; k < N; k++) {
            uint8_t type;
            uint32_t id;
            if (!gg_client_recv(c, &type, &id, &r)) break;
            uint16_t code = 0;
            gg_str msg;
            bool mine = id == ids[0] || id == ids[1] || id == ids[2];
            if (mine && type == GG_MSG_ERROR && !gg_decode_error(r.data, r.len, &code, &msg, NULL) &&
                code == GG_PE_MODEL_CHANGED)
                changed++;
            else CHECKF(false, "answer type 0x%x code %d", type, code);
        }
        CHECK_EQ_INT(changed, N);
        gg_buf_free(&b);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    CHECK_EQ_INT(wait_status(pid, 30), 4);
    CHECK(log_has(changing_path) && log_has("changed on disk"));
    CHECK(access(sock_path, F_OK) != 0);
}

/* Waits until process pid has mapped path (Linux: /proc/PID/maps lists it;
 * elsewhere a generous sleep): truncated earlier, the file would only be
 * "not a GGUF file" to the opening process. */
static void wait_mapped(pid_t pid, const char *path) {
#ifdef __linux__
    char maps[64], real[PATH_MAX];
    snprintf(maps, sizeof maps, "/proc/%ld/maps", (long)pid);
    if (!realpath(path, real)) return;
    for (int i = 0; i < 3000; i++) {
        FILE *f = fopen(maps, "r"); /* /proc files have no size: read line by line */
        char line[PATH_MAX + 256];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, real) != NULL;
        if (f) fclose(f);
        if (found) return;
        gg_sleep_ms(10);
    }
    CHECKF(false, "%s was never mapped by process %ld", path, (long)pid);
#else
    (void)pid, (void)path;
    gg_sleep_ms(2000);
#endif
}

/* `ggembed embed` on a model truncated while it runs: exit status 4 and a
 * line naming the file (by the check or by the SIGBUS guard). */
static void test_embed_cli_truncated(const char *deep) {
    char in[700];
    snprintf(in, sizeof in, "%s/unix-long-%ld.txt", check_tmp_dir(), (long)getpid());
    FILE *f = fopen(in, "w");
    if (!f) return (void)CHECKF(false, "cannot write %s", in);
    for (int line = 0; line < 64; line++) {
        for (int w = 0; w < 600; w++) fputs(w % 2 ? "lorem " : "ipsum ", f);
        fputc('\n', f);
    }
    fclose(f);
    char *argv[] = {getenv("GGEMBED_BIN"), "embed", "-m", (char *)deep, "--threads", "1", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, changing_err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    CHECK(rc == 0);
    if (rc == 0) {
        wait_mapped(pid, deep);
        gg_sleep_ms(100);
        CHECK(truncate(deep, 0) == 0);
        CHECK_EQ_INT(wait_status(pid, 60), 4);
        CHECK(log_has(deep));
    }
    unlink(in);
}

/* The file truncated while a long request runs: exit status 4 with a line
 * naming the file, no socket file left. A pass reads every layer's weights,
 * so a truncation inside one faults (the SIGBUS guard); one between passes
 * is found by the check; the test accepts either and says which. */
static void test_truncated(void) {
    char deep[700];
    snprintf(deep, sizeof deep, "%s/unix-deep-%ld.gguf", check_tmp_dir(), (long)getpid());
    char vocab_file[600];
    snprintf(vocab_file, sizeof vocab_file, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    char *argv[] = {getenv("GGEMBED_BIN"),
                    "mkmodel",
                    "--preset",
                    "bert-tiny",
                    "--vocab",
                    vocab_file,
                    "--layers",
                    "24",
                    "--ctx",
                    "512",
                    "-o",
                    deep,
                    NULL};
    if (run(argv, NULL, "/dev/null") != 0)
        return (void)CHECKF(false, "mkmodel of the deep model failed");
    static const char *const extra[] = {"--threads", "1", NULL};
    server_stderr = changing_err;
    pid_t pid = start_server_with(deep, extra, NULL);
    server_stderr = NULL;
    CHECKF(pid > 0, "server did not start");
    gg_client *c = pid > 0 ? gg_client_open(sock_path, false, NULL) : NULL;
    CHECK(pid <= 0 || c != NULL);
    if (c) {
        enum { N = 64 };
        static char text[4000];
        for (int i = 0; text[0] == 0 || strlen(text) < 3500; i++)
            strcat(text, i % 2 ? "lorem " : "ipsum ");
        gg_str store[N];
        for (int i = 0; i < N; i++) store[i] = (gg_str){text, (uint32_t)strlen(text)};
        gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, N, store};
        gg_buf b = {0}, r = {0};
        gg_encode_embed(&b, &q);
        uint32_t id = gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
        CHECK(id != 0);
        gg_sleep_ms(300);
        CHECK(truncate(deep, 0) == 0);
        uint8_t type = 0;
        uint32_t rid;
        bool answered = gg_client_recv(c, &type, &rid, &r);
        uint16_t code = 0;
        gg_str msg;
        if (answered)
            CHECK(type == GG_MSG_ERROR && !gg_decode_error(r.data, r.len, &code, &msg, NULL) &&
                  code == GG_PE_MODEL_CHANGED);
        gg_buf_free(&b);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    if (pid > 0) {
        int status = wait_status(pid, 60);
        CHECK_EQ_INT(status, 4);
        CHECK(log_has(deep));
        CHECK(access(sock_path, F_OK) != 0);
        size_t n;
        char *log = (char *)check_read_file(changing_err, &n);
        if (status == 4)
            printf("test_server_unix: truncation during a pass was caught by %s\n",
                   log && strstr(log, "reading the mapped model file failed") ? "the SIGBUS guard"
                                                                              : "the check");
        else if (log) printf("test_server_unix: the server's log after the truncation:\n%s\n", log);
        free(log);
    }
    /* `ggembed embed` on a fresh copy of the same model */
    if (run(argv, NULL, "/dev/null") == 0) test_embed_cli_truncated(deep);
    else CHECKF(false, "mkmodel of the deep model failed");
    unlink(deep);
}

static void test_model_changed(void) {
    snprintf(changing_path, sizeof changing_path, "%s/unix-changing-%ld.gguf", check_tmp_dir(),
             (long)getpid());
    snprintf(other_path, sizeof other_path, "%s/unix-other-%ld.gguf", check_tmp_dir(), (long)getpid());
    snprintf(changing_err, sizeof changing_err, "%s/unix-changing-%ld.log", check_tmp_dir(),
             (long)getpid());
    char vocab_file[600];
    snprintf(vocab_file, sizeof vocab_file, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    char *argv[] = {getenv("GGEMBED_BIN"),
                    "mkmodel",
                    "--preset",
                    "bert-tiny",
                    "--vocab",
                    vocab_file,
                    "--seed",
                    "77",
                    "-o",
                    other_path,
                    NULL};
    int rc = run(argv, NULL, "/dev/null");
    CHECKF(rc == 0, "mkmodel exited with %d", rc);
    if (rc == 0) {
        test_overwritten();
        test_truncated();
    }
    unlink(changing_path);
    unlink(other_path);
    unlink(changing_err);
}

static void model_tests(void) {
    memset(long_text, 0, sizeof long_text);
    for (int i = 0; i < 300; i++) strcat(long_text, i % 2 ? "word " : "token ");
    mtexts[NM - 1] = long_text;
    snprintf(tiny_path, sizeof tiny_path, "%s/unix-tiny-%ld.gguf", check_tmp_dir(), (long)getpid());
    char vocab_file[600];
    snprintf(vocab_file, sizeof vocab_file, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    char *argv[] = {getenv("GGEMBED_BIN"),
                    "mkmodel",
                    "--preset",
                    "bert-tiny",
                    "--vocab",
                    vocab_file,
                    "-o",
                    tiny_path,
                    NULL};
    int rc = argv[0] ? run(argv, NULL, "/dev/null") : -1;
    CHECKF(rc == 0, "mkmodel exited with %d", rc);
    if (rc != 0 || !embed_reference()) return;
    CHECK(refs[NM - 1].truncated == 1 && refs[0].dims > 0);
    test_embed_equal();
    test_busy_timeout();
    test_sigterm_inflight();
    test_poison();
    test_model_changed();
    unlink(tiny_path);
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
    model_tests();
    return check_done("test_server_unix");
}
#endif
