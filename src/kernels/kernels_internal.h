/*
 * kernels_internal.h - the function table through which kernels.c
 * dispatches to the scalar reference or a SIMD variant. Each SIMD file
 * fills in the entries it speeds up and leaves the rest untouched.
 */
#ifndef GG_KERNELS_INTERNAL_H
#define GG_KERNELS_INTERNAL_H

#include "kernels.h"

typedef void (*gg_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);
typedef void (*gg_quantize_fn)(const float *src, void *dst, int64_t n);
typedef void (*gg_dequantize_fn)(const void *src, float *dst, int64_t n);
/* Optional: dot products of one weight row with `n_act` activation rows
 * (a_stride bytes apart) at once, results to s[0..n_act). Lets a kernel
 * reuse the unpacked weights across tokens. */
typedef void (*gg_vec_dot_multi_fn)(int64_t n, float *s, const void *w, const void *a, size_t a_stride,
                                    int n_act);

/* Optional packed products (see gg_gemm_rows): the activation packer,
 * indexed by vec_dot_type, and the product, indexed by weight type. */
typedef void (*gg_gemm_pack_fn)(const float *x, void *dst, int64_t n);
#define GG_GEMM_FEW_TOKENS 4
typedef void (*gg_gemm_fn)(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y,
                           int64_t ldy, int64_t r0, int64_t r1);

typedef struct gg_kernel_table {
    gg_vec_dot_fn vec_dot[GG_TYPE_COUNT];
    gg_vec_dot_multi_fn vec_dot_multi[GG_TYPE_COUNT];
    gg_quantize_fn quantize_act[GG_TYPE_COUNT]; /* indexed by vec_dot_type */
    gg_dequantize_fn dequantize[GG_TYPE_COUNT];
    gg_gemm_pack_fn gemm_pack[GG_TYPE_COUNT];
    gg_gemm_fn gemm[GG_TYPE_COUNT];
    /* optional: gemm[t]'s results, bit for bit, for 1..GG_GEMM_FEW_TOKENS
     * tokens by a faster way; a fill that replaces gemm[t] clears it */
    gg_gemm_fn gemm_few[GG_TYPE_COUNT];
    /* bytes of one packed activation row of n values of a vec_dot_type */
    size_t (*gemm_act_bytes)(gg_type vec_dot_type, int64_t n);
    void (*attn_block)(const gg_attn_block_args *a); /* every form in attn_forms, and F32 */
    void (*attn_pack)(gg_attn_form form, float *k, float *v, int n, int d); /* NULL: no such form */
    bool attn_forms[GG_ATTN_I8V + 1]; /* the packed forms at this level (heads 64 or 128 wide) */
    void (*round_half)(float *x, int64_t n);
    void (*swiglu)(float *g, const float *u, int64_t n);
    void (*gelu_table_row)(float *x, int64_t n, const gg_half *table);
} gg_kernel_table;

void gg_kernels_fill_ref(gg_kernel_table *t);
#if defined(GG_HAVE_X86_KERNELS)
void gg_kernels_fill_avx2(gg_kernel_table *t);
/* ext: also use VNNI and BF16 where the CPU has them */
void gg_kernels_fill_avx512(gg_kernel_table *t, bool ext);
/* The packed products on 256-bit registers (gemm_avx2.c), with AVX-VNNI's
 * vpdpbusd when vnni, else vpmaddubsw; also the activation packers and
 * gemm_act_bytes, which the AVX-512 products share. */
void gg_gemm_fill_avx2(gg_kernel_table *t, bool vnni);
/* gemm_few for gg_gemm_fill_avx2's vpmaddubsw products (gemm_few_avx2.c). */
void gg_gemm_few_fill_avx2(gg_kernel_table *t);
/* Whether the compiler could build the AVX-VNNI products. */
bool gg_gemm_avxvnni_compiled(void);
void gg_gemm_fill_avx512(gg_kernel_table *t, bool ext);
/* Whether the AVX-512 products build their panels with GFNI: 0 never,
 * anything else where the CPU has it (the default). For tests, which
 * compare both ways bit for bit; not for use while products run. */
void gg_gemm_avx512_gfni(int mode);
void gg_attn_fill_avx512(gg_kernel_table *t, bool ext);
/* Blocked attention on 256-bit registers (attn_avx2.c): form F32; at the
 * AVX-VNNI level (attn_avxvnni_avx2.c) forms I8F and I8V too. */
void gg_attn_fill_avx2(gg_kernel_table *t);
void gg_attn_fill_avxvnni(gg_kernel_table *t);
#endif

const gg_kernel_table *gg_kernels_get(void);

#endif
