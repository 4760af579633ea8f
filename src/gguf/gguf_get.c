/*
 * gguf_get.c - reading metadata values of an opened GGUF file: typed
 * getters with conversions that never lose a value silently, and walks
 * over arrays of strings and nested arrays.
 *
 * The reader validated every value, so these functions trust the bounds
 * they find in the file image.
 */
#include "gguf_internal.h"

#include <inttypes.h>
#include <string.h>

static const char *const vtype_names[GGUF_VTYPE_COUNT] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64",
};

const char *gguf_vtype_name(gguf_vtype t) {
    return (unsigned)t < GGUF_VTYPE_COUNT ? vtype_names[t] : "unknown";
}

bool gguf_shape_bytes(const gg_type_traits *tt, uint32_t n_dims, const int64_t *ne, uint64_t *bytes) {
    uint64_t n = 1, rows = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] < 0 || !gg_mul_u64(n, (uint64_t)ne[d], &n) || n > INT64_MAX) return false;
    /* rows <= n when n > 0; with a zero dimension it may wrap, but is then unused or 0 */
    for (uint32_t d = 1; d < n_dims; d++) rows *= (uint64_t)ne[d];
    if (n == 0) rows = 0;
    return gg_mul_u64((uint64_t)ne[0] / (uint64_t)tt->block_size, tt->type_size, bytes) &&
           gg_mul_u64(*bytes, rows, bytes);
}

size_t gguf_vtype_size(uint32_t t) {
    static const uint8_t sizes[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < GGUF_VTYPE_COUNT ? sizes[t] : 0;
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* ---- typed getters ---- */

static const gguf_kv *lookup(const gguf_file *f, const char *key, gg_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) gg_fail(e, "metadata key '%s' not found", key);
    return kv;
}

static int wrong_type(const gguf_kv *kv, const char *key, const char *want, gg_err *e) {
    return gg_fail(e, "metadata key '%s' has type %s, expected %s", key, gguf_vtype_name(kv->type),
                   want);
}

/* An integer value as sign and magnitude, so that every integer type,
 * uint64 included, converts exactly. -1 when kv is not an integer. */
static int integer_of(const gguf_kv *kv, bool *neg, uint64_t *mag) {
    const uint8_t *p = kv->value;
    int64_t s;
    *neg = false;
    switch (kv->type) {
    case GGUF_UINT8: *mag = p[0]; return 0;
    case GGUF_UINT16: *mag = gguf_rd16(p); return 0;
    case GGUF_UINT32: *mag = gguf_rd32(p); return 0;
    case GGUF_UINT64: *mag = gguf_rd64(p); return 0;
    case GGUF_INT8: s = (int8_t)p[0]; break;
    case GGUF_INT16: s = (int16_t)gguf_rd16(p); break;
    case GGUF_INT32: s = (int32_t)gguf_rd32(p); break;
    case GGUF_INT64: s = (int64_t)gguf_rd64(p); break;
    default: return -1;
    }
    *neg = s < 0;
    *mag = s < 0 ? 0 - (uint64_t)s : (uint64_t)s;
    return 0;
}

static int range_fail(const char *key, bool neg, uint64_t mag, const char *type, gg_err *e) {
    return gg_fail(e, "metadata key '%s': value %s%" PRIu64 " does not fit in %s", key, neg ? "-" : "",
                   mag, type);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, gg_err *e) {
    const gguf_kv *kv = lookup(f, key, e);
    if (!kv) return -1;
    bool neg;
    uint64_t mag;
    if (integer_of(kv, &neg, &mag) < 0) return wrong_type(kv, key, "an integer", e);
    if (neg || mag > UINT32_MAX) return range_fail(key, neg, mag, "uint32", e);
    *out = (uint32_t)mag;
    return 0;
}

int gguf_get_u32_or(const gguf_file *f, const char *key, uint32_t def, uint32_t *out, gg_err *e) {
    if (!gguf_find_kv(f, key)) {
        *out = def;
        return 0;
    }
    return gguf_get_u32(f, key, out, e);
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, gg_err *e) {
    const gguf_kv *kv = lookup(f, key, e);
    if (!kv) return -1;
    bool neg;
    uint64_t mag;
    if (integer_of(kv, &neg, &mag) < 0) return wrong_type(kv, key, "an integer", e);
    if (!neg && mag > (uint64_t)INT64_MAX) return range_fail(key, neg, mag, "int64", e);
    /* -(2^63) is the one negative magnitude with no positive twin. */
    *out = neg ? (mag == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, gg_err *e) {
    const gguf_kv *kv = lookup(f, key, e);
    if (!kv) return -1;
    if (kv->type == GGUF_FLOAT32) {
        uint32_t bits = gguf_rd32(kv->value);
        memcpy(out, &bits, 4);
    } else if (kv->type == GGUF_FLOAT64) {
        uint64_t bits = gguf_rd64(kv->value);
        double d;
        memcpy(&d, &bits, 8);
        *out = (float)d;
    } else {
        return wrong_type(kv, key, "float32 or float64", e);
    }
    return 0;
}

int gguf_get_f32_or(const gguf_file *f, const char *key, float def, float *out, gg_err *e) {
    if (!gguf_find_kv(f, key)) {
        *out = def;
        return 0;
    }
    return gguf_get_f32(f, key, out, e);
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, gg_err *e) {
    const gguf_kv *kv = lookup(f, key, e);
    if (!kv) return -1;
    if (kv->type != GGUF_BOOL) return wrong_type(kv, key, "bool", e);
    *out = kv->value[0] != 0;
    return 0;
}

int gguf_get_bool_or(const gguf_file *f, const char *key, bool def, bool *out, gg_err *e) {
    if (!gguf_find_kv(f, key)) {
        *out = def;
        return 0;
    }
    return gguf_get_bool(f, key, out, e);
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, gg_err *e) {
    const gguf_kv *kv = lookup(f, key, e);
    if (!kv) return -1;
    if (kv->type != GGUF_STRING) return wrong_type(kv, key, "string", e);
    out->len = gguf_rd64(kv->value);
    out->ptr = (const char *)kv->value + 8;
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem_type, gguf_array *out, gg_err *e) {
    const gguf_kv *kv = lookup(f, key, e);
    if (!kv) return -1;
    if (kv->type != GGUF_ARRAY) return wrong_type(kv, key, "array", e);
    if (elem_type != GGUF_VTYPE_COUNT && kv->arr.type != elem_type)
        return gg_fail(e, "metadata key '%s' is an array of %s, expected an array of %s", key,
                       gguf_vtype_name(kv->arr.type), gguf_vtype_name(elem_type));
    *out = kv->arr;
    return 0;
}

/* ---- array elements ---- */

uint32_t gguf_arr_u32(const gguf_array *a, uint64_t i) { return gguf_rd32(a->data + 4 * i); }
int32_t gguf_arr_i32(const gguf_array *a, uint64_t i) { return (int32_t)gguf_rd32(a->data + 4 * i); }
uint8_t gguf_arr_u8(const gguf_array *a, uint64_t i) { return a->data[i]; }

float gguf_arr_f32(const gguf_array *a, uint64_t i) {
    uint32_t bits = gguf_rd32(a->data + 4 * i);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

void gguf_arr_strs(const gguf_array *a, gguf_str *out) {
    const uint8_t *p = a->data;
    for (uint64_t i = 0; i < a->n; i++) out[i] = gguf_array_next_str(a, &p);
}

gguf_str gguf_array_next_str(const gguf_array *a, const uint8_t **pos) {
    (void)a;
    gguf_str s;
    s.len = gguf_rd64(*pos);
    s.ptr = (const char *)*pos + 8;
    *pos += 8 + s.len;
    return s;
}

/* Size of one element of type t at p. */
static uint64_t elem_extent(uint32_t t, const uint8_t *p, uint32_t *depth) {
    *depth = 0;
    if (t == GGUF_STRING) return 8 + gguf_rd64(p);
    if (t == GGUF_ARRAY) return gguf_array_extent(p, depth);
    return gguf_vtype_size(t);
}

uint64_t gguf_array_extent(const uint8_t *p, uint32_t *depth) {
    uint32_t t = gguf_rd32(p);
    uint64_t n = gguf_rd64(p + 4), bytes = 12;
    *depth = 1;
    if (t != GGUF_STRING && t != GGUF_ARRAY) return bytes + n * gguf_vtype_size(t);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t d;
        bytes += elem_extent(t, p + bytes, &d);
        *depth = GG_MAX(*depth, d + 1);
    }
    return bytes;
}

gguf_array gguf_array_next_arr(const gguf_array *a, const uint8_t **pos) {
    (void)a;
    gguf_array sub;
    uint64_t extent = gguf_array_extent(*pos, &sub.depth);
    sub.type = (gguf_vtype)gguf_rd32(*pos);
    sub.n = gguf_rd64(*pos + 4);
    sub.data = *pos + 12;
    sub.bytes = extent - 12;
    *pos += extent;
    return sub;
}
