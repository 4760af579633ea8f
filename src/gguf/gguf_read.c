/*
 * gguf_read.c - opening a GGUF file: parse the header, the metadata and
 * the tensor infos, and validate all of it before anyone sees it.
 *
 * Layout (all little-endian):
 *   "GGUF"  u32 version  u64 n_tensors  u64 n_kv
 *   n_kv times:      string key, u32 type, value
 *   n_tensors times: string name, u32 n_dims, i64 ne[n_dims], u32 type,
 *                    u64 offset (from the start of the data section)
 *   padding to general.alignment, then the tensor data.
 * A string is u64 length + bytes; an array is u32 element type, u64
 * count, then the elements (which may be strings or arrays themselves).
 *
 * Nothing is copied: keys, values and tensor data stay in the file image,
 * and the tables below point into it. The file may be hostile, so every
 * length is checked against the bytes that remain before it is used, and
 * every count against what could possibly fit, before it sizes anything.
 */
#include "gguf_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest encodings, used to bound counts by the bytes left: a key-value
 * pair is a length, one byte of key, a type and a one-byte value; a
 * tensor info a name length, n_dims, one dimension, a type, an offset. */
#define MIN_KV_BYTES 14
#define MIN_TENSOR_BYTES 32
#define MIN_STRING_BYTES 8
#define MIN_ARRAY_BYTES 12

typedef struct cursor {
    const uint8_t *base;
    uint64_t size, pos;
} cursor;

/* Fails unless n more bytes remain; `fmt` names what needed them. */
static int need(const cursor *c, uint64_t n, gg_err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int need(const cursor *c, uint64_t n, gg_err *e, const char *fmt, ...) {
    if (n <= c->size - c->pos) return 0;
    if (e) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        gg_fail(e, "%s runs past the end of the file (at offset %" PRIu64 " of %" PRIu64 " bytes)", what,
                c->pos, c->size);
    }
    return -1;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what, gg_err *e) {
    if (need(c, 4, e, "%s", what) < 0) return -1;
    *v = gguf_rd32(c->base + c->pos);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what, gg_err *e) {
    if (need(c, 8, e, "%s", what) < 0) return -1;
    *v = gguf_rd64(c->base + c->pos);
    c->pos += 8;
    return 0;
}

static int rd_str(cursor *c, gguf_str *s, const char *what, gg_err *e) {
    uint64_t len;
    if (rd_u64(c, &len, what, e) < 0) return -1;
    if (need(c, len, e, "%s: string length %" PRIu64, what, len) < 0) return -1;
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

/* A printable, bounded rendering of a name from the file for messages. */
static const char *show(gguf_str s, char *buf, size_t cap) {
    size_t o = 0;
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (o + 8 >= cap) {
            memcpy(buf + o, "...", 4);
            return buf;
        }
        if (ch >= 0x20 && ch < 0x7F && ch != '\'' && ch != '\\') buf[o++] = (char)ch;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    }
    buf[o] = '\0';
    return buf;
}

static bool utf8_valid(const uint8_t *s, uint64_t len) {
    uint64_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint64_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
        else return false;
        if (len - i < n) return false;
        for (uint64_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
        if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
        i += n;
    }
    return true;
}

/* ---- name tables ---- */

static uint64_t hash_bytes(const char *s, uint64_t len) {
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (uint64_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3u;
    return h;
}

static bool same(gguf_str a, const char *b, uint64_t blen) {
    return a.len == blen && (blen == 0 || memcmp(a.ptr, b, blen) == 0);
}

static gguf_str kv_name(const gguf_file *f, uint32_t i) { return f->kv[i].key; }
static gguf_str tensor_name(const gguf_file *f, uint32_t i) { return f->tensors[i].name; }

/* Returns the index of `name` in a table, or -1; with `insert`, adds
 * index `idx` when the name is absent. */
static int64_t table_find(const gguf_file *f, uint32_t *slots, uint32_t mask,
                          gguf_str (*name_of)(const gguf_file *, uint32_t), const char *name,
                          uint64_t len, bool insert, uint32_t idx) {
    if (!slots) return -1;
    uint64_t h = hash_bytes(name, len);
    for (uint32_t s = (uint32_t)h & mask;; s = (s + 1) & mask) {
        if (slots[s] == 0) {
            if (insert) slots[s] = idx + 1;
            return -1;
        }
        if (same(name_of(f, slots[s] - 1), name, len)) return slots[s] - 1;
    }
}

/* Slots for n names at most half full; both tables share one block. */
static int alloc_tables(gguf_file *f, gg_err *e) {
    uint32_t kcap = 2, tcap = 2;
    while (kcap < 2 * f->n_kv) kcap <<= 1;
    while (tcap < 2 * f->n_tensors) tcap <<= 1;
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    f->kv_slots = calloc((size_t)kcap + tcap, sizeof(uint32_t));
    if (!f->kv || !f->tensors || !f->kv_slots)
        return gg_fail_kind(e, GG_E_MEMORY, "out of memory for the metadata tables");
    f->tensor_slots = f->kv_slots + kcap;
    f->kv_mask = kcap - 1;
    f->tensor_mask = tcap - 1;
    return 0;
}

/* ---- header ---- */

static int read_header(gguf_file *f, cursor *c, gg_err *e) {
    if (c->size < 4 || memcmp(c->base, GGUF_MAGIC, 4) != 0) {
        char got[32] = "";
        gguf_str s = {(const char *)c->base, GG_MIN(c->size, 4)};
        return gg_fail(e, "not a GGUF file: it starts with '%s', not 'GGUF'", show(s, got, sizeof got));
    }
    c->pos = 4;
    if (rd_u32(c, &f->version, "header: version", e) < 0) return -1;
    uint32_t v = f->version;
    if (v != 0 && (v & 0xFFFF) == 0)
        return gg_fail(e,
                       "header: version 0x%08" PRIx32 " reads byte-swapped: this is a big-endian "
                       "GGUF file, which is not supported",
                       v);
    if (v == 1)
        return gg_fail(e, "header: GGUF version 1 is not supported (only 2 and 3); "
                          "convert the file with a newer llama.cpp");
    if (v != 2 && v != 3)
        return gg_fail(e, "header: unknown GGUF version %" PRIu32 " (supported: 2 and 3)", v);
    if (rd_u64(c, &f->n_tensors, "header: tensor count", e) < 0) return -1;
    if (rd_u64(c, &f->n_kv, "header: metadata key count", e) < 0) return -1;
    if (f->n_tensors > GGUF_MAX_TENSORS)
        return gg_fail(e, "header: tensor count %" PRIu64 " is more than the limit %d", f->n_tensors,
                       GGUF_MAX_TENSORS);
    if (f->n_kv > GGUF_MAX_KV)
        return gg_fail(e, "header: metadata key count %" PRIu64 " is more than the limit %d", f->n_kv,
                       GGUF_MAX_KV);
    uint64_t least = f->n_kv * MIN_KV_BYTES + f->n_tensors * MIN_TENSOR_BYTES;
    if (least > c->size - c->pos)
        return gg_fail(e,
                       "header: %" PRIu64 " metadata keys and %" PRIu64
                       " tensors cannot fit in the %" PRIu64 " bytes left in the file",
                       f->n_kv, f->n_tensors, c->size - c->pos);
    return 0;
}

/* ---- metadata values ---- */

static int read_array(cursor *c, uint32_t level, gguf_array *a, gg_err *e);

/* Skips one value of type t (the array header included, for arrays). */
static int skip_value(cursor *c, uint32_t t, gguf_array *a, gg_err *e) {
    if (t == GGUF_STRING) {
        gguf_str s;
        return rd_str(c, &s, "string value", e);
    }
    if (t == GGUF_ARRAY) return read_array(c, 1, a, e);
    size_t n = gguf_vtype_size(t);
    if (need(c, n, e, "%s value", gguf_vtype_name((gguf_vtype)t)) < 0) return -1;
    c->pos += n;
    return 0;
}

static int read_string_elems(cursor *c, gguf_array *a, gg_err *e) {
    if (a->n > (c->size - c->pos) / MIN_STRING_BYTES)
        return need(c, UINT64_MAX, e, "array of %" PRIu64 " strings", a->n);
    for (uint64_t i = 0; i < a->n; i++) {
        uint64_t len;
        if (rd_u64(c, &len, "array string length", e) < 0) return -1;
        if (need(c, len, e, "string #%" PRIu64 " of the array: length %" PRIu64, i, len) < 0) return -1;
        c->pos += len;
    }
    return 0;
}

static int read_nested_elems(cursor *c, uint32_t level, gguf_array *a, gg_err *e) {
    if (a->n > (c->size - c->pos) / MIN_ARRAY_BYTES)
        return need(c, UINT64_MAX, e, "array of %" PRIu64 " arrays", a->n);
    uint32_t deepest = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        gguf_array sub = {0};
        if (read_array(c, level + 1, &sub, e) < 0) return -1;
        deepest = GG_MAX(deepest, sub.depth);
    }
    a->depth = 1 + deepest;
    return 0;
}

/* Reads an array header and validates its elements; level is 1 for a
 * key's own array. */
static int read_array(cursor *c, uint32_t level, gguf_array *a, gg_err *e) {
    if (level > GGUF_MAX_ARRAY_DEPTH)
        return gg_fail(e, "arrays nested more than %d deep (at offset %" PRIu64 ")",
                       GGUF_MAX_ARRAY_DEPTH, c->pos);
    uint32_t t;
    if (rd_u32(c, &t, "array element type", e) < 0 || rd_u64(c, &a->n, "array length", e) < 0) return -1;
    if (t >= GGUF_VTYPE_COUNT) return gg_fail(e, "array element type %" PRIu32 " is not a GGUF type", t);
    a->type = (gguf_vtype)t;
    a->data = c->base + c->pos;
    a->depth = 1;
    uint64_t start = c->pos;
    if (t == GGUF_STRING) {
        if (read_string_elems(c, a, e) < 0) return -1;
    } else if (t == GGUF_ARRAY) {
        if (read_nested_elems(c, level, a, e) < 0) return -1;
    } else {
        uint64_t bytes;
        size_t es = gguf_vtype_size(t);
        if (!gg_mul_u64(a->n, es, &bytes)) bytes = UINT64_MAX;
        if (need(c, bytes, e, "array of %" PRIu64 " %s", a->n, gguf_vtype_name(a->type)) < 0) return -1;
        c->pos += bytes;
    }
    a->bytes = c->pos - start;
    return 0;
}

static int check_key(gguf_str k, gg_err *e) {
    if (k.len == 0) return gg_fail(e, "the key is empty");
    if (k.len > GGUF_MAX_KEY_LEN)
        return gg_fail(e, "key length %" PRIu64 " is more than the limit %d", k.len, GGUF_MAX_KEY_LEN);
    if (!utf8_valid((const uint8_t *)k.ptr, k.len)) return gg_fail(e, "the key is not valid UTF-8");
    /* Keys are compared as C strings elsewhere (llama.cpp, a writer): with a
     * NUL inside, "general.alignment\0x" would be one key to them and
     * another to this reader's length-exact lookup. */
    if (memchr(k.ptr, '\0', k.len)) return gg_fail(e, "the key has a NUL byte");
    return 0;
}

static int read_kv(gguf_file *f, cursor *c, uint64_t i, gg_err *e) {
    gguf_kv *kv = &f->kv[i];
    char name[96];
    if (rd_str(c, &kv->key, "key", e) < 0 || check_key(kv->key, e) < 0) {
        gg_err_prefix(e, "metadata key #%" PRIu64, i);
        return -1;
    }
    show(kv->key, name, sizeof name);
    int64_t dup = table_find(f, f->kv_slots, f->kv_mask, kv_name, kv->key.ptr, kv->key.len, true,
                             (uint32_t)i);
    if (dup >= 0)
        return gg_fail(e, "metadata key #%" PRIu64 " ('%s'): duplicate of key #%" PRId64, i, name, dup);
    uint32_t t;
    if (rd_u32(c, &t, "value type", e) < 0) goto fail;
    if (t >= GGUF_VTYPE_COUNT) {
        gg_fail(e, "value type %" PRIu32 " is not a GGUF type", t);
        goto fail;
    }
    kv->type = (gguf_vtype)t;
    kv->value = c->base + c->pos;
    if (skip_value(c, t, &kv->arr, e) < 0) goto fail;
    kv->value_bytes = (uint64_t)(c->base + c->pos - kv->value);
    return 0;
fail:
    gg_err_prefix(e, "metadata key #%" PRIu64 " ('%s')", i, name);
    return -1;
}

static int read_alignment(gguf_file *f, gg_err *e) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return 0;
    /* llama.cpp insists on uint32 here; a file it rejects is not one to accept. */
    if (kv->type != GGUF_UINT32)
        return gg_fail(e, "general.alignment has type %s; it must be uint32", gguf_vtype_name(kv->type));
    uint32_t a = gguf_rd32(kv->value);
    if (a == 0 || (a & (a - 1)) != 0)
        return gg_fail(e, "general.alignment %" PRIu32 " is not a power of two", a);
    f->alignment = a;
    return 0;
}

/* ---- tensor infos ---- */

/* Byte size of a tensor whose shape and type are read. */
static int tensor_size(gguf_tensor *t, const gg_type_traits *tt, gg_err *e) {
    if (gguf_shape_bytes(tt, GGUF_MAX_DIMS, t->ne, &t->size)) return 0;
    return gg_fail(e,
                   "shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                   "] has more elements or bytes than 64-bit counts hold",
                   t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
}

static int read_shape(cursor *c, gguf_tensor *t, gg_err *e) {
    if (rd_u32(c, &t->n_dims, "n_dims", e) < 0) return -1;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return gg_fail(e, "n_dims %" PRIu32 " is not in 1..%d", t->n_dims, GGUF_MAX_DIMS);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v;
        if (rd_u64(c, &v, "dimension", e) < 0) return -1;
        t->ne[d] = (int64_t)v;
        /* Zero is allowed, as llama.cpp allows it: an empty tensor. */
        if (t->ne[d] < 0) return gg_fail(e, "ne[%" PRIu32 "] = %" PRId64 " is negative", d, t->ne[d]);
    }
    return 0;
}

static int read_type(cursor *c, gguf_tensor *t, gg_err *e) {
    if (rd_u32(c, &t->type, "type", e) < 0) return -1;
    const gg_type_traits *tt = gg_type_info(t->type);
    if (!tt) return gg_fail(e, "unknown tensor type %" PRIu32, t->type);
    if (t->ne[0] % tt->block_size != 0)
        return gg_fail(e, "ne[0] = %" PRId64 " is not a multiple of the %s block size %d", t->ne[0],
                       tt->name, tt->block_size);
    return tensor_size(t, tt, e);
}

static int read_tensor_info(gguf_file *f, cursor *c, uint64_t i, gg_err *e) {
    gguf_tensor *t = &f->tensors[i];
    char name[96];
    if (rd_str(c, &t->name, "name", e) < 0) {
        gg_err_prefix(e, "tensor #%" PRIu64, i);
        return -1;
    }
    show(t->name, name, sizeof name);
    /* llama.cpp keeps names in 64-byte buffers and rejects longer ones. */
    if (t->name.len >= GGUF_MAX_TENSOR_NAME) {
        gg_fail(e, "name length %" PRIu64 " is not below the limit %d", t->name.len,
                GGUF_MAX_TENSOR_NAME);
        goto fail;
    }
    int64_t dup = table_find(f, f->tensor_slots, f->tensor_mask, tensor_name, t->name.ptr, t->name.len,
                             true, (uint32_t)i);
    if (dup >= 0) {
        gg_fail(e, "duplicate tensor name (also tensor #%" PRId64 ")", dup);
        goto fail;
    }
    if (read_shape(c, t, e) < 0 || read_type(c, t, e) < 0 || rd_u64(c, &t->offset, "data offset", e) < 0)
        goto fail;
    return 0;
fail:
    gg_err_prefix(e, "tensor #%" PRIu64 " ('%s')", i, name);
    return -1;
}

/* ---- tensor data ---- */

typedef struct span {
    uint64_t start, end;
    uint32_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    /* ties broken by index so that messages do not depend on the qsort */
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorting is the simple way to find any overlap; this scratch table is
 * freed before gguf_open returns. */
static int check_overlaps(gguf_file *f, gg_err *e) {
    if (f->n_tensors < 2) return 0;
    span *s = malloc(f->n_tensors * sizeof *s);
    if (!s) return gg_fail_kind(e, GG_E_MEMORY, "out of memory checking tensor ranges");
    size_t n = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (t->size == 0) continue;
        s[n].start = t->offset;
        s[n].end = t->offset + t->size;
        s[n++].idx = (uint32_t)i;
    }
    qsort(s, n, sizeof *s, span_cmp);
    int rc = 0;
    for (size_t k = 1; k < n && rc == 0; k++) {
        if (s[k].start >= s[k - 1].end) continue;
        char a[96], b[96];
        uint64_t base = f->data_offset;
        rc = gg_fail(e,
                     "tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64
                     ") overlap",
                     show(f->tensors[s[k - 1].idx].name, a, sizeof a), base + s[k - 1].start,
                     base + s[k - 1].end, show(f->tensors[s[k].idx].name, b, sizeof b),
                     base + s[k].start, base + s[k].end);
    }
    free(s);
    return rc;
}

static int place_tensors(gguf_file *f, uint64_t info_end, gg_err *e) {
    uint64_t pad = (f->alignment - info_end % f->alignment) % f->alignment;
    f->data_offset = info_end + pad;
    if (f->n_tensors == 0) {
        f->data_offset = GG_MIN(f->data_offset, f->size);
        return 0;
    }
    if (f->data_offset > f->size)
        return gg_fail(e,
                       "tensor data section would start at offset %" PRIu64
                       ", past the end of the file (%" PRIu64 " bytes)",
                       f->data_offset, f->size);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char name[96];
        show(t->name, name, sizeof name);
        if (t->offset % f->alignment != 0)
            return gg_fail(e,
                           "tensor '%s': data offset %" PRIu64
                           " is not a multiple of the alignment %" PRIu64,
                           name, t->offset, f->alignment);
        uint64_t start, end;
        if (!gg_add_u64(f->data_offset, t->offset, &start) || !gg_add_u64(start, t->size, &end))
            return gg_fail(e,
                           "tensor '%s': data offset %" PRIu64 " plus size %" PRIu64
                           " overflows 64 bits",
                           name, t->offset, t->size);
        if (end > f->size)
            return gg_fail(e,
                           "tensor '%s': data [%" PRIu64 ", %" PRIu64
                           ") ends past the end of the file (%" PRIu64 " bytes)",
                           name, start, end, f->size);
        t->data = f->base + start;
    }
    return check_overlaps(f, e);
}

/* ---- opening ---- */

static int parse(gguf_file *f, gg_err *e) {
    cursor c = {f->base, f->size, 0};
    if (read_header(f, &c, e) < 0 || alloc_tables(f, e) < 0) return -1;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (read_kv(f, &c, i, e) < 0) return -1;
    if (read_alignment(f, e) < 0) return -1;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (read_tensor_info(f, &c, i, e) < 0) return -1;
    return place_tensors(f, c.pos, e);
}

int gguf_open_memory(const void *data, size_t size, gguf_file **out, gg_err *e) {
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return gg_fail_kind(e, GG_E_MEMORY, "out of memory");
    f->base = data;
    f->size = size;
    if (parse(f, e) < 0) {
        gguf_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int gguf_open(const char *path, gguf_file **out, gg_err *e) {
    *out = NULL;
    gg_mapping m;
    if (gg_map_file(path, &m, e) < 0) return -1;
    gguf_file *f;
    static const uint8_t empty[1];
    if (gguf_open_memory(m.data ? m.data : empty, m.data ? (size_t)m.size : 0, &f, e) < 0) {
        gg_unmap_file(&m);
        gg_err_prefix(e, "%s", path);
        return -1;
    }
    f->map = m;
    f->mapped = true;
    *out = f;
    return 0;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->mapped) gg_unmap_file(&f->map);
    free(f->kv);
    free(f->tensors);
    free(f->kv_slots);
    free(f);
}

/* ---- lookups ---- */

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
const gg_mapping *gguf_mapping(const gguf_file *f) { return f->mapped ? &f->map : NULL; }
uint64_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
uint64_t gguf_kv_count(const gguf_file *f) { return f->n_kv; }
uint64_t gguf_tensor_count(const gguf_file *f) { return f->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i) { return i < f->n_kv ? &f->kv[i] : NULL; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    int64_t i = table_find(f, f->kv_slots, f->kv_mask, kv_name, key, strlen(key), false, 0);
    return i >= 0 ? &f->kv[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    int64_t i = table_find(f, f->tensor_slots, f->tensor_mask, tensor_name, name, strlen(name), false,
                           0);
    return i >= 0 ? &f->tensors[i] : NULL;
}
