/*
 * serve.c - the server's life: start the engine thread, accept
 * connections until told to stop, then drain: finish every queued request,
 * let every connection flush its answers, and join all threads. Also the
 * answers that never wait for the engine (HEALTH, STATS) and the counters
 * behind them.
 */
#include "server.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gg_server_stop(srv *s) {
    gg_mutex_lock(s->mu);
    bool first = !s->stopping;
    s->stopping = true;
    gg_cond_broadcast(s->cv);
    gg_cond_broadcast(s->deadline_cv);
    gg_mutex_unlock(s->mu);
    if (first) {
        fprintf(stderr, "ggembed: stopping\n");
        gg_listener_stop(s->listener);
    }
}

void srv_fail(srv *s, const char *fmt, ...) {
    gg_mutex_lock(s->mu);
    bool first = !s->failed;
    if (first) {
        va_list ap;
        va_start(ap, fmt);
        gg_vfail(&s->failure, GG_E_IO, fmt, ap); /* the listener or standard input broke */
        va_end(ap);
        s->failed = true;
    }
    gg_mutex_unlock(s->mu);
    gg_server_stop(s);
}

void srv_model_changed(srv *s, const char *why) {
    gg_mutex_lock(s->mu);
    bool first = !s->model_changed;
    s->model_changed = true;
    gg_mutex_unlock(s->mu);
    if (first) fprintf(stderr, "ggembed: error: %s (answering MODEL_CHANGED, exit status 4)\n", why);
    gg_server_stop(s);
}

void srv_stats_latency_locked(srv *s, int64_t ns) {
    assert(gg_mutex_held(s->mu));
    srv_stats *st = &s->st;
    st->lat[st->lat_next] = (uint32_t)GG_MIN(ns / 1000, (int64_t)UINT32_MAX);
    st->lat_next = (st->lat_next + 1) % GG_ARRAY_LEN(st->lat);
    if (st->lat_n < GG_ARRAY_LEN(st->lat)) st->lat_n++;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static uint64_t percentile(const uint32_t *v, uint32_t n, int p) {
    if (n == 0) return 0;
    uint32_t rank = (uint32_t)(((uint64_t)p * n + 99) / 100);
    return v[rank ? rank - 1 : 0];
}

static void stat(gg_buf *b, uint32_t *count, const char *name, uint64_t v) {
    gg_buf_str(b, name, strlen(name));
    gg_buf_u64(b, v);
    (*count)++;
}

void srv_answer_stats(srv *s, srv_conn *c, uint32_t id) {
    srv_stats st;
    uint32_t queue, conns;
    gg_mutex_lock(s->mu);
    st = s->st;
    queue = s->depth;
    conns = s->n_conns;
    gg_mutex_unlock(s->mu);
    qsort(st.lat, st.lat_n, sizeof st.lat[0], cmp_u32);
    gg_mem_usage mem;
    gg_mem_usage_get(&mem);
    gg_buf b = {0};
    uint32_t n = 0;
    gg_buf_u32(&b, 0);
    stat(&b, &n, "requests", st.requests);
    stat(&b, &n, "embed_requests", st.embed_requests);
    stat(&b, &n, "texts", st.texts);
    stat(&b, &n, "tokens", st.tokens);
    stat(&b, &n, "errors", st.errors);
    stat(&b, &n, "busy", st.busy);
    stat(&b, &n, "timeouts", st.timeouts);
    stat(&b, &n, "cancelled", st.cancelled);
    stat(&b, &n, "batches", st.batches);
    stat(&b, &n, "queue", queue);
    stat(&b, &n, "max_queue", s->cfg.max_queue);
    stat(&b, &n, "connections", conns);
    stat(&b, &n, "latency_p50_us", percentile(st.lat, st.lat_n, 50));
    stat(&b, &n, "latency_p90_us", percentile(st.lat, st.lat_n, 90));
    stat(&b, &n, "latency_p99_us", percentile(st.lat, st.lat_n, 99));
    stat(&b, &n, "latency_max_us", st.lat_n ? st.lat[st.lat_n - 1] : 0);
    stat(&b, &n, "rss_anon", mem.rss_anon);
    stat(&b, &n, "rss_file", mem.rss_file);
    stat(&b, &n, "uptime_ms", (uint64_t)((gg_now_ns() - s->t_start) / 1000000));
    stat(&b, &n, "max_connections", s->cfg.max_conns);
    stat(&b, &n, "connections_refused", st.conns_refused);
    stat(&b, &n, "memory_busy", st.memory_busy);
    stat(&b, &n, "memory_held", atomic_load(&s->mem.used));
    stat(&b, &n, "memory_peak", atomic_load(&s->mem.peak));
    stat(&b, &n, "memory_limit", s->mem.limit);
    stat(&b, &n, "rerank_requests", st.rerank_requests);
    stat(&b, &n, "pairs", st.pairs);
    if (!b.oom) b.data[0] = (uint8_t)n; /* fewer than 256 pairs */
    srv_send(c, GG_MSG_REPLY | GG_MSG_STATS, id, b.data, b.len);
    gg_buf_free(&b);
}

void srv_answer_health(srv *s, srv_conn *c, uint32_t id) {
    gg_health_ok h;
    gg_mutex_lock(s->mu);
    h.state = s->stopping ? 1 : 0;
    h.queue = s->depth;
    h.connections = s->n_conns;
    gg_mutex_unlock(s->mu);
    h.uptime_ms = (uint64_t)((gg_now_ns() - s->t_start) / 1000000);
    gg_buf b = {0};
    gg_encode_health_ok(&b, &h);
    srv_send(c, GG_MSG_REPLY | GG_MSG_HEALTH, id, b.data, b.len);
    gg_buf_free(&b);
}

static void on_stop_signal(void *user) { gg_server_stop(user); }

/* After the engine has drained: every connection flushes and closes;
 * the ones that cannot within a few seconds are cut. */
static void close_connections(srv *s) {
    gg_mutex_lock(s->mu);
    for (srv_conn *c = s->conns; c; c = c->next) srv_conn_close_locked(c);
    int64_t give_up = gg_now_ns() + 5000000000LL;
    while (s->conns && gg_now_ns() < give_up) gg_cond_timedwait(s->cv, s->mu, 100000000LL);
    for (srv_conn *c = s->conns; c; c = c->next) srv_conn_force_locked(c);
    gg_mutex_unlock(s->mu);
    srv_reap(s, true);
}

/* Takes clients until the stop. A client that cannot be taken is turned
 * away and the loop goes on; only a listener that fails for good ends it,
 * as a failure. */
static void accept_loop(srv *s) {
    for (;;) {
        gg_err e;
        gg_conn *io = NULL;
        gg_accept_status st = gg_accept(s->listener, &io, &e);
        srv_reap(s, false);
        gg_mutex_lock(s->mu);
        bool stopping = s->stopping;
        gg_mutex_unlock(s->mu);
        switch (st) {
        case GG_ACCEPT_OK:
            if (stopping) return gg_conn_close(io);
            srv_conn_admit(s, io);
            break;
        case GG_ACCEPT_RETRY:
            if (stopping) return;
            gg_mutex_lock(s->mu);
            s->st.conns_refused++;
            gg_mutex_unlock(s->mu);
            fprintf(stderr, "ggembed: refused a connection: %s\n", e.msg);
            break;
        case GG_ACCEPT_STOPPED: return;
        case GG_ACCEPT_BROKEN:
            if (!stopping) srv_fail(s, "%s", e.msg);
            return;
        }
    }
}

/* What a client turned away by the transport itself hears. */
static void set_refusal(srv *s) {
    gg_buf b = {0}, frames = {0};
    gg_encode_error(&b, GG_PE_BUSY, "the server is out of file descriptors; try later");
    gg_frames_put(&frames, GG_MSG_ERROR, 0, b.data, b.len, GG_FRAME_MIN_MAX);
    if (!frames.oom) gg_listener_set_refusal(s->listener, frames.data, frames.len);
    gg_buf_free(&b);
    gg_buf_free(&frames);
}

int gg_server_run(ggembed_model *model, gg_listener *l, bool is_stdio, const gg_server_config *cfg,
                  gg_err *e) {
    srv *s = calloc(1, sizeof *s);
    if (!s) return gg_fail_kind(e, GG_E_MEMORY, "out of memory");
    s->model = model;
    s->info = ggembed_get_info(model);
    s->cfg = *cfg;
    s->listener = l;
    s->is_stdio = is_stdio;
    s->t_start = gg_now_ns();
    s->mem.limit = cfg->mem_limit;
    gg_heap_return_large_blocks();
    s->mu = gg_mutex_new();
    s->cv = gg_cond_new();
    s->deadline_cv = gg_cond_new();
    gg_thread *engine = s->mu && s->cv && s->deadline_cv ? gg_thread_start(sched_engine_main, s, e)
                                                         : NULL;
    gg_thread *deadlines = engine ? gg_thread_start(sched_deadline_main, s, e) : NULL;
    gg_stop_watch *watch = deadlines ? gg_stop_watch_start(on_stop_signal, s, e) : NULL;
    if (!watch) {
        if (engine) gg_server_stop(s), gg_thread_join(engine);
        if (deadlines) gg_thread_join(deadlines);
        if (s->mu) gg_mutex_free(s->mu);
        if (s->cv) gg_cond_free(s->cv);
        if (s->deadline_cv) gg_cond_free(s->deadline_cv);
        free(s);
        return -1;
    }
    set_refusal(s);
    if (cfg->ready_line) fprintf(stderr, "%s\n", cfg->ready_line);
    fflush(stderr);
    accept_loop(s);
    gg_thread_join(engine); /* returns once stopping and the queue is drained */
    gg_mutex_lock(s->mu);
    gg_cond_broadcast(s->deadline_cv); /* the deadline thread sees the queue empty */
    gg_mutex_unlock(s->mu);
    gg_thread_join(deadlines);
    close_connections(s);
    gg_stop_watch_end(watch);
    fprintf(stderr, "ggembed: stopped requests=%llu errors=%llu\n", (unsigned long long)s->st.requests,
            (unsigned long long)s->st.errors);
    int rc = s->model_changed ? GG_SERVER_MODEL_CHANGED : 0;
    if (s->failed) rc = gg_fail(e, "%s", s->failure.msg);
    gg_mutex_free(s->mu);
    gg_cond_free(s->cv);
    gg_cond_free(s->deadline_cv);
    free(s);
    return rc;
}
