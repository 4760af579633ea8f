/*
 * vnni_peak.c - the int8 peak loops of bench_gemm, in a file of its own so
 * that it alone is compiled for AVX-512 VNNI (bench_gemm calls each loop
 * only on a CPU that has its instructions). Independent sums hide each
 * instruction's latency; written in assembly because compilers copy the
 * sums between registers around each vpdpbusd, which is then what gets
 * measured. One loop per instruction the packed products use:
 *   gg_bench_dp_rounds       16 x vpdpbusd zmm       (AVX-512 VNNI)
 *   gg_bench_dp_rounds_ymm   14 x vpdpbusd ymm, VEX  (AVX-VNNI)
 *   gg_bench_mb_rounds_ymm    6 x vpmaddubsw + vpmaddwd + vpaddd ymm (AVX2:
 *                            the three instructions that stand for one
 *                            vpdpbusd without VNNI)
 */
#include <immintrin.h>

int gg_bench_dp_rounds(long n, char x);
int gg_bench_dp_rounds_ymm(long n, char x);
int gg_bench_mb_rounds_ymm(long n, char x);

/* inline assembly: a line per group of instructions, as written */
/* clang-format off */
#define DP(i) "vpdpbusd %%zmm17, %%zmm16, %%zmm" #i "\n\t"

int gg_bench_dp_rounds(long n, char x) {
    __m512i a = _mm512_set1_epi8(x), b = _mm512_set1_epi8((char)(x + 1));
    int out;
    __asm__ volatile(
        "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
        "vmovdqa64 %%zmm0, %%zmm1\n\tvmovdqa64 %%zmm0, %%zmm2\n\tvmovdqa64 %%zmm0, %%zmm3\n\t"
        "vmovdqa64 %%zmm0, %%zmm4\n\tvmovdqa64 %%zmm0, %%zmm5\n\tvmovdqa64 %%zmm0, %%zmm6\n\t"
        "vmovdqa64 %%zmm0, %%zmm7\n\tvmovdqa64 %%zmm0, %%zmm8\n\tvmovdqa64 %%zmm0, %%zmm9\n\t"
        "vmovdqa64 %%zmm0, %%zmm10\n\tvmovdqa64 %%zmm0, %%zmm11\n\tvmovdqa64 %%zmm0, %%zmm12\n\t"
        "vmovdqa64 %%zmm0, %%zmm13\n\tvmovdqa64 %%zmm0, %%zmm14\n\tvmovdqa64 %%zmm0, %%zmm15\n\t"
        "vmovdqa64 %[a], %%zmm16\n\tvmovdqa64 %[b], %%zmm17\n\t"
        "1:\n\t"
        DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7)
        DP(8) DP(9) DP(10) DP(11) DP(12) DP(13) DP(14) DP(15)
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "vpaddd %%zmm1, %%zmm0, %%zmm0\n\t"
        "vmovd %%xmm0, %[out]\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(n), [out] "=r"(out)
        : [a] "v"(a), [b] "v"(b)
        : "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9",
          "zmm10", "zmm11", "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "cc");
    return out;
}

/* {vex} (written %{vex%} in an asm template): the AVX-VNNI encoding, the
 * only one an AVX-VNNI CPU without AVX-512 runs; it reaches ymm0-15 only. */
#define DPY(i) "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm" #i "\n\t"

int gg_bench_dp_rounds_ymm(long n, char x) {
    int out;
    __asm__ volatile(
        "vmovd %k[x], %%xmm14\n\t"
        "vpbroadcastb %%xmm14, %%ymm14\n\t"
        "vpaddb %%ymm14, %%ymm14, %%ymm15\n\t"
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
        "vmovdqa %%ymm0, %%ymm1\n\tvmovdqa %%ymm0, %%ymm2\n\tvmovdqa %%ymm0, %%ymm3\n\t"
        "vmovdqa %%ymm0, %%ymm4\n\tvmovdqa %%ymm0, %%ymm5\n\tvmovdqa %%ymm0, %%ymm6\n\t"
        "vmovdqa %%ymm0, %%ymm7\n\tvmovdqa %%ymm0, %%ymm8\n\tvmovdqa %%ymm0, %%ymm9\n\t"
        "vmovdqa %%ymm0, %%ymm10\n\tvmovdqa %%ymm0, %%ymm11\n\tvmovdqa %%ymm0, %%ymm12\n\t"
        "vmovdqa %%ymm0, %%ymm13\n\t"
        "1:\n\t"
        DPY(0) DPY(1) DPY(2) DPY(3) DPY(4) DPY(5) DPY(6)
        DPY(7) DPY(8) DPY(9) DPY(10) DPY(11) DPY(12) DPY(13)
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "vpaddd %%ymm1, %%ymm0, %%ymm0\n\t"
        "vmovd %%xmm0, %[out]\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(n), [out] "=r"(out)
        : [x] "r"((int)x)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
    return out;
}

#define MB(i, t)                                       \
    "vpmaddubsw %%ymm13, %%ymm12, %%ymm" #t "\n\t"     \
    "vpmaddwd %%ymm14, %%ymm" #t ", %%ymm" #t "\n\t"   \
    "vpaddd %%ymm" #t ", %%ymm" #i ", %%ymm" #i "\n\t"

int gg_bench_mb_rounds_ymm(long n, char x) {
    int out;
    __asm__ volatile(
        "vmovd %k[x], %%xmm12\n\t"
        "vpbroadcastb %%xmm12, %%ymm12\n\t"
        "vpaddb %%ymm12, %%ymm12, %%ymm13\n\t"
        "vpcmpeqw %%ymm14, %%ymm14, %%ymm14\n\t"
        "vpsrlw $15, %%ymm14, %%ymm14\n\t" /* int16 ones */
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
        "vmovdqa %%ymm0, %%ymm1\n\tvmovdqa %%ymm0, %%ymm2\n\tvmovdqa %%ymm0, %%ymm3\n\t"
        "vmovdqa %%ymm0, %%ymm4\n\tvmovdqa %%ymm0, %%ymm5\n\t"
        "1:\n\t"
        MB(0, 6) MB(1, 7) MB(2, 8) MB(3, 9) MB(4, 10) MB(5, 11)
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "vpaddd %%ymm1, %%ymm0, %%ymm0\n\t"
        "vmovd %%xmm0, %[out]\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(n), [out] "=r"(out)
        : [x] "r"((int)x)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "cc");
    return out;
}
/* clang-format on */
