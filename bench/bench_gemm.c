/*
 * bench_gemm.c - the matrix products of real model shapes against this
 * machine's int8 peak, on one thread, in CPU time (steadier than wall
 * time on a shared machine).
 *
 * peak: the int8 multiply-add instructions of the level's packed products
 *       (vnni_peak.c), independent sums as fast as the core issues them:
 *       avx512 vpdpbusd zmm (64 multiply-adds = 128 int8 ops each),
 *       avxvnni vpdpbusd ymm (64 ops), avx2 and avx512-plain (whose packed
 *       products are AVX2's) vpmaddubsw + vpmaddwd + vpaddd ymm (64 ops);
 *       all three are printed, and each shape's fraction of its level's;
 * each shape: `rows x cols` weights of a type times n_tok tokens through
 *       gg_gemm_rows (the packed path) where the type has one, else
 *       gg_matmul_rows: GOPS (2 * rows * cols * n_tok / s), its fraction
 *       of the peak, and GB/s of weights read.
 * Each figure is the fastest of the calls made in --seconds of CPU time.
 *
 * --cold: the weights come from memory, not from the caches: each call
 *       reads the next of enough copies of the matrix to fill 512 MB, as
 *       a forward pass reads each matrix once. The table then adds the
 *       machine's memory bandwidth (a plain read of 512 MB, one thread and
 *       --threads threads) and each shape's "of BW": the time streaming
 *       its weights once takes at that bandwidth over the time measured
 *       (100%: bound by memory bandwidth alone).
 * --threads N: N threads on disjoint row ranges (as the forward pass
 *       splits a product), timed in wall time (best call).
 * --rows N: each shape cut to its first N rows (a multiple of 16): the
 *       same columns, type and kernel, on weights small enough to stay in
 *       the core's caches. Against the whole shape with --cold, what
 *       streaming the weights from memory costs the kernel.
 * Usage: bench_gemm [--seconds S] [--tokens 1,13,64,512] [--only NAME]
 *                   [--level scalar|avx2|avxvnni|avx512-plain|avx512]
 *                   [--cold] [--threads N] [--rows N]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_THREAD_CPUTIME_ID */
#include "kernels/kernels.h"
#include "platform/platform.h"
#include "bench_matrix.h"
#include "threadpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(GG_BENCH_PEAK)
#define HAVE_PEAK 1
#endif

static double cpu_seconds(void) {
#if defined(CLOCK_THREAD_CPUTIME_ID)
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#else
    return (double)gg_now_ns() * 1e-9;
#endif
}

#ifdef HAVE_PEAK
/* vnni_peak.c: n rounds of 16 (zmm), 14 (ymm) or 6 (vpmaddubsw) independent
 * sums; each called only on a CPU that has its instructions. */
int gg_bench_dp_rounds(long n, char x);
int gg_bench_dp_rounds_ymm(long n, char x);
int gg_bench_mb_rounds_ymm(long n, char x);

/* int8 GOPS on one thread: `per` sums of `ops` int8 operations a round. */
static double int8_peak(int (*rounds_fn)(long, char), int per, int ops, double budget) {
    static volatile char seed = 1;
    volatile int sink = 0;
    long rounds = 0;
    double t0 = cpu_seconds(), t;
    do {
        sink += rounds_fn(1000000, seed);
        rounds += 1000000;
        t = cpu_seconds() - t0;
    } while (t < budget);
    (void)sink;
    return (double)rounds * per * ops / t * 1e-9;
}
#endif

static gg_simd parse_level(const char *v) {
    for (int l = GG_SIMD_SCALAR; l <= GG_SIMD_AVX512; l++)
        if (strcmp(v, gg_simd_name((gg_simd)l)) == 0) return (gg_simd)l;
    fprintf(stderr, "bench_gemm: unknown level %s\n", v);
    exit(2);
}

typedef struct shape {
    const char *model, *what;
    gg_type type;
    int64_t rows, cols;
} shape;

static const shape shapes[] = {
    {"7B (Mistral)", "q,o", GG_TYPE_Q4_K, 4096, 4096},
    {"7B (Mistral)", "gate,up", GG_TYPE_Q4_K, 14336, 4096},
    {"7B (Mistral)", "down", GG_TYPE_Q6_K, 4096, 14336},
    {"7B (Mistral)", "down", GG_TYPE_Q4_K, 4096, 14336},
    {"qwen2-7B", "q,o", GG_TYPE_Q4_K, 3584, 3584},
    {"qwen2-7B", "gate,up", GG_TYPE_Q4_K, 18944, 3584},
    {"qwen2-7B", "down", GG_TYPE_Q6_K, 3584, 18944},
    {"nomic-text", "q,k,v,o", GG_TYPE_Q8_0, 768, 768},
    {"nomic-text", "up", GG_TYPE_Q8_0, 3072, 768},
    {"nomic-text", "down", GG_TYPE_Q8_0, 768, 3072},
    /* nomic-embed-text Q4_K_M: 768 wide, so one 3-super-block panel a row group */
    {"nomic-q4_K_M", "qkv", GG_TYPE_Q4_K, 2304, 768},
    {"nomic-q4_K_M", "qkv", GG_TYPE_Q5_K, 2304, 768},
    {"nomic-q4_K_M", "o", GG_TYPE_Q4_K, 768, 768},
    {"nomic-q4_K_M", "up,gate", GG_TYPE_Q4_K, 3072, 768},
    {"nomic-q4_K_M", "down", GG_TYPE_Q6_K, 768, 3072},
    {"nomic-q4_K_M", "down", GG_TYPE_Q4_K, 768, 3072},
};

/* ---- memory bandwidth ---- */

#define BW_BYTES ((size_t)512 << 20)

typedef struct bw_job {
    const uint64_t *buf;
    size_t words_per_task;
    uint64_t sums[64];
} bw_job;

static void bw_task(void *ctx, int task, int thread) {
    (void)thread;
    bw_job *j = ctx;
    const uint64_t *p = j->buf + (size_t)task * j->words_per_task;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < j->words_per_task; i += 8) {
        a += p[i] ^ p[i + 1];
        b += p[i + 2] ^ p[i + 3];
        c += p[i + 4] ^ p[i + 5];
        d += p[i + 6] ^ p[i + 7];
    }
    j->sums[task % 64] += a + b + c + d;
}

/* Bytes per second that n threads read from memory (best of 5; one
 * thread in CPU time, as the products). */
static double mem_bandwidth(gg_pool *pool, int n) {
    uint64_t *buf = gg_aligned_alloc(BW_BYTES);
    memset(buf, 1, BW_BYTES);
    bw_job j = {.buf = buf, .words_per_task = BW_BYTES / 8 / (size_t)n};
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = n > 1 ? (double)gg_now_ns() * 1e-9 : cpu_seconds();
        gg_pool_run(pool, n, bw_task, &j);
        double t = (n > 1 ? (double)gg_now_ns() * 1e-9 : cpu_seconds()) - t0;
        if (t < best) best = t;
    }
    gg_aligned_free(buf);
    return (double)BW_BYTES / best;
}

/* ---- products ---- */

typedef struct mm_job {
    const gg_matrix *m;
    const uint8_t *a;
    size_t stride;
    int n_tok;
    float *y;
    bool packed;
    int64_t per;
} mm_job;

static void mm_task(void *ctx, int task, int thread) {
    (void)thread;
    mm_job *j = ctx;
    int64_t r0 = task * j->per, r1 = GG_MIN(r0 + j->per, j->m->rows);
    if (j->packed) gg_gemm_rows(j->m, j->a, j->stride, j->n_tok, j->y, j->m->rows, r0, r1);
    else gg_matmul_rows(j->m, j->a, j->stride, j->n_tok, j->y, j->m->rows, r0, r1);
}

static gg_pool *pool; /* --threads */
static int n_threads = 1;
static bool cold; /* --cold */

/* Seconds per product of m with n_tok tokens: CPU seconds on one thread,
 * wall seconds with more; with `copies` > 1 each call reads the next copy
 * of the weights (copies[i] = data of copy i). */
static double time_product(const gg_matrix *m0, const void *const *copies, int n_copies, int n_tok,
                           double budget) {
    gg_matrix mc = *m0;
    const gg_matrix *m = &mc;
    size_t stride = gg_gemm_act_size(m);
    const bool packed = stride != 0;
    gg_type at = gg_type_info(m->type)->vec_dot_type;
    if (!packed) stride = gg_row_size(at, m->cols);
    uint8_t *a = gg_aligned_alloc(stride * (size_t)n_tok);
    float *x = malloc((size_t)m->cols * sizeof *x);
    float *y = malloc(sizeof(float) * (size_t)m->rows * (size_t)n_tok);
    unsigned s = 7;
    for (int k = 0; k < n_tok; k++) {
        for (int64_t i = 0; i < m->cols; i++) x[i] = bench_frand(&s);
        if (packed) gg_gemm_pack_act(m, x, a + (size_t)k * stride);
        else gg_quantize_act(at, x, a + (size_t)k * stride, m->cols);
    }
    /* the fastest call: others on the machine only ever slow one down */
    double best = 1e30, spent = 0;
    int call = 0;
    mm_job j = {.m = m, .a = a, .stride = stride, .n_tok = n_tok, .y = y, .packed = packed};
    /* disjoint row ranges, a multiple of 16 rows each, one per thread */
    j.per = ((m->rows + n_threads - 1) / n_threads + 15) & ~(int64_t)15;
    do {
        mc.data = copies[call++ % n_copies];
        double t0 = n_threads > 1 ? (double)gg_now_ns() * 1e-9 : cpu_seconds();
        if (n_threads > 1) gg_pool_run(pool, (int)((m->rows + j.per - 1) / j.per), mm_task, &j);
        else mm_task(&j, 0, 0);
        double t = (n_threads > 1 ? (double)gg_now_ns() * 1e-9 : cpu_seconds()) - t0;
        spent += t;
        if (t < best) best = t;
    } while (spent < budget || call < n_copies);
    gg_aligned_free(a);
    free(x);
    free(y);
    return best;
}

int main(int argc, char **argv) {
    double budget = 0.5;
    int toks[16] = {1, 13, 64, 512}, n_toks = 4;
    const char *only = NULL;
    int64_t max_rows = 0; /* --rows; 0: the shapes' own */
    gg_simd want = GG_SIMD_AVX512;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) budget = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc) want = parse_level(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) n_threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cold") == 0) cold = true;
        else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) max_rows = atoll(argv[++i]);
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
            n_toks = 0;
            for (char *p = argv[++i]; *p && n_toks < 16;) {
                toks[n_toks++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
            }
        } else {
            fprintf(stderr, "usage: bench_gemm [--seconds S] [--tokens 1,13,64,512] [--only NAME] "
                            "[--level scalar|avx2|avxvnni|avx512-plain|avx512] [--cold] [--threads N] "
                            "[--rows N]\n");
            return 2;
        }
    }
    if (max_rows < 0 || max_rows % 16) {
        fprintf(stderr, "bench_gemm: --rows must be a multiple of 16\n");
        return 2;
    }
    if (n_threads < 1 || n_threads > 64) {
        fprintf(stderr, "bench_gemm: --threads must be 1..64\n");
        return 2;
    }
    const gg_simd level = gg_kernels_select(want);
    if (level != want)
        printf("level %s not available here: %s instead\n", gg_simd_name(want), gg_simd_name(level));
    gg_err e = {0};
    pool = gg_pool_new(n_threads, &e);
    if (!pool) {
        fprintf(stderr, "bench_gemm: %s\n", e.msg);
        return 1;
    }
    double bw = 0;
    if (cold) {
        gg_pool *one = gg_pool_new(1, &e);
        if (!one) {
            fprintf(stderr, "bench_gemm: %s\n", e.msg);
            return 1;
        }
        double bw1 = mem_bandwidth(one, 1);
        gg_pool_free(one);
        bw = n_threads > 1 ? mem_bandwidth(pool, n_threads) : bw1;
        printf("memory bandwidth (read %zu MB): %.1f GB/s one thread", BW_BYTES >> 20, bw1 * 1e-9);
        if (n_threads > 1) printf(", %.1f GB/s %d threads", bw * 1e-9, n_threads);
        printf("\n");
    }
    double pk_zmm = 0, pk_ymm = 0, pk_mb = 0, peak = 0;
    const char *peak_of = "none";
#ifdef HAVE_PEAK
    const gg_cpu_features *f = gg_cpu_get();
    if (f->avx512vnni) pk_zmm = int8_peak(gg_bench_dp_rounds, 16, 128, budget);
    if (f->avxvnni) pk_ymm = int8_peak(gg_bench_dp_rounds_ymm, 14, 64, budget);
    if (f->avx2) pk_mb = int8_peak(gg_bench_mb_rounds_ymm, 6, 64, budget);
    if (pk_zmm > 0) printf("int8 peak, vpdpbusd zmm: %.0f GOPS per thread\n", pk_zmm);
    if (pk_ymm > 0) printf("int8 peak, vpdpbusd ymm: %.0f GOPS per thread\n", pk_ymm);
    if (pk_mb > 0) printf("int8 peak, vpmaddubsw+vpmaddwd+vpaddd ymm: %.0f GOPS per thread\n", pk_mb);
    if (level == GG_SIMD_AVX512 && f->avx512vnni) peak = pk_zmm, peak_of = "vpdpbusd zmm";
    else if (level == GG_SIMD_AVXVNNI) peak = pk_ymm, peak_of = "vpdpbusd ymm";
    else if (level >= GG_SIMD_AVX2) peak = pk_mb, peak_of = "vpmaddubsw ymm";
#endif
    if (n_threads > 1)
        printf("kernel level %s; %d threads, wall time%s; of peak: of %s\n", gg_simd_name(level),
               n_threads, cold ? ", cold weights" : "", peak_of);
    else
        printf("kernel level %s; one thread, CPU time%s; of peak: of %s\n", gg_simd_name(level),
               cold ? ", cold weights" : "", peak_of);
    printf("%-13s %-8s %-5s %13s %6s %8s %8s %8s %7s\n", "model", "matrix", "type", "rows x cols",
           "tokens", "GOPS", "of peak", "GB/s", cold ? "of BW" : "");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *sh = &shapes[i];
        if (only && !strstr(sh->model, only)) continue;
        const int64_t rows = max_rows && max_rows < sh->rows ? max_rows : sh->rows;
        gg_matrix m = bench_make_matrix(sh->type, rows, sh->cols);
        const size_t bytes = m.row_bytes * (size_t)m.rows;
        const void *copies[256] = {m.data};
        int n_copies = 1;
        while (cold && n_copies < 256 && (size_t)n_copies * bytes < BW_BYTES) {
            void *c = gg_aligned_alloc(bytes);
            memcpy(c, m.data, bytes);
            copies[n_copies++] = c;
        }
        for (int k = 0; k < n_toks; k++) {
            double sec = time_product(&m, copies, n_copies, toks[k], budget);
            double gops = 2.0 * (double)rows * (double)sh->cols * toks[k] / sec * 1e-9;
            char dims[32];
            snprintf(dims, sizeof dims, "%lldx%lld", (long long)rows, (long long)sh->cols);
            /* the peak is one thread's: n threads have n times it */
            printf("%-13s %-8s %-5s %13s %6d %8.1f %7.1f%% %8.2f", sh->model, sh->what,
                   gg_type_name(sh->type), dims, toks[k], gops,
                   peak > 0 ? 100 * gops / (peak * n_threads) : 0.0, (double)bytes / sec * 1e-9);
            if (cold) printf(" %6.1f%%", 100 * ((double)bytes / bw) / sec);
            printf("\n");
            fflush(stdout);
        }
        for (int c = 0; c < n_copies; c++) gg_aligned_free((void *)copies[c]);
    }
    gg_pool_free(pool);
    return 0;
}
