/*
 * kernels.h - conversions and products over the tensor types of types.h.
 *
 * Every type has a scalar reference (quant_ref.c, dot_ref.c) that defines
 * its meaning; SIMD variants (dot_avx2.c, dot_avx512.c) must agree with it
 * and are chosen at run time from the CPU's features.
 *
 * A weight row of type T is multiplied with activations quantized to
 * T's `vec_dot_type` (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K
 * for the K-quants, F16 for F16, BF16 for BF16, F32 for F32), as ggml
 * does, so that results track llama.cpp's closely.
 */
#ifndef GG_KERNELS_H
#define GG_KERNELS_H

#include "types.h"

/* SIMD levels, in increasing order of what they need. */
typedef enum gg_simd {
    GG_SIMD_SCALAR = 0,
    GG_SIMD_AVX2 = 1, /* AVX2 + FMA + F16C */
    /* AVX2 with AVX-VNNI (vpdpbusd on 256-bit registers) for the packed
     * products. Not needed by the AVX-512 levels: an AVX-512 CPU without
     * AVX-VNNI has them all, and capping it at avxvnni gives avx2. */
    GG_SIMD_AVXVNNI = 2,
    /* AVX-512 F/BW/VL/DQ alone: what every AVX-512 CPU has. A level of its
     * own so that the kernels for CPUs without VNNI or BF16 are tested on
     * CPUs with them. */
    GG_SIMD_AVX512_PLAIN = 3,
    GG_SIMD_AVX512 = 4, /* the same plus VNNI and BF16 where present */
} gg_simd;

/* Selects the best level the CPU supports; called once by
 * gg_kernels_get() on first use, or forced (the highest level at most
 * `wanted` that the CPU has) for tests and benchmarks. Returns the level
 * in use. */
gg_simd gg_kernels_select(gg_simd wanted);
gg_simd gg_kernels_level(void);
/* The value of GGEMBED_SIMD when it is set and names no level; NULL when
 * it is unset or valid. */
const char *gg_kernels_env_bad(void);
const char *gg_simd_name(gg_simd level);

/* Scalar references. n must be a multiple of the type's block size. */
void gg_dequantize_row_ref(gg_type t, const void *src, float *dst, int64_t n);
void gg_quantize_row_ref(gg_type t, const float *src, void *dst, int64_t n);
void gg_vec_dot_ref(gg_type t, int64_t n, float *s, const void *w, const void *a);

/* Dispatched versions (SIMD where available, scalar otherwise). */
void gg_dequantize_row(gg_type t, const void *src, float *dst, int64_t n);
/* Quantizes activations to a vec_dot_type (F32, F16, BF16, Q8_0, Q8_1,
 * Q8_K). Agrees with the reference quantizer of that type. */
void gg_quantize_act(gg_type vec_dot_type, const float *src, void *dst, int64_t n);
/* *s = dot(row w of type t, activations a of t's vec_dot_type), n values. */
void gg_vec_dot(gg_type t, int64_t n, float *s, const void *w, const void *a);

/* A weight matrix read in place from the mapping: `rows` rows of `cols`
 * values of `type`, row r at data + r * row_bytes. */
typedef struct gg_matrix {
    const void *data;
    gg_type type;
    int64_t cols;
    int64_t rows;
    size_t row_bytes;
} gg_matrix;

/* y[t * ldy + r] = dot(row r of w, activation row t of a) for r in
 * [r0, r1) and t in [0, n_tok). `a` holds n_tok rows of w->cols values in
 * w's vec_dot_type, `a_stride` bytes apart. Threads call this on disjoint
 * row ranges; it allocates nothing. */
void gg_matmul_rows(const gg_matrix *w, const void *a, size_t a_stride, int n_tok, float *y, int64_t ldy,
                    int64_t r0, int64_t r1);

/* Packed products, the faster path for several tokens where a kernel
 * exists: gg_gemm_act_size gives the bytes of one packed activation row
 * for w (0: no packed kernel, use gg_matmul_rows), gg_gemm_pack_act
 * quantizes a row of floats as gg_quantize_act would and packs it, and
 * gg_gemm_rows is gg_matmul_rows over packed rows `stride` bytes apart.
 * A token's results do not depend on the other tokens or the row range. */
size_t gg_gemm_act_size(const gg_matrix *w);
void gg_gemm_pack_act(const gg_matrix *w, const float *x, void *dst);
void gg_gemm_rows(const gg_matrix *w, const void *act, size_t stride, int n_tok, float *y, int64_t ldy,
                  int64_t r0, int64_t r1);

/* One query row of attention over n keys and values (rows ld_k, ld_v
 * floats apart, heads d wide): out = softmax(scale * q.k_j + bias_j) . v_j,
 * bias (n floats, an additive mask such as ALiBi's) NULL for none.
 * scores is scratch of n floats. The scalar definition the blocked
 * kernels below are tested against. */
void gg_attn_row_ref(const float *q, const float *k, size_t ld_k, const float *v, size_t ld_v, int n,
                     int d, float scale, const float *bias, float *scores, float *out);

/* Blocked attention (flash-attention style) of up to GG_ATTN_Q_MAX
 * consecutive queries of one head over the keys and values of their
 * sequence (k, v: key 0 of it). Query g (row q + g * ld_q) attends keys
 * [lo[g], hi[g]) (lo < hi), with alibi_slope != 0 the score of key j
 * getting alibi_slope * -|pos0 + g - j| (pos0: query 0's position among
 * the keys), and writes row out + g * ld_out.
 *
 * Keys go by blocks of GG_ATTN_KEYS aligned to key 0 (read in place
 * where ld_k == ld_v == d, as the forward pass lays each head's keys and
 * values out; copied block by block otherwise), with a running
 * maximum and sum per query (online softmax), so the working memory is
 * gg_attn_scratch_floats(d) floats whatever the number of keys. Each
 * query's result depends only on its own row, range and position, bit
 * for bit: never on the other queries of the call, their number or
 * order (tested), which keeps a text's embedding the same alone and in
 * a batch. It equals gg_attn_row_ref within float rounding (tested).
 *
 * In form GG_ATTN_BF16, GG_ATTN_I8, GG_ATTN_I8F or GG_ATTN_I8V (where
 * gg_attn_has(form, d): AVX-512 with BF16, and VNNI for I8; AVX-VNNI for
 * I8F and I8V; heads 64 or 128 wide), k and v hold the sequence's keys and values
 * as gg_attn_pack left them, and ld_k, ld_v are not used. BF16: both products take bfloat16 operands
 * (query and key rows; weights and values), summed in single precision
 * by vdpbf16ps: twice the multiply-adds per instruction, at 8 bits of
 * mantissa per operand. I8: the scores are products of int8 rows
 * (vpdpbusd, four multiply-adds a lane per instruction): each query row
 * and each key row less the mean of the sequence's keys (which moves
 * all scores of a query by the same amount, which softmax ignores)
 * rounded to 127 steps of its largest magnitude; the weights and values
 * as in BF16. I8F: the scores as I8's (vpdpbusd on 256-bit registers),
 * the weights and values in single precision (CPUs without a bfloat16
 * product). I8V (AVX-VNNI, and AVX-512 with VNNI): the scores as I8's,
 * and the values' product in vpdpbusd too: each value column in 127
 * steps of its largest magnitude over the sequence, then each key's row
 * of those in 127 steps of its own; per query, each weight of a block
 * of keys times its key's row step, in 255 steps of the block's largest.
 * Each equals gg_attn_row_ref over rows rounded that way within the
 * weights' bfloat16 rounding (I8F: within float rounding; I8V: within
 * half a step of each block's weights; tested), and a query's result is
 * still its own, bit for bit. */
#define GG_ATTN_Q_MAX 256
#define GG_ATTN_KEYS 16
typedef enum gg_attn_form {
    GG_ATTN_F32,  /* rows of floats, ld_k and ld_v apart */
    GG_ATTN_BF16, /* gg_attn_pack's: keys and values in bfloat16 */
    GG_ATTN_I8,   /* gg_attn_pack's: keys less their mean in int8, values in bfloat16 */
    GG_ATTN_I8F,  /* gg_attn_pack's: keys as I8's, values left in single precision */
    GG_ATTN_I8V,  /* gg_attn_pack's: keys as I8's, values in int8 (column and row steps) */
} gg_attn_form;
typedef struct gg_attn_block_args {
    int nq;
    const float *q;
    size_t ld_q;
    float *out;
    size_t ld_out;
    const int *lo, *hi;
    const float *k, *v;
    size_t ld_k, ld_v;
    int d;
    float scale;
    float alibi_slope;
    int pos0;
    gg_attn_form form;
    float *scratch; /* gg_attn_scratch_floats(d) floats */
} gg_attn_block_args;
void gg_attn_block(const gg_attn_block_args *a);
bool gg_attn_has(gg_attn_form form, int d);
size_t gg_attn_scratch_floats(int d);

/* The n keys and values of one head of a sequence (k, v: n rows d
 * apart) rewritten in place into form (where gg_attn_has(form, d); n at
 * least GG_ATTN_KEYS), once per layer before its attention: whole blocks
 * of GG_ATTN_KEYS keys, the last padded with zero keys and values, in
 * the space the floats took. */
void gg_attn_pack(gg_attn_form form, float *k, float *v, int n, int d);

/* x = half(x) elementwise (as a F16 KV cache holds values); and
 * g = silu(g) * u. _ref are the scalar definitions. */
void gg_round_half(float *x, int64_t n);
void gg_round_half_ref(float *x, int64_t n);
void gg_swiglu(float *g, const float *u, int64_t n);
void gg_swiglu_ref(float *g, const float *u, int64_t n);

/* GELU as ggml computes it: x <= -10 gives 0, x >= 10 gives x, else
 * table[half(x)] (65536 halves). */
void gg_gelu_table_row(float *x, int64_t n, const gg_half *table);
void gg_gelu_table_row_ref(float *x, int64_t n, const gg_half *table);

/* Half-precision conversions (exact, round to nearest even). */
float gg_half_to_float(gg_half h);
gg_half gg_float_to_half(float f);
static inline float gg_bf16_to_float(gg_bf16 b) {
    union {
        uint32_t u;
        float f;
    } v;
    v.u = (uint32_t)b << 16;
    return v.f;
}
gg_bf16 gg_float_to_bf16(float f); /* round to nearest even; NaN kept */

#endif
