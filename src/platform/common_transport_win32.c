/*
 * common_transport_win32.c - transport.h for Windows: named pipes
 * (\\.\pipe\NAME, byte mode, duplex, open to the current user only) and
 * stdio; and the console events (Ctrl-C, Ctrl-Break, closing the console
 * window, logoff, system shutdown) that stop a server.
 *
 * Pipe handles are opened for overlapped I/O. The server's reader and
 * writer threads of one connection each own one OVERLAPPED, so a read and
 * a write can be pending on the same handle at once. Every wait is on the
 * I/O's event and the connection's stop event together: gg_conn_shutdown
 * sets the stop event, the waiter cancels its own I/O (CancelIoEx), waits
 * for the cancellation to finish (the kernel owns the buffer until then)
 * and fails.
 *
 * stdin and stdout cannot be assumed overlapped (they may be anonymous
 * pipes, files or a console). Reads of stdin are done by a pump thread
 * that hands the bytes over under a lock, so a reader waits on a condition
 * that gg_conn_shutdown can signal. Writes to stdout are synchronous and a
 * shutdown cancels a blocked one with CancelSynchronousIo.
 */
#ifdef _WIN32
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0601
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: CancelIoEx, CancelSynchronousIo */
#endif
#define WIN32_LEAN_AND_MEAN
#include "transport.h"

#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#ifndef PIPE_REJECT_REMOTE_CLIENTS
#define PIPE_REJECT_REMOTE_CLIENTS 0x00000008
#endif

enum { PIPE_BUFFER = 64 * 1024, IO_MAX = 1 << 30, CONNECT_WAIT_MS = 5000 };

static const char *os_text(DWORD code, char *buf, size_t n) {
    DWORD len = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0,
                               buf, (DWORD)n, NULL);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == '.')) len--;
    if (len == 0) snprintf(buf, n, "Windows error %lu", (unsigned long)code);
    else buf[len] = '\0';
    return buf;
}

static int fail_os(gg_err *e, const char *what, const char *name) {
    DWORD code = GetLastError();
    char text[256];
    return gg_fail(e, "%s '%s': %s", what, name, os_text(code, text, sizeof text));
}

/* \\.\pipe\NAME as UTF-16; a name that already has the prefix is kept. */
static wchar_t *pipe_path(const char *name, gg_err *e) {
    static const char prefix[] = "\\\\.\\pipe\\";
    if (!name || !*name) return gg_fail(e, "the pipe name is empty"), NULL;
    bool has_prefix = !_strnicmp(name, prefix, sizeof prefix - 1);
    size_t n = strlen(name) + (has_prefix ? 0 : sizeof prefix - 1);
    if (n > 256) return gg_fail(e, "pipe name '%s' is longer than 256 characters", name), NULL;
    char *full = malloc(n + 1);
    if (!full) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    snprintf(full, n + 1, "%s%s", has_prefix ? "" : prefix, name);
    int wn = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, full, -1, NULL, 0);
    wchar_t *w = wn > 0 ? malloc((size_t)wn * sizeof *w) : NULL;
    if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, full, -1, w, wn) != wn) {
        free(w);
        w = NULL;
    }
    free(full);
    if (!w) gg_fail(e, "pipe name '%s' is not valid UTF-8", name);
    return w;
}

/* ---- connections ---- */

enum { KIND_PIPE, KIND_STDIO };

struct gg_conn {
    int kind;
    HANDLE h;    /* the pipe (KIND_PIPE) */
    HANDLE stop; /* manual reset; set by gg_conn_shutdown */
    HANDLE ev_read, ev_write;
    volatile LONG shut;
    /* KIND_PIPE: transfers under way; the handle is closed by whoever is
     * last once shut down, so the peer sees the end of the stream (after
     * the bytes still buffered) as it would after shutdown() on a socket. */
    int active;
    bool closed;
    /* KIND_STDIO: the thread blocked in WriteFile, for CancelSynchronousIo */
    CRITICAL_SECTION wlock;
    HANDLE writer;
    bool in_write;
};

/* The stdin pump: one per process, since there is one stdin. */
static struct {
    gg_mutex *mu;
    gg_cond *cv;
    gg_thread *thread;
    uint8_t buf[64 * 1024];
    size_t len, off; /* buf[off..len) not yet taken */
    bool eof, failed;
} pump;

static void pump_main(void *arg) {
    (void)arg;
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    for (;;) {
        gg_mutex_lock(pump.mu);
        while (pump.off < pump.len) gg_cond_wait(pump.cv, pump.mu);
        gg_mutex_unlock(pump.mu);
        DWORD got = 0;
        BOOL ok = in && in != INVALID_HANDLE_VALUE &&
                  ReadFile(in, pump.buf, sizeof pump.buf, &got, NULL);
        DWORD err = ok ? 0 : GetLastError();
        gg_mutex_lock(pump.mu);
        if (ok && got > 0) pump.off = 0, pump.len = got;
        else if (ok || err == ERROR_BROKEN_PIPE || err == ERROR_HANDLE_EOF ||
                 err == ERROR_PIPE_NOT_CONNECTED)
            pump.eof = true;
        else pump.failed = true;
        bool done = pump.eof || pump.failed;
        gg_cond_broadcast(pump.cv);
        gg_mutex_unlock(pump.mu);
        if (done) return;
    }
}

static gg_conn *conn_new(int kind, HANDLE h, gg_err *e) {
    gg_conn *c = calloc(1, sizeof *c);
    if (!c) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    c->kind = kind;
    c->h = h;
    c->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    c->ev_read = CreateEventW(NULL, TRUE, FALSE, NULL);
    c->ev_write = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!c->stop || !c->ev_read || !c->ev_write) {
        fail_os(e, "create events for", "connection");
        if (c->stop) CloseHandle(c->stop);
        if (c->ev_read) CloseHandle(c->ev_read);
        if (c->ev_write) CloseHandle(c->ev_write);
        free(c);
        return NULL;
    }
    InitializeCriticalSection(&c->wlock);
    return c;
}

/* Called under wlock: true when the caller must close the handle now. */
static bool pipe_release_locked(gg_conn *c) {
    if (!c->shut || c->active > 0 || c->closed) return false;
    c->closed = true;
    return true;
}

/* One overlapped transfer on the pipe; the stop event cancels it, and so
 * does timeout_ms passing (< 0: never), which returns GG_CONN_TIMEOUT.
 * Returns bytes moved (0 for a zero-byte message), or -1 on error or stop;
 * *eof tells the end of the stream. */
static long pipe_io(gg_conn *c, bool writing, void *buf, DWORD n, bool *eof, int64_t timeout_ms) {
    *eof = false;
    EnterCriticalSection(&c->wlock);
    bool go = !c->shut;
    if (go) c->active++;
    LeaveCriticalSection(&c->wlock);
    if (!go) return -1;
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.hEvent = writing ? c->ev_write : c->ev_read;
    DWORD got = 0;
    long rc = -1;
    bool timed_out = false;
    BOOL ok = writing ? WriteFile(c->h, buf, n, NULL, &ov) : ReadFile(c->h, buf, n, NULL, &ov);
    DWORD err = ok ? 0 : GetLastError();
    if (ok || err == ERROR_IO_PENDING) {
        HANDLE waits[2] = {c->stop, ov.hEvent};
        DWORD wait_ms = timeout_ms < 0 ? INFINITE : (DWORD)GG_MIN(timeout_ms, (int64_t)0x7fffffff);
        DWORD w = WaitForMultipleObjects(2, waits, FALSE, wait_ms);
        if (w != WAIT_OBJECT_0 + 1) {
            /* Stopped or timed out: the kernel owns ov and buf until the
             * cancel is done (and the transfer may have finished meanwhile). */
            CancelIoEx(c->h, &ov);
            ok = GetOverlappedResult(c->h, &ov, &got, TRUE);
            err = ok ? 0 : GetLastError();
            if (w == WAIT_TIMEOUT && !ok && err == ERROR_OPERATION_ABORTED) timed_out = true;
            else if (w != WAIT_TIMEOUT) ok = FALSE, err = ERROR_OPERATION_ABORTED;
        } else {
            ok = GetOverlappedResult(c->h, &ov, &got, FALSE);
            err = ok ? 0 : GetLastError();
        }
    }
    if (ok) rc = (long)got;
    else if (timed_out) rc = GG_CONN_TIMEOUT;
    else if (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED || err == ERROR_NO_DATA ||
             err == ERROR_HANDLE_EOF)
        *eof = true;
    EnterCriticalSection(&c->wlock);
    c->active--;
    bool close_now = pipe_release_locked(c);
    LeaveCriticalSection(&c->wlock);
    if (close_now) CloseHandle(c->h);
    return rc;
}

long gg_conn_read_within(gg_conn *c, void *buf, size_t cap, int64_t timeout_ms) {
    if (cap == 0) return -1;
    int64_t until = timeout_ms >= 0 ? gg_now_ns() + timeout_ms * 1000000 : 0;
    if (c->kind == KIND_PIPE) {
        for (;;) {
            bool eof;
            int64_t left = timeout_ms >= 0 ? GG_MAX((until - gg_now_ns()) / 1000000, 0) : -1;
            long n = pipe_io(c, false, buf, (DWORD)GG_MIN(cap, (size_t)IO_MAX), &eof, left);
            if (eof) return 0;
            if (n != 0) return n;
            /* a zero-byte write by the peer: not the end, read on */
        }
    }
    gg_mutex_lock(pump.mu);
    bool timed_out = false;
    while (pump.off == pump.len && !pump.eof && !pump.failed && !c->shut && !timed_out) {
        if (timeout_ms < 0) {
            gg_cond_wait(pump.cv, pump.mu);
            continue;
        }
        int64_t left = until - gg_now_ns();
        if (left <= 0) timed_out = true;
        else gg_cond_timedwait(pump.cv, pump.mu, left);
    }
    long n;
    if (c->shut) n = -1;
    else if (timed_out) n = GG_CONN_TIMEOUT;
    else if (pump.off < pump.len) {
        size_t k = GG_MIN(cap, pump.len - pump.off);
        memcpy(buf, pump.buf + pump.off, k);
        pump.off += k;
        if (pump.off == pump.len) gg_cond_broadcast(pump.cv); /* the pump may read again */
        n = (long)k;
    } else n = pump.eof ? 0 : -1;
    gg_mutex_unlock(pump.mu);
    return n;
}

long gg_conn_read(gg_conn *c, void *buf, size_t cap) { return gg_conn_read_within(c, buf, cap, -1); }

static bool stdio_write(gg_conn *c, const char *p, size_t n) {
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    HANDLE self = NULL;
    if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(), GetCurrentProcess(), &self, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        self = NULL;
    bool ok = out && out != INVALID_HANDLE_VALUE;
    while (ok && n > 0) {
        EnterCriticalSection(&c->wlock);
        ok = !c->shut;
        c->writer = self;
        c->in_write = ok;
        LeaveCriticalSection(&c->wlock);
        DWORD k = 0;
        if (ok) ok = WriteFile(out, p, (DWORD)GG_MIN(n, (size_t)PIPE_BUFFER), &k, NULL) && k > 0;
        EnterCriticalSection(&c->wlock);
        c->in_write = false;
        c->writer = NULL;
        LeaveCriticalSection(&c->wlock);
        p += k;
        n -= k;
    }
    if (self) CloseHandle(self);
    return ok && !c->shut;
}

bool gg_conn_write(gg_conn *c, const void *buf, size_t n) {
    if (c->kind == KIND_STDIO) return stdio_write(c, buf, n);
    const char *p = buf;
    while (n > 0) {
        bool eof;
        long k = pipe_io(c, true, (void *)p, (DWORD)GG_MIN(n, (size_t)IO_MAX), &eof, -1);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

void gg_conn_shutdown(gg_conn *c) {
    EnterCriticalSection(&c->wlock);
    InterlockedExchange(&c->shut, 1);
    SetEvent(c->stop);
    bool close_now = c->kind == KIND_PIPE && pipe_release_locked(c);
    LeaveCriticalSection(&c->wlock);
    if (close_now) CloseHandle(c->h);
    if (c->kind != KIND_STDIO) return;
    gg_mutex_lock(pump.mu);
    gg_cond_broadcast(pump.cv);
    gg_mutex_unlock(pump.mu);
    /* A write blocked on a full stdout: cancel it, retrying for a while in
     * case the writer had not reached WriteFile yet when we looked. */
    for (int i = 0; i < 200; i++) {
        EnterCriticalSection(&c->wlock);
        bool busy = c->in_write;
        if (busy && c->writer) CancelSynchronousIo(c->writer);
        LeaveCriticalSection(&c->wlock);
        if (!busy) break;
        Sleep(1);
    }
}

void gg_conn_close(gg_conn *c) {
    if (!c) return;
    /* Closing (not DisconnectNamedPipe) leaves written bytes readable by
     * the peer until it has read them. */
    if (c->kind == KIND_PIPE && !c->closed) CloseHandle(c->h);
    CloseHandle(c->stop);
    CloseHandle(c->ev_read);
    CloseHandle(c->ev_write);
    DeleteCriticalSection(&c->wlock);
    free(c);
}

/* A refusal is short and the pipe new: the write completes at once into
 * the pipe's buffer; a client that does not take it within a moment loses
 * nothing it could use. */
void gg_conn_refuse(gg_conn *c, const void *msg, size_t n) {
    if (!c) return;
    if (n && c->kind == KIND_PIPE) {
        bool eof;
        pipe_io(c, true, (void *)msg, (DWORD)n, &eof, 200);
    } else if (n) {
        gg_conn_write(c, msg, n);
    }
    gg_conn_close(c);
}

uint32_t gg_conn_limit_default(void) {
    return GG_CONN_LIMIT_CAP;
} /* handles are not limited per process */

/* ---- the current user's security descriptor ---- */

typedef struct user_sd {
    void *token_user; /* TOKEN_USER, whose Sid is the user */
    ACL *acl;
    SECURITY_DESCRIPTOR sd;
    SECURITY_ATTRIBUTES sa;
} user_sd;

/* Owner: the user of this process's token; DACL: one entry that grants
 * that user full access. Nobody else (not even other administrators'
 * default rights through the default DACL) may open the pipe. */
static bool user_sd_init(user_sd *u, gg_err *e) {
    memset(u, 0, sizeof *u);
    HANDLE token = NULL;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return fail_os(e, "open the process token for", "pipe security"), false;
    DWORD need = 0;
    GetTokenInformation(token, TokenUser, NULL, 0, &need);
    u->token_user = need ? malloc(need) : NULL;
    bool ok = u->token_user && GetTokenInformation(token, TokenUser, u->token_user, need, &need);
    if (!ok) fail_os(e, "read the user of", "the process token");
    CloseHandle(token);
    if (!ok) {
        free(u->token_user);
        return false;
    }
    PSID sid = ((TOKEN_USER *)u->token_user)->User.Sid;
    DWORD acl_size = sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) - sizeof(DWORD) + GetLengthSid(sid);
    acl_size = (acl_size + 3) & ~3u;
    u->acl = malloc(acl_size);
    ok = u->acl && InitializeAcl(u->acl, acl_size, ACL_REVISION) &&
         AddAccessAllowedAce(u->acl, ACL_REVISION, GENERIC_ALL, sid) &&
         InitializeSecurityDescriptor(&u->sd, SECURITY_DESCRIPTOR_REVISION) &&
         SetSecurityDescriptorOwner(&u->sd, sid, FALSE) &&
         SetSecurityDescriptorDacl(&u->sd, TRUE, u->acl, FALSE);
    if (!ok) {
        fail_os(e, "build the security descriptor of", "the pipe");
        free(u->acl);
        free(u->token_user);
        return false;
    }
    u->sa.nLength = sizeof u->sa;
    u->sa.lpSecurityDescriptor = &u->sd;
    u->sa.bInheritHandle = FALSE;
    return true;
}

static void user_sd_free(user_sd *u) {
    free(u->acl);
    free(u->token_user);
}

/* ---- listeners ---- */

struct gg_listener {
    bool is_stdio, stdio_given, has_sec;
    char *name; /* as given, for messages */
    wchar_t *path;
    user_sd sec;
    HANDLE next;      /* the instance waiting for the next client */
    uint8_t *refusal; /* sent to a client turned away inside gg_accept */
    size_t refusal_len;
    int failures; /* instances that could not be made in a row */
    HANDLE stop;  /* manual reset: gg_listener_stop */
    HANDLE ev_connect;
};

static HANDLE new_instance(gg_listener *l, bool first) {
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                      (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
    DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
    HANDLE h = CreateNamedPipeW(l->path, open_mode, pipe_mode, PIPE_UNLIMITED_INSTANCES, PIPE_BUFFER,
                                PIPE_BUFFER, 0, &l->sec.sa);
    return h == INVALID_HANDLE_VALUE ? NULL : h;
}

static void listener_free(gg_listener *l) {
    if (l->next) CloseHandle(l->next);
    if (l->stop) CloseHandle(l->stop);
    if (l->ev_connect) CloseHandle(l->ev_connect);
    if (l->has_sec) user_sd_free(&l->sec);
    free(l->refusal);
    free(l->path);
    free(l->name);
    free(l);
}

gg_listener *gg_listen_unix(const char *path, gg_err *e) {
    gg_fail(e, "Unix sockets (--socket %s) are not available on Windows; use --pipe NAME", path);
    return NULL;
}

gg_listener *gg_listen_pipe(const char *name, gg_err *e) {
    gg_listener *l = calloc(1, sizeof *l);
    if (!l) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    l->name = _strdup(name ? name : "");
    l->path = pipe_path(name, e);
    if (!l->name || !l->path) {
        if (!l->name) gg_fail_kind(e, GG_E_MEMORY, "out of memory");
        listener_free(l);
        return NULL;
    }
    if (!user_sd_init(&l->sec, e)) {
        listener_free(l);
        return NULL;
    }
    l->has_sec = true;
    l->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    l->ev_connect = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!l->stop || !l->ev_connect) {
        fail_os(e, "create events for pipe", name);
        listener_free(l);
        return NULL;
    }
    /* The first instance must be new: if a server already has this name,
     * creating it fails instead of joining (and stealing from) that server.
     * Some implementations (wine) do not enforce FILE_FLAG_FIRST_PIPE_INSTANCE,
     * so first knock: an answer, or all instances busy, means a live server. */
    HANDLE probe = CreateFileW(l->path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                               SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
    DWORD probe_err = probe == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    if (probe != INVALID_HANDLE_VALUE) CloseHandle(probe);
    if (probe_err != ERROR_FILE_NOT_FOUND && probe_err != ERROR_PATH_NOT_FOUND) {
        gg_fail(e, "a server is already listening on \\\\.\\pipe\\%s (or another user holds that name)",
                name);
        listener_free(l);
        return NULL;
    }
    l->next = new_instance(l, true);
    if (!l->next) {
        DWORD code = GetLastError();
        if (code == ERROR_ACCESS_DENIED || code == ERROR_PIPE_BUSY)
            gg_fail(e,
                    "a server is already listening on \\\\.\\pipe\\%s (or another user holds that name)",
                    name);
        else fail_os(e, "create pipe", name);
        listener_free(l);
        return NULL;
    }
    return l;
}

gg_listener *gg_listen_stdio(gg_err *e) {
    gg_listener *l = calloc(1, sizeof *l);
    if (!l) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    l->is_stdio = true;
    l->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!l->stop) {
        fail_os(e, "create an event for", "stdio");
        free(l);
        return NULL;
    }
    /* Requests and answers are binary: no CR/LF translation by the C
     * runtime (the transport itself uses ReadFile/WriteFile), and nothing
     * else may write to stdout. */
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    return l;
}

static gg_accept_status accept_stdio(gg_listener *l, gg_conn **out, gg_err *e) {
    if (l->stdio_given) {
        WaitForSingleObject(l->stop, INFINITE);
        return gg_fail(e, "stopped"), GG_ACCEPT_STOPPED;
    }
    l->stdio_given = true;
    if (!pump.mu) {
        pump.mu = gg_mutex_new();
        pump.cv = gg_cond_new();
        if (!pump.mu || !pump.cv) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), GG_ACCEPT_BROKEN;
    }
    gg_conn *c = conn_new(KIND_STDIO, NULL, e);
    if (!c) return GG_ACCEPT_BROKEN;
    if (!pump.thread) {
        /* Never joined: it may stay blocked in ReadFile until the process ends. */
        pump.thread = gg_thread_start(pump_main, NULL, e);
        if (!pump.thread) {
            gg_conn_close(c);
            return GG_ACCEPT_BROKEN;
        }
    }
    *out = c;
    return GG_ACCEPT_OK;
}

void gg_listener_set_refusal(gg_listener *l, const void *msg, size_t n) {
    uint8_t *p = n ? malloc(n) : NULL;
    if (n && !p) return; /* clients are then turned away without a word */
    if (n) memcpy(p, msg, n);
    free(l->refusal);
    l->refusal = p;
    l->refusal_len = n;
}

/* A connected instance that cannot become a connection (out of
 * resources): the client hears the refusal and the instance is closed. */
static void refuse_handle(gg_listener *l, HANDLE h) {
    if (l->refusal_len) {
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
        DWORD got = 0;
        if (ov.hEvent) {
            if (!WriteFile(h, l->refusal, (DWORD)l->refusal_len, NULL, &ov) &&
                GetLastError() == ERROR_IO_PENDING &&
                WaitForSingleObject(ov.hEvent, 200) != WAIT_OBJECT_0)
                CancelIoEx(h, &ov);
            GetOverlappedResult(h, &ov, &got, TRUE);
            CloseHandle(ov.hEvent);
        }
    }
    CloseHandle(h);
}

gg_accept_status gg_accept(gg_listener *l, gg_conn **out, gg_err *e) {
    *out = NULL;
    if (l->is_stdio) return accept_stdio(l, out, e);
    for (;;) {
        if (WaitForSingleObject(l->stop, 0) == WAIT_OBJECT_0)
            return gg_fail(e, "stopped"), GG_ACCEPT_STOPPED;
        if (!l->next && !(l->next = new_instance(l, false))) {
            /* Out of resources: back off (longer each time, up to a second)
             * and let connections close; the server goes on. */
            fail_os(e, "create an instance of pipe", l->name);
            l->failures++;
            if (WaitForSingleObject(l->stop, (DWORD)GG_MIN(10 << GG_MIN(l->failures, 7), 1000)) ==
                WAIT_OBJECT_0)
                return gg_fail(e, "stopped"), GG_ACCEPT_STOPPED;
            return GG_ACCEPT_RETRY;
        }
        l->failures = 0;
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        ov.hEvent = l->ev_connect;
        BOOL ok = ConnectNamedPipe(l->next, &ov);
        DWORD err = ok ? 0 : GetLastError();
        if (!ok && err == ERROR_IO_PENDING) {
            HANDLE waits[2] = {l->stop, l->ev_connect};
            DWORD w = WaitForMultipleObjects(2, waits, FALSE, INFINITE);
            DWORD dummy;
            if (w != WAIT_OBJECT_0 + 1) {
                CancelIoEx(l->next, &ov);
                GetOverlappedResult(l->next, &ov, &dummy, TRUE);
                return gg_fail(e, "stopped"), GG_ACCEPT_STOPPED;
            }
            ok = GetOverlappedResult(l->next, &ov, &dummy, FALSE);
            err = ok ? 0 : GetLastError();
        }
        if (ok || err == ERROR_PIPE_CONNECTED) {
            HANDLE h = l->next;
            /* A new instance at once, so clients never find the name gone. */
            l->next = new_instance(l, false);
            *out = conn_new(KIND_PIPE, h, e);
            if (*out) return GG_ACCEPT_OK;
            refuse_handle(l, h);
            return GG_ACCEPT_RETRY;
        }
        /* ERROR_NO_DATA: the client came and went; others: this instance is
         * unusable. Either way start over with a fresh one. */
        CloseHandle(l->next);
        l->next = NULL;
        if (err != ERROR_NO_DATA) {
            SetLastError(err);
            fail_os(e, "accept on pipe", l->name);
            if (WaitForSingleObject(l->stop, 10) == WAIT_OBJECT_0) return GG_ACCEPT_STOPPED;
            return GG_ACCEPT_RETRY; /* backed off: an error that repeats does not spin */
        }
    }
}

void gg_listener_stop(gg_listener *l) { SetEvent(l->stop); }

void gg_listener_close(gg_listener *l) {
    if (l) listener_free(l);
}

gg_conn *gg_connect_unix(const char *path, gg_err *e) {
    gg_fail(e, "Unix sockets (%s) are not available on Windows; use a pipe", path);
    return NULL;
}

gg_conn *gg_connect_pipe(const char *name, gg_err *e) {
    wchar_t *path = pipe_path(name, e);
    if (!path) return NULL;
    int64_t give_up = gg_now_ns() + (int64_t)CONNECT_WAIT_MS * 1000000;
    HANDLE h;
    for (;;) {
        /* SECURITY_IDENTIFICATION: the server may learn who we are but not
         * act as us. */
        h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
        if (h != INVALID_HANDLE_VALUE) break;
        /* Busy: every instance is taken for a moment, the server is making
         * a new one. */
        if (GetLastError() != ERROR_PIPE_BUSY || gg_now_ns() > give_up) {
            fail_os(e, "connect to pipe", name);
            free(path);
            return NULL;
        }
        if (!WaitNamedPipeW(path, 50)) Sleep(1);
    }
    free(path);
    gg_conn *c = conn_new(KIND_PIPE, h, e);
    if (!c) CloseHandle(h);
    return c;
}

/* ---- console events ---- */

struct gg_stop_watch {
    void (*fn)(void *);
    void *user;
    gg_thread *thread;
    HANDLE fire; /* manual reset: a stop was asked for */
    HANDLE end;  /* manual reset: gg_stop_watch_end */
};

static gg_stop_watch *volatile active_watch;
static volatile LONG in_handler; /* handler calls still running */

/* Runs on a thread the system creates for the event. For a console close,
 * logoff or shutdown the process is ended when this returns (or after
 * about 5 s), so it waits for the graceful stop to finish first. */
static BOOL WINAPI on_console_event(DWORD type) {
    InterlockedIncrement(&in_handler);
    gg_stop_watch *w = active_watch;
    BOOL handled = FALSE;
    if (w) switch (type) {
        case CTRL_C_EVENT:
        case CTRL_BREAK_EVENT:
            SetEvent(w->fire);
            handled = TRUE;
            break;
        case CTRL_CLOSE_EVENT:
        case CTRL_LOGOFF_EVENT:
        case CTRL_SHUTDOWN_EVENT:
            SetEvent(w->fire);
            WaitForSingleObject(w->end, 4500);
            handled = TRUE;
            break;
        default: break;
        }
    InterlockedDecrement(&in_handler);
    return handled;
}

static void watch_main(void *arg) {
    gg_stop_watch *w = arg;
    HANDLE waits[2] = {w->end, w->fire};
    if (WaitForMultipleObjects(2, waits, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) w->fn(w->user);
}

gg_stop_watch *gg_stop_watch_start(void (*fn)(void *), void *user, gg_err *e) {
    gg_stop_watch *w = calloc(1, sizeof *w);
    if (!w) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    w->fn = fn;
    w->user = user;
    w->fire = CreateEventW(NULL, TRUE, FALSE, NULL);
    w->end = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!w->fire || !w->end || !(w->thread = gg_thread_start(watch_main, w, e))) {
        if (!w->fire || !w->end) fail_os(e, "create events for", "the stop watch");
        if (w->fire) CloseHandle(w->fire);
        if (w->end) CloseHandle(w->end);
        free(w);
        return NULL;
    }
    active_watch = w;
    /* Without a console (a service, a detached child) there are no events
     * to watch; that is not an error. */
    SetConsoleCtrlHandler(on_console_event, TRUE);
    return w;
}

void gg_stop_watch_end(gg_stop_watch *w) {
    if (!w) return;
    SetConsoleCtrlHandler(on_console_event, FALSE);
    SetEvent(w->end);
    gg_thread_join(w->thread);
    active_watch = NULL;
    /* A handler that already read active_watch returns soon: w->end is set. */
    for (int i = 0; i < 1000 && in_handler > 0; i++) Sleep(1);
    if (in_handler == 0) {
        CloseHandle(w->fire);
        CloseHandle(w->end);
        free(w);
    } /* else leave it to the process's end rather than free it under a handler */
}

long gg_process_id(void) { return (long)GetCurrentProcessId(); }

#endif
