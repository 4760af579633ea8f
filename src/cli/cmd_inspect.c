/*
 * cmd_inspect.c - `ggembed inspect MODEL [--json]`: describes a GGUF
 * file: the model's headline hyperparameters, the tokenizer, the tensor
 * types and sizes, and every metadata key with its type and value.
 *
 * It reads the file through the GGUF layer only, so it works on any
 * valid GGUF (vocabulary-only files included) and prints the reader's
 * message, naming the broken field, for an invalid one. Long arrays
 * (vocabularies, merges) are summarized by their type, length and first
 * few elements; long strings (chat templates) are cut in text mode.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ggembed.h"
#include "gguf/gguf.h"
#include "models/model.h"

#define SHOW_ELEMS 8      /* array elements shown */
#define SHOW_STR_TEXT 200 /* bytes of a string shown in text mode */

static const char *const pooling_names[] = {"none", "mean", "cls", "last", "rank"};

/* ---- values ---- */

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_double(FILE *out, double d) {
    if (isnan(d) || isinf(d)) fputs("null", out);
    else fprintf(out, "%.17g", d);
}

/* One fixed-size value of type t at p, as JSON (which text shares). */
static void put_scalar(FILE *out, gguf_vtype t, const uint8_t *p) {
    uint64_t bits;
    float f;
    double d;
    switch (t) {
    case GGUF_UINT8: fprintf(out, "%u", p[0]); break;
    case GGUF_INT8: fprintf(out, "%d", (int8_t)p[0]); break;
    case GGUF_UINT16: fprintf(out, "%u", (unsigned)le(p, 2)); break;
    case GGUF_INT16: fprintf(out, "%d", (int16_t)le(p, 2)); break;
    case GGUF_UINT32: fprintf(out, "%" PRIu32, (uint32_t)le(p, 4)); break;
    case GGUF_INT32: fprintf(out, "%" PRId32, (int32_t)le(p, 4)); break;
    case GGUF_UINT64: fprintf(out, "%" PRIu64, le(p, 8)); break;
    case GGUF_INT64: fprintf(out, "%" PRId64, (int64_t)le(p, 8)); break;
    case GGUF_BOOL: fputs(p[0] ? "true" : "false", out); break;
    case GGUF_FLOAT32:
        bits = le(p, 4);
        memcpy(&f, &(uint32_t){(uint32_t)bits}, 4);
        cli_json_float(out, f);
        break;
    case GGUF_FLOAT64:
        bits = le(p, 8);
        memcpy(&d, &bits, 8);
        put_double(out, d);
        break;
    default: fputs("null", out); break;
    }
}

/* A string, escaped; in text mode a long one is cut at a character
 * boundary and its length given. */
static void put_string(FILE *out, gguf_str s, bool json) {
    if (json || s.len <= SHOW_STR_TEXT) {
        cli_json_string(out, s.ptr, (size_t)s.len);
        return;
    }
    size_t cut = SHOW_STR_TEXT;
    while (cut > 0 && ((unsigned char)s.ptr[cut] & 0xC0) == 0x80) cut--;
    cli_json_string(out, s.ptr, cut);
    fprintf(out, "... (%" PRIu64 " bytes)", s.len);
}

static void put_type(FILE *out, const gguf_array *a) {
    fprintf(out, "%s[%" PRIu64 "]", gguf_vtype_name(a->type), a->n);
}

/* The first few elements: "[a, b, ...]" in text, a JSON array in JSON. */
static void put_array(FILE *out, const gguf_array *a, bool json) {
    const uint8_t *pos = a->data;
    uint64_t shown = a->n < SHOW_ELEMS ? a->n : SHOW_ELEMS;
    size_t es = a->n ? (size_t)(a->bytes / a->n) : 0;
    fputc('[', out);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(json ? "," : ", ", out);
        if (a->type == GGUF_STRING) {
            put_string(out, gguf_array_next_str(a, &pos), json);
        } else if (a->type == GGUF_ARRAY) {
            gguf_array sub = gguf_array_next_arr(a, &pos);
            if (!json) put_type(out, &sub);
            put_array(out, &sub, json);
        } else {
            put_scalar(out, a->type, a->data + i * es);
        }
    }
    if (!json && a->n > shown) fprintf(out, ", ... %" PRIu64 " more", a->n - shown);
    fputc(']', out);
}

static void put_value(FILE *out, const gguf_kv *kv, bool json) {
    if (kv->type == GGUF_STRING) {
        gguf_str s = {(const char *)kv->value + 8, le(kv->value, 8)};
        put_string(out, s, json);
    } else if (kv->type == GGUF_ARRAY) {
        put_array(out, &kv->arr, json);
    } else {
        put_scalar(out, kv->type, kv->value);
    }
}

/* ---- the summary ---- */

typedef struct summary {
    gguf_str arch;
    uint64_t params, vocab;
    uint64_t type_count[GG_TYPE_COUNT], type_bytes[GG_TYPE_COUNT];
} summary;

static void summarize(const gguf_file *f, summary *s) {
    memset(s, 0, sizeof *s);
    if (gguf_get_str(f, "general.architecture", &s->arch, NULL) < 0) s->arch = (gguf_str){"", 0};
    gguf_array toks;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VTYPE_COUNT, &toks, NULL) == 0) s->vocab = toks.n;
    for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= (uint64_t)t->ne[d]; /* the reader bounded it */
        s->params += n;
        s->type_count[t->type]++;
        s->type_bytes[t->type] += t->size;
    }
}

/* The headline fields: label for text, name for JSON, key (with "%.*s"
 * standing for the architecture). */
static const struct field {
    const char *label, *json, *key;
} fields[] = {
    {"name", "name", "general.name"},
    {"embedding length", "embedding_length", "%.*s.embedding_length"},
    {"layers", "block_count", "%.*s.block_count"},
    {"heads", "head_count", "%.*s.attention.head_count"},
    {"KV heads", "head_count_kv", "%.*s.attention.head_count_kv"},
    {"context length", "context_length", "%.*s.context_length"},
    {"feed-forward length", "feed_forward_length", "%.*s.feed_forward_length"},
    {"pooling type", "pooling_type", "%.*s.pooling_type"},
    {"tokenizer model", "tokenizer_model", "tokenizer.ggml.model"},
    {"pre-tokenizer", "tokenizer_pre", "tokenizer.ggml.pre"},
};

static const gguf_kv *field_kv(const gguf_file *f, const summary *s, const struct field *fd) {
    char key[256];
    snprintf(key, sizeof key, fd->key, (int)s->arch.len, s->arch.ptr);
    return gguf_find_kv(f, key);
}

static const char *pooling_name(const gguf_kv *kv) {
    uint64_t v = kv && kv->type != GGUF_STRING && kv->type != GGUF_ARRAY && kv->type != GGUF_FLOAT32 &&
                         kv->type != GGUF_FLOAT64
                     ? le(kv->value, (int)(kv->value_bytes < 8 ? kv->value_bytes : 8))
                     : UINT64_MAX;
    return v < sizeof pooling_names / sizeof pooling_names[0] ? pooling_names[v] : NULL;
}

/* ---- engine figures ----
 *
 * What only the engine knows: the working memory it allocates at open
 * (default options: all CPUs, the default batch of tokens) and the
 * tokenizer's memory. The model is opened with ggembed_open; a file the
 * engine refuses still gets the GGUF report, with the engine's reason. */
static void print_engine_info(FILE *out, const char *path, bool json) {
    ggembed_options opt;
    ggembed_options_default(&opt);
    ggembed_model *m = NULL;
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = ggembed_open(path, &opt, &m, err, sizeof err);
    const ggembed_info *in = st == GGEMBED_OK ? ggembed_get_info(m) : NULL;
    if (json) {
        fputs(",\"engine\":{", out);
        if (!in) {
            fprintf(out, "\"status\":\"%s\",\"error\":", ggembed_status_name(st));
            cli_json_string(out, err, strlen(err));
        } else {
            fprintf(out, "\"has_weights\":%s,\"tokenizer_memory\":%zu",
                    in->has_weights ? "true" : "false", in->tokenizer_memory);
            if (in->has_weights)
                fprintf(out,
                        ",\"working_memory\":%zu,\"threads\":%d,\"max_batch_tokens\":%d,\"simd\":\"%s\"",
                        in->working_memory, in->n_threads, in->max_batch_tokens, in->simd);
        }
        fputc('}', out);
    } else if (!in) {
        fprintf(out, "%-20s cannot open the model (%s): %s\n", "engine:", ggembed_status_name(st), err);
    } else {
        if (in->has_weights)
            fprintf(out, "%-20s %zu bytes (%.2f MB; batch of %d tokens, %d threads, %s kernels)\n",
                    "working memory:", in->working_memory, in->working_memory / 1048576.0,
                    in->max_batch_tokens, in->n_threads, in->simd);
        else
            fprintf(out, "%-20s none (vocabulary-only file: tokenizes, cannot embed)\n",
                    "working memory:");
        fprintf(out, "%-20s %zu bytes (%.2f MB)\n", "tokenizer memory:", in->tokenizer_memory,
                in->tokenizer_memory / 1048576.0);
    }
    ggembed_close(m);
}

/* ---- text ---- */

static void text_report(FILE *out, const char *path, const gguf_file *f, const summary *s) {
    fprintf(out, "%-20s %s\n", "file:", path);
    fprintf(out, "%-20s %" PRIu64 " bytes\n", "file size:", gguf_file_size(f));
    fprintf(out, "%-20s %" PRIu32 "\n", "GGUF version:", gguf_version(f));
    fprintf(out, "%-20s %" PRIu64 "\n", "alignment:", gguf_alignment(f));
    char names[256];
    gg_arch_names(names, sizeof names);
    fprintf(out, "%-20s %.*s (%s; ggembed runs %s)\n", "architecture:", (int)s->arch.len, s->arch.ptr,
            gg_arch_find(s->arch) ? "supported" : "not supported", names);
    fprintf(out, "%-20s %" PRIu64 "\n", "parameters:", s->params);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const gguf_kv *kv = field_kv(f, s, &fields[i]);
        fprintf(out, "%s:%*s ", fields[i].label, (int)(19 - strlen(fields[i].label)), "");
        if (!kv) {
            fputs("-\n", out);
            continue;
        }
        put_value(out, kv, false);
        if (strcmp(fields[i].json, "pooling_type") == 0 && pooling_name(kv))
            fprintf(out, " (%s%s)", pooling_name(kv),
                    strcmp(pooling_name(kv), "rank") ? ""
                                                     : ": a reranker, `ggembed rerank` scores pairs");
        fputc('\n', out);
    }
    fprintf(out, "%-20s %" PRIu64 "\n", "vocabulary size:", s->vocab);
    fprintf(out, "%-20s %" PRIu64 "\n", "tensors:", gguf_tensor_count(f));
    for (uint32_t t = 0; t < GG_TYPE_COUNT; t++)
        if (s->type_count[t])
            fprintf(out, "  %-8s %8" PRIu64 " tensors %14" PRIu64 " bytes\n", gg_type_name(t),
                    s->type_count[t], s->type_bytes[t]);
    print_engine_info(out, path, false);
    fprintf(out, "metadata:            %" PRIu64 " keys\n", gguf_kv_count(f));
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char type[48];
        if (kv->type == GGUF_ARRAY)
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", gguf_vtype_name(kv->arr.type), kv->arr.n);
        else snprintf(type, sizeof type, "%s", gguf_vtype_name(kv->type));
        fputs("  ", out);
        cli_json_string(out, kv->key.ptr, (size_t)kv->key.len);
        fprintf(out, "%*s %-16s ", (int)(kv->key.len < 44 ? 44 - kv->key.len : 0), "", type);
        put_value(out, kv, false);
        fputc('\n', out);
    }
}

/* ---- JSON ---- */

static void json_report(FILE *out, const char *path, const gguf_file *f, const summary *s) {
    fputs("{\"file\":", out);
    cli_json_string(out, path, strlen(path));
    fprintf(out,
            ",\"file_size\":%" PRIu64 ",\"gguf_version\":%" PRIu32 ",\"alignment\":%" PRIu64
            ",\"data_offset\":%" PRIu64 ",\"architecture\":",
            gguf_file_size(f), gguf_version(f), gguf_alignment(f), gguf_data_offset(f));
    cli_json_string(out, s->arch.ptr, (size_t)s->arch.len);
    fprintf(out, ",\"parameters\":%" PRIu64, s->params);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const gguf_kv *kv = field_kv(f, s, &fields[i]);
        fprintf(out, ",\"%s\":", fields[i].json);
        if (kv) put_value(out, kv, true);
        else fputs("null", out);
    }
    const char *pool = pooling_name(field_kv(f, s, &fields[7]));
    fputs(",\"pooling\":", out);
    if (pool) fprintf(out, "\"%s\"", pool);
    else fputs("null", out);
    fprintf(out, ",\"vocab_size\":%" PRIu64 ",\"tensor_count\":%" PRIu64 ",\"tensor_types\":[", s->vocab,
            gguf_tensor_count(f));
    bool first = true;
    for (uint32_t t = 0; t < GG_TYPE_COUNT; t++) {
        if (!s->type_count[t]) continue;
        fprintf(out, "%s{\"type\":\"%s\",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", first ? "" : ",",
                gg_type_name(t), s->type_count[t], s->type_bytes[t]);
        first = false;
    }
    fputs("]", out);
    print_engine_info(out, path, true);
    fputs(",\"metadata\":{", out);
    for (uint64_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (i) fputc(',', out);
        cli_json_string(out, kv->key.ptr, (size_t)kv->key.len);
        fprintf(out, ":{\"type\":\"%s\"", gguf_vtype_name(kv->type));
        if (kv->type == GGUF_ARRAY)
            fprintf(out, ",\"element_type\":\"%s\",\"length\":%" PRIu64, gguf_vtype_name(kv->arr.type),
                    kv->arr.n);
        fputs(",\"value\":", out);
        put_value(out, kv, true);
        fputc('}', out);
    }
    fputs("}}\n", out);
}

/* ---- the command ---- */

static void usage(FILE *out) {
    fprintf(out,
            "usage: ggembed inspect MODEL.gguf [--json]\n"
            "Describes a GGUF file: hyperparameters, tokenizer, tensor types and\n"
            "every metadata key (long arrays shown by their first %d elements).\n"
            "  --json   one JSON object instead of text\n",
            SHOW_ELEMS);
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "ggembed inspect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "ggembed inspect: one model at a time ('%s' and '%s')\n", path, argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    gguf_file *f;
    gg_err e;
    if (gguf_open(path, &f, &e) < 0) {
        fprintf(stderr, "ggembed inspect: %s\n", e.msg);
        return 1;
    }
    summary s;
    summarize(f, &s);
    if (json) json_report(stdout, path, f, &s);
    else text_report(stdout, path, f, &s);
    gguf_close(f);
    return fflush(stdout) == 0 ? 0 : 1;
}
