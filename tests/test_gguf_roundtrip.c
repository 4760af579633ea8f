/*
 * test_gguf_roundtrip.c - the GGUF reader against images built byte by
 * byte from the format description, the writer against the same bytes,
 * and write-then-read round trips of every metadata type and every
 * tensor type, in memory and through a real file. Also: the typed
 * getters' conversions, a 150k-string array, and the vocab fixtures.
 */
#include "bytes.h"
#include "check.h"
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a byte builder that follows the format description ---- */

static void put_key(buf *b, const char *k, uint32_t type) {
    put_str(b, k);
    put_le(b, type, 4);
}
static void pad_to(buf *b, size_t align) {
    while (b->n % align) put_le(b, 0, 1);
}

/* Eleven keys of every scalar type and string, two arrays, a nested
 * array, then two tensors: f32 [3, 2] and q8_0 [32]. */
static buf hand_image(void) {
    buf b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, 3, 4);
    put_le(&b, 2, 8);  /* tensors */
    put_le(&b, 17, 8); /* keys */
    put_key(&b, "u8", 0), put_le(&b, 200, 1);
    put_key(&b, "i8", 1), put_le(&b, (uint8_t)-5, 1);
    put_key(&b, "u16", 2), put_le(&b, 65000, 2);
    put_key(&b, "i16", 3), put_le(&b, (uint16_t)-300, 2);
    put_key(&b, "u32", 4), put_le(&b, 4000000000u, 4);
    put_key(&b, "i32", 5), put_le(&b, (uint32_t)-70000, 4);
    put_key(&b, "f32", 6), put_le(&b, 0x3FC00000u, 4); /* 1.5f */
    put_key(&b, "bool", 7), put_le(&b, 1, 1);
    put_key(&b, "str", 8), put_str(&b, "h\xc3\xa9llo");
    put_key(&b, "empty", 8), put_str(&b, "");
    put_key(&b, "u64", 10), put_le(&b, UINT64_MAX, 8);
    put_key(&b, "i64", 11), put_le(&b, (uint64_t)INT64_MIN, 8);
    put_key(&b, "f64", 12), put_le(&b, 0xC004000000000000u, 8); /* -2.5 */
    put_key(&b, "arr.i32", 9), put_le(&b, 5, 4), put_le(&b, 3, 8);
    put_le(&b, 1, 4), put_le(&b, (uint32_t)-2, 4), put_le(&b, 3, 4);
    put_key(&b, "arr.str", 9), put_le(&b, 8, 4), put_le(&b, 3, 8);
    put_str(&b, "a"), put_str(&b, ""), put_str(&b, "ccc");
    /* [[7, 8], []] as arrays of uint16 */
    put_key(&b, "arr.nested", 9), put_le(&b, 9, 4), put_le(&b, 2, 8);
    put_le(&b, 2, 4), put_le(&b, 2, 8), put_le(&b, 7, 2), put_le(&b, 8, 2);
    put_le(&b, 2, 4), put_le(&b, 0, 8);
    put_key(&b, "general.alignment", 4), put_le(&b, 64, 4);
    put_str(&b, "w"), put_le(&b, 2, 4), put_le(&b, 3, 8), put_le(&b, 2, 8);
    put_le(&b, 0, 4), put_le(&b, 0, 8);
    put_str(&b, "q"), put_le(&b, 1, 4), put_le(&b, 32, 8);
    put_le(&b, 8, 4), put_le(&b, 64, 8); /* 24 bytes of w padded to 64 */
    pad_to(&b, 64);
    for (int i = 0; i < 24; i++) put_le(&b, (uint8_t)i, 1);
    pad_to(&b, 64);
    for (int i = 0; i < 34; i++) put_le(&b, (uint8_t)(100 + i), 1);
    pad_to(&b, 64);
    return b;
}

/* The same content through the writer. */
static gguf_writer *hand_writer(void) {
    gguf_writer *w = gguf_writer_new();
    gguf_set_u8(w, "u8", 200);
    gguf_set_i8(w, "i8", -5);
    gguf_set_u16(w, "u16", 65000);
    gguf_set_i16(w, "i16", -300);
    gguf_set_u32(w, "u32", 4000000000u);
    gguf_set_i32(w, "i32", -70000);
    gguf_set_f32(w, "f32", 1.5f);
    gguf_set_bool(w, "bool", true);
    gguf_set_str(w, "str", "h\xc3\xa9llo");
    gguf_set_str(w, "empty", "");
    gguf_set_u64(w, "u64", UINT64_MAX);
    gguf_set_i64(w, "i64", INT64_MIN);
    gguf_set_f64(w, "f64", -2.5);
    int32_t ints[3] = {1, -2, 3};
    gguf_set_arr(w, "arr.i32", GGUF_INT32, ints, 3);
    gguf_str strs[3] = {{"a", 1}, {"", 0}, {"ccc", 3}};
    gguf_set_arr_str(w, "arr.str", strs, 3);
    return w;
}

static void test_hand_image(void) {
    buf b = hand_image();
    gguf_file *f;
    gg_err e = {{0}};
    int rc = gguf_open_memory(b.p, b.n, &f, &e);
    CHECKF(rc == 0, "hand image opens: %s", e.msg);
    if (rc) return;
    CHECK_EQ_INT(gguf_version(f), 3);
    CHECK_EQ_INT(gguf_alignment(f), 64);
    CHECK_EQ_INT(gguf_kv_count(f), 17);
    CHECK_EQ_INT(gguf_tensor_count(f), 2);
    uint32_t u32;
    int64_t i64;
    float f32;
    bool bl;
    gguf_str s;
    CHECK(gguf_get_u32(f, "u8", &u32, NULL) == 0 && u32 == 200);
    CHECK(gguf_get_i64(f, "i8", &i64, NULL) == 0 && i64 == -5);
    CHECK(gguf_get_u32(f, "u16", &u32, NULL) == 0 && u32 == 65000);
    CHECK(gguf_get_i64(f, "i16", &i64, NULL) == 0 && i64 == -300);
    CHECK(gguf_get_u32(f, "u32", &u32, NULL) == 0 && u32 == 4000000000u);
    CHECK(gguf_get_i64(f, "i32", &i64, NULL) == 0 && i64 == -70000);
    CHECK(gguf_get_f32(f, "f32", &f32, NULL) == 0 && f32 == 1.5f);
    CHECK(gguf_get_bool(f, "bool", &bl, NULL) == 0 && bl);
    CHECK(gguf_get_str(f, "str", &s, NULL) == 0 && gguf_str_eq(s, "h\xc3\xa9llo"));
    CHECK(gguf_get_str(f, "empty", &s, NULL) == 0 && s.len == 0);
    CHECK(gguf_get_i64(f, "i64", &i64, NULL) == 0 && i64 == INT64_MIN);
    CHECK(gguf_get_f32(f, "f64", &f32, NULL) == 0 && f32 == -2.5f);
    const gguf_kv *kv = gguf_find_kv(f, "u64");
    CHECK(kv && kv->type == GGUF_UINT64 && kv->value_bytes == 8 &&
          memcmp(kv->value, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0);
    CHECK(gguf_find_kv(f, "missing") == NULL);
    CHECK(gguf_kv_at(f, 2) && gguf_str_eq(gguf_kv_at(f, 2)->key, "u16"));

    gguf_array a;
    CHECK(gguf_get_arr(f, "arr.i32", GGUF_INT32, &a, NULL) == 0 && a.n == 3 && a.depth == 1);
    CHECK(gguf_arr_i32(&a, 0) == 1 && gguf_arr_i32(&a, 1) == -2 && gguf_arr_i32(&a, 2) == 3);
    CHECK(gguf_get_arr(f, "arr.str", GGUF_STRING, &a, NULL) == 0 && a.n == 3);
    gguf_str v[3];
    gguf_arr_strs(&a, v);
    CHECK(gguf_str_eq(v[0], "a") && gguf_str_eq(v[1], "") && gguf_str_eq(v[2], "ccc"));
    CHECK(gguf_get_arr(f, "arr.nested", GGUF_ARRAY, &a, NULL) == 0 && a.n == 2 && a.depth == 2);
    const uint8_t *pos = a.data;
    gguf_array s0 = gguf_array_next_arr(&a, &pos), s1 = gguf_array_next_arr(&a, &pos);
    CHECK(s0.type == GGUF_UINT16 && s0.n == 2 && s0.data[0] == 7 && s0.data[2] == 8);
    CHECK(s1.type == GGUF_UINT16 && s1.n == 0);
    CHECK(pos == a.data + a.bytes);

    const gguf_tensor *w = gguf_find_tensor(f, "w"), *q = gguf_find_tensor(f, "q");
    CHECK(w && w->type == GG_TYPE_F32 && w->n_dims == 2 && w->ne[0] == 3 && w->ne[1] == 2 &&
          w->ne[2] == 1);
    CHECK(w && w->size == 24 && w->data == b.p + 576 && w->data[5] == 5);
    CHECK(q && q->type == GG_TYPE_Q8_0 && q->size == 34 && q->offset == 64 && q->data[0] == 100);
    /* 24 header + 458 metadata + 74 tensor infos = 556, padded to 64 */
    CHECK_EQ_INT(gguf_data_offset(f), 576);
    CHECK(gguf_tensor_at(f, 1) == q);

    /* The writer must produce exactly these bytes: nested arrays have no
     * setter, so they and the alignment come over with gguf_set_kv_from. */
    gguf_writer *wr = hand_writer();
    gguf_set_kv_from(wr, gguf_find_kv(f, "arr.nested"));
    gguf_set_kv_from(wr, gguf_find_kv(f, "general.alignment"));
    int64_t ne_w[2] = {3, 2}, ne_q[1] = {32};
    gguf_add_tensor(wr, "w", GG_TYPE_F32, 2, ne_w);
    gguf_add_tensor(wr, "q", GG_TYPE_Q8_0, 1, ne_q);
    uint8_t data[24 + 34], *img = NULL;
    memcpy(data, w->data, 24);
    memcpy(data + 24, q->data, 34);
    size_t n = 0;
    rc = gguf_writer_to_memory(wr, 3, data, sizeof data, &img, &n, &e);
    CHECKF(rc == 0, "writer: %s", e.msg);
    CHECK_EQ_INT(n, b.n);
    CHECK(rc == 0 && n == b.n && memcmp(img, b.p, n) == 0);
    free(img);
    gguf_writer_free(wr);
    gguf_close(f);
    free(b.p);
}

/* ---- getters ---- */

static void test_getters(void) {
    gguf_writer *w = gguf_writer_new();
    gguf_set_i32(w, "neg", -1);
    gguf_set_u64(w, "big", (uint64_t)1 << 40);
    gguf_set_u64(w, "huge", UINT64_MAX);
    gguf_set_str(w, "s", "x");
    gguf_set_u32(w, "dup", 1);
    gguf_set_u32(w, "dup", 2); /* replaces */
    uint8_t *img;
    size_t n;
    gg_err e = {{0}};
    gguf_file *f = NULL;
    CHECK(gguf_writer_to_memory(w, 3, NULL, 0, &img, &n, &e) == 0);
    CHECK(gguf_open_memory(img, n, &f, &e) == 0);
    gguf_writer_free(w);
    if (!f) return;
    uint32_t u;
    int64_t i;
    float x;
    bool b;
    CHECK_EQ_INT(gguf_kv_count(f), 5);
    CHECK(gguf_get_u32(f, "dup", &u, NULL) == 0 && u == 2);
    CHECK(gguf_get_u32(f, "neg", &u, &e) < 0 && strstr(e.msg, "-1 does not fit in uint32"));
    CHECK(gguf_get_i64(f, "neg", &i, NULL) == 0 && i == -1);
    CHECK(gguf_get_u32(f, "big", &u, &e) < 0 && strstr(e.msg, "'big'"));
    CHECK(gguf_get_i64(f, "big", &i, NULL) == 0 && i == (int64_t)1 << 40);
    CHECK(gguf_get_i64(f, "huge", &i, &e) < 0 && strstr(e.msg, "int64"));
    CHECK(gguf_get_u32(f, "s", &u, &e) < 0 && strstr(e.msg, "has type string"));
    CHECK(gguf_get_f32(f, "neg", &x, &e) < 0 && strstr(e.msg, "has type int32"));
    CHECK(gguf_get_bool(f, "nope", &b, &e) < 0 && strstr(e.msg, "'nope' not found"));
    CHECK(gguf_get_bool_or(f, "nope", true, &b, NULL) == 0 && b);
    CHECK(gguf_get_u32_or(f, "nope", 7, &u, NULL) == 0 && u == 7);
    CHECK(gguf_get_u32_or(f, "s", 7, &u, NULL) < 0);
    CHECK(gguf_get_f32_or(f, "nope", 0.5f, &x, NULL) == 0 && x == 0.5f);
    gguf_array a;
    CHECK(gguf_get_arr(f, "s", GGUF_VTYPE_COUNT, &a, &e) < 0 && strstr(e.msg, "expected array"));
    gguf_close(f);
    free(img);
}

/* ---- every tensor type, both versions, several alignments ---- */

static uint32_t rng = 12345;
static uint8_t rand_byte(void) {
    rng = rng * 1103515245u + 12345u;
    return (uint8_t)(rng >> 16);
}

typedef struct model {
    gguf_writer *w;
    uint8_t *data;
    size_t size;
    int n;
} model;

/* One tensor per known type: [2 blocks, 3 rows], random bytes. */
static model all_types_model(uint32_t alignment) {
    model m = {gguf_writer_new(), NULL, 0, 0};
    if (alignment) gguf_set_u32(m.w, "general.alignment", alignment);
    gguf_set_str(m.w, "general.architecture", "test");
    for (uint32_t t = 0; t < GG_TYPE_COUNT; t++) {
        const gg_type_traits *tt = gg_type_info(t);
        if (!tt) continue;
        char name[64];
        snprintf(name, sizeof name, "t.%s", tt->name);
        int64_t ne[2] = {2 * tt->block_size, 3};
        gguf_add_tensor(m.w, name, (gg_type)t, 2, ne);
        size_t bytes = 2 * tt->type_size * 3;
        m.data = realloc(m.data, m.size + bytes);
        for (size_t i = 0; i < bytes; i++) m.data[m.size + i] = rand_byte();
        m.size += bytes;
        m.n++;
    }
    return m;
}

static void check_all_types(gguf_file *f, const model *m, uint32_t alignment, const uint8_t *base) {
    CHECK_EQ_INT(gguf_tensor_count(f), m->n);
    CHECK_EQ_INT(gguf_alignment(f), alignment ? alignment : 32);
    size_t off = 0;
    int k = 0;
    for (uint32_t t = 0; t < GG_TYPE_COUNT; t++) {
        const gg_type_traits *tt = gg_type_info(t);
        if (!tt) continue;
        const gguf_tensor *ten = gguf_tensor_at(f, (uint64_t)k++);
        size_t bytes = 2 * tt->type_size * 3;
        CHECKF(ten && ten->type == t && ten->ne[0] == 2 * tt->block_size && ten->ne[1] == 3 &&
                   ten->n_dims == 2,
               "type %s", tt->name);
        if (!ten) continue;
        CHECKF(ten->size == bytes, "%s size %llu", tt->name, (unsigned long long)ten->size);
        CHECKF((ten->data - base) % gguf_alignment(f) == 0, "%s aligned", tt->name);
        CHECKF(memcmp(ten->data, m->data + off, bytes) == 0, "%s data", tt->name);
        off += bytes;
    }
}

static void test_all_types(void) {
    static const uint32_t aligns[] = {0, 1, 64, 4096};
    for (uint32_t version = 2; version <= 3; version++) {
        for (size_t ai = 0; ai < GG_ARRAY_LEN(aligns); ai++) {
            model m = all_types_model(aligns[ai]);
            uint8_t *img = NULL;
            size_t n;
            gg_err e = {{0}};
            gguf_file *f = NULL;
            CHECKF(gguf_writer_to_memory(m.w, version, m.data, m.size, &img, &n, &e) == 0, "%s", e.msg);
            CHECKF(gguf_open_memory(img, n, &f, &e) == 0, "v%u align %u: %s", version, aligns[ai],
                   e.msg);
            if (f) {
                CHECK_EQ_INT(gguf_version(f), version);
                check_all_types(f, &m, aligns[ai], img);
                gguf_close(f);
            }
            free(img);
            free(m.data);
            gguf_writer_free(m.w);
        }
    }
}

/* ---- through a real file, data in pieces; copying metadata ---- */

static void test_file(void) {
    char path[1024], path2[1024];
    snprintf(path, sizeof path, "%s/gguf_roundtrip.gguf", check_tmp_dir());
    snprintf(path2, sizeof path2, "%s/gguf_roundtrip_copy.gguf", check_tmp_dir());
    model m = all_types_model(128);
    gg_err e = {{0}};
    CHECKF(gguf_writer_begin(m.w, path, 2, &e) == 0, "%s", e.msg);
    /* odd-sized pieces, none crossing a tensor's end */
    size_t off = 0;
    for (uint32_t t = 0; t < GG_TYPE_COUNT; t++) {
        const gg_type_traits *tt = gg_type_info(t);
        if (!tt) continue;
        size_t bytes = 6 * tt->type_size, first = bytes / 3;
        CHECK(gguf_write_data(m.w, m.data + off, first, &e) == 0);
        CHECK(gguf_write_data(m.w, m.data + off + first, bytes - first, &e) == 0);
        off += bytes;
    }
    CHECK(gguf_write_data(m.w, m.data, 1, &e) < 0 && strstr(e.msg, "past the last tensor"));
    CHECKF(gguf_writer_finish(m.w, &e) == 0, "%s", e.msg);

    gguf_file *f = NULL;
    CHECKF(gguf_open(path, &f, &e) == 0, "%s", e.msg);
    if (f) {
        size_t n;
        uint8_t *raw = check_read_file(path, &n);
        CHECK(raw && gguf_file_size(f) == n);
        free(raw);
        gguf_str s;
        CHECK(gguf_get_str(f, "general.architecture", &s, NULL) == 0 && gguf_str_eq(s, "test"));
        /* copy every key and tensor into a new file, version 3 */
        gguf_writer *w2 = gguf_writer_new();
        for (uint64_t i = 0; i < gguf_kv_count(f); i++) gguf_set_kv_from(w2, gguf_kv_at(f, i));
        for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            char name[GGUF_MAX_TENSOR_NAME];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            gguf_add_tensor(w2, name, (gg_type)t->type, t->n_dims, t->ne);
        }
        CHECKF(gguf_writer_begin(w2, path2, 3, &e) == 0, "%s", e.msg);
        for (uint64_t i = 0; i < gguf_tensor_count(f); i++)
            CHECK(gguf_write_data(w2, gguf_tensor_at(f, i)->data, gguf_tensor_at(f, i)->size, &e) == 0);
        CHECKF(gguf_writer_finish(w2, &e) == 0, "%s", e.msg);
        gguf_writer_free(w2);
        gguf_file *g = NULL;
        CHECKF(gguf_open(path2, &g, &e) == 0, "%s", e.msg);
        if (g) {
            CHECK_EQ_INT(gguf_version(g), 3);
            CHECK_EQ_INT(gguf_kv_count(g), gguf_kv_count(f));
            for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
                const gguf_kv *a = gguf_kv_at(f, i), *b = gguf_kv_at(g, i);
                CHECK(a->key.len == b->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0);
                CHECK(a->type == b->type && a->value_bytes == b->value_bytes &&
                      memcmp(a->value, b->value, a->value_bytes) == 0);
            }
            check_all_types(g, &m, 128, gguf_tensor_at(g, 0)->data - gguf_data_offset(g));
            gguf_close(g);
        }
        gguf_close(f);
    }
    remove(path);
    remove(path2);
    free(m.data);
    gguf_writer_free(m.w);
}

static void test_writer_errors(void) {
    gg_err e = {{0}};
    char path[1024];
    snprintf(path, sizeof path, "%s/no-such-dir/x.gguf", check_tmp_dir());
    gguf_writer *w = gguf_writer_new();
    int64_t ne[1] = {64};
    gguf_add_tensor(w, "a", GG_TYPE_F32, 1, ne);
    gguf_add_tensor(w, "b", GG_TYPE_F16, 1, ne);
    CHECK(gguf_writer_begin(w, path, 3, &e) < 0 && strstr(e.msg, "no-such-dir/x.gguf"));
    CHECK(gguf_writer_begin(w, path, 1, &e) < 0 && strstr(e.msg, "version 1"));
    snprintf(path, sizeof path, "%s/gguf_short.gguf", check_tmp_dir());
    uint8_t zeros[512] = {0};
    CHECK(gguf_writer_begin(w, path, 3, &e) == 0);
    CHECK(gguf_write_data(w, zeros, 300, &e) < 0 &&
          strstr(e.msg, "tensor 'a': 300 bytes given where 256"));
    CHECK(gguf_write_data(w, zeros, 256, &e) == 0);
    CHECK(gguf_write_data(w, zeros, 100, &e) == 0);
    CHECK(gguf_writer_finish(w, &e) < 0 && strstr(e.msg, "tensor 'b': 100 of its 128 bytes"));
    FILE *gone = fopen(path, "rb"); /* a failed finish removes the partial file */
    CHECK(gone == NULL);
    if (gone) fclose(gone);
    uint8_t *img;
    size_t n;
    CHECK(gguf_writer_to_memory(w, 3, zeros, 10, &img, &n, &e) < 0 && strstr(e.msg, "need 384"));
    gguf_writer_free(w);

    w = gguf_writer_new();
    int64_t bad[1] = {33};
    gguf_add_tensor(w, "q", GG_TYPE_Q4_0, 1, bad);
    CHECK(gguf_writer_to_memory(w, 3, zeros, 0, &img, &n, &e) < 0 && strstr(e.msg, "tensor 'q'"));
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", 48);
    CHECK(gguf_writer_to_memory(w, 3, NULL, 0, &img, &n, &e) < 0 && strstr(e.msg, "power of two"));
    gguf_writer_free(w);
}

/* A zero dimension makes an empty tensor however large the others are;
 * the reader takes such a shape, so the writer must too (the fuzzer found
 * the writer refusing [2^55, 218, 0] as too large), and the shape whose
 * bytes really overflow is refused by both. */
static void test_empty_huge_shape(void) {
    gg_err e = {{0}};
    gguf_writer *w = gguf_writer_new();
    int64_t ne[3] = {(int64_t)1 << 55, 218, 0};
    gguf_add_tensor(w, "empty", GG_TYPE_F32, 3, ne);
    uint8_t *img = NULL;
    size_t n = 0;
    CHECKF(gguf_writer_to_memory(w, 3, NULL, 0, &img, &n, &e) == 0, "%s", e.msg);
    gguf_file *f = NULL;
    if (img && gguf_open_memory(img, n, &f, &e) == 0) {
        const gguf_tensor *t = gguf_find_tensor(f, "empty");
        CHECK(t && t->size == 0 && t->ne[0] == ne[0] && t->ne[1] == 218 && t->ne[2] == 0);
        gguf_close(f);
    } else {
        CHECKF(0, "the written file is refused: %s", e.msg);
    }
    free(img);
    gguf_writer_free(w);
    w = gguf_writer_new();
    int64_t big[2] = {(int64_t)1 << 55, 218};
    gguf_add_tensor(w, "big", GG_TYPE_F32, 2, big);
    CHECK(gguf_writer_to_memory(w, 3, NULL, 0, &img, &n, &e) < 0 && strstr(e.msg, "tensor 'big'"));
    gguf_writer_free(w);
}

/* A file without tensors has no data section to align: written with a
 * huge (legal) alignment it stays as small as its metadata, and reads back
 * with that alignment. Found by fuzz_gguf, whose rewrite of such a file
 * asked for gigabytes of padding. */
static void test_no_tensors_huge_alignment(void) {
    gg_err e = {{0}};
    gguf_writer *w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", (uint32_t)1 << 28);
    gguf_set_str(w, "general.name", "vocab only");
    uint8_t *img = NULL;
    size_t n = 0;
    CHECKF(gguf_writer_to_memory(w, 3, NULL, 0, &img, &n, &e) == 0, "%s", e.msg);
    CHECKF(n < 4096, "a file of two keys and no tensors is %zu bytes", n);
    gguf_file *f = NULL;
    if (img && n < 4096 && gguf_open_memory(img, n, &f, &e) == 0) {
        CHECK_EQ_INT(gguf_alignment(f), (uint32_t)1 << 28);
        CHECK_EQ_INT(gguf_tensor_count(f), 0);
        CHECK_EQ_INT(gguf_data_offset(f), n);
        gguf_close(f);
    } else {
        CHECKF(0, "the written file is refused: %s", e.msg);
    }
    free(img);
    gguf_writer_free(w);
}

/* ---- big string arrays ---- */

static void test_many_strings(void) {
    enum { N = 150000 };
    gguf_str *in = malloc(N * sizeof *in);
    char *pool = malloc(N * 8);
    for (int i = 0; i < N; i++) {
        int len = snprintf(pool + 8 * i, 8, "t%d", i);
        in[i].ptr = pool + 8 * i;
        in[i].len = (uint64_t)len;
    }
    gguf_writer *w = gguf_writer_new();
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", in, N);
    uint8_t *img = NULL;
    size_t n;
    gguf_file *f = NULL;
    CHECK(gguf_writer_to_memory(w, 3, NULL, 0, &img, &n, NULL) == 0);
    CHECK(gguf_open_memory(img, n, &f, NULL) == 0);
    gguf_array a;
    if (f && gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &a, NULL) == 0) {
        CHECK_EQ_INT(a.n, N);
        gguf_str *out = malloc(N * sizeof *out);
        gguf_arr_strs(&a, out);
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += !(out[i].len == in[i].len && memcmp(out[i].ptr, in[i].ptr, in[i].len) == 0);
        CHECK_EQ_INT(bad, 0);
        free(out);
    } else {
        CHECK(!"string array readable");
    }
    gguf_close(f);
    free(img);
    gguf_writer_free(w);
    free(in);
    free(pool);
}

/* ---- the vocabulary fixtures ---- */

static void test_fixtures(void) {
    static const char *names[] = {"ggml-vocab-bert-bge.gguf", "ggml-vocab-deepseek-coder.gguf",
                                  "ggml-vocab-gpt-2.gguf",    "ggml-vocab-llama-spm.gguf",
                                  "ggml-vocab-qwen2.gguf",    "ggml-vocab-starcoder.gguf"};
    for (size_t i = 0; i < GG_ARRAY_LEN(names); i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", check_fixtures_dir(), names[i]);
        gguf_file *f = NULL;
        gg_err e = {{0}};
        CHECKF(gguf_open(path, &f, &e) == 0, "%s: %s", names[i], e.msg);
        if (!f) continue;
        gguf_str tok_model;
        gguf_array tokens;
        CHECKF(gguf_get_str(f, "tokenizer.ggml.model", &tok_model, &e) == 0 && tok_model.len > 0,
               "%s: %s", names[i], e.msg);
        CHECKF(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &tokens, &e) == 0 &&
                   tokens.n > 1000,
               "%s: %s", names[i], e.msg);
        /* every kv's raw extent ends where the next begins */
        for (uint64_t k = 0; k + 1 < gguf_kv_count(f); k++) {
            const gguf_kv *a = gguf_kv_at(f, k), *b = gguf_kv_at(f, k + 1);
            CHECK(a->value + a->value_bytes == (const uint8_t *)b->key.ptr - 8);
        }
        gguf_close(f);
    }
}

int main(void) {
    test_hand_image();
    test_getters();
    test_all_types();
    test_file();
    test_writer_errors();
    test_empty_huge_shape();
    test_no_tensors_huge_alignment();
    test_many_strings();
    test_fixtures();
    return check_done("test_gguf_roundtrip");
}
