/*
 * vnni_peak.c - the int8 peak loop of bench_gemm, in a file of its own so
 * that it alone is compiled for AVX-512 VNNI (bench_gemm calls it only on
 * a CPU with VNNI). 16 independent sums hide vpdpbusd's latency; written
 * in assembly because compilers copy the sums between registers around
 * each vpdpbusd, which is then what gets measured.
 */
#include <immintrin.h>

int gg_bench_dp_rounds(long n, char x);

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
