/*
 * cmd_client.c - `ggembed client`: speak the protocol to a running server
 * from the command line, for debugging, scripts and the Windows tests.
 * `embed` prints the same JSON lines as `ggembed embed`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "server/client.h"

static void client_usage(FILE *out) {
    fprintf(out,
            "usage: ggembed client (--socket PATH | --pipe NAME) COMMAND\n"
            "  health                     print the server's state as JSON\n"
            "  stats                      print the server's counters as JSON\n"
            "  embed [--jsonl] [TEXT...]  embed the TEXTs (or, with --jsonl, one JSON\n"
            "                             string per line of stdin); print JSON lines\n"
            "  shutdown                   ask the server to stop\n");
}

static int do_health(gg_client *c) {
    gg_buf r = {0};
    gg_err e;
    gg_health_ok h;
    bool ok = gg_client_call(c, GG_MSG_HEALTH, NULL, 0, &r, NULL, &e) &&
              gg_decode_health_ok(r.data, r.len, &h, &e) == 0;
    if (ok)
        printf("{\"state\": \"%s\", \"queue\": %u, \"connections\": %u, \"uptime_ms\": %llu}\n",
               h.state ? "stopping" : "ready", h.queue, h.connections, (unsigned long long)h.uptime_ms);
    else fprintf(stderr, "ggembed client: %s\n", e.msg);
    gg_buf_free(&r);
    return ok ? 0 : 1;
}

static int do_stats(gg_client *c) {
    gg_buf r = {0};
    gg_err e;
    if (!gg_client_call(c, GG_MSG_STATS, NULL, 0, &r, NULL, &e)) {
        fprintf(stderr, "ggembed client: %s\n", e.msg);
        gg_buf_free(&r);
        return 1;
    }
    gg_rd rd;
    gg_rd_init(&rd, r.data, r.len);
    uint32_t n = gg_rd_u32(&rd);
    printf("{");
    for (uint32_t i = 0; i < n && !rd.bad; i++) {
        gg_str name = gg_rd_str(&rd);
        uint64_t v = gg_rd_u64(&rd);
        if (rd.bad) break;
        printf("%s", i ? ", " : "");
        cli_json_string(stdout, name.p, name.len);
        printf(": %llu", (unsigned long long)v);
    }
    printf("}\n");
    gg_buf_free(&r);
    return rd.bad ? 1 : 0;
}

static void print_vectors(const gg_embed_ok *ok, size_t first) {
    for (uint32_t i = 0; i < ok->n; i++) {
        gg_rd rd;
        gg_rd_init(&rd, ok->info + 8 * (size_t)i, 8);
        uint32_t tokens = gg_rd_u32(&rd), flags = gg_rd_u32(&rd);
        printf("{\"index\": %zu, \"tokens\": %u, \"truncated\": %s, \"embedding\": [", first + i,
               tokens, (flags & 1) ? "true" : "false");
        gg_rd_init(&rd, ok->vectors + 4 * (size_t)i * ok->dims, 4 * (size_t)ok->dims);
        for (uint32_t k = 0; k < ok->dims; k++) {
            if (k) printf(", ");
            cli_json_float(stdout, gg_rd_f32(&rd));
        }
        printf("]}\n");
    }
}

/* Embeds texts[0..n) in requests of at most max_texts; prints each answer. */
static int embed_texts(gg_client *c, gg_str *texts, size_t n) {
    size_t step = c->hello.max_texts ? c->hello.max_texts : 1;
    for (size_t first = 0; first < n; first += step) {
        gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, (uint32_t)GG_MIN(step, n - first), texts + first};
        gg_buf body = {0}, r = {0};
        gg_encode_embed(&body, &q);
        gg_err e;
        gg_embed_ok ok;
        bool good = gg_client_call(c, GG_MSG_EMBED, body.data, body.len, &r, NULL, &e) &&
                    gg_decode_embed_ok(r.data, r.len, &ok, &e) == 0;
        if (good) print_vectors(&ok, first);
        else fprintf(stderr, "ggembed client: %s\n", e.msg);
        gg_buf_free(&body);
        gg_buf_free(&r);
        if (!good) return 1;
    }
    return 0;
}

/* Reads one JSON string per line of stdin into texts (malloc'd copies). */
static bool read_jsonl(gg_str **texts, size_t *n) {
    size_t cap = 0, len = 0, line_cap = 0;
    char *line = NULL;
    int ch;
    for (bool eof = false; !eof;) {
        len = 0;
        while ((ch = getchar()) != EOF && ch != '\n') {
            if (len + 1 >= line_cap) line = realloc(line, line_cap = line_cap ? 2 * line_cap : 256);
            line[len++] = (char)ch;
        }
        eof = ch == EOF;
        if (len == 0) continue;
        char err[256];
        size_t out_len;
        char *s = cli_json_parse_string(line, len, &out_len, err, sizeof err);
        if (!s) {
            fprintf(stderr, "ggembed client: line %zu: %s\n", *n + 1, err);
            free(line);
            return false;
        }
        if (*n == cap) *texts = realloc(*texts, (cap = cap ? 2 * cap : 64) * sizeof **texts);
        (*texts)[(*n)++] = (gg_str){s, (uint32_t)out_len};
    }
    free(line);
    return true;
}

static int do_embed(gg_client *c, int argc, char **argv) {
    bool jsonl = argc > 0 && !strcmp(argv[0], "--jsonl");
    gg_str *texts = NULL;
    size_t n = 0;
    int rc = 1;
    if (jsonl) {
        if (read_jsonl(&texts, &n)) rc = embed_texts(c, texts, n);
        for (size_t i = 0; i < n; i++) free((char *)texts[i].p);
    } else {
        texts = calloc((size_t)argc + 1, sizeof *texts);
        for (int i = 0; i < argc; i++) texts[i] = (gg_str){argv[i], (uint32_t)strlen(argv[i])};
        rc = embed_texts(c, texts, (size_t)argc);
    }
    free(texts);
    return rc;
}

int cmd_client(int argc, char **argv) {
    const char *address = NULL;
    bool is_pipe = false;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "--socket")) address = argv[i + 1], is_pipe = false;
        else if (!strcmp(argv[i], "--pipe")) address = argv[i + 1], is_pipe = true;
        else break;
    }
    if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) return client_usage(stdout), 0;
    if (!address || i >= argc) return client_usage(stderr), 2;
    const char *cmd = argv[i++];
    if (strcmp(cmd, "health") && strcmp(cmd, "stats") && strcmp(cmd, "embed") && strcmp(cmd, "shutdown"))
        return fprintf(stderr, "ggembed client: unknown command '%s'\n", cmd), client_usage(stderr), 2;
    gg_err e;
    gg_client *c = gg_client_open(address, is_pipe, &e);
    if (!c) return fprintf(stderr, "ggembed client: %s\n", e.msg), 1;
    int rc;
    if (!strcmp(cmd, "health")) rc = do_health(c);
    else if (!strcmp(cmd, "stats")) rc = do_stats(c);
    else if (!strcmp(cmd, "embed")) rc = do_embed(c, argc - i, argv + i);
    else {
        gg_buf r = {0};
        rc = gg_client_call(c, GG_MSG_SHUTDOWN, NULL, 0, &r, NULL, &e) ? 0 : 1;
        if (rc) fprintf(stderr, "ggembed client: %s\n", e.msg);
        gg_buf_free(&r);
    }
    fflush(stdout);
    gg_client_close(c);
    return rc;
}
