/*
 * sched.c - the server's one queue of EMBED requests and the engine thread
 * that serves it. Requests wait in arrival order; the engine takes the
 * first and, with it, later ones whose options agree, up to the model's
 * token budget, and runs their texts as one ggembed_embed call (dynamic
 * batching); each request then gets its own answer. The queue is bounded:
 * a request that does not fit is refused at once with BUSY.
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
    [JOB_RECEIVED] = {IN_NO_LIST, false, false, false, false,
                      1u << JOB_WAITING | 1u << JOB_ANSWERED},
    [JOB_WAITING] = {IN_QUEUE, true, true, true, false, 1u << JOB_RUNNING | 1u << JOB_ANSWERED},
    [JOB_RUNNING] = {IN_PASS, true, true, true, false, 1u << JOB_ABANDONED | 1u << JOB_ANSWERED},
    [JOB_ABANDONED] = {IN_PASS, true, false, true, true, 1u << JOB_ANSWERED},
    [JOB_ANSWERED] = {IN_NO_LIST, false, false, false, true, 0},
};

void job_free(job *j) {
    assert(j->state == JOB_RECEIVED || j->state == JOB_ANSWERED);
    gg_budget_release(j->budget, j->held);
    free(j->req.texts);
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

#define EXPIRED_MSG "deadline passed before the work started"

void sched_submit(srv *s, job *j) {
    gg_mutex_lock(s->mu);
    s->st.embed_requests++;
    int code = s->model_changed ? GG_PE_MODEL_CHANGED
               : s->stopping    ? GG_PE_SHUTTING_DOWN
               : s->depth >= s->cfg.max_queue ? GG_PE_BUSY : 0;
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

static bool same_options(const gg_embed_req *a, const gg_embed_req *b) {
    return a->pooling == b->pooling && a->normalize == b->normalize && a->truncate == b->truncate &&
           a->dims == b->dims && a->prefix.len == b->prefix.len &&
           !memcmp(a->prefix.p, b->prefix.p, a->prefix.len);
}

/* A guess of a text's tokens, only to size batches: about 3 bytes each. */
static size_t guess_tokens(const srv *s, const gg_embed_req *r) {
    size_t t = 0;
    for (uint32_t i = 0; i < r->n; i++)
        t += GG_MIN((size_t)s->info->n_ctx, (r->texts[i].len + r->prefix.len) / 3 + 2);
    return t;
}

/* Moves the first waiting job, and the later ones that can share its
 * pass, into the pass. */
static void take_batch_locked(srv *s) {
    ASSERT_LOCKED(s);
    size_t budget = (size_t)GG_MAX(s->info->max_batch_tokens, s->info->n_ctx), used = 0;
    const job *first = s->queue.head;
    for (job *j = s->queue.head, *next; j; j = next) {
        next = j->next;
        size_t t = guess_tokens(s, &j->req);
        if (j != first && (!same_options(&first->req, &j->req) || used + t > budget)) continue;
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

/* Gives j, a job of the pass, its answer: vectors from a good pass (ok),
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
        s->st.texts += j->req.n;
        s->st.tokens += tokens;
        srv_stats_latency_locked(s, gg_now_ns() - j->t_recv);
        job_move_locked(s, j, JOB_ANSWERED, GG_MSG_REPLY | GG_MSG_EMBED, ok);
        ok = NULL;
    }
    gg_mutex_unlock(s->mu);
    srv_frame_free(s, ok);
    job_free(j);
}

/* The EMBED_OK answer of j from its rows of a pass; NULL when out of memory. */
static out_chunk *frame_vectors(srv *s, const job *j, const float *vec, const ggembed_result *res,
                                int dims, uint64_t *tokens) {
    gg_buf b = {0};
    gg_encode_embed_ok_head(&b, j->req.n, (uint32_t)dims, j->req.format);
    *tokens = 0;
    for (uint32_t i = 0; i < j->req.n; i++) {
        gg_buf_u32(&b, (uint32_t)res[i].n_tokens);
        gg_buf_u32(&b, res[i].truncated ? 1 : 0);
        *tokens += (uint64_t)res[i].n_tokens;
    }
    gg_encode_embed_ok_vectors(&b, vec, (size_t)j->req.n * (size_t)dims, j->req.format);
    out_chunk *o = b.oom ? NULL : srv_frame(s, GG_MSG_REPLY | GG_MSG_EMBED, j->id, b.data, b.len);
    gg_buf_free(&b);
    return o;
}

/* Runs the texts of the pass's jobs [first, end) in one ggembed_embed call.
 * When it succeeds every one of them is answered and freed; when it fails
 * none is, and the status and err say why. Engine thread. */
static ggembed_status run_range(srv *s, job *first, job *end, char *err, size_t err_len) {
    pass_range range = {s, first, end};
    if (pass_unwanted(&range)) return snprintf(err, err_len, "cancelled"), GGEMBED_E_CANCELLED;
    size_t n = 0;
    for (job *j = first; j != end; j = j->next) n += j->req.n;
    int dims = first->req.dims ? (int)first->req.dims : s->info->n_embd;
    ggembed_text *texts = malloc((n ? n : 1) * sizeof *texts);
    float *vec = malloc((n ? n : 1) * (size_t)dims * sizeof *vec);
    ggembed_result *res = malloc((n ? n : 1) * sizeof *res);
    ggembed_status st = GGEMBED_E_MEMORY;
    if (texts && vec && res) {
        size_t k = 0;
        for (job *j = first; j != end; j = j->next)
            for (uint32_t i = 0; i < j->req.n; i++, k++)
                texts[k] = (ggembed_text){j->req.texts[i].p, j->req.texts[i].len};
        ggembed_embed_options o;
        ggembed_embed_options_default(&o);
        o.pooling = first->req.pooling;
        o.normalize = first->req.normalize;
        o.dims = (int)first->req.dims;
        o.truncate = first->req.truncate;
        o.prefix = first->req.prefix.len ? first->req.prefix.p : NULL;
        o.prefix_len = first->req.prefix.len;
        o.cancel = pass_unwanted;
        o.cancel_user = &range;
        st = n ? ggembed_embed(s->model, texts, n, &o, vec, res, err, err_len) : GGEMBED_OK;
        if (st == GGEMBED_E_MODEL_CHANGED) srv_model_changed(s, err);
    } else {
        snprintf(err, err_len, "out of memory for %zu texts", n);
    }
    if (st == GGEMBED_OK) {
        gg_mutex_lock(s->mu);
        s->st.batches++;
        gg_mutex_unlock(s->mu);
        size_t k = 0;
        for (job *j = first, *next; j != end; j = next) {
            next = j->next; /* j leaves the pass and is freed */
            uint64_t tokens;
            out_chunk *ok = frame_vectors(s, j, vec + k * (size_t)dims, res + k, dims, &tokens);
            k += j->req.n;
            finish(s, j, ok, tokens, GG_PE_INTERNAL, "out of memory for the answer");
        }
    }
    free(texts);
    free(vec);
    free(res);
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
        if (now > j->deadline) answer_error_locked(s, j, JOB_ABANDONED, GG_PE_TIMEOUT, "deadline passed");
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
