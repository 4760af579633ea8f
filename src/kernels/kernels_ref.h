/*
 * kernels_ref.h - what the scalar reference files (quant_ref.c,
 * dot_ref.c) share with each other and with kernels.c: the unpacking of
 * K-quant blocks into plain integers, and the functions that put the
 * reference kernels into a dispatch table.
 */
#ifndef GG_KERNELS_REF_H
#define GG_KERNELS_REF_H

#include "kernels_internal.h"

/* Each K-quant block unpacked: q[e] is the integer quant of element e
 * (signed where the format subtracts an offset: Q3_K -4..3, Q6_K
 * -32..31), sc[s] the integer scale of sub-block s (signed for Q3_K and
 * Q6_K) and mn[s] its integer min (Q2_K, Q4_K, Q5_K only). Sub-blocks are
 * 16 values for Q2_K, Q3_K, Q6_K and 32 for Q4_K, Q5_K. */
void gg_unpack_q2_K(const gg_block_q2_K *b, int8_t q[GG_QK_K], int sc[16], int mn[16]);
void gg_unpack_q3_K(const gg_block_q3_K *b, int8_t q[GG_QK_K], int sc[16]);
void gg_unpack_q4_K(const gg_block_q4_K *b, int8_t q[GG_QK_K], int sc[8], int mn[8]);
void gg_unpack_q5_K(const gg_block_q5_K *b, int8_t q[GG_QK_K], int sc[8], int mn[8]);
void gg_unpack_q6_K(const gg_block_q6_K *b, int8_t q[GG_QK_K], int sc[16]);

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
void gg_k4_scale_min(const uint8_t scales[GG_K_SCALE_SIZE], int j, int *sc, int *mn);

/* Fill the dequantize and quantize_act entries (quant_ref.c) and the
 * vec_dot entries (dot_ref.c) with the scalar references. */
void gg_ref_fill_quant(gg_kernel_table *t);
void gg_ref_fill_dot(gg_kernel_table *t);

#endif
