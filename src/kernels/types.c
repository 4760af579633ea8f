/*
 * types.c - the table of tensor types: names and block geometry for every
 * type ggml defines, and which of them the kernels compute with.
 */
#include "types.h"

#define T(id, nm, bs, ts, comp, vdt) [id] = {nm, bs, ts, comp, vdt}

static const gg_type_traits type_table[GG_TYPE_COUNT] = {
    T(GG_TYPE_F32, "f32", 1, 4, true, GG_TYPE_F32),
    T(GG_TYPE_F16, "f16", 1, 2, true, GG_TYPE_F16),
    T(GG_TYPE_BF16, "bf16", 1, 2, true, GG_TYPE_BF16),
    T(GG_TYPE_Q4_0, "q4_0", GG_QK4_0, sizeof(gg_block_q4_0), true, GG_TYPE_Q8_0),
    T(GG_TYPE_Q4_1, "q4_1", GG_QK4_1, sizeof(gg_block_q4_1), true, GG_TYPE_Q8_1),
    T(GG_TYPE_Q5_0, "q5_0", GG_QK5_0, sizeof(gg_block_q5_0), true, GG_TYPE_Q8_0),
    T(GG_TYPE_Q5_1, "q5_1", GG_QK5_1, sizeof(gg_block_q5_1), true, GG_TYPE_Q8_1),
    T(GG_TYPE_Q8_0, "q8_0", GG_QK8_0, sizeof(gg_block_q8_0), true, GG_TYPE_Q8_0),
    T(GG_TYPE_Q8_1, "q8_1", GG_QK8_1, sizeof(gg_block_q8_1), false, GG_TYPE_Q8_1),
    T(GG_TYPE_Q2_K, "q2_K", GG_QK_K, sizeof(gg_block_q2_K), true, GG_TYPE_Q8_K),
    T(GG_TYPE_Q3_K, "q3_K", GG_QK_K, sizeof(gg_block_q3_K), true, GG_TYPE_Q8_K),
    T(GG_TYPE_Q4_K, "q4_K", GG_QK_K, sizeof(gg_block_q4_K), true, GG_TYPE_Q8_K),
    T(GG_TYPE_Q5_K, "q5_K", GG_QK_K, sizeof(gg_block_q5_K), true, GG_TYPE_Q8_K),
    T(GG_TYPE_Q6_K, "q6_K", GG_QK_K, sizeof(gg_block_q6_K), true, GG_TYPE_Q8_K),
    T(GG_TYPE_Q8_K, "q8_K", GG_QK_K, sizeof(gg_block_q8_K), false, GG_TYPE_Q8_K),
    /* Known so that files holding them can be read and inspected; the
     * kernels do not compute with them (yet). Sizes are ggml's. */
    T(GG_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, false, GG_TYPE_Q8_K),
    T(GG_TYPE_IQ2_XS, "iq2_xs", 256, 74, false, GG_TYPE_Q8_K),
    T(GG_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, false, GG_TYPE_Q8_K),
    T(GG_TYPE_IQ1_S, "iq1_s", 256, 50, false, GG_TYPE_Q8_K),
    T(GG_TYPE_IQ4_NL, "iq4_nl", 32, 18, false, GG_TYPE_Q8_0),
    T(GG_TYPE_IQ3_S, "iq3_s", 256, 110, false, GG_TYPE_Q8_K),
    T(GG_TYPE_IQ2_S, "iq2_s", 256, 82, false, GG_TYPE_Q8_K),
    T(GG_TYPE_IQ4_XS, "iq4_xs", 256, 136, false, GG_TYPE_Q8_K),
    T(GG_TYPE_I8, "i8", 1, 1, false, GG_TYPE_I8),
    T(GG_TYPE_I16, "i16", 1, 2, false, GG_TYPE_I16),
    T(GG_TYPE_I32, "i32", 1, 4, false, GG_TYPE_I32),
    T(GG_TYPE_I64, "i64", 1, 8, false, GG_TYPE_I64),
    T(GG_TYPE_F64, "f64", 1, 8, false, GG_TYPE_F64),
    T(GG_TYPE_IQ1_M, "iq1_m", 256, 56, false, GG_TYPE_Q8_K),
    T(GG_TYPE_TQ1_0, "tq1_0", 256, 54, false, GG_TYPE_Q8_K),
    T(GG_TYPE_TQ2_0, "tq2_0", 256, 66, false, GG_TYPE_Q8_K),
    T(GG_TYPE_MXFP4, "mxfp4", 32, 17, false, GG_TYPE_Q8_0),
};

const gg_type_traits *gg_type_info(uint32_t type) {
    if (type >= GG_TYPE_COUNT || type_table[type].name == NULL) return NULL;
    return &type_table[type];
}

const char *gg_type_name(uint32_t type) {
    const gg_type_traits *t = gg_type_info(type);
    return t ? t->name : "unknown";
}

size_t gg_row_size(gg_type type, int64_t n) {
    const gg_type_traits *t = gg_type_info(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
