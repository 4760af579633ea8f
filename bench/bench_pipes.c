/*
 * bench_pipes.c - which instructions share the execution pipes of
 * vpdpbusd zmm on this CPU: the question that decides how a packed
 * product's register tile spends the instructions around its dots
 * (gemm_tile_x86.h).
 *
 * Each loop runs 16 vpdpbusd zmm on independent sums (the peak loop of
 * vnni_peak.c) plus, after every 8 of them, K instructions of one other
 * kind on registers of their own (independent of the dots; a chain of
 * its own per register, at most one link per round, so that no latency
 * is measured). Printed: the vpdpbusd per ns, their rate against the
 * loop without extras, and what that means: about 100% when the extras
 * issue on other pipes, 16 / (16 + 2K) when they take the dots' slots.
 * The "memory broadcast" rows instead give each vpdpbusd a 4-byte operand
 * broadcast from memory ({1to16}, as the tile's activations are), or add
 * separate vpbroadcastd loads (up to one per dot, the tile's ratio). The
 * "sums" rows run the same 16 dots on 8 or 4 sums instead of 16: chains
 * of dependent vpdpbusd, whose rate shows how many independent sums the
 * dots' latency asks for (the tile keeps 8 a sub-block, one a token).
 * CPU time of one thread, the best of 5 runs of each loop.
 * Usage: bench_pipes [--seconds S]   (x86-64 with AVX-512 VNNI only)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_THREAD_CPUTIME_ID */
#include "platform/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 4-byte operands for the memory forms, one 64-byte line */
static int32_t mem[16] __attribute__((aligned(64))) = {0x01020304, 0x05060708};

/* inline assembly: a line per group of instructions, as written */
/* clang-format off */
#define DP(i) "vpdpbusd %%zmm17, %%zmm16, %%zmm" #i "\n\t"
#define DPM(i) "vpdpbusd (%[m])%{1to16%}, %%zmm16, %%zmm" #i "\n\t"
#define DP8A DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7)
#define DP8B DP(8) DP(9) DP(10) DP(11) DP(12) DP(13) DP(14) DP(15)
#define DPM8A DPM(0) DPM(1) DPM(2) DPM(3) DPM(4) DPM(5) DPM(6) DPM(7)
#define DPM8B DPM(8) DPM(9) DPM(10) DPM(11) DPM(12) DPM(13) DPM(14) DPM(15)

/* One extra instruction X on register r (18..29) */
#define CVT(r) "vcvtdq2ps %%zmm17, %%zmm" #r "\n\t"
#define FMA(r) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #r "\n\t"
#define FNMA(r) "vfnmadd231ps %%zmm30, %%zmm31, %%zmm" #r "\n\t"
#define MULPS(r) "vmulps %%zmm30, %%zmm31, %%zmm" #r "\n\t"
#define ADDD(r) "vpaddd %%zmm17, %%zmm16, %%zmm" #r "\n\t"
#define MULLD(r) "vpmulld %%zmm17, %%zmm16, %%zmm" #r "\n\t"
#define DPWS(r) "vpdpwssd %%zmm17, %%zmm16, %%zmm" #r "\n\t"
#define BCST(r) "vpbroadcastd (%[m]), %%zmm" #r "\n\t"
/* the tile's own mix per 8 dots: a conversion, an fma and an fnma */
#define TILE3(r) CVT(r) FMA(r) FNMA(r)
/* without the mins' fnma; with it as one vpdpwssd per 16 dots instead */
#define TILE2(r) CVT(r) FMA(r)
#define FMA2(r) FMA(r) FNMA(r)

#define CLOBBER                                                                                     \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",       \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",  \
        "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", \
        "xmm31", "cc", "memory"

#define SETUP                                                                                       \
    "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"                                                             \
    "vmovdqa64 %%zmm0, %%zmm1\n\tvmovdqa64 %%zmm0, %%zmm2\n\tvmovdqa64 %%zmm0, %%zmm3\n\t"          \
    "vmovdqa64 %%zmm0, %%zmm4\n\tvmovdqa64 %%zmm0, %%zmm5\n\tvmovdqa64 %%zmm0, %%zmm6\n\t"          \
    "vmovdqa64 %%zmm0, %%zmm7\n\tvmovdqa64 %%zmm0, %%zmm8\n\tvmovdqa64 %%zmm0, %%zmm9\n\t"          \
    "vmovdqa64 %%zmm0, %%zmm10\n\tvmovdqa64 %%zmm0, %%zmm11\n\tvmovdqa64 %%zmm0, %%zmm12\n\t"       \
    "vmovdqa64 %%zmm0, %%zmm13\n\tvmovdqa64 %%zmm0, %%zmm14\n\tvmovdqa64 %%zmm0, %%zmm15\n\t"       \
    "vmovdqa64 %%zmm0, %%zmm18\n\tvmovdqa64 %%zmm0, %%zmm19\n\tvmovdqa64 %%zmm0, %%zmm20\n\t"       \
    "vmovdqa64 %%zmm0, %%zmm21\n\tvmovdqa64 %%zmm0, %%zmm22\n\tvmovdqa64 %%zmm0, %%zmm23\n\t"       \
    "vmovdqa64 %%zmm0, %%zmm24\n\tvmovdqa64 %%zmm0, %%zmm25\n\t"                                    \
    "vpbroadcastd (%[m]), %%zmm16\n\tvpbroadcastd 4(%[m]), %%zmm17\n\t"                             \
    "vcvtdq2ps %%zmm16, %%zmm30\n\tvcvtdq2ps %%zmm17, %%zmm31\n\t"

/* n rounds of body; returns a lane of the sums so that nothing is dead */
#define LOOP(name, body)                                                                            \
    static int name(long n) {                                                                       \
        int out;                                                                                    \
        __asm__ volatile(SETUP "1:\n\t" body "dec %[n]\n\tjnz 1b\n\t"                               \
                               "vpaddd %%zmm1, %%zmm0, %%zmm0\n\tvmovd %%xmm0, %[out]\n\t"         \
                               "vzeroupper\n\t"                                                     \
                         : [n] "+r"(n), [out] "=r"(out)                                            \
                         : [m] "r"(mem)                                                             \
                         : CLOBBER);                                                                \
        return out;                                                                                 \
    }

/* 2, 4 or 8 extras X a round */
#define MIX(name, X)                                                                                \
    LOOP(name##_1, DP8A X(18) DP8B X(19))                                                           \
    LOOP(name##_2, DP8A X(18) X(19) DP8B X(20) X(21))                                               \
    LOOP(name##_4, DP8A X(18) X(19) X(20) X(21) DP8B X(22) X(23) X(24) X(25))

LOOP(dp_only, DP8A DP8B)
/* the same 16 dots on 8 or 4 sums: chains of 2 or 4 links a round, so the
 * dots' latency shows (the tile's 8 tokens are 8 chains a sub-block) */
LOOP(dp_8sums, DP8A DP8A)
LOOP(dp_4sums, DP(0) DP(1) DP(2) DP(3) DP(0) DP(1) DP(2) DP(3) DP(0) DP(1) DP(2) DP(3) DP(0) DP(1) DP(2) DP(3))
LOOP(dp_mem, DPM8A DPM8B)
MIX(cvt, CVT)
MIX(fma, FMA)
MIX(mulps, MULPS)
MIX(addd, ADDD)
MIX(mulld, MULLD)
MIX(dpws, DPWS)
MIX(bcst, BCST)
/* a vpbroadcastd load per dot, the tile's ratio (its 8 tokens' 4 values) */
#define BCST8 BCST(18) BCST(19) BCST(20) BCST(21) BCST(22) BCST(23) BCST(24) BCST(25)
LOOP(bcst_8, DP8A BCST8 DP8B BCST8)
LOOP(tile3_1, DP8A TILE3(18) DP8B TILE3(19))
LOOP(tile2_1, DP8A TILE2(18) DP8B TILE2(19))
LOOP(tile2w_1, DP8A TILE2(18) DP8B TILE2(19) DPWS(20))
LOOP(fma2_1, DP8A FMA2(18) DP8B FMA2(19))
/* clang-format on */

typedef struct mix {
    const char *what;
    int (*fn)(long);
    int extra; /* extra instructions a round (of 16 vpdpbusd) */
} mix;

/* clang-format off */
static const mix mixes[] = {
    {"vpdpbusd alone", dp_only, 0},
    {"vpdpbusd, memory {1to16} operand", dp_mem, 0},
    {"vpdpbusd on 8 sums (latency)", dp_8sums, 0},
    {"vpdpbusd on 4 sums (latency)", dp_4sums, 0},
    {"+ vcvtdq2ps", cvt_1, 2},     {"+ vcvtdq2ps", cvt_2, 4},     {"+ vcvtdq2ps", cvt_4, 8},
    {"+ vfmadd231ps", fma_1, 2},   {"+ vfmadd231ps", fma_2, 4},   {"+ vfmadd231ps", fma_4, 8},
    {"+ vmulps", mulps_1, 2},      {"+ vmulps", mulps_2, 4},      {"+ vmulps", mulps_4, 8},
    {"+ vpaddd", addd_1, 2},       {"+ vpaddd", addd_2, 4},       {"+ vpaddd", addd_4, 8},
    {"+ vpmulld", mulld_1, 2},     {"+ vpmulld", mulld_2, 4},     {"+ vpmulld", mulld_4, 8},
    {"+ vpdpwssd", dpws_1, 2},     {"+ vpdpwssd", dpws_2, 4},     {"+ vpdpwssd", dpws_4, 8},
    {"+ vpbroadcastd m32", bcst_1, 2}, {"+ vpbroadcastd m32", bcst_2, 4}, {"+ vpbroadcastd m32", bcst_4, 8},
    {"+ vpbroadcastd m32", bcst_8, 16},
    {"+ fma, fnma", fma2_1, 4},
    {"+ cvt, fma, fnma (the tile's)", tile3_1, 6},
    {"+ cvt, fma", tile2_1, 4},
    {"+ cvt, fma; 1 vpdpwssd a round", tile2w_1, 5},
};
/* clang-format on */

/* vpdpbusd per ns: the best of 5 runs of ~budget/5 CPU seconds */
static double rate(int (*fn)(long), double budget) {
    volatile int sink = 0;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        long rounds = 0;
        double t0 = cpu_seconds(), t;
        do {
            sink += fn(200000);
            rounds += 200000;
            t = cpu_seconds() - t0;
        } while (t < budget / 5);
        double r = (double)rounds * 16 / t * 1e-9;
        if (r > best) best = r;
    }
    (void)sink;
    return best;
}

int main(int argc, char **argv) {
    double budget = 0.5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) budget = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_pipes [--seconds S]\n");
            return 2;
        }
    }
    if (!gg_cpu_get()->avx512vnni) {
        printf("bench_pipes: this CPU has no AVX-512 VNNI\n");
        return 0;
    }
    const double base = rate(dp_only, budget);
    printf("one thread, CPU time; 16 vpdpbusd zmm a round plus the extras\n");
    printf("%-34s %6s %10s %9s %12s\n", "extra", "/round", "dp per ns", "dp rate", "if shared");
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++) {
        const double r = i == 0 ? base : rate(mixes[i].fn, budget);
        printf("%-34s %6d %10.2f %8.1f%% %11.1f%%\n", mixes[i].what, mixes[i].extra, r, 100 * r / base,
               100.0 * 16 / (16 + mixes[i].extra));
        fflush(stdout);
    }
    return 0;
}
