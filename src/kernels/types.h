/*
 * types.h - the tensor element types of GGUF files and their block layouts.
 *
 * Type ids and block layouts are those of ggml, so that a GGUF file written
 * by llama.cpp's tools is read here bit for bit. Quantized types store a
 * row as a sequence of fixed-size blocks; a row's length must be a multiple
 * of the block size. "half" is an IEEE 754 binary16 stored as uint16_t.
 *
 * The K-quants group 256 values into a super-block made of 8 or 16
 * sub-blocks, each with its own 6-bit (or 4-bit, 8-bit) scale; the
 * super-block holds the half-precision factors that scale those scales.
 */
#ifndef GG_TYPES_H
#define GG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint16_t gg_half; /* IEEE binary16 bits */
typedef uint16_t gg_bf16; /* bfloat16 bits: the top half of a float */

typedef enum gg_type {
    GG_TYPE_F32 = 0,
    GG_TYPE_F16 = 1,
    GG_TYPE_Q4_0 = 2,
    GG_TYPE_Q4_1 = 3,
    GG_TYPE_Q5_0 = 6,
    GG_TYPE_Q5_1 = 7,
    GG_TYPE_Q8_0 = 8,
    GG_TYPE_Q8_1 = 9,
    GG_TYPE_Q2_K = 10,
    GG_TYPE_Q3_K = 11,
    GG_TYPE_Q4_K = 12,
    GG_TYPE_Q5_K = 13,
    GG_TYPE_Q6_K = 14,
    GG_TYPE_Q8_K = 15,
    GG_TYPE_IQ2_XXS = 16,
    GG_TYPE_IQ2_XS = 17,
    GG_TYPE_IQ3_XXS = 18,
    GG_TYPE_IQ1_S = 19,
    GG_TYPE_IQ4_NL = 20,
    GG_TYPE_IQ3_S = 21,
    GG_TYPE_IQ2_S = 22,
    GG_TYPE_IQ4_XS = 23,
    GG_TYPE_I8 = 24,
    GG_TYPE_I16 = 25,
    GG_TYPE_I32 = 26,
    GG_TYPE_I64 = 27,
    GG_TYPE_F64 = 28,
    GG_TYPE_IQ1_M = 29,
    GG_TYPE_BF16 = 30,
    GG_TYPE_TQ1_0 = 34,
    GG_TYPE_TQ2_0 = 35,
    GG_TYPE_MXFP4 = 39,
    GG_TYPE_COUNT = 40 /* one past the largest id */
} gg_type;

#define GG_QK4_0 32
#define GG_QK4_1 32
#define GG_QK5_0 32
#define GG_QK5_1 32
#define GG_QK8_0 32
#define GG_QK8_1 32
#define GG_QK_K 256
#define GG_K_SCALE_SIZE 12

/* Q4_0: x = d * (q - 8), q in 0..15. qs[j] holds element j in its low
 * nibble and element j + 16 in its high nibble. 18 bytes / 32 values. */
typedef struct {
    gg_half d;
    uint8_t qs[GG_QK4_0 / 2];
} gg_block_q4_0;

/* Q4_1: x = d * q + m, q in 0..15, nibbles as Q4_0. 20 bytes / 32. */
typedef struct {
    gg_half d;
    gg_half m;
    uint8_t qs[GG_QK4_1 / 2];
} gg_block_q4_1;

/* Q5_0: x = d * (q - 16), q in 0..31. Low 4 bits as Q4_0; bit 4 of
 * element j is bit j of the little-endian uint32 in qh. 22 bytes / 32. */
typedef struct {
    gg_half d;
    uint8_t qh[4];
    uint8_t qs[GG_QK5_0 / 2];
} gg_block_q5_0;

/* Q5_1: x = d * q + m, q in 0..31, bits as Q5_0. 24 bytes / 32. */
typedef struct {
    gg_half d;
    gg_half m;
    uint8_t qh[4];
    uint8_t qs[GG_QK5_1 / 2];
} gg_block_q5_1;

/* Q8_0: x = d * q, q in -127..127. 34 bytes / 32. */
typedef struct {
    gg_half d;
    int8_t qs[GG_QK8_0];
} gg_block_q8_0;

/* Q8_1: as Q8_0 plus s = d * sum(qs), used as the activation type of
 * Q4_1 and Q5_1 so that their offset m folds into one multiply. 36 bytes. */
typedef struct {
    gg_half d;
    gg_half s;
    int8_t qs[GG_QK8_1];
} gg_block_q8_1;

/* Q2_K: 16 sub-blocks of 16 values. scales[i]: low nibble is the 4-bit
 * scale, high nibble the 4-bit min of sub-block i; x = d*sc*q - dmin*m,
 * q in 0..3, four 2-bit values per byte of qs. 84 bytes / 256. */
typedef struct {
    uint8_t scales[GG_QK_K / 16];
    uint8_t qs[GG_QK_K / 4];
    gg_half d;
    gg_half dmin;
} gg_block_q2_K;

/* Q3_K: 16 sub-blocks of 16; 2 low bits in qs, the high bit in hmask
 * (set means +0, clear means -4: q in -4..3); 6-bit signed scales
 * (stored +32) packed into 12 bytes; x = d * (sc - 32) * q. 110 bytes. */
typedef struct {
    uint8_t hmask[GG_QK_K / 8];
    uint8_t qs[GG_QK_K / 4];
    uint8_t scales[12];
    gg_half d;
} gg_block_q3_K;

/* Q4_K: 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min packed
 * into 12 bytes; x = d*sc*q - dmin*m, q in 0..15. Within each 64-value
 * chunk, qs bytes hold the first 32 values in low nibbles and the next 32
 * in high nibbles. 144 bytes / 256. */
typedef struct {
    gg_half d;
    gg_half dmin;
    uint8_t scales[GG_K_SCALE_SIZE];
    uint8_t qs[GG_QK_K / 2];
} gg_block_q4_K;

/* Q5_K: Q4_K plus a fifth bit per value in qh (bit 2c / 2c+1 of qh[l]
 * for the low / high half of 64-value chunk c). q in 0..31. 176 bytes. */
typedef struct {
    gg_half d;
    gg_half dmin;
    uint8_t scales[GG_K_SCALE_SIZE];
    uint8_t qh[GG_QK_K / 8];
    uint8_t qs[GG_QK_K / 2];
} gg_block_q5_K;

/* Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; 4 low bits in ql,
 * 2 high bits in qh; x = d * sc * (q - 32), q in 0..63. 210 bytes. */
typedef struct {
    uint8_t ql[GG_QK_K / 2];
    uint8_t qh[GG_QK_K / 4];
    int8_t scales[GG_QK_K / 16];
    gg_half d;
} gg_block_q6_K;

/* Q8_K: the activation type of the K-quants. A float scale, 256 int8
 * values and the sums of each group of 16 (used to apply mins). */
typedef struct {
    float d;
    int8_t qs[GG_QK_K];
    int16_t bsums[GG_QK_K / 16];
} gg_block_q8_K;

/* What the library knows of a type. A type may be known (its size is,
 * so a file holding it can be read and inspected) without being one the
 * kernels compute with (`can_compute`). */
typedef struct gg_type_traits {
    const char *name;     /* as ggml names it: "q4_K", "f16" */
    int block_size;       /* values per block (1 for plain types) */
    size_t type_size;     /* bytes per block */
    bool can_compute;     /* dequantize and dot products implemented */
    gg_type vec_dot_type; /* activation type its dot product takes */
} gg_type_traits;

/* NULL for an id that is not a known type. */
const gg_type_traits *gg_type_info(uint32_t type);
const char *gg_type_name(uint32_t type); /* "unknown" if not known */

/* Bytes of a row of n values; 0 if n is not a multiple of the block. */
size_t gg_row_size(gg_type type, int64_t n);

#endif
