/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader and writer.
 *
 * Any input either is refused with a message, or opens; an input that
 * opens must then be safe to walk through every accessor, and must come
 * back unchanged in meaning when its metadata and tensors are written
 * out again and re-read.
 */
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink; /* keeps the reads from being optimized out */

static void walk_array(const gguf_array *a) {
    const uint8_t *pos = a->data;
    if (a->type == GGUF_STRING) {
        for (uint64_t i = 0; i < a->n; i++) {
            gguf_str s = gguf_array_next_str(a, &pos);
            if (s.len) sink += (uint8_t)s.ptr[s.len - 1];
        }
    } else if (a->type == GGUF_ARRAY) {
        for (uint64_t i = 0; i < a->n; i++) {
            gguf_array sub = gguf_array_next_arr(a, &pos);
            if (sub.depth + 1 > a->depth) abort();
            walk_array(&sub);
        }
    } else {
        if (a->bytes) sink += a->data[a->bytes - 1];
        pos += a->bytes;
    }
    if (pos != a->data + a->bytes) abort();
}

/* A C string copy of s, or NULL when s holds a NUL (no C name for it). */
static char *cstr(gguf_str s) {
    if (memchr(s.ptr, 0, s.len)) return NULL;
    char *c = malloc(s.len + 1);
    memcpy(c, s.ptr, s.len);
    c[s.len] = '\0';
    return c;
}

static void walk_kv(const gguf_file *f, const gguf_kv *kv) {
    char *key = cstr(kv->key);
    if (key) {
        if (gguf_find_kv(f, key) != kv) abort();
        uint32_t u;
        int64_t i;
        float x;
        bool b;
        gguf_str s;
        gguf_array a;
        gg_err e;
        sink += (uint64_t)gguf_get_u32(f, key, &u, &e) + (uint64_t)gguf_get_i64(f, key, &i, &e);
        sink += (uint64_t)gguf_get_f32(f, key, &x, &e) + (uint64_t)gguf_get_bool(f, key, &b, &e);
        if (gguf_get_str(f, key, &s, &e) == 0 && s.len) sink += (uint8_t)s.ptr[0];
        if (gguf_get_arr(f, key, GGUF_VTYPE_COUNT, &a, &e) == 0 && a.type == GGUF_STRING &&
            a.n < 100000) {
            gguf_str *v = malloc((a.n + 1) * sizeof *v);
            gguf_arr_strs(&a, v);
            free(v);
        }
        free(key);
    }
    if (kv->value_bytes) sink += kv->value[kv->value_bytes - 1];
    if (kv->type == GGUF_ARRAY) walk_array(&kv->arr);
}

/* Writes the file's metadata and tensors again and checks the result. */
static void rewrite(const gguf_file *f) {
    gguf_writer *w = gguf_writer_new();
    uint64_t total = 0;
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) gguf_set_kv_from(w, gguf_kv_at(f, i));
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char *name = cstr(t->name);
        if (!name) goto done;
        gguf_add_tensor(w, name, (gg_type)t->type, t->n_dims, t->ne);
        free(name);
        total += t->size;
    }
    /* no overlaps, so the tensors' bytes fit in the input */
    uint8_t *data = malloc(total + 1), *p = data, *img;
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        memcpy(p, t->data, t->size);
        p += t->size;
    }
    size_t n;
    gg_err e;
    if (gguf_writer_to_memory(w, gguf_version(f), data, total, &img, &n, &e) < 0) {
        fprintf(stderr, "rewrite failed: %s\n", e.msg);
        abort();
    }
    gguf_file *g;
    if (gguf_open_memory(img, n, &g, &e) < 0) {
        fprintf(stderr, "rewritten file refused: %s\n", e.msg);
        abort();
    }
    if (gguf_kv_count(g) != gguf_kv_count(f) || gguf_tensor_count(g) != gguf_tensor_count(f)) abort();
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *a = gguf_tensor_at(f, i), *b = gguf_tensor_at(g, i);
        if (a->size != b->size || memcmp(a->data, b->data, a->size) != 0) abort();
    }
    gguf_close(g);
    free(img);
    free(data);
done:
    gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f;
    gg_err e;
    e.msg[0] = '\0';
    if (gguf_open_memory(data, size, &f, &e) < 0) {
        if (e.msg[0] == '\0') abort(); /* every refusal says why */
        return 0;
    }
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) walk_kv(f, gguf_kv_at(f, i));
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->size) sink += t->data[0] + t->data[t->size - 1];
        char *name = cstr(t->name);
        if (name && gguf_find_tensor(f, name) != t) abort();
        free(name);
    }
    rewrite(f);
    gguf_close(f);
    return 0;
}
