/*
 * fp16.c - conversions between float and the two 16-bit float formats of
 * GGUF files: IEEE binary16 ("half") and bfloat16.
 *
 * They are done on the bit patterns, so they are exact on every compiler
 * and CPU: float -> half rounds to nearest, ties to even, as the F16C
 * instruction does, including results that are subnormal halves, and NaN
 * stays NaN (made quiet). The SIMD kernels use the hardware instructions
 * and must agree bit for bit with these.
 */
#include "kernels.h"

#include <string.h>

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Shifts m right by `shift` (1..31) bits, rounding to nearest even. */
static uint32_t shift_round_even(uint32_t m, int shift) {
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return q;
}

float gg_half_to_float(gg_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13)); /* inf, NaN */
    if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return bits_float(sign);
    /* Subnormal half: mant * 2^-24, a normal float once the leading one
     * is moved up to the implicit bit. */
    uint32_t e = 113;
    while (!(mant & 0x400)) {
        mant <<= 1;
        e--;
    }
    return bits_float(sign | (e << 23) | ((mant & 0x3ff) << 13));
}

gg_half gg_float_to_half(float f) {
    uint32_t u = float_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7fffffffu;
    if (u > 0x7f800000u) return (gg_half)(sign | 0x7e00 | (u >> 13)); /* NaN, quiet */
    if (u >= 0x477ff000u) return (gg_half)(sign | 0x7c00);            /* >= 65520 rounds to inf */
    if (u >= 0x38800000u) {
        /* Normal half: rebias the exponent and round off 13 mantissa bits;
         * a carry out of the mantissa correctly bumps the exponent. */
        uint32_t r = shift_round_even(u - (112u << 23), 13);
        return (gg_half)(sign | r);
    }
    if (u <= 0x33000000u) return (gg_half)sign; /* <= 2^-25: ties to even zero */
    /* Subnormal half: value = m * 2^(e-150) with the implicit bit in m; in
     * units of 2^-24 that is m >> (126 - e). The result may round up to
     * 0x400, the smallest normal, which is the right encoding. */
    uint32_t e = u >> 23;
    uint32_t m = (u & 0x7fffffu) | 0x800000u;
    return (gg_half)(sign | shift_round_even(m, (int)(126 - e)));
}

gg_bf16 gg_float_to_bf16(float f) {
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (gg_bf16)((u >> 16) | 0x40); /* quiet NaN */
    /* Adding 0x7fff plus the lowest kept bit rounds to nearest even; an
     * overflow of the largest finite values correctly becomes inf. */
    return (gg_bf16)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
