/*
 * test_platform.c - the OS layer of platform.h: file mapping (contents,
 * empty file, errors), the clock, CPU count and features, memory figures,
 * aligned allocation, threads with mutexes and condition variables, file
 * identity (a file rewritten, truncated or replaced under its mapping) and
 * the fault guard (POSIX: a real SIGBUS from a truncated mapping, in a
 * child process; Windows: an in-page error raised in a child process,
 * since Windows refuses to truncate a mapped file, which is checked too,
 * while it allows writing to one).
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "check.h"
#include "platform/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static void path_in_tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", check_tmp_dir(), name);
}

static bool write_file(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = n == 0 || fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void test_map_contents(void) {
    char path[1024];
    path_in_tmp(path, sizeof path, "platform-map.bin");
    /* Not a multiple of the page size, so the tail of the last page is
     * outside the file. */
    size_t n = 3 * 4096 + 123;
    uint8_t *want = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        want[i] = (uint8_t)(x >> 16);
    }
    CHECKF(write_file(path, want, n), "cannot write %s", path);
    gg_mapping m;
    gg_err e = {{0}};
    int rc = gg_map_file(path, &m, &e);
    CHECKF(rc == 0, "map %s: %s", path, e.msg);
    if (rc == 0) {
        CHECK_EQ_INT(m.size, n);
        CHECK(m.data != NULL);
        CHECK(m.data && memcmp(m.data, want, n) == 0);
        gg_unmap_file(&m);
        CHECK(m.data == NULL && m.size == 0);
    }
    /* The mapping must not keep the file open in a way that stops it
     * being replaced or removed once unmapped (Windows is strict here). */
    CHECKF(remove(path) == 0, "cannot remove %s after unmapping", path);
    free(want);
}

static void test_map_empty(void) {
    char path[1024];
    path_in_tmp(path, sizeof path, "platform-empty.bin");
    CHECK(write_file(path, NULL, 0));
    gg_mapping m;
    gg_err e = {{0}};
    int rc = gg_map_file(path, &m, &e);
    CHECKF(rc == 0, "empty file: %s", e.msg);
    CHECK(m.data == NULL);
    CHECK_EQ_INT(m.size, 0);
    gg_unmap_file(&m);
    remove(path);
}

static void test_map_missing(void) {
    char path[1024];
    path_in_tmp(path, sizeof path, "platform-no-such-file.gguf");
    gg_mapping m;
    gg_err e = {{0}};
    int rc = gg_map_file(path, &m, &e);
    CHECK(rc < 0);
    CHECKF(strstr(e.msg, "platform-no-such-file.gguf") != NULL, "message: %s", e.msg);
    /* Beyond the path, the message says why (the OS error text). */
    CHECKF(strlen(e.msg) > strlen(path) + 5, "message: %s", e.msg);
    rc = gg_map_file(path, &m, NULL); /* no error text wanted */
    CHECK(rc < 0);
}

static void test_map_directory(void) {
    gg_mapping m;
    gg_err e = {{0}};
    int rc = gg_map_file(check_tmp_dir(), &m, &e);
    CHECKF(rc < 0, "mapping a directory succeeded");
    CHECKF(strstr(e.msg, check_tmp_dir()) != NULL, "message: %s", e.msg);
}

/* ---- file identity and the fault guard ---- */

static bool same_identity(const gg_file_identity *a, const gg_file_identity *b) {
    return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
           a->device == b->device && a->file_id == b->file_id;
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Rewrites the file in place (same inode, same size): what `cp` does. */
static bool overwrite_in_place(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "r+b");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Puts another file in place of path by a rename, as tools that update
 * atomically do. */
static bool replace_by_rename(const char *from, const char *path) {
#ifdef _WIN32
    return MoveFileExA(from, path, MOVEFILE_REPLACE_EXISTING) != 0;
#else
    return rename(from, path) == 0;
#endif
}

static void test_identity(void) {
    char path[1024], other[1024];
    path_in_tmp(path, sizeof path, "platform-identity.bin");
    path_in_tmp(other, sizeof other, "platform-identity-other.bin");
    enum { N = 2 * 4096 + 77 };
    static uint8_t a[N], b[N];
    fill(a, N, 1);
    fill(b, N, 2);
    CHECK(write_file(path, a, N) && write_file(other, b, N));
    gg_mapping m;
    gg_err e = {{0}};
    if (gg_map_file(path, &m, &e)) {
        CHECKF(false, "map: %s", e.msg);
        return;
    }
    gg_file_identity now;
    CHECKF(gg_file_identity_get(path, &now, &e) == 0, "identity: %s", e.msg);
    CHECK(same_identity(&now, &m.id) && now.size == N);
    gg_sleep_ms(30); /* file times tick in steps of a few ms */
    /* The same file rewritten at the same size (Windows allows that too,
     * once the handle that mapped it is closed): only the times tell. */
    CHECK(overwrite_in_place(path, b, N));
    CHECK(gg_file_identity_get(path, &now, &e) == 0);
    CHECK(now.size == N && now.file_id == m.id.file_id);
    CHECKF(!same_identity(&now, &m.id), "a file rewritten in place looks unchanged");
    CHECK(memcmp(m.data, b, N) == 0); /* what the mapping now sees: the new bytes */
#ifdef _WIN32
    /* Windows refuses to truncate a file while a view of it is mapped. */
    HANDLE h = CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    bool truncated = h != INVALID_HANDLE_VALUE && SetFilePointer(h, 100, NULL, FILE_BEGIN) == 100 &&
                     SetEndOfFile(h);
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    CHECKF(!truncated, "a mapped file was truncated");
    CHECK(gg_file_identity_get(path, &now, &e) == 0 && now.size == N);
#else
    CHECK(truncate(path, 100) == 0);
    CHECK(gg_file_identity_get(path, &now, &e) == 0 && now.size == 100);
#endif
    /* Replaced by a rename: the name now belongs to another file. On
     * Windows the rename of a file over a mapped one may be refused. */
    gg_file_identity before;
    CHECK(gg_file_identity_get(path, &before, &e) == 0);
    if (replace_by_rename(other, path)) {
        CHECK(gg_file_identity_get(path, &now, &e) == 0);
        CHECKF(now.file_id != before.file_id || now.device != before.device,
               "a renamed-in file has the old id");
    } else {
        printf("test_platform: renaming over a mapped file is refused here\n");
        CHECK(gg_file_identity_get(path, &now, &e) == 0 && same_identity(&now, &before));
    }
    gg_unmap_file(&m);
    remove(path);
    remove(other);
    e.msg[0] = '\0';
    CHECK(gg_file_identity_get(path, &now, &e) < 0 && e.msg[0] != '\0');
}

#ifndef _WIN32
/* A child maps a file, installs the guard, truncates the file under the
 * mapping and reads it. Returns the child's wait status; its stderr goes
 * to err_path. */
static int fault_child(const char *path, const char *err_path, const char *cleanup, bool replace_cleanup,
                       bool unguarded_bus) {
    static uint8_t data[3 * 4096];
    fill(data, sizeof data, 3);
    if (!write_file(path, data, sizeof data)) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *err = freopen(err_path, "w", stderr);
        gg_mapping m;
        if (!err || gg_map_file(path, &m, NULL)) _exit(90);
        if (cleanup && !write_file(cleanup, data, 1)) _exit(91);
        if (gg_fault_guard_install(4, cleanup, NULL)) _exit(92);
        char other[1100];
        snprintf(other, sizeof other, "%s.new", cleanup);
        if (replace_cleanup && (!write_file(other, data, 2) || rename(other, cleanup) != 0)) _exit(93);
        if (unguarded_bus) raise(SIGBUS); /* not a fault in a mapping: the default action */
        if (truncate(path, 0) != 0) _exit(94);
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < m.size; i += 4096) sum += m.data[i];
        _exit(sum == 255 ? 95 : 96); /* reached only if reading did not fault */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

static void test_fault_guard(void) {
    char path[1024], err_path[1024], cleanup[1024];
    path_in_tmp(path, sizeof path, "platform-fault.bin");
    path_in_tmp(err_path, sizeof err_path, "platform-fault.err");
    path_in_tmp(cleanup, sizeof cleanup, "platform-fault.sock");
    remove(cleanup);
    int st = fault_child(path, err_path, cleanup, false, false);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 4,
           "truncated mapping: wait status 0x%x (exit %d, signal %d)", st,
           WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    size_t n;
    char *err = (char *)check_read_file(err_path, &n);
    char want[1200];
    snprintf(want, sizeof want, "ggembed: error: %s: reading the mapped model file failed", path);
    CHECKF(err && strstr(err, want), "stderr: %s", err ? err : "(none)");
    free(err);
    CHECKF(!file_exists(cleanup), "the cleanup file was left behind");
    /* A cleanup path that is another file by now (another server's socket) stays. */
    st = fault_child(path, err_path, cleanup, true, false);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 4, "wait status 0x%x", st);
    CHECKF(file_exists(cleanup), "a file the guard did not make was removed");
    remove(cleanup);
    /* SIGBUS that is no fault in a mapping keeps its default action. */
    st = fault_child(path, err_path, NULL, false, true);
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "unrelated SIGBUS: wait status 0x%x", st);
    remove(path);
    remove(err_path);
}
#else
/* The child side: map argv's file, install the guard, raise the in-page
 * error Windows gives for a mapped page that cannot be read back. */
static int fault_child_main(const char *path, const char *cleanup) {
    gg_mapping m;
    if (gg_map_file(path, &m, NULL) || gg_fault_guard_install(4, cleanup, NULL)) return 90;
    ULONG_PTR info[3] = {0, (ULONG_PTR)(m.data + 4100),
                         (ULONG_PTR)0xC000009DL /* device not connected */};
    RaiseException(EXCEPTION_IN_PAGE_ERROR, 0, 3, info);
    return 96; /* reached only if the guard did not end the process */
}

static void test_fault_guard(void) {
    char path[1024], err_path[1024], cleanup[1024], exe[1024], cmd[4096];
    path_in_tmp(path, sizeof path, "platform-fault.bin");
    path_in_tmp(err_path, sizeof err_path, "platform-fault.err");
    path_in_tmp(cleanup, sizeof cleanup, "platform-fault.sock");
    static uint8_t data[3 * 4096];
    fill(data, sizeof data, 3);
    CHECK(write_file(path, data, sizeof data) && write_file(cleanup, data, 1));
    GetModuleFileNameA(NULL, exe, sizeof exe);
    snprintf(cmd, sizeof cmd, "\"%s\" fault-child \"%s\" \"%s\"", exe, path, cleanup);
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE err = CreateFileA(err_path, GENERIC_WRITE, FILE_SHARE_READ, &sa, CREATE_ALWAYS, 0, NULL);
    STARTUPINFOA si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = err;
    PROCESS_INFORMATION pi;
    BOOL started = err != INVALID_HANDLE_VALUE &&
                   CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
    CHECKF(started, "cannot start %s", cmd);
    if (err != INVALID_HANDLE_VALUE) CloseHandle(err);
    if (!started) return;
    DWORD code = 0;
    CHECK(WaitForSingleObject(pi.hProcess, 60000) == WAIT_OBJECT_0);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    CHECKF(code == 4, "in-page error: exit code 0x%lx", (unsigned long)code);
    size_t n;
    char *text = (char *)check_read_file(err_path, &n);
    char want[1200];
    snprintf(want, sizeof want, "ggembed: error: %s: reading the mapped model file failed", path);
    CHECKF(text && strstr(text, want), "stderr: %s", text ? text : "(none)");
    free(text);
    CHECKF(GetFileAttributesA(cleanup) == INVALID_FILE_ATTRIBUTES, "the cleanup file was left behind");
    remove(cleanup);
    remove(path);
    remove(err_path);
}
#endif

static void test_clock(void) {
    int64_t a = gg_now_ns();
    gg_sleep_ms(20);
    int64_t b = gg_now_ns();
    CHECK(b > a);
    /* A sleep is never shorter than asked (allowing 1 ms for coarse clocks). */
    CHECKF(b - a >= 19000000, "slept %lld ns", (long long)(b - a));
    int64_t prev = gg_now_ns();
    bool monotonic = true;
    for (int i = 0; i < 100000; i++) {
        int64_t t = gg_now_ns();
        if (t < prev) monotonic = false;
        prev = t;
    }
    CHECK(monotonic);
}

static void test_cpu(void) {
    int n = gg_cpu_count();
    CHECKF(n >= 1, "cpu count %d", n);
    const gg_cpu_features *f = gg_cpu_get();
    CHECK(f != NULL);
    CHECK(f == gg_cpu_get()); /* one shared answer */
    /* Every AVX-512 extension needs the foundation, and AVX-512 implies
     * the AVX2/FMA generation before it. */
    if (f->avx512bw || f->avx512vl || f->avx512dq || f->avx512vnni || f->avx512bf16) CHECK(f->avx512f);
    if (f->avx512f) CHECK(f->avx2 && f->fma);
#if !defined(__x86_64__) && !defined(__i386__) && !defined(_M_X64)
    CHECK(!f->avx2 && !f->fma && !f->avx512f);
#endif
#if defined(__AVX2__)
    /* Built for AVX2 and running: the CPU must have it. */
    CHECK(f->avx2);
#endif
    for (int i = 0; i < 1000; i++) gg_cpu_relax();
}

/* Keeps the compiler from dropping an allocation nothing reads. */
static void *volatile keep_alive;

#if defined(__linux__) && defined(__x86_64__)
/* True when the first "flags" line of /proc/cpuinfo lists `flag`. */
static bool cpuinfo_has(const char *text, const char *flag) {
    const char *line = strstr(text, "\nflags");
    if (!line) return false;
    const char *end = strchr(line + 1, '\n');
    size_t n = strlen(flag);
    for (const char *p = strstr(line, flag); p && (!end || p < end); p = strstr(p + 1, flag)) {
        if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n')) return true;
    }
    return false;
}

/* The kernel's view of the CPU, which also drops what the OS does not
 * save, is an independent check of cpuid and XCR0 decoding. */
static void test_cpu_vs_cpuinfo(void) {
    /* /proc files report size 0, so read until the end rather than
     * asking for the size (check_read_file would see an empty file). */
    FILE *in = fopen("/proc/cpuinfo", "r");
    CHECK(in != NULL);
    if (!in) return;
    size_t cap = 1 << 16, len = 0, got;
    char *text = malloc(cap + 1);
    while ((got = fread(text + len, 1, cap - len, in)) > 0 && len + got < cap) len += got;
    len += got;
    fclose(in);
    text[len] = '\0';
    CHECKF(strstr(text, "\nflags") != NULL, "no flags line in /proc/cpuinfo");
    const gg_cpu_features *f = gg_cpu_get();
    CHECK_EQ_INT(f->avx2, cpuinfo_has(text, "avx2"));
    CHECK_EQ_INT(f->fma, cpuinfo_has(text, "fma"));
    CHECK_EQ_INT(f->f16c, cpuinfo_has(text, "f16c"));
    CHECK_EQ_INT(f->avx512f, cpuinfo_has(text, "avx512f"));
    CHECK_EQ_INT(f->avx512bw, cpuinfo_has(text, "avx512bw"));
    CHECK_EQ_INT(f->avx512vl, cpuinfo_has(text, "avx512vl"));
    CHECK_EQ_INT(f->avx512dq, cpuinfo_has(text, "avx512dq"));
    CHECK_EQ_INT(f->avx512vnni, cpuinfo_has(text, "avx512_vnni"));
    CHECK_EQ_INT(f->avx512bf16, cpuinfo_has(text, "avx512_bf16"));
    CHECK_EQ_INT(f->avxvnni, cpuinfo_has(text, "avx_vnni"));
    free(text);
}
#else
static void test_cpu_vs_cpuinfo(void) {}
#endif

static void test_mem_usage(void) {
    gg_mem_usage u;
    memset(&u, 0xff, sizeof u);
    gg_mem_usage_get(&u);
#if defined(__linux__) || defined(_WIN32)
    CHECK(u.rss_total > 0);
    CHECK(u.peak_rss >= u.rss_total);
#endif
#if defined(__linux__)
    CHECK(u.rss_anon > 0);
    CHECK(u.rss_file > 0); /* at least the program's own pages */
    CHECK(u.rss_anon + u.rss_file <= u.rss_total + 64 * 1024 * 1024);
    /* Touching 32 MiB of heap raises the anonymous figure. */
    size_t big = 32u << 20;
    uint8_t *p = malloc(big);
    keep_alive = p;
    memset(p, 1, big);
    gg_mem_usage after;
    gg_mem_usage_get(&after);
    CHECKF(after.rss_anon >= u.rss_anon + big / 2, "anon %llu -> %llu", (unsigned long long)u.rss_anon,
           (unsigned long long)after.rss_anon);
    CHECK(after.peak_rss >= u.rss_total + big / 2);
    free(p);
#endif
}

static void test_aligned(void) {
    static const size_t sizes[] = {0, 1, 63, 64, 65, 4096, 1 << 20};
    for (size_t i = 0; i < GG_ARRAY_LEN(sizes); i++) {
        uint8_t *p = gg_aligned_alloc(sizes[i]);
        /* %llu rather than %zu: mingw's default printf does not know z. */
        CHECKF(p != NULL, "size %llu", (unsigned long long)sizes[i]);
        CHECKF(((uintptr_t)p & 63) == 0, "size %llu: address ends in %llu mod 64",
               (unsigned long long)sizes[i], (unsigned long long)((uintptr_t)p & 63));
        if (p && sizes[i]) memset(p, 0xab, sizes[i]); /* ASan checks the extent */
        gg_aligned_free(p);
    }
    gg_aligned_free(NULL);
}

/* ---- threads ---- */

typedef struct shared {
    gg_mutex *mu;
    gg_cond *cv;
    long counter;
    int ready;
    int go;
} shared;

static void add_many(void *arg) {
    shared *s = arg;
    for (int i = 0; i < 100000; i++) {
        gg_mutex_lock(s->mu);
        s->counter++;
        gg_mutex_unlock(s->mu);
    }
}

static void test_mutex(void) {
    shared s = {gg_mutex_new(), NULL, 0, 0, 0};
    CHECK(s.mu != NULL);
    gg_thread *t[4];
    for (int i = 0; i < 4; i++) {
        gg_err e = {{0}};
        t[i] = gg_thread_start(add_many, &s, &e);
        CHECKF(t[i] != NULL, "%s", e.msg);
    }
    for (int i = 0; i < 4; i++) gg_thread_join(t[i]);
    CHECK_EQ_INT(s.counter, 400000);
    gg_mutex_free(s.mu);
}

/* Waits for `go`, having said it is ready. */
static void wait_for_go(void *arg) {
    shared *s = arg;
    gg_mutex_lock(s->mu);
    s->ready++;
    gg_cond_broadcast(s->cv);
    while (!s->go) gg_cond_wait(s->cv, s->mu);
    s->counter++;
    gg_mutex_unlock(s->mu);
}

static void test_cond(void) {
    shared s = {gg_mutex_new(), gg_cond_new(), 0, 0, 0};
    CHECK(s.mu && s.cv);
    gg_thread *t[3];
    for (int i = 0; i < 3; i++) t[i] = gg_thread_start(wait_for_go, &s, NULL);
    gg_mutex_lock(s.mu);
    while (s.ready < 3) gg_cond_wait(s.cv, s.mu);
    CHECK_EQ_INT(s.counter, 0); /* all waiting, none passed */
    s.go = 1;
    gg_cond_broadcast(s.cv);
    gg_mutex_unlock(s.mu);
    for (int i = 0; i < 3; i++) gg_thread_join(t[i]);
    CHECK_EQ_INT(s.counter, 3);

    /* Nobody signals: the timed wait gives up after about its timeout. */
    gg_mutex_lock(s.mu);
    int64_t a = gg_now_ns();
    bool signalled = gg_cond_timedwait(s.cv, s.mu, 30000000);
    int64_t waited = gg_now_ns() - a;
    gg_mutex_unlock(s.mu);
    CHECK(!signalled);
    CHECKF(waited >= 29000000, "timed out after %lld ns", (long long)waited);
    gg_cond_free(s.cv);
    gg_mutex_free(s.mu);
}

/* A timed wait that is signalled in time reports it. */
static void signal_later(void *arg) {
    shared *s = arg;
    gg_sleep_ms(10);
    gg_mutex_lock(s->mu);
    s->go = 1;
    gg_cond_signal(s->cv);
    gg_mutex_unlock(s->mu);
}

static void test_timedwait_signalled(void) {
    shared s = {gg_mutex_new(), gg_cond_new(), 0, 0, 0};
    /* Locked before the thread starts: it can signal only once this
     * thread waits, however late it is scheduled. */
    gg_mutex_lock(s.mu);
    gg_thread *t = gg_thread_start(signal_later, &s, NULL);
    CHECK(t != NULL);
    bool any_signal = false;
    /* Loop for spurious wake-ups; 10 s is only a bound for a broken run. */
    int64_t end = gg_now_ns() + 10000000000LL;
    while (!s.go && gg_now_ns() < end) any_signal |= gg_cond_timedwait(s.cv, s.mu, end - gg_now_ns());
    CHECK(s.go);
    CHECK(any_signal);
    gg_mutex_unlock(s.mu);
    gg_thread_join(t);
    gg_cond_free(s.cv);
    gg_mutex_free(s.mu);
}

#ifndef NDEBUG
/* Asks, from another thread, whether it holds the mutex main holds. */
static void probe_held(void *arg) {
    shared *s = arg;
    s->go = gg_mutex_held(s->mu) ? 1 : 2;
}

static void wait_then_probe(void *arg) {
    shared *s = arg;
    gg_mutex_lock(s->mu);
    s->ready = 1;
    gg_cond_broadcast(s->cv);
    while (!s->go) gg_cond_wait(s->cv, s->mu);
    s->counter = gg_mutex_held(s->mu); /* it holds the mutex again after the wait */
    gg_mutex_unlock(s->mu);
}

/* Debug builds: gg_mutex_held is true for the holder only, and a wait
 * lets go of the mutex and takes it back. */
static void test_mutex_held(void) {
    shared s = {gg_mutex_new(), gg_cond_new(), 0, 0, 0};
    CHECK(s.mu && s.cv);
    CHECK(!gg_mutex_held(s.mu));
    gg_mutex_lock(s.mu);
    CHECK(gg_mutex_held(s.mu));
    gg_thread_join(gg_thread_start(probe_held, &s, NULL));
    CHECK_EQ_INT(s.go, 2); /* another thread does not hold it */
    gg_cond_timedwait(s.cv, s.mu, 1000000);
    CHECK(gg_mutex_held(s.mu));
    gg_mutex_unlock(s.mu);
    CHECK(!gg_mutex_held(s.mu));

    s.go = 0;
    gg_thread *t = gg_thread_start(wait_then_probe, &s, NULL);
    gg_mutex_lock(s.mu);
    while (!s.ready) gg_cond_wait(s.cv, s.mu);
    CHECK(gg_mutex_held(s.mu)); /* taken while the other thread waits */
    s.go = 1;
    gg_cond_broadcast(s.cv);
    gg_mutex_unlock(s.mu);
    gg_thread_join(t);
    CHECK_EQ_INT(s.counter, 1);
    gg_cond_free(s.cv);
    gg_mutex_free(s.mu);
}
#else
static void test_mutex_held(void) {} /* release builds do not track the owner */
#endif

int main(int argc, char **argv) {
#ifdef _WIN32
    if (argc == 4 && !strcmp(argv[1], "fault-child")) return fault_child_main(argv[2], argv[3]);
#else
    (void)argc, (void)argv;
#endif
    test_identity();
    test_fault_guard();
    test_map_contents();
    test_map_empty();
    test_map_missing();
    test_map_directory();
    test_clock();
    test_cpu();
    test_cpu_vs_cpuinfo();
    test_mem_usage();
    test_aligned();
    test_mutex();
    test_cond();
    test_timedwait_signalled();
    test_mutex_held();
    gg_thread_yield();
    return check_done("test_platform");
}
