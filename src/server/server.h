/*
 * server.h - the embedder process: connections read requests and write
 * answers on their own threads, EMBED requests from all of them go to one
 * bounded queue that a single engine thread serves in batches.
 *
 * gg_server_run is what `ggembed serve` calls; the rest of this header is
 * shared between the server's files (conn.c, sched.c, serve.c).
 */
#ifndef GG_SERVER_H
#define GG_SERVER_H

#include "ggembed.h"
#include "../common.h"
#include "../platform/platform.h"
#include "../platform/transport.h"
#include "proto.h"

typedef struct gg_server_config {
    uint32_t max_frame, max_message, max_texts, max_queue;
    const char *poison;  /* test-only: exit(3) on an EMBED text containing it */
    int test_delay_ms;   /* test-only: sleep before each batch */
    const char *ready_line; /* written to stderr once requests are taken */
} gg_server_config;

typedef struct srv srv;
typedef struct srv_conn srv_conn;

/* Serves until stopped (SHUTDOWN, gg_server_stop, end of stdio input);
 * every request in flight is answered before it returns. */
int gg_server_run(ggembed_model *model, gg_listener *l, bool is_stdio, const gg_server_config *cfg,
                  gg_err *e);

/* ---- shared between the server's files ---- */

typedef struct job {
    struct job *next;
    srv_conn *c;
    uint32_t id;
    gg_embed_req req;   /* strings point into body */
    uint8_t *body;
    int64_t t_recv, deadline; /* ns, gg_now_ns clock; deadline 0: none */
    int answered_with;  /* CANCELLED or TIMEOUT once answered early while it ran
                           (set under the queue lock); the engine then drops it */
    bool running;
} job;

typedef struct srv_stats {
    uint64_t requests, embed_requests, texts, tokens, errors, busy, timeouts, cancelled, batches;
    uint32_t lat[1024]; /* EMBED latencies in µs, a ring */
    uint32_t lat_n, lat_next;
} srv_stats;

struct srv {
    ggembed_model *model;
    const ggembed_info *info;
    gg_server_config cfg;
    gg_listener *listener;
    bool is_stdio;
    int64_t t_start;

    gg_mutex *mu;       /* guards everything below */
    gg_cond *cv;        /* queue changes, stop, connection list changes */
    gg_cond *deadline_cv; /* a request with a deadline came, or the stop */
    bool stopping;
    job *head, *tail;   /* waiting jobs */
    job *running;       /* the batch in the engine */
    uint32_t depth;     /* waiting + running */
    srv_conn *conns;    /* open connections */
    srv_conn *zombies;  /* finished, reader thread to join */
    uint32_t n_conns;
    srv_stats st;
};

typedef struct out_chunk {
    struct out_chunk *next;
    size_t len;
    uint8_t data[];
} out_chunk;

/* One client. Its fields are guarded by srv.mu. */
struct srv_conn {
    srv *s;
    gg_conn *io;
    gg_cond *cv;          /* its queue or state changed */
    out_chunk *out_head, *out_tail;
    size_t out_bytes;     /* encoded answers not yet written */
    bool read_done;       /* no more requests will come */
    bool write_dead;      /* the client cannot be written to */
    bool closing;         /* flush, then close */
    bool hello;
    uint32_t inflight;    /* EMBED jobs queued or running */
    int refs;             /* reader thread + jobs */
    gg_thread *reader, *writer;
    srv_conn *next;
};

/* Beyond this many unread answer bytes a connection is not read from. */
#define SRV_OUT_SOFT_LIMIT (4u << 20)

/* conn.c */
srv_conn *srv_conn_start(srv *s, gg_conn *io, gg_err *e);
/* Queues an encoded message for the client; never blocks. */
void srv_send(srv_conn *c, uint8_t type, uint32_t id, const uint8_t *body, size_t len);
void srv_send_error(srv_conn *c, uint32_t id, int code, const char *msg);
/* Drops the caller's reference to the connection; with s->mu held. */
void srv_conn_unref_locked(srv_conn *c);
void srv_conn_ref_locked(srv_conn *c);
/* Tells a connection to flush its answers and close (s->mu held). */
void srv_conn_close_locked(srv_conn *c);
void srv_conn_force_locked(srv_conn *c);
/* Joins and frees finished connections (s->mu not held). */
void srv_reap(srv *s, bool all);

/* sched.c */
/* Takes ownership of j: queues it, or answers BUSY / SHUTTING_DOWN. */
void sched_submit(srv *s, job *j);
/* Cancels c's request id: 1 when it was in flight. */
int sched_cancel(srv *s, srv_conn *c, uint32_t id);
/* Cancels every request of c (it went away). */
void sched_cancel_conn(srv *s, srv_conn *c);
void sched_engine_main(void *arg);
/* Answers waiting requests TIMEOUT as their deadlines pass. */
void sched_deadline_main(void *arg);
void job_free(job *j);

/* serve.c */
void gg_server_stop(srv *s);
void srv_stats_latency_locked(srv *s, int64_t ns);
void srv_answer_stats(srv *s, srv_conn *c, uint32_t id);
void srv_answer_health(srv *s, srv_conn *c, uint32_t id);

#endif
