/*
 * conn.c - one client connection of the server: a reader thread that
 * assembles requests and handles them (or queues them for the engine), and
 * a writer thread that drains the connection's queue of encoded answers.
 * The split keeps the engine from ever blocking on a client: it only
 * appends to a queue. A client that does not read its answers fills its
 * queue, and its reader then stops taking requests from it.
 */
#include "server.h"

#include <stdlib.h>
#include <string.h>

static void conn_free(srv_conn *c) {
    out_chunk *o = c->out_head;
    while (o) {
        out_chunk *next = o->next;
        free(o);
        o = next;
    }
    gg_conn_close(c->io);
    gg_cond_free(c->cv);
    free(c);
}

void srv_conn_ref_locked(srv_conn *c) { c->refs++; }

void srv_conn_unref_locked(srv_conn *c) {
    c->refs--;
    gg_cond_broadcast(c->s->cv);
}

static void drop_output_locked(srv_conn *c) {
    out_chunk *o = c->out_head;
    while (o) {
        out_chunk *next = o->next;
        free(o);
        o = next;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

void srv_send(srv_conn *c, uint8_t type, uint32_t id, const uint8_t *body, size_t len) {
    srv *s = c->s;
    gg_buf frames = {0};
    gg_frames_put(&frames, type, id, body, len, s->cfg.max_frame);
    out_chunk *o = frames.oom ? NULL : malloc(sizeof *o + frames.len);
    if (o) {
        o->next = NULL;
        o->len = frames.len;
        memcpy(o->data, frames.data, frames.len);
    }
    gg_buf_free(&frames);
    gg_mutex_lock(s->mu);
    if (type == GG_MSG_ERROR) s->st.errors++;
    if (!o || c->write_dead) {
        /* Out of memory: the client loses this answer; better than the server. */
        free(o);
        if (!o) c->write_dead = true, gg_conn_shutdown(c->io);
    } else {
        if (c->out_tail) c->out_tail->next = o;
        else c->out_head = o;
        c->out_tail = o;
        c->out_bytes += o->len;
    }
    gg_cond_broadcast(c->cv);
    gg_mutex_unlock(s->mu);
}

void srv_send_error(srv_conn *c, uint32_t id, int code, const char *msg) {
    gg_buf b = {0};
    gg_encode_error(&b, (uint16_t)code, msg);
    srv_send(c, GG_MSG_ERROR, id, b.data, b.len);
    gg_buf_free(&b);
}

void srv_conn_close_locked(srv_conn *c) {
    c->closing = true;
    gg_cond_broadcast(c->cv);
}

void srv_conn_force_locked(srv_conn *c) {
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
        while (!c->out_head && !c->write_dead &&
               !((c->read_done || c->closing) && c->inflight == 0))
            gg_cond_wait(c->cv, s->mu);
        out_chunk *o = c->out_head;
        if (!o || c->write_dead) break;
        c->out_head = o->next;
        if (!c->out_head) c->out_tail = NULL;
        gg_mutex_unlock(s->mu);
        bool ok = gg_conn_write(c->io, o->data, o->len);
        gg_mutex_lock(s->mu);
        c->out_bytes -= o->len;
        free(o);
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

static bool contains(const gg_str *t, const char *needle, size_t n) {
    if (n == 0 || t->len < n) return false;
    for (size_t i = 0; i + n <= t->len; i++)
        if (!memcmp(t->p + i, needle, n)) return true;
    return false;
}

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
                      (uint32_t)in->n_embd, (uint32_t)in->n_ctx, s->cfg.max_texts,
                      s->cfg.max_frame, s->cfg.max_message, s->cfg.max_queue,
                      (int8_t)in->pooling, 1, (uint8_t)(in->has_weights ? 1 : 0)};
    gg_buf b = {0};
    gg_encode_hello_ok(&b, &ok);
    gg_mutex_lock(s->mu);
    c->hello = true;
    gg_mutex_unlock(s->mu);
    srv_send(c, GG_MSG_REPLY | GG_MSG_HELLO, m->id, b.data, b.len);
    gg_buf_free(&b);
}

/* Builds a job that owns a copy of the body its strings point into. */
static job *make_job(srv_conn *c, const gg_message *m, gg_err *e, int *code) {
    srv *s = c->s;
    job *j = calloc(1, sizeof *j);
    if (!j || !(j->body = malloc(m->len ? m->len : 1))) {
        free(j);
        *code = GG_PE_INTERNAL;
        gg_fail(e, "out of memory");
        return NULL;
    }
    memcpy(j->body, m->body, m->len);
    *code = gg_decode_embed(j->body, m->len, s->cfg.max_texts, &j->req, e);
    if (!*code && j->req.dims > (uint32_t)s->info->n_embd)
        *code = GG_PE_INVALID, gg_fail(e, "dims %u is over the model's %d", j->req.dims, s->info->n_embd);
    if (!*code && !s->info->has_weights)
        *code = GG_PE_NO_WEIGHTS, gg_fail(e, "the model has a vocabulary only");
    if (*code) {
        free(j->req.texts);
        free(j->body);
        free(j);
        return NULL;
    }
    j->c = c;
    j->id = m->id;
    j->t_recv = gg_now_ns();
    j->deadline = j->req.deadline_ms ? j->t_recv + (int64_t)j->req.deadline_ms * 1000000 : 0;
    return j;
}

static void handle_embed(srv_conn *c, const gg_message *m) {
    gg_err e;
    int code;
    job *j = make_job(c, m, &e, &code);
    if (!j) return srv_send_error(c, m->id, code, e.msg);
    const char *poison = c->s->cfg.poison;
    for (uint32_t i = 0; poison && i < j->req.n; i++)
        if (contains(&j->req.texts[i], poison, strlen(poison))) _Exit(3); /* test-only */
    sched_submit(c->s, j);
}

static void handle_tokenize(srv_conn *c, const gg_message *m) {
    gg_tokenize_req t;
    gg_err e;
    int rc = gg_decode_tokenize(m->body, m->len, &t, &e);
    if (rc) return srv_send_error(c, m->id, rc, e.msg);
    size_t cap = t.text.len + 16, n = 0;
    gg_buf b = {0};
    for (int attempt = 0; attempt < 2; attempt++) {
        gg_buf_free(&b);
        gg_buf_u32(&b, 0);
        gg_buf_zero(&b, cap * 4);
        int32_t *ids = malloc(cap * sizeof *ids);
        char err[GGEMBED_ERR_LEN];
        ggembed_status st = ids ? ggembed_tokenize(c->s->model, t.text.p, t.text.len, t.add_special,
                                                   ids, cap, &n, err, sizeof err)
                                : GGEMBED_E_MEMORY;
        if (st != GGEMBED_OK || b.oom) {
            free(ids);
            gg_buf_free(&b);
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
    if (m->type < GG_MSG_HELLO || m->type > GG_MSG_SHUTDOWN)
        return srv_send_error(c, m->id, GG_PE_UNKNOWN_TYPE, "unknown message type");
    if (!hello) return srv_send_error(c, m->id, GG_PE_NO_HELLO, "send HELLO first");
    if (m->type != GG_MSG_EMBED && m->type != GG_MSG_TOKENIZE && m->type != GG_MSG_CANCEL &&
        gg_decode_empty(m->body, m->len, &e))
        return srv_send_error(c, m->id, GG_PE_BAD_REQUEST, e.msg);
    switch (m->type) {
    case GG_MSG_EMBED: return handle_embed(c, m);
    case GG_MSG_TOKENIZE: return handle_tokenize(c, m);
    case GG_MSG_HEALTH: return srv_answer_health(s, c, m->id);
    case GG_MSG_STATS: return srv_answer_stats(s, c, m->id);
    case GG_MSG_CANCEL: return handle_cancel(c, m);
    case GG_MSG_SHUTDOWN:
        srv_send(c, GG_MSG_REPLY | GG_MSG_SHUTDOWN, m->id, NULL, 0);
        return gg_server_stop(s);
    }
}

/* Handles every message in data; false when the stream is broken. */
static bool consume(srv_conn *c, gg_reader *r, const uint8_t *data, size_t n) {
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
        if (rc == GG_READ_MESSAGE) handle(c, &m);
    }
    return true;
}

static void reader_main(void *arg) {
    srv_conn *c = arg;
    srv *s = c->s;
    gg_reader r;
    gg_reader_init(&r, s->cfg.max_frame, s->cfg.max_message);
    enum { CHUNK = 64 * 1024 };
    uint8_t *buf = malloc(CHUNK);
    for (bool ok = buf != NULL; ok;) {
        gg_mutex_lock(s->mu);
        while (c->out_bytes > SRV_OUT_SOFT_LIMIT && !c->write_dead && !c->closing)
            gg_cond_wait(c->cv, s->mu);
        ok = !c->write_dead;
        gg_mutex_unlock(s->mu);
        long n = ok ? gg_conn_read(c->io, buf, CHUNK) : -1;
        ok = n > 0 && consume(c, &r, buf, (size_t)n);
    }
    free(buf);
    gg_reader_free(&r);
    sched_cancel_conn(s, c);
    gg_mutex_lock(s->mu);
    c->read_done = true;
    gg_cond_broadcast(c->cv);
    gg_mutex_unlock(s->mu);
    if (s->is_stdio) gg_server_stop(s); /* end of input: the parent is done */
    gg_thread_join(c->writer);
    gg_mutex_lock(s->mu);
    srv_conn **p = &s->conns;
    while (*p && *p != c) p = &(*p)->next;
    if (*p) *p = c->next;
    c->next = s->zombies;
    s->zombies = c;
    s->n_conns--;
    c->refs--;
    gg_cond_broadcast(s->cv);
    gg_mutex_unlock(s->mu);
}

srv_conn *srv_conn_start(srv *s, gg_conn *io, gg_err *e) {
    srv_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->cv = gg_cond_new())) {
        free(c);
        gg_conn_close(io);
        return gg_fail(e, "out of memory"), NULL;
    }
    c->s = s;
    c->io = io;
    c->refs = 1;
    c->writer = gg_thread_start(writer_main, c, e);
    if (!c->writer) {
        conn_free(c);
        return NULL;
    }
    gg_mutex_lock(s->mu);
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
    gg_mutex_unlock(s->mu);
    c->reader = gg_thread_start(reader_main, c, e);
    if (!c->reader) {
        /* Wind down as a reader would, on this thread: its read fails at once. */
        gg_conn_shutdown(io);
        reader_main(c);
    }
    return c;
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
