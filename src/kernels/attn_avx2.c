/*
 * attn_avx2.c - blocked attention (see gg_attn_block) on 256-bit
 * registers: the template of attn_x86.h at 8 queries a tile, form F32
 * (vfmadd231ps ymm) for every AVX2 CPU. attn_avxvnni_avx2.c includes
 * this file again with AT_VNNI set, for the AVX-VNNI level: the same and
 * forms I8F (int8 scores in vpdpbusd ymm, values in single precision)
 * and I8V (values in vpdpbusd ymm too).
 *
 * Plain AVX2 has no int8 form: its int8 product, vpmaddubsw, adds pairs
 * of u8 x s8 products into int16 with saturation, exact here only with
 * the queries in 63 steps instead of 127. Tried (bench_attn_kernel, 8,192
 * keys): a block took about as long as with vpdpbusd (25-30% less than
 * F32: the weights and values, not the scores, bound a block), but a
 * head's output moved 1.5 times as far from single precision as with I8
 * (4.2-5.3% rms with sharply peaked scores, against 2.8-3.3%), further
 * than any form the other levels take.
 */
#include "kernels_internal.h"
#include "simd_x86.h"

#include <immintrin.h>

#ifndef AT_VNNI
#define AT_VNNI 0
#endif

/* p * 2^n for integral n in [-126, 127]: 2^n made from its exponent bits,
 * AVX2 having no vscalefps. */
static inline __m256 scale2(__m256 p, __m256 n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                        23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#if AT_VNNI
/* The low bytes of v's 8 lanes, in order, at p. */
static inline void store_u8(uint8_t *p, __m256i v) {
    int32_t x[8];
    _mm256_storeu_si256((__m256i *)(void *)x, v);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)x[i];
}
#endif

/* The template's parameters at 256 bits (see attn_x86.h): 16 registers,
 * so 8 keys' scores (and 8 dimensions' sums) at a time. */
#define AT_LANES 8
#define AT_SKEYS 8
#define AT_VDIMS 8
#define AT_BF16 0
#define AT_I8 AT_VNNI
#define AT_I8_FORM GG_ATTN_I8F
typedef __m256 at_vf;
typedef __m256i at_vi;
typedef __m256 at_mask; /* all ones in a lane of the mask */
#define at_loadf(p) _mm256_loadu_ps(p)
#define at_storef(p, v) _mm256_storeu_ps(p, v)
#define at_loadi(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define at_set1f(x) _mm256_set1_ps(x)
#define at_set1i(x) _mm256_set1_epi32(x)
#define at_zerof() _mm256_setzero_ps()
#define at_addf(a, b) _mm256_add_ps(a, b)
#define at_subf(a, b) _mm256_sub_ps(a, b)
#define at_mulf(a, b) _mm256_mul_ps(a, b)
#define at_divf(a, b) _mm256_div_ps(a, b)
#define at_maxf(a, b) _mm256_max_ps(a, b)
#define at_absf(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a)
#define at_fmaddf(a, b, c) _mm256_fmadd_ps(a, b, c)
#define at_fnmaddf(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define at_roundf(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define at_scale2f(p, n) scale2(p, n)
/* 2^n stays a normal float (scale2): a weight below exp(-87) = 1.6e-38 of
 * the row's largest counts as that */
#define AT_EXP_MIN (-87.0f)
#define at_cvtif(v) _mm256_cvtepi32_ps(v)
#define at_cvtfi(v) _mm256_cvtps_epi32(v)
#define at_addi(a, b) _mm256_add_epi32(a, b)
#define at_storei(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define at_zeroi() _mm256_setzero_si256()
#define at_ori(a, b) _mm256_or_si256(a, b)
#define at_slli(a, n) _mm256_slli_epi32(a, n)
#define at_store_u8(p, v) store_u8(p, v)
#define AT_ALL _mm256_castsi256_ps(_mm256_set1_epi32(-1))
#define AT_NONE _mm256_setzero_ps()
#define at_mand(a, b) _mm256_and_ps(a, b)
#define at_mis_all(m) (_mm256_movemask_ps(m) == 0xff)
#define at_many(m) (_mm256_movemask_ps(m) != 0)
#define at_range(lo, hi, j) \
    _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_cmpgt_epi32(lo, j), _mm256_cmpgt_epi32(hi, j)))
#define at_gtf(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define at_sel(src, m, a) _mm256_blendv_ps(src, a, m)
#define at_selz(m, a) _mm256_and_ps(m, a)
#define at_mmulf(x, m, a) _mm256_blendv_ps(x, _mm256_mul_ps(x, a), m)
#define at_maddf(x, m, a) _mm256_blendv_ps(x, _mm256_add_ps(x, a), m)
#define at_mfmaddf(a, b, c, m) _mm256_blendv_ps(c, _mm256_fmadd_ps(a, b, c), m)
#define at_dot_i8(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define at_prefetch(p) _mm_prefetch(p, _MM_HINT_T0)

#include "attn_x86.h"

#if AT_VNNI
void gg_attn_fill_avxvnni(gg_kernel_table *t) {
    t->attn_block = attn_block;
    t->attn_pack = attn_pack;
    t->attn_forms[GG_ATTN_I8F] = true;
    t->attn_forms[GG_ATTN_I8V] = true;
}
#else
void gg_attn_fill_avx2(gg_kernel_table *t) { t->attn_block = attn_block; }
#endif
