/*
 * gguf_internal.h - what the reader, the accessors and the writer of the
 * GGUF layer share: the parsed file, little-endian loads, value sizes.
 */
#ifndef GG_GGUF_INTERNAL_H
#define GG_GGUF_INTERNAL_H

#include "gguf.h"
#include "../platform/platform.h"

struct gguf_file {
    const uint8_t *base; /* the whole file */
    uint64_t size;
    gg_mapping map; /* used when opened from a path */
    bool mapped;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    /* Open-addressing name tables: slot holds index + 1, 0 when empty. */
    uint32_t *kv_slots, *tensor_slots;
    uint32_t kv_mask, tensor_mask;
};

/* Loads that do not care about the host's alignment or byte order. */
static inline uint16_t gguf_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t gguf_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gguf_rd64(const uint8_t *p) {
    return (uint64_t)gguf_rd32(p) | (uint64_t)gguf_rd32(p + 4) << 32;
}

/* Bytes of one value of a fixed-size type; 0 for STRING and ARRAY (and
 * for ids that are not types). */
size_t gguf_vtype_size(uint32_t t);

/* Bytes of the data of a tensor of type tt and shape ne[0 .. n_dims);
 * false when a dimension is negative or the element count or the byte
 * size does not fit 64 bits. The rows are counted first, so a zero
 * dimension anywhere makes an empty tensor whatever the others are: the
 * reader and the writer must agree on which shapes exist. */
bool gguf_shape_bytes(const gg_type_traits *tt, uint32_t n_dims, const int64_t *ne, uint64_t *bytes);

/* Bytes of the encoded array whose header (element type, count) starts
 * at p, header included; *depth gets its nesting depth. Only for arrays
 * the reader already validated. */
uint64_t gguf_array_extent(const uint8_t *p, uint32_t *depth);

#endif
