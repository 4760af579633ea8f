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
#include "embed_opts.h"
#include "ggembed.h"
#include "platform/platform.h"
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
            "usage: ggembed embed -m MODEL [options] [--] [TEXT...]\n"
            "Embeds each TEXT, or each line of standard input, and prints one JSON line per text.\n");
    embed_opts_usage(out, EMBED_LOCAL);
    fputs("Exit status: 0 done; 1 error; 2 usage; 4 the model file changed or was truncated\n"
          "while in use.\n",
          out);
}

static int parse(embed_args *a, int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            exit(0);
        }
    embed_opts o;
    int first = embed_opts_parse("ggembed embed", EMBED_LOCAL, argc - 1, argv + 1, &o);
    if (first < 0) return -1;
    first += 1;
    if (!o.model) {
        fprintf(stderr, "ggembed embed: -m MODEL is required\n");
        return -1;
    }
    a->model = o.model;
    a->src.jsonl = o.jsonl;
    if (o.no_normalize) a->opt.normalize = 0;
    if (o.no_truncate) a->eo.truncate = 0;
    if (o.prefix) a->eo.prefix = o.prefix, a->eo.prefix_len = strlen(o.prefix);
    if (o.pooling != GGEMBED_POOLING_DEFAULT) a->opt.pooling = o.pooling;
    if (o.threads) a->opt.n_threads = (int)o.threads;
    if (o.dims) a->eo.dims = (int)o.dims;
    if (o.batch) a->opt.max_batch_tokens = (int)o.batch;
    if (o.max_memory) a->opt.max_memory = (size_t)o.max_memory << 20;
    if (first < argc) {
        a->src.argv = argv + first;
        a->src.argc = argc - first;
    }
    return 0;
}

static void print_result(size_t index, const ggembed_result *r, const float *v, int dims) {
    printf("{\"index\": %zu, \"tokens\": %d, \"truncated\": %s, \"embedding\": [", index, r->n_tokens,
           r->truncated ? "true" : "false");
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

/* Returns 0 or the exit status. */
static int flush(ggembed_model *m, const embed_args *a, group *g, float *out, int dims) {
    char err[GGEMBED_ERR_LEN];
    int rc = 0;
    ggembed_status st = g->n ? ggembed_embed(m, g->texts, g->n, &a->eo, out, g->results, err, sizeof err)
                             : GGEMBED_OK;
    if (st != GGEMBED_OK) {
        fprintf(stderr, "ggembed embed: %s\n", err);
        rc = st == GGEMBED_E_MODEL_CHANGED ? CLI_EXIT_MODEL_CHANGED : CLI_EXIT_ERROR;
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
    int rc = out && g ? 0 : CLI_EXIT_ERROR;
    char *text;
    size_t len;
    int got = 0;
    while (rc == 0 && (got = text_next(&a->src, &text, &len)) > 0) {
        char *copy = malloc(len + 1);
        if (!copy) {
            rc = CLI_EXIT_ERROR;
            break;
        }
        memcpy(copy, text, len);
        copy[len] = '\0';
        g->texts[g->n++] = (ggembed_text){copy, len};
        if (g->n == GROUP) rc = flush(m, a, g, out, dims);
    }
    if (rc == 0 && got < 0) rc = CLI_EXIT_ERROR;
    int last = g ? flush(m, a, g, out, dims) : 0;
    if (!rc) rc = last;
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
    gg_err e;
    if (gg_fault_guard_install(CLI_EXIT_MODEL_CHANGED, NULL, &e))
        fprintf(stderr, "ggembed embed: warning: %s\n", e.msg);
    if (ggembed_open(a.model, &a.opt, &m, err, sizeof err)) {
        fprintf(stderr, "ggembed embed: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    int rc = run(m, &a);
    text_source_close(&a.src);
    ggembed_close(m);
    return rc;
}
