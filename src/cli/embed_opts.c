/*
 * embed_opts.c - the option table and parser of embed_opts.h.
 */
#include "embed_opts.h"

#include <string.h>

#include "cli.h"
#include "ggembed.h"

/* X(name, alias, value, who, help) */
#define EMBED_OPTIONS(X)                                                                              \
    X("--model", "-m", "FILE", EMBED_LOCAL, "GGUF model")                                             \
    X("--jsonl", NULL, NULL, EMBED_LOCAL | EMBED_CLIENT,                                              \
      "read one JSON string per input line (texts may hold newlines)")                                \
    X("--threads", NULL, "N", EMBED_LOCAL, "threads (default: all CPUs)")                             \
    X("--pooling", NULL, "P", EMBED_LOCAL | EMBED_CLIENT, "mean, cls or last (default: the model's)") \
    X("--no-normalize", NULL, NULL, EMBED_LOCAL | EMBED_CLIENT, "do not L2-normalize")                \
    X("--dims", NULL, "N", EMBED_LOCAL | EMBED_CLIENT,                                                \
      "keep the first N dimensions (Matryoshka), renormalized")                                       \
    X("--batch", NULL, "N", EMBED_LOCAL, "tokens per forward pass (default: the model's context)")    \
    X("--prefix", NULL, "TEXT", EMBED_LOCAL | EMBED_CLIENT,                                           \
      "prepend TEXT to every text (e.g. 'search_query: ')")                                           \
    X("--no-truncate", NULL, NULL, EMBED_LOCAL | EMBED_CLIENT,                                        \
      "fail on texts longer than the context instead of cutting them")                                \
    X("--max-memory", NULL, "MB", EMBED_LOCAL, "refuse to run with more working memory than this")

typedef struct opt_desc {
    const char *name, *alias, *value;
    unsigned who;
    const char *help;
} opt_desc;

#define OPT_ROW(n, a, v, w, h) {n, a, v, w, h},
static const opt_desc options[] = {EMBED_OPTIONS(OPT_ROW)};

static const opt_desc *find(const char *arg) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (!strcmp(arg, options[i].name) || (options[i].alias && !strcmp(arg, options[i].alias)))
            return &options[i];
    return NULL;
}

/* Stores the value of option d; false after a message. */
static bool set(const char *cmd, const opt_desc *d, const char *v, embed_opts *o) {
    const char *n = d->name;
    if (!strcmp(n, "--model")) o->model = v;
    else if (!strcmp(n, "--jsonl")) o->jsonl = true;
    else if (!strcmp(n, "--no-normalize")) o->no_normalize = true;
    else if (!strcmp(n, "--no-truncate")) o->no_truncate = true;
    else if (!strcmp(n, "--prefix")) o->prefix = v;
    else if (!strcmp(n, "--pooling")) {
        o->pooling = ggembed_pooling_parse(v);
        if (o->pooling < 1) {
            fprintf(stderr, "%s: --pooling must be mean, cls or last, not '%s'\n", cmd, v);
            return false;
        }
    } else if (!strcmp(n, "--threads")) return cli_parse_int(n, v, 1, 1024, &o->threads);
    else if (!strcmp(n, "--dims")) return cli_parse_int(n, v, 1, 1 << 20, &o->dims);
    else if (!strcmp(n, "--batch")) return cli_parse_int(n, v, 1, 1 << 20, &o->batch);
    else if (!strcmp(n, "--max-memory")) return cli_parse_int(n, v, 1, 1L << 30, &o->max_memory);
    return true;
}

int embed_opts_parse(const char *cmd, unsigned who, int argc, char **argv, embed_opts *o) {
    memset(o, 0, sizeof *o);
    o->pooling = GGEMBED_POOLING_DEFAULT;
    int i = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--")) return i + 1;
        const opt_desc *d = find(argv[i]);
        if (!d) {
            fprintf(stderr, "%s: unknown option '%s' (texts that start with '-' go after '--')\n", cmd,
                    argv[i]);
            return -1;
        }
        if (!(d->who & who)) {
            fprintf(stderr,
                    "%s: %s is an option of the process that opens the model (ggembed %s), "
                    "not of a client\n",
                    cmd, argv[i], who == EMBED_CLIENT ? "serve" : "embed");
            return -1;
        }
        const char *v = NULL;
        if (d->value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value (%s)\n", cmd, argv[i], d->value);
                return -1;
            }
            v = argv[++i];
        }
        if (!set(cmd, d, v, o)) return -1;
    }
    return i;
}

void embed_opts_usage(FILE *out, unsigned who) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const opt_desc *d = &options[i];
        if (!(d->who & who)) continue;
        char left[40];
        snprintf(left, sizeof left, "%s%s%s%s%s", d->alias ? d->alias : "", d->alias ? ", " : "",
                 d->name, d->value ? " " : "", d->value ? d->value : "");
        fprintf(out, "  %-20s%s\n", left, d->help);
    }
}
