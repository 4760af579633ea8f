/*
 * seeds_gguf.c - writes a seed corpus for fuzz_gguf: a few small valid
 * files made here (every metadata type, nested arrays, every tensor
 * type, both versions, several alignments), plus a shrunken copy of each
 * valid GGUF file named on the command line (long arrays cut to their
 * first 16 elements, tensors dropped), so the fuzzer starts from real
 * model metadata without megabytes of vocabulary.
 *
 * usage: seeds_gguf DIR [FILE.gguf ...]
 */
#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP 16

static int n_written;

static void save(const char *dir, gguf_writer *w, uint32_t version, const void *data, size_t size) {
    uint8_t *img;
    size_t n;
    gg_err e;
    if (gguf_writer_to_memory(w, version, data, size, &img, &n, &e) < 0) {
        fprintf(stderr, "seeds_gguf: %s\n", e.msg);
        exit(1);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%03d.gguf", dir, n_written++);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(img, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "seeds_gguf: cannot write %s\n", path);
        exit(1);
    }
    free(img);
}

static void metadata_seed(const char *dir) {
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "bert");
    gguf_set_u8(w, "a.u8", 1), gguf_set_i8(w, "a.i8", -1);
    gguf_set_u16(w, "a.u16", 2), gguf_set_i16(w, "a.i16", -2);
    gguf_set_u32(w, "bert.block_count", 2), gguf_set_i32(w, "a.i32", -3);
    gguf_set_u64(w, "a.u64", 4), gguf_set_i64(w, "a.i64", -4);
    gguf_set_f32(w, "a.f32", 0.5f), gguf_set_f64(w, "a.f64", 0.25);
    gguf_set_bool(w, "a.bool", true), gguf_set_str(w, "a.empty", "");
    gguf_str toks[4] = {{"[PAD]", 5}, {"a", 1}, {"", 0}, {"\xe2\x96\x81x", 4}};
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    float scores[4] = {0, -1, -2, -3};
    gguf_set_arr(w, "tokenizer.ggml.scores", GGUF_FLOAT32, scores, 4);
    save(dir, w, 3, NULL, 0);
    gguf_writer_free(w);
}

static void tensor_seed(const char *dir, uint32_t version, uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", alignment);
    size_t total = 0;
    for (uint32_t t = 0; t < GG_TYPE_COUNT; t++) {
        const gg_type_traits *tt = gg_type_info(t);
        if (!tt) continue;
        char name[64];
        snprintf(name, sizeof name, "blk.0.%s.weight", tt->name);
        int64_t ne[2] = {tt->block_size, 2};
        gguf_add_tensor(w, name, (gg_type)t, 2, ne);
        total += 2 * tt->type_size;
    }
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++) data[i] = (uint8_t)(i * 37);
    save(dir, w, version, data, total);
    free(data);
    gguf_writer_free(w);
}

/* Copies one key, cutting a long array of a plain type or of strings. */
static void copy_kv(gguf_writer *w, const gguf_kv *kv) {
    if (kv->type != GGUF_ARRAY || kv->arr.n <= KEEP || kv->arr.type == GGUF_ARRAY) {
        gguf_set_kv_from(w, kv);
        return;
    }
    char key[GGUF_MAX_KEY_LEN + 1];
    snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
    if (kv->arr.type == GGUF_STRING) {
        gguf_str s[KEEP];
        const uint8_t *pos = kv->arr.data;
        for (int i = 0; i < KEEP; i++) s[i] = gguf_array_next_str(&kv->arr, &pos);
        gguf_set_arr_str(w, key, s, KEEP);
    } else {
        gguf_set_arr(w, key, kv->arr.type, kv->arr.data, KEEP);
    }
}

static void shrink_seed(const char *dir, const char *path) {
    gguf_file *f;
    gg_err e;
    if (gguf_open(path, &f, &e) < 0) {
        fprintf(stderr, "seeds_gguf: skipping %s\n", e.msg);
        return;
    }
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) copy_kv(w, gguf_kv_at(f, i));
    save(dir, w, gguf_version(f), NULL, 0);
    gguf_writer_free(w);
    gguf_close(f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: seeds_gguf DIR [FILE.gguf ...]\n");
        return 2;
    }
    metadata_seed(argv[1]);
    tensor_seed(argv[1], 3, 32);
    tensor_seed(argv[1], 2, 64);
    tensor_seed(argv[1], 3, 1);
    for (int i = 2; i < argc; i++) shrink_seed(argv[1], argv[i]);
    printf("seeds_gguf: %d seeds in %s\n", n_written, argv[1]);
    return 0;
}
