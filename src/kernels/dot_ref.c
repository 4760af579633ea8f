/*
 * dot_ref.c - the scalar reference dot products: one weight row of each
 * type times one activation row of that type's vec_dot_type.
 *
 * The quantized products use ggml's integer arithmetic: within a block
 * the quants multiply and add exactly in 32-bit integers, and only the
 * block's sum is scaled by the two block factors, in float. For the types
 * with a min (Q4_1, Q5_1 and the K-quants with mins) the min term needs
 * only the sum of the activation quants, which Q8_1 (s) and Q8_K (bsums)
 * carry. SIMD versions compute the same integers, so they differ from
 * these only in the order the float block results are added.
 *
 * The float types accumulate in double, which is at least as accurate as
 * any SIMD order and so makes a good yardstick for them.
 */
#include "kernels_ref.h"

#define H2F gg_half_to_float

/* ---------------- float types ---------------- */

static void dot_f32(int64_t n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)y[i];
    *s = (float)sum;
}

static void dot_f16(int64_t n, float *s, const void *w, const void *a) {
    const gg_half *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)H2F(x[i]) * (double)H2F(y[i]);
    *s = (float)sum;
}

static void dot_bf16(int64_t n, float *s, const void *w, const void *a) {
    const gg_bf16 *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += (double)gg_bf16_to_float(x[i]) * (double)gg_bf16_to_float(y[i]);
    }
    *s = (float)sum;
}

/* ---------------- 32-value blocks ---------------- */

static int q5_high(const uint8_t qh[4], int j) {
    uint32_t v = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    return (int)((v >> j) & 1) << 4;
}

static void dot_q4_0(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q4_0 *x = w;
    const gg_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK4_0; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += ((x[i].qs[j] & 0xf) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sum += (float)isum * (H2F(x[i].d) * H2F(y[i].d));
    }
    *s = sum;
}

static void dot_q4_1(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q4_1 *x = w;
    const gg_block_q8_1 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK4_1; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[i].qs[j] & 0xf) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        /* sum(d*q + m) * (dy*qy) = d*dy*sum(q*qy) + m * (dy*sum(qy)) */
        sum += (float)isum * (H2F(x[i].d) * H2F(y[i].d)) + H2F(x[i].m) * H2F(y[i].s);
    }
    *s = sum;
}

static void dot_q5_0(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q5_0 *x = w;
    const gg_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK5_0; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((x[i].qs[j] & 0xf) | q5_high(x[i].qh, j)) - 16;
            int q1 = ((x[i].qs[j] >> 4) | q5_high(x[i].qh, j + 16)) - 16;
            isum += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sum += (float)isum * (H2F(x[i].d) * H2F(y[i].d));
    }
    *s = sum;
}

static void dot_q5_1(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q5_1 *x = w;
    const gg_block_q8_1 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK5_1; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 0xf) | q5_high(x[i].qh, j);
            int q1 = (x[i].qs[j] >> 4) | q5_high(x[i].qh, j + 16);
            isum += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sum += (float)isum * (H2F(x[i].d) * H2F(y[i].d)) + H2F(x[i].m) * H2F(y[i].s);
    }
    *s = sum;
}

static void dot_q8_0(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q8_0 *x = w;
    const gg_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += (float)isum * (H2F(x[i].d) * H2F(y[i].d));
    }
    *s = sum;
}

/* ---------------- K-quants ---------------- */

/* sum over sub-blocks of sc[s] * dot(q, q8) on sub-blocks of `len`. */
static int scaled_isum(const int8_t *q, const int8_t *q8, const int *sc, int len) {
    int total = 0;
    for (int s = 0; s < GG_QK_K / len; s++) {
        int isum = 0;
        for (int l = 0; l < len; l++) isum += q[s * len + l] * q8[s * len + l];
        total += sc[s] * isum;
    }
    return total;
}

/* sum over sub-blocks of mn[s] * (sum of the activation quants of s),
 * from the Q8_K sums of 16. */
static int min_isum(const int16_t bsums[16], const int *mn, int len) {
    int total = 0;
    for (int k = 0; k < 16; k++) total += mn[k * 16 / len] * bsums[k];
    return total;
}

static void dot_q2_K(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q2_K *x = w;
    const gg_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK_K; i++) {
        int8_t q[GG_QK_K];
        int sc[16], mn[16];
        gg_unpack_q2_K(&x[i], q, sc, mn);
        float d = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
        sum += d * (float)scaled_isum(q, y[i].qs, sc, 16) - dmin * (float)min_isum(y[i].bsums, mn, 16);
    }
    *s = sum;
}

static void dot_q3_K(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q3_K *x = w;
    const gg_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK_K; i++) {
        int8_t q[GG_QK_K];
        int sc[16];
        gg_unpack_q3_K(&x[i], q, sc);
        sum += (y[i].d * H2F(x[i].d)) * (float)scaled_isum(q, y[i].qs, sc, 16);
    }
    *s = sum;
}

static void dot_q4_K(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q4_K *x = w;
    const gg_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK_K; i++) {
        int8_t q[GG_QK_K];
        int sc[8], mn[8];
        gg_unpack_q4_K(&x[i], q, sc, mn);
        float d = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
        sum += d * (float)scaled_isum(q, y[i].qs, sc, 32) - dmin * (float)min_isum(y[i].bsums, mn, 32);
    }
    *s = sum;
}

static void dot_q5_K(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q5_K *x = w;
    const gg_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK_K; i++) {
        int8_t q[GG_QK_K];
        int sc[8], mn[8];
        gg_unpack_q5_K(&x[i], q, sc, mn);
        float d = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
        sum += d * (float)scaled_isum(q, y[i].qs, sc, 32) - dmin * (float)min_isum(y[i].bsums, mn, 32);
    }
    *s = sum;
}

static void dot_q6_K(int64_t n, float *s, const void *w, const void *a) {
    const gg_block_q6_K *x = w;
    const gg_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / GG_QK_K; i++) {
        int8_t q[GG_QK_K];
        int sc[16];
        gg_unpack_q6_K(&x[i], q, sc);
        sum += (y[i].d * H2F(x[i].d)) * (float)scaled_isum(q, y[i].qs, sc, 16);
    }
    *s = sum;
}

/* ---------------- table ---------------- */

static const gg_vec_dot_fn dot_fns[GG_TYPE_COUNT] = {
    [GG_TYPE_F32] = dot_f32,   [GG_TYPE_F16] = dot_f16,   [GG_TYPE_BF16] = dot_bf16,
    [GG_TYPE_Q4_0] = dot_q4_0, [GG_TYPE_Q4_1] = dot_q4_1, [GG_TYPE_Q5_0] = dot_q5_0,
    [GG_TYPE_Q5_1] = dot_q5_1, [GG_TYPE_Q8_0] = dot_q8_0, [GG_TYPE_Q2_K] = dot_q2_K,
    [GG_TYPE_Q3_K] = dot_q3_K, [GG_TYPE_Q4_K] = dot_q4_K, [GG_TYPE_Q5_K] = dot_q5_K,
    [GG_TYPE_Q6_K] = dot_q6_K,
};

void gg_vec_dot_ref(gg_type t, int64_t n, float *s, const void *w, const void *a) {
    if ((unsigned)t < GG_TYPE_COUNT && dot_fns[t]) dot_fns[t](n, s, w, a);
}

void gg_ref_fill_dot(gg_kernel_table *t) {
    for (int i = 0; i < GG_TYPE_COUNT; i++) {
        if (dot_fns[i]) t->vec_dot[i] = dot_fns[i];
    }
}
