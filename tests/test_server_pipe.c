/*
 * test_server_pipe.c - `ggembed serve --pipe` and `--stdio` on Windows
 * (under wine on Linux), as separate processes: a bert-tiny model written
 * by `ggembed mkmodel`; HELLO; TOKENIZE and EMBED answers equal to the
 * library's own ggembed_tokenize/ggembed_embed in this process; clients on
 * several threads with mixed requests matched by id; garbage answered
 * with MALFORMED and then the end of the stream; a second server on the
 * same name refused; SHUTDOWN answered and exit 0; and the stdio
 * transport with bytes a text-mode stream would mangle (CR, LF, ^Z), and
 * its stop at the end of input. The model file changing under the server:
 * Windows refuses to truncate a mapped file (checked, and the answers stay
 * right); overwritten in place, it is answered MODEL_CHANGED and the
 * server exits 4.
 * Windows only.
 */
#ifndef _WIN32
/* Elsewhere: named pipes are refused with a message, never half made. */
#include "check.h"
#include "server_check.h"
int main(void) {
    check_transport_refused(gg_listen_pipe, gg_connect_pipe, "ggembed-test", "Windows", "Windows");
    return check_done("test_server_pipe (named pipes are Windows only)");
}
#else
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "server/client.h"
#include "server_check.h"

static char bin[1024], model_path[1024], pipe_name[128], vocab_native[1024];
static ggembed_model *model;
static const char *texts[] = {"hello world",
                              "The quick brown fox.",
                              "",
                              "na\xc3\xafve caf\xc3\xa9",
                              "a much longer sentence, with punctuation; and numbers 12345!",
                              "line\r\nbreaks\x1a and ^Z"};

/* Wine maps the Unix root to Z:; a Windows path is kept. */
static void native_path(char *out, size_t n, const char *p) {
    snprintf(out, n, "%s%s", p[0] == '/' ? "Z:" : "", p);
}

/* Starts `bin args`; stdin/stdout are the given handles when not NULL. */
static HANDLE spawn(const char *args, HANDLE in, HANDLE out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "\"%s\" %s", bin, args);
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (in || out) {
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = in ? in : GetStdHandle(STD_INPUT_HANDLE);
        si.hStdOutput = out ? out : GetStdHandle(STD_OUTPUT_HANDLE);
        si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    }
    PROCESS_INFORMATION pi;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) return NULL;
    CloseHandle(pi.hThread);
    return pi.hProcess;
}

/* Exit status, or -1 when it did not end within ms. */
static long wait_exit(HANDLE p, DWORD ms) {
    DWORD code = 0;
    if (WaitForSingleObject(p, ms) != WAIT_OBJECT_0) return -1;
    GetExitCodeProcess(p, &code);
    return (long)code;
}

/* Progress on stderr, so a hang shows where it is. */
static void step(const char *what) {
    fprintf(stderr, "test_server_pipe: %s\n", what);
    fflush(stderr);
}

static gg_client *open_client(void) { return gg_client_open(pipe_name, true, NULL); }

static HANDLE start_server_at(const char *model_file, const char *name, const char *extra) {
    char args[2048];
    snprintf(args, sizeof args, "serve -m \"%s\" --pipe %s --max-queue 8 --threads 1 %s", model_file,
             name, extra);
    HANDLE p = spawn(args, NULL, NULL);
    if (!p) return NULL;
    for (int i = 0; i < 3000; i++) { /* up to 30 s: wine can be slow to start */
        gg_client *c = gg_client_open(name, true, NULL);
        if (c) {
            gg_client_close(c);
            return p;
        }
        if (wait_exit(p, 0) >= 0) break;
        gg_sleep_ms(10);
    }
    TerminateProcess(p, 99);
    CloseHandle(p);
    return NULL;
}

static HANDLE start_server_with(const char *extra) {
    return start_server_at(model_path, pipe_name, extra);
}
static HANDLE start_server(void) { return start_server_with(""); }

/* The library's vector for one text, alone. */
static bool expect_vec(const char *t, float *v, int *tokens) {
    ggembed_text x = {t, strlen(t)};
    ggembed_embed_options o;
    ggembed_embed_options_default(&o);
    ggembed_result r;
    if (ggembed_embed(model, &x, 1, &o, v, &r, NULL, 0) != GGEMBED_OK) return false;
    *tokens = r.n_tokens;
    return true;
}

/* Checks an EMBED_OK body against the library, for texts[first..first+n). */
static int check_embed_ok(const uint8_t *body, size_t len, size_t first, size_t n) {
    gg_embed_ok ok;
    if (gg_decode_embed_ok(body, len, &ok, NULL) || ok.n != n || ok.format != 0) return 1;
    int bad = 0;
    float want[4096];
    for (size_t i = 0; i < n; i++) {
        int tokens = 0;
        if (ok.dims > GG_ARRAY_LEN(want) || !expect_vec(texts[first + i], want, &tokens)) return bad + 1;
        gg_rd rd;
        gg_rd_init(&rd, ok.info + 8 * i, 8);
        if ((int)gg_rd_u32(&rd) != tokens) bad++;
        gg_rd_init(&rd, ok.vectors + 4 * i * ok.dims, 4 * (size_t)ok.dims);
        for (uint32_t k = 0; k < ok.dims; k++)
            if (fabsf(gg_rd_f32(&rd) - want[k]) > 1e-6f) {
                bad++;
                break;
            }
    }
    return bad;
}

static void encode_embed(gg_buf *b, size_t first, size_t n, gg_str *store) {
    for (size_t i = 0; i < n; i++)
        store[i] = (gg_str){texts[first + i], (uint32_t)strlen(texts[first + i])};
    gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, (uint32_t)n, store};
    gg_encode_embed(b, &q);
}

static void test_basic(void) {
    gg_err e;
    gg_client *c = gg_client_open(pipe_name, true, &e);
    CHECKF(c != NULL, "connect: %s", c ? "" : e.msg);
    if (!c) return;
    const ggembed_info *in = ggembed_get_info(model);
    CHECK_EQ_INT(c->hello.version, 1);
    CHECK_EQ_INT(c->hello.has_weights, 1);
    CHECK_EQ_INT(c->hello.dims, in->n_embd);
    CHECK_EQ_INT(c->hello.max_queue, 8);
    gg_buf b = {0}, r = {0};
    for (size_t i = 0; i < GG_ARRAY_LEN(texts); i++) {
        gg_tokenize_req q = {1, {texts[i], (uint32_t)strlen(texts[i])}};
        b.len = 0;
        gg_encode_tokenize(&b, &q);
        CHECKF(gg_client_call(c, GG_MSG_TOKENIZE, b.data, b.len, &r, NULL, &e), "tokenize: %s", e.msg);
        CHECKF(tokenize_answer_errors(model, texts[i], r.data, r.len) == 0, "TOKENIZE of text %zu", i);
    }
    /* all texts in one EMBED, then each alone */
    gg_str store[GG_ARRAY_LEN(texts)];
    b.len = 0;
    encode_embed(&b, 0, GG_ARRAY_LEN(texts), store);
    CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, NULL, &e), "embed: %s", e.msg);
    CHECK_EQ_INT(check_embed_ok(r.data, r.len, 0, GG_ARRAY_LEN(texts)), 0);
    for (size_t i = 0; i < GG_ARRAY_LEN(texts); i++) {
        b.len = 0;
        encode_embed(&b, i, 1, store);
        CHECKF(gg_client_call(c, GG_MSG_EMBED, b.data, b.len, &r, NULL, &e), "embed: %s", e.msg);
        CHECK_EQ_INT(check_embed_ok(r.data, r.len, i, 1), 0);
    }
    gg_health_ok h;
    CHECK(gg_client_call(c, GG_MSG_HEALTH, NULL, 0, &r, NULL, &e));
    CHECK(gg_decode_health_ok(r.data, r.len, &h, NULL) == 0 && h.state == 0 && h.connections >= 1);
    int code;
    CHECK(!gg_client_call(c, 0x42, NULL, 0, &r, &code, &e) && code == GG_PE_UNKNOWN_TYPE);
    CHECK(gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, &e));
    CHECK(r.len > 4 && r.data[0] >= 19);
    gg_buf_free(&b);
    gg_buf_free(&r);
    gg_client_close(c);
}

static int embed_errors(const uint8_t *body, size_t len, size_t text) {
    return check_embed_ok(body, len, text, 1);
}

/* 8 clients of 60 requests each, EMBED among them (BUSY allowed: max-queue 8). */
static void test_concurrent(void) {
    mixed_clients m = {pipe_name, true, model, texts, GG_ARRAY_LEN(texts), 8, 60, embed_errors};
    CHECK_EQ_INT(run_mixed_clients(&m), 0);
}

/* Garbage, and clients that vanish mid-request, do not stop the server. */
static void test_abuse(void) {
    gg_err e;
    check_garbage_refused(pipe_name, true);
    /* vanishing right after a request, and after half a frame */
    for (int k = 0; k < 2; k++) {
        gg_client *c = open_client();
        if (!c) continue;
        gg_str store[1];
        gg_buf b = {0};
        encode_embed(&b, 4, 1, store);
        if (k == 0) gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
        else gg_conn_write(c->io, "\x10\x00\x00\x00\x03", 5);
        gg_buf_free(&b);
        gg_client_close(c);
    }
    /* the server still serves */
    gg_client *c = open_client();
    CHECK(c != NULL);
    gg_buf r = {0};
    if (c) CHECK(gg_client_call(c, GG_MSG_HEALTH, NULL, 0, &r, NULL, &e));
    gg_buf_free(&r);
    gg_client_close(c);
}

/* Another server cannot take a live server's name. */
static void test_second_server(void) {
    char args[2048];
    snprintf(args, sizeof args, "serve -m \"%s\" --pipe %s", model_path, pipe_name);
    HANDLE p = spawn(args, NULL, NULL);
    CHECK(p != NULL);
    if (!p) return;
    long rc = wait_exit(p, 60000);
    if (rc < 0) TerminateProcess(p, 99);
    CHECK_EQ_INT(rc, 1);
    CloseHandle(p);
}

static void test_shutdown(HANDLE server) {
    gg_err e;
    gg_client *c = open_client();
    CHECK(c != NULL);
    gg_buf r = {0};
    if (c) CHECKF(gg_client_call(c, GG_MSG_SHUTDOWN, NULL, 0, &r, NULL, &e), "shutdown: %s", e.msg);
    gg_buf_free(&r);
    gg_client_close(c);
    long rc = wait_exit(server, 60000);
    if (rc < 0) TerminateProcess(server, 99);
    CHECK_EQ_INT(rc, 0);
    gg_conn *gone = gg_connect_pipe(pipe_name, &e);
    CHECK(gone == NULL);
    gg_conn_close(gone);
}

/* The next message on a raw connection within ms: its type (0 at the end
 * of the stream, -1 on timeout), id and error code. */
static int next_message(gg_conn *g, gg_reader *rd, int ms, uint32_t *id, uint16_t *code) {
    uint8_t b;
    int64_t until = gg_now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        int64_t left = (until - gg_now_ns()) / 1000000;
        long n = left > 0 ? gg_conn_read_within(g, &b, 1, left) : GG_CONN_TIMEOUT;
        if (n == GG_CONN_TIMEOUT) return -1;
        if (n <= 0) return 0;
        size_t used;
        gg_message m;
        int rc = gg_reader_feed(rd, &b, 1, &used, &m);
        if (rc == GG_READ_MALFORMED) return 0;
        if (rc != GG_READ_MESSAGE) continue;
        *id = m.id;
        gg_str msg;
        *code = 0;
        if (m.type == GG_MSG_ERROR) gg_decode_error(m.body, m.len, code, &msg, NULL);
        return m.type;
    }
}

/* The same connection limit and idle timeout as on sockets: the client
 * beyond --max-connections gets BUSY (id 0) and the end of the stream; a
 * stalled message gets TIMEOUT (id 0) and the end; the server goes on. */
static void test_limits(void) {
    HANDLE p = start_server_with("--max-connections 2 --idle-timeout 1");
    CHECKF(p != NULL, "the limited pipe server did not start");
    if (!p) return;
    gg_client *a = open_client(), *b = open_client();
    CHECK(a != NULL && b != NULL);
    gg_err e;
    gg_conn *g = gg_connect_pipe(pipe_name, &e);
    CHECKF(g != NULL, "connect: %s", g ? "" : e.msg);
    if (g) {
        gg_reader rd;
        gg_reader_init(&rd, 1u << 20, 1u << 20);
        uint32_t id = 99;
        uint16_t code = 0;
        int type = next_message(g, &rd, 10000, &id, &code);
        CHECKF(type == GG_MSG_ERROR && id == 0 && code == GG_PE_BUSY,
               "third client: type %d id %u code %u", type, id, code);
        CHECK_EQ_INT(next_message(g, &rd, 5000, &id, &code), 0);
        gg_reader_free(&rd);
        gg_conn_close(g);
    }
    gg_client_close(b);
    /* a's connection stalls mid-frame */
    if (a) {
        gg_conn_write(a->io, "\x10\x00\x00\x00\x04", 5);
        gg_reader rd;
        gg_reader_init(&rd, 1u << 20, 1u << 20);
        uint32_t id = 99;
        uint16_t code = 0;
        int type = next_message(a->io, &rd, 10000, &id, &code);
        CHECKF(type == GG_MSG_ERROR && id == 0 && code == GG_PE_TIMEOUT,
               "stalled: type %d id %u code %u", type, id, code);
        CHECK_EQ_INT(next_message(a->io, &rd, 5000, &id, &code), 0);
        gg_reader_free(&rd);
        gg_client_close(a);
    }
    /* places freed: a client is served again */
    gg_client *c = NULL;
    for (int i = 0; i < 50 && !c; i++) {
        c = open_client();
        if (!c) gg_sleep_ms(100);
    }
    CHECKF(c != NULL, "a new client is served after the others left");
    gg_buf r = {0};
    if (c) CHECK(gg_client_call(c, GG_MSG_SHUTDOWN, NULL, 0, &r, NULL, &e));
    gg_buf_free(&r);
    gg_client_close(c);
    long rc = wait_exit(p, 60000);
    if (rc < 0) TerminateProcess(p, 99);
    CHECK_EQ_INT(rc, 0);
    CloseHandle(p);
}

/* --stdio: requests on the child's stdin, answers on its stdout; bytes
 * that text mode would change must arrive as sent. End of input stops it. */
static void test_stdio(void) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE in_r, in_w, out_r, out_w;
    if (!CreatePipe(&in_r, &in_w, &sa, 0) || !CreatePipe(&out_r, &out_w, &sa, 0)) {
        CHECK(!"CreatePipe");
        return;
    }
    SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
    char args[2048];
    snprintf(args, sizeof args, "serve -m \"%s\" --stdio --threads 1", model_path);
    HANDLE p = spawn(args, in_r, out_w);
    CloseHandle(in_r);
    CloseHandle(out_w);
    CHECK(p != NULL);
    gg_buf req = {0}, body = {0};
    gg_hello_req h = {1, 1, {"test", 4}};
    gg_encode_hello(&body, &h);
    gg_frames_put(&req, GG_MSG_HELLO, 1, body.data, body.len, GG_FRAME_MIN_MAX);
    size_t last = GG_ARRAY_LEN(texts) - 1; /* CR LF and ^Z */
    gg_str store[GG_ARRAY_LEN(texts)];
    body.len = 0;
    encode_embed(&body, 0, GG_ARRAY_LEN(texts), store);
    gg_frames_put(&req, GG_MSG_EMBED, 2, body.data, body.len, GG_FRAME_MIN_MAX);
    gg_tokenize_req tq = {1, {texts[last], (uint32_t)strlen(texts[last])}};
    body.len = 0;
    gg_encode_tokenize(&body, &tq);
    gg_frames_put(&req, GG_MSG_TOKENIZE, 3, body.data, body.len, GG_FRAME_MIN_MAX);
    DWORD wrote = 0;
    CHECK(WriteFile(in_w, req.data, (DWORD)req.len, &wrote, NULL) && wrote == req.len);
    /* End of input cancels what is still queued (PROTOCOL.md, section 2),
     * so the parent closes stdin once it has its answers; then the server
     * exits. */
    bool in_open = true;
    gg_reader rd;
    gg_reader_init(&rd, 1u << 30, 1u << 30);
    int seen = 0;
    uint8_t buf[65536];
    DWORD got;
    for (;;) {
        if (in_open && seen == 0xe) CloseHandle(in_w), in_open = false;
        if (!ReadFile(out_r, buf, sizeof buf, &got, NULL) || got == 0) break;
        size_t off = 0;
        while (off < got) {
            size_t used;
            gg_message m;
            int rc = gg_reader_feed(&rd, buf + off, got - off, &used, &m);
            off += used;
            if (rc == GG_READ_MALFORMED) {
                CHECK(!"malformed stdout");
                off = got;
            }
            if (rc != GG_READ_MESSAGE) continue;
            seen |= 1 << m.id;
            if (m.id == 1) CHECK_EQ_INT(m.type, GG_MSG_REPLY | GG_MSG_HELLO);
            if (m.id == 2) {
                CHECK_EQ_INT(m.type, GG_MSG_REPLY | GG_MSG_EMBED);
                CHECK_EQ_INT(check_embed_ok(m.body, m.len, 0, GG_ARRAY_LEN(texts)), 0);
            }
            if (m.id == 3) {
                CHECK_EQ_INT(m.type, GG_MSG_REPLY | GG_MSG_TOKENIZE);
                CHECK_EQ_INT(tokenize_answer_errors(model, texts[last], m.body, m.len), 0);
            }
        }
    }
    if (in_open) CloseHandle(in_w);
    CHECK_EQ_INT(seen, 0xe);
    CHECK(!gg_reader_partial(&rd));
    gg_reader_free(&rd);
    CloseHandle(out_r);
    if (p) {
        long rc = wait_exit(p, 60000);
        if (rc < 0) TerminateProcess(p, 99);
        CHECK_EQ_INT(rc, 0);
        CloseHandle(p);
    }
    gg_buf_free(&req);
    gg_buf_free(&body);
}

/* ---- the model file changing under the server ---- */

/* One EMBED of texts[0]: 0 with its answer in *r when answered EMBED_OK,
 * else the error code (-1: no answer). */
static int embed_code(gg_client *c, gg_buf *r) {
    gg_str store[1];
    gg_buf b = {0};
    encode_embed(&b, 0, 1, store);
    int code = -1;
    gg_err e;
    bool ok = gg_client_call(c, GG_MSG_EMBED, b.data, b.len, r, &code, &e);
    gg_buf_free(&b);
    return ok ? 0 : code ? code : -1;
}

/* Overwrites `to` in place with the bytes of `from` (no truncation). */
static bool overwrite_in_place(const char *from, const char *to) {
    size_t n;
    uint8_t *bytes = check_read_file(from, &n);
    FILE *f = bytes ? fopen(to, "r+b") : NULL;
    bool ok = f && fwrite(bytes, 1, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    free(bytes);
    return ok;
}

static void test_model_changed(void) {
    char changing[1024], other[1024], args[4096], name[160];
    snprintf(changing, sizeof changing, "%s.changing.gguf", model_path);
    snprintf(other, sizeof other, "%s.other.gguf", model_path);
    snprintf(name, sizeof name, "%s-changing", pipe_name);
    snprintf(args, sizeof args, "mkmodel --preset bert-tiny --seed 77 --vocab \"%s\" -o \"%s\"",
             vocab_native, other);
    HANDLE mk = spawn(args, NULL, NULL);
    long rc = mk ? wait_exit(mk, 120000) : -2;
    if (mk) CloseHandle(mk);
    CHECKF(rc == 0, "mkmodel exited with %ld", rc);
    if (rc != 0 || !CopyFileA(model_path, changing, FALSE))
        return (void)CHECKF(false, "cannot copy the model");
    HANDLE server = start_server_at(changing, name, "");
    CHECKF(server != NULL, "the server on a copy did not start");
    gg_client *c = server ? gg_client_open(name, true, NULL) : NULL;
    gg_buf r = {0};
    if (c) {
        CHECK(embed_code(c, &r) == 0 && check_embed_ok(r.data, r.len, 0, 1) == 0);
        /* Truncation: refused while the server maps the file. */
        HANDLE h = CreateFileA(changing, GENERIC_WRITE,
                               FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                               OPEN_EXISTING, 0, NULL);
        CHECK(h != INVALID_HANDLE_VALUE);
        bool truncated = h != INVALID_HANDLE_VALUE &&
                         SetFilePointer(h, 4096, NULL, FILE_BEGIN) == 4096 && SetEndOfFile(h);
        if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
        CHECKF(!truncated, "a mapped model was truncated");
        CHECK(embed_code(c, &r) == 0 && check_embed_ok(r.data, r.len, 0, 1) == 0);
        /* Overwritten in place with a model of the same size: allowed, and found. */
        gg_sleep_ms(30);
        CHECK(overwrite_in_place(other, changing));
        int code = embed_code(c, &r);
        CHECKF(code == GG_PE_MODEL_CHANGED, "after the model was overwritten: code %d", code);
        gg_client_close(c);
        rc = wait_exit(server, 60000);
        if (rc < 0) TerminateProcess(server, 99);
        CHECK_EQ_INT(rc, 4);
        printf("test_server_pipe: truncating the mapped model was refused; overwriting it in place gave "
               "MODEL_CHANGED and exit %ld\n",
               rc);
    } else if (server) {
        TerminateProcess(server, 99);
    }
    if (server) CloseHandle(server);
    gg_buf_free(&r);
    DeleteFileA(changing);
    DeleteFileA(other);
}

int main(void) {
    const char *b = getenv("GGEMBED_BIN");
    CHECKF(b != NULL, "GGEMBED_BIN is set");
    if (!b) return check_done("test_server_pipe");
    native_path(bin, sizeof bin, b);
    char out[1024], vocab[1024], args[4096];
    snprintf(out, sizeof out, "%s/pipe-tiny-%lu.gguf", check_tmp_dir(),
             (unsigned long)GetCurrentProcessId());
    native_path(model_path, sizeof model_path, out);
    snprintf(vocab, sizeof vocab, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    native_path(args, sizeof args, vocab);
    snprintf(vocab, sizeof vocab, "%s", args);
    snprintf(vocab_native, sizeof vocab_native, "%s", vocab);
    snprintf(args, sizeof args, "mkmodel --preset bert-tiny --vocab \"%s\" -o \"%s\"", vocab,
             model_path);
    step("mkmodel");
    HANDLE mk = spawn(args, NULL, NULL);
    long rc = mk ? wait_exit(mk, 120000) : -2;
    if (mk) CloseHandle(mk);
    CHECKF(rc == 0, "mkmodel exited with %ld", rc);
    ggembed_options o;
    ggembed_options_default(&o);
    o.n_threads = 1;
    char err[GGEMBED_ERR_LEN];
    if (rc == 0)
        CHECKF(ggembed_open(model_path, &o, &model, err, sizeof err) == GGEMBED_OK, "open %s: %s",
               model_path, err);
    snprintf(pipe_name, sizeof pipe_name, "ggembed-test-%lu", (unsigned long)GetCurrentProcessId());
    step("start the pipe server");
    HANDLE server = model ? start_server() : NULL;
    CHECKF(!model || server != NULL, "the pipe server did not start");
    if (server) {
        step("basic");
        test_basic();
        step("concurrent");
        test_concurrent();
        step("abuse");
        test_abuse();
        step("second_server");
        test_second_server();
        step("shutdown");
        test_shutdown(server);
        CloseHandle(server);
    }
    if (model) step("limits"), test_limits();
    if (model) step("stdio"), test_stdio();
    if (model) step("model_changed"), test_model_changed();
    if (model) ggembed_close(model);
    DeleteFileA(model_path);
    return check_done("test_server_pipe");
}
#endif
