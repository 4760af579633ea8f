/*
 * bench_matrix.h - the random quantized matrices both kernel benchmarks
 * time (bench_kernels.c, bench_gemm.c): the same seed and values in each,
 * so their numbers are of the same data.
 */
#ifndef GG_BENCH_MATRIX_H
#define GG_BENCH_MATRIX_H

#include "kernels/kernels.h"
#include "platform/platform.h"

#include <stdlib.h>

static inline float bench_frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* A rows x cols matrix of `t` quantized from random floats. */
static inline gg_matrix bench_make_matrix(gg_type t, int64_t rows, int64_t cols) {
    gg_matrix m = {NULL, t, cols, rows, gg_row_size(t, cols)};
    uint8_t *d = gg_aligned_alloc(m.row_bytes * (size_t)rows);
    float *x = malloc((size_t)cols * sizeof *x);
    unsigned s = 1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) x[i] = bench_frand(&s);
        gg_quantize_row_ref(t, x, d + (size_t)r * m.row_bytes, cols);
    }
    free(x);
    m.data = d;
    return m;
}

#endif
