/*
 * cmd_rerank.c - `ggembed rerank -m MODEL [options] QUERY DOC...`: scores
 * each document against the query with a reranker and prints the scores
 * in input order (or best first with --sort). A DOC of "-" reads the
 * documents from standard input, one per line (or one JSON string per
 * line with --jsonl). All documents are read before any is scored, so
 * that --sort can order them; they are scored GROUP at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "texts.h"

#define GROUP 256 /* pairs per ggembed_rerank call */

typedef struct rerank_args {
    const char *model, *query;
    ggembed_options opt;
    ggembed_rerank_options ro;
    bool json, sort;
    text_source src;
} rerank_args;

typedef struct doc {
    char *text;
    size_t len;
    ggembed_result r;
    float score;
    size_t index;
} doc;

static void usage(FILE *out) {
    fprintf(out,
            "usage: ggembed rerank -m MODEL [options] [--] QUERY DOC...\n"
            "       ggembed rerank -m MODEL [options] [--] QUERY - < DOCS\n"
            "Scores each DOC (or each line of standard input, for \"-\") against QUERY with a\n"
            "reranker (a model whose pooling is rank: bge-reranker, Qwen3-Reranker) and prints\n"
            "one line per document, in input order: its score, index and text. The score is the\n"
            "one llama.cpp gives (llama-server's relevance_score): a logit for a BERT-family\n"
            "cross-encoder, a probability for Qwen3-Reranker; higher is more relevant.\n\n"
            "options:\n"
            "  -m, --model FILE   the reranker (GGUF)\n"
            "  --json             one JSON object per document instead:\n"
            "                     {\"index\": i, \"tokens\": n, \"truncated\": false, \"score\": s}\n"
            "  --sort             best first (ties in input order)\n"
            "  --jsonl            standard input holds one JSON string per line\n"
            "  --no-truncate      fail on a pair longer than the context instead of cutting\n"
            "                     the document's end\n"
            "  --threads N        threads (default: all CPUs)\n"
            "  --batch N          tokens per forward pass (default: the model's context)\n"
            "  --max-memory MB    ceiling on working memory\n"
            "Exit status: 0 done; 1 error (also: the model is not a reranker); 2 usage;\n"
            "4 the model file changed or was truncated while in use.\n");
}

static int parse(rerank_args *a, int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *o = argv[i];
        long v;
        if (!strcmp(o, "--")) {
            i++;
            break;
        }
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (!strcmp(o, "--sort")) {
            a->sort = true;
            continue;
        }
        if (!strcmp(o, "--jsonl")) {
            a->src.jsonl = true;
            continue;
        }
        if (!strcmp(o, "--no-truncate")) {
            a->ro.truncate = 0;
            continue;
        }
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            fprintf(stderr, "ggembed rerank: %s needs a value (or is unknown)\n", o);
            return -1;
        }
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = val;
        else if (!strcmp(o, "--threads") && cli_parse_int(o, val, 1, 1024, &v))
            a->opt.n_threads = (int)v;
        else if (!strcmp(o, "--batch") && cli_parse_int(o, val, 1, 1 << 24, &v))
            a->opt.max_batch_tokens = (int)v;
        else if (!strcmp(o, "--max-memory") && cli_parse_int(o, val, 1, 1 << 24, &v))
            a->opt.max_memory = (size_t)v << 20;
        else if (strcmp(o, "--threads") && strcmp(o, "--batch") && strcmp(o, "--max-memory")) {
            fprintf(stderr, "ggembed rerank: unknown option '%s'\n", o);
            return -1;
        } else return -1;
    }
    if (!a->model) {
        fprintf(stderr, "ggembed rerank: -m MODEL is required\n");
        return -1;
    }
    if (argc - i < 2) {
        fprintf(stderr, "ggembed rerank: a QUERY and at least one DOC (or \"-\") are required\n");
        return -1;
    }
    a->query = argv[i++];
    if (argc - i == 1 && !strcmp(argv[i], "-")) return 0; /* standard input */
    for (int k = i; k < argc; k++)
        if (!strcmp(argv[k], "-")) {
            fprintf(stderr,
                    "ggembed rerank: \"-\" (documents from standard input) must be the only DOC\n");
            return -1;
        }
    a->src.argv = argv + i;
    a->src.argc = argc - i;
    return 0;
}

/* All documents, in order; NULL (message printed) on failure. */
static doc *read_docs(text_source *src, size_t *n) {
    doc *docs = NULL;
    size_t cap = 0;
    char *text;
    size_t len;
    int got;
    *n = 0;
    while ((got = text_next(src, &text, &len)) > 0) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            doc *grown = realloc(docs, cap * sizeof *docs);
            if (!grown) break;
            docs = grown;
        }
        char *copy = malloc(len + 1);
        if (!copy) break;
        memcpy(copy, text, len);
        copy[len] = '\0';
        docs[*n] = (doc){.text = copy, .len = len, .index = *n};
        (*n)++;
    }
    if (got != 0) {
        if (got > 0) fprintf(stderr, "ggembed rerank: out of memory reading the documents\n");
        for (size_t i = 0; i < *n; i++) free(docs[i].text);
        free(docs);
        return NULL;
    }
    return docs;
}

/* Scores docs[0..n) GROUP at a time; 0 or the exit status. */
static int score(ggembed_model *m, const rerank_args *a, doc *docs, size_t n) {
    ggembed_pair pairs[GROUP];
    ggembed_result results[GROUP];
    float scores[GROUP];
    char err[GGEMBED_ERR_LEN];
    const ggembed_text q = {a->query, strlen(a->query)};
    for (size_t first = 0; first < n; first += GROUP) {
        const size_t g = n - first < GROUP ? n - first : GROUP;
        for (size_t i = 0; i < g; i++)
            pairs[i] = (ggembed_pair){q, {docs[first + i].text, docs[first + i].len}};
        ggembed_status st = ggembed_rerank(m, pairs, g, &a->ro, scores, results, err, sizeof err);
        if (st != GGEMBED_OK) {
            fprintf(stderr, "ggembed rerank: %s\n", err);
            return st == GGEMBED_E_MODEL_CHANGED ? CLI_EXIT_MODEL_CHANGED : CLI_EXIT_ERROR;
        }
        for (size_t i = 0; i < g; i++) docs[first + i].score = scores[i], docs[first + i].r = results[i];
    }
    return 0;
}

static int by_score(const void *x, const void *y) {
    const doc *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static void print_doc(const rerank_args *a, const doc *d) {
    if (a->json) {
        printf("{\"index\": %zu, \"tokens\": %d, \"truncated\": %s, \"score\": ", d->index,
               d->r.n_tokens, d->r.truncated ? "true" : "false");
        cli_json_float(stdout, d->score);
        fputs("}\n", stdout);
        return;
    }
    printf("%.6g\t%zu\t", d->score, d->index);
    for (size_t i = 0; i < d->len; i++)
        putchar(d->text[i] == '\n' || d->text[i] == '\t' ? ' ' : d->text[i]);
    putchar('\n');
}

int cmd_rerank(int argc, char **argv) {
    rerank_args a = {0};
    ggembed_options_default(&a.opt);
    ggembed_rerank_options_default(&a.ro);
    if (parse(&a, argc, argv)) return CLI_EXIT_USAGE;
    char err[GGEMBED_ERR_LEN];
    ggembed_model *m;
    gg_err e;
    if (gg_fault_guard_install(CLI_EXIT_MODEL_CHANGED, NULL, &e))
        fprintf(stderr, "ggembed rerank: warning: %s\n", e.msg);
    if (ggembed_open(a.model, &a.opt, &m, err, sizeof err)) {
        fprintf(stderr, "ggembed rerank: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    size_t n;
    doc *docs = read_docs(&a.src, &n);
    int rc = docs || n == 0 ? score(m, &a, docs, n) : CLI_EXIT_ERROR;
    if (!docs && n) rc = CLI_EXIT_ERROR;
    if (rc == 0 && a.sort && n) qsort(docs, n, sizeof *docs, by_score);
    for (size_t i = 0; rc == 0 && i < n; i++) print_doc(&a, &docs[i]);
    for (size_t i = 0; i < n; i++) free(docs[i].text);
    free(docs);
    text_source_close(&a.src);
    ggembed_close(m);
    return rc;
}
