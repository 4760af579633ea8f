/*
 * server.h - the embedder process: connections read requests and write
 * answers on their own threads, EMBED and RERANK requests from all of them go to one
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
    uint32_t max_conns;      /* beyond: a new connection is sent BUSY and closed */
    int64_t idle_timeout_ms; /* a started message must arrive within it (0: no limit) */
    size_t mem_limit;        /* bytes held for requests and answers (PROTOCOL.md, section 6) */
    const char *poison;      /* test-only: exit(3) on an EMBED text containing it */
    int test_delay_ms;       /* test-only: sleep before each batch */
    const char *ready_line;  /* written to stderr once requests are taken */
} gg_server_config;

typedef struct srv srv;
typedef struct srv_conn srv_conn;

/* gg_server_run's result when it stopped because the model file changed
 * under it (`ggembed serve` then exits with status 4). */
#define GG_SERVER_MODEL_CHANGED 1

/* Serves until stopped (SHUTDOWN, gg_server_stop, end of stdio input, the
 * model file changing); every request in flight is answered before it
 * returns. Returns 0, GG_SERVER_MODEL_CHANGED, or -1 when it could not
 * start or failed (message in e: the listener
 * broke, standard input failed or was malformed). */
int gg_server_run(ggembed_model *model, gg_listener *l, bool is_stdio, const gg_server_config *cfg,
                  gg_err *e);

/* ---- shared between the server's files ---- */

/* Where a request is in its life; sched.c moves it (job_move_locked) and
 * draws the diagram. Each state says who owns the request (may free it or
 * read it without the lock) and which list it is in. */
typedef enum job_state {
    JOB_RECEIVED,  /* made by its connection's reader, which owns it; in no list */
    JOB_WAITING,   /* in the queue (srv.queue); owned by the queue */
    JOB_RUNNING,   /* in the engine's pass (srv.pass); owned by the engine */
    JOB_ABANDONED, /* in the pass, answered early (CANCELLED, TIMEOUT); owned by the engine */
    JOB_ANSWERED,  /* answered, in no list; owned by the thread that answered it */
} job_state;

typedef struct job job;

/* What varies between the request types the engine serves (EMBED,
 * RERANK): one row each in sched.c (job_kinds), which drives admission
 * (conn.c), batching and the engine call (sched.c). */
typedef struct job_kind {
    uint8_t type;                     /* the request's message type; its answer is GG_MSG_REPLY | type */
    size_t stat_requests, stat_items; /* offsets in srv_stats of its counters */
    /* Decodes j->body (len bytes) into j's request and sets j->deadline_ms
     * and j->n: 0, or a GG_PE_* code with the message in e. */
    int (*decode)(const srv *s, job *j, size_t len, gg_err *e);
    /* Frees what a successful decode allocated (job_free calls it). */
    void (*free_lists)(job *j);
    /* What j holds besides its body while it is in flight: its decoded
     * lists, the engine's inputs and outputs, its answer twice. */
    size_t (*extra_cost)(const srv *s, const job *j);
    /* Refuses what the model cannot do for j: 0 or a GG_PE_* code. */
    int (*check)(const srv *s, const job *j, gg_err *e);
    /* True when any of j's strings contains needle (the test-only poison). */
    bool (*contains)(const job *j, const char *needle, size_t len);
    /* A guess of j's tokens, only to size a pass. */
    size_t (*guess_tokens)(const srv *s, const job *j);
    /* True when b may share a's engine call. */
    bool (*same_pass)(const job *a, const job *b);
    /* Runs the jobs [first, end) of the pass in one engine call (cancel and
     * user: the engine's cancel callback); on success answers every one of
     * them. */
    ggembed_status (*run)(srv *s, job *first, job *end, int (*cancel)(void *), void *user, char *err,
                          size_t err_len);
} job_kind;

/* The row of a request type the engine serves; NULL for the others. */
const job_kind *sched_job_kind(uint8_t type);

/* One EMBED or RERANK request. state, prev and next are guarded by
 * srv.mu; the rest is written before it leaves JOB_RECEIVED and only read
 * after. */
struct job {
    struct job *prev, *next; /* the list its state puts it in */
    job_state state;
    const job_kind *kind;
    srv_conn *c;
    uint32_t id;
    union { /* by kind; strings point into body */
        gg_embed_req embed;
        gg_rerank_req rerank;
    };
    uint32_t n; /* texts or documents */
    uint32_t deadline_ms;
    uint8_t *body;
    int64_t t_recv, deadline; /* ns, gg_now_ns clock; deadline 0: none */
    gg_budget *budget;        /* `held` bytes of it are this request's, given back by job_free */
    size_t held;
};

/* A list of jobs, linked both ways so one leaves it in O(1). */
typedef struct job_list {
    job *head, *tail;
} job_list;

typedef struct srv_stats {
    uint64_t requests, embed_requests, texts, tokens, errors, busy, timeouts, cancelled, batches;
    uint64_t conns_refused, memory_busy, rerank_requests, pairs;
    uint32_t lat[1024]; /* EMBED and RERANK latencies in µs, a ring */
    uint32_t lat_n, lat_next;
} srv_stats;

struct srv {
    ggembed_model *model;
    const ggembed_info *info;
    gg_server_config cfg;
    gg_listener *listener;
    bool is_stdio;
    int64_t t_start;

    gg_mutex *mu;         /* guards everything below */
    gg_cond *cv;          /* queue changes, stop, connection list changes */
    gg_cond *deadline_cv; /* a request with a deadline came, or the stop */
    bool stopping;
    bool model_changed; /* the stop is for MODEL_CHANGED: new work hears that */
    job_list queue;     /* JOB_WAITING, in arrival order */
    job_list pass;      /* JOB_RUNNING and JOB_ABANDONED: the engine's pass */
    uint32_t depth;     /* jobs waiting or in the pass: the queue places taken */
    srv_conn *conns;    /* open connections */
    srv_conn *zombies;  /* finished, reader thread to join */
    uint32_t n_conns;
    srv_stats st;
    bool failed; /* the stop is abnormal: gg_server_run returns failure */
    gg_err failure;
    gg_budget mem; /* request and answer bytes held (no lock: atomic) */
};

typedef struct out_chunk {
    struct out_chunk *next;
    size_t len; /* charged to srv.mem with the header: out_chunk_cost */
    uint8_t data[];
} out_chunk;

/* One client. Its fields are guarded by srv.mu. */
struct srv_conn {
    srv *s;
    gg_conn *io;
    gg_cond *cv; /* its queue or state changed */
    out_chunk *out_head, *out_tail;
    size_t out_bytes; /* encoded answers not yet written */
    bool read_done;   /* no more requests will come */
    bool write_dead;  /* the client cannot be written to */
    bool closing;     /* flush, then close */
    bool hello;
    bool finished;     /* its threads are done: io is closed once refs is 0 */
    uint32_t inflight; /* EMBED and RERANK jobs queued or running */
    int refs;          /* reader thread + jobs */
    size_t held;       /* its fixed cost, charged to srv.mem (SRV_CONN_COST) */
    gg_thread *reader, *writer;
    srv_conn *next;
};

/* Beyond this many unread answer bytes a connection is not read from. */
#define SRV_OUT_SOFT_LIMIT (4u << 20)
/* Bytes read from a connection at a time. */
#define SRV_READ_CHUNK (16u << 10)
/* What a connection costs before it holds any request: its read buffer,
 * its state and about what its two threads keep resident on their stacks. */
#define SRV_CONN_COST (SRV_READ_CHUNK + sizeof(srv_conn) + 2 * (16u << 10))
/* What --max-memory keeps back for the allocator's own overhead. */
#define SRV_ALLOCATOR_SLACK ((size_t)4 << 20)
/* Without --max-memory, the bytes held for requests and answers at once. */
#define SRV_DEFAULT_MEM_LIMIT ((size_t)256 << 20)

/* conn.c */
/* Serves a new client, or turns it away with BUSY (id 0) when the server
 * has max_conns connections, no memory to spare, or no thread for it. */
void srv_conn_admit(srv *s, gg_conn *io);
/* Queues an encoded message for the client; never blocks. */
void srv_send(srv_conn *c, uint8_t type, uint32_t id, const uint8_t *body, size_t len);
void srv_send_error(srv_conn *c, uint32_t id, int code, const char *msg);
/* srv_send in two steps, so that an answer is queued in the same critical
 * section that records it as given: frame it (no lock; NULL when out of
 * memory), then queue it with s->mu held (NULL: the client is cut off, it
 * cannot get its answer). */
out_chunk *srv_frame(srv *s, uint8_t type, uint32_t id, const uint8_t *body, size_t len);
out_chunk *srv_frame_error(srv *s, uint32_t id, int code, const char *msg);
void srv_queue_locked(srv_conn *c, uint8_t type, out_chunk *o);
/* Frees an answer framed but never queued (NULL is allowed). */
void srv_frame_free(srv *s, out_chunk *o);
/* Drops the caller's reference to the connection; with s->mu held. */
void srv_conn_unref_locked(srv_conn *c);
void srv_conn_ref_locked(srv_conn *c);
/* Tells a connection to flush its answers and close (s->mu held). */
void srv_conn_close_locked(srv_conn *c);
void srv_conn_force_locked(srv_conn *c);
/* Joins and frees finished connections (s->mu not held). */
void srv_reap(srv *s, bool all);

/* sched.c */
/* Takes ownership of j (JOB_RECEIVED): queues it, or answers BUSY /
 * SHUTTING_DOWN and frees it. s->mu not held. */
void sched_submit(srv *s, job *j);
/* Cancels c's request id: 1 when it was in flight. */
int sched_cancel(srv *s, srv_conn *c, uint32_t id);
/* Cancels every request of c (it went away). */
void sched_cancel_conn(srv *s, srv_conn *c);
void sched_engine_main(void *arg);
/* Answers waiting requests TIMEOUT as their deadlines pass. */
void sched_deadline_main(void *arg);
/* The one place a job and its request body are freed: a job never queued
 * (JOB_RECEIVED) or answered (JOB_ANSWERED), by its owner, s->mu not held. */
void job_free(job *j);

/* serve.c */
void gg_server_stop(srv *s);
/* Stops the server as a failure: gg_server_run will return -1 with the
 * first reason given. */
void srv_fail(srv *s, const char *fmt, ...) GG_PRINTF(2, 3);
/* The engine found the model file changed (why: its message): logs it
 * once and stops the server; requests still in flight get MODEL_CHANGED
 * from the engine, which now fails every call at once. */
void srv_model_changed(srv *s, const char *why);
void srv_stats_latency_locked(srv *s, int64_t ns);
void srv_answer_stats(srv *s, srv_conn *c, uint32_t id);
void srv_answer_health(srv *s, srv_conn *c, uint32_t id);

#endif
