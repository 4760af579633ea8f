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
 * Usage: bench_gemm [--seconds S] [--tokens 1,13,64,512] [--only NAME]
 *                   [--level scalar|avx2|avxvnni|avx512-plain|avx512]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_THREAD_CPUTIME_ID */
#include "kernels/kernels.h"
#include "platform/platform.h"
#include "bench_matrix.h"

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
};

/* CPU seconds per product of m with n_tok tokens. */
static double time_product(const gg_matrix *m, int n_tok, double budget) {
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
    do {
        double t0 = cpu_seconds();
        if (packed) gg_gemm_rows(m, a, stride, n_tok, y, m->rows, 0, m->rows);
        else gg_matmul_rows(m, a, stride, n_tok, y, m->rows, 0, m->rows);
        double t = cpu_seconds() - t0;
        spent += t;
        if (t < best) best = t;
    } while (spent < budget);
    gg_aligned_free(a);
    free(x);
    free(y);
    return best;
}

int main(int argc, char **argv) {
    double budget = 0.5;
    int toks[16] = {1, 13, 64, 512}, n_toks = 4;
    const char *only = NULL;
    gg_simd want = GG_SIMD_AVX512;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) budget = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc) want = parse_level(argv[++i]);
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
            n_toks = 0;
            for (char *p = argv[++i]; *p && n_toks < 16;) {
                toks[n_toks++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
            }
        } else {
            fprintf(stderr, "usage: bench_gemm [--seconds S] [--tokens 1,13,64,512] [--only NAME] "
                            "[--level scalar|avx2|avxvnni|avx512-plain|avx512]\n");
            return 2;
        }
    }
    const gg_simd level = gg_kernels_select(want);
    if (level != want)
        printf("level %s not available here: %s instead\n", gg_simd_name(want), gg_simd_name(level));
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
    printf("kernel level %s; one thread, CPU time; of peak: of %s\n", gg_simd_name(level), peak_of);
    printf("%-13s %-8s %-5s %13s %6s %8s %8s %8s\n", "model", "matrix", "type", "rows x cols",
           "tokens", "GOPS", "of peak", "GB/s");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *sh = &shapes[i];
        if (only && !strstr(sh->model, only)) continue;
        gg_matrix m = bench_make_matrix(sh->type, sh->rows, sh->cols);
        for (int k = 0; k < n_toks; k++) {
            double sec = time_product(&m, toks[k], budget);
            double gops = 2.0 * (double)sh->rows * (double)sh->cols * toks[k] / sec * 1e-9;
            char dims[32];
            snprintf(dims, sizeof dims, "%lldx%lld", (long long)sh->rows, (long long)sh->cols);
            printf("%-13s %-8s %-5s %13s %6d %8.1f %7.1f%% %8.2f\n", sh->model, sh->what,
                   gg_type_name(sh->type), dims, toks[k], gops, peak > 0 ? 100 * gops / peak : 0.0,
                   (double)m.row_bytes * (double)m.rows / sec * 1e-9);
            fflush(stdout);
        }
        gg_aligned_free((void *)m.data);
    }
    return 0;
}
