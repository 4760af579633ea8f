/*
 * test_server_limits.c - what `ggembed serve --socket` does at its limits,
 * as a separate process driven over raw sockets with timeouts (a server
 * that stops answering fails a check instead of hanging the test):
 *   - out of file descriptors (RLIMIT_NOFILE 64, 100 clients) it turns
 *     clients away with BUSY and keeps serving, and a client gets a
 *     connection again once others have closed;
 *   - --max-connections: the client beyond it gets BUSY (id 0) and EOF;
 *   - --idle-timeout: a started message that stalls gets TIMEOUT (id 0)
 *     and the connection is closed; an idle connection between messages
 *     is not;
 *   - an abnormal stop (--stdio fed garbage) exits 1 and says why;
 *   - a socket file another server has taken over is left to it;
 *   - --max-memory 50 with 100 clients each holding an unfinished 4 MiB
 *     EMBED: BUSY past the budget, the process's anonymous memory stays
 *     under 50 MB, and the budget is given back when they go;
 *   - `ggembed client embed` takes the options of `ggembed embed`.
 * POSIX only.
 */
#ifdef _WIN32
/* The pipe server's limits are tested in test_server_pipe; here only the
 * default connection limit, which Windows does not derive from anything. */
#include "check.h"
#include "platform/transport.h"
int main(void) {
    CHECK_EQ_INT(gg_conn_limit_default(), GG_CONN_LIMIT_CAP);
    return check_done("test_server_limits (sockets: POSIX only; pipes: test_server_pipe)");
}
#else
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "platform/platform.h"
#include "server/proto.h"

static char model[600], dir[500];
static const char *bin;

/* ---- a server process ---- */

/* Starts `ggembed serve -m model --socket path extra...` with at most
 * nofile descriptors (0: as we have) and stderr to err_path (NULL: the
 * socket path + ".log"); waits until the socket accepts. */
static pid_t start_server(const char *path, long nofile, const char *err_path,
                          const char *const *extra) {
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin, argv[n++] = "serve", argv[n++] = "-m", argv[n++] = model;
    argv[n++] = "--socket", argv[n++] = (char *)path;
    for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        if (nofile > 0) {
            struct rlimit r = {(rlim_t)nofile, (rlim_t)nofile};
            setrlimit(RLIMIT_NOFILE, &r);
        }
        char log[700];
        snprintf(log, sizeof log, "%s.log", path); /* kept for a look after a failure */
        int fd = open(err_path ? err_path : log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) dup2(fd, 2);
        /* the test's own descriptors are not the server's */
        for (int k = 3; k < 1024; k++) close(k);
        execv(bin, argv);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 1000; i++) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        bool up = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (up) return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        gg_sleep_ms(10);
    }
    if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    return -1;
}

/* Exit status, or -1 when it does not end within 20 s (then killed). */
static int wait_exit(pid_t pid) {
    for (int i = 0; i < 2000; i++) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        gg_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int stop(pid_t pid) {
    kill(pid, SIGTERM);
    return wait_exit(pid);
}

/* ---- raw clients with timeouts ---- */

static int dial(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof a.sun_path) return -1; /* cut short it would name another socket */
    memcpy(a.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) close(fd), fd = -1;
    return fd;
}

static void send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) return; /* a refused client may find the socket closed */
        c += k, n -= (size_t)k;
    }
}

static void send_msg(int fd, uint8_t type, uint32_t id, const gg_buf *body) {
    gg_buf f = {0};
    gg_frames_put(&f, type, id, body ? body->data : NULL, body ? body->len : 0, GG_FRAME_MIN_MAX);
    send_all(fd, f.data, f.len);
    gg_buf_free(&f);
}

static void send_hello(int fd) {
    gg_buf b = {0};
    gg_hello_req h = {1, 1, {"limits", 6}};
    gg_encode_hello(&b, &h);
    send_msg(fd, GG_MSG_HELLO, 1, &b);
    gg_buf_free(&b);
}

/* One answer within ms: its type (0 on EOF or error, -1 on timeout), id,
 * error code and message. */
typedef struct answer {
    int type;
    uint32_t id;
    uint16_t code;
    char msg[256];
} answer;

static answer recv_answer(int fd, gg_reader *r, int ms) {
    answer a = {-1, 0, 0, ""};
    int64_t until = gg_now_ns() + (int64_t)ms * 1000000;
    uint8_t buf[4096];
    for (;;) {
        int64_t left = (until - gg_now_ns()) / 1000000;
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return a;
        ssize_t n = recv(fd, buf, 1, 0); /* one byte at a time: nothing of the next answer is taken */
        if (n <= 0) return a.type = 0, a;
        size_t used;
        gg_message m;
        int rc = gg_reader_feed(r, buf, 1, &used, &m);
        if (rc == GG_READ_MALFORMED) return a.type = 0, a;
        if (rc != GG_READ_MESSAGE) continue;
        a.type = m.type;
        a.id = m.id;
        if (m.type == GG_MSG_ERROR) {
            gg_str s;
            if (!gg_decode_error(m.body, m.len, &a.code, &s, NULL))
                snprintf(a.msg, sizeof a.msg, "%.*s", (int)s.len, s.p);
        }
        return a;
    }
}

/* Connects and says HELLO: 1 served, 2 refused with BUSY id 0, 0 else. */
static int hello(const char *path, int *fd_out, char *why, size_t why_len) {
    int fd = dial(path);
    *fd_out = fd;
    if (fd < 0) return 0;
    send_hello(fd);
    gg_reader r;
    gg_reader_init(&r, 1u << 20, 1u << 20);
    answer a = recv_answer(fd, &r, 10000);
    gg_reader_free(&r);
    if (why) snprintf(why, why_len, "%s", a.msg);
    if (a.type == (GG_MSG_REPLY | GG_MSG_HELLO)) return 1;
    if (a.type == GG_MSG_ERROR && a.code == GG_PE_BUSY && a.id == 0) {
        /* and then the end of the stream */
        char b;
        struct pollfd p = {fd, POLLIN, 0};
        bool eof = poll(&p, 1, 5000) == 1 && recv(fd, &b, 1, 0) <= 0;
        return eof ? 2 : 0;
    }
    return 0;
}

static void close_all(int *fds, int n) {
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]), fds[i] = -1;
}

/* A new client is served within a few seconds (others may still be closing). */
static bool served_again(const char *path) {
    for (int i = 0; i < 50; i++) {
        int fd;
        int rc = hello(path, &fd, NULL, 0);
        if (fd >= 0) close(fd);
        if (rc == 1) return true;
        gg_sleep_ms(100);
    }
    return false;
}

static void sock_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s.sock", dir, name);
}

/* ---- item: out of descriptors ---- */

enum { CLIENTS = 100 };

static void test_fd_exhaustion(void) {
    char path[600], log[600];
    sock_path(path, sizeof path, "fds");
    snprintf(log, sizeof log, "%s/fds.log", dir);
    static const char *const extra[] = {"--max-connections", "1000", NULL};
    pid_t pid = start_server(path, 64, log, extra);
    CHECKF(pid > 0, "server with 64 descriptors did not start");
    if (pid <= 0) return;
    int fds[CLIENTS], served = 0, busy = 0, other = 0;
    for (int i = 0; i < CLIENTS; i++) {
        int rc = hello(path, &fds[i], NULL, 0);
        served += rc == 1, busy += rc == 2, other += rc == 0;
    }
    CHECKF(served >= 10 && busy >= 1 && other == 0,
           "64 descriptors, 100 clients: %d served, %d turned away with BUSY, %d neither", served, busy,
           other);
    close_all(fds, CLIENTS);
    CHECKF(served_again(path), "after the clients closed, a new one is served");
    CHECK_EQ_INT(stop(pid), 0);
    size_t len = 0;
    char *text = (char *)check_read_file(log, &len);
    CHECKF(text && strstr(text, "out of file descriptors"), "the log says why clients were refused");
    free(text);
}

static uint64_t stat_value(int fd, const char *name);

/* The default limit follows the descriptor limit; an explicit one holds. */
static void test_max_connections(void) {
    char path[600];
    sock_path(path, sizeof path, "maxconn");
    static const char *const extra[] = {"--max-connections", "3", NULL};
    pid_t pid = start_server(path, 0, NULL, extra);
    CHECKF(pid > 0, "server did not start");
    if (pid <= 0) return;
    int fds[5], rc[5];
    char why[256] = "";
    /* start_server's readiness probe is a connection too until the server
     * has seen it close: wait for that, or a loaded machine turns the
     * third client away. */
    rc[0] = hello(path, &fds[0], NULL, 0);
    for (int i = 0; i < 500 && rc[0] == 1 && stat_value(fds[0], "connections") != 1; i++)
        gg_sleep_ms(20);
    for (int i = 1; i < 5; i++) rc[i] = hello(path, &fds[i], i == 3 ? why : NULL, sizeof why);
    CHECKF(rc[0] == 1 && rc[1] == 1 && rc[2] == 1, "three clients served: %d %d %d", rc[0], rc[1],
           rc[2]);
    CHECKF(rc[3] == 2 && rc[4] == 2, "the fourth and fifth get BUSY and EOF: %d %d", rc[3], rc[4]);
    CHECKF(strstr(why, "--max-connections") != NULL, "the refusal names the limit: '%s'", why);
    close(fds[0]), fds[0] = -1;
    CHECKF(served_again(path), "a place freed is taken again");
    close_all(fds, 5);
    CHECK_EQ_INT(stop(pid), 0);

    /* default under 64 descriptors: some are served, the rest refused by
     * the limit (BUSY naming it), none left hanging */
    sock_path(path, sizeof path, "defconn");
    pid = start_server(path, 64, NULL, NULL);
    CHECKF(pid > 0, "server with 64 descriptors did not start");
    if (pid <= 0) return;
    int many[60], served = 0, limited = 0;
    for (int i = 0; i < 60; i++) {
        int r = hello(path, &many[i], why, sizeof why);
        served += r == 1;
        limited += r == 2 && strstr(why, "--max-connections") != NULL;
    }
    CHECKF(served >= 8 && limited >= 1 && served + limited == 60,
           "default limit: %d served, %d at the limit", served, limited);
    close_all(many, 60);
    CHECK_EQ_INT(stop(pid), 0);
}

/* ---- item: idle timeout ---- */

static void test_idle_timeout(void) {
    char path[600];
    sock_path(path, sizeof path, "idle");
    static const char *const extra[] = {"--idle-timeout", "1", NULL};
    pid_t pid = start_server(path, 0, NULL, extra);
    CHECKF(pid > 0, "server did not start");
    if (pid <= 0) return;
    for (int k = 0; k < 2; k++) {
        int fd;
        if (hello(path, &fd, NULL, 0) != 1) {
            CHECK(!"hello");
            if (fd >= 0) close(fd);
            continue;
        }
        if (k == 0) send_all(fd, "\x10\x00\x00\x00\x04", 5); /* half a header */
        else {
            /* a first frame with MORE, then nothing */
            uint8_t f[GG_FRAME_HEADER + 4];
            gg_frame_header h = {4, GG_MSG_EMBED, GG_FRAME_MORE, 7};
            gg_frame_header_put(f, &h);
            memset(f + GG_FRAME_HEADER, 0, 4);
            send_all(fd, f, sizeof f);
        }
        gg_reader r;
        gg_reader_init(&r, 1u << 20, 1u << 20);
        int64_t t0 = gg_now_ns();
        answer a = recv_answer(fd, &r, 8000);
        answer end = recv_answer(fd, &r, 3000);
        gg_reader_free(&r);
        CHECKF(a.type == GG_MSG_ERROR && a.code == GG_PE_TIMEOUT && a.id == 0,
               "stalled %s: TIMEOUT id 0 (type %d code %u)", k ? "message" : "frame", a.type, a.code);
        CHECKF(end.type == 0, "then the connection is closed");
        CHECKF(gg_now_ns() - t0 > 500000000LL, "not before the timeout");
        close(fd);
    }
    /* between messages a connection may rest as long as it likes */
    int fd;
    CHECK(hello(path, &fd, NULL, 0) == 1);
    gg_sleep_ms(1600);
    send_msg(fd, GG_MSG_HEALTH, 2, NULL);
    gg_reader r;
    gg_reader_init(&r, 1u << 20, 1u << 20);
    answer a = recv_answer(fd, &r, 5000);
    gg_reader_free(&r);
    CHECKF(a.type == (GG_MSG_REPLY | GG_MSG_HEALTH), "a resting connection is served (type %d)", a.type);
    if (fd >= 0) close(fd);
    CHECK_EQ_INT(stop(pid), 0);
}

/* ---- item: exit status of an abnormal stop ---- */

static void test_abnormal_exit(void) {
    char in[600], log[600];
    snprintf(in, sizeof in, "%s/garbage.bin", dir);
    snprintf(log, sizeof log, "%s/stdio.log", dir);
    FILE *f = fopen(in, "wb");
    if (!f) return CHECK(!"write garbage");
    for (int i = 0; i < 64; i++) fputc(i * 37 + 11, f);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        int i = open(in, O_RDONLY), o = open("/dev/null", O_WRONLY),
            e = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(i, 0), dup2(o, 1), dup2(e, 2);
        execl(bin, bin, "serve", "-m", model, "--stdio", (char *)NULL);
        _exit(127);
    }
    CHECK_EQ_INT(wait_exit(pid), 1);
    char *text = (char *)check_read_file(log, &(size_t){0});
    CHECKF(text && strstr(text, "standard input: malformed"), "stderr says why: %s", text ? text : "");
    free(text);
}

/* ---- item: a socket path another server took over ---- */

static void test_socket_taken_over(void) {
    char path[600];
    sock_path(path, sizeof path, "shared");
    pid_t a = start_server(path, 0, NULL, NULL);
    CHECKF(a > 0, "server A did not start");
    if (a <= 0) return;
    unlink(path); /* A's file is gone; B takes the name */
    pid_t b = start_server(path, 0, NULL, NULL);
    CHECKF(b > 0, "server B did not start");
    CHECK_EQ_INT(stop(a), 0);
    struct stat st;
    CHECKF(lstat(path, &st) == 0, "A left B's socket file in place");
    int fd = -1; /* hello() is not called when B did not start */
    CHECKF(b > 0 && hello(path, &fd, NULL, 0) == 1, "B still answers on it");
    if (fd >= 0) close(fd);
    if (b > 0) CHECK_EQ_INT(stop(b), 0);
    CHECKF(lstat(path, &st) != 0, "B removed its own socket file");
}

/* ---- item: --max-memory bounds what requests hold ---- */

/* A STATS value over the connection fd (opened before the server filled up:
 * when it is full, a new connection is refused too). */
static uint64_t stat_value(int fd, const char *name) {
    if (fd < 0) return UINT64_MAX;
    send_msg(fd, GG_MSG_STATS, 2, NULL);
    uint8_t buf[65536];
    size_t have = 0;
    uint64_t v = UINT64_MAX;
    for (int i = 0; i < 500 && have < sizeof buf; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 20) == 1) {
            ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
            if (n <= 0) break;
            have += (size_t)n;
        }
        if (have < GG_FRAME_HEADER) continue;
        gg_frame_header h;
        if (!gg_frame_header_get(buf, 1u << 20, &h) || have < GG_FRAME_HEADER + h.length) continue;
        gg_rd rd;
        gg_rd_init(&rd, buf + GG_FRAME_HEADER, h.length);
        uint32_t n = gg_rd_u32(&rd);
        for (uint32_t k = 0; k < n && !rd.bad; k++) {
            gg_str s = gg_rd_str(&rd);
            uint64_t x = gg_rd_u64(&rd);
            if (s.len == strlen(name) && !memcmp(s.p, name, s.len)) v = x;
        }
        break;
    }
    return v;
}

static void test_memory_bound(void) {
    char path[600];
    sock_path(path, sizeof path, "mem");
    static const char *const extra[] = {"--max-memory", "50", NULL};
    pid_t pid = start_server(path, 0, NULL, extra);
    CHECKF(pid > 0, "server with --max-memory 50 did not start");
    if (pid <= 0) return;
    /* an EMBED of one 4 MiB - 64 text, all but its last frame */
    size_t text_len = GG_DEFAULT_MAX_MESSAGE - 64;
    char *text = malloc(text_len);
    if (!text) return;
    memset(text, 'a', text_len);
    gg_str t = {text, (uint32_t)text_len};
    gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &t};
    gg_buf body = {0}, frames = {0};
    gg_encode_embed(&body, &q);
    gg_frames_put(&frames, GG_MSG_EMBED, 5, body.data, body.len, GG_DEFAULT_MAX_FRAME);
    /* the frames before the last: full ones */
    size_t last = (body.len - 1) / (GG_DEFAULT_MAX_FRAME - GG_FRAME_HEADER) * GG_DEFAULT_MAX_FRAME;
    int fds[CLIENTS], busy = 0, watch;
    CHECK(hello(path, &watch, NULL, 0) == 1);
    int turned_away = 0; /* connections refused: the budget had no room for one more */
    for (int i = 0; i < CLIENTS; i++) {
        int rc = hello(path, &fds[i], NULL, 0);
        turned_away += rc == 2;
        if (rc == 1) send_all(fds[i], frames.data, last);
    }
    /* until the server has read everything sent (its refusals stop growing) */
    uint64_t refused = stat_value(watch, "memory_busy"), before = UINT64_MAX;
    for (int i = 0; i < 100 && refused != before; i++) {
        gg_sleep_ms(200);
        before = refused;
        refused = stat_value(watch, "memory_busy");
    }
    uint64_t rss = stat_value(watch, "rss_anon"), held = stat_value(watch, "memory_held"),
             limit = stat_value(watch, "memory_limit");
    /* The server counts a refusal just before it sends it: a BUSY counted
     * may still be on its way, so clients without one are asked again
     * (for up to 10 s) while fewer arrived than were counted. */
    bool answered[CLIENTS] = {false};
    int64_t until = gg_now_ns() + 10 * (int64_t)1000000000;
    do {
        for (int i = 0; i < CLIENTS; i++) {
            if (fds[i] < 0 || answered[i]) continue;
            gg_reader r;
            gg_reader_init(&r, 1u << 20, 1u << 20);
            answer a = recv_answer(fds[i], &r, 100);
            gg_reader_free(&r);
            answered[i] = a.type == GG_MSG_ERROR && a.code == GG_PE_BUSY && a.id == 5;
            busy += answered[i];
        }
    } while ((uint64_t)busy < refused && gg_now_ns() < until);
    CHECKF((uint64_t)busy == refused, "every refusal counted was sent: %d answers, %llu counted", busy,
           (unsigned long long)refused);
    CHECKF(busy >= 1 && busy + turned_away >= CLIENTS / 2,
           "of %d clients with an unfinished 4 MiB message, %d refused with BUSY, %d at connect",
           CLIENTS, busy, turned_away);
    CHECKF(held != UINT64_MAX && limit != UINT64_MAX && held <= limit, "held %llu <= limit %llu",
           (unsigned long long)held, (unsigned long long)limit);
    /* A sanitizer's allocator keeps freed memory (quarantine, shadow):
     * resident memory says nothing there; the accounting above still does. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    rss = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    rss = 0;
#endif
#endif
    if (getenv("GGEMBED_TEST_VERBOSE"))
        fprintf(stderr, "rss_anon %.1f MB, held %.1f MB, limit %.1f MB\n", rss / 1048576.0,
                held / 1048576.0, limit / 1048576.0);
    if (rss)
        CHECKF(rss <= 50u << 20, "anonymous memory %.1f MB within --max-memory 50", rss / 1048576.0);
    else
        fprintf(stderr,
                "test_server_limits: resident memory not checked (not Linux, or a sanitizer build)\n");
    close_all(fds, CLIENTS);
    /* given back: a whole request of the same size is served afterwards */
    gg_sleep_ms(300);
    held = stat_value(watch, "memory_held");
    if (watch >= 0) close(watch);
    CHECKF(held < (8u << 20), "after the clients left, %llu bytes are held", (unsigned long long)held);
    int fd;
    if (hello(path, &fd, NULL, 0) == 1) {
        send_all(fd, frames.data, frames.len);
        gg_reader r;
        gg_reader_init(&r, 1u << 24, 1u << 24);
        answer a = recv_answer(fd, &r, 120000); /* a 4 MiB text takes a while under a sanitizer */
        gg_reader_free(&r);
        CHECKF(a.type == (GG_MSG_REPLY | GG_MSG_EMBED),
               "a 4 MiB EMBED is served again (type %d code %u %s)", a.type, a.code, a.msg);
        close(fd);
    }
    CHECK_EQ_INT(stop(pid), 0);
    gg_buf_free(&body);
    gg_buf_free(&frames);
    free(text);
}

/* ---- item: `ggembed client embed` options ---- */

/* Runs bin with args, stdin from in (or /dev/null); stdout to out; returns the exit status. */
static int run(const char *const *args, const char *in, const char *out, const char *err) {
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)bin;
        for (int i = 0; args[i] && n < 31; i++) argv[n++] = (char *)args[i];
        argv[n] = NULL;
        int i = open(in ? in : "/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(i, 0), dup2(o, 1), dup2(e, 2);
        execv(bin, argv);
        _exit(127);
    }
    return wait_exit(pid);
}

static char *slurp(const char *path) {
    size_t n = 0;
    char *t = (char *)check_read_file(path, &n);
    if (!t) return calloc(1, 1);
    char *z = realloc(t, n + 1);
    if (!z) return t;
    z[n] = '\0';
    return z;
}

static int lines(const char *t) {
    int n = 0;
    for (; *t; t++) n += *t == '\n';
    return n;
}

static void test_client_embed(void) {
    char path[600], out[600], err[600], ref[600], in[600];
    sock_path(path, sizeof path, "client");
    snprintf(out, sizeof out, "%s/client.out", dir);
    snprintf(err, sizeof err, "%s/client.err", dir);
    snprintf(ref, sizeof ref, "%s/embed.out", dir);
    snprintf(in, sizeof in, "%s/lines.txt", dir);
    pid_t pid = start_server(path, 0, NULL, NULL);
    CHECKF(pid > 0, "server did not start");
    if (pid <= 0) return;
    const char *local[] = {"embed", "-m", model, "--dims", "8", "--prefix", "q: ", "hi", "there", NULL};
    CHECK_EQ_INT(run(local, NULL, ref, err), 0);
    const char *remote[] = {"client",   "--socket", path, "embed", "--dims", "8",
                            "--prefix", "q: ",      "hi", "there", NULL};
    CHECK_EQ_INT(run(remote, NULL, out, err), 0);
    char *a = slurp(ref), *b = slurp(out);
    CHECKF(lines(b) == 2 && !strcmp(a, b),
           "client embed --dims 8 --prefix equals ggembed embed:\n%.300s\n---\n%.300s", a, b);
    free(a), free(b);
    /* texts from stdin lines, without --jsonl */
    FILE *f = fopen(in, "w");
    if (f) fputs("hi\nthere\n", f), fclose(f);
    const char *piped[] = {"client", "--socket", path, "embed", "--dims", "8", "--prefix", "q: ", NULL};
    CHECK_EQ_INT(run(piped, in, out, err), 0);
    a = slurp(ref), b = slurp(out);
    CHECKF(!strcmp(a, b), "piped lines are texts:\n%.300s\n---\n%.300s", a, b);
    free(a), free(b);
    /* an unknown option is an error, not a text */
    const char *bad[] = {"client", "--socket", path, "embed", "--bogus", "hi", NULL};
    CHECK_EQ_INT(run(bad, NULL, out, err), 2);
    b = slurp(err);
    CHECKF(strstr(b, "unknown option '--bogus'") && lines(b) == 1, "one clear line: %s", b);
    free(b);
    b = slurp(out);
    CHECK_EQ_INT(lines(b), 0);
    free(b);
    /* after --, a dash is text */
    const char *dash[] = {"client", "--socket", path, "embed", "--", "--dims", NULL};
    CHECK_EQ_INT(run(dash, NULL, out, err), 0);
    b = slurp(out);
    CHECK_EQ_INT(lines(b), 1);
    free(b);
    CHECK_EQ_INT(stop(pid), 0);
}

int main(void) {
    bin = getenv("GGEMBED_BIN");
    CHECKF(bin != NULL, "GGEMBED_BIN is set");
    if (!bin) return check_done("test_server_limits");
    snprintf(dir, sizeof dir, "%s/limits-%ld", check_tmp_dir(), (long)getpid());
    mkdir(dir, 0700);
    chmod(dir, 0700);
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    char vocab[600], out[600], err[600];
    snprintf(vocab, sizeof vocab, "%s/ggml-vocab-bert-bge.gguf", check_fixtures_dir());
    snprintf(out, sizeof out, "%s/mkmodel.out", dir);
    snprintf(err, sizeof err, "%s/mkmodel.err", dir);
    const char *mk[] = {"mkmodel", "--preset", "bert-tiny", "--vocab", vocab, "-o", model, NULL};
    int rc = run(mk, NULL, out, err);
    CHECKF(rc == 0, "mkmodel exited with %d", rc);
    if (rc == 0) {
        test_fd_exhaustion();
        test_max_connections();
        test_idle_timeout();
        test_abnormal_exit();
        test_socket_taken_over();
        test_memory_bound();
        test_client_embed();
    }
    return check_done("test_server_limits");
}
#endif
