/*
 * common_transport_posix.c - transport.h for Linux and macOS: Unix domain
 * sockets and stdio. A socket connection costs one descriptor: shutdown()
 * on the socket wakes every poll on it, so gg_conn_shutdown ends blocked
 * reads and writes from another thread without touching the descriptor's
 * life. stdin/stdout cannot be shut down that way and get a wake pipe that
 * blocking waits poll together with the stream.
 */
#ifndef _WIN32
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "platform.h"

struct gg_conn {
    int in, out; /* the same socket twice, or stdin and stdout */
    bool is_socket;
    atomic_bool shut;
    int wake[2]; /* stdio only: readable once shut down; -1 for sockets */
};

struct gg_listener {
    int fd; /* -1 for stdio */
    int wake[2];
    int spare;  /* a descriptor held in reserve to turn clients away with */
    char *path; /* socket file to remove at close */
    dev_t dev;  /* ... while it is still this one */
    ino_t ino;
    bool stdio_given;
    uint8_t *refusal;
    size_t refusal_len;
};

static bool make_wake(int wake[2], gg_err *e) {
    if (pipe(wake) != 0) return gg_fail(e, "pipe: %s", strerror(errno)), false;
    fcntl(wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(wake[1], F_SETFD, FD_CLOEXEC);
    return true;
}

static void ring(int wake[2]) {
    ssize_t rc = write(wake[1], "x", 1);
    (void)rc; /* a full pipe is already ringing */
}

enum { WAIT_READY = 1, WAIT_STOPPED = 0, WAIT_TIMEOUT = -1 };

/* Waits until fd is ready for `events`, the wake pipe (if any) rings, or
 * timeout_ms passes (< 0: never). */
static int wait_fd(int fd, short events, int wake_fd, int64_t timeout_ms) {
    struct pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    int64_t until = timeout_ms >= 0 ? gg_now_ns() + timeout_ms * 1000000 : 0;
    for (;;) {
        int wait = -1;
        if (timeout_ms >= 0) {
            int64_t left = until - gg_now_ns();
            if (left <= 0) return WAIT_TIMEOUT;
            wait = (int)GG_MIN((left + 999999) / 1000000, (int64_t)1 << 30);
        }
        int rc = poll(p, wake_fd >= 0 ? 2 : 1, wait);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0 || (wake_fd >= 0 && (p[1].revents & POLLIN))) return WAIT_STOPPED;
        if (p[0].revents) return WAIT_READY;
    }
}

static int conn_wake_fd(const gg_conn *c) { return c->wake[0]; }

static gg_conn *conn_new(int in, int out, bool is_socket, gg_err *e) {
    gg_conn *c = calloc(1, sizeof *c);
    if (!c) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    c->wake[0] = c->wake[1] = -1;
    if (!is_socket && !make_wake(c->wake, e)) {
        free(c);
        return NULL;
    }
    c->in = in;
    c->out = out;
    c->is_socket = is_socket;
    atomic_init(&c->shut, false);
    if (is_socket) fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
    return c;
}

long gg_conn_read_within(gg_conn *c, void *buf, size_t cap, int64_t timeout_ms) {
    for (;;) {
        int w = wait_fd(c->in, POLLIN, conn_wake_fd(c), timeout_ms);
        if (w == WAIT_TIMEOUT) return GG_CONN_TIMEOUT;
        if (w == WAIT_STOPPED || atomic_load(&c->shut)) return -1;
        ssize_t n = read(c->in, buf, cap);
        if (atomic_load(&c->shut)) return -1;
        if (n >= 0) return (long)n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
}

long gg_conn_read(gg_conn *c, void *buf, size_t cap) { return gg_conn_read_within(c, buf, cap, -1); }

bool gg_conn_write(gg_conn *c, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        if (wait_fd(c->out, POLLOUT, conn_wake_fd(c), -1) != WAIT_READY || atomic_load(&c->shut))
            return false;
        /* A blocking pipe (stdout) takes at most a page without blocking
         * after POLLOUT, so stay interruptible by writing pages. */
        size_t chunk = c->is_socket ? n : GG_MIN(n, (size_t)4096);
        ssize_t k = c->is_socket ? send(c->out, p, chunk, MSG_NOSIGNAL) : write(c->out, p, chunk);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

void gg_conn_shutdown(gg_conn *c) {
    atomic_store(&c->shut, true);
    if (c->is_socket) shutdown(c->in, SHUT_RDWR);
    else ring(c->wake);
}

void gg_conn_close(gg_conn *c) {
    if (!c) return;
    if (c->is_socket) close(c->in);
    if (c->wake[0] >= 0) close(c->wake[0]);
    if (c->wake[1] >= 0) close(c->wake[1]);
    free(c);
}

/* One non-blocking send: a refusal is short and the socket is new, so it
 * fits; a client that does not take it loses nothing it could use. */
static void refuse_fd(int fd, const void *msg, size_t n) {
    if (n) {
        ssize_t rc = send(fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)rc;
    }
    close(fd);
}

void gg_conn_refuse(gg_conn *c, const void *msg, size_t n) {
    if (!c) return;
    if (!c->is_socket) {
        if (n) gg_conn_write(c, msg, n);
        gg_conn_close(c);
        return;
    }
    refuse_fd(c->in, msg, n);
    free(c);
}

uint32_t gg_conn_limit_default(void) {
    struct rlimit r;
    /* Kept for the model file, the listener, stdio, logs and the spare. */
    const rlim_t reserve = 32;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return GG_CONN_LIMIT_CAP;
    if (r.rlim_cur <= reserve + 1) return 1;
    return (uint32_t)GG_MIN(r.rlim_cur - reserve, (rlim_t)GG_CONN_LIMIT_CAP);
}

/* ---- Unix sockets ---- */

static bool fill_addr(struct sockaddr_un *a, const char *path, gg_err *e) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path)
        return gg_fail(e, "socket path '%s' is longer than %zu bytes", path, sizeof a->sun_path - 1),
               false;
    strcpy(a->sun_path, path);
    return true;
}

/* The socket's directory must be the user's own and closed to others. */
static bool check_dir(const char *path, gg_err *e) {
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat st;
    if (stat(dir, &st) != 0) return gg_fail(e, "directory '%s': %s", dir, strerror(errno)), false;
    if (st.st_uid != geteuid() || (st.st_mode & 077))
        return gg_fail(e, "directory '%s' must belong to this user and be closed to others (chmod 700)",
                       dir),
               false;
    return true;
}

static int connect_fd(const char *path, gg_err *e) {
    struct sockaddr_un a;
    if (!fill_addr(&a, path, e)) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return gg_fail(e, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        gg_fail(e, "connect to '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A socket file nobody answers on is a dead server's: remove it. */
static bool clear_stale(const char *path, gg_err *e) {
    struct stat st;
    if (lstat(path, &st) != 0) return true;
    if (!S_ISSOCK(st.st_mode)) return gg_fail(e, "'%s' exists and is not a socket", path), false;
    gg_err ignore;
    int fd = connect_fd(path, &ignore);
    if (fd >= 0) {
        close(fd);
        return gg_fail(e, "a server is already listening on '%s'", path), false;
    }
    if (unlink(path) != 0)
        return gg_fail(e, "remove stale socket '%s': %s", path, strerror(errno)), false;
    return true;
}

gg_listener *gg_listen_unix(const char *path, gg_err *e) {
    struct sockaddr_un a;
    if (!fill_addr(&a, path, e) || !check_dir(path, e) || !clear_stale(path, e)) return NULL;
    gg_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    }
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&a, sizeof a) != 0 || chmod(path, 0600) != 0 ||
        listen(l->fd, 128) != 0 || !make_wake(l->wake, e)) {
        gg_fail(e, "listen on '%s': %s", path, strerror(errno));
        if (l->fd >= 0) close(l->fd);
        free(l->path);
        free(l);
        return NULL;
    }
    fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
    struct stat st;
    if (lstat(path, &st) == 0) l->dev = st.st_dev, l->ino = st.st_ino;
    l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return l;
}

gg_listener *gg_listen_pipe(const char *name, gg_err *e) {
    gg_fail(e, "named pipes (--pipe %s) exist only on Windows", name);
    return NULL;
}

gg_listener *gg_listen_stdio(gg_err *e) {
    gg_listener *l = calloc(1, sizeof *l);
    if (!l) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    l->fd = -1;
    l->spare = -1;
    if (!make_wake(l->wake, e)) {
        free(l);
        return NULL;
    }
    return l;
}

void gg_listener_set_refusal(gg_listener *l, const void *msg, size_t n) {
    uint8_t *p = n ? malloc(n) : NULL;
    if (n && !p) return; /* clients are then turned away without a word */
    if (n) memcpy(p, msg, n);
    free(l->refusal);
    l->refusal = p;
    l->refusal_len = n;
}

/* Out of descriptors with a client waiting: give up the spare for a moment
 * to take the client and turn it away, instead of leaving it hanging in
 * the backlog (and every client behind it). */
static gg_accept_status out_of_fds(gg_listener *l, int err, gg_err *e) {
    if (l->spare < 0) l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (l->spare < 0) {
        gg_sleep_ms(50); /* nothing to refuse with: back off, let connections close */
        return gg_fail(e, "accept: %s (no descriptor in reserve; backing off)", strerror(err)),
               GG_ACCEPT_RETRY;
    }
    close(l->spare);
    l->spare = -1;
    int fd = accept(l->fd, NULL, NULL);
    if (fd >= 0) refuse_fd(fd, l->refusal, l->refusal_len);
    l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) gg_sleep_ms(10);
    return gg_fail(e, "out of file descriptors (%s): %s", strerror(err),
                   fd >= 0 ? "a client was turned away" : "backing off"),
           GG_ACCEPT_RETRY;
}

gg_accept_status gg_accept(gg_listener *l, gg_conn **out, gg_err *e) {
    *out = NULL;
    if (l->fd < 0) {
        if (!l->stdio_given) {
            l->stdio_given = true;
            *out = conn_new(0, 1, false, e);
            return *out ? GG_ACCEPT_OK : GG_ACCEPT_BROKEN;
        }
        wait_fd(l->wake[0], POLLIN, l->wake[0], -1);
        return gg_fail(e, "stopped"), GG_ACCEPT_STOPPED;
    }
    for (;;) {
        if (wait_fd(l->fd, POLLIN, l->wake[0], -1) != WAIT_READY)
            return gg_fail(e, "stopped"), GG_ACCEPT_STOPPED;
        int fd = accept(l->fd, NULL, NULL);
        if (fd >= 0) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            *out = conn_new(fd, fd, true, e);
            if (*out) return GG_ACCEPT_OK;
            refuse_fd(fd, l->refusal, l->refusal_len);
            return GG_ACCEPT_RETRY;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED || err == EPROTO)
            continue;
        if (err == EMFILE || err == ENFILE) return out_of_fds(l, err, e);
        if (err == ENOBUFS || err == ENOMEM || err == EPERM) {
            gg_sleep_ms(10);
            return gg_fail(e, "accept: %s", strerror(err)), GG_ACCEPT_RETRY;
        }
        return gg_fail(e, "accept: %s", strerror(err)), GG_ACCEPT_BROKEN;
    }
}

void gg_listener_stop(gg_listener *l) { ring(l->wake); }

/* Removes the socket file only while it is still the one this listener
 * bound: another server may have replaced it since. */
static void remove_own_socket(const gg_listener *l) {
    struct stat st;
    if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
}

void gg_listener_close(gg_listener *l) {
    if (!l) return;
    if (l->path) remove_own_socket(l);
    if (l->fd >= 0) close(l->fd);
    if (l->spare >= 0) close(l->spare);
    close(l->wake[0]);
    close(l->wake[1]);
    free(l->refusal);
    free(l->path);
    free(l);
}

gg_conn *gg_connect_unix(const char *path, gg_err *e) {
    int fd = connect_fd(path, e);
    if (fd < 0) return NULL;
    gg_conn *c = conn_new(fd, fd, true, e);
    if (!c) close(fd);
    return c;
}

gg_conn *gg_connect_pipe(const char *name, gg_err *e) {
    gg_fail(e, "named pipes (--pipe %s) exist only on Windows", name);
    return NULL;
}

/* ---- stop signals ---- */

struct gg_stop_watch {
    void (*fn)(void *);
    void *user;
    gg_thread *thread;
};

static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    char b = (char)sig;
    ssize_t rc = write(stop_pipe[1], &b, 1);
    (void)rc;
    errno = saved;
}

/* Byte 0 in the pipe means "watch ended"; anything else is a signal. */
static void watch_main(void *arg) {
    gg_stop_watch *w = arg;
    bool fired = false;
    for (;;) {
        char b;
        ssize_t n = read(stop_pipe[0], &b, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || b == 0) return;
        if (!fired) w->fn(w->user);
        fired = true;
    }
}

gg_stop_watch *gg_stop_watch_start(void (*fn)(void *), void *user, gg_err *e) {
    signal(SIGPIPE, SIG_IGN);
    if (stop_pipe[0] < 0 && !make_wake(stop_pipe, e)) return NULL;
    gg_stop_watch *w = calloc(1, sizeof *w);
    if (!w) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    w->fn = fn;
    w->user = user;
    w->thread = gg_thread_start(watch_main, w, e);
    if (!w->thread) {
        free(w);
        return NULL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
#ifdef __linux__
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) on_signal(SIGTERM); /* it died before prctl */
#endif
    return w;
}

void gg_stop_watch_end(gg_stop_watch *w) {
    if (!w) return;
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    char b = 0;
    ssize_t rc = write(stop_pipe[1], &b, 1);
    (void)rc;
    gg_thread_join(w->thread);
    free(w);
}

long gg_process_id(void) { return (long)getpid(); }

#endif
