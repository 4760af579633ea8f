/*
 * gguf_write.c - writing GGUF files.
 *
 * Metadata and tensor infos are small, so they are gathered in memory
 * first (a later set of the same key replaces the earlier value, in its
 * place). gguf_writer_begin then writes the header, the metadata, the
 * tensor infos and the padding up to the data section, and the tensor
 * data follows in declaration order, each tensor padded to the alignment,
 * so that a file of any size is streamed rather than held.
 *
 * The setters return nothing to keep model-writing code readable; the
 * first error they meet (out of memory, a bad shape) is kept and
 * reported by gguf_writer_begin.
 */
#include "gguf_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wkv {
    char *key;
    size_t key_len;
    uint32_t type;
    uint8_t *val; /* encoded as in the file */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    gg_type type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t size, offset;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    bool failed; /* err holds the first problem */
    gg_err err;
    /* Streaming state, from begin to finish. */
    char *path; /* NULL when writing to memory */
    FILE *fp;
    uint8_t *mem;
    size_t mem_len, mem_cap;
    uint64_t alignment;
    size_t cur; /* tensor whose data comes next */
    uint64_t cur_done;
    bool streaming;
};

static void fail(gguf_writer *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void fail(gguf_writer *w, const char *fmt, ...) {
    if (w->failed) return;
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    gg_vfail(&w->err, GG_E_INVALID, fmt, ap);
    va_end(ap);
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

static void end_stream(gguf_writer *w, bool remove_file) {
    if (w->fp) {
        fclose(w->fp);
        if (remove_file) remove(w->path);
    }
    w->fp = NULL;
    free(w->path);
    w->path = NULL;
    free(w->mem);
    w->mem = NULL;
    w->mem_len = w->mem_cap = 0;
    w->streaming = false;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    end_stream(w, true); /* an unfinished file is of no use to anyone */
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* ---- metadata ---- */

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Stores key = the encoded value (takes ownership of val). */
static void set_encoded(gguf_writer *w, const char *key, size_t key_len, uint32_t type, uint8_t *val,
                        size_t val_len) {
    if (!val) return fail(w, "out of memory for metadata '%s'", key);
    if (key_len == 0) {
        free(val);
        return fail(w, "metadata key is empty");
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        wkv *kv = &w->kv[i];
        if (kv->key_len == key_len && memcmp(kv->key, key, key_len) == 0) {
            free(kv->val);
            kv->type = type, kv->val = val, kv->val_len = val_len;
            return;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *grown = realloc(w->kv, cap * sizeof *grown);
        if (!grown) {
            free(val);
            return fail(w, "out of memory for metadata '%s'", key);
        }
        w->kv = grown, w->cap_kv = cap;
    }
    char *k = malloc(key_len + 1);
    if (!k) {
        free(val);
        return fail(w, "out of memory for metadata '%s'", key);
    }
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    w->kv[w->n_kv++] = (wkv){k, key_len, type, val, val_len};
}

static void set_scalar(gguf_writer *w, const char *key, gguf_vtype type, uint64_t bits) {
    size_t n = gguf_vtype_size(type);
    uint8_t *val = malloc(n);
    if (val) put_le(val, bits, n);
    set_encoded(w, key, strlen(key), type, val, n);
}

void gguf_set_u8(gguf_writer *w, const char *key, uint8_t v) { set_scalar(w, key, GGUF_UINT8, v); }
void gguf_set_i8(gguf_writer *w, const char *key, int8_t v) {
    set_scalar(w, key, GGUF_INT8, (uint8_t)v);
}
void gguf_set_u16(gguf_writer *w, const char *key, uint16_t v) { set_scalar(w, key, GGUF_UINT16, v); }
void gguf_set_i16(gguf_writer *w, const char *key, int16_t v) {
    set_scalar(w, key, GGUF_INT16, (uint16_t)v);
}
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) { set_scalar(w, key, GGUF_UINT32, v); }
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v) {
    set_scalar(w, key, GGUF_INT32, (uint32_t)v);
}
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) { set_scalar(w, key, GGUF_UINT64, v); }
void gguf_set_i64(gguf_writer *w, const char *key, int64_t v) {
    set_scalar(w, key, GGUF_INT64, (uint64_t)v);
}
void gguf_set_bool(gguf_writer *w, const char *key, bool v) { set_scalar(w, key, GGUF_BOOL, v ? 1 : 0); }

void gguf_set_f32(gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    set_scalar(w, key, GGUF_FLOAT32, bits);
}

void gguf_set_f64(gguf_writer *w, const char *key, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    set_scalar(w, key, GGUF_FLOAT64, bits);
}

void gguf_set_str(gguf_writer *w, const char *key, const char *v) {
    gguf_set_strn(w, key, v, strlen(v));
}

void gguf_set_strn(gguf_writer *w, const char *key, const char *v, size_t len) {
    uint8_t *val = len <= SIZE_MAX - 8 ? malloc(8 + len) : NULL;
    if (val) {
        put_le(val, len, 8);
        if (len) memcpy(val + 8, v, len);
    }
    set_encoded(w, key, strlen(key), GGUF_STRING, val, 8 + len);
}

void gguf_set_arr(gguf_writer *w, const char *key, gguf_vtype type, const void *data, uint64_t n) {
    size_t es = gguf_vtype_size(type);
    uint64_t bytes;
    if (es == 0) return fail(w, "metadata '%s': gguf_set_arr takes fixed-size element types only", key);
    if (!gg_mul_u64(n, es, &bytes) || bytes > SIZE_MAX - 12)
        return fail(w, "metadata '%s': array too large", key);
    uint8_t *val = malloc(12 + (size_t)bytes);
    if (val) {
        put_le(val, type, 4);
        put_le(val + 4, n, 8);
        if (bytes) memcpy(val + 12, data, (size_t)bytes);
    }
    set_encoded(w, key, strlen(key), GGUF_ARRAY, val, 12 + (size_t)bytes);
}

void gguf_set_arr_str(gguf_writer *w, const char *key, const gguf_str *strs, uint64_t n) {
    uint64_t bytes = 12;
    for (uint64_t i = 0; i < n; i++)
        if (!gg_add_u64(bytes, 8, &bytes) || !gg_add_u64(bytes, strs[i].len, &bytes) || bytes > SIZE_MAX)
            return fail(w, "metadata '%s': array too large", key);
    uint8_t *val = malloc((size_t)bytes);
    if (val) {
        put_le(val, GGUF_STRING, 4);
        put_le(val + 4, n, 8);
        size_t o = 12;
        for (uint64_t i = 0; i < n; i++) {
            put_le(val + o, strs[i].len, 8);
            if (strs[i].len) memcpy(val + o + 8, strs[i].ptr, (size_t)strs[i].len);
            o += 8 + (size_t)strs[i].len;
        }
    }
    set_encoded(w, key, strlen(key), GGUF_ARRAY, val, (size_t)bytes);
}

void gguf_set_kv_from(gguf_writer *w, const gguf_kv *kv) {
    /* The value is kept in its file encoding, so copying it copies any
     * type, nested arrays included. */
    if (kv->key.len >= SIZE_MAX || kv->value_bytes >= SIZE_MAX) return fail(w, "metadata too large");
    char *key = malloc((size_t)kv->key.len + 1);
    uint8_t *val = malloc((size_t)kv->value_bytes + 1);
    if (!key || !val) {
        free(key);
        free(val);
        return fail(w, "out of memory copying metadata");
    }
    memcpy(key, kv->key.ptr, (size_t)kv->key.len);
    key[kv->key.len] = '\0';
    memcpy(val, kv->value, (size_t)kv->value_bytes);
    set_encoded(w, key, (size_t)kv->key.len, kv->type, val, (size_t)kv->value_bytes);
    free(key);
}

/* ---- tensor infos ---- */

static const char *check_tensor(const gguf_writer *w, const char *name, gg_type type, uint32_t n_dims,
                                const int64_t *ne) {
    if (strlen(name) >= GGUF_MAX_TENSOR_NAME) return "name too long";
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return "declared twice";
    const gg_type_traits *tt = gg_type_info(type);
    if (!tt) return "unknown tensor type";
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) return "n_dims not in 1..4";
    if (ne[0] < 0 || ne[0] % tt->block_size != 0) return "ne[0] not a multiple of the block size";
    return NULL;
}

void gguf_add_tensor(gguf_writer *w, const char *name, gg_type type, uint32_t n_dims,
                     const int64_t *ne) {
    const char *why = check_tensor(w, name, type, n_dims, ne);
    wtensor t = {0};
    if (why) return fail(w, "tensor '%s': %s", name, why);
    if (!gguf_shape_bytes(gg_type_info(type), n_dims, ne, &t.size))
        return fail(w, "tensor '%s': shape too large", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *grown = realloc(w->t, cap * sizeof *grown);
        if (!grown) return fail(w, "out of memory for tensor '%s'", name);
        w->t = grown, w->cap_t = cap;
    }
    t.name = malloc(strlen(name) + 1);
    if (!t.name) return fail(w, "out of memory for tensor '%s'", name);
    strcpy(t.name, name);
    t.type = type;
    t.n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
    w->t[w->n_t++] = t;
}

/* ---- streaming ---- */

static int out(gguf_writer *w, const void *p, size_t n, gg_err *e) {
    if (n == 0) return 0;
    if (w->fp) {
        if (fwrite(p, 1, n, w->fp) != n) return gg_fail(e, "writing '%s': %s", w->path, strerror(errno));
        return 0;
    }
    if (n > w->mem_cap - w->mem_len) {
        size_t cap = w->mem_cap ? w->mem_cap : 4096;
        while (cap - w->mem_len < n) {
            if (cap > SIZE_MAX / 2) return gg_fail(e, "GGUF image too large for memory");
            cap *= 2;
        }
        uint8_t *grown = realloc(w->mem, cap);
        if (!grown) return gg_fail_kind(e, GG_E_MEMORY, "out of memory for the GGUF image");
        w->mem = grown, w->mem_cap = cap;
    }
    memcpy(w->mem + w->mem_len, p, n);
    w->mem_len += n;
    return 0;
}

static int out_le(gguf_writer *w, uint64_t v, size_t n, gg_err *e) {
    uint8_t b[8];
    put_le(b, v, n);
    return out(w, b, n, e);
}

static int out_zeros(gguf_writer *w, uint64_t n, gg_err *e) {
    static const uint8_t zeros[64];
    while (n > 0) {
        size_t k = (size_t)GG_MIN(n, sizeof zeros);
        if (out(w, zeros, k, e) < 0) return -1;
        n -= k;
    }
    return 0;
}

static int choose_alignment(gguf_writer *w, gg_err *e) {
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        uint32_t a = w->kv[i].type == GGUF_UINT32 ? gguf_rd32(w->kv[i].val) : 0;
        if (a == 0 || (a & (a - 1)) != 0)
            return gg_fail(e, "general.alignment must be a uint32 power of two");
        w->alignment = a;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        uint64_t padded = w->t[i].size + (w->alignment - w->t[i].size % w->alignment) % w->alignment;
        if (!gg_add_u64(off, padded, &off)) return gg_fail(e, "tensor data larger than 64-bit offsets");
    }
    return 0;
}

static int write_head(gguf_writer *w, uint32_t version, gg_err *e) {
    uint64_t pos;
    if (out(w, GGUF_MAGIC, 4, e) < 0 || out_le(w, version, 4, e) < 0 || out_le(w, w->n_t, 8, e) < 0 ||
        out_le(w, w->n_kv, 8, e) < 0)
        return -1;
    pos = 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        const wkv *kv = &w->kv[i];
        if (out_le(w, kv->key_len, 8, e) < 0 || out(w, kv->key, kv->key_len, e) < 0 ||
            out_le(w, kv->type, 4, e) < 0 || out(w, kv->val, kv->val_len, e) < 0)
            return -1;
        pos += 12 + kv->key_len + kv->val_len;
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t len = strlen(t->name);
        if (out_le(w, len, 8, e) < 0 || out(w, t->name, len, e) < 0 || out_le(w, t->n_dims, 4, e) < 0)
            return -1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if (out_le(w, (uint64_t)t->ne[d], 8, e) < 0) return -1;
        if (out_le(w, t->type, 4, e) < 0 || out_le(w, t->offset, 8, e) < 0) return -1;
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 12;
    }
    /* Padding aligns the data section; a file without tensors has none.
     * Padding it anyway would turn a 2^31 alignment, which readers accept
     * for such a file (the reader clamps its data offset to the file's end),
     * into 2 GB of zeros when a read file is written out again. */
    if (w->n_t == 0) return 0;
    return out_zeros(w, (w->alignment - pos % w->alignment) % w->alignment, e);
}

/* Moves past the current tensor when its data is complete (padding it),
 * and past any empty tensors after it. */
static int advance(gguf_writer *w, gg_err *e) {
    while (w->cur < w->n_t && w->cur_done == w->t[w->cur].size) {
        uint64_t size = w->t[w->cur].size;
        if (out_zeros(w, (w->alignment - size % w->alignment) % w->alignment, e) < 0) return -1;
        w->cur++;
        w->cur_done = 0;
    }
    return 0;
}

static int begin(gguf_writer *w, uint32_t version, gg_err *e) {
    if (w->failed) return gg_fail_kind(e, w->err.kind, "%s", w->err.msg);
    if (version != 2 && version != 3)
        return gg_fail(e, "GGUF version %" PRIu32 " cannot be written (2 or 3)", version);
    if (choose_alignment(w, e) < 0) return -1;
    w->cur = 0;
    w->cur_done = 0;
    w->streaming = true;
    return 0;
}

int gguf_writer_begin(gguf_writer *w, const char *path, uint32_t version, gg_err *e) {
    end_stream(w, false);
    if (begin(w, version, e) < 0) return -1;
    w->path = malloc(strlen(path) + 1);
    if (!w->path) return gg_fail_kind(e, GG_E_MEMORY, "out of memory");
    strcpy(w->path, path);
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        gg_fail(e, "cannot create '%s': %s", path, strerror(errno));
        end_stream(w, false);
        return -1;
    }
    if (write_head(w, version, e) < 0 || advance(w, e) < 0) {
        end_stream(w, true);
        return -1;
    }
    return 0;
}

int gguf_write_data(gguf_writer *w, const void *bytes, size_t n, gg_err *e) {
    if (!w->streaming) return gg_fail(e, "gguf_write_data before gguf_writer_begin");
    if (n == 0) return 0;
    if (w->cur == w->n_t) return gg_fail(e, "%zu bytes of tensor data past the last tensor", n);
    const wtensor *t = &w->t[w->cur];
    /* A call never spans two tensors, so a short tensor is caught here
     * rather than shifting every later one. */
    if (n > t->size - w->cur_done)
        return gg_fail(e, "tensor '%s': %zu bytes given where %" PRIu64 " of its %" PRIu64 " remain",
                       t->name, n, t->size - w->cur_done, t->size);
    if (out(w, bytes, n, e) < 0) return -1;
    w->cur_done += n;
    return advance(w, e);
}

int gguf_writer_finish(gguf_writer *w, gg_err *e) {
    if (!w->streaming) return gg_fail(e, "gguf_writer_finish before gguf_writer_begin");
    if (w->cur < w->n_t) {
        const wtensor *t = &w->t[w->cur];
        gg_fail(e, "tensor '%s': %" PRIu64 " of its %" PRIu64 " bytes were written", t->name,
                w->cur_done, t->size);
        end_stream(w, true);
        return -1;
    }
    if (w->fp) {
        int bad = fflush(w->fp) != 0 || ferror(w->fp);
        int err = errno;
        bad |= fclose(w->fp) != 0;
        w->fp = NULL;
        if (bad) {
            gg_fail(e, "writing '%s': %s", w->path, strerror(err ? err : errno));
            remove(w->path);
            end_stream(w, false);
            return -1;
        }
    }
    end_stream(w, false);
    return 0;
}

int gguf_writer_to_memory(gguf_writer *w, uint32_t version, const void *data, size_t data_size,
                          uint8_t **out_buf, size_t *out_size, gg_err *e) {
    end_stream(w, false);
    if (begin(w, version, e) < 0) return -1;
    uint64_t total = 0;
    for (size_t i = 0; i < w->n_t; i++) total += w->t[i].size; /* offsets fit, so the sum does */
    if (total != data_size)
        return gg_fail(e, "tensor data is %zu bytes; the tensors declared need %" PRIu64, data_size,
                       total);
    const uint8_t *p = data;
    if (write_head(w, version, e) < 0 || advance(w, e) < 0) goto fail;
    for (size_t i = 0; i < w->n_t; i++) {
        size_t n = (size_t)w->t[i].size;
        if (n && gguf_write_data(w, p, n, e) < 0) goto fail;
        p += n;
    }
    *out_buf = w->mem;
    *out_size = w->mem_len;
    w->mem = NULL; /* handed to the caller */
    end_stream(w, false);
    return 0;
fail:
    end_stream(w, false);
    return -1;
}
