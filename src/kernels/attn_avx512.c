/*
 * attn_avx512.c - blocked attention with AVX-512 (see gg_attn_block): up
 * to GG_ATTN_Q_MAX (256) queries of a head go through each block of 16
 * keys together, 16 queries a register tile, with single precision or
 * bfloat16 products; plus the element-wise rows (rounding through
 * half precision, SwiGLU, the GELU table) and the vectorized exp they
 * share. Agrees with the scalar gg_attn_row_ref within float rounding, and
 * a query's result with its result alone bit for bit (tested).
 */
#include "kernels_internal.h"
#include "simd_x86.h"

#include "../platform/platform.h"

#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* ---- blocked attention: the template of attn_x86.h at 512 bits ---- */

/* 32 floats (lo: 16, hi: the next 16) to 32 bfloat16 in order. */
static inline __m512i bf16_row(__m512 lo, __m512 hi) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }

/* The words of two 16-float vectors a, b as pairs (a[i], b[i]) in
 * 32-bit lane i, rounded to bfloat16. */
static inline __m512i bf16_pairs(__m512 a, __m512 b) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, bf16_row(a, b));
}

#define AT_LANES 16
#define AT_SKEYS 16
#define AT_VDIMS 16
#define AT_BF16 1
#define AT_I8 1
#define AT_I8_FORM GG_ATTN_I8
typedef __m512 at_vf;
typedef __m512i at_vi;
typedef __mmask16 at_mask;
#define at_loadf(p) _mm512_loadu_ps(p)
#define at_storef(p, v) _mm512_storeu_ps(p, v)
#define at_loadi(p) _mm512_loadu_si512(p)
#define at_set1f(x) _mm512_set1_ps(x)
#define at_set1i(x) _mm512_set1_epi32(x)
#define at_zerof() _mm512_setzero_ps()
#define at_addf(a, b) _mm512_add_ps(a, b)
#define at_subf(a, b) _mm512_sub_ps(a, b)
#define at_mulf(a, b) _mm512_mul_ps(a, b)
#define at_divf(a, b) _mm512_div_ps(a, b)
#define at_maxf(a, b) _mm512_max_ps(a, b)
#define at_absf(a) _mm512_abs_ps(a)
#define at_fmaddf(a, b, c) _mm512_fmadd_ps(a, b, c)
#define at_fnmaddf(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define at_roundf(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define at_scale2f(p, n) _mm512_scalef_ps(p, n)
#define AT_EXP_MIN (-104.0f) /* vscalefps makes 2^n of any n */
#define at_cvtif(v) _mm512_cvtepi32_ps(v)
#define at_cvtfi(v) _mm512_cvtps_epi32(v)
#define at_addi(a, b) _mm512_add_epi32(a, b)
#define at_storei(p, v) _mm512_storeu_si512(p, v)
#define at_zeroi() _mm512_setzero_si512()
#define at_ori(a, b) _mm512_or_si512(a, b)
#define at_slli(a, n) _mm512_slli_epi32(a, n)
#define at_store_u8(p, v) _mm_storeu_si128((__m128i *)(void *)(p), _mm512_cvtepi32_epi8(v))
#define AT_ALL ((__mmask16)0xffff)
#define AT_NONE ((__mmask16)0)
#define at_mand(a, b) ((__mmask16)((a) & (b)))
#define at_mis_all(m) ((m) == 0xffff)
#define at_many(m) ((m) != 0)
#define at_range(lo, hi, j) \
    (_mm512_cmp_epi32_mask(lo, j, _MM_CMPINT_LE) & _mm512_cmp_epi32_mask(j, hi, _MM_CMPINT_LT))
#define at_gtf(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define at_sel(src, m, a) _mm512_mask_mov_ps(src, m, a)
#define at_selz(m, a) _mm512_maskz_mov_ps(m, a)
#define at_mmulf(x, m, a) _mm512_mask_mul_ps(x, m, x, a)
#define at_maddf(x, m, a) _mm512_mask_add_ps(x, m, x, a)
#define at_mfmaddf(a, b, c, m) _mm512_mask3_fmadd_ps(a, b, c, m)
#define at_dot_i8(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#define at_prefetch(p) _mm_prefetch(p, _MM_HINT_T0)

#include "attn_x86.h"

/* ---- element-wise rows ---- */

/* Rounds through half precision (vcvtps2ph rounds to nearest even, as
 * gg_float_to_half does). */
static void round_half(float *x, int64_t n) {
    int64_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        v = _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}

/* g = g / (1 + exp(-g)) * u; exp(-g) of large g saturates to inf and the
 * quotient to -0, as expf gives. */
static void swiglu(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        /* exp(-|x|), inverted where x < 0 */
        __m512 e = exp_neg(_mm512_min_ps(x, _mm512_sub_ps(_mm512_setzero_ps(), x)));
        __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 ex = _mm512_mask_div_ps(e, neg, _mm512_set1_ps(1.0f), e);
        __m512 r = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), ex));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(r, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

/* GELU through a table of 65536 halves indexed by the input rounded to
 * half: lanes in (-10, 10) gather their entry, lanes at or below -10
 * become 0, lanes at or above 10 stay. Only in-range lanes read the
 * table, and their indices stay below 0xffff, so the 4-byte gather reads
 * inside it. */
static void gelu_table_row(float *x, int64_t n, const gg_half *table) {
    const __m512 lo = _mm512_set1_ps(-10.0f), hi = _mm512_set1_ps(10.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __mmask16 in = _mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, hi, _CMP_LT_OQ);
        __mmask16 low = _mm512_cmp_ps_mask(v, lo, _CMP_LE_OQ);
        __m512i idx = _mm512_cvtepu16_epi32(
            _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), in, idx, table, 2);
        __m512 gv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
        __m512 r = _mm512_mask_mov_ps(v, in, gv);
        r = _mm512_mask_mov_ps(r, low, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(x + i, m, r);
    }
}

void gg_attn_fill_avx512(gg_kernel_table *t, bool ext) {
    t->gelu_table_row = gelu_table_row;
    t->attn_block = attn_block;
    const gg_cpu_features *f = gg_cpu_get();
    t->attn_forms[GG_ATTN_BF16] = ext && f->avx512bf16;
    t->attn_forms[GG_ATTN_I8] = ext && f->avx512bf16 && f->avx512vnni;
    t->attn_forms[GG_ATTN_I8V] = ext && f->avx512vnni;
    t->attn_pack = t->attn_forms[GG_ATTN_BF16] || t->attn_forms[GG_ATTN_I8V] ? attn_pack : NULL;
    t->round_half = round_half;
    t->swiglu = swiglu;
}
