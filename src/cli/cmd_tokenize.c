/*
 * cmd_tokenize.c - `ggembed tokenize -m MODEL [--no-special] [--jsonl]
 * [TEXT...]`: prints the token ids of each text on one line, separated by
 * spaces, with the special tokens an embedding adds unless --no-special.
 * Works on vocabulary-only files: no weights are loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "texts.h"

static void usage(FILE *out) {
    fprintf(out, "usage: ggembed tokenize -m MODEL [--no-special] [--jsonl] [TEXT...]\n"
                 "Prints the token ids of each TEXT, or of each line of standard input.\n"
                 "  --no-special  do not add the special tokens an embedding adds (CLS/SEP, BOS/EOS)\n"
                 "  --jsonl       read one JSON string per input line\n");
}

static int print_ids(ggembed_model *m, const char *text, size_t len, int special, int32_t **ids,
                     size_t *cap) {
    char err[GGEMBED_ERR_LEN];
    size_t n;
    for (;;) {
        if (ggembed_tokenize(m, text, len, special, *ids, *cap, &n, err, sizeof err)) {
            fprintf(stderr, "ggembed tokenize: %s\n", err);
            return -1;
        }
        if (n <= *cap) break;
        int32_t *p = realloc(*ids, n * sizeof **ids);
        if (!p) return -1;
        *ids = p;
        *cap = n;
    }
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (*ids)[i]);
    putchar('\n');
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    int special = 1;
    text_source src = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(o, "--")) {
            i++;
            break;
        }
        if (!strcmp(o, "--no-special")) special = 0;
        else if (!strcmp(o, "--jsonl")) src.jsonl = true;
        else if ((!strcmp(o, "-m") || !strcmp(o, "--model")) && i + 1 < argc) model = argv[++i];
        else {
            fprintf(stderr, "ggembed tokenize: unknown option '%s'\n", o);
            usage(stderr);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "ggembed tokenize: -m MODEL is required\n");
        return 2;
    }
    if (i < argc) src.argv = argv + i, src.argc = argc - i;
    ggembed_options opt;
    ggembed_options_default(&opt);
    opt.vocab_only = 1;
    char err[GGEMBED_ERR_LEN];
    ggembed_model *m;
    gg_err e;
    if (gg_fault_guard_install(CLI_EXIT_MODEL_CHANGED, NULL, &e))
        fprintf(stderr, "ggembed tokenize: warning: %s\n", e.msg);
    if (ggembed_open(model, &opt, &m, err, sizeof err)) {
        fprintf(stderr, "ggembed tokenize: %s\n", err);
        return 1;
    }
    size_t cap = 1024;
    int32_t *ids = malloc(cap * sizeof *ids);
    int rc = ids ? 0 : -1, got = 0;
    char *text;
    size_t len;
    while (rc == 0 && (got = text_next(&src, &text, &len)) > 0)
        rc = print_ids(m, text, len, special, &ids, &cap);
    if (rc == 0 && got < 0) rc = -1;
    free(ids);
    text_source_close(&src);
    ggembed_close(m);
    return rc ? 1 : 0;
}
