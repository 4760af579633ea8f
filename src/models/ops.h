/*
 * ops.h - the operations a transformer forward pass is made of, over
 * row-major float buffers ([n_tok][width]), run on the engine's thread
 * pool. Matrix products read weights in place from the mapping and
 * quantize the activations to the weights' dot-product type first, as
 * ggml does.
 */
#ifndef GG_OPS_H
#define GG_OPS_H

#include "../common.h"
#include "../kernels/kernels.h"
#include "../threadpool.h"

/* What ops need to run: the pool and scratch for quantized activations
 * (act_cap bytes) and per-thread attention scratch (score_cap floats
 * each: gg_attn_scratch_floats of the head width, whatever the number of
 * tokens). */
typedef struct gg_exec {
    gg_pool *pool;
    int n_threads;
    uint8_t *act;
    size_t act_cap;
    float *scores; /* n_threads * score_cap */
    size_t score_cap;
} gg_exec;

/* Bytes of activation scratch a product with w needs for n_tok rows. */
size_t gg_matmul_scratch(const gg_matrix *w, int n_tok);

/* out[t][r] = sum_k w[r][k] * in[t][k] (+ bias[r]); in is n_tok rows of
 * w->cols floats with stride ld_in, out n_tok rows with stride ld_out. */
void gg_op_matmul(gg_exec *ex, const gg_matrix *w, const float *bias, const float *in, int ld_in,
                  int n_tok, float *out, int ld_out);

/* Several products of the same input (keys and values; gate and up):
 * d[k].out = in W_k (+ bias_k) as gg_op_matmul gives it, bit for bit,
 * with one quantization of `in` (where the matrices take the same
 * activation rows; otherwise one product after another) and one
 * parallel run over all their rows. n <= GG_MM_MAX. */
#define GG_MM_MAX 4
typedef struct gg_mm_dst {
    const gg_matrix *w;
    const float *bias; /* or NULL */
    float *out;
    int ld_out;
} gg_mm_dst;
void gg_op_matmul_n(gg_exec *ex, int n, const gg_mm_dst *d, const float *in, int ld_in, int n_tok);

/* fn(ctx, t0, t1) over token ranges covering [0, n_tok), at most `span`
 * tokens each, spread over the pool; each call may write only its own
 * tokens' rows. For the per-token work between products (rotary
 * positions, copies), which would otherwise run on one thread while the
 * others wait. `name` is the op profile's row. */
typedef void (*gg_tokens_fn)(void *ctx, int t0, int t1);
void gg_op_tokens(gg_exec *ex, const char *name, int n_tok, int span, gg_tokens_fn fn, void *ctx);

/* Layer norm over each row: (x - mean) / sqrt(var + eps) * g + b. */
void gg_op_layernorm(gg_exec *ex, float *x, int n_tok, int width, const float *g, const float *b,
                     float eps);
/* RMS norm: x / sqrt(mean(x^2) + eps) * g (in -> out may alias). */
void gg_op_rmsnorm(gg_exec *ex, const float *in, float *out, int n_tok, int width, const float *g,
                   float eps);
/* A layer norm (rms false: g and b may be NULL) or an RMS norm (b
 * unused) of in into out, which may alias. */
void gg_op_norm(gg_exec *ex, bool rms, const float *in, float *out, int n_tok, int width, const float *g,
                const float *b, float eps);
/* Per-head RMS norm over each d-wide head of rows of width n_head*d. */
void gg_op_rmsnorm_heads(float *x, int n_tok, int ld, int n_head, int d, const float *g, float eps);

/* Builds the GELU table; called once before any forward pass. */
void gg_ops_init(void);
void gg_op_gelu(gg_exec *ex, float *x, size_t n); /* tanh form through an f16 table, as ggml */
void gg_op_swiglu(gg_exec *ex, float *gate, const float *up, size_t n); /* silu(gate) * up */
void gg_op_geglu(gg_exec *ex, float *gate, const float *up, size_t n);  /* gelu(gate) * up */
void gg_op_add(gg_exec *ex, float *x, const float *y, size_t n);

/* Rotary position embedding in place on n_head heads of width d in each
 * row, positions pos[t]. neox: rotate pairs (i, i + n_rot/2); otherwise
 * adjacent pairs (2i, 2i+1). Pair i turns by theta_i = pos * base^(-2i/n_rot)
 * * freq_scale, and cos and sin are multiplied by attn_factor.
 *
 * YaRN (ext_factor != 0), as ggml's rope does it: pair i turns by a mix of
 * the scaled and the unscaled angle, unscaled for pairs below corr_lo
 * (they turn many times within the original context, so positions past
 * it look familiar), scaled above corr_hi, a linear ramp between, times
 * ext_factor; and cos and sin get a further 1 + 0.1 ln(1 / freq_scale).
 *
 * freq_factors (Llama 3's rope_freqs tensor, n_rot/2 values): pair i's
 * unscaled angle is divided by freq_factors[i] before any of the above,
 * which is how those models stretch only their slow-turning pairs. */
typedef struct gg_rope {
    int n_rot;
    float base;
    float freq_scale;
    bool neox;
    float attn_factor;
    float ext_factor;
    float corr_lo, corr_hi;    /* set by gg_rope_set_yarn */
    const float *freq_factors; /* NULL: all 1 */
} gg_rope;

/* A rope that neither scales nor interpolates. */
gg_rope gg_rope_plain(int n_rot, float base, bool neox);
/* YaRN's correction range for a model trained on n_ctx_orig positions:
 * the pairs that turn more than beta_fast times over it keep their
 * angle, those that turn less than beta_slow times are interpolated. */
void gg_rope_set_yarn(gg_rope *r, int n_ctx_orig, float beta_fast, float beta_slow);
void gg_op_rope(float *x, int n_tok, int ld, int n_head, int d, const int32_t *pos, const gg_rope *rope);

/* Attention of one sequence: queries q[n_q] (positions q_pos0 .. in the
 * sequence), keys/values k, v[n_kv] (rows ld_k, ld_v apart, head h's at
 * k + h * ld_head: ld_k == d makes each head's keys one contiguous run,
 * which the kernels read in place). Heads of width d; n_head query heads
 * share n_head / n_head_kv key/value heads (GQA). out has n_q rows of
 * n_head*d. The mask: with causal, query i sees keys 0 .. q_pos0 + i;
 * with alibi_max > 0, the score of key j gets -slope_h * |pos_i - j|, the
 * slopes of head h as ggml derives them from alibi_max (ALiBi); with
 * window > 0, query i sees only keys j with |pos_i - j| <= window (a
 * symmetric sliding window, as llama.cpp's LLAMA_SWA_TYPE_SYMMETRIC). */
/* The form of a sequence's keys and values (gg_attn_form): the first of
 * these whose length it reaches and the kernels have (gg_attn_has), else
 * single precision. Its own length decides, never its batch, so a
 * text's result is the same alone and batched.
 * - GG_ATTN_I8_KEYS, wherever vpdpbusd is (AVX-VNNI, AVX-512 with VNNI):
 *   scores and values both in int8 (I8V): after int8 scores, the weights
 *   and values bound a block (BF16's vdpbf16ps runs at a quarter of
 *   vpdpbusd's rate on an Intel Xeon). bench_attn_kernel, 8,192 keys, heads of
 *   64: a block 245 ns against I8's 448 (AVX-512), 360 against I8F's
 *   601 (AVX-VNNI); its output 0.72-1.97% rms from single precision's
 *   with scores of std 1-9 (heads of 64 and 128), against I8's
 *   0.55-1.88% (same measure). With near-even weights the values'
 *   rounding shows more: 0.45% against I8's 0.26% at std 0.33.
 * - GG_ATTN_I8_KEYS, where I8V is not: scores from int8 rows (the keys less their mean),
 *   weights and values in bfloat16 (I8, AVX-512). Where attention is most
 *   of the pass (nomic-embed-text at 8,192 tokens, half of it), the
 *   scores are half of attention's multiply-adds, and vpdpbusd does twice
 *   vdpbf16ps's a step; the cosine to llama.cpp stays within 1e-5 of 1,
 *   and no worse at 8,192 tokens than at 2,048.
 * - GG_ATTN_I8_KEYS, on AVX-VNNI: the same scores, weights and values in
 *   single precision (I8F): a block takes 25-30% less time than in
 *   single precision (bench_attn_kernel, 8,192 keys), and a head's output
 *   is as far from single precision as I8's (2-3% rms with sharply peaked
 *   scores: the scores' rounding is most of I8's), so it starts where I8
 *   does. Below it, and on plain AVX2 (see attn_avx2.c), single
 *   precision: AVX2 has no bfloat16 product for BF16's place.
 * - GG_ATTN_BF16_KEYS: both products in bfloat16: there attention grows
 *   to a third of the pass, and the rounding, measured against
 *   llama.cpp, stays far inside the bound. */
#define GG_ATTN_I8_KEYS 4096
#define GG_ATTN_BF16_KEYS 1024
gg_attn_form gg_attn_form_for(int n_kv, int d);
typedef struct gg_attn_args {
    const float *q;
    int ld_q;
    const float *k;
    int ld_k;
    const float *v;
    int ld_v;
    size_t ld_head; /* floats from one key (and value) head to the next */
    float *out;
    int ld_out;
    int n_q, n_kv, q_pos0;
    int n_head, n_head_kv, d;
    float scale;
    bool causal;
    float alibi_max;
    int window;
} gg_attn_args;
void gg_op_attention(gg_exec *ex, const gg_attn_args *a);
/* Before a layer's attention over a sequence of n_kv keys and values
 * (k, v: key 0 of it, rows d apart, head h's at k + h * ld_head): them
 * packed in place into gg_attn_form_for(n_kv, d), once for all the
 * layer's calls of gg_op_attention over it. Nothing for F32. */
void gg_op_attn_pack(gg_exec *ex, float *k, float *v, size_t ld_head, int n_head_kv, int n_kv, int d);

#endif
