/*
 * quant_ref.c - the scalar reference for converting rows between float
 * and every type the kernels compute with. Dequantization defines what a
 * block means and gives exactly ggml's values (same operations in the same
 * order); the quantizers make valid blocks with a small error.
 *
 * The quantizers of the activation types (Q8_0, Q8_1, Q8_K) round halves
 * to even, as ggml's x86 code does, so that SIMD versions can reproduce
 * them exactly. Those of the 4- and 5-bit types follow ggml's reference
 * quantizers; those of the K-quants are a plain per-sub-block min/max
 * choice, good enough for tests and for quantizing models coarsely.
 */
#include "kernels_ref.h"

#include "../common.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__clang__)
/* a*b - c must round twice, as ggml's dequantizers do. */
#pragma STDC FP_CONTRACT OFF
#endif

#define H2F gg_half_to_float
#define F2H gg_float_to_half

/* Nearest integer, ties to even, for |v| < 2^22: adding 1.5 * 2^23 makes
 * the FPU round v into the low mantissa bits (the default rounding mode is
 * to nearest even and nothing here changes it). */
static int round_even(float v) {
    float t = v + 12582912.0f;
    uint32_t u;
    memcpy(&u, &t, sizeof u);
    return (int)(u & 0x7fffff) - 0x400000;
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---------------- plain float types ---------------- */

static void deq_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void quant_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void deq_f16(const void *src, float *dst, int64_t n) {
    const gg_half *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = H2F(h[i]);
}
static void quant_f16(const float *src, void *dst, int64_t n) {
    gg_half *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = F2H(src[i]);
}
static void deq_bf16(const void *src, float *dst, int64_t n) {
    const gg_bf16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = gg_bf16_to_float(h[i]);
}
static void quant_bf16(const float *src, void *dst, int64_t n) {
    gg_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = gg_float_to_bf16(src[i]);
}

/* ---------------- 32-value blocks ---------------- */

/* The value of largest magnitude, with its sign. */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *lo, float *hi) {
    *lo = FLT_MAX;
    *hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *lo) *lo = x[j];
        if (x[j] > *hi) *hi = x[j];
    }
}

static void deq_q4_0(const void *src, float *dst, int64_t n) {
    const gg_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / GG_QK4_0; i++, b++, dst += GG_QK4_0) {
        float d = H2F(b->d);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((b->qs[j] & 0xf) - 8) * d;
            dst[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

/* The value of largest magnitude maps to -8, so the full range -8..7 is
 * used on its side. */
static void quant_q4_0(const float *x, void *dst, int64_t n) {
    gg_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / GG_QK4_0; i++, b++, x += GG_QK4_0) {
        float d = signed_absmax(x, GG_QK4_0) / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b->d = F2H(d);
        for (int j = 0; j < 16; j++) {
            int q0 = GG_MIN(15, (int8_t)(x[j] * id + 8.5f));
            int q1 = GG_MIN(15, (int8_t)(x[j + 16] * id + 8.5f));
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void deq_q4_1(const void *src, float *dst, int64_t n) {
    const gg_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / GG_QK4_1; i++, b++, dst += GG_QK4_1) {
        float d = H2F(b->d), m = H2F(b->m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b->qs[j] & 0xf) * d + m;
            dst[j + 16] = (float)(b->qs[j] >> 4) * d + m;
        }
    }
}

static void quant_q4_1(const float *x, void *dst, int64_t n) {
    gg_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / GG_QK4_1; i++, b++, x += GG_QK4_1) {
        float lo, hi;
        min_max(x, GG_QK4_1, &lo, &hi);
        float d = (hi - lo) / 15;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b->d = F2H(d);
        b->m = F2H(lo);
        for (int j = 0; j < 16; j++) {
            int q0 = GG_MIN(15, (int8_t)((x[j] - lo) * id + 0.5f));
            int q1 = GG_MIN(15, (int8_t)((x[j + 16] - lo) * id + 0.5f));
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Bit 4 of the 5-bit quants of Q5_0/Q5_1 live in a little-endian uint32. */
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}
static void store_qh(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

/* Low nibbles into qs, fifth bits into the returned mask. */
static uint32_t pack_q5(const int q[32], uint8_t qs[16]) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xf) | ((q[j + 16] & 0xf) << 4));
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    return qh;
}

static void unpack_q5(const uint8_t qs[16], uint32_t qh, int q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xf) | (int)(((qh >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}

static void deq_q5_0(const void *src, float *dst, int64_t n) {
    const gg_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / GG_QK5_0; i++, b++, dst += GG_QK5_0) {
        float d = H2F(b->d);
        int q[32];
        unpack_q5(b->qs, load_qh(b->qh), q);
        for (int j = 0; j < 32; j++) dst[j] = (float)(q[j] - 16) * d;
    }
}

static void quant_q5_0(const float *x, void *dst, int64_t n) {
    gg_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / GG_QK5_0; i++, b++, x += GG_QK5_0) {
        float d = signed_absmax(x, GG_QK5_0) / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        int q[32];
        b->d = F2H(d);
        for (int j = 0; j < 32; j++) q[j] = GG_MIN(31, (int8_t)(x[j] * id + 16.5f));
        store_qh(b->qh, pack_q5(q, b->qs));
    }
}

static void deq_q5_1(const void *src, float *dst, int64_t n) {
    const gg_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / GG_QK5_1; i++, b++, dst += GG_QK5_1) {
        float d = H2F(b->d), m = H2F(b->m);
        int q[32];
        unpack_q5(b->qs, load_qh(b->qh), q);
        for (int j = 0; j < 32; j++) dst[j] = (float)q[j] * d + m;
    }
}

static void quant_q5_1(const float *x, void *dst, int64_t n) {
    gg_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / GG_QK5_1; i++, b++, x += GG_QK5_1) {
        float lo, hi;
        min_max(x, GG_QK5_1, &lo, &hi);
        float d = (hi - lo) / 31;
        float id = d != 0 ? 1.0f / d : 0.0f;
        int q[32];
        b->d = F2H(d);
        b->m = F2H(lo);
        for (int j = 0; j < 32; j++) q[j] = GG_MIN(31, (int)(uint8_t)((x[j] - lo) * id + 0.5f));
        store_qh(b->qh, pack_q5(q, b->qs));
    }
}

static void deq_q8_0(const void *src, float *dst, int64_t n) {
    const gg_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / GG_QK8_0; i++, b++, dst += GG_QK8_0) {
        float d = H2F(b->d);
        for (int j = 0; j < 32; j++) dst[j] = (float)b->qs[j] * d;
    }
}

/* Scale by 127/amax (not 1/d: that is what ggml's x86 code multiplies
 * by) and round to nearest even. Returns the sum of the quants. */
static int quant_32_q8(const float *x, int8_t qs[32], float *d_out) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = GG_MAX(amax, fabsf(x[j]));
    float id = amax != 0 ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)round_even(x[j] * id);
        sum += qs[j];
    }
    *d_out = amax / 127.0f;
    return sum;
}

static void quant_q8_0(const float *x, void *dst, int64_t n) {
    gg_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / GG_QK8_0; i++, b++, x += GG_QK8_0) {
        float d;
        quant_32_q8(x, b->qs, &d);
        b->d = F2H(d);
    }
}

static void deq_q8_1(const void *src, float *dst, int64_t n) {
    const gg_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / GG_QK8_1; i++, b++, dst += GG_QK8_1) {
        float d = H2F(b->d);
        for (int j = 0; j < 32; j++) dst[j] = (float)b->qs[j] * d;
    }
}

static void quant_q8_1(const float *x, void *dst, int64_t n) {
    gg_block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / GG_QK8_1; i++, b++, x += GG_QK8_1) {
        float d;
        int sum = quant_32_q8(x, b->qs, &d);
        b->d = F2H(d);
        b->s = F2H(d * (float)sum);
    }
}

/* ---------------- Q8_K ---------------- */

static void deq_q8_K(const void *src, float *dst, int64_t n) {
    const gg_block_q8_K *b = src;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, dst += GG_QK_K) {
        for (int j = 0; j < GG_QK_K; j++) dst[j] = b->d * (float)b->qs[j];
    }
}

/* The signed value of largest magnitude maps to -127 exactly; d is the
 * reciprocal of that multiplier, as in ggml. */
static void quant_q8_K(const float *x, void *dst, int64_t n) {
    gg_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, x += GG_QK_K) {
        float max = signed_absmax(x, GG_QK_K);
        memset(b->bsums, 0, sizeof b->bsums);
        if (max == 0) {
            b->d = 0;
            memset(b->qs, 0, sizeof b->qs);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < GG_QK_K; j++) {
            b->qs[j] = (int8_t)GG_MIN(127, round_even(iscale * x[j]));
            b->bsums[j / 16] = (int16_t)(b->bsums[j / 16] + b->qs[j]);
        }
        b->d = 1 / iscale;
    }
}

/* ---------------- K-quants: bit layouts ----------------
 *
 * Element e of a 256-value super-block sits at:
 *   Q2_K, Q3_K: 2 bits (2j..2j+1) of qs[32h + l], e = 128h + 32j + l;
 *               Q3_K's third bit is bit 4h + j of hmask[l].
 *   Q4_K, Q5_K: nibble s of qs[32c + l], e = 64c + 32s + l;
 *               Q5_K's fifth bit is bit 2c + s of qh[l].
 *   Q6_K:       nibble k>>1 of ql[64h + 32(k&1) + l] and 2 bits (2k..2k+1)
 *               of qh[32h + l], e = 128h + 32k + l.
 * In every type the sub-block of e is e / (sub-block length). */

void gg_k4_scale_min(const uint8_t s[GG_K_SCALE_SIZE], int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void k4_pack_scales(uint8_t s[GG_K_SCALE_SIZE], const int sc[8], const int mn[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4));
    }
}

/* Q3_K's sixteen 6-bit scales: low nibbles in bytes 0..7 (scales 0..7 low
 * half of the byte, 8..15 high half), high 2-bit pairs in bytes 8..11. */
static int q3_scale(const uint8_t s[12], int i) {
    int low = i < 8 ? s[i] & 0xf : s[i - 8] >> 4;
    int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return low | (high << 4);
}

static void q3_pack_scales(uint8_t s[12], const int v[16]) {
    memset(s, 0, 12);
    for (int i = 0; i < 16; i++) {
        s[i % 8] |= (uint8_t)((v[i] & 0xf) << (i < 8 ? 0 : 4));
        s[8 + i % 4] |= (uint8_t)((v[i] >> 4) << (2 * (i / 4)));
    }
}

void gg_unpack_q2_K(const gg_block_q2_K *b, int8_t q[GG_QK_K], int sc[16], int mn[16]) {
    for (int e = 0; e < GG_QK_K; e++) {
        int h = e / 128, j = (e % 128) / 32, l = e % 32;
        q[e] = (int8_t)((b->qs[32 * h + l] >> (2 * j)) & 3);
    }
    for (int s = 0; s < 16; s++) {
        sc[s] = b->scales[s] & 0xf;
        mn[s] = b->scales[s] >> 4;
    }
}

void gg_unpack_q3_K(const gg_block_q3_K *b, int8_t q[GG_QK_K], int sc[16]) {
    for (int e = 0; e < GG_QK_K; e++) {
        int h = e / 128, j = (e % 128) / 32, l = e % 32;
        int low = (b->qs[32 * h + l] >> (2 * j)) & 3;
        int high = (b->hmask[l] >> (4 * h + j)) & 1;
        q[e] = (int8_t)(low - (high ? 0 : 4));
    }
    for (int s = 0; s < 16; s++) sc[s] = q3_scale(b->scales, s) - 32;
}

void gg_unpack_q4_K(const gg_block_q4_K *b, int8_t q[GG_QK_K], int sc[8], int mn[8]) {
    for (int e = 0; e < GG_QK_K; e++) {
        int c = e / 64, s = (e % 64) / 32, l = e % 32;
        q[e] = (int8_t)((b->qs[32 * c + l] >> (4 * s)) & 0xf);
    }
    for (int j = 0; j < 8; j++) gg_k4_scale_min(b->scales, j, &sc[j], &mn[j]);
}

void gg_unpack_q5_K(const gg_block_q5_K *b, int8_t q[GG_QK_K], int sc[8], int mn[8]) {
    for (int e = 0; e < GG_QK_K; e++) {
        int c = e / 64, s = (e % 64) / 32, l = e % 32;
        int low = (b->qs[32 * c + l] >> (4 * s)) & 0xf;
        int high = (b->qh[l] >> (2 * c + s)) & 1;
        q[e] = (int8_t)(low | (high << 4));
    }
    for (int j = 0; j < 8; j++) gg_k4_scale_min(b->scales, j, &sc[j], &mn[j]);
}

void gg_unpack_q6_K(const gg_block_q6_K *b, int8_t q[GG_QK_K], int sc[16]) {
    for (int e = 0; e < GG_QK_K; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        int low = (b->ql[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 0xf;
        int high = (b->qh[32 * h + l] >> (2 * k)) & 3;
        q[e] = (int8_t)((low | (high << 4)) - 32);
    }
    for (int s = 0; s < 16; s++) sc[s] = b->scales[s];
}

/* ---------------- K-quants: dequantize ---------------- */

static void deq_q2_K(const void *src, float *dst, int64_t n) {
    const gg_block_q2_K *b = src;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, dst += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[16], mn[16];
        gg_unpack_q2_K(b, q, sc, mn);
        float d = H2F(b->d), dmin = H2F(b->dmin);
        for (int e = 0; e < GG_QK_K; e++) {
            float dl = d * (float)sc[e / 16], ml = dmin * (float)mn[e / 16];
            dst[e] = dl * (float)q[e] - ml;
        }
    }
}

static void deq_q3_K(const void *src, float *dst, int64_t n) {
    const gg_block_q3_K *b = src;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, dst += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[16];
        gg_unpack_q3_K(b, q, sc);
        float d = H2F(b->d);
        for (int e = 0; e < GG_QK_K; e++) dst[e] = (d * (float)sc[e / 16]) * (float)q[e];
    }
}

static void deq_q4_K(const void *src, float *dst, int64_t n) {
    const gg_block_q4_K *b = src;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, dst += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[8], mn[8];
        gg_unpack_q4_K(b, q, sc, mn);
        float d = H2F(b->d), dmin = H2F(b->dmin);
        for (int e = 0; e < GG_QK_K; e++) {
            float dl = d * (float)sc[e / 32], ml = dmin * (float)mn[e / 32];
            dst[e] = dl * (float)q[e] - ml;
        }
    }
}

static void deq_q5_K(const void *src, float *dst, int64_t n) {
    const gg_block_q5_K *b = src;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, dst += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[8], mn[8];
        gg_unpack_q5_K(b, q, sc, mn);
        float d = H2F(b->d), dmin = H2F(b->dmin);
        for (int e = 0; e < GG_QK_K; e++) {
            float dl = d * (float)sc[e / 32], ml = dmin * (float)mn[e / 32];
            dst[e] = dl * (float)q[e] - ml;
        }
    }
}

static void deq_q6_K(const void *src, float *dst, int64_t n) {
    const gg_block_q6_K *b = src;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, dst += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[16];
        gg_unpack_q6_K(b, q, sc);
        float d = H2F(b->d);
        for (int e = 0; e < GG_QK_K; e++) dst[e] = (d * (float)sc[e / 16]) * (float)q[e];
    }
}

/* ---------------- K-quants: quantize ---------------- */

/* Quants 0..qmax with a min, for Q2_K, Q4_K and Q5_K: each sub-block of
 * `len` values gets the range [min(lo, 0), hi]; the sub-block scales and
 * mins are then quantized to 0..smax against the super-block's d and
 * dmin, and the values against those quantized scales. */
static void quant_asym(const float *x, int len, int qmax, int smax, int8_t q[GG_QK_K], int *sc, int *mn,
                       gg_half *d_out, gg_half *dmin_out) {
    int nsub = GG_QK_K / len;
    float scale[16], minv[16], max_scale = 0, max_min = 0;
    for (int s = 0; s < nsub; s++) {
        float lo, hi;
        min_max(x + s * len, len, &lo, &hi);
        if (lo > 0) lo = 0;
        scale[s] = (hi - lo) / (float)qmax;
        minv[s] = -lo;
        max_scale = GG_MAX(max_scale, scale[s]);
        max_min = GG_MAX(max_min, minv[s]);
    }
    *d_out = F2H(max_scale / (float)smax);
    *dmin_out = F2H(max_min / (float)smax);
    float d = H2F(*d_out), dmin = H2F(*dmin_out);
    for (int s = 0; s < nsub; s++) {
        sc[s] = d > 0 ? clamp_int(round_even(scale[s] / d), 0, smax) : 0;
        mn[s] = dmin > 0 ? clamp_int(round_even(minv[s] / dmin), 0, smax) : 0;
        float dl = d * (float)sc[s], ml = dmin * (float)mn[s];
        for (int l = 0; l < len; l++) {
            int v = dl > 0 ? round_even((x[s * len + l] + ml) / dl) : 0;
            q[s * len + l] = (int8_t)clamp_int(v, 0, qmax);
        }
    }
}

/* Signed quants qmin..-qmin-1 without a min, for Q3_K and Q6_K: the value
 * of largest magnitude in a sub-block maps to qmin, and the scale of
 * largest magnitude to smin. */
static void quant_sym(const float *x, int qmin, int smin, int8_t q[GG_QK_K], int sc[16],
                      gg_half *d_out) {
    float scale[16];
    for (int s = 0; s < 16; s++) scale[s] = signed_absmax(x + 16 * s, 16) / (float)qmin;
    float big = signed_absmax(scale, 16);
    *d_out = F2H(big / (float)smin);
    float d = H2F(*d_out);
    for (int s = 0; s < 16; s++) {
        sc[s] = d != 0 ? clamp_int(round_even(scale[s] / d), smin, -smin - 1) : 0;
        float dl = d * (float)sc[s];
        for (int l = 0; l < 16; l++) {
            int v = dl != 0 ? round_even(x[16 * s + l] / dl) : 0;
            q[16 * s + l] = (int8_t)clamp_int(v, qmin, -qmin - 1);
        }
    }
}

static void quant_q2_K(const float *x, void *dst, int64_t n) {
    gg_block_q2_K *b = dst;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, x += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[16], mn[16];
        quant_asym(x, 16, 3, 15, q, sc, mn, &b->d, &b->dmin);
        memset(b->qs, 0, sizeof b->qs);
        for (int e = 0; e < GG_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            b->qs[32 * h + l] |= (uint8_t)(q[e] << (2 * j));
        }
        for (int s = 0; s < 16; s++) b->scales[s] = (uint8_t)(sc[s] | (mn[s] << 4));
    }
}

static void quant_q3_K(const float *x, void *dst, int64_t n) {
    gg_block_q3_K *b = dst;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, x += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[16];
        quant_sym(x, -4, -32, q, sc, &b->d);
        memset(b->qs, 0, sizeof b->qs);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < GG_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int u = q[e] + 4;
            b->qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
            if (u & 4) b->hmask[l] |= (uint8_t)(1 << (4 * h + j));
        }
        for (int s = 0; s < 16; s++) sc[s] += 32;
        q3_pack_scales(b->scales, sc);
    }
}

static void quant_q4_K(const float *x, void *dst, int64_t n) {
    gg_block_q4_K *b = dst;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, x += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[8], mn[8];
        quant_asym(x, 32, 15, 63, q, sc, mn, &b->d, &b->dmin);
        memset(b->qs, 0, sizeof b->qs);
        for (int e = 0; e < GG_QK_K; e++) {
            int c = e / 64, s = (e % 64) / 32, l = e % 32;
            b->qs[32 * c + l] |= (uint8_t)(q[e] << (4 * s));
        }
        k4_pack_scales(b->scales, sc, mn);
    }
}

static void quant_q5_K(const float *x, void *dst, int64_t n) {
    gg_block_q5_K *b = dst;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, x += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[8], mn[8];
        quant_asym(x, 32, 31, 63, q, sc, mn, &b->d, &b->dmin);
        memset(b->qs, 0, sizeof b->qs);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < GG_QK_K; e++) {
            int c = e / 64, s = (e % 64) / 32, l = e % 32;
            b->qs[32 * c + l] |= (uint8_t)((q[e] & 0xf) << (4 * s));
            b->qh[l] |= (uint8_t)((q[e] >> 4) << (2 * c + s));
        }
        k4_pack_scales(b->scales, sc, mn);
    }
}

static void quant_q6_K(const float *x, void *dst, int64_t n) {
    gg_block_q6_K *b = dst;
    for (int64_t i = 0; i < n / GG_QK_K; i++, b++, x += GG_QK_K) {
        int8_t q[GG_QK_K];
        int sc[16];
        quant_sym(x, -32, -128, q, sc, &b->d);
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < GG_QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            int u = q[e] + 32;
            b->ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((u & 0xf) << (4 * (k >> 1)));
            b->qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
        }
        for (int s = 0; s < 16; s++) b->scales[s] = (int8_t)sc[s];
    }
}

/* ---------------- tables ---------------- */

static const gg_dequantize_fn deq_fns[GG_TYPE_COUNT] = {
    [GG_TYPE_F32] = deq_f32,   [GG_TYPE_F16] = deq_f16,   [GG_TYPE_BF16] = deq_bf16,
    [GG_TYPE_Q4_0] = deq_q4_0, [GG_TYPE_Q4_1] = deq_q4_1, [GG_TYPE_Q5_0] = deq_q5_0,
    [GG_TYPE_Q5_1] = deq_q5_1, [GG_TYPE_Q8_0] = deq_q8_0, [GG_TYPE_Q8_1] = deq_q8_1,
    [GG_TYPE_Q2_K] = deq_q2_K, [GG_TYPE_Q3_K] = deq_q3_K, [GG_TYPE_Q4_K] = deq_q4_K,
    [GG_TYPE_Q5_K] = deq_q5_K, [GG_TYPE_Q6_K] = deq_q6_K, [GG_TYPE_Q8_K] = deq_q8_K,
};

static const gg_quantize_fn quant_fns[GG_TYPE_COUNT] = {
    [GG_TYPE_F32] = quant_f32,   [GG_TYPE_F16] = quant_f16,   [GG_TYPE_BF16] = quant_bf16,
    [GG_TYPE_Q4_0] = quant_q4_0, [GG_TYPE_Q4_1] = quant_q4_1, [GG_TYPE_Q5_0] = quant_q5_0,
    [GG_TYPE_Q5_1] = quant_q5_1, [GG_TYPE_Q8_0] = quant_q8_0, [GG_TYPE_Q8_1] = quant_q8_1,
    [GG_TYPE_Q2_K] = quant_q2_K, [GG_TYPE_Q3_K] = quant_q3_K, [GG_TYPE_Q4_K] = quant_q4_K,
    [GG_TYPE_Q5_K] = quant_q5_K, [GG_TYPE_Q6_K] = quant_q6_K, [GG_TYPE_Q8_K] = quant_q8_K,
};

void gg_dequantize_row_ref(gg_type t, const void *src, float *dst, int64_t n) {
    if ((unsigned)t < GG_TYPE_COUNT && deq_fns[t]) deq_fns[t](src, dst, n);
}

void gg_quantize_row_ref(gg_type t, const float *src, void *dst, int64_t n) {
    if ((unsigned)t < GG_TYPE_COUNT && quant_fns[t]) quant_fns[t](src, dst, n);
}

/* quantize_act is indexed by the activation type, but every type the
 * reference can quantize is filled in: it costs nothing and lets callers
 * quantize weights through the same entry. */
void gg_ref_fill_quant(gg_kernel_table *t) {
    for (int i = 0; i < GG_TYPE_COUNT; i++) {
        if (deq_fns[i]) t->dequantize[i] = deq_fns[i];
        if (quant_fns[i]) t->quantize_act[i] = quant_fns[i];
    }
}
