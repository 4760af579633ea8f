/*
 * bench_attn_kernel.c - speed of the blocked attention kernel
 * (gg_attn_block) alone, one thread, as a long text's pass calls it: per
 * call, GG_ATTN_Q_MAX (or fewer) queries of one head over all keys of
 * their sequence, the calls going head by head so that the keys and
 * values of all heads stream through the caches as they do in a pass.
 * Prints CPU ns per block of 16 queries x 16 keys for each form of the
 * keys and values (gg_attn_form: single precision, and where the CPU has
 * them bfloat16 and int8 scores), the multiply-adds per ns, and for the
 * packed forms what packing every head's keys and values once (as a
 * layer does, gg_attn_pack) costs per block of a call of 256 queries,
 * and how far their output lies from single precision's: the rms of the
 * difference over the rms of F32's output, all heads (the queries and
 * keys uniform in [-1, 1], so --scale sets how sharp the scores are: the
 * scores' standard deviation is scale x sqrt(d) / 3).
 *
 * Usage: bench_attn_kernel [--keys N] [--heads H] [--d D] [--queries Q]
 *                          [--seconds S] [--only f32|bf16|i8|i8f|i8v] [--scale S]
 *                          [--level scalar|avx2|avxvnni|avx512-plain|avx512]
 * (defaults: nomic-embed-text at 8,192 tokens: 8192 keys, 12 heads of
 * 64, GG_ATTN_Q_MAX queries a call, 1 s a row)
 */
#include "kernels/kernels.h"
#include "platform/platform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* n rounds of 14 independent vdpbf16ps (op "vdpbf16ps") or vpdpbusd
 * zmm: the peak the kernel's products approach (32 and 64 multiply-adds
 * per instruction). Assembly, so that nothing but the instructions is
 * measured (registers below 16: no AVX-512 flags needed to build it). */
/* inline assembly: a line per group of instructions, as written */
/* clang-format off */
#define PEAK_N 14
#define PEAK_LOOP(name, op)                                                                        \
    static void name(long n) {                                                                     \
        __asm__ volatile("vpxor %%xmm14, %%xmm14, %%xmm14\n\tvpxor %%xmm15, %%xmm15, %%xmm15\n\t" \
                         "1:\n\t" op " %%zmm15, %%zmm14, %%zmm0\n\t" op " %%zmm15, %%zmm14, %%zmm1\n\t" \
                         op " %%zmm15, %%zmm14, %%zmm2\n\t" op " %%zmm15, %%zmm14, %%zmm3\n\t"          \
                         op " %%zmm15, %%zmm14, %%zmm4\n\t" op " %%zmm15, %%zmm14, %%zmm5\n\t"          \
                         op " %%zmm15, %%zmm14, %%zmm6\n\t" op " %%zmm15, %%zmm14, %%zmm7\n\t"          \
                         op " %%zmm15, %%zmm14, %%zmm8\n\t" op " %%zmm15, %%zmm14, %%zmm9\n\t"          \
                         op " %%zmm15, %%zmm14, %%zmm10\n\t" op " %%zmm15, %%zmm14, %%zmm11\n\t"        \
                         op " %%zmm15, %%zmm14, %%zmm12\n\t" op " %%zmm15, %%zmm14, %%zmm13\n\t"        \
                         "dec %0\n\tjnz 1b\n\tvzeroupper"                                                   \
                         : "+r"(n)                                                                  \
                         :                                                                          \
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",  \
                           "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");     \
    }
PEAK_LOOP(peak_bf16, "vdpbf16ps")
PEAK_LOOP(peak_i8, "vpdpbusd")
/* clang-format on */

/* Instructions per ns of loop (PEAK_N x n a call), over about 0.2 s. */
static double peak_rate(void (*loop)(long)) {
    const long n = 1L << 22;
    loop(n); /* warm up */
    int64_t t0 = gg_process_cpu_ns(), t1;
    long rounds = 0;
    do {
        loop(n);
        rounds++;
        t1 = gg_process_cpu_ns();
    } while (t1 - t0 < 200000000);
    return PEAK_N * (double)n * (double)rounds / (double)(t1 - t0);
}

/* The CPU's peak of both products on one thread, where it has them. */
static void print_peaks(void) {
    const gg_cpu_features *f = gg_cpu_get();
    if (f->avx512bf16) {
        const double r = peak_rate(peak_bf16);
        printf("peak vdpbf16ps zmm: %.2f per ns = %.1f multiply-adds/ns\n", r, 32 * r);
    }
    if (f->avx512vnni) {
        const double r = peak_rate(peak_i8);
        printf("peak vpdpbusd zmm: %.2f per ns = %.1f multiply-adds/ns\n", r, 64 * r);
    }
}
#else
static void print_peaks(void) {}
#endif

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct bench {
    int keys, heads, d, nq;
    float scale;
    float *q, *k, *v, *kp, *vp, *out, *ref, *scratch;
    int *lo, *hi;
} bench;

/* One round: every head once, its nq queries over all keys. */
static void round_heads(const bench *b, gg_attn_form form) {
    const bool f32 = form == GG_ATTN_F32;
    for (int h = 0; h < b->heads; h++) {
        /* clang-format off */
        gg_attn_block_args a = {
            .nq = b->nq,
            .q = b->q + (size_t)h * b->d, .ld_q = (size_t)b->heads * b->d,
            .out = b->out + (size_t)h * b->d, .ld_out = (size_t)b->heads * b->d,
            .lo = b->lo, .hi = b->hi,
            .k = (f32 ? b->k : b->kp) + (size_t)h * b->keys * b->d, .ld_k = (size_t)b->d,
            .v = (f32 ? b->v : b->vp) + (size_t)h * b->keys * b->d, .ld_v = (size_t)b->d,
            .d = b->d, .scale = b->scale, .pos0 = 0, .form = form, .scratch = b->scratch,
        };
        /* clang-format on */
        gg_attn_block(&a);
    }
}

int main(int argc, char **argv) {
    bench b = {.keys = 8192, .heads = 12, .d = 64, .nq = GG_ATTN_Q_MAX, .scale = 0.125f};
    double seconds = 1.0;
    const char *only = NULL, *level = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keys")) b.keys = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--heads")) b.heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--d")) b.d = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) b.nq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--level")) level = argv[i + 1];
        else if (!strcmp(argv[i], "--scale")) b.scale = (float)atof(argv[i + 1]);
        else {
            fprintf(stderr, "bench_attn_kernel: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (b.keys < 16 || b.heads < 1 || b.d < 1 || b.d > 256 || b.nq < 1 || b.nq > GG_ATTN_Q_MAX ||
        seconds <= 0) {
        fprintf(stderr,
                "bench_attn_kernel: keys >= 16, heads >= 1, 1 <= d <= 256, "
                "1 <= queries <= %d, seconds > 0\n",
                GG_ATTN_Q_MAX);
        return 2;
    }
    if (level) { /* the kernels of that level (the highest this CPU has at most it) */
        int l = GG_SIMD_SCALAR;
        while (l <= GG_SIMD_AVX512 && strcmp(level, gg_simd_name((gg_simd)l))) l++;
        if (l > GG_SIMD_AVX512) {
            fprintf(stderr, "bench_attn_kernel: unknown level %s\n", level);
            return 2;
        }
        if (gg_kernels_select((gg_simd)l) != (gg_simd)l) {
            fprintf(stderr, "bench_attn_kernel: level %s is not available here\n", level);
            return 2;
        }
    }
    const size_t kv = (size_t)b.heads * b.keys * b.d;
    b.q = gg_aligned_alloc(sizeof(float) * (size_t)b.nq * b.heads * b.d);
    b.out = gg_aligned_alloc(sizeof(float) * (size_t)b.nq * b.heads * b.d);
    b.ref = gg_aligned_alloc(sizeof(float) * (size_t)b.nq * b.heads * b.d);
    b.k = gg_aligned_alloc(sizeof(float) * kv);
    b.v = gg_aligned_alloc(sizeof(float) * kv);
    b.kp = gg_aligned_alloc(sizeof(float) * kv);
    b.vp = gg_aligned_alloc(sizeof(float) * kv);
    b.scratch = gg_aligned_alloc(sizeof(float) * gg_attn_scratch_floats(b.d));
    b.lo = calloc((size_t)b.nq, sizeof(int));
    b.hi = calloc((size_t)b.nq, sizeof(int));
    if (!b.q || !b.out || !b.ref || !b.k || !b.v || !b.kp || !b.vp || !b.scratch || !b.lo || !b.hi) {
        fprintf(stderr, "bench_attn_kernel: out of memory\n");
        return 1;
    }
    unsigned s = 1;
    for (size_t i = 0; i < (size_t)b.nq * b.heads * b.d; i++) b.q[i] = frand(&s);
    for (size_t i = 0; i < kv; i++) b.k[i] = frand(&s), b.v[i] = frand(&s);
    for (int g = 0; g < b.nq; g++) b.hi[g] = b.keys;

    printf("one thread, level %s: %d keys, %d heads of %d, %d queries a call; K/V %.1f MB (F32)\n",
           gg_simd_name(gg_kernels_level()), b.keys, b.heads, b.d, b.nq, 2.0 * (double)kv * 4 / 1e6);
    print_peaks();
    round_heads(&b, GG_ATTN_F32); /* what the packed forms are measured against */
    memcpy(b.ref, b.out, sizeof(float) * (size_t)b.nq * b.heads * b.d);
    printf("scores: scale %g, standard deviation %.2f\n", (double)b.scale,
           (double)b.scale * sqrt((double)b.d) / 3);
    printf("%-8s %14s %16s %12s %16s %14s\n", "form", "CPU ns/block", "multiply-adds/ns", "calls",
           "pack ns/block", "rms vs f32 %");
    const double blocks = (double)b.heads * ((b.nq + 15) / 16) * ((b.keys + 15) / 16);
    static const char *names[] = {"f32", "bf16", "i8", "i8f", "i8v"};
    for (int f = GG_ATTN_F32; f <= GG_ATTN_I8V; f++) {
        const gg_attn_form form = (gg_attn_form)f;
        if (only && strcmp(only, names[f])) continue;
        if (!gg_attn_has(form, b.d)) {
            printf("%-8s %14s\n", names[f], "(none here)");
            continue;
        }
        double pack_ns = 0;
        if (form != GG_ATTN_F32) { /* a layer's packing, per block of a 256-query call */
            memcpy(b.kp, b.k, sizeof(float) * kv), memcpy(b.vp, b.v, sizeof(float) * kv);
            const int64_t p0 = gg_process_cpu_ns();
            for (int h = 0; h < b.heads; h++)
                gg_attn_pack(form, b.kp + (size_t)h * b.keys * b.d, b.vp + (size_t)h * b.keys * b.d,
                             b.keys, b.d);
            pack_ns = (double)(gg_process_cpu_ns() - p0) /
                      ((double)b.heads * (GG_ATTN_Q_MAX / 16) * ((b.keys + 15) / 16));
        }
        round_heads(&b, form); /* warm up */
        int64_t t0 = gg_process_cpu_ns(), t1;
        long rounds = 0;
        do {
            round_heads(&b, form);
            rounds++;
            t1 = gg_process_cpu_ns();
        } while ((double)(t1 - t0) * 1e-9 < seconds);
        const double ns = (double)(t1 - t0) / ((double)rounds * blocks);
        double err = 0, sum = 0;
        for (size_t i = 0; i < (size_t)b.nq * b.heads * b.d; i++) {
            const double x = b.out[i] - b.ref[i];
            err += x * x, sum += (double)b.ref[i] * b.ref[i];
        }
        /* a block: 16 x 16 scores and 16 x 16 weighted values, d each */
        printf("%-8s %14.1f %16.1f %12ld %16.1f %14.2f\n", names[f], ns, 2.0 * 256 * b.d / ns,
               rounds * b.heads, pack_ns, 100 * sqrt(err / sum));
        fflush(stdout);
    }
    return 0;
}
