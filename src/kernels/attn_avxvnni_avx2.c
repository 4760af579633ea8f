/*
 * attn_avxvnni_avx2.c - attn_avx2.c for the AVX-VNNI level: compiled,
 * like every *_avx2.c, for AVX2 + FMA + F16C, and here for AVX-VNNI too,
 * which only this level's CPUs run: form F32, form I8F (int8 scores in
 * vpdpbusd ymm, 32 multiply-adds an instruction against vfmadd231ps's 8;
 * values in single precision) and form I8V (values in vpdpbusd ymm
 * too). Empty for a compiler that does not know AVX-VNNI (the level then
 * is not offered: gg_gemm_avxvnni_compiled).
 */
#include "kernels_internal.h"
#include "simd_x86.h"

#include <immintrin.h>

/* The compilers that know AVX-VNNI as a target (as gemm_avx2.c asks). */
#if (defined(__clang__) && !defined(__apple_build_version__) && __clang_major__ >= 12) || \
    (defined(__clang__) && defined(__apple_build_version__) && __clang_major__ >= 13) ||  \
    (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avxvnni")
#endif

#define AT_VNNI 1
#include "attn_avx2.c"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
void gg_attn_fill_avxvnni(gg_kernel_table *t) { (void)t; }
#endif
