/*
 * cmd_client.c - `ggembed client`: speak the protocol to a running server
 * from the command line, for debugging, scripts and the Windows tests.
 * `embed` prints the same JSON lines as `ggembed embed`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "embed_opts.h"
#include "server/client.h"
#include "texts.h"

static void client_usage(FILE *out) {
    fprintf(out, "usage: ggembed client (--socket PATH | --pipe NAME) COMMAND\n"
                 "  health                     print the server's state as JSON\n"
                 "  stats                      print the server's counters as JSON\n"
                 "  embed [options] [--] [TEXT...]\n"
                 "                             embed the TEXTs, or each line of standard input,\n"
                 "                             and print JSON lines as `ggembed embed` does\n"
                 "  shutdown                   ask the server to stop\n"
                 "embed options:\n");
    embed_opts_usage(out, EMBED_CLIENT);
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
        printf("{\"index\": %zu, \"tokens\": %u, \"truncated\": %s, \"embedding\": [", first + i, tokens,
               (flags & 1) ? "true" : "false");
        gg_rd_init(&rd, ok->vectors + 4 * (size_t)i * ok->dims, 4 * (size_t)ok->dims);
        for (uint32_t k = 0; k < ok->dims; k++) {
            if (k) printf(", ");
            cli_json_float(stdout, gg_rd_f32(&rd));
        }
        printf("]}\n");
    }
}

/* Sends texts[0..n) (the ones from index `first` on) as one EMBED and
 * prints the answer; false after a message. */
static bool embed_group(gg_client *c, const gg_embed_req *opts, gg_str *texts, size_t n, size_t first) {
    gg_embed_req q = *opts;
    q.n = (uint32_t)n;
    q.texts = texts;
    gg_buf body = {0}, r = {0};
    gg_encode_embed(&body, &q);
    gg_err e;
    gg_embed_ok ok;
    bool good = !body.oom && gg_client_call(c, GG_MSG_EMBED, body.data, body.len, &r, NULL, &e) &&
                gg_decode_embed_ok(r.data, r.len, &ok, &e) == 0;
    if (good) print_vectors(&ok, first);
    else fprintf(stderr, "ggembed client: %s\n", body.oom ? "out of memory" : e.msg);
    gg_buf_free(&body);
    gg_buf_free(&r);
    fflush(stdout);
    return good;
}

/* Embeds the texts of src in requests the server takes: at most max_texts
 * texts and max_message bytes each. */
static int embed_texts(gg_client *c, const gg_embed_req *opts, text_source *src) {
    size_t max_n = c->hello.max_texts ? c->hello.max_texts : 1;
    size_t max_bytes = c->hello.max_message ? c->hello.max_message : GG_DEFAULT_MAX_MESSAGE;
    size_t fixed = 24 + opts->prefix.len, n = 0, bytes = fixed, first = 0;
    gg_str *texts = calloc(max_n, sizeof *texts);
    int rc = texts ? 0 : 1, got = 0;
    char *t;
    size_t len;
    while (rc == 0 && (got = text_next(src, &t, &len)) > 0) {
        if (n > 0 && (n == max_n || bytes + 4 + len > max_bytes)) {
            if (!embed_group(c, opts, texts, n, first)) rc = 1;
            for (size_t i = 0; i < n; i++) free((char *)texts[i].p);
            first += n, n = 0, bytes = fixed;
        }
        char *copy = malloc(len + 1);
        if (!copy) {
            rc = 1;
            break;
        }
        memcpy(copy, t, len);
        texts[n++] = (gg_str){copy, (uint32_t)len};
        bytes += 4 + len;
    }
    if (got < 0) rc = 1;
    if (rc == 0 && n > 0 && !embed_group(c, opts, texts, n, first)) rc = 1;
    for (size_t i = 0; i < n; i++) free((char *)texts[i].p);
    free(texts);
    return rc;
}

/* The texts of argv[first..argc), or stdin, with options o. */
static int do_embed(gg_client *c, const embed_opts *o, int first, int argc, char **argv) {
    gg_embed_req q = {0};
    q.pooling = (int8_t)o->pooling;
    q.normalize = o->no_normalize ? 0 : -1;
    q.truncate = o->no_truncate ? 0 : 1;
    q.dims = (uint32_t)o->dims;
    q.prefix = (gg_str){o->prefix ? o->prefix : "", o->prefix ? (uint32_t)strlen(o->prefix) : 0};
    text_source src = {0};
    src.jsonl = o->jsonl;
    if (first < argc) src.argv = argv + first, src.argc = argc - first;
    int rc = embed_texts(c, &q, &src);
    text_source_close(&src);
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
    if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")))
        return client_usage(stdout), 0;
    if (!address || i >= argc) return client_usage(stderr), 2;
    const char *cmd = argv[i++];
    if (strcmp(cmd, "health") && strcmp(cmd, "stats") && strcmp(cmd, "embed") && strcmp(cmd, "shutdown"))
        return fprintf(stderr, "ggembed client: unknown command '%s'\n", cmd), client_usage(stderr), 2;
    /* The options of embed are checked before the server is asked anything. */
    embed_opts eo;
    int first = 0;
    if (!strcmp(cmd, "embed")) {
        for (int k = i; k < argc && strcmp(argv[k], "--"); k++)
            if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) return client_usage(stdout), 0;
        first = embed_opts_parse("ggembed client embed", EMBED_CLIENT, argc - i, argv + i, &eo);
        if (first < 0) return 2;
    }
    gg_err e;
    gg_client *c = gg_client_open(address, is_pipe, &e);
    if (!c) return fprintf(stderr, "ggembed client: %s\n", e.msg), 1;
    int rc;
    if (!strcmp(cmd, "health")) rc = do_health(c);
    else if (!strcmp(cmd, "stats")) rc = do_stats(c);
    else if (!strcmp(cmd, "embed")) rc = do_embed(c, &eo, first, argc - i, argv + i);
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
