/*
 * bench_attn_kernel.c - speed of the blocked attention kernel
 * (gg_attn_block) alone, one thread, as a long text's pass calls it: per
 * call, GG_ATTN_Q_MAX (or fewer) queries of one head over all keys of
 * their sequence, the calls going head by head so that the keys and
 * values of all heads stream through the caches as they do in a pass.
 * Prints CPU ns per block of 16 queries x 16 keys for the single
 * precision and (where the CPU has it) the bfloat16 products, and the
 * multiply-adds per ns.
 *
 * Usage: bench_attn_kernel [--keys N] [--heads H] [--d D] [--queries Q]
 *                          [--seconds S] [--only f32|bf16]
 * (defaults: nomic-embed-text at 8,192 tokens: 8192 keys, 12 heads of
 * 64, GG_ATTN_Q_MAX queries a call, 1 s a row)
 */
#include "kernels/kernels.h"
#include "platform/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct bench {
    int keys, heads, d, nq;
    float *q, *k, *v, *out, *scratch;
    int *lo, *hi;
} bench;

/* One round: every head once, its nq queries over all keys. */
static void round_heads(const bench *b, bool bf16) {
    for (int h = 0; h < b->heads; h++) {
        gg_attn_block_args a = {
            .nq = b->nq,
            .q = b->q + (size_t)h * b->d, .ld_q = (size_t)b->heads * b->d,
            .out = b->out + (size_t)h * b->d, .ld_out = (size_t)b->heads * b->d,
            .lo = b->lo, .hi = b->hi,
            .k = b->k + (size_t)h * b->keys * b->d, .ld_k = (size_t)b->d,
            .v = b->v + (size_t)h * b->keys * b->d, .ld_v = (size_t)b->d,
            .d = b->d, .scale = 0.125f, .pos0 = 0, .bf16 = bf16, .scratch = b->scratch,
        };
        gg_attn_block(&a);
    }
}

int main(int argc, char **argv) {
    bench b = {.keys = 8192, .heads = 12, .d = 64, .nq = GG_ATTN_Q_MAX};
    double seconds = 1.0;
    const char *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keys")) b.keys = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--heads")) b.heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--d")) b.d = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) b.nq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else {
            fprintf(stderr, "bench_attn_kernel: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (b.keys < 16 || b.heads < 1 || b.d < 1 || b.d > 256 || b.nq < 1 || b.nq > GG_ATTN_Q_MAX ||
        seconds <= 0) {
        fprintf(stderr, "bench_attn_kernel: keys >= 16, heads >= 1, 1 <= d <= 256, "
                        "1 <= queries <= %d, seconds > 0\n", GG_ATTN_Q_MAX);
        return 2;
    }
    const size_t kv = (size_t)b.heads * b.keys * b.d;
    b.q = gg_aligned_alloc(sizeof(float) * (size_t)b.nq * b.heads * b.d);
    b.out = gg_aligned_alloc(sizeof(float) * (size_t)b.nq * b.heads * b.d);
    b.k = gg_aligned_alloc(sizeof(float) * kv);
    b.v = gg_aligned_alloc(sizeof(float) * kv);
    b.scratch = gg_aligned_alloc(sizeof(float) * gg_attn_scratch_floats(b.d));
    b.lo = calloc((size_t)b.nq, sizeof(int));
    b.hi = calloc((size_t)b.nq, sizeof(int));
    if (!b.q || !b.out || !b.k || !b.v || !b.scratch || !b.lo || !b.hi) {
        fprintf(stderr, "bench_attn_kernel: out of memory\n");
        return 1;
    }
    unsigned s = 1;
    for (size_t i = 0; i < (size_t)b.nq * b.heads * b.d; i++) b.q[i] = frand(&s);
    for (size_t i = 0; i < kv; i++) b.k[i] = frand(&s), b.v[i] = frand(&s);
    for (int g = 0; g < b.nq; g++) b.hi[g] = b.keys;

    printf("one thread: %d keys, %d heads of %d, %d queries a call; K/V %.1f MB (F32)\n", b.keys,
           b.heads, b.d, b.nq, 2.0 * (double)kv * 4 / 1e6);
    printf("%-8s %14s %16s %12s\n", "products", "CPU ns/block", "multiply-adds/ns", "calls");
    const double blocks = (double)b.heads * ((b.nq + 15) / 16) * ((b.keys + 15) / 16);
    for (int pass = 0; pass < 2; pass++) {
        const bool bf16 = pass == 1;
        if (only && strcmp(only, bf16 ? "bf16" : "f32")) continue;
        if (bf16 && !gg_attn_bf16(b.d)) {
            printf("%-8s %14s\n", "bf16", "(none here)");
            continue;
        }
        round_heads(&b, bf16); /* warm up */
        int64_t t0 = gg_process_cpu_ns(), t1;
        long rounds = 0;
        do {
            round_heads(&b, bf16);
            rounds++;
            t1 = gg_process_cpu_ns();
        } while ((double)(t1 - t0) * 1e-9 < seconds);
        const double ns = (double)(t1 - t0) / ((double)rounds * blocks);
        /* a block: 16 x 16 scores and 16 x 16 weighted values, d each */
        printf("%-8s %14.1f %16.1f %12ld\n", bf16 ? "bf16" : "f32", ns, 2.0 * 256 * b.d / ns,
               rounds * b.heads);
        fflush(stdout);
    }
    return 0;
}
