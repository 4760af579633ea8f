/*
 * test_gguf_broken.c - a corpus of broken GGUF files, each made from a
 * valid image built here byte by byte (recording where every field
 * lies), with one field damaged. Each must be refused by gguf_open_memory
 * with a message naming the problem, and without touching memory outside
 * the buffer (each candidate sits in an allocation of its exact size, so
 * AddressSanitizer sees any overread).
 */
#include "bytes.h"
#include "check.h"
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Offsets of the fields the tests damage. */
static struct {
    size_t version, n_tensors, n_kv;
    size_t kv0_keylen, kv0_type, kv0_strlen;
    size_t align_type, align_val;
    size_t arr_type, arr_n, arr_str1_len;
    size_t nest_n, nest_inner_type;
    size_t kv4_key_last;
    size_t t_name[3], t_ndims[3], t_ne[3], t_type[3], t_offset[3];
    size_t infos_end, data_start;
} at;

/* Keys: general.architecture = "bert", general.alignment = 32 (u32),
 * tokens = ["a", "bc"], nested = [[1, 2], [3]] (u8), and
 * general.architecturX (u64; one byte from a duplicate of key 0).
 * Tensors: a f32 [4, 2] at 0, b q8_0 [32] at 32, c f16 [8] at 96. */
static buf valid_image(void) {
    buf b = {0};
    put(&b, "GGUF", 4);
    at.version = b.n, put_le(&b, 3, 4);
    at.n_tensors = b.n, put_le(&b, 3, 8);
    at.n_kv = b.n, put_le(&b, 5, 8);

    at.kv0_keylen = b.n, put_str(&b, "general.architecture");
    at.kv0_type = b.n, put_le(&b, 8, 4);
    at.kv0_strlen = b.n, put_str(&b, "bert");

    put_str(&b, "general.alignment");
    at.align_type = b.n, put_le(&b, 4, 4);
    at.align_val = b.n, put_le(&b, 32, 4);

    put_str(&b, "tokens"), put_le(&b, 9, 4);
    at.arr_type = b.n, put_le(&b, 8, 4);
    at.arr_n = b.n, put_le(&b, 2, 8);
    put_str(&b, "a");
    at.arr_str1_len = b.n, put_str(&b, "bc");

    put_str(&b, "nested"), put_le(&b, 9, 4), put_le(&b, 9, 4);
    at.nest_n = b.n, put_le(&b, 2, 8);
    at.nest_inner_type = b.n, put_le(&b, 0, 4), put_le(&b, 2, 8), put_le(&b, 1, 1), put_le(&b, 2, 1);
    put_le(&b, 0, 4), put_le(&b, 1, 8), put_le(&b, 3, 1);

    put_str(&b, "general.architecturX");
    at.kv4_key_last = b.n - 1;
    put_le(&b, 10, 4), put_le(&b, 77, 8);

    static const char *names[3] = {"a", "b", "c"};
    static const uint32_t types[3] = {0, 8, 1}, ndims[3] = {2, 1, 1};
    static const int64_t ne[3][2] = {{4, 2}, {32, 0}, {8, 0}};
    static const uint64_t offsets[3] = {0, 32, 96};
    for (int t = 0; t < 3; t++) {
        at.t_name[t] = b.n, put_str(&b, names[t]);
        at.t_ndims[t] = b.n, put_le(&b, ndims[t], 4);
        at.t_ne[t] = b.n;
        for (uint32_t d = 0; d < ndims[t]; d++) put_le(&b, (uint64_t)ne[t][d], 8);
        at.t_type[t] = b.n, put_le(&b, types[t], 4);
        at.t_offset[t] = b.n, put_le(&b, offsets[t], 8);
    }
    at.infos_end = b.n;
    while (b.n % 32) put_le(&b, 0, 1);
    at.data_start = b.n;
    for (int i = 0; i < 96 + 16; i++) put_le(&b, (uint8_t)i, 1);
    return b;
}

static const buf *base;

/* Opens a copy of n bytes of img in an exact-size allocation. */
static int try_open(const uint8_t *img, size_t n, gg_err *e) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, img, n);
    gguf_file *f = (gguf_file *)&f; /* must be cleared on failure */
    e->msg[0] = '\0';
    int rc = gguf_open_memory(copy, n, &f, e);
    if (rc == 0) gguf_close(f);
    else CHECK(f == NULL);
    free(copy);
    return rc;
}

/* Patches n little-endian bytes at off in a copy of the valid image and
 * expects a refusal whose message holds `want`. */
static void expect_patch(size_t off, uint64_t v, int n, const char *want, int line) {
    uint8_t *img = malloc(base->n);
    memcpy(img, base->p, base->n);
    for (int i = 0; i < n; i++) img[off + (size_t)i] = (uint8_t)(v >> (8 * i));
    gg_err e;
    int rc = try_open(img, base->n, &e);
    check_report(rc < 0, __FILE__, line, "patch at %zu accepted", off);
    check_report(rc < 0 && strstr(e.msg, want) != NULL, __FILE__, line, "message '%s' lacks '%s'", e.msg,
                 want);
    free(img);
}
#define PATCH(off, v, n, want) expect_patch((off), (v), (n), (want), __LINE__)

static void test_valid(void) {
    gg_err e;
    CHECKF(try_open(base->p, base->n, &e) == 0, "the base image opens: %s", e.msg);
}

static void test_truncations(void) {
    gg_err e;
    int refused = 0, named = 0;
    size_t cuts = 0;
    for (size_t n = 0; n <= at.infos_end; n++, cuts++) {
        if (try_open(base->p, n, &e) < 0) refused++;
        if (strstr(e.msg, "past the end") || strstr(e.msg, "not a GGUF file") ||
            strstr(e.msg, "cannot fit"))
            named++;
        else CHECKF(0, "cut at %zu: '%s'", n, e.msg);
    }
    size_t inside[] = {at.data_start, at.data_start + 1, at.data_start + 50, base->n - 1};
    for (size_t i = 0; i < GG_ARRAY_LEN(inside); i++, cuts++) {
        if (try_open(base->p, inside[i], &e) < 0) refused++;
        if (strstr(e.msg, "ends past the end of the file")) named++;
        else CHECKF(0, "cut at %zu: '%s'", inside[i], e.msg);
    }
    CHECK_EQ_INT(refused, cuts);
    CHECK_EQ_INT(named, cuts);
    /* the exact message form for a data range */
    try_open(base->p, base->n - 1, &e);
    char want[160];
    snprintf(want, sizeof want, "tensor 'c': data [%zu, %zu) ends past the end of the file (%zu bytes)",
             at.data_start + 96, at.data_start + 112, base->n - 1);
    CHECKF(strstr(e.msg, want) != NULL, "'%s' vs '%s'", e.msg, want);
}

static void test_header(void) {
    PATCH(0, 'X', 1, "not a GGUF file");
    PATCH(at.version, 1, 4, "version 1 is not supported");
    PATCH(at.version, 0x03000000, 4, "big-endian");
    PATCH(at.version, 4, 4, "unknown GGUF version 4");
    PATCH(at.version, 0, 4, "unknown GGUF version 0");
    PATCH(at.n_tensors, (uint64_t)1 << 32, 8, "tensor count 4294967296 is more than the limit 65536");
    PATCH(at.n_tensors, UINT64_MAX, 8, "tensor count 18446744073709551615");
    PATCH(at.n_kv, (uint64_t)1 << 32, 8, "metadata key count 4294967296 is more than the limit 65536");
    PATCH(at.n_kv, 65536, 8, "cannot fit");
    PATCH(at.n_tensors, 65536, 8, "cannot fit");
}

static void test_metadata(void) {
    PATCH(at.kv0_keylen, UINT64_MAX, 8,
          "metadata key #0: key: string length 18446744073709551615 runs past");
    PATCH(at.kv0_keylen, 0, 8, "empty");
    PATCH(at.kv0_type, 13, 4,
          "metadata key #0 ('general.architecture'): value type 13 is not a GGUF type");
    PATCH(
        at.kv0_strlen, 9999, 8,
        "('general.architecture'): string value: string length 9999 runs past the end of the file (at offset");
    PATCH(at.kv0_strlen, UINT64_MAX - 2, 8, "runs past the end");
    PATCH(at.arr_n, UINT64_MAX, 8, "array of 18446744073709551615 strings runs past");
    PATCH(at.arr_n, 3, 8, "runs past"); /* the third string eats later keys; something ends up short */
    PATCH(at.arr_str1_len, 1 << 20, 8, "string #1 of the array: length 1048576 runs past");
    PATCH(at.arr_type, 99, 4, "array element type 99 is not a GGUF type");
    /* two uint64 take 16 of the 19 bytes the strings had: key #3 starts off */
    PATCH(at.arr_type, 10, 4, "metadata key #3: key: string length");
    PATCH(at.nest_n, (uint64_t)1 << 40, 8, "array of 1099511627776 arrays runs past");
    PATCH(at.nest_inner_type, 12, 4, "runs past");
    PATCH(at.kv4_key_last, 'e', 1, "metadata key #4 ('general.architecture'): duplicate of key #0");
    PATCH(at.kv4_key_last, 0xFF, 1, "metadata key #4: the key is not valid UTF-8");
    PATCH(at.kv4_key_last, 0xC0, 1, "not valid UTF-8");
    PATCH(at.kv4_key_last, 0, 1, "metadata key #4: the key has a NUL byte");
    PATCH(at.align_val, 0, 4, "general.alignment 0 is not a power of two");
    PATCH(at.align_val, 3, 4, "general.alignment 3 is not a power of two");
    PATCH(at.align_type, 5, 4, "general.alignment has type int32; it must be uint32");
}

/* An image whose only key holds arrays nested `depth` deep. */
static buf nested_image(int depth) {
    buf b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, 3, 4), put_le(&b, 0, 8), put_le(&b, 1, 8);
    put_str(&b, "deep"), put_le(&b, 9, 4);
    for (int i = 1; i < depth; i++) put_le(&b, 9, 4), put_le(&b, 1, 8);
    put_le(&b, 4, 4), put_le(&b, 1, 8), put_le(&b, 42, 4);
    return b;
}

static void test_depth(void) {
    gg_err e;
    buf ok = nested_image(GGUF_MAX_ARRAY_DEPTH), bad = nested_image(GGUF_MAX_ARRAY_DEPTH + 1);
    CHECKF(try_open(ok.p, ok.n, &e) == 0, "depth %d: %s", GGUF_MAX_ARRAY_DEPTH, e.msg);
    gguf_file *f;
    if (gguf_open_memory(ok.p, ok.n, &f, NULL) == 0) {
        CHECK_EQ_INT(gguf_kv_at(f, 0)->arr.depth, GGUF_MAX_ARRAY_DEPTH);
        gguf_close(f);
    }
    CHECK(try_open(bad.p, bad.n, &e) < 0 && strstr(e.msg, "nested more than 8 deep"));
    free(ok.p);
    free(bad.p);
}

static void test_tensors(void) {
    PATCH(at.t_ndims[0], 0, 4, "tensor #0 ('a'): n_dims 0 is not in 1..4");
    PATCH(at.t_ndims[0], 5, 4, "n_dims 5 is not in 1..4");
    PATCH(at.t_ne[0], (uint64_t)1 << 62, 8, "more elements or bytes than 64-bit counts hold");
    PATCH(at.t_ne[0] + 8, (uint64_t)1 << 62, 8, "more elements or bytes"); /* 4 * 2^62 */
    PATCH(at.t_ne[0], (uint64_t)1 << 61, 8,
          "more elements or bytes"); /* 2^62 elements fit, bytes do not */
    PATCH(at.t_ne[0] + 8, (uint64_t)-3, 8, "ne[1] = -3 is negative");
    PATCH(at.t_type[0], 4, 4, "tensor #0 ('a'): unknown tensor type 4");
    PATCH(at.t_type[0], 1000, 4, "unknown tensor type 1000");
    PATCH(at.t_ne[1], 33, 8, "ne[0] = 33 is not a multiple of the q8_0 block size 32");
    PATCH(at.t_type[0], 2, 4, "ne[0] = 4 is not a multiple of the q4_0 block size 32");
    PATCH(at.t_offset[1], 33, 8, "tensor 'b': data offset 33 is not a multiple of the alignment 32");
    PATCH(at.t_offset[2], (uint64_t)1 << 40, 8, "tensor 'c': data [");
    PATCH(at.t_offset[2], UINT64_MAX - 31, 8, "overflows 64 bits");
    PATCH(at.t_offset[2], 32, 8, "tensors 'b' [");
    PATCH(at.t_offset[2], 32, 8, "overlap");
    PATCH(at.t_offset[0], 64, 8, "overlap");
    PATCH(at.t_name[1] + 8, 'a', 1, "tensor #1 ('a'): duplicate tensor name (also tensor #0)");
    PATCH(at.t_name[0], 200, 8, "name length 200 is not below the limit 64");
    PATCH(at.t_name[0], UINT64_MAX, 8, "tensor #0: name: string length 18446744073709551615 runs past");
}

/* Every single-byte change in the header, metadata and infos either
 * opens or is refused with a message; none may crash. */
static void test_byte_flips(void) {
    uint8_t *img = malloc(base->n);
    int refused = 0;
    for (size_t off = 0; off < at.infos_end; off++) {
        static const uint8_t vals[] = {0x00, 0xFF, 0x80, 0x07};
        for (size_t k = 0; k < GG_ARRAY_LEN(vals); k++) {
            memcpy(img, base->p, base->n);
            if (img[off] == vals[k]) continue;
            img[off] = vals[k];
            gg_err e;
            if (try_open(img, base->n, &e) < 0) {
                refused++;
                CHECKF(e.msg[0] != '\0', "flip at %zu: empty message", off);
            }
        }
    }
    CHECK(refused > 100);
    free(img);
}

int main(void) {
    buf b = valid_image();
    base = &b;
    test_valid();
    test_truncations();
    test_header();
    test_metadata();
    test_depth();
    test_tensors();
    test_byte_flips();
    free(b.p);
    return check_done("test_gguf_broken");
}
