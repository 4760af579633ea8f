/*
 * cmd_serve.c - `ggembed serve`: open a model and answer requests of the
 * protocol in docs/PROTOCOL.md over a Unix socket, a named pipe or stdio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ggembed.h"
#include "platform/platform.h"
#include "server/server.h"

static void serve_usage(FILE *out) {
    fprintf(out,
            "usage: ggembed serve -m MODEL (--socket PATH | --pipe NAME | --stdio) [options]\n"
            "  --socket PATH      Unix socket (its directory must be private: chmod 700)\n"
            "  --pipe NAME        Windows named pipe \\\\.\\pipe\\NAME\n"
            "  --stdio            one client: the parent, on stdin/stdout\n"
            "  --threads N        engine threads (default: all CPUs)\n"
            "  --max-queue N      EMBED requests waiting before BUSY (default 64)\n"
            "  --max-connections N  connections at once; a client beyond them gets BUSY and is\n"
            "                     closed (default: from the descriptor limit, at most %d)\n"
            "  --idle-timeout S   close a connection whose started message stays incomplete for\n"
            "                     S seconds of waiting (default 30; 0: never)\n"
            "  --max-memory MB    ceiling on the process's memory besides the mapped model: the\n"
            "                     model (working memory, tokenizer) first; the rest is the budget\n"
            "                     of requests and answers held (being read, queued, unwritten),\n"
            "                     past which new ones get BUSY (docs/PROTOCOL.md, section 6).\n"
            "                     Without it, the budget is %d MB\n"
            "  --max-texts N      texts per EMBED request (default 1024)\n"
            "  --max-frame BYTES  frame size limit, >= 4096 (default 65536)\n"
            "  --vocab-only       open a vocabulary-only file: TOKENIZE works, EMBED is refused\n"
            "Logs go to stderr; the line 'ggembed: ready ...' means requests are taken.\n"
            "Exit status: 0 stopped as asked; 1 error; 2 usage; 4 the model file changed or was\n"
            "truncated while serving (requests in flight were answered MODEL_CHANGED).\n"
            "Test-only environment (never in production):\n"
            "  GGEMBED_TEST_POISON=TEXT   exit(3) at once on an EMBED text containing TEXT\n"
            "  GGEMBED_TEST_DELAY_MS=N    sleep N ms before each engine batch\n"
            "Exit status: 0 after SHUTDOWN, SIGTERM/SIGINT or the end of --stdio input; 1 when\n"
            "it cannot start or stops abnormally (the reason is on stderr); 2 for a usage error.\n",
            GG_CONN_LIMIT_CAP, (int)(SRV_DEFAULT_MEM_LIMIT >> 20));
}

typedef struct serve_args {
    const char *model, *socket, *pipe;
    bool stdio, vocab_only;
    long threads, max_queue, max_memory, max_texts, max_frame, max_conns, idle_timeout;
} serve_args;

static int parse_args(int argc, char **argv, serve_args *a) {
    *a = (serve_args){.max_queue = 64,
                      .max_texts = 1024,
                      .max_frame = GG_DEFAULT_MAX_FRAME,
                      .max_conns = gg_conn_limit_default(),
                      .idle_timeout = 30};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) return serve_usage(stdout), 0;
        if (!strcmp(o, "--stdio") || !strcmp(o, "--vocab-only")) {
            *(o[2] == 's' ? &a->stdio : &a->vocab_only) = true;
            continue;
        }
        if (!v) return fprintf(stderr, "ggembed serve: %s needs a value\n", o), 2;
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "--socket")) a->socket = v;
        else if (!strcmp(o, "--pipe")) a->pipe = v;
        else if (!strcmp(o, "--threads")) ok = cli_parse_int(o, v, 0, 1024, &a->threads);
        else if (!strcmp(o, "--max-queue")) ok = cli_parse_int(o, v, 1, 1000000, &a->max_queue);
        else if (!strcmp(o, "--max-memory")) ok = cli_parse_int(o, v, 0, 1L << 30, &a->max_memory);
        else if (!strcmp(o, "--max-texts")) ok = cli_parse_int(o, v, 1, 1000000, &a->max_texts);
        else if (!strcmp(o, "--max-frame"))
            ok = cli_parse_int(o, v, GG_FRAME_MIN_MAX, 1L << 26, &a->max_frame);
        else if (!strcmp(o, "--max-connections")) ok = cli_parse_int(o, v, 1, 1000000, &a->max_conns);
        else if (!strcmp(o, "--idle-timeout")) ok = cli_parse_int(o, v, 0, 1000000, &a->idle_timeout);
        else return fprintf(stderr, "ggembed serve: unknown option '%s'\n", o), serve_usage(stderr), 2;
        if (!ok) return 2;
    }
    if (!a->model || (a->socket != NULL) + (a->pipe != NULL) + a->stdio != 1)
        return serve_usage(stderr), 2;
    return -1;
}

static ggembed_model *open_model(const serve_args *a) {
    ggembed_options opt;
    ggembed_options_default(&opt);
    opt.n_threads = (int)a->threads;
    opt.max_memory = (size_t)a->max_memory << 20;
    opt.vocab_only = a->vocab_only;
    char err[GGEMBED_ERR_LEN];
    int64_t t0 = gg_now_ns();
    ggembed_model *m = NULL;
    if (ggembed_open(a->model, &opt, &m, err, sizeof err) != GGEMBED_OK) {
        fprintf(stderr, "ggembed: error: %s\n", err);
        return NULL;
    }
    const ggembed_info *in = ggembed_get_info(m);
    fprintf(stderr,
            "ggembed: start model=%s arch=%s name=\"%s\" dims=%d context=%d layers=%d params=%llu "
            "threads=%d simd=%s working_memory=%zu load_ms=%.1f\n",
            a->model, in->arch, in->name, in->n_embd, in->n_ctx, in->n_layer,
            (unsigned long long)in->n_params, in->n_threads, in->simd, in->working_memory,
            (double)(gg_now_ns() - t0) / 1e6);
    return m;
}

/* The bytes requests and answers may hold: what --max-memory leaves after
 * the model's working memory, its tokenizer or the process as it is now
 * (whichever is more) and the allocator's slack, or the default. 0 (with a message) when that is
 * not even one connection with one largest message. */
static size_t request_memory(const serve_args *a, const ggembed_info *in, uint32_t max_message) {
    if (!a->max_memory) return SRV_DEFAULT_MEM_LIMIT;
    size_t ceiling = (size_t)a->max_memory << 20;
    gg_mem_usage now;
    gg_mem_usage_get(&now);
    /* and an allowance for what the allocator keeps beside what is charged
     * (per-thread arenas, small blocks), measured at about 1.5 MB */
    size_t model = in->working_memory + GG_MAX((size_t)now.rss_anon, in->tokenizer_memory) +
                   SRV_ALLOCATOR_SLACK;
    size_t need = SRV_CONN_COST + 2 * (size_t)max_message;
    if (ceiling > model && ceiling - model >= need) return ceiling - model;
    fprintf(stderr,
            "ggembed: error: --max-memory %ld is too small: the model takes %.1f MB (working memory, "
            "tokenizer, process) and requests need at least %.1f MB more; give at least %.0f\n",
            a->max_memory, model / 1048576.0, need / 1048576.0,
            (double)((model + need + (1u << 20) - 1) >> 20));
    return 0;
}

int cmd_serve(int argc, char **argv) {
    serve_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    ggembed_model *m = open_model(&a);
    if (!m) return 1;
    const ggembed_info *in = ggembed_get_info(m);
    size_t mem_limit = request_memory(&a, in, GG_DEFAULT_MAX_MESSAGE);
    if (!mem_limit) {
        ggembed_close(m);
        return 1;
    }
    gg_err e;
    gg_listener *l = a.socket ? gg_listen_unix(a.socket, &e)
                     : a.pipe ? gg_listen_pipe(a.pipe, &e)
                              : gg_listen_stdio(&e);
    if (!l) {
        fprintf(stderr, "ggembed: error: %s\n", e.msg);
        ggembed_close(m);
        return 1;
    }
    /* Truncating the mapped model faults; say so and leave no socket behind. */
    if (gg_fault_guard_install(CLI_EXIT_MODEL_CHANGED, a.socket, &e))
        fprintf(stderr, "ggembed: warning: %s\n", e.msg);
    char ready[1024];
    snprintf(ready, sizeof ready,
             "ggembed: ready transport=%s address=%s pid=%ld dims=%d context=%d max_connections=%ld "
             "request_memory=%zu",
             a.socket ? "socket"
             : a.pipe ? "pipe"
                      : "stdio",
             a.socket ? a.socket
             : a.pipe ? a.pipe
                      : "-",
             gg_process_id(), in->n_embd, in->n_ctx, a.max_conns, mem_limit);
    const char *delay = getenv("GGEMBED_TEST_DELAY_MS");
    gg_server_config cfg = {.max_frame = (uint32_t)a.max_frame,
                            .max_message = GG_DEFAULT_MAX_MESSAGE,
                            .max_texts = (uint32_t)a.max_texts,
                            .max_queue = (uint32_t)a.max_queue,
                            .max_conns = (uint32_t)a.max_conns,
                            .idle_timeout_ms = (int64_t)a.idle_timeout * 1000,
                            .mem_limit = mem_limit,
                            .poison = getenv("GGEMBED_TEST_POISON"),
                            .test_delay_ms = delay ? atoi(delay) : 0,
                            .ready_line = ready};
    if (cfg.poison && !*cfg.poison) cfg.poison = NULL;
    if (cfg.poison || cfg.test_delay_ms)
        fprintf(stderr, "ggembed: warning: test-only switches are set\n");
    rc = gg_server_run(m, l, a.stdio, &cfg, &e);
    if (rc < 0) fprintf(stderr, "ggembed: error: %s\n", e.msg);
    gg_listener_close(l);
    ggembed_close(m);
    return rc < 0                          ? CLI_EXIT_ERROR
           : rc == GG_SERVER_MODEL_CHANGED ? CLI_EXIT_MODEL_CHANGED
                                           : CLI_EXIT_OK;
}
