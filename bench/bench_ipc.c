/*
 * bench_ipc.c - what a request to `ggembed serve` costs over each local
 * transport of this platform (Unix socket and stdio; named pipe and stdio
 * on Windows): round-trip latency of HEALTH and of a one-text EMBED
 * (median and p99 over up to N sequential requests), and throughput of
 * one-text EMBEDs with 1, 4 and 16 concurrent clients. For stdio, which
 * has a single client, "clients" are requests kept in flight on the one
 * stream. Every loop stops at its request count or its time budget,
 * whichever comes first.
 *
 *   bench_ipc [--ggembed PATH] [--model FILE] [-n N] [--seconds S]
 *
 * Without --model it writes a bert-tiny model with `ggembed mkmodel`.
 * The server runs with --threads 1, so the numbers show the transport and
 * protocol, not the machine's core count.
 */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform.h"
#include "platform/transport.h"
#include "server/proto.h"

enum { T_SOCKET, T_PIPE, T_STDIO };
static const char *transport_name[] = {"unix-socket", "named-pipe", "stdio"};

/* ---- one stream to the server ---- */

typedef struct chan {
    gg_conn *conn; /* socket or pipe; NULL for stdio */
#ifdef _WIN32
    HANDLE to, from;
#else
    int to, from;
#endif
    gg_reader rd;
    uint8_t buf[65536];
    size_t len, off;
    uint32_t next_id;
} chan;

static bool ch_write(chan *c, const void *p, size_t n) {
    if (c->conn) return gg_conn_write(c->conn, p, n);
    const char *s = p;
    while (n > 0) {
#ifdef _WIN32
        DWORD k = 0;
        if (!WriteFile(c->to, s, (DWORD)n, &k, NULL) || k == 0) return false;
#else
        ssize_t k = write(c->to, s, n);
        if (k <= 0) return false;
#endif
        s += k;
        n -= (size_t)k;
    }
    return true;
}

static long ch_read(chan *c, void *p, size_t cap) {
    if (c->conn) return gg_conn_read(c->conn, p, cap);
#ifdef _WIN32
    DWORD k = 0;
    return ReadFile(c->from, p, (DWORD)cap, &k, NULL) ? (long)k : -1;
#else
    return (long)read(c->from, p, cap);
#endif
}

static uint32_t ch_send(chan *c, uint8_t type, const gg_buf *body) {
    uint32_t id = ++c->next_id;
    gg_buf out = {0};
    gg_frames_put(&out, type, id, body ? body->data : NULL, body ? body->len : 0, GG_FRAME_MIN_MAX);
    bool ok = !out.oom && ch_write(c, out.data, out.len);
    gg_buf_free(&out);
    return ok ? id : 0;
}

/* Next answer's type (the body is not kept); false when the stream ended. */
static bool ch_recv(chan *c, uint8_t *type) {
    for (;;) {
        while (c->off < c->len) {
            size_t used;
            gg_message m;
            int rc = gg_reader_feed(&c->rd, c->buf + c->off, c->len - c->off, &used, &m);
            c->off += used;
            if (rc == GG_READ_MALFORMED || rc == GG_READ_TOO_LARGE) return false;
            if (rc == GG_READ_MESSAGE) {
                *type = m.type;
                return true;
            }
        }
        long n = ch_read(c, c->buf, sizeof c->buf);
        if (n <= 0) return false;
        c->len = (size_t)n;
        c->off = 0;
    }
}

static bool ch_hello(chan *c) {
    gg_buf b = {0};
    gg_hello_req h = {1, 1, {"bench_ipc", 9}};
    gg_encode_hello(&b, &h);
    uint8_t type = 0;
    bool ok = ch_send(c, GG_MSG_HELLO, &b) && ch_recv(c, &type) && type == (GG_MSG_REPLY | GG_MSG_HELLO);
    gg_buf_free(&b);
    return ok;
}

static chan *ch_new(void) {
    chan *c = calloc(1, sizeof *c);
    if (c) gg_reader_init(&c->rd, 1u << 30, 1u << 30);
    return c;
}

static void ch_free(chan *c) {
    if (!c) return;
    if (c->conn) gg_conn_close(c->conn);
    gg_reader_free(&c->rd);
    free(c);
}

/* Closes both ends of a stdio stream; the server sees the end of its input. */
static void ch_close_stdio(chan *c) {
#ifdef _WIN32
    CloseHandle(c->to);
    CloseHandle(c->from);
#else
    close(c->to);
    close(c->from);
#endif
}

/* ---- the server process ---- */

typedef struct server {
    int transport;
    char address[600];
#ifdef _WIN32
    HANDLE proc;
#else
    pid_t pid;
#endif
    chan *stdio; /* the one stream of a stdio server */
} server;

static char ggembed_bin[1024];

static chan *connect_chan(server *s) {
    if (s->transport == T_STDIO) return s->stdio;
    chan *c = ch_new();
    if (!c) return NULL;
    c->conn = s->transport == T_SOCKET ? gg_connect_unix(s->address, NULL)
                                       : gg_connect_pipe(s->address, NULL);
    if (!c->conn || !ch_hello(c)) {
        ch_free(c);
        return NULL;
    }
    return c;
}

static void release_chan(server *s, chan *c) {
    if (c != s->stdio) ch_free(c);
}

/* Asks the server to exit: the end of its input for stdio (which stops
 * it), SHUTDOWN over a new connection otherwise. */
static void ask_stop(server *s) {
    if (s->stdio) {
        ch_close_stdio(s->stdio);
        ch_free(s->stdio);
        s->stdio = NULL;
        return;
    }
    chan *c = connect_chan(s);
    uint8_t type;
    if (c && ch_send(c, GG_MSG_SHUTDOWN, NULL)) ch_recv(c, &type);
    release_chan(s, c);
}

#ifdef _WIN32
static bool spawn_server(server *s, const char *model) {
    char cmd[4096];
    const char *how = s->transport == T_PIPE ? "--pipe" : "--stdio";
    snprintf(cmd, sizeof cmd, "\"%s\" serve -m \"%s\" --threads 1 --max-queue 256 %s %s", ggembed_bin,
             model, how, s->transport == T_PIPE ? s->address : "");
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE nul = CreateFileA("NUL", GENERIC_WRITE, FILE_SHARE_WRITE, &sa, OPEN_EXISTING, 0, NULL);
    HANDLE in_r = NULL, in_w = NULL, out_r = NULL, out_w = NULL;
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdError = nul;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = nul;
    if (s->transport == T_STDIO) {
        if (!CreatePipe(&in_r, &in_w, &sa, 0) || !CreatePipe(&out_r, &out_w, &sa, 0)) return false;
        SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
        SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
        si.hStdInput = in_r;
        si.hStdOutput = out_w;
    }
    PROCESS_INFORMATION pi;
    BOOL ok = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
    if (nul != INVALID_HANDLE_VALUE) CloseHandle(nul);
    if (in_r) CloseHandle(in_r), CloseHandle(out_w);
    if (!ok) return false;
    CloseHandle(pi.hThread);
    s->proc = pi.hProcess;
    if (s->transport == T_STDIO) {
        s->stdio = ch_new();
        s->stdio->to = in_w;
        s->stdio->from = out_r;
    }
    return true;
}

static int stop_server(server *s) {
    ask_stop(s);
    DWORD code = 1;
    if (WaitForSingleObject(s->proc, 30000) != WAIT_OBJECT_0) TerminateProcess(s->proc, 9);
    GetExitCodeProcess(s->proc, &code);
    CloseHandle(s->proc);
    return (int)code;
}
#else
static bool spawn_server(server *s, const char *model) {
    const char *how = s->transport == T_SOCKET ? "--socket" : "--stdio";
    char *argv[] = {ggembed_bin,   "serve",
                    "-m",          (char *)model,
                    "--threads",   "1",
                    "--max-queue", "256",
                    (char *)how,   s->transport == T_SOCKET ? s->address : NULL,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (s->transport == T_STDIO) {
        if (pipe(in) || pipe(out)) return false;
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, in[1]);
        posix_spawn_file_actions_addclose(&fa, out[0]);
    }
    int rc = posix_spawn(&s->pid, ggembed_bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (in[0] >= 0) close(in[0]), close(out[1]);
    if (rc != 0) return false;
    if (s->transport == T_STDIO) {
        s->stdio = ch_new();
        s->stdio->to = in[1];
        s->stdio->from = out[0];
    }
    return true;
}

static int stop_server(server *s) {
    ask_stop(s);
    int status = 0;
    waitpid(s->pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
#endif

/* Starts the server and waits (up to 30 s) until it answers HELLO. */
static bool start_server(server *s, const char *model) {
    if (!spawn_server(s, model)) return false;
    if (s->transport == T_STDIO) return ch_hello(s->stdio);
    for (int i = 0; i < 3000; i++) {
        chan *c = connect_chan(s);
        if (c) {
            release_chan(s, c);
            return true;
        }
        gg_sleep_ms(10);
    }
    return false;
}

/* ---- measurements ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct latency_row {
    int n;
    double p50, p99;
} latency_row;

/* Sequential round trips on one connection. */
static latency_row latency(server *s, uint8_t type, const gg_buf *body, int n, double seconds) {
    latency_row r = {0, 0, 0};
    chan *c = connect_chan(s);
    double *us = malloc((size_t)n * sizeof *us);
    if (!c || !us) {
        free(us);
        release_chan(s, c);
        return r;
    }
    int64_t end = gg_now_ns() + (int64_t)(seconds * 1e9);
    for (int i = 0; i < n && gg_now_ns() < end; i++) {
        int64_t t0 = gg_now_ns();
        uint8_t got;
        if (!ch_send(c, type, body) || !ch_recv(c, &got) || got != (GG_MSG_REPLY | type)) break;
        us[r.n++] = (double)(gg_now_ns() - t0) / 1e3;
    }
    if (r.n > 0) {
        qsort(us, (size_t)r.n, sizeof *us, cmp_double);
        r.p50 = us[(r.n - 1) / 2];
        int k = (int)((99LL * r.n + 99) / 100);
        r.p99 = us[k > 0 ? k - 1 : 0];
    }
    free(us);
    release_chan(s, c);
    return r;
}

typedef struct load_arg {
    server *s;
    int window; /* requests kept in flight on this stream */
    const gg_buf *body;
    int64_t end;
    long max, done, errors;
} load_arg;

static void load_main(void *p) {
    load_arg *a = p;
    chan *c = connect_chan(a->s);
    if (!c) {
        a->errors++;
        return;
    }
    long sent = 0, pending = 0;
    for (; sent < a->window && sent < a->max; sent++, pending++)
        if (!ch_send(c, GG_MSG_EMBED, a->body)) break;
    while (pending > 0) {
        uint8_t type;
        if (!ch_recv(c, &type)) {
            a->errors += pending;
            break;
        }
        pending--;
        if (type == (GG_MSG_REPLY | GG_MSG_EMBED)) a->done++;
        else a->errors++;
        if (sent < a->max && gg_now_ns() < a->end) {
            if (!ch_send(c, GG_MSG_EMBED, a->body)) break;
            sent++, pending++;
        }
    }
    release_chan(a->s, c);
}

typedef struct load_row {
    double rps;
    long done, errors;
} load_row;

static load_row load(server *s, int clients, const gg_buf *body, long max, double seconds) {
    load_row r = {0, 0, 0};
    int streams = s->transport == T_STDIO ? 1 : clients;
    load_arg args[16];
    gg_thread *th[16];
    int64_t t0 = gg_now_ns();
    for (int i = 0; i < streams; i++) {
        args[i] = (load_arg){s,
                             s->transport == T_STDIO ? clients : 1,
                             body,
                             t0 + (int64_t)(seconds * 1e9),
                             max / streams,
                             0,
                             0};
        th[i] = gg_thread_start(load_main, &args[i], NULL);
    }
    for (int i = 0; i < streams; i++) {
        if (th[i]) gg_thread_join(th[i]);
        else args[i].errors++;
        r.done += args[i].done;
        r.errors += args[i].errors;
    }
    double secs = (double)(gg_now_ns() - t0) / 1e9;
    r.rps = secs > 0 ? (double)r.done / secs : 0;
    return r;
}

/* ---- main ---- */

static void usage(void) {
    fprintf(stderr, "usage: bench_ipc [--ggembed PATH] [--model FILE] [-n N] [--seconds S]\n");
}

static bool make_model(char *out, size_t n) {
    char tmp[512];
#ifdef _WIN32
    DWORD k = GetTempPathA(sizeof tmp, tmp);
    if (k == 0 || k >= sizeof tmp) snprintf(tmp, sizeof tmp, ".\\");
    snprintf(out, n, "%sggembed-bench-ipc-%lu.gguf", tmp, (unsigned long)GetCurrentProcessId());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"%s\" mkmodel --preset bert-tiny -o \"%s\"", ggembed_bin, out);
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return false;
    DWORD code = 1;
    WaitForSingleObject(pi.hProcess, 120000);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    return code == 0;
#else
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s", t && *t ? t : "/tmp");
    snprintf(out, n, "%s/ggembed-bench-ipc-%ld.gguf", tmp, (long)getpid());
    char *argv[] = {ggembed_bin, "mkmodel", "--preset", "bert-tiny", "-o", out, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, ggembed_bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = 1;
    if (rc == 0) waitpid(pid, &status, 0);
    return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
#endif
}

/* ggembed beside this program's directory's parent (the build tree). */
static void default_bin(const char *argv0) {
    const char *slash = strrchr(argv0, '/');
#ifdef _WIN32
    const char *bs = strrchr(argv0, '\\');
    if (!slash || (bs && bs > slash)) slash = bs;
    const char *exe = "ggembed.exe";
#else
    const char *exe = "ggembed";
#endif
    if (slash) snprintf(ggembed_bin, sizeof ggembed_bin, "%.*s/../%s", (int)(slash - argv0), argv0, exe);
    else snprintf(ggembed_bin, sizeof ggembed_bin, "../%s", exe);
}

int main(int argc, char **argv) {
    const char *model = NULL;
    long n = 2000;
    double seconds = 3;
    default_bin(argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--ggembed") && v) snprintf(ggembed_bin, sizeof ggembed_bin, "%s", v), i++;
        else if (!strcmp(argv[i], "--model") && v) model = v, i++;
        else if (!strcmp(argv[i], "-n") && v) n = atol(v), i++;
        else if (!strcmp(argv[i], "--seconds") && v) seconds = atof(v), i++;
        else return usage(), 2;
    }
    if (n < 1 || n > 1000000 || !(seconds > 0 && seconds <= 600)) return usage(), 2;
#ifndef _WIN32
    signal(SIGPIPE, SIG_IGN);
#endif
    char made[600] = "";
    if (!model) {
        if (!make_model(made, sizeof made)) {
            fprintf(stderr, "bench_ipc: cannot run '%s mkmodel' (use --ggembed PATH)\n", ggembed_bin);
            return 1;
        }
        model = made;
    }
#ifdef _WIN32
    int transports[] = {T_PIPE, T_STDIO};
#else
    int transports[] = {T_SOCKET, T_STDIO};
    char dir[512];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ggembed-bench-ipc-%ld", t && *t ? t : "/tmp", (long)getpid());
    mkdir(dir, 0700);
#endif
    gg_buf embed = {0};
    gg_str text = {"The quick brown fox jumps over the lazy dog.", 44};
    gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &text};
    gg_encode_embed(&embed, &q);

    printf("ggembed IPC benchmark: server --threads 1, model %s\n", model);
    printf("latency: up to %ld sequential requests or %.1f s each; load: one-text EMBED, up to %.1f s "
           "or %ld requests per row\n\n",
           n, seconds, seconds, 20 * n);
    printf("%-12s %-8s %8s %10s %10s | %7s %10s %10s %6s\n", "transport", "request", "n", "median_us",
           "p99_us", "clients", "req/s", "texts/s", "errors");
    int status = 0;
    for (size_t ti = 0; ti < sizeof transports / sizeof transports[0]; ti++) {
        server s;
        memset(&s, 0, sizeof s);
        s.transport = transports[ti];
#ifdef _WIN32
        snprintf(s.address, sizeof s.address, "ggembed-bench-ipc-%lu",
                 (unsigned long)GetCurrentProcessId());
#else
        snprintf(s.address, sizeof s.address, "%s/s", dir);
#endif
        const char *name = transport_name[s.transport];
        if (!start_server(&s, model)) {
            printf("%-12s (the server did not start)\n", name);
            status = 1;
            continue;
        }
        latency_row h = latency(&s, GG_MSG_HEALTH, NULL, (int)n, seconds);
        latency_row e = latency(&s, GG_MSG_EMBED, &embed, (int)n, seconds);
        int clients[] = {1, 4, 16};
        load_row l[3];
        for (int k = 0; k < 3; k++) l[k] = load(&s, clients[k], &embed, 20 * n, seconds);
        printf("%-12s %-8s %8d %10.1f %10.1f | %7d %10.0f %10.0f %6ld\n", name, "HEALTH", h.n, h.p50,
               h.p99, clients[0], l[0].rps, l[0].rps, l[0].errors);
        printf("%-12s %-8s %8d %10.1f %10.1f | %7d %10.0f %10.0f %6ld\n", "", "EMBED", e.n, e.p50, e.p99,
               clients[1], l[1].rps, l[1].rps, l[1].errors);
        printf("%-12s %-8s %8s %10s %10s | %7d %10.0f %10.0f %6ld\n", "", "", "", "", "", clients[2],
               l[2].rps, l[2].rps, l[2].errors);
        fflush(stdout);
        int rc = stop_server(&s);
        if (rc != 0 || h.n == 0 || e.n == 0) {
            printf("%-12s (failed: exit status %d)\n", name, rc);
            status = 1;
        }
    }
    printf(
        "\nstdio has one client: its 'clients' are EMBED requests kept in flight on the one stream.\n");
    gg_buf_free(&embed);
#ifdef _WIN32
    if (made[0]) DeleteFileA(made);
#else
    if (made[0]) unlink(made);
    rmdir(dir);
#endif
    return status;
}
