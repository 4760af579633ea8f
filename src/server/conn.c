/*
 * conn.c - one client connection of the server: a reader thread that
 * assembles requests and handles them (or queues them for the engine), and
 * a writer thread that drains the connection's queue of encoded answers.
 * The split keeps the engine from ever blocking on a client: it only
 * appends to a queue. A client that does not read its answers fills its
 * queue, and its reader then stops taking requests from it.
 *
 * Every byte a connection holds for requests and answers is charged to
 * the server's budget (srv.mem): its fixed cost when it is admitted, the
 * message being read when a frame header announces it (gg_reader), a
 * request's copy and room for its answer when it is taken (make_job, the
 * TOKENIZE handler), and each queued answer until it is written.
 */
#include "server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t out_chunk_cost(const out_chunk *o) { return sizeof *o + o->len; }

static void out_chunk_free(srv *s, out_chunk *o) {
    gg_budget_release(&s->mem, out_chunk_cost(o));
    free(o);
}

static void conn_free(srv_conn *c) {
    out_chunk *o = c->out_head;
    while (o) {
        out_chunk *next = o->next;
        out_chunk_free(c->s, o);
        o = next;
    }
    gg_conn_close(c->io);
    gg_cond_free(c->cv);
    gg_budget_release(&c->s->mem, c->held);
    free(c);
}

void srv_conn_ref_locked(srv_conn *c) {
    assert(gg_mutex_held(c->s->mu));
    c->refs++;
}

/* A finished connection nobody refers to any more gives its descriptor
 * back at once, not when it is reaped (that waits for the next client,
 * which may need the descriptor). */
static void release_io_locked(srv_conn *c) {
    assert(gg_mutex_held(c->s->mu));
    if (c->refs > 0 || !c->finished || !c->io) return;
    gg_conn_close(c->io);
    c->io = NULL;
}

void srv_conn_unref_locked(srv_conn *c) {
    assert(gg_mutex_held(c->s->mu));
    c->refs--;
    release_io_locked(c);
    gg_cond_broadcast(c->s->cv);
}

static void drop_output_locked(srv_conn *c) {
    assert(gg_mutex_held(c->s->mu));
    out_chunk *o = c->out_head;
    while (o) {
        out_chunk *next = o->next;
        out_chunk_free(c->s, o);
        o = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

/* An answer is charged whatever the budget says: the work it answers was
 * admitted, with room for it, and a client must hear. */
out_chunk *srv_frame(srv *s, uint8_t type, uint32_t id, const uint8_t *body, size_t len) {
    size_t n = gg_frames_size(len, s->cfg.max_frame);
    out_chunk *o = malloc(sizeof *o + n);
    if (o) {
        o->next = NULL;
        o->len = n;
        gg_frames_write(o->data, type, id, body, len, s->cfg.max_frame);
        gg_budget_reserve(&s->mem, out_chunk_cost(o), true);
    }
    return o;
}

void srv_frame_free(srv *s, out_chunk *o) {
    if (o) out_chunk_free(s, o);
}

out_chunk *srv_frame_error(srv *s, uint32_t id, int code, const char *msg) {
    gg_buf b = {0};
    gg_encode_error(&b, (uint16_t)code, msg);
    out_chunk *o = b.oom ? NULL : srv_frame(s, GG_MSG_ERROR, id, b.data, b.len);
    gg_buf_free(&b);
    return o;
}

void srv_queue_locked(srv_conn *c, uint8_t type, out_chunk *o) {
    srv *s = c->s;
    assert(gg_mutex_held(s->mu));
    if (type == GG_MSG_ERROR) s->st.errors++;
    if (!o || c->write_dead) {
        /* Out of memory: the client loses this answer; better than the server. */
        if (o) out_chunk_free(s, o);
        else c->write_dead = true, gg_conn_shutdown(c->io);
    } else {
        if (c->out_tail) c->out_tail->next = o;
        else c->out_head = o;
        c->out_tail = o;
        c->out_bytes += o->len;
    }
    gg_cond_broadcast(c->cv);
}

void srv_send(srv_conn *c, uint8_t type, uint32_t id, const uint8_t *body, size_t len) {
    out_chunk *o = srv_frame(c->s, type, id, body, len);
    gg_mutex_lock(c->s->mu);
    srv_queue_locked(c, type, o);
    gg_mutex_unlock(c->s->mu);
}

void srv_send_error(srv_conn *c, uint32_t id, int code, const char *msg) {
    out_chunk *o = srv_frame_error(c->s, id, code, msg);
    gg_mutex_lock(c->s->mu);
    srv_queue_locked(c, GG_MSG_ERROR, o);
    gg_mutex_unlock(c->s->mu);
}

void srv_conn_close_locked(srv_conn *c) {
    assert(gg_mutex_held(c->s->mu));
    c->closing = true;
    gg_cond_broadcast(c->cv);
}

void srv_conn_force_locked(srv_conn *c) {
    assert(gg_mutex_held(c->s->mu));
    c->write_dead = true;
    drop_output_locked(c);
    gg_conn_shutdown(c->io);
    gg_cond_broadcast(c->cv);
}

static void writer_main(void *arg) {
    srv_conn *c = arg;
    srv *s = c->s;
    gg_mutex_lock(s->mu);
    for (;;) {
        while (!c->out_head && !c->write_dead && !((c->read_done || c->closing) && c->inflight == 0))
            gg_cond_wait(c->cv, s->mu);
        out_chunk *o = c->out_head;
        if (!o || c->write_dead) break;
        c->out_head = o->next;
        if (!c->out_head) c->out_tail = NULL;
        gg_mutex_unlock(s->mu);
        bool ok = gg_conn_write(c->io, o->data, o->len);
        gg_mutex_lock(s->mu);
        c->out_bytes -= o->len;
        out_chunk_free(s, o);
        if (!ok) {
            c->write_dead = true;
            drop_output_locked(c);
        }
        gg_cond_broadcast(c->cv);
    }
    gg_mutex_unlock(s->mu);
    gg_conn_shutdown(c->io); /* wakes the reader if it still waits */
}

/* ---- requests ---- */

static void handle_hello(srv_conn *c, const gg_message *m) {
    srv *s = c->s;
    gg_hello_req h;
    gg_err e;
    int rc = gg_decode_hello(m->body, m->len, &h, &e);
    if (rc) return srv_send_error(c, m->id, rc, e.msg);
    if (h.min_version > GG_PROTO_VERSION || h.max_version < GG_PROTO_VERSION)
        return srv_send_error(c, m->id, GG_PE_VERSION, "this server speaks protocol version 1 only");
    const ggembed_info *in = s->info;
    gg_hello_ok ok = {GG_PROTO_VERSION,
                      {"ggembed " GGEMBED_VERSION, (uint32_t)strlen("ggembed " GGEMBED_VERSION)},
                      {in->arch, (uint32_t)strlen(in->arch)},
                      {in->name, (uint32_t)strlen(in->name)},
                      (uint32_t)in->n_embd,
                      (uint32_t)in->n_ctx,
                      s->cfg.max_texts,
                      s->cfg.max_frame,
                      s->cfg.max_message,
                      s->cfg.max_queue,
                      (int8_t)in->pooling,
                      1,
                      (uint8_t)(in->has_weights ? 1 : 0)};
    gg_buf b = {0};
    gg_encode_hello_ok(&b, &ok);
    gg_mutex_lock(s->mu);
    c->hello = true;
    gg_mutex_unlock(s->mu);
    srv_send(c, GG_MSG_REPLY | GG_MSG_HELLO, m->id, b.data, b.len);
    gg_buf_free(&b);
}

#define MEMORY_BUSY "the server holds as many requests as its memory limit allows; try later"

/* Charges n bytes to the server's budget, or counts a refusal. */
static bool reserve(srv *s, size_t n) {
    if (gg_budget_reserve(&s->mem, n, false)) return true;
    gg_mutex_lock(s->mu);
    s->st.memory_busy++;
    gg_mutex_unlock(s->mu);
    return false;
}

/* Builds a job of kind k that owns a copy of the body its strings point
 * into; the job holds what it costs (job_free gives it back), or BUSY. */
static job *make_job(srv_conn *c, const job_kind *k, const gg_message *m, gg_err *e, int *code) {
    srv *s = c->s;
    size_t base = sizeof(job) + m->len;
    if (!reserve(s, base)) {
        *code = GG_PE_BUSY;
        gg_fail(e, MEMORY_BUSY);
        return NULL;
    }
    job *j = calloc(1, sizeof *j);
    if (!j || !(j->body = malloc(m->len ? m->len : 1))) {
        free(j);
        gg_budget_release(&s->mem, base);
        *code = GG_PE_INTERNAL;
        gg_fail_kind(e, GG_E_MEMORY, "out of memory");
        return NULL;
    }
    j->budget = &s->mem;
    j->held = base;
    memcpy(j->body, m->body, m->len);
    *code = k->decode(s, j, m->len, e);
    if (!*code) j->kind = k; /* decoded: job_free frees its lists */
    if (!*code) {
        size_t extra = k->extra_cost(s, j);
        if (reserve(s, extra)) j->held += extra;
        else *code = GG_PE_BUSY, gg_fail(e, MEMORY_BUSY);
    }
    if (!*code) *code = k->check(s, j, e);
    if (!*code && !s->info->has_weights)
        *code = GG_PE_NO_WEIGHTS, gg_fail(e, "the model has a vocabulary only");
    if (*code) {
        job_free(j);
        return NULL;
    }
    j->c = c;
    j->id = m->id;
    j->t_recv = gg_now_ns();
    j->deadline = j->deadline_ms ? j->t_recv + (int64_t)j->deadline_ms * 1000000 : 0;
    return j;
}

/* EMBED and RERANK: decoded, charged and queued for the engine. */
static void handle_engine_request(srv_conn *c, const job_kind *k, const gg_message *m) {
    gg_err e;
    int code;
    job *j = make_job(c, k, m, &e, &code);
    if (!j) return srv_send_error(c, m->id, code, e.msg);
    const char *poison = c->s->cfg.poison;
    if (poison && k->contains(j, poison, strlen(poison))) _Exit(3); /* test-only */
    sched_submit(c->s, j);
}

static void handle_tokenize(srv_conn *c, const gg_message *m) {
    gg_tokenize_req t;
    gg_err e;
    int rc = gg_decode_tokenize(m->body, m->len, &t, &e);
    if (rc) return srv_send_error(c, m->id, rc, e.msg);
    size_t cap = t.text.len + 16, n = 0;
    /* the ids, and their encoding (which may grow to twice its size) */
    size_t cost = 12 * (cap + 1);
    if (!reserve(c->s, cost)) return srv_send_error(c, m->id, GG_PE_BUSY, MEMORY_BUSY);
    gg_buf b = {0};
    for (int attempt = 0; attempt < 2; attempt++) {
        gg_buf_free(&b);
        gg_buf_u32(&b, 0);
        gg_buf_zero(&b, cap * 4);
        int32_t *ids = malloc(cap * sizeof *ids);
        char err[GGEMBED_ERR_LEN];
        ggembed_status st = ids ? ggembed_tokenize(c->s->model, t.text.p, t.text.len, t.add_special, ids,
                                                   cap, &n, err, sizeof err)
                                : GGEMBED_E_MEMORY;
        if (st != GGEMBED_OK || b.oom) {
            free(ids);
            gg_buf_free(&b);
            gg_budget_release(&c->s->mem, cost);
            if (st == GGEMBED_E_MODEL_CHANGED) {
                srv_send_error(c, m->id, GG_PE_MODEL_CHANGED, err);
                return srv_model_changed(c->s, err);
            }
            return srv_send_error(c, m->id, GG_PE_INTERNAL, ids ? err : "out of memory");
        }
        if (n <= cap) {
            b.len = 0;
            gg_buf_u32(&b, (uint32_t)n);
            for (size_t i = 0; i < n; i++) gg_buf_u32(&b, (uint32_t)ids[i]);
            free(ids);
            break;
        }
        free(ids);
        cap = n;
    }
    srv_send(c, GG_MSG_REPLY | GG_MSG_TOKENIZE, m->id, b.data, b.len);
    gg_buf_free(&b);
    gg_budget_release(&c->s->mem, cost);
}

static void handle_cancel(srv_conn *c, const gg_message *m) {
    uint32_t target;
    gg_err e;
    int rc = gg_decode_cancel(m->body, m->len, &target, &e);
    if (rc) return srv_send_error(c, m->id, rc, e.msg);
    uint8_t body[4] = {(uint8_t)sched_cancel(c->s, c, target), 0, 0, 0};
    srv_send(c, GG_MSG_REPLY | GG_MSG_CANCEL, m->id, body, sizeof body);
}

static void handle(srv_conn *c, const gg_message *m) {
    srv *s = c->s;
    gg_err e;
    gg_mutex_lock(s->mu);
    s->st.requests++;
    bool hello = c->hello;
    gg_mutex_unlock(s->mu);
    if (m->id == 0) return srv_send_error(c, 0, GG_PE_BAD_REQUEST, "request id 0 is reserved");
    if (m->type == GG_MSG_HELLO) return handle_hello(c, m);
    if (m->type < GG_MSG_HELLO || m->type > GG_MSG_LAST_REQUEST)
        return srv_send_error(c, m->id, GG_PE_UNKNOWN_TYPE, "unknown message type");
    if (!hello) return srv_send_error(c, m->id, GG_PE_NO_HELLO, "send HELLO first");
    const job_kind *k = sched_job_kind(m->type);
    if (k) return handle_engine_request(c, k, m);
    if (m->type != GG_MSG_TOKENIZE && m->type != GG_MSG_CANCEL && gg_decode_empty(m->body, m->len, &e))
        return srv_send_error(c, m->id, GG_PE_BAD_REQUEST, e.msg);
    switch (m->type) {
    case GG_MSG_TOKENIZE: return handle_tokenize(c, m);
    case GG_MSG_HEALTH: return srv_answer_health(s, c, m->id);
    case GG_MSG_STATS: return srv_answer_stats(s, c, m->id);
    case GG_MSG_CANCEL: return handle_cancel(c, m);
    case GG_MSG_SHUTDOWN:
        srv_send(c, GG_MSG_REPLY | GG_MSG_SHUTDOWN, m->id, NULL, 0);
        return gg_server_stop(s);
    }
}

/* Why a reader stopped reading. */
typedef enum conn_end { END_EOF, END_ERROR, END_WRITE, END_MALFORMED, END_IDLE } conn_end;

/* Handles every message in data; false when the stream is broken. *ended
 * counts the messages that ended (handled, refused or dropped). */
static bool consume(srv_conn *c, gg_reader *r, const uint8_t *data, size_t n, int *ended) {
    while (n > 0) {
        size_t used;
        gg_message m;
        int rc = gg_reader_feed(r, data, n, &used, &m);
        data += used, n -= used;
        if (rc == GG_READ_MALFORMED) {
            srv_send_error(c, 0, GG_PE_MALFORMED, "malformed frame header; closing");
            return false;
        }
        if (rc == GG_READ_TOO_LARGE)
            srv_send_error(c, m.id, GG_PE_TOO_LARGE, "request over max_message");
        if (rc == GG_READ_BUSY) {
            gg_mutex_lock(c->s->mu);
            c->s->st.memory_busy++;
            gg_mutex_unlock(c->s->mu);
            srv_send_error(c, m.id, GG_PE_BUSY, MEMORY_BUSY);
        }
        if (rc == GG_READ_MESSAGE) handle(c, &m);
        if (rc != GG_READ_MORE) (*ended)++;
    }
    return true;
}

/* Reads and handles requests until the stream ends, breaks or stalls: a
 * started message whose rest keeps the reader waiting longer than the
 * idle timeout (in total: time the server itself spends not reading does
 * not count) gets the connection closed. */
static conn_end read_requests(srv_conn *c, gg_reader *r, uint8_t *buf) {
    srv *s = c->s;
    int64_t waited_ns = 0, limit_ns = s->cfg.idle_timeout_ms * 1000000;
    for (;;) {
        gg_mutex_lock(s->mu);
        while (c->out_bytes > SRV_OUT_SOFT_LIMIT && !c->write_dead && !c->closing)
            gg_cond_wait(c->cv, s->mu);
        bool dead = c->write_dead;
        gg_mutex_unlock(s->mu);
        if (dead) return END_WRITE;
        bool partial = gg_reader_partial(r) && limit_ns > 0;
        int64_t t0 = gg_now_ns();
        long n = gg_conn_read_within(c->io, buf, SRV_READ_CHUNK,
                                     partial ? GG_MAX(limit_ns - waited_ns, 0) / 1000000 : -1);
        if (partial) waited_ns += gg_now_ns() - t0;
        if (n == GG_CONN_TIMEOUT) {
            char msg[128];
            snprintf(msg, sizeof msg, "no complete message within %lld s (idle timeout); closing",
                     (long long)(s->cfg.idle_timeout_ms / 1000));
            srv_send_error(c, 0, GG_PE_TIMEOUT, msg);
            return END_IDLE;
        }
        if (n <= 0) return n == 0 ? END_EOF : END_ERROR;
        int ended = 0;
        if (!consume(c, r, buf, (size_t)n, &ended)) return END_MALFORMED;
        if (ended) waited_ns = 0; /* the clock is per message */
    }
}

/* The stdio connection is the server's only client: its end stops the
 * server, and an end other than end of input is a failure. */
static void stdio_ended(srv *s, conn_end why) {
    gg_mutex_lock(s->mu);
    bool stopping = s->stopping;
    gg_mutex_unlock(s->mu);
    if (why == END_EOF || stopping) return gg_server_stop(s);
    srv_fail(s, "standard input: %s",
             why == END_MALFORMED ? "malformed frame header"
             : why == END_IDLE    ? "a message stayed incomplete past the idle timeout"
             : why == END_WRITE   ? "standard output failed"
                                  : "read error");
}

static void reader_main(void *arg) {
    srv_conn *c = arg;
    srv *s = c->s;
    gg_reader r;
    gg_reader_init(&r, s->cfg.max_frame, s->cfg.max_message);
    r.budget = &s->mem;
    uint8_t *buf = malloc(SRV_READ_CHUNK);
    conn_end why = buf ? read_requests(c, &r, buf) : END_ERROR;
    free(buf);
    gg_reader_free(&r);
    sched_cancel_conn(s, c);
    gg_mutex_lock(s->mu);
    c->read_done = true;
    gg_cond_broadcast(c->cv);
    gg_mutex_unlock(s->mu);
    if (s->is_stdio) stdio_ended(s, why);
    else if (why == END_IDLE)
        fprintf(stderr,
                "ggembed: closed a connection: a message stayed incomplete past the idle timeout\n");
    gg_thread_join(c->writer);
    gg_mutex_lock(s->mu);
    srv_conn **p = &s->conns;
    while (*p && *p != c) p = &(*p)->next;
    if (*p) *p = c->next;
    c->next = s->zombies;
    s->zombies = c;
    s->n_conns--;
    c->finished = true;
    c->refs--;
    release_io_locked(c);
    gg_cond_broadcast(s->cv);
    gg_mutex_unlock(s->mu);
}

/* Sends a client ERROR BUSY (id 0) and closes it, and says so in the log. */
static void refuse(srv *s, gg_conn *io, const char *why) {
    gg_buf b = {0}, frames = {0};
    gg_encode_error(&b, GG_PE_BUSY, why);
    gg_frames_put(&frames, GG_MSG_ERROR, 0, b.data, b.len, GG_FRAME_MIN_MAX);
    gg_conn_refuse(io, frames.data, frames.oom ? 0 : frames.len);
    gg_buf_free(&b);
    gg_buf_free(&frames);
    gg_mutex_lock(s->mu);
    s->st.conns_refused++;
    gg_mutex_unlock(s->mu);
    fprintf(stderr, "ggembed: refused a connection: %s\n", why);
}

void srv_conn_admit(srv *s, gg_conn *io) {
    char why[GG_ERR_MAX + 64];
    gg_mutex_lock(s->mu);
    uint32_t open = s->n_conns;
    gg_mutex_unlock(s->mu);
    if (open >= s->cfg.max_conns) {
        snprintf(why, sizeof why,
                 "the server has %u connections open, its limit (--max-connections); try later", open);
        return refuse(s, io, why);
    }
    if (!gg_budget_reserve(&s->mem, SRV_CONN_COST, false))
        return refuse(s, io, "the server holds as much as its memory limit allows; try later");
    srv_conn *c = calloc(1, sizeof *c);
    gg_err e;
    if (!c || !(c->cv = gg_cond_new())) {
        free(c);
        gg_budget_release(&s->mem, SRV_CONN_COST);
        return refuse(s, io, "the server is out of memory; try later");
    }
    c->s = s;
    c->io = io;
    c->refs = 1;
    c->held = SRV_CONN_COST;
    c->writer = gg_thread_start(writer_main, c, &e);
    if (!c->writer) {
        c->io = NULL;
        conn_free(c);
        snprintf(why, sizeof why, "%s; try later", e.msg);
        return refuse(s, io, why);
    }
    gg_mutex_lock(s->mu);
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
    gg_mutex_unlock(s->mu);
    c->reader = gg_thread_start(reader_main, c, &e);
    if (!c->reader) {
        /* Wind down as a reader would, on this thread: its read fails at once. */
        fprintf(stderr, "ggembed: closed a connection: %s\n", e.msg);
        gg_conn_shutdown(io);
        reader_main(c);
    }
}

/* Joins finished connections; with all, waits for every one. */
void srv_reap(srv *s, bool all) {
    gg_mutex_lock(s->mu);
    for (;;) {
        srv_conn *z = s->zombies, *keep = NULL;
        s->zombies = NULL;
        while (z) {
            srv_conn *next = z->next;
            if (z->refs == 0) {
                gg_mutex_unlock(s->mu);
                if (z->reader) gg_thread_join(z->reader);
                conn_free(z);
                gg_mutex_lock(s->mu);
            } else {
                z->next = keep;
                keep = z;
            }
            z = next;
        }
        /* Readers may have added zombies while the lock was dropped. */
        while (keep) {
            srv_conn *next = keep->next;
            keep->next = s->zombies;
            s->zombies = keep;
            keep = next;
        }
        if (!all || (!s->zombies && !s->conns)) break;
        gg_cond_timedwait(s->cv, s->mu, 100 * 1000000LL);
    }
    gg_mutex_unlock(s->mu);
}
