/*
 * posix.c - the platform layer (platform.h) for Linux and macOS: mmap for
 * model files, their identity from stat, the SIGBUS guard, pthreads, the monotonic clock and the process memory
 * figures from /proc (Linux) or task_info (macOS).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "platform.h"
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#ifndef NDEBUG
#include <stdatomic.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#if defined(__APPLE__)
#include <mach/mach.h>
#endif

/* ---- file identity ---- */

#if defined(__APPLE__)
#define MTIME(st) ((int64_t)(st).st_mtimespec.tv_sec * 1000000000 + (st).st_mtimespec.tv_nsec)
#define CTIME(st) ((int64_t)(st).st_ctimespec.tv_sec * 1000000000 + (st).st_ctimespec.tv_nsec)
#else
#define MTIME(st) ((int64_t)(st).st_mtim.tv_sec * 1000000000 + (st).st_mtim.tv_nsec)
#define CTIME(st) ((int64_t)(st).st_ctim.tv_sec * 1000000000 + (st).st_ctim.tv_nsec)
#endif

static void identity_of(const struct stat *st, gg_file_identity *id) {
    id->size = (uint64_t)st->st_size;
    id->mtime_ns = MTIME(*st);
    id->ctime_ns = CTIME(*st);
    id->device = (uint64_t)st->st_dev;
    id->file_id = (uint64_t)st->st_ino;
}

int gg_file_identity_get(const char *path, gg_file_identity *id, gg_err *e) {
    memset(id, 0, sizeof *id);
    struct stat st;
    if (stat(path, &st) != 0) return gg_fail(e, "%s", strerror(errno));
    identity_of(&st, id);
    return 0;
}

/* ---- file mapping ---- */

int gg_map_file(const char *path, gg_mapping *m, gg_err *e) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gg_fail_kind(e, GG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return gg_fail_kind(e, GG_E_IO, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return gg_fail(e, "%s: not a regular file", path);
    }
    identity_of(&st, &m->id);
    if (st.st_size == 0) { /* mmap refuses a zero length; an empty file is no error */
        close(fd);
        return 0;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return gg_fail(e, "%s: %llu bytes do not fit in the address space", path,
                       (unsigned long long)st.st_size);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd); /* the mapping keeps its own reference to the file */
    if (p == MAP_FAILED) return gg_fail_kind(e, GG_E_IO, "%s: cannot map: %s", path, strerror(err));
    m->data = p;
    m->size = (uint64_t)st.st_size;
#if defined(MADV_HUGEPAGE)
    /* Advice, so a refusal changes nothing. A forward pass streams every
     * weight once: with 4 KB pages that is a TLB miss (a page walk, two
     * levels deep in a VM) every 4 KB, about a million per pass of a 7B
     * model. Where the file system caches in large folios (ext4, xfs),
     * this lets the kernel read the file in 2 MB folios and map them
     * whole: 13-token passes of a 4-layer 7B-shaped model took ~7% less
     * CPU time, and the first pass faults 2 MB at a time. */
    (void)madvise(p, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
    gg_fault_region_add(m->data, m->size, path);
    return 0;
}

void gg_unmap_file(gg_mapping *m) {
    if (m->data) {
        gg_fault_region_remove(m->data);
        munmap((void *)m->data, (size_t)m->size);
    }
    memset(m, 0, sizeof *m);
}

/* ---- the fault guard ---- */

/* Set before the handler is installed and never freed: the handler reads
 * them without a lock. */
static volatile sig_atomic_t guard_status = 1;
static char guard_cleanup[4096];
static struct stat guard_cleanup_st;

/* Ends the process at once, like _exit. On Linux the system call itself:
 * ThreadSanitizer intercepts _exit and runs its end-of-process checks,
 * which report the threads this abrupt stop leaves unjoined and change the
 * exit status to 66; the fault path must exit with its own status. */
static void fault_exit(int status) {
#if defined(__linux__) && defined(SYS_exit_group)
    syscall(SYS_exit_group, status);
#endif
    _exit(status);
}

/* Only async-signal-safe calls: write, lstat, unlink, _exit (or the
 * exit_group system call), signal, raise. */
static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    size_t len;
    const char *line = si ? gg_fault_region_message((uintptr_t)si->si_addr, &len) : NULL;
    if (!line || si->si_code <= 0) { /* not a fault in a mapped file (or sent by kill) */
        signal(sig, SIG_DFL);
        raise(sig); /* delivered on return, with the default action */
        return;
    }
    ssize_t rc = write(2, line, len);
    (void)rc;
    struct stat st;
    /* Only if still the file it was: an inode number alone can be reused. */
    if (guard_cleanup[0] && lstat(guard_cleanup, &st) == 0 && st.st_dev == guard_cleanup_st.st_dev &&
        st.st_ino == guard_cleanup_st.st_ino && CTIME(st) == CTIME(guard_cleanup_st))
        unlink(guard_cleanup);
    fault_exit(guard_status);
}

int gg_fault_guard_install(int exit_status, const char *cleanup_path, gg_err *e) {
    guard_cleanup[0] = '\0';
    if (cleanup_path) {
        struct stat st;
        if (strlen(cleanup_path) >= sizeof guard_cleanup)
            return gg_fail(e, "'%s': path too long for the fault guard", cleanup_path);
        if (lstat(cleanup_path, &st) != 0) return gg_fail(e, "'%s': %s", cleanup_path, strerror(errno));
        guard_cleanup_st = st;
        memcpy(guard_cleanup, cleanup_path, strlen(cleanup_path) + 1);
    }
    guard_status = exit_status;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) != 0) return gg_fail(e, "sigaction(SIGBUS): %s", strerror(errno));
    return 0;
}

/* ---- threads ---- */

struct gg_thread {
    pthread_t id;
    void (*fn)(void *);
    void *arg;
};

struct gg_mutex {
    pthread_mutex_t mu;
#ifndef NDEBUG
    _Atomic(const char *) owner; /* the holder's this_thread, or NULL */
#endif
};

struct gg_cond {
    pthread_cond_t cv;
};

#include "mutex_owner.h"

static void *thread_main(void *p) {
    gg_thread *t = p;
    t->fn(t->arg);
    return NULL;
}

gg_thread *gg_thread_start(void (*fn)(void *), void *arg, gg_err *e) {
    gg_thread *t = malloc(sizeof *t);
    if (!t) {
        gg_fail_kind(e, GG_E_MEMORY, "cannot start a thread: out of memory");
        return NULL;
    }
    t->fn = fn;
    t->arg = arg;
    int rc = pthread_create(&t->id, NULL, thread_main, t);
    if (rc != 0) {
        free(t);
        gg_fail(e, "cannot start a thread: %s", strerror(rc));
        return NULL;
    }
    return t;
}

void gg_thread_join(gg_thread *t) {
    if (!t) return;
    pthread_join(t->id, NULL);
    free(t);
}

gg_mutex *gg_mutex_new(void) {
    gg_mutex *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        m = NULL;
    }
    return m;
}

void gg_mutex_free(gg_mutex *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void gg_mutex_lock(gg_mutex *m) {
    pthread_mutex_lock(&m->mu);
    owner_set(m);
}

void gg_mutex_unlock(gg_mutex *m) {
    owner_clear(m);
    pthread_mutex_unlock(&m->mu);
}

gg_cond *gg_cond_new(void) {
    gg_cond *c = malloc(sizeof *c);
    if (!c) return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
#if !defined(__APPLE__)
    /* Timeouts measured on the monotonic clock do not jump with the date. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    int rc = pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void gg_cond_free(gg_cond *c) {
    if (!c) return;
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* A wait lets go of the mutex: the owner is cleared for its duration. */
void gg_cond_wait(gg_cond *c, gg_mutex *m) {
    owner_clear(m);
    pthread_cond_wait(&c->cv, &m->mu);
    owner_set(m);
}

bool gg_cond_timedwait(gg_cond *c, gg_mutex *m, int64_t timeout_ns) {
    if (timeout_ns < 0) timeout_ns = 0;
    struct timespec ts;
#if defined(__APPLE__)
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    owner_clear(m);
    int rc = pthread_cond_timedwait_relative_np(&c->cv, &m->mu, &ts);
#else
    int64_t deadline = gg_now_ns() + timeout_ns;
    ts.tv_sec = (time_t)(deadline / 1000000000);
    ts.tv_nsec = (long)(deadline % 1000000000);
    owner_clear(m);
    int rc = pthread_cond_timedwait(&c->cv, &m->mu, &ts);
#endif
    owner_set(m);
    return rc != ETIMEDOUT;
}

void gg_cond_signal(gg_cond *c) { pthread_cond_signal(&c->cv); }
void gg_cond_broadcast(gg_cond *c) { pthread_cond_broadcast(&c->cv); }

int gg_cpu_count(void) {
#if defined(__linux__)
    /* The affinity mask, not the machine, says what we may use (taskset,
     * containers with cpusets). */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)GG_MIN(n, 4096) : 1;
}

void gg_thread_yield(void) { sched_yield(); }

/* ---- time ---- */

int64_t gg_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gg_process_cpu_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void gg_sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- process memory ---- */

#if defined(__linux__)
/* Reads "Name:   1234 kB" from /proc/self/status; 0 when absent. */
static uint64_t status_kb(const char *text, const char *name) {
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == text || p[-1] == '\n') && p[n] == ':') {
            return strtoull(p + n + 1, NULL, 10) * 1024;
        }
    }
    return 0;
}

void gg_mem_usage_get(gg_mem_usage *u) {
    memset(u, 0, sizeof *u);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    u->rss_anon = status_kb(text, "RssAnon");
    u->rss_file = status_kb(text, "RssFile");
    u->rss_total = status_kb(text, "VmRSS");
    u->peak_rss = status_kb(text, "VmHWM");
}
#elif defined(__APPLE__)
void gg_mem_usage_get(gg_mem_usage *u) {
    memset(u, 0, sizeof *u);
    mach_task_basic_info_data_t info;
    mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
    if (task_info(mach_task_self(), MACH_TASK_BASIC_INFO, (task_info_t)&info, &count) == KERN_SUCCESS) {
        u->rss_total = info.resident_size;
        u->peak_rss = info.resident_size_max;
    }
}
#else
void gg_mem_usage_get(gg_mem_usage *u) { memset(u, 0, sizeof *u); }
#endif

void gg_heap_return_large_blocks(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 128 * 1024); /* a fixed value also ends the dynamic raising */
#endif
}

/* ---- aligned memory ---- */

void *gg_aligned_alloc(size_t size) {
    void *p = NULL;
    /* posix_memalign may return NULL or a unique pointer for 0; ask for
     * at least one byte so NULL always means failure. */
    if (posix_memalign(&p, 64, size ? size : 1) != 0) return NULL;
    return p;
}

void gg_aligned_free(void *p) { free(p); }
