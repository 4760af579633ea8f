/*
 * test_kernels_ref.c - the scalar reference kernels and the dispatch
 * layer: half/bfloat16 conversions (exhaustively), block sizes, the
 * meaning of hand-built blocks of every type, quantization error, dot
 * products against float dots of the dequantized rows, and gg_matmul_rows
 * against plain loops.
 *
 * Expected values come from the format description, written here
 * independently of quant_ref.c: either worked out by hand for a few bytes
 * set in an otherwise zero block, or from loops that walk the block the
 * way ggml's dequantizers describe it.
 */
#include "check.h"
#include "kernels/kernels_internal.h"
#include "platform/platform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- helpers ---------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd_uniform(void) { return (float)((rnd_u32() + 0.5) / 4294967296.0); }

static float rnd_gauss(void) {
    double u = rnd_uniform(), v = rnd_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void fill_bytes(void *p, size_t n) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd_u32();
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Half values worked out from the binary16 definition. */
#define H_ONE 0x3c00     /* 1.0 */
#define H_HALF 0x3800    /* 0.5 */
#define H_QUARTER 0x3400 /* 0.25 */
#define H_MINUS1 0xbc00  /* -1.0 */
#define H_1_64 0x2400    /* 2^-6 */

/* ---------------- fp16 / bf16 ---------------- */

/* The value of a half from its definition, in double. */
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_half_exhaustive(void) {
    int bad_value = 0, bad_round_trip = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gg_half_to_float((gg_half)h);
        int e = (h >> 10) & 31;
        if (e == 31) {
            bool is_nan = (h & 1023) != 0;
            if (is_nan != (bool)isnan(f) || (!is_nan && !isinf(f))) bad_nan++;
            if (is_nan && !(gg_float_to_half(f) & 0x3ff)) bad_nan++;
            if (is_nan && ((gg_float_to_half(f) >> 10) & 31) != 31) bad_nan++;
            continue;
        }
        if ((double)f != half_value((uint16_t)h)) bad_value++;
        if (gg_float_to_half(f) != h) bad_round_trip++;
    }
    CHECK_EQ_INT(bad_value, 0);
    CHECK_EQ_INT(bad_round_trip, 0);
    CHECK_EQ_INT(bad_nan, 0);
    CHECK_EQ_INT(gg_float_to_half(INFINITY), 0x7c00);
    CHECK_EQ_INT(gg_float_to_half(-INFINITY), 0xfc00);
    CHECK_EQ_INT(gg_float_to_half(-0.0f), 0x8000);
}

/* Every midpoint between neighbouring halves rounds to the even one, and
 * the floats just either side of it round to the nearer one. */
static void test_half_rounding(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        for (int sign = 0; sign < 2; sign++) {
            uint16_t lo = (uint16_t)(h | (sign << 15)), hi = (uint16_t)((h + 1) | (sign << 15));
            double mid = (half_value(lo) + half_value(hi)) / 2; /* exact in float */
            float fm = (float)mid;
            uint16_t even = (lo & 1) ? hi : lo;
            if (h + 1 == 0x7c00) even = hi; /* 65520 rounds to inf */
            if (gg_float_to_half(fm) != even) bad++;
            float toward_lo = nextafterf(fm, (float)half_value(lo));
            float toward_hi = nextafterf(fm, sign ? -INFINITY : INFINITY);
            if (gg_float_to_half(toward_lo) != lo) bad++;
            if (gg_float_to_half(toward_hi) != hi) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* Hand cases: 2^-25 is half the smallest subnormal, a tie to zero;
     * 1.5 * 2^-24 ties between subnormals 1 and 2, to 2. */
    CHECK_EQ_INT(gg_float_to_half(ldexpf(1, -25)), 0);
    CHECK_EQ_INT(gg_float_to_half(nextafterf(ldexpf(1, -25), 1)), 1);
    CHECK_EQ_INT(gg_float_to_half(ldexpf(3, -25)), 2);
    CHECK_EQ_INT(gg_float_to_half(1e-10f), 0);
    CHECK_EQ_INT(gg_float_to_half(65504.0f), 0x7bff);
    CHECK_EQ_INT(gg_float_to_half(1e6f), 0x7c00);
    CHECK_EQ_INT(gg_float_to_half(1.0f + ldexpf(1, -11)), 0x3c00); /* tie, to even */
    CHECK_EQ_INT(gg_float_to_half(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    CHECK_EQ_INT(gg_float_to_half(0.1f), 0x2e66);
}

static void test_bf16(void) {
    CHECK_EQ_INT(gg_float_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(gg_float_to_bf16(bitsf(0x3f808000)), 0x3f80); /* tie, to even */
    CHECK_EQ_INT(gg_float_to_bf16(bitsf(0x3f818000)), 0x3f82); /* tie, to even */
    CHECK_EQ_INT(gg_float_to_bf16(bitsf(0x3f808001)), 0x3f81);
    CHECK_EQ_INT(gg_float_to_bf16(bitsf(0x3f807fff)), 0x3f80);
    CHECK_EQ_INT(gg_float_to_bf16(-2.0f), 0xc000);
    CHECK_EQ_INT(gg_float_to_bf16(INFINITY), 0x7f80);
    CHECK_EQ_INT(gg_float_to_bf16(bitsf(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(gg_float_to_bf16(bitsf(0x00010000)), 0x0001); /* subnormals kept */
    gg_bf16 nan = gg_float_to_bf16(bitsf(0x7f800001));
    CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
    CHECK(isnan(gg_bf16_to_float(nan)));
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = gg_bf16_to_float((gg_bf16)b);
        if (!isnan(f) && gg_float_to_bf16(f) != b) bad++;
        if (fbits(f) != b << 16) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---------------- sizes ---------------- */

static void test_sizes(void) {
    CHECK_EQ_INT(sizeof(gg_block_q4_0), 18);
    CHECK_EQ_INT(sizeof(gg_block_q4_1), 20);
    CHECK_EQ_INT(sizeof(gg_block_q5_0), 22);
    CHECK_EQ_INT(sizeof(gg_block_q5_1), 24);
    CHECK_EQ_INT(sizeof(gg_block_q8_0), 34);
    CHECK_EQ_INT(sizeof(gg_block_q8_1), 36);
    CHECK_EQ_INT(sizeof(gg_block_q2_K), 84);
    CHECK_EQ_INT(sizeof(gg_block_q3_K), 110);
    CHECK_EQ_INT(sizeof(gg_block_q4_K), 144);
    CHECK_EQ_INT(sizeof(gg_block_q5_K), 176);
    CHECK_EQ_INT(sizeof(gg_block_q6_K), 210);
    CHECK_EQ_INT(sizeof(gg_block_q8_K), 292);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_Q4_0, 32 * 7), 7 * 18);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_Q4_0, 100), 0);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_Q4_K, 256 * 3), 3 * 144);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_Q6_K, 512), 420);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_Q8_K, 256), 292);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_Q4_K, 255), 0);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_F16, 5), 10);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_BF16, 7), 14);
    CHECK_EQ_INT(gg_row_size(GG_TYPE_F32, 3), 12);
}

/* ---------------- hand-built blocks: spot values ---------------- */

static float deq1(gg_type t, const void *block, int n, int i) {
    float out[256];
    gg_dequantize_row_ref(t, block, out, n);
    return out[i];
}

static void test_spot_32(void) {
    gg_block_q4_0 a;
    memset(&a, 0, sizeof a);
    a.d = H_HALF;
    a.qs[0] = 0x3a;  /* element 0: (10-8)*0.5, element 16: (3-8)*0.5 */
    a.qs[15] = 0xf0; /* element 15: (0-8)*0.5, element 31: (15-8)*0.5 */
    CHECK(deq1(GG_TYPE_Q4_0, &a, 32, 0) == 1.0f);
    CHECK(deq1(GG_TYPE_Q4_0, &a, 32, 16) == -2.5f);
    CHECK(deq1(GG_TYPE_Q4_0, &a, 32, 15) == -4.0f);
    CHECK(deq1(GG_TYPE_Q4_0, &a, 32, 31) == 3.5f);
    CHECK(deq1(GG_TYPE_Q4_0, &a, 32, 1) == -4.0f);

    gg_block_q4_1 b;
    memset(&b, 0, sizeof b);
    b.d = H_HALF;
    b.m = H_MINUS1;
    b.qs[2] = 0x71; /* element 2: 1*0.5-1, element 18: 7*0.5-1 */
    CHECK(deq1(GG_TYPE_Q4_1, &b, 32, 2) == -0.5f);
    CHECK(deq1(GG_TYPE_Q4_1, &b, 32, 18) == 2.5f);
    CHECK(deq1(GG_TYPE_Q4_1, &b, 32, 3) == -1.0f);

    /* qh bit j is bit 4 of element j: 0x00010002 sets it for elements 1
     * and 16; qh[3]=0x80 for element 31. */
    gg_block_q5_0 c;
    memset(&c, 0, sizeof c);
    c.d = H_QUARTER;
    c.qh[0] = 0x02;
    c.qh[2] = 0x01;
    c.qh[3] = 0x80;
    c.qs[1] = 0x05;  /* element 1: (16+5-16)*0.25, element 17: (0-16)*0.25 */
    c.qs[0] = 0x30;  /* element 16: (16+3-16)*0.25, element 0: -4 */
    c.qs[15] = 0xf0; /* element 31: (16+15-16)*0.25 */
    CHECK(deq1(GG_TYPE_Q5_0, &c, 32, 1) == 1.25f);
    CHECK(deq1(GG_TYPE_Q5_0, &c, 32, 17) == -4.0f);
    CHECK(deq1(GG_TYPE_Q5_0, &c, 32, 16) == 0.75f);
    CHECK(deq1(GG_TYPE_Q5_0, &c, 32, 0) == -4.0f);
    CHECK(deq1(GG_TYPE_Q5_0, &c, 32, 31) == 3.75f);

    gg_block_q5_1 e;
    memset(&e, 0, sizeof e);
    e.d = H_HALF;
    e.m = H_ONE;
    e.qh[1] = 0x01; /* element 8 gets +16 */
    e.qs[8] = 0x23; /* element 8: 19*0.5+1, element 24: 2*0.5+1 */
    CHECK(deq1(GG_TYPE_Q5_1, &e, 32, 8) == 10.5f);
    CHECK(deq1(GG_TYPE_Q5_1, &e, 32, 24) == 2.0f);

    gg_block_q8_0 f;
    memset(&f, 0, sizeof f);
    f.d = H_QUARTER;
    f.qs[5] = -127;
    f.qs[31] = 33;
    CHECK(deq1(GG_TYPE_Q8_0, &f, 32, 5) == -31.75f);
    CHECK(deq1(GG_TYPE_Q8_0, &f, 32, 31) == 8.25f);
}

static void test_spot_k(void) {
    /* Q2_K: element 128+32*2+17 = 209 is bits 4-5 of qs[32+17], in
     * sub-block 209/16 = 13. */
    gg_block_q2_K a;
    memset(&a, 0, sizeof a);
    a.d = H_HALF;
    a.dmin = H_QUARTER;
    a.qs[49] = 0x30;     /* bits 4-5 = 3 */
    a.scales[13] = 0x57; /* scale 7, min 5 */
    CHECK(deq1(GG_TYPE_Q2_K, &a, 256, 209) == 0.5f * 7 * 3 - 0.25f * 5);
    CHECK(deq1(GG_TYPE_Q2_K, &a, 256, 208) == -1.25f); /* q = 0, same sub-block */
    CHECK(deq1(GG_TYPE_Q2_K, &a, 256, 17) == 0.0f);

    /* Q3_K: element 128+32*1+3 = 163: low bits 2-3 of qs[32+3], high bit
     * 4*1+1 = 5 of hmask[3]; sub-block 10, whose 6-bit scale has low
     * nibble in the high half of scales[2] and high bits 4-5 of
     * scales[8+2]. */
    gg_block_q3_K b;
    memset(&b, 0, sizeof b);
    b.d = H_HALF;
    b.qs[35] = 0x08;     /* low bits = 2 */
    b.hmask[3] = 0x20;   /* set: no -4 */
    b.scales[2] = 0x90;  /* low nibble of scale 10 = 9 */
    b.scales[10] = 0x30; /* high bits of scale 10 = 3 -> 57 - 32 = 25 */
    CHECK(deq1(GG_TYPE_Q3_K, &b, 256, 163) == 0.5f * 25 * 2);
    /* Element 164: low bits 0, hmask clear -> q = -4; scale 25. */
    CHECK(deq1(GG_TYPE_Q3_K, &b, 256, 164) == 0.5f * 25 * -4);
    /* Element 0: scale 0 of zero bytes is 0-32 = -32, q = -4. */
    CHECK(deq1(GG_TYPE_Q3_K, &b, 256, 0) == 0.5f * -32 * -4);

    /* Q4_K: sub-block 0 scale = scales[0]&63, min = scales[4]&63; sub-block
     * 4 scale = low nibble of scales[8] | top bits of scales[0] << 4, min
     * = high nibble of scales[8] | top bits of scales[4] << 4. */
    gg_block_q4_K c;
    memset(&c, 0, sizeof c);
    c.d = H_HALF;
    c.dmin = H_QUARTER;
    c.scales[0] = 0x85; /* scale0 5, top bits 2 */
    c.scales[4] = 0x43; /* min0 3, top bits 1 */
    c.scales[8] = 0x27; /* scale4 7 | 2<<4 = 39, min4 2 | 1<<4 = 18 */
    c.qs[0] = 0x9c;     /* element 0 = 12 (sub-block 0), element 32 = 9 (sub-block 1) */
    c.qs[64] = 0x0b;    /* element 128 = 11, sub-block 4 */
    CHECK(deq1(GG_TYPE_Q4_K, &c, 256, 0) == 0.5f * 5 * 12 - 0.25f * 3);
    CHECK(deq1(GG_TYPE_Q4_K, &c, 256, 32) == 0.0f); /* sub-block 1: scale 0, min 0 */
    CHECK(deq1(GG_TYPE_Q4_K, &c, 256, 128) == 0.5f * 39 * 11 - 0.25f * 18);
    CHECK(deq1(GG_TYPE_Q4_K, &c, 256, 160) == -0.25f * 0); /* sub-block 5 all zero */

    /* Q5_K: element 64*1+32+5 = 101: high nibble of qs[32+5], fifth bit
     * 2*1+1 = 3 of qh[5]; sub-block 3. */
    gg_block_q5_K d;
    memset(&d, 0, sizeof d);
    d.d = H_QUARTER;
    d.dmin = H_HALF;
    d.scales[3] = 0x06; /* scale3 6 */
    d.scales[7] = 0x02; /* min3 2 */
    d.qs[37] = 0x40;    /* high nibble 4 */
    d.qh[5] = 0x08;     /* +16 */
    CHECK(deq1(GG_TYPE_Q5_K, &d, 256, 101) == 0.25f * 6 * 20 - 0.5f * 2);
    CHECK(deq1(GG_TYPE_Q5_K, &d, 256, 96) == -1.0f); /* q = 0 in sub-block 3 */
    CHECK(deq1(GG_TYPE_Q5_K, &d, 256, 69) == 0.0f);  /* sub-block 2: all zero */

    /* Q6_K: element 128+64+7 = 199 (k = 2): high nibble of ql[64+7], bits
     * 4-5 of qh[32+7]; sub-block 12. */
    gg_block_q6_K e;
    memset(&e, 0, sizeof e);
    e.d = H_1_64;
    e.ql[71] = 0xa0; /* high nibble 10 */
    e.qh[39] = 0x30; /* bits 4-5 = 3: q = 10 + 48 - 32 = 26 */
    e.scales[12] = -3;
    CHECK(deq1(GG_TYPE_Q6_K, &e, 256, 199) == 0.015625f * -3 * 26);
    /* element 135 (k = 0): low nibble of ql[71] = 0, qh bits 0-1 = 0 -> -32 */
    e.scales[8] = 5;
    CHECK(deq1(GG_TYPE_Q6_K, &e, 256, 135) == 0.015625f * 5 * -32);

    gg_block_q8_K f;
    memset(&f, 0, sizeof f);
    f.d = 0.125f;
    f.qs[200] = -100;
    CHECK(deq1(GG_TYPE_Q8_K, &f, 256, 200) == -12.5f);
}

/* ---------------- hand-built blocks: whole blocks ----------------
 * Random bytes with exactly representable factors, expected values from
 * loops written after the way ggml's dequantizers walk each block. */

static void expect_q2_K(const gg_block_q2_K *x, float *y) {
    float d = gg_half_to_float(x->d), mn = gg_half_to_float(x->dmin);
    const uint8_t *q = x->qs;
    int is = 0;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                uint8_t sc = x->scales[is++];
                for (int l = 0; l < 16; l++) {
                    *y++ = d * (sc & 15) * ((q[l + 16 * half] >> shift) & 3) - mn * (sc >> 4);
                }
            }
        }
        q += 32;
    }
}

static void expect_q3_K(const gg_block_q3_K *x, float *y) {
    /* The 12 scale bytes as three little-endian words: word 2 holds the
     * high bit pairs; rebuild 16 bytes of 6-bit scales from them. */
    uint32_t w[3], aux[4];
    for (int k = 0; k < 3; k++) {
        w[k] = (uint32_t)x->scales[4 * k] | (uint32_t)x->scales[4 * k + 1] << 8 |
               (uint32_t)x->scales[4 * k + 2] << 16 | (uint32_t)x->scales[4 * k + 3] << 24;
    }
    aux[0] = (w[0] & 0x0f0f0f0f) | ((w[2] & 0x03030303) << 4);
    aux[1] = (w[1] & 0x0f0f0f0f) | (((w[2] >> 2) & 0x03030303) << 4);
    aux[2] = ((w[0] >> 4) & 0x0f0f0f0f) | (((w[2] >> 4) & 0x03030303) << 4);
    aux[3] = ((w[1] >> 4) & 0x0f0f0f0f) | (((w[2] >> 6) & 0x03030303) << 4);
    int sc[16];
    for (int i = 0; i < 16; i++) sc[i] = (int)((aux[i / 4] >> (8 * (i % 4))) & 0xff) - 32;
    float d = gg_half_to_float(x->d);
    const uint8_t *q = x->qs;
    int is = 0, m = 1;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
            for (int half = 0; half < 2; half++) {
                float dl = d * (float)sc[is++];
                for (int l = 16 * half; l < 16 * half + 16; l++) {
                    int v = ((q[l] >> shift) & 3) - ((x->hmask[l] & m) ? 0 : 4);
                    *y++ = dl * (float)v;
                }
            }
        }
        q += 32;
    }
}

static void scale_min_k4(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K when qh is NULL, Q5_K otherwise. */
static void expect_q45_K(gg_half hd, gg_half hmin, const uint8_t *scales, const uint8_t *qs,
                         const uint8_t *qh, float *y) {
    float d = gg_half_to_float(hd), dmin = gg_half_to_float(hmin);
    int u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, qs += 32, u1 <<= 2, u2 <<= 2) {
        int sc1, m1, sc2, m2;
        scale_min_k4(scales, is, &sc1, &m1);
        scale_min_k4(scales, is + 1, &sc2, &m2);
        for (int l = 0; l < 32; l++) {
            int hi = qh && (qh[l] & u1) ? 16 : 0;
            *y++ = d * sc1 * ((qs[l] & 15) + hi) - dmin * m1;
        }
        for (int l = 0; l < 32; l++) {
            int hi = qh && (qh[l] & u2) ? 16 : 0;
            *y++ = d * sc2 * ((qs[l] >> 4) + hi) - dmin * m2;
        }
    }
}

static void expect_q6_K(const gg_block_q6_K *x, float *y) {
    float d = gg_half_to_float(x->d);
    const uint8_t *ql = x->ql, *qh = x->qh;
    const int8_t *sc = x->scales;
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            y[l] = d * sc[is] * (((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
            y[l + 32] = d * sc[is + 2] * (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            y[l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            y[l + 96] = d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

static int count_diff(const float *a, const float *b, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) bad += a[i] != b[i];
    return bad;
}

static void test_whole_blocks(void) {
    float got[256], want[256];
    for (int round = 0; round < 20; round++) {
        gg_block_q2_K a;
        fill_bytes(&a, sizeof a);
        a.d = H_HALF;
        a.dmin = H_QUARTER;
        expect_q2_K(&a, want);
        gg_dequantize_row_ref(GG_TYPE_Q2_K, &a, got, 256);
        CHECKF(count_diff(got, want, 256) == 0, "q2_K block %d", round);

        gg_block_q3_K b;
        fill_bytes(&b, sizeof b);
        b.d = H_QUARTER;
        expect_q3_K(&b, want);
        gg_dequantize_row_ref(GG_TYPE_Q3_K, &b, got, 256);
        CHECKF(count_diff(got, want, 256) == 0, "q3_K block %d", round);

        gg_block_q4_K c;
        fill_bytes(&c, sizeof c);
        c.d = H_1_64;
        c.dmin = H_HALF;
        expect_q45_K(c.d, c.dmin, c.scales, c.qs, NULL, want);
        gg_dequantize_row_ref(GG_TYPE_Q4_K, &c, got, 256);
        CHECKF(count_diff(got, want, 256) == 0, "q4_K block %d", round);

        gg_block_q5_K e;
        fill_bytes(&e, sizeof e);
        e.d = H_QUARTER;
        e.dmin = H_1_64;
        expect_q45_K(e.d, e.dmin, e.scales, e.qs, e.qh, want);
        gg_dequantize_row_ref(GG_TYPE_Q5_K, &e, got, 256);
        CHECKF(count_diff(got, want, 256) == 0, "q5_K block %d", round);

        gg_block_q6_K f;
        fill_bytes(&f, sizeof f);
        f.d = H_1_64;
        expect_q6_K(&f, want);
        gg_dequantize_row_ref(GG_TYPE_Q6_K, &f, got, 256);
        CHECKF(count_diff(got, want, 256) == 0, "q6_K block %d", round);
    }
}

/* ---------------- activation quantizers ---------------- */

static void test_act_rounding(void) {
    /* With amax = 127 the multiplier is exactly 1, so the quants are the
     * inputs rounded half to even. */
    float x[256] = {0};
    x[0] = 127;
    x[1] = 0.5f;
    x[2] = 1.5f;
    x[3] = 2.5f;
    x[4] = -0.5f;
    x[5] = -2.5f;
    x[6] = 3.4f;
    x[7] = -3.6f;
    int want[8] = {127, 0, 2, 2, 0, -2, 3, -4};
    gg_block_q8_0 q0;
    gg_quantize_row_ref(GG_TYPE_Q8_0, x, &q0, 32);
    gg_block_q8_1 q1;
    gg_quantize_row_ref(GG_TYPE_Q8_1, x, &q1, 32);
    for (int i = 0; i < 8; i++) {
        CHECKF(q0.qs[i] == want[i], "q8_0 qs[%d] = %d, want %d", i, q0.qs[i], want[i]);
        CHECKF(q1.qs[i] == want[i], "q8_1 qs[%d] = %d, want %d", i, q1.qs[i], want[i]);
    }
    CHECK(q0.d == H_ONE);
    CHECK(q1.d == H_ONE);
    CHECK(gg_half_to_float(q1.s) == 127 + 0 + 2 + 2 + 0 - 2 + 3 - 4);

    /* Q8_K maps the signed maximum to -127: with max = -127 the
     * multiplier is exactly 1; with max = +127 it is -1. */
    x[0] = -127;
    gg_block_q8_K k;
    gg_quantize_row_ref(GG_TYPE_Q8_K, x, &k, 256);
    int wantk[8] = {-127, 0, 2, 2, 0, -2, 3, -4};
    for (int i = 0; i < 8; i++) CHECKF(k.qs[i] == wantk[i], "q8_K qs[%d] = %d", i, k.qs[i]);
    CHECK(k.d == 1.0f);
    CHECK_EQ_INT(k.bsums[0], -127 + 0 + 2 + 2 + 0 - 2 + 3 - 4);
    CHECK_EQ_INT(k.bsums[1], 0);
    x[0] = 127;
    gg_quantize_row_ref(GG_TYPE_Q8_K, x, &k, 256);
    CHECK(k.qs[0] == -127 && k.qs[2] == -2 && k.qs[3] == -2 && k.qs[7] == 4);
    CHECK(k.d == -1.0f);

    /* bsums are the sums of each 16 on random data too. */
    float r[512];
    for (int i = 0; i < 512; i++) r[i] = rnd_gauss();
    gg_block_q8_K kk[2];
    gg_quantize_row_ref(GG_TYPE_Q8_K, r, kk, 512);
    int bad = 0;
    for (int b = 0; b < 2; b++) {
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += kk[b].qs[16 * g + l];
            bad += s != kk[b].bsums[g];
        }
    }
    CHECK_EQ_INT(bad, 0);

    /* A zero block quantizes to zeros. */
    memset(x, 0, sizeof x);
    gg_quantize_row_ref(GG_TYPE_Q8_K, x, &k, 256);
    CHECK(k.d == 0 && k.qs[0] == 0 && k.bsums[3] == 0);
}

/* ---------------- quantize -> dequantize error ---------------- */

typedef struct type_case {
    gg_type type;
    int n;          /* an awkward row length: 7 blocks or 3 super-blocks */
    double max_rel; /* bound on the relative RMS error on Gaussian data */
} type_case;

/* Bounds: about 1.5x the uniform-rounding error of each format's step
 * (step / sqrt(12) relative to the data's spread), looser for the
 * K-quants whose scales are themselves quantized. */
static const type_case cases[] = {
    {GG_TYPE_F32, 224, 0.0},    {GG_TYPE_F16, 224, 0.0005}, {GG_TYPE_BF16, 224, 0.004},
    {GG_TYPE_Q4_0, 224, 0.13},  {GG_TYPE_Q4_1, 224, 0.11},  {GG_TYPE_Q5_0, 224, 0.065},
    {GG_TYPE_Q5_1, 224, 0.055}, {GG_TYPE_Q8_0, 224, 0.008}, {GG_TYPE_Q8_1, 224, 0.008},
    {GG_TYPE_Q2_K, 768, 0.45},  {GG_TYPE_Q3_K, 768, 0.25},  {GG_TYPE_Q4_K, 768, 0.12},
    {GG_TYPE_Q5_K, 768, 0.06},  {GG_TYPE_Q6_K, 768, 0.03},  {GG_TYPE_Q8_K, 768, 0.012},
};

static double rel_rms(const float *x, const float *y, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        den += (double)x[i] * x[i];
    }
    return sqrt(num / den);
}

static void test_quant_error(void) {
    float x[768], y[768];
    uint8_t buf[768 * 4];
    for (size_t c = 0; c < GG_ARRAY_LEN(cases); c++) {
        const type_case *tc = &cases[c];
        double worst = 0;
        for (int round = 0; round < 10; round++) {
            /* Vary the scale and add an offset now and then, so the
             * formats with a min are exercised. */
            float scale = ldexpf(1, round % 5 - 2), offset = round % 3 == 2 ? 0.7f : 0;
            for (int i = 0; i < tc->n; i++) x[i] = scale * (rnd_gauss() + offset);
            memset(buf, 0xcd, sizeof buf);
            gg_quantize_row_ref(tc->type, x, buf, tc->n);
            gg_dequantize_row_ref(tc->type, buf, y, tc->n);
            double e = rel_rms(x, y, tc->n);
            if (e > worst) worst = e;
        }
        CHECKF(worst <= tc->max_rel, "%s: relative RMS error %.5f above %.5f", gg_type_name(tc->type),
               worst, tc->max_rel);
        if (getenv("GG_TEST_VERBOSE")) printf("%s err %.5f\n", gg_type_name(tc->type), worst);
    }
    /* All-zero and constant rows stay exact where the format allows. */
    for (size_t c = 0; c < GG_ARRAY_LEN(cases); c++) {
        const type_case *tc = &cases[c];
        memset(x, 0, sizeof x);
        gg_quantize_row_ref(tc->type, x, buf, tc->n);
        gg_dequantize_row_ref(tc->type, buf, y, tc->n);
        int bad = 0;
        for (int i = 0; i < tc->n; i++) bad += y[i] != 0;
        CHECKF(bad == 0, "%s: zeros do not survive", gg_type_name(tc->type));
    }
}

/* ---------------- dot products ---------------- */

static bool is_weight_type(gg_type t) {
    const gg_type_traits *tr = gg_type_info(t);
    return tr && tr->can_compute;
}

/* The dot of the dequantized rows, in double, and the sum of absolute
 * products to scale the tolerance by. */
static double float_dot(gg_type wt, const void *w, gg_type at, const void *a, int n, double *mag) {
    float xw[768], xa[768];
    gg_dequantize_row_ref(wt, w, xw, n);
    gg_dequantize_row_ref(at, a, xa, n);
    double s = 0;
    *mag = 0;
    for (int i = 0; i < n; i++) {
        s += (double)xw[i] * xa[i];
        *mag += fabs((double)xw[i] * xa[i]);
    }
    if (at == GG_TYPE_Q8_1) {
        /* The min term of Q4_1/Q5_1 uses the block sum s that Q8_1 stores
         * as a half (d * sum of quants): allow its rounding, 2^-11 relative.
         * Both weight blocks start with the halves d and m. */
        size_t wsize = gg_type_info(wt)->type_size;
        for (int b = 0; b < n / 32; b++) {
            const gg_half *wm = (const gg_half *)((const uint8_t *)w + b * wsize) + 1;
            const gg_block_q8_1 *ab = (const gg_block_q8_1 *)a + b;
            *mag += fabs(gg_half_to_float(*wm) * gg_half_to_float(ab->s)) / 2048 / 2e-6;
        }
    }
    return s;
}

static void test_dots(void) {
    static uint8_t w[768 * 4], a[768 * 4];
    float x[768];
    for (size_t c = 0; c < GG_ARRAY_LEN(cases); c++) {
        gg_type t = cases[c].type;
        if (!is_weight_type(t)) continue;
        gg_type vt = gg_type_info(t)->vec_dot_type;
        int n = cases[c].n;
        int bad_ref = 0, bad_disp = 0;
        for (int round = 0; round < 20; round++) {
            float off = round % 2 ? 0.3f : 0;
            for (int i = 0; i < n; i++) x[i] = rnd_gauss() + off;
            gg_quantize_row_ref(t, x, w, n);
            for (int i = 0; i < n; i++) x[i] = 0.1f * rnd_gauss() - off;
            gg_quantize_row_ref(vt, x, a, n);
            double mag, want = float_dot(t, w, vt, a, n, &mag);
            float got = -1, disp = -1;
            gg_vec_dot_ref(t, n, &got, w, a);
            gg_vec_dot(t, n, &disp, w, a);
            if (fabs(got - want) > 2e-6 * mag + 1e-30) {
                if (bad_ref++ == 0) printf("  %s: ref %.9g want %.9g\n", gg_type_name(t), got, want);
            }
            if (fabs(disp - want) > 2e-5 * mag + 1e-30) bad_disp++;
        }
        CHECKF(bad_ref == 0, "%s: vec_dot_ref differs from the float dot", gg_type_name(t));
        CHECKF(bad_disp == 0, "%s: dispatched vec_dot differs", gg_type_name(t));
    }
}

/* Integer arithmetic by hand: Q8_0 x Q8_0 with d = 0.5 and 0.25. */
static void test_dot_by_hand(void) {
    gg_block_q8_0 w[2], a[2];
    memset(w, 0, sizeof w);
    memset(a, 0, sizeof a);
    w[0].d = H_HALF;
    a[0].d = H_QUARTER;
    w[1].d = H_ONE;
    a[1].d = H_ONE;
    w[0].qs[0] = 100, a[0].qs[0] = -3;    /* -300 */
    w[0].qs[31] = 7, a[0].qs[31] = 9;     /* +63 */
    w[1].qs[4] = -127, a[1].qs[4] = -127; /* 16129 */
    float s;
    gg_vec_dot_ref(GG_TYPE_Q8_0, 64, &s, w, a);
    CHECK(s == (-300 + 63) * 0.125f + 16129.0f);

    /* Q4_K against Q8_K: one super-block, sub-block 0 scale 2 min 1, all
     * weight quants 3, activation quants 1 with d = 1: every value of
     * sub-block 0 is 0.5*2*3 - 0.25*1 = 2.75, the rest are 0 (scales 0). */
    gg_block_q4_K k;
    memset(&k, 0, sizeof k);
    k.d = H_HALF;
    k.dmin = H_QUARTER;
    k.scales[0] = 2;
    k.scales[4] = 1;
    memset(k.qs, 0x33, sizeof k.qs);
    gg_block_q8_K q;
    memset(&q, 0, sizeof q);
    q.d = 1.0f;
    memset(q.qs, 1, sizeof q.qs);
    for (int g = 0; g < 16; g++) q.bsums[g] = 16;
    gg_vec_dot_ref(GG_TYPE_Q4_K, 256, &s, &k, &q);
    CHECK(s == 32 * 2.75f);
}

/* ---------------- matmul ---------------- */

static void test_matmul(void) {
    static const gg_type types[] = {GG_TYPE_F32,  GG_TYPE_F16,  GG_TYPE_BF16, GG_TYPE_Q4_0,
                                    GG_TYPE_Q8_0, GG_TYPE_Q4_1, GG_TYPE_Q4_K, GG_TYPE_Q6_K};
    enum { ROWS = 37, LDY = 41, MAXTOK = 40 };
    for (size_t ti = 0; ti < GG_ARRAY_LEN(types); ti++) {
        gg_type t = types[ti];
        gg_type vt = gg_type_info(t)->vec_dot_type;
        int cols = gg_type_info(t)->block_size == 256 ? 512 : 96;
        size_t wrow = gg_row_size(t, cols), arow = gg_align_up(gg_row_size(vt, cols), 64);
        uint8_t *wd = gg_aligned_alloc(wrow * ROWS);
        uint8_t *ad = gg_aligned_alloc(arow * MAXTOK);
        float *y = malloc(sizeof(float) * LDY * MAXTOK);
        float *x = malloc(sizeof(float) * cols);
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < cols; i++) x[i] = rnd_gauss();
            gg_quantize_row_ref(t, x, wd + r * wrow, cols);
        }
        for (int k = 0; k < MAXTOK; k++) {
            for (int i = 0; i < cols; i++) x[i] = rnd_gauss();
            gg_quantize_act(vt, x, ad + k * arow, cols);
        }
        gg_matrix m = {wd, t, cols, ROWS, wrow};
        static const int ntoks[] = {1, 5, 40};
        for (int ni = 0; ni < 3; ni++) {
            int n_tok = ntoks[ni];
            for (int i = 0; i < LDY * MAXTOK; i++) y[i] = 12345.0f;
            gg_matmul_rows(&m, ad, arow, n_tok, y, LDY, 3, 35);
            int bad = 0, touched = 0;
            for (int k = 0; k < n_tok; k++) {
                for (int r = 0; r < LDY; r++) {
                    float v = y[k * LDY + r];
                    if (r < 3 || r >= 35) {
                        touched += v != 12345.0f;
                        continue;
                    }
                    float want;
                    gg_vec_dot_ref(t, cols, &want, wd + r * wrow, ad + k * arow);
                    bad += fabsf(v - want) > 1e-4f * (1 + fabsf(want));
                }
            }
            for (int i = n_tok * LDY; i < LDY * MAXTOK; i++) touched += y[i] != 12345.0f;
            CHECKF(bad == 0, "matmul %s n_tok %d: %d wrong", gg_type_name(t), n_tok, bad);
            CHECKF(touched == 0, "matmul %s n_tok %d: wrote outside", gg_type_name(t), n_tok);
        }
        gg_aligned_free(wd);
        gg_aligned_free(ad);
        free(y);
        free(x);
    }
}

/* ---------------- dispatch ---------------- */

#define N_RACERS 4
static const gg_kernel_table *raced[N_RACERS];

static void racer(void *arg) {
    int i = (int)(intptr_t)arg;
    raced[i] = gg_kernels_get();
}

/* Must run first: several threads make the first call together. */
static void test_first_use_race(void) {
    gg_thread *th[N_RACERS];
    for (int i = 0; i < N_RACERS; i++) th[i] = gg_thread_start(racer, (void *)(intptr_t)i, NULL);
    for (int i = 0; i < N_RACERS; i++) {
        if (th[i]) gg_thread_join(th[i]);
    }
    for (int i = 0; i < N_RACERS; i++) CHECK(raced[i] != NULL && raced[i] == raced[0]);
    const gg_kernel_table *t = raced[0];
    CHECK(t && t->vec_dot[GG_TYPE_Q4_K] && t->quantize_act[GG_TYPE_Q8_K]);
    CHECK(t && t->dequantize[GG_TYPE_BF16] && !t->vec_dot[GG_TYPE_IQ2_XXS]);
}

static void test_dispatch(void) {
    gg_simd start = gg_kernels_level();
    CHECK(start >= GG_SIMD_SCALAR && start <= GG_SIMD_AVX512);
    const char *env = getenv("GGEMBED_SIMD");
    if (env && strcmp(env, "scalar") == 0) CHECK(start == GG_SIMD_SCALAR);
    if (env && strcmp(env, "avx2") == 0) CHECK(start <= GG_SIMD_AVX2);
    CHECK(strcmp(gg_simd_name(GG_SIMD_SCALAR), "scalar") == 0);
    CHECK(strcmp(gg_simd_name(GG_SIMD_AVX2), "avx2") == 0);
    CHECK(strcmp(gg_simd_name(GG_SIMD_AVX512_PLAIN), "avx512-plain") == 0);
    CHECK(strcmp(gg_simd_name(GG_SIMD_AVX512), "avx512") == 0);

    CHECK(gg_kernels_select(GG_SIMD_SCALAR) == GG_SIMD_SCALAR);
    CHECK(gg_kernels_level() == GG_SIMD_SCALAR);
    /* At the scalar level the dispatched kernels are the references. */
    static uint8_t w[768 * 4], a[768 * 4];
    float x[768], y1[768], y2[768];
    int bad = 0;
    for (size_t c = 0; c < GG_ARRAY_LEN(cases); c++) {
        gg_type t = cases[c].type;
        int n = cases[c].n;
        for (int i = 0; i < n; i++) x[i] = rnd_gauss();
        gg_quantize_row_ref(t, x, w, n);
        gg_dequantize_row_ref(t, w, y1, n);
        gg_dequantize_row(t, w, y2, n);
        bad += count_diff(y1, y2, n);
        gg_quantize_act(t, x, a, n);
        bad += memcmp(a, w, gg_row_size(t, n)) != 0;
        if (!is_weight_type(t)) continue;
        gg_type vt = gg_type_info(t)->vec_dot_type;
        gg_quantize_row_ref(vt, x, a, n);
        float s1, s2;
        gg_vec_dot_ref(t, n, &s1, w, a);
        gg_vec_dot(t, n, &s2, w, a);
        bad += s1 != s2;
    }
    CHECK_EQ_INT(bad, 0);

    /* Asking for more than the CPU has gives what it has, and the
     * activation quantizers of every level agree with the reference. */
    gg_simd best = gg_kernels_select(GG_SIMD_AVX512);
    CHECK(best >= GG_SIMD_SCALAR && best <= GG_SIMD_AVX512);
    static const gg_type acts[] = {GG_TYPE_Q8_0, GG_TYPE_Q8_1, GG_TYPE_Q8_K, GG_TYPE_F16, GG_TYPE_BF16};
    bad = 0;
    for (size_t i = 0; i < GG_ARRAY_LEN(acts); i++) {
        for (int k = 0; k < 768; k++) x[k] = rnd_gauss() * (k % 7 == 0 ? 5 : 1);
        gg_quantize_row_ref(acts[i], x, w, 768);
        gg_quantize_act(acts[i], x, a, 768);
        bad += memcmp(a, w, gg_row_size(acts[i], 768)) != 0;
    }
    CHECKF(bad == 0, "activation quantizers at level %s differ from the reference", gg_simd_name(best));
    gg_kernels_select(start);
}

int main(void) {
    test_first_use_race();
    test_half_exhaustive();
    test_half_rounding();
    test_bf16();
    test_sizes();
    test_spot_32();
    test_spot_k();
    test_whole_blocks();
    test_act_rounding();
    test_quant_error();
    test_dots();
    test_dot_by_hand();
    test_matmul();
    test_dispatch();
    return check_done("test_kernels_ref");
}
