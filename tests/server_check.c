/*
 * server_check.c - the server test helpers of server_check.h.
 */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L /* kill, waitpid, posix_spawn */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif
#include <stdio.h>
#include "server_check.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "platform/platform.h"
#include "server/client.h"

void check_transport_refused(gg_listener *(*listen)(const char *, gg_err *),
                             gg_conn *(*connect)(const char *, gg_err *), const char *name,
                             const char *listen_hint, const char *connect_hint) {
    gg_err e;
    e.msg[0] = '\0';
    gg_listener *l = listen(name, &e);
    CHECKF(l == NULL && strstr(e.msg, listen_hint) != NULL, "listen refused: %s", e.msg);
    if (l) gg_listener_close(l);
    e.msg[0] = '\0';
    gg_conn *c = connect(name, &e);
    CHECKF(c == NULL && strstr(e.msg, connect_hint) != NULL, "connect refused: %s", e.msg);
    if (c) gg_conn_close(c);
}

int tokenize_answer_errors(const ggembed_model *m, const char *text, const uint8_t *body, size_t len) {
    int32_t ids[256];
    size_t n = 0;
    int bad = 0;
    if (ggembed_tokenize(m, text, strlen(text), 1, ids, GG_ARRAY_LEN(ids), &n, NULL, 0) != GGEMBED_OK ||
        n > GG_ARRAY_LEN(ids))
        return 1;
    gg_rd rd;
    gg_rd_init(&rd, body, len);
    if (gg_rd_u32(&rd) != n) return 1;
    for (size_t k = 0; k < n; k++)
        if ((int32_t)gg_rd_u32(&rd) != ids[k]) bad++;
    return bad + !gg_rd_done(&rd);
}

void check_garbage_refused(const char *address, bool is_pipe) {
    gg_err e;
    gg_conn *g = is_pipe ? gg_connect_pipe(address, &e) : gg_connect_unix(address, &e);
    CHECKF(g != NULL, "connect: %s", g ? "" : e.msg);
    if (!g) return;
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    CHECK(gg_conn_write(g, junk, sizeof junk));
    uint8_t buf[256];
    long n = gg_conn_read(g, buf, sizeof buf);
    CHECK(n >= 12 && buf[4] == GG_MSG_ERROR);
    /* the server must close its end, not wait for the client to */
    while (n > 0) n = gg_conn_read(g, buf, sizeof buf);
    CHECK_EQ_INT(n, 0);
    gg_conn_close(g);
}

/* ---- mixed clients ---- */

typedef struct mixed_client {
    const mixed_clients *m;
    int me, errors;
} mixed_client;

typedef struct sent {
    uint8_t kind;
    bool seen;
    size_t text;
} sent;

static uint8_t kind_of(const mixed_clients *m, int i) {
    if (i % 3 == 0) return GG_MSG_HEALTH;
    return i % 3 == 2 && m->embed_errors ? GG_MSG_EMBED : GG_MSG_TOKENIZE;
}

/* Sends every request; returns the id of the first. */
static uint32_t send_all(const mixed_clients *m, int me, gg_client *c, sent *s) {
    uint32_t first = 0;
    for (int i = 0; i < m->requests; i++) {
        gg_buf b = {0};
        s[i] = (sent){kind_of(m, i), false, (size_t)(me + i) % m->n_texts};
        gg_str text = {m->texts[s[i].text], (uint32_t)strlen(m->texts[s[i].text])};
        if (s[i].kind == GG_MSG_TOKENIZE) {
            gg_tokenize_req q = {1, text};
            gg_encode_tokenize(&b, &q);
        } else if (s[i].kind == GG_MSG_EMBED) {
            gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &text};
            gg_encode_embed(&b, &q);
        }
        uint32_t id = gg_client_send(c, s[i].kind, b.data, b.len);
        if (i == 0) first = id;
        gg_buf_free(&b);
    }
    return first;
}

/* Failures in one answer to the request s. */
static int answer_errors(const mixed_clients *m, const sent *s, uint8_t type, const gg_buf *r) {
    /* EMBED may be refused with BUSY (a small --max-queue): a real answer too */
    if (s->kind == GG_MSG_EMBED && type == GG_MSG_ERROR) {
        uint16_t code = 0;
        gg_str msg;
        gg_decode_error(r->data, r->len, &code, &msg, NULL);
        return code != GG_PE_BUSY;
    }
    if (type != (GG_MSG_REPLY | s->kind)) return 1;
    if (s->kind == GG_MSG_TOKENIZE)
        return tokenize_answer_errors(m->model, m->texts[s->text], r->data, r->len);
    if (s->kind == GG_MSG_EMBED) return m->embed_errors(r->data, r->len, s->text);
    return 0;
}

static int client_errors(const mixed_clients *m, int me) {
    gg_client *c = gg_client_open(m->address, m->is_pipe, NULL);
    sent *s = calloc((size_t)m->requests, sizeof *s);
    int bad = 0;
    if (!c || !s) {
        gg_client_close(c);
        free(s);
        return 1000;
    }
    uint32_t first = send_all(m, me, c, s);
    gg_buf r = {0};
    for (int k = 0; k < m->requests; k++) {
        uint8_t type;
        uint32_t id;
        if (!gg_client_recv(c, &type, &id, &r)) {
            bad += m->requests - k;
            break;
        }
        uint32_t i = id - first;
        if (i >= (uint32_t)m->requests || s[i].seen) {
            bad++;
            continue;
        }
        s[i].seen = true;
        bad += answer_errors(m, &s[i], type, &r);
    }
    gg_buf_free(&r);
    gg_client_close(c);
    free(s);
    return bad;
}

static void client_main(void *arg) {
    mixed_client *a = arg;
    a->errors = client_errors(a->m, a->me);
}

int run_mixed_clients(const mixed_clients *m) {
    mixed_client *a = calloc((size_t)m->clients, sizeof *a);
    gg_thread **t = calloc((size_t)m->clients, sizeof *t);
    int bad = 0;
    if (!a || !t) {
        free(a);
        free(t);
        return 1;
    }
    for (int i = 0; i < m->clients; i++) {
        a[i] = (mixed_client){m, i, 0};
        t[i] = gg_thread_start(client_main, &a[i], NULL);
    }
    for (int i = 0; i < m->clients; i++) {
        if (t[i]) gg_thread_join(t[i]);
        else bad++;
        bad += a[i].errors;
    }
    free(a);
    free(t);
    return bad;
}

/* ---- a server child process ---- */

#ifndef _WIN32

extern char **environ;

bool server_proc_start(server_proc *p, const char *model, const char *const *args,
                       const char *const *env) {
    static int serial;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/srv-%ld-%d", check_tmp_dir(), (long)getpid(), serial++);
    mkdir(dir, 0700);
    snprintf(p->address, sizeof p->address, "%s/s.sock", dir);
    p->pid = -1;
    p->is_pipe = false;
    const char *bin = getenv("GGEMBED_BIN");
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)bin, argv[n++] = "serve", argv[n++] = "-m", argv[n++] = (char *)model;
    argv[n++] = "--socket", argv[n++] = p->address;
    for (int i = 0; args && args[i] && n < 39; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    size_t ne = 0, nx = 0;
    while (environ[ne]) ne++;
    while (env && env[nx]) nx++;
    char **envp = calloc(ne + nx + 1, sizeof *envp);
    if (!envp || !bin) return free(envp), false;
    memcpy(envp, environ, ne * sizeof *envp);
    for (size_t i = 0; i < nx; i++) envp[ne + i] = (char *)env[i];
    pid_t pid;
    int rc = posix_spawn(&pid, bin, NULL, NULL, argv, envp);
    free(envp);
    if (rc != 0) return false;
    for (int i = 0; i < 1000; i++) { /* up to 10 s for the socket to answer */
        gg_client *c = gg_client_open(p->address, false, NULL);
        if (c) {
            gg_client_close(c);
            p->pid = (long)pid;
            return true;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) return false;
        gg_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return false;
}

int server_proc_stop(server_proc *p) {
    if (p->pid <= 0) return -1;
    kill((pid_t)p->pid, SIGTERM);
    int status = 0;
    waitpid((pid_t)p->pid, &status, 0);
    p->pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool make_preset_model(const char *path, const char *preset) {
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    char *argv[] = {getenv("GGEMBED_BIN"), "mkmodel", "--preset", (char *)preset, "--vocab", vocab, "-o",
                    (char *)path,          NULL};
    if (!argv[0]) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#else
/* Wine maps the Unix root to Z:; a Windows path is kept. */
static void native_path(char *out, size_t n, const char *p) {
    snprintf(out, n, "%s%s", p[0] == '/' ? "Z:" : "", p);
}

/* Starts `GGEMBED_BIN args` with the given extra environment entries. */
static HANDLE spawn_bin(const char *args, const char *const *env) {
    const char *bin = getenv("GGEMBED_BIN");
    char path[1024], cmd[4096], name[256];
    if (!bin) return NULL;
    native_path(path, sizeof path, bin);
    snprintf(cmd, sizeof cmd, "\"%s\" %s", path, args);
    /* The child inherits this process's environment: set, spawn, unset. */
    for (int i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - env[i]) : 0, env[i]);
        if (eq) SetEnvironmentVariableA(name, eq + 1);
    }
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    BOOL ok = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
    for (int i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - env[i]) : 0, env[i]);
        if (eq) SetEnvironmentVariableA(name, NULL);
    }
    if (!ok) return NULL;
    CloseHandle(pi.hThread);
    return pi.hProcess;
}

bool server_proc_start(server_proc *p, const char *model, const char *const *args,
                       const char *const *env) {
    static int serial;
    p->process = NULL;
    p->is_pipe = true;
    snprintf(p->address, sizeof p->address, "ggembed-test-%lu-%d", (unsigned long)GetCurrentProcessId(),
             serial++);
    char cmd[3072];
    int n = snprintf(cmd, sizeof cmd, "serve -m \"%s\" --pipe %s", model, p->address);
    for (int i = 0; args && args[i] && n > 0 && (size_t)n < sizeof cmd; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", args[i]);
    HANDLE h = spawn_bin(cmd, env);
    if (!h) return false;
    for (int i = 0; i < 1000; i++) { /* up to 10 s for the pipe to answer */
        gg_client *c = gg_client_open(p->address, true, NULL);
        if (c) {
            gg_client_close(c);
            p->process = h;
            return true;
        }
        if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0) break;
        gg_sleep_ms(10);
    }
    TerminateProcess(h, 1);
    CloseHandle(h);
    return false;
}

int server_proc_stop(server_proc *p) {
    if (!p->process) return -1;
    gg_client *c = gg_client_open(p->address, true, NULL);
    if (c) {
        gg_buf r = {0};
        gg_client_call(c, GG_MSG_SHUTDOWN, NULL, 0, &r, NULL, NULL);
        gg_buf_free(&r);
        gg_client_close(c);
    }
    long status = -1;
    DWORD code = 0;
    if (WaitForSingleObject(p->process, 30000) == WAIT_OBJECT_0 && GetExitCodeProcess(p->process, &code))
        status = (long)code;
    else TerminateProcess(p->process, 1);
    CloseHandle(p->process);
    p->process = NULL;
    return (int)status;
}

bool make_preset_model(const char *path, const char *preset) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkmodel --preset %s --vocab \"%s/ggml-vocab-bert-bge.gguf\" -o \"%s\"",
             preset, check_fixtures_dir(), path);
    HANDLE h = spawn_bin(cmd, NULL);
    DWORD code = 1;
    if (!h) return false;
    if (WaitForSingleObject(h, 60000) != WAIT_OBJECT_0) TerminateProcess(h, 1);
    GetExitCodeProcess(h, &code);
    CloseHandle(h);
    return code == 0;
}
#endif

bool make_tiny_model(const char *path) { return make_preset_model(path, "bert-tiny"); }

uint32_t send_embed(gg_client *c, const char *const *texts, uint32_t n, uint32_t deadline_ms,
                    bool truncate, const char *prefix) {
    gg_str store[16];
    if (n > GG_ARRAY_LEN(store)) return 0;
    for (uint32_t i = 0; i < n; i++) store[i] = (gg_str){texts[i], (uint32_t)strlen(texts[i])};
    gg_embed_req q = {deadline_ms,
                      -1,
                      -1,
                      truncate ? 1 : 0,
                      0,
                      0,
                      {prefix ? prefix : "", prefix ? (uint32_t)strlen(prefix) : 0},
                      n,
                      store};
    gg_buf b = {0};
    gg_encode_embed(&b, &q);
    uint32_t id = b.oom ? 0 : gg_client_send(c, GG_MSG_EMBED, b.data, b.len);
    gg_buf_free(&b);
    return id;
}

int answer_error_code(uint8_t type, const gg_buf *r) {
    uint16_t code = 0;
    gg_str msg;
    if (type != GG_MSG_ERROR || gg_decode_error(r->data, r->len, &code, &msg, NULL)) return 0;
    return code;
}

bool ref_embed(ggembed_model *m, const char *text, bool truncate, const char *prefix,
               ref_embedding *ref) {
    const ggembed_info *in = ggembed_get_info(m);
    memset(ref, 0, sizeof *ref);
    ref->dims = in->n_embd;
    ref->v = calloc((size_t)in->n_embd, sizeof *ref->v);
    if (!ref->v) return false;
    ggembed_embed_options o;
    ggembed_embed_options_default(&o);
    o.truncate = truncate ? 1 : 0;
    o.prefix = prefix && *prefix ? prefix : NULL;
    o.prefix_len = prefix ? strlen(prefix) : 0;
    ggembed_text t = {text, strlen(text)};
    ggembed_result res;
    ref->status = ggembed_embed(m, &t, 1, &o, ref->v, &res, NULL, 0);
    ref->tokens = res.n_tokens;
    ref->truncated = res.truncated;
    return ref->status == GGEMBED_OK || ref->status == GGEMBED_E_TOO_LONG;
}

int embed_ok_errors(const uint8_t *body, size_t len, const ref_embedding *const *refs, uint32_t n) {
    gg_embed_ok ok;
    if (gg_decode_embed_ok(body, len, &ok, NULL) || ok.n != n || ok.format != 0) return 1;
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        const ref_embedding *r = refs[i];
        gg_rd rd;
        gg_rd_init(&rd, ok.info + 8 * (size_t)i, 8);
        uint32_t tokens = gg_rd_u32(&rd), flags = gg_rd_u32(&rd);
        if (r->status != GGEMBED_OK || (int)tokens != r->tokens || (int)(flags & 1) != r->truncated ||
            (int)ok.dims != r->dims) {
            bad++;
            continue;
        }
        gg_rd_init(&rd, ok.vectors + 4 * (size_t)i * ok.dims, 4 * (size_t)ok.dims);
        for (uint32_t k = 0; k < ok.dims; k++) {
            float d = gg_rd_f32(&rd) - r->v[k];
            if (d > 1e-5f || d < -1e-5f) {
                bad++;
                break;
            }
        }
    }
    return bad;
}
