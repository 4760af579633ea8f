/*
 * platform.h - everything that differs between operating systems:
 * read-only file mapping, file identity and the guard against a mapped
 * file truncated under us, threads and locks, a monotonic clock, CPU
 * features, process memory figures. posix.c implements it for Linux and
 * macOS, win32.c for Windows; nothing outside src/platform includes an
 * OS header.
 */
#ifndef GG_PLATFORM_H
#define GG_PLATFORM_H

#include "../common.h"

/* ---- file identity ---- */

/* What tells one state of a file from another without reading it. A
 * mapping shares the page cache with every writer of the file, so a file
 * rewritten in place (`cp other.gguf model.gguf`) changes the bytes under
 * a running process, and a truncated one makes reading them fault; any
 * field that differs from the snapshot taken at open means that happened
 * (or the name now points at another file). */
typedef struct gg_file_identity {
    uint64_t size;
    int64_t mtime_ns; /* last write */
    int64_t ctime_ns; /* POSIX: last status change, which `cp -p` or touch
                          cannot set back after a rewrite; 0 on Windows */
    uint64_t device;  /* st_dev; Windows: the volume serial number */
    uint64_t file_id; /* st_ino; Windows: the file index */
} gg_file_identity;

/* The identity of the file that path names now (symbolic links followed).
 * Costs one stat (Windows: open for attributes, query, close). */
int gg_file_identity_get(const char *path, gg_file_identity *id, gg_err *e);

/* ---- read-only file mapping ---- */

typedef struct gg_mapping {
    const uint8_t *data; /* NULL for an empty file */
    uint64_t size;
    gg_file_identity id; /* of the file mapped, from the handle that mapped it */
    void *os;            /* platform handle(s) */
} gg_mapping;

/* Maps the whole file read-only, shared with the page cache. The mapping
 * is registered with the fault guard under path (up to GG_FAULT_REGIONS
 * mappings at a time; more are mapped but not guarded). */
int gg_map_file(const char *path, gg_mapping *m, gg_err *e);
void gg_unmap_file(gg_mapping *m);

/* ---- the fault guard ---- */

#define GG_FAULT_REGIONS 16

/* Reading a page of a mapping whose file was truncated under it faults
 * (POSIX: SIGBUS; Windows: EXCEPTION_IN_PAGE_ERROR). Without the guard that
 * is a silent death by signal. Once installed, a fault at an address inside
 * a mapping made by gg_map_file writes one line naming the file to stderr
 * ("ggembed: error: PATH: ..."), removes cleanup_path when it is not NULL
 * and still the file it was at install time (a server's socket), and ends
 * the process at once with exit_status. Faults anywhere else keep their
 * default action. Process-wide; a second call replaces the settings. The
 * handler only calls async-signal-safe functions. */
int gg_fault_guard_install(int exit_status, const char *cleanup_path, gg_err *e);

/* ---- threads ---- */

typedef struct gg_thread gg_thread;
typedef struct gg_mutex gg_mutex;
typedef struct gg_cond gg_cond;

gg_thread *gg_thread_start(void (*fn)(void *), void *arg, gg_err *e);
void gg_thread_join(gg_thread *t);

gg_mutex *gg_mutex_new(void);
void gg_mutex_free(gg_mutex *m);
void gg_mutex_lock(gg_mutex *m);
void gg_mutex_unlock(gg_mutex *m);
#ifndef NDEBUG
/* Debug builds only: true when the calling thread holds m. A function
 * that needs a lock held (named ..._locked) says so with
 * assert(gg_mutex_held(m)); release builds neither track the owner nor
 * have this call. */
bool gg_mutex_held(gg_mutex *m);
#endif

gg_cond *gg_cond_new(void);
void gg_cond_free(gg_cond *c);
void gg_cond_wait(gg_cond *c, gg_mutex *m);
/* Returns false on timeout. */
bool gg_cond_timedwait(gg_cond *c, gg_mutex *m, int64_t timeout_ns);
void gg_cond_signal(gg_cond *c);
void gg_cond_broadcast(gg_cond *c);

int gg_cpu_count(void);  /* logical CPUs usable by this process, >= 1 */
void gg_cpu_relax(void); /* pause hint inside spin loops */
/* Gives the CPU to another ready thread, if any. Spin loops call it now
 * and then so that, with more threads than cores, the thread they wait
 * for gets to run. */
void gg_thread_yield(void);

/* ---- time ---- */

int64_t gg_now_ns(void); /* monotonic */
void gg_sleep_ms(int ms);
/* CPU time the whole process has used (user + system, all threads), in ns;
 * what tells a thread that waits from one that spins. */
int64_t gg_process_cpu_ns(void);

/* ---- CPU features (x86; all false elsewhere) ---- */

typedef struct gg_cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512vnni, avx512bf16, avxvnni;
    bool gfni; /* the GF(2^8) affine byte maps (any width the level allows) */
} gg_cpu_features;

const gg_cpu_features *gg_cpu_get(void);

/* ---- process memory (bytes; 0 where the OS does not say) ---- */

typedef struct gg_mem_usage {
    uint64_t rss_anon; /* anonymous resident memory (heap, stacks) */
    uint64_t rss_file; /* file-backed resident memory (the mapping) */
    uint64_t rss_total;
    uint64_t peak_rss; /* high-water mark of the whole resident set */
} gg_mem_usage;

void gg_mem_usage_get(gg_mem_usage *u);

/* Makes freed large blocks (request bodies, answers) go back to the OS at
 * once, so what the server holds is what is resident: glibc otherwise
 * raises its mmap threshold after the first such free and keeps later
 * ones in its heaps. A no-op where the allocator does this already. */
void gg_heap_return_large_blocks(void);

/* Allocation aligned for SIMD (64 bytes); free with gg_aligned_free. */
void *gg_aligned_alloc(size_t size);
void gg_aligned_free(void *p);

#endif
