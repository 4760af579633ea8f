/*
 * sched.c - the server's one queue of EMBED and RERANK requests and the
 * engine thread that serves it. Requests wait in arrival order; the engine
 * takes the first and, with it, later ones of the same kind whose options
 * agree, up to the model's token budget, and runs their texts (or
 * query-document pairs) as one ggembed_embed (ggembed_rerank) call:
 * dynamic batching, never mixing the two kinds in one call. Each request
 * then gets its own answer. The queue is bounded: a request that does not
 * fit is refused at once with BUSY. What differs between the kinds is one
 * row of job_kinds, at the end of this file.
 *
 * A request (a job) lives through these states; job_move_locked is the
 * only code that changes a job's state, its list or the counts it holds:
 *
 *             submit             take_batch           cancel, deadline
 *   RECEIVED --------> WAITING ------------> RUNNING ------------------> ABANDONED
 *      |                  |                     |     (another thread       |
 *      | refused: BUSY,   | cancelled,          |      answers at once)     |
 *      | SHUTTING_DOWN    | deadline passed     | pass over: vectors        | pass over:
 *      |                  |                     | or the pass's error       | no second answer
 *      v                  v                     v                           v
 *   ANSWERED <-------------------------------------------------------------+
 *      |
 *      +--> job_free, by its owner, without the lock
 *
 *   state      list        owner (frees it; reads it unlocked)  holds
 *   RECEIVED   -           the connection's reader              -
 *   WAITING    s->queue    the queue: any thread under s->mu     place, answer owed, conn ref
 *   RUNNING    s->pass     the engine thread                     place, answer owed, conn ref
 *   ABANDONED  s->pass     the engine thread                     place, conn ref
 *   ANSWERED   -           the thread that moved it there        -
 *
 * "place": one of max_queue places (s->depth); "answer owed": counted in
 * c->inflight, so a closing connection waits for it; "conn ref": keeps
 * j->c alive. A move that gives the answer queues it for the client in
 * the same critical section, so it is written once, before the place and
 * the debt are let go, and a client that sends its next request on reading
 * an answer finds room for it.
 *
 * Other threads never touch a job in the pass except to move a RUNNING
 * one to ABANDONED under s->mu: the pass's links change only on the engine
 * thread, which therefore walks them without the lock.
 */
#include "server.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT_LOCKED(s) assert(gg_mutex_held((s)->mu))

enum { IN_NO_LIST, IN_QUEUE, IN_PASS };

/* What each state means to the scheduler's lists and counts. */
static const struct job_state_info {
    int list;
    bool place, owed, conn_ref; /* holds a queue place, an owed answer, a connection ref */
    bool answered;              /* its one answer has been queued */
    unsigned next;              /* the states it may move to (bits) */
} job_states[] = {
    [JOB_RECEIVED] = {IN_NO_LIST, false, false, false, false, 1u << JOB_WAITING | 1u << JOB_ANSWERED},
    [JOB_WAITING] = {IN_QUEUE, true, true, true, false, 1u << JOB_RUNNING | 1u << JOB_ANSWERED},
    [JOB_RUNNING] = {IN_PASS, true, true, true, false, 1u << JOB_ABANDONED | 1u << JOB_ANSWERED},
    [JOB_ABANDONED] = {IN_PASS, true, false, true, true, 1u << JOB_ANSWERED},
    [JOB_ANSWERED] = {IN_NO_LIST, false, false, false, true, 0},
};

void job_free(job *j) {
    assert(j->state == JOB_RECEIVED || j->state == JOB_ANSWERED);
    gg_budget_release(j->budget, j->held);
    if (j->kind) j->kind->free_lists(j);
    free(j->body);
    free(j);
}

static job_list *list_of(srv *s, int list) {
    return list == IN_QUEUE ? &s->queue : list == IN_PASS ? &s->pass : NULL;
}

static void list_remove(job_list *l, job *j) {
    if (j->prev) j->prev->next = j->next;
    else l->head = j->next;
    if (j->next) j->next->prev = j->prev;
    else l->tail = j->prev;
    j->prev = j->next = NULL;
}

static void list_append(job_list *l, job *j) {
    j->prev = l->tail;
    j->next = NULL;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
}

/* Moves j to state `to`: its list, its queue place, its debt to and hold
 * on its connection follow the table above. A move that answers j queues
 * `answer` (a framed message of type `type`, from srv_frame); the others
 * take none. After a move to ANSWERED the caller owns j and must not use
 * j->c once it lets go of s->mu. */
static void job_move_locked(srv *s, job *j, job_state to, uint8_t type, out_chunk *answer) {
    ASSERT_LOCKED(s);
    const struct job_state_info *from = &job_states[j->state], *next = &job_states[to];
    assert(from->next & (1u << to));
    srv_conn *c = j->c;
    if (from->list != next->list) {
        if (from->list != IN_NO_LIST) list_remove(list_of(s, from->list), j);
        if (next->list != IN_NO_LIST) list_append(list_of(s, next->list), j);
    }
    if (!from->answered && next->answered) srv_queue_locked(c, type, answer);
    else assert(answer == NULL);
    if (next->conn_ref && !from->conn_ref) srv_conn_ref_locked(c);
    if (next->place != from->place) s->depth += next->place ? 1u : (uint32_t)-1;
    if (next->owed != from->owed) {
        c->inflight += next->owed ? 1u : (uint32_t)-1;
        gg_cond_broadcast(c->cv);
    }
    if (from->conn_ref && !next->conn_ref) srv_conn_unref_locked(c);
    j->state = to;
    if (to == JOB_WAITING) {
        gg_cond_broadcast(s->cv);
        /* Only requests with a deadline wake the deadline thread: one
         * wake-up per request would cost a context switch each. */
        if (j->deadline) gg_cond_signal(s->deadline_cv);
    }
}

/* Answers j with an error, moving it to `to` (ANSWERED, or ABANDONED for
 * a job in the engine's pass). */
static void answer_error_locked(srv *s, job *j, job_state to, int code, const char *msg) {
    ASSERT_LOCKED(s);
    if (code == GG_PE_TIMEOUT) s->st.timeouts++;
    if (code == GG_PE_CANCELLED) s->st.cancelled++;
    job_move_locked(s, j, to, GG_MSG_ERROR, srv_frame_error(s, j->id, code, msg));
}

/* Jobs a thread has answered and now owns, to free once it lets go of
 * s->mu (job_free may take locks of its own). Linked through next: no
 * list holds an answered job. */
static void push_answered(job **out, job *j) {
    j->next = *out;
    *out = j;
}

static void free_answered(job *list) {
    while (list) {
        job *next = list->next;
        job_free(list);
        list = next;
    }
}

static void stat_add(srv_stats *st, size_t offset, uint64_t v) {
    *(uint64_t *)((char *)st + offset) += v;
}

#define EXPIRED_MSG "deadline passed before the work started"

void sched_submit(srv *s, job *j) {
    gg_mutex_lock(s->mu);
    stat_add(&s->st, j->kind->stat_requests, 1);
    int code = s->model_changed               ? GG_PE_MODEL_CHANGED
               : s->stopping                  ? GG_PE_SHUTTING_DOWN
               : s->depth >= s->cfg.max_queue ? GG_PE_BUSY
                                              : 0;
    if (code == GG_PE_BUSY) s->st.busy++;
    if (code)
        answer_error_locked(s, j, JOB_ANSWERED, code,
                            code == GG_PE_BUSY            ? "queue full"
                            : code == GG_PE_MODEL_CHANGED ? "the model file changed on disk"
                                                          : "the server is shutting down");
    else job_move_locked(s, j, JOB_WAITING, 0, NULL);
    gg_mutex_unlock(s->mu);
    if (code) job_free(j);
}

/* Cancelled requests are answered at once, running or waiting; a pass
 * left with no request that wants it stops (pass_unwanted). */
static int cancel_matching(srv *s, srv_conn *c, bool any_id, uint32_t id) {
    job *done = NULL;
    int found = 0;
    gg_mutex_lock(s->mu);
    for (job *j = s->pass.head; j; j = j->next)
        if (j->c == c && (any_id || j->id == id) && j->state == JOB_RUNNING) {
            answer_error_locked(s, j, JOB_ABANDONED, GG_PE_CANCELLED, "cancelled");
            found = 1;
        }
    for (job *j = s->queue.head, *next; j; j = next) {
        next = j->next;
        if (j->c != c || !(any_id || j->id == id)) continue;
        answer_error_locked(s, j, JOB_ANSWERED, GG_PE_CANCELLED, "cancelled");
        push_answered(&done, j);
        found = 1;
    }
    gg_mutex_unlock(s->mu);
    free_answered(done);
    return found;
}

int sched_cancel(srv *s, srv_conn *c, uint32_t id) { return cancel_matching(s, c, false, id); }
void sched_cancel_conn(srv *s, srv_conn *c) { cancel_matching(s, c, true, 0); }

/* Answers TIMEOUT to the waiting jobs past their deadline and adds them to
 * *done; returns the earliest deadline still to come (0: none). */
static int64_t expire_waiting_locked(srv *s, int64_t now, job **done) {
    ASSERT_LOCKED(s);
    int64_t next_deadline = 0;
    for (job *j = s->queue.head, *next; j; j = next) {
        next = j->next;
        if (!j->deadline) continue;
        if (now > j->deadline) {
            answer_error_locked(s, j, JOB_ANSWERED, GG_PE_TIMEOUT, EXPIRED_MSG);
            push_answered(done, j);
        } else if (!next_deadline || j->deadline < next_deadline) {
            next_deadline = j->deadline;
        }
    }
    return next_deadline;
}

/* ---- the engine ---- */

/* Moves the first waiting job, and the later ones that can share its
 * pass, into the pass. */
static void take_batch_locked(srv *s) {
    ASSERT_LOCKED(s);
    size_t budget = (size_t)GG_MAX(s->info->max_batch_tokens, s->info->n_ctx), used = 0;
    const job *first = s->queue.head;
    for (job *j = s->queue.head, *next; j; j = next) {
        next = j->next;
        size_t t = j->kind->guess_tokens(s, j);
        if (j != first &&
            (j->kind != first->kind || !first->kind->same_pass(first, j) || used + t > budget))
            continue;
        job_move_locked(s, j, JOB_RUNNING, 0, NULL);
        used += t;
    }
}

/* A job of the pass wants no vectors: it has had its answer (ABANDONED)
 * or its deadline passed meanwhile. */
static bool unwanted_locked(const srv *s, const job *j, int64_t now) {
    ASSERT_LOCKED(s);
    return j->state == JOB_ABANDONED || (j->deadline && now > j->deadline);
}

/* Jobs [first, end) of the pass: what one ggembed_embed call runs. */
typedef struct pass_range {
    srv *s;
    job *first, *end;
} pass_range;

/* Stops the pass when no job of the range wants its result any more. */
static int pass_unwanted(void *user) {
    const pass_range *r = user;
    int64_t now = gg_now_ns();
    int dead = 1;
    gg_mutex_lock(r->s->mu);
    for (job *j = r->first; j != r->end; j = j->next)
        if (!unwanted_locked(r->s, j, now)) dead = 0;
    gg_mutex_unlock(r->s->mu);
    return dead;
}

static int status_code(ggembed_status st) {
    switch (st) {
    case GGEMBED_E_TOO_LONG: return GG_PE_TOO_LONG;
    case GGEMBED_E_INVALID: return GG_PE_INVALID;
    case GGEMBED_E_NO_WEIGHTS: return GG_PE_NO_WEIGHTS;
    case GGEMBED_E_CANCELLED: return GG_PE_CANCELLED;
    case GGEMBED_E_MODEL_CHANGED: return GG_PE_MODEL_CHANGED;
    default: return GG_PE_INTERNAL;
    }
}

/* Gives j, a job of the pass, its answer: its *_OK from a good pass (ok),
 * else the pass's error code and message; a job that no longer wants
 * them gets TIMEOUT, or nothing when it was answered already. Then frees
 * it. Engine thread. */
static void finish(srv *s, job *j, out_chunk *ok, uint64_t tokens, int code, const char *msg) {
    gg_mutex_lock(s->mu);
    if (j->state == JOB_ABANDONED) {
        job_move_locked(s, j, JOB_ANSWERED, 0, NULL);
    } else if (unwanted_locked(s, j, gg_now_ns())) {
        answer_error_locked(s, j, JOB_ANSWERED, GG_PE_TIMEOUT, "deadline passed");
    } else if (!ok) {
        answer_error_locked(s, j, JOB_ANSWERED, code, msg);
    } else {
        stat_add(&s->st, j->kind->stat_items, j->n);
        s->st.tokens += tokens;
        srv_stats_latency_locked(s, gg_now_ns() - j->t_recv);
        job_move_locked(s, j, JOB_ANSWERED, GG_MSG_REPLY | j->kind->type, ok);
        ok = NULL;
    }
    gg_mutex_unlock(s->mu);
    srv_frame_free(s, ok);
    job_free(j);
}

/* Runs the pass's jobs [first, end) in one engine call. When it succeeds
 * every one of them is answered and freed; when it fails none is, and the
 * status and err say why. Engine thread. */
static ggembed_status run_range(srv *s, job *first, job *end, char *err, size_t err_len) {
    pass_range range = {s, first, end};
    if (pass_unwanted(&range)) return snprintf(err, err_len, "cancelled"), GGEMBED_E_CANCELLED;
    ggembed_status st = first->kind->run(s, first, end, pass_unwanted, &range, err, err_len);
    if (st == GGEMBED_E_MODEL_CHANGED) srv_model_changed(s, err);
    return st;
}

/* Runs the pass; when a shared pass fails, each job runs alone so the
 * error goes to the request that caused it. Engine thread. */
static void run_pass(srv *s) {
    char err[GGEMBED_ERR_LEN] = "";
    job *first = s->pass.head;
    ggembed_status st = run_range(s, first, NULL, err, sizeof err);
    if (st == GGEMBED_OK) return;
    bool alone = first->next == NULL;
    for (job *j = first, *next; j; j = next) {
        next = j->next; /* read before j leaves the pass */
        if (!alone) st = run_range(s, j, next, err, sizeof err);
        if (alone || st != GGEMBED_OK) finish(s, j, NULL, 0, status_code(st), err);
    }
}

void sched_engine_main(void *arg) {
    srv *s = arg;
    gg_mutex_lock(s->mu);
    for (;;) {
        while (!s->queue.head && !s->stopping) gg_cond_wait(s->cv, s->mu);
        if (!s->queue.head) break; /* stopping and drained */
        job *expired = NULL;
        expire_waiting_locked(s, gg_now_ns(), &expired);
        if (s->queue.head) take_batch_locked(s);
        bool work = s->pass.head != NULL;
        gg_mutex_unlock(s->mu);
        free_answered(expired);
        if (work) {
            if (s->cfg.test_delay_ms > 0) gg_sleep_ms(s->cfg.test_delay_ms);
            run_pass(s);
        }
        gg_mutex_lock(s->mu);
        assert(!s->pass.head);
    }
    gg_mutex_unlock(s->mu);
}

/* Answers TIMEOUT to the jobs of the pass past their deadline that have
 * not heard yet; returns the earliest deadline still to come there (0:
 * none). */
static int64_t abandon_overdue_locked(srv *s, int64_t now) {
    ASSERT_LOCKED(s);
    int64_t next = 0;
    for (job *j = s->pass.head; j; j = j->next) {
        if (j->state != JOB_RUNNING || !j->deadline) continue;
        if (now > j->deadline)
            answer_error_locked(s, j, JOB_ABANDONED, GG_PE_TIMEOUT, "deadline passed");
        else if (!next || j->deadline < next) next = j->deadline;
    }
    return next;
}

/* Answers TIMEOUT to a request the moment its deadline passes, not when
 * the engine reaches it or finishes the pass it is in: behind or inside a
 * long pass a client with a short deadline still hears on time. Runs until
 * stopping with nothing waiting (no request is queued after the stop). */
void sched_deadline_main(void *arg) {
    srv *s = arg;
    gg_mutex_lock(s->mu);
    while (!s->stopping || s->queue.head) {
        int64_t now = gg_now_ns();
        job *expired = NULL;
        int64_t next = expire_waiting_locked(s, now, &expired);
        if (expired) {
            gg_mutex_unlock(s->mu);
            free_answered(expired);
            gg_mutex_lock(s->mu);
            continue;
        }
        int64_t r = abandon_overdue_locked(s, now);
        if (r && (!next || r < next)) next = r;
        /* Woken early by a new deadline and by the stop; at least once a
         * second all the same. */
        int64_t wait = next ? GG_MIN(next - now + 1000000, 1000000000LL) : 1000000000LL;
        gg_cond_timedwait(s->deadline_cv, s->mu, wait);
    }
    gg_mutex_unlock(s->mu);
}

/* ---- the kinds of request: EMBED ---- */

/* Counts a pass that succeeded, before its answers go out: a client that
 * asks STATS on reading its answer sees its pass counted. */
static void count_batch(srv *s) {
    gg_mutex_lock(s->mu);
    s->st.batches++;
    gg_mutex_unlock(s->mu);
}

/* Text counts of [first, end); the engine's arrays need at least one row. */
static size_t range_items(const job *first, const job *end) {
    size_t n = 0;
    for (const job *j = first; j != end; j = j->next) n += j->n;
    return n;
}

static bool any_contains(const gg_str *v, uint32_t n, const char *needle, size_t len) {
    if (len == 0) return false;
    for (uint32_t i = 0; i < n; i++)
        for (size_t k = 0; k + len <= v[i].len; k++)
            if (!memcmp(v[i].p + k, needle, len)) return true;
    return false;
}

static int embed_decode(const srv *s, job *j, size_t len, gg_err *e) {
    int rc = gg_decode_embed(j->body, len, s->cfg.max_texts, &j->embed, e);
    j->n = j->embed.n;
    j->deadline_ms = j->embed.deadline_ms;
    return rc;
}

/* Its list of texts, and room for its answer twice (the vectors of its
 * pass, their encoding). */
static size_t embed_extra_cost(const srv *s, const job *j) {
    const gg_embed_req *q = &j->embed;
    size_t n = q->n, dims = q->dims ? q->dims : (size_t)s->info->n_embd;
    size_t answer = 16 + 8 * n + n * dims * (q->format ? 2 : 4);
    size_t pass = n * (dims * sizeof(float) + sizeof(ggembed_result) + sizeof(ggembed_text));
    return n * sizeof(gg_str) + pass + 2 * answer;
}

static void embed_free_lists(job *j) { free(j->embed.texts); }

static int embed_check(const srv *s, const job *j, gg_err *e) {
    if (j->embed.dims > (uint32_t)s->info->n_embd)
        return gg_fail(e, "dims %u is over the model's %d", j->embed.dims, s->info->n_embd),
               GG_PE_INVALID;
    /* A reranker's own pooling scores pairs; its hidden states can still
     * be pooled into vectors, but only when the client names how. */
    if (s->info->pooling == GGEMBED_POOLING_RANK && j->embed.pooling == GGEMBED_POOLING_DEFAULT)
        return gg_fail(e, "the model is a reranker: use RERANK, or EMBED with an explicit pooling "
                          "(mean, cls or last)"),
               GG_PE_INVALID;
    return 0;
}

static bool embed_contains(const job *j, const char *needle, size_t len) {
    return any_contains(j->embed.texts, j->embed.n, needle, len);
}

/* About 3 bytes a token. */
static size_t embed_guess_tokens(const srv *s, const job *j) {
    size_t t = 0;
    for (uint32_t i = 0; i < j->embed.n; i++)
        t += GG_MIN((size_t)s->info->n_ctx, (j->embed.texts[i].len + j->embed.prefix.len) / 3 + 2);
    return t;
}

static bool embed_same_pass(const job *x, const job *y) {
    const gg_embed_req *a = &x->embed, *b = &y->embed;
    return a->pooling == b->pooling && a->normalize == b->normalize && a->truncate == b->truncate &&
           a->dims == b->dims && a->prefix.len == b->prefix.len &&
           !memcmp(a->prefix.p, b->prefix.p, a->prefix.len);
}

/* The EMBED_OK answer of j from its rows of a pass; NULL when out of memory. */
static out_chunk *frame_vectors(srv *s, const job *j, const float *vec, const ggembed_result *res,
                                int dims, uint64_t *tokens) {
    gg_buf b = {0};
    gg_encode_embed_ok_head(&b, j->n, (uint32_t)dims, j->embed.format);
    *tokens = 0;
    for (uint32_t i = 0; i < j->n; i++) {
        gg_buf_u32(&b, (uint32_t)res[i].n_tokens);
        gg_buf_u32(&b, res[i].truncated ? 1 : 0);
        *tokens += (uint64_t)res[i].n_tokens;
    }
    gg_encode_embed_ok_vectors(&b, vec, (size_t)j->n * (size_t)dims, j->embed.format);
    out_chunk *o = b.oom ? NULL : srv_frame(s, GG_MSG_REPLY | GG_MSG_EMBED, j->id, b.data, b.len);
    gg_buf_free(&b);
    return o;
}

static ggembed_status embed_run(srv *s, job *first, job *end, int (*cancel)(void *), void *user,
                                char *err, size_t err_len) {
    size_t n = range_items(first, end);
    const gg_embed_req *q = &first->embed;
    int dims = q->dims ? (int)q->dims : s->info->n_embd;
    ggembed_text *texts = malloc((n ? n : 1) * sizeof *texts);
    float *vec = malloc((n ? n : 1) * (size_t)dims * sizeof *vec);
    ggembed_result *res = malloc((n ? n : 1) * sizeof *res);
    ggembed_status st = GGEMBED_E_MEMORY;
    if (texts && vec && res) {
        size_t k = 0;
        for (job *j = first; j != end; j = j->next)
            for (uint32_t i = 0; i < j->n; i++, k++)
                texts[k] = (ggembed_text){j->embed.texts[i].p, j->embed.texts[i].len};
        ggembed_embed_options o;
        ggembed_embed_options_default(&o);
        o.pooling = q->pooling;
        o.normalize = q->normalize;
        o.dims = (int)q->dims;
        o.truncate = q->truncate;
        o.prefix = q->prefix.len ? q->prefix.p : NULL;
        o.prefix_len = q->prefix.len;
        o.cancel = cancel;
        o.cancel_user = user;
        st = n ? ggembed_embed(s->model, texts, n, &o, vec, res, err, err_len) : GGEMBED_OK;
    } else {
        snprintf(err, err_len, "out of memory for %zu texts", n);
    }
    if (st == GGEMBED_OK) {
        count_batch(s);
        size_t k = 0;
        for (job *j = first, *next; j != end; j = next) {
            next = j->next; /* j leaves the pass and is freed */
            uint64_t tokens;
            out_chunk *ok = frame_vectors(s, j, vec + k * (size_t)dims, res + k, dims, &tokens);
            k += j->n;
            finish(s, j, ok, tokens, GG_PE_INTERNAL, "out of memory for the answer");
        }
    }
    free(texts);
    free(vec);
    free(res);
    return st;
}

/* ---- RERANK ---- */

static int rerank_decode(const srv *s, job *j, size_t len, gg_err *e) {
    int rc = gg_decode_rerank(j->body, len, s->cfg.max_texts, &j->rerank, e);
    j->n = j->rerank.n;
    j->deadline_ms = j->rerank.deadline_ms;
    return rc;
}

/* Its list of documents, the pass's pairs, scores and results, and room
 * for its answer twice (the answer is small: 12 bytes a pair). */
static size_t rerank_extra_cost(const srv *s, const job *j) {
    (void)s;
    size_t n = j->rerank.n, answer = 4 + 12 * n;
    size_t pass = n * (sizeof(ggembed_pair) + sizeof(float) + sizeof(ggembed_result) + 5);
    return n * sizeof(gg_str) + pass + 2 * answer;
}

static void rerank_free_lists(job *j) { free(j->rerank.docs); }

static int rerank_check(const srv *s, const job *j, gg_err *e) {
    (void)j;
    if (s->info->pooling != GGEMBED_POOLING_RANK)
        return gg_fail(e, "the model is not a reranker (its pooling is %s, not rank): RERANK needs one",
                       ggembed_pooling_name(s->info->pooling)),
               GG_PE_INVALID;
    return 0;
}

static bool rerank_contains(const job *j, const char *needle, size_t len) {
    return any_contains(&j->rerank.query, 1, needle, len) ||
           any_contains(j->rerank.docs, j->rerank.n, needle, len);
}

/* The query is run again with every document. */
static size_t rerank_guess_tokens(const srv *s, const job *j) {
    size_t t = 0;
    for (uint32_t i = 0; i < j->rerank.n; i++)
        t += GG_MIN((size_t)s->info->n_ctx, (j->rerank.docs[i].len + j->rerank.query.len) / 3 + 4);
    return t;
}

static bool rerank_same_pass(const job *a, const job *b) {
    return a->rerank.truncate == b->rerank.truncate;
}

/* The RERANK_OK answer of j from its rows of a pass; NULL when out of memory. */
static out_chunk *frame_scores(srv *s, const job *j, const float *scores, const ggembed_result *res,
                               uint64_t *tokens) {
    uint32_t n = j->n;
    uint32_t *tok = malloc((n ? n : 1) * sizeof *tok);
    uint8_t *cut = malloc(n ? n : 1);
    gg_buf b = {0};
    *tokens = 0;
    out_chunk *o = NULL;
    if (tok && cut) {
        for (uint32_t i = 0; i < n; i++) {
            tok[i] = (uint32_t)res[i].n_tokens;
            cut[i] = res[i].truncated ? 1 : 0;
            *tokens += tok[i];
        }
        gg_encode_rerank_ok(&b, n, tok, cut, scores);
        if (!b.oom) o = srv_frame(s, GG_MSG_REPLY | GG_MSG_RERANK, j->id, b.data, b.len);
    }
    gg_buf_free(&b);
    free(tok);
    free(cut);
    return o;
}

static ggembed_status rerank_run(srv *s, job *first, job *end, int (*cancel)(void *), void *user,
                                 char *err, size_t err_len) {
    size_t n = range_items(first, end);
    ggembed_pair *pairs = malloc((n ? n : 1) * sizeof *pairs);
    float *scores = malloc((n ? n : 1) * sizeof *scores);
    ggembed_result *res = malloc((n ? n : 1) * sizeof *res);
    ggembed_status st = GGEMBED_E_MEMORY;
    if (pairs && scores && res) {
        size_t k = 0;
        for (job *j = first; j != end; j = j->next) {
            ggembed_text query = {j->rerank.query.p, j->rerank.query.len};
            for (uint32_t i = 0; i < j->n; i++, k++)
                pairs[k] = (ggembed_pair){query, {j->rerank.docs[i].p, j->rerank.docs[i].len}};
        }
        ggembed_rerank_options o;
        ggembed_rerank_options_default(&o);
        o.truncate = first->rerank.truncate;
        o.cancel = cancel;
        o.cancel_user = user;
        st = n ? ggembed_rerank(s->model, pairs, n, &o, scores, res, err, err_len) : GGEMBED_OK;
    } else {
        snprintf(err, err_len, "out of memory for %zu pairs", n);
    }
    if (st == GGEMBED_OK) {
        count_batch(s);
        size_t k = 0;
        for (job *j = first, *next; j != end; j = next) {
            next = j->next; /* j leaves the pass and is freed */
            uint64_t tokens;
            out_chunk *ok = frame_scores(s, j, scores + k, res + k, &tokens);
            k += j->n;
            finish(s, j, ok, tokens, GG_PE_INTERNAL, "out of memory for the answer");
        }
    }
    free(pairs);
    free(scores);
    free(res);
    return st;
}

static const job_kind job_kinds[] = {
    {GG_MSG_EMBED, offsetof(srv_stats, embed_requests), offsetof(srv_stats, texts), embed_decode,
     embed_free_lists, embed_extra_cost, embed_check, embed_contains, embed_guess_tokens,
     embed_same_pass, embed_run},
    {GG_MSG_RERANK, offsetof(srv_stats, rerank_requests), offsetof(srv_stats, pairs), rerank_decode,
     rerank_free_lists, rerank_extra_cost, rerank_check, rerank_contains, rerank_guess_tokens,
     rerank_same_pass, rerank_run},
};

const job_kind *sched_job_kind(uint8_t type) {
    for (size_t i = 0; i < GG_ARRAY_LEN(job_kinds); i++)
        if (job_kinds[i].type == type) return &job_kinds[i];
    return NULL;
}
