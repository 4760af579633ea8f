/*
 * cmd_embed.c - `ggembed embed -m MODEL [options] [TEXT...]`: embeds the
 * texts given as arguments, or standard input one text per line (or, with
 * --jsonl, one JSON string per line), and writes one JSON object per text:
 * {"index": i, "tokens": n, "truncated": false, "embedding": [...]}.
 * Texts are embedded in groups so batching pays off on long inputs while
 * output starts early.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ggembed.h"
#include "texts.h"

#define GROUP 256 /* texts per ggembed_embed call */

typedef struct embed_args {
    const char *model;
    ggembed_options opt;
    ggembed_embed_options eo;
    text_source src;
} embed_args;

static void usage(FILE *out) {
    fprintf(out,
            "usage: ggembed embed -m MODEL [options] [TEXT...]\n"
            "Embeds each TEXT, or each line of standard input, and prints one JSON line per text.\n"
            "  -m, --model FILE    GGUF model\n"
            "  --jsonl             read one JSON string per input line (texts may hold newlines)\n"
            "  --threads N         threads (default: all CPUs)\n"
            "  --pooling P         mean, cls or last (default: the model's)\n"
            "  --no-normalize      do not L2-normalize\n"
            "  --dims N            keep the first N dimensions (Matryoshka), renormalized\n"
            "  --batch N           tokens per forward pass (default: the model's context)\n"
            "  --prefix TEXT       prepend TEXT to every text (e.g. 'search_query: ')\n"
            "  --no-truncate       fail on texts longer than the context instead of cutting them\n"
            "  --max-memory MB     refuse to run with more working memory than this\n");
}

static int parse(embed_args *a, int argc, char **argv) {
    long v;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage(stdout); exit(0); }
        if (!strcmp(o, "--")) { i++; break; }
        if (!strcmp(o, "--jsonl")) { a->src.jsonl = true; continue; }
        if (!strcmp(o, "--no-normalize")) { a->opt.normalize = 0; continue; }
        if (!strcmp(o, "--no-truncate")) { a->eo.truncate = 0; continue; }
        if (!val) { fprintf(stderr, "ggembed embed: %s needs a value\n", o); return -1; }
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = val;
        else if (!strcmp(o, "--prefix")) { a->eo.prefix = val; a->eo.prefix_len = strlen(val); }
        else if (!strcmp(o, "--pooling")) {
            a->opt.pooling = ggembed_pooling_parse(val);
            if (a->opt.pooling < 1) {
                fprintf(stderr, "ggembed embed: --pooling must be mean, cls or last, not '%s'\n", val);
                return -1;
            }
        } else if (!strcmp(o, "--threads")) {
            if (!cli_parse_int(o, val, 1, 1024, &v)) return -1;
            a->opt.n_threads = (int)v;
        } else if (!strcmp(o, "--dims")) {
            if (!cli_parse_int(o, val, 1, 1 << 20, &v)) return -1;
            a->eo.dims = (int)v;
        } else if (!strcmp(o, "--batch")) {
            if (!cli_parse_int(o, val, 1, 1 << 20, &v)) return -1;
            a->opt.max_batch_tokens = (int)v;
        } else if (!strcmp(o, "--max-memory")) {
            if (!cli_parse_int(o, val, 1, 1L << 30, &v)) return -1;
            a->opt.max_memory = (size_t)v << 20;
        } else {
            fprintf(stderr, "ggembed embed: unknown option '%s'\n", o);
            return -1;
        }
    }
    if (!a->model) {
        fprintf(stderr, "ggembed embed: -m MODEL is required\n");
        return -1;
    }
    if (i < argc) {
        a->src.argv = argv + i;
        a->src.argc = argc - i;
    }
    return 0;
}

static void print_result(size_t index, const ggembed_result *r, const float *v, int dims) {
    printf("{\"index\": %zu, \"tokens\": %d, \"truncated\": %s, \"embedding\": [", index,
           r->n_tokens, r->truncated ? "true" : "false");
    for (int d = 0; d < dims; d++) {
        if (d) fputs(", ", stdout);
        cli_json_float(stdout, v[d]);
    }
    fputs("]}\n", stdout);
}

typedef struct group {
    ggembed_text texts[GROUP];
    ggembed_result results[GROUP];
    size_t n, first;
} group;

static int flush(ggembed_model *m, const embed_args *a, group *g, float *out, int dims) {
    char err[GGEMBED_ERR_LEN];
    int rc = 0;
    if (g->n && ggembed_embed(m, g->texts, g->n, &a->eo, out, g->results, err, sizeof err)) {
        fprintf(stderr, "ggembed embed: %s\n", err);
        rc = -1;
    }
    for (size_t i = 0; i < g->n; i++) {
        if (!rc) print_result(g->first + i, &g->results[i], out + i * (size_t)dims, dims);
        free((void *)g->texts[i].text);
    }
    g->first += g->n;
    g->n = 0;
    fflush(stdout);
    return rc;
}

static int run(ggembed_model *m, embed_args *a) {
    const int dims = a->eo.dims ? a->eo.dims : ggembed_get_info(m)->n_embd;
    float *out = malloc(sizeof(float) * (size_t)dims * GROUP);
    group *g = calloc(1, sizeof *g);
    int rc = out && g ? 0 : -1;
    char *text;
    size_t len;
    int got = 0;
    while (rc == 0 && (got = text_next(&a->src, &text, &len)) > 0) {
        char *copy = malloc(len + 1);
        if (!copy) { rc = -1; break; }
        memcpy(copy, text, len);
        copy[len] = '\0';
        g->texts[g->n++] = (ggembed_text){copy, len};
        if (g->n == GROUP) rc = flush(m, a, g, out, dims);
    }
    if (rc == 0 && got < 0) rc = -1;
    if (g && flush(m, a, g, out, dims)) rc = -1;
    free(out);
    free(g);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    embed_args a = {0};
    ggembed_options_default(&a.opt);
    ggembed_embed_options_default(&a.eo);
    if (parse(&a, argc, argv)) return 2;
    if (a.eo.dims && a.opt.normalize == 0) a.eo.normalize = 0;
    char err[GGEMBED_ERR_LEN];
    ggembed_model *m;
    if (ggembed_open(a.model, &a.opt, &m, err, sizeof err)) {
        fprintf(stderr, "ggembed embed: %s\n", err);
        return 1;
    }
    int rc = run(m, &a);
    text_source_close(&a.src);
    ggembed_close(m);
    return rc ? 1 : 0;
}
