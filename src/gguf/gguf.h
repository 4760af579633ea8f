/*
 * gguf.h - reading and writing GGUF files (versions 2 and 3).
 *
 * The reader validates the whole file before handing it out: every
 * string, array and tensor range lies inside the file, sizes are computed
 * without overflow, tensor types are known, tensor data is aligned, names
 * are unique and counts are bounded. After gguf_open succeeds, nothing
 * that uses the accessors below can read outside the file.
 *
 * Strings, arrays and tensor data are views into the mapping, never
 * copies; strings are NOT NUL-terminated (use gguf_str's ptr and len).
 *
 * The writer streams: metadata and tensor infos first, then each tensor's
 * data in declaration order, so a multi-GB file never sits in memory.
 */
#ifndef GG_GGUF_H
#define GG_GGUF_H

#include "../common.h"
#include "../kernels/types.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* Bounds that reject absurd files before any allocation is sized by them. */
#define GGUF_MAX_TENSORS 65536
#define GGUF_MAX_KV 65536
#define GGUF_MAX_ARRAY_DEPTH 8
#define GGUF_MAX_KEY_LEN 65535
/* Tensor names are shorter than this (llama.cpp's GGML_MAX_NAME). */
#define GGUF_MAX_TENSOR_NAME 64

typedef enum gguf_vtype {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
    GGUF_VTYPE_COUNT
} gguf_vtype;

const char *gguf_vtype_name(gguf_vtype t);

typedef struct gguf_str {
    const char *ptr; /* in the mapping; not NUL-terminated */
    uint64_t len;
} gguf_str;

/* An array value: `n` elements of `type`. For fixed-size types the
 * elements are packed little-endian at `data`. For strings and nested
 * arrays elements have varying sizes: walk them with gguf_array_next. */
typedef struct gguf_array {
    gguf_vtype type;
    uint64_t n;
    const uint8_t *data;
    uint64_t bytes; /* total size of the elements */
    uint32_t depth; /* 1 for an array of scalars or strings */
} gguf_array;

typedef struct gguf_kv {
    gguf_str key;
    gguf_vtype type;
    /* The value as encoded in the file: for scalars the little-endian
     * bytes; for STRING the u64 length then the bytes; for ARRAY the
     * element type, the count and the elements (see arr). */
    const uint8_t *value;
    uint64_t value_bytes;
    gguf_array arr; /* valid when type == GGUF_ARRAY */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    uint32_t type;             /* gg_type */
    uint64_t offset;           /* from the start of the data section */
    uint64_t size;             /* bytes */
    const uint8_t *data;       /* in the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens (maps and validates) a file. On failure returns -1 with a message
 * that names the field and the numbers involved. */
int gguf_open(const char *path, gguf_file **out, gg_err *e);
/* The same over a caller's buffer, which must outlive the gguf_file. */
int gguf_open_memory(const void *data, size_t size, gguf_file **out, gg_err *e);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
/* The mapping behind a file opened from a path (its identity tells whether
 * the file changed since); NULL for gguf_open_memory. */
const struct gg_mapping *gguf_mapping(const gguf_file *f);
uint64_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f);

uint64_t gguf_kv_count(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);

uint64_t gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed accessors. Each returns 0 on success; -1 with a message naming
 * the key when the key is missing or its type does not fit. Integer
 * getters accept any integer type whose value fits the result; the float
 * getter accepts FLOAT32 and FLOAT64. The *_or variants return `def`
 * when the key is missing and fail only on a wrong type. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, gg_err *e);
int gguf_get_u32_or(const gguf_file *f, const char *key, uint32_t def, uint32_t *out, gg_err *e);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, gg_err *e);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, gg_err *e);
int gguf_get_f32_or(const gguf_file *f, const char *key, float def, float *out, gg_err *e);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, gg_err *e);
int gguf_get_bool_or(const gguf_file *f, const char *key, bool def, bool *out, gg_err *e);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, gg_err *e);
/* elem_type: required element type, or GGUF_VTYPE_COUNT for any. */
int gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype elem_type, gguf_array *out, gg_err *e);

/* Element access for arrays of fixed-size types (i < n, checked by the
 * caller). Values are converted from little-endian. */
uint32_t gguf_arr_u32(const gguf_array *a, uint64_t i);
int32_t gguf_arr_i32(const gguf_array *a, uint64_t i);
float gguf_arr_f32(const gguf_array *a, uint64_t i);
uint8_t gguf_arr_u8(const gguf_array *a, uint64_t i);

/* Fills out[0..n) with views of an array of strings (caller allocates n
 * entries). Constant-time per element after one linear walk. */
void gguf_arr_strs(const gguf_array *a, gguf_str *out);

/* Walks elements of a string or nested array: *pos starts at a->data;
 * each call yields one element (a string view or a nested array) and
 * advances *pos. Only call it n times; the reader validated the bounds. */
gguf_str gguf_array_next_str(const gguf_array *a, const uint8_t **pos);
gguf_array gguf_array_next_arr(const gguf_array *a, const uint8_t **pos);

/* True when s equals the NUL-terminated c. */
bool gguf_str_eq(gguf_str s, const char *c);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer;

/* The writer accumulates metadata and tensor infos in memory (small),
 * then streams the tensor data. Setters copy their arguments. */
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

void gguf_set_u8(gguf_writer *w, const char *key, uint8_t v);
void gguf_set_i8(gguf_writer *w, const char *key, int8_t v);
void gguf_set_u16(gguf_writer *w, const char *key, uint16_t v);
void gguf_set_i16(gguf_writer *w, const char *key, int16_t v);
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_set_i64(gguf_writer *w, const char *key, int64_t v);
void gguf_set_f32(gguf_writer *w, const char *key, float v);
void gguf_set_f64(gguf_writer *w, const char *key, double v);
void gguf_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_set_strn(gguf_writer *w, const char *key, const char *v, size_t len);
/* An array of n fixed-size elements of `type`, packed little-endian. */
void gguf_set_arr(gguf_writer *w, const char *key, gguf_vtype type, const void *data, uint64_t n);
void gguf_set_arr_str(gguf_writer *w, const char *key, const gguf_str *strs, uint64_t n);
/* Copies a key and its value (any type, nested arrays too) from a file. */
void gguf_set_kv_from(gguf_writer *w, const gguf_kv *kv);

/* Declares a tensor; its data comes later, in declaration order. */
void gguf_add_tensor(gguf_writer *w, const char *name, gg_type type, uint32_t n_dims, const int64_t *ne);

/* Writes the header, metadata and tensor infos; then each declared
 * tensor's bytes are given with gguf_write_data (in pieces if wanted),
 * and gguf_writer_finish pads and closes. version 2 or 3. */
int gguf_writer_begin(gguf_writer *w, const char *path, uint32_t version, gg_err *e);
int gguf_write_data(gguf_writer *w, const void *bytes, size_t n, gg_err *e);
int gguf_writer_finish(gguf_writer *w, gg_err *e);

/* Writes the whole file to a memory buffer instead (tests, fuzz seeds):
 * `data` holds every tensor's bytes back to back, in declaration order.
 * The caller frees *out with free(). */
int gguf_writer_to_memory(gguf_writer *w, uint32_t version, const void *data, size_t data_size,
                          uint8_t **out, size_t *out_size, gg_err *e);

#endif
