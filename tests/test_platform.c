/*
 * test_platform.c - the OS layer of platform.h: file mapping (contents,
 * empty file, errors), the clock, CPU count and features, memory figures,
 * aligned allocation, and threads with mutexes and condition variables.
 */
#include "check.h"
#include "platform/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (f->avx512bw || f->avx512vl || f->avx512dq || f->avx512vnni || f->avx512bf16)
        CHECK(f->avx512f);
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
    CHECKF(after.rss_anon >= u.rss_anon + big / 2, "anon %llu -> %llu",
           (unsigned long long)u.rss_anon, (unsigned long long)after.rss_anon);
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
    gg_thread *t = gg_thread_start(signal_later, &s, NULL);
    CHECK(t != NULL);
    gg_mutex_lock(s.mu);
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

int main(void) {
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
    gg_thread_yield();
    return check_done("test_platform");
}
