/*
 * bench_kernels.c - speed of the matrix products at each SIMD level.
 *
 * For every computed type and every level this CPU has, times
 * gg_matmul_rows on one thread:
 *   mv: one activation row (a token) against a weight matrix too large
 *       for the caches, as in generation: bound by memory bandwidth, so
 *       GB/s of weights read is the figure to watch;
 *   mm: a batch of tokens against a matrix that fits in the caches, as in
 *       embedding a batch of texts: bound by arithmetic, so GFLOP/s.
 * Usage: bench_kernels [seconds per measurement, default 0.3]
 */
#include "kernels/kernels.h"
#include "platform/platform.h"
#include "bench_matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gg_type types[] = {GG_TYPE_F32,  GG_TYPE_F16,  GG_TYPE_BF16, GG_TYPE_Q8_0, GG_TYPE_Q4_0,
                                GG_TYPE_Q4_1, GG_TYPE_Q5_0, GG_TYPE_Q5_1, GG_TYPE_Q2_K, GG_TYPE_Q3_K,
                                GG_TYPE_Q4_K, GG_TYPE_Q5_K, GG_TYPE_Q6_K};

/* Seconds per call of gg_matmul_rows, repeated for at least `budget` s. */
static double time_matmul(const gg_matrix *m, const void *a, size_t as, int n_tok, float *y,
                          double budget) {
    gg_matmul_rows(m, a, as, n_tok, y, m->rows, 0, m->rows); /* warm up */
    int64_t t0 = gg_now_ns(), t1;
    long calls = 0;
    do {
        gg_matmul_rows(m, a, as, n_tok, y, m->rows, 0, m->rows);
        calls++;
        t1 = gg_now_ns();
    } while ((double)(t1 - t0) * 1e-9 < budget);
    return (double)(t1 - t0) * 1e-9 / (double)calls;
}

/* The same through the packed path (gg_gemm_rows), where it exists. */
static double time_gemm(const gg_matrix *m, const void *a, size_t as, int n_tok, float *y,
                        double budget) {
    gg_gemm_rows(m, a, as, n_tok, y, m->rows, 0, m->rows);
    int64_t t0 = gg_now_ns(), t1;
    long calls = 0;
    do {
        gg_gemm_rows(m, a, as, n_tok, y, m->rows, 0, m->rows);
        calls++;
        t1 = gg_now_ns();
    } while ((double)(t1 - t0) * 1e-9 < budget);
    return (double)(t1 - t0) * 1e-9 / (double)calls;
}

static void *make_packed(const gg_matrix *m, int n_tok, size_t *stride) {
    *stride = gg_gemm_act_size(m);
    if (!*stride) return NULL;
    uint8_t *a = gg_aligned_alloc(*stride * (size_t)n_tok);
    float *x = malloc((size_t)m->cols * sizeof *x);
    unsigned s = 7;
    for (int k = 0; k < n_tok; k++) {
        for (int64_t i = 0; i < m->cols; i++) x[i] = bench_frand(&s);
        gg_gemm_pack_act(m, x, a + (size_t)k * *stride);
    }
    free(x);
    return a;
}

/* Activations: n_tok rows of cols values in t's vec_dot_type. */
static void *make_act(gg_type t, int64_t cols, int n_tok, size_t *stride) {
    gg_type at = gg_type_info(t)->vec_dot_type;
    *stride = gg_row_size(at, cols);
    uint8_t *a = gg_aligned_alloc(*stride * (size_t)n_tok);
    float *x = malloc((size_t)cols * sizeof *x);
    unsigned s = 7;
    for (int k = 0; k < n_tok; k++) {
        for (int64_t i = 0; i < cols; i++) x[i] = bench_frand(&s);
        gg_quantize_act(at, x, a + (size_t)k * *stride, cols);
    }
    free(x);
    return a;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.3;
    if (budget <= 0) budget = 0.3;
    const int64_t cols = 4096, mv_rows = 4096, mm_rows = 256;
    const int mm_tok = 64;
    printf("one thread; mv: %lld x %lld matrix, 1 token; mm: %lld x %lld matrix, %d tokens\n",
           (long long)mv_rows, (long long)cols, (long long)mm_rows, (long long)cols, mm_tok);
    printf("(packed: the gg_gemm_rows path, where the level has one)\n");
    printf("%-6s %-7s %10s %12s %12s %10s %12s\n", "type", "level", "mv GB/s", "mv GFLOP/s",
           "mm GFLOP/s", "packed mv", "packed mm");
    float *y = malloc(sizeof(float) * (size_t)(mv_rows > mm_rows * mm_tok ? mv_rows : mm_rows * mm_tok));
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        gg_type t = types[i];
        gg_matrix mv = bench_make_matrix(t, mv_rows, cols), mm = bench_make_matrix(t, mm_rows, cols);
        for (int lvl = GG_SIMD_SCALAR; lvl <= GG_SIMD_AVX512; lvl++) {
            if (gg_kernels_select((gg_simd)lvl) != (gg_simd)lvl) continue;
            size_t as;
            void *a = make_act(t, cols, mm_tok, &as);
            double s1 = time_matmul(&mv, a, as, 1, y, budget);
            double s2 = time_matmul(&mm, a, as, mm_tok, y, budget);
            double bytes = (double)mv.row_bytes * (double)mv_rows;
            printf("%-6s %-7s %10.2f %12.2f %12.2f", gg_type_name(t), gg_simd_name((gg_simd)lvl),
                   bytes / s1 * 1e-9, 2.0 * (double)mv_rows * (double)cols / s1 * 1e-9,
                   2.0 * (double)mm_rows * (double)cols * mm_tok / s2 * 1e-9);
            size_t ps;
            void *p = make_packed(&mm, mm_tok, &ps);
            if (p) {
                double s3 = time_gemm(&mv, p, ps, 1, y, budget);
                double s4 = time_gemm(&mm, p, ps, mm_tok, y, budget);
                printf(" %10.2f %12.2f", bytes / s3 * 1e-9,
                       2.0 * (double)mm_rows * (double)cols * mm_tok / s4 * 1e-9);
                gg_aligned_free(p);
            }
            printf("\n");
            fflush(stdout);
            gg_aligned_free(a);
        }
        gg_aligned_free((void *)mv.data);
        gg_aligned_free((void *)mm.data);
    }
    free(y);
    return 0;
}
