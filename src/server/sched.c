/*
 * sched.c - the server's one queue of EMBED requests and the engine thread
 * that serves it. Requests wait in arrival order; the engine takes the
 * first and, with it, later ones whose options agree, up to the model's
 * token budget, and runs their texts as one ggembed_embed call (dynamic
 * batching); each request then gets its own answer. The queue is bounded:
 * a request that does not fit is refused at once with BUSY.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job_free(job *j) {
    gg_budget_release(j->budget, j->held);
    free(j->req.texts);
    free(j->body);
    free(j);
}

static void count_error_locked(srv *s, int code) {
    if (code == GG_PE_TIMEOUT) s->st.timeouts++;
    if (code == GG_PE_CANCELLED) s->st.cancelled++;
}

/* Answers j with an error and drops it; s->mu not held. A job already
 * answered while it ran is dropped without a word. */
static void job_fail(srv *s, job *j, int code, const char *msg) {
    gg_mutex_lock(s->mu);
    bool answered = j->answered_with != 0;
    gg_mutex_unlock(s->mu);
    if (!answered) srv_send_error(j->c, j->id, code, msg);
    gg_mutex_lock(s->mu);
    if (!answered) {
        count_error_locked(s, code);
        j->c->inflight--;
    }
    srv_conn_unref_locked(j->c);
    gg_cond_broadcast(j->c->cv);
    gg_mutex_unlock(s->mu);
    job_free(j);
}

/* Answers every job of a list with the same error; s->mu not held. */
static void fail_all(srv *s, job *list, int code, const char *msg) {
    while (list) {
        job *next = list->next;
        job_fail(s, list, code, msg);
        list = next;
    }
}

/* Answers a running job now with an error. The job stays in the pass (its
 * texts are being read) and the engine drops it silently when the pass
 * ends; the answer counts as in flight until it is queued, so a closing
 * connection waits for it. s->mu held (dropped while sending, so the
 * caller must look at s->running afresh). */
static void answer_running_now_locked(srv *s, job *j, int code, const char *msg) {
    j->answered_with = code;
    srv_conn *c = j->c;
    uint32_t id = j->id;
    srv_conn_ref_locked(c);
    count_error_locked(s, code);
    gg_mutex_unlock(s->mu);
    srv_send_error(c, id, code, msg);
    gg_mutex_lock(s->mu);
    c->inflight--;
    gg_cond_broadcast(c->cv);
    srv_conn_unref_locked(c);
}

#define EXPIRED_MSG "deadline passed before the work started"

void sched_submit(srv *s, job *j) {
    gg_mutex_lock(s->mu);
    s->st.embed_requests++;
    int code = s->model_changed ? GG_PE_MODEL_CHANGED
               : s->stopping    ? GG_PE_SHUTTING_DOWN
               : s->depth >= s->cfg.max_queue ? GG_PE_BUSY : 0;
    if (code == GG_PE_BUSY) s->st.busy++;
    if (!code) {
        j->c->inflight++;
        srv_conn_ref_locked(j->c);
        if (s->tail) s->tail->next = j;
        else s->head = j;
        s->tail = j;
        s->depth++;
        gg_cond_broadcast(s->cv);
        /* Only requests with a deadline wake the deadline thread: one
         * wake-up per request would cost a context switch each. */
        if (j->deadline) gg_cond_signal(s->deadline_cv);
    }
    gg_mutex_unlock(s->mu);
    if (code) {
        srv_send_error(j->c, j->id, code,
                       code == GG_PE_BUSY ? "queue full"
                       : code == GG_PE_MODEL_CHANGED ? "the model file changed on disk"
                                                     : "the server is shutting down");
        job_free(j);
    }
}

/* Unlinks waiting jobs that match; returns them as a list. s->mu held. */
static job *unlink_waiting(srv *s, srv_conn *c, bool any_id, uint32_t id) {
    job *out = NULL, **p = &s->head;
    s->tail = NULL;
    while (*p) {
        job *j = *p;
        if (j->c == c && (any_id || j->id == id)) {
            *p = j->next;
            j->next = out;
            out = j;
            s->depth--;
        } else {
            s->tail = j;
            p = &j->next;
        }
    }
    return out;
}

/* A running job of c's that matches and has not been answered, or NULL. */
static job *find_running(srv *s, srv_conn *c, bool any_id, uint32_t id) {
    for (job *j = s->running; j; j = j->next)
        if (j->c == c && (any_id || j->id == id) && !j->answered_with) return j;
    return NULL;
}

/* Cancelled requests are answered at once, running or waiting; a pass
 * left with no request that wants it stops (batch_cancelled). */
static int cancel_matching(srv *s, srv_conn *c, bool any_id, uint32_t id) {
    gg_mutex_lock(s->mu);
    int found = 0;
    for (job *j; (j = find_running(s, c, any_id, id)) != NULL; found = 1)
        answer_running_now_locked(s, j, GG_PE_CANCELLED, "cancelled");
    job *list = unlink_waiting(s, c, any_id, id);
    gg_mutex_unlock(s->mu);
    if (list) found = 1;
    fail_all(s, list, GG_PE_CANCELLED, "cancelled");
    return found;
}

int sched_cancel(srv *s, srv_conn *c, uint32_t id) { return cancel_matching(s, c, false, id); }
void sched_cancel_conn(srv *s, srv_conn *c) { cancel_matching(s, c, true, 0); }

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

/* Unlinks the waiting jobs past their deadline and returns them as a
 * list; *next gets the earliest deadline still to come (0: none). s->mu
 * held. */
static job *unlink_expired(srv *s, int64_t now, int64_t *next) {
    job *out = NULL, **p = &s->head;
    s->tail = NULL;
    *next = 0;
    while (*p) {
        job *j = *p;
        if (j->deadline && now > j->deadline) {
            *p = j->next;
            j->next = out;
            out = j;
            s->depth--;
            continue;
        }
        if (j->deadline && (!*next || j->deadline < *next)) *next = j->deadline;
        s->tail = j;
        p = &j->next;
    }
    return out;
}

/* Takes the first waiting job and the later ones that can share its pass.
 * Jobs past their deadline are unlinked into *expired. s->mu held. */
static job *take_batch(srv *s, job **expired) {
    size_t budget = (size_t)GG_MAX(s->info->max_batch_tokens, s->info->n_ctx), used = 0;
    int64_t next_deadline;
    *expired = unlink_expired(s, gg_now_ns(), &next_deadline);
    job *batch = NULL, **tail = &batch, **p = &s->head;
    s->tail = NULL;
    while (*p) {
        job *j = *p;
        size_t t = guess_tokens(s, &j->req);
        if (!batch || (same_options(&batch->req, &j->req) && used + t <= budget)) {
            *p = j->next;
            j->next = NULL;
            j->running = true;
            *tail = j;
            tail = &j->next;
            used += t;
            continue;
        }
        s->tail = j;
        p = &j->next;
    }
    return batch;
}

/* Stops the pass when no job of the batch wants its result any more. */
static int batch_cancelled(void *user) {
    srv *s = user;
    int64_t now = gg_now_ns();
    int dead = 1;
    gg_mutex_lock(s->mu);
    for (job *j = s->running; j; j = j->next)
        if (!j->answered_with && !(j->deadline && now > j->deadline)) dead = 0;
    gg_mutex_unlock(s->mu);
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

/* A running job keeps its place in the queue's count until it is answered.
 * The place is given back before the answer is written, so a client that
 * sends its next request on reading an answer always finds room for it. */
static void release_slot_locked(srv *s) { s->depth--; }

/* Why a running job gets no vectors: the error it was answered with, or
 * TIMEOUT when its deadline has passed meanwhile; 0 when it wants them. */
static int unwanted_code_locked(const job *j) {
    if (j->answered_with) return j->answered_with;
    return j->deadline && gg_now_ns() > j->deadline ? GG_PE_TIMEOUT : 0;
}

/* Sends j its vectors, or the reason it has none. */
static void answer(srv *s, job *j, const float *vec, const ggembed_result *res, int dims) {
    gg_mutex_lock(s->mu);
    release_slot_locked(s);
    int code = unwanted_code_locked(j);
    gg_mutex_unlock(s->mu);
    if (code) return job_fail(s, j, code, code == GG_PE_TIMEOUT ? "deadline passed" : "cancelled");
    gg_buf b = {0};
    gg_encode_embed_ok_head(&b, j->req.n, (uint32_t)dims, j->req.format);
    uint64_t tokens = 0;
    for (uint32_t i = 0; i < j->req.n; i++) {
        gg_buf_u32(&b, (uint32_t)res[i].n_tokens);
        gg_buf_u32(&b, res[i].truncated ? 1 : 0);
        tokens += (uint64_t)res[i].n_tokens;
    }
    gg_encode_embed_ok_vectors(&b, vec, (size_t)j->req.n * (size_t)dims, j->req.format);
    if (b.oom) {
        gg_buf_free(&b);
        return job_fail(s, j, GG_PE_INTERNAL, "out of memory for the answer");
    }
    srv_send(j->c, GG_MSG_REPLY | GG_MSG_EMBED, j->id, b.data, b.len);
    gg_buf_free(&b);
    gg_mutex_lock(s->mu);
    s->st.texts += j->req.n;
    s->st.tokens += tokens;
    srv_stats_latency_locked(s, gg_now_ns() - j->t_recv);
    j->c->inflight--;
    srv_conn_unref_locked(j->c);
    gg_cond_broadcast(j->c->cv);
    gg_mutex_unlock(s->mu);
    job_free(j);
}

/* Runs the texts of jobs [batch, end) in one pass; returns the status. */
static ggembed_status run_pass(srv *s, job *batch, job *end, char *err, size_t err_len) {
    size_t n = 0;
    for (job *j = batch; j != end; j = j->next) n += j->req.n;
    int dims = batch->req.dims ? (int)batch->req.dims : s->info->n_embd;
    ggembed_text *texts = malloc((n ? n : 1) * sizeof *texts);
    float *vec = malloc((n ? n : 1) * (size_t)dims * sizeof *vec);
    ggembed_result *res = malloc((n ? n : 1) * sizeof *res);
    ggembed_status st = GGEMBED_E_MEMORY;
    if (texts && vec && res) {
        size_t k = 0;
        for (job *j = batch; j != end; j = j->next)
            for (uint32_t i = 0; i < j->req.n; i++, k++)
                texts[k] = (ggembed_text){j->req.texts[i].p, j->req.texts[i].len};
        ggembed_embed_options o;
        ggembed_embed_options_default(&o);
        o.pooling = batch->req.pooling;
        o.normalize = batch->req.normalize;
        o.dims = (int)batch->req.dims;
        o.truncate = batch->req.truncate;
        o.prefix = batch->req.prefix.len ? batch->req.prefix.p : NULL;
        o.prefix_len = batch->req.prefix.len;
        o.cancel = batch_cancelled;
        o.cancel_user = s;
        st = n ? ggembed_embed(s->model, texts, n, &o, vec, res, err, err_len) : GGEMBED_OK;
        if (st == GGEMBED_E_MODEL_CHANGED) srv_model_changed(s, err);
        if (st == GGEMBED_OK) {
            /* Off the running list before the jobs are answered and freed. */
            gg_mutex_lock(s->mu);
            s->st.batches++;
            s->running = NULL;
            gg_mutex_unlock(s->mu);
            k = 0;
            for (job *j = batch, *next; j != end; j = next) {
                next = j->next;
                size_t nj = j->req.n;
                answer(s, j, vec + k * (size_t)dims, res + k, dims);
                k += nj;
            }
        }
    } else {
        snprintf(err, err_len, "out of memory for %zu texts", n);
    }
    free(texts);
    free(vec);
    free(res);
    return st;
}

/* Runs a batch; when a shared pass fails, each job runs alone so the
 * error goes to the request that caused it. */
static void run_batch(srv *s, job *batch) {
    char err[GGEMBED_ERR_LEN] = "";
    ggembed_status st = run_pass(s, batch, NULL, err, sizeof err);
    if (st == GGEMBED_OK) return;
    for (job *j = batch, *next; j; j = next) {
        next = j->next;
        if (batch->next) {
            j->next = NULL;
            gg_mutex_lock(s->mu);
            s->running = j;
            gg_mutex_unlock(s->mu);
            st = run_pass(s, j, NULL, err, sizeof err);
            if (st == GGEMBED_OK) continue;
        }
        gg_mutex_lock(s->mu);
        s->running = NULL;
        release_slot_locked(s);
        int code = unwanted_code_locked(j);
        gg_mutex_unlock(s->mu);
        if (!code) code = status_code(st);
        job_fail(s, j, code, code == GG_PE_TIMEOUT ? "deadline passed" : code == GG_PE_CANCELLED ? "cancelled" : err);
    }
}

void sched_engine_main(void *arg) {
    srv *s = arg;
    gg_mutex_lock(s->mu);
    for (;;) {
        while (!s->head && !s->stopping) gg_cond_wait(s->cv, s->mu);
        if (!s->head) break; /* stopping and drained */
        job *expired = NULL;
        job *batch = take_batch(s, &expired);
        s->running = batch;
        gg_mutex_unlock(s->mu);
        fail_all(s, expired, GG_PE_TIMEOUT, EXPIRED_MSG);
        if (batch) {
            if (s->cfg.test_delay_ms > 0) gg_sleep_ms(s->cfg.test_delay_ms);
            run_batch(s, batch);
        }
        gg_mutex_lock(s->mu);
        s->running = NULL;
    }
    gg_mutex_unlock(s->mu);
}

/* Answers TIMEOUT to one running job past its deadline that has not heard
 * yet; false when there is none. s->mu held. */
static bool answer_one_overdue_locked(srv *s, int64_t now) {
    for (job *j = s->running; j; j = j->next) {
        if (j->answered_with || !j->deadline || now <= j->deadline) continue;
        answer_running_now_locked(s, j, GG_PE_TIMEOUT, "deadline passed");
        return true;
    }
    return false;
}

/* The earliest deadline of a running job not yet answered (0: none). */
static int64_t next_running_deadline(const srv *s) {
    int64_t next = 0;
    for (const job *j = s->running; j; j = j->next)
        if (!j->answered_with && j->deadline && (!next || j->deadline < next))
            next = j->deadline;
    return next;
}

/* Answers TIMEOUT to a request the moment its deadline passes, not when
 * the engine reaches it or finishes the pass it is in: behind or inside a
 * long pass a client with a short deadline still hears on time. Runs until
 * stopping with nothing waiting (no request is queued after the stop). */
void sched_deadline_main(void *arg) {
    srv *s = arg;
    gg_mutex_lock(s->mu);
    while (!s->stopping || s->head) {
        int64_t now = gg_now_ns(), next;
        job *expired = unlink_expired(s, now, &next);
        if (expired) {
            gg_mutex_unlock(s->mu);
            fail_all(s, expired, GG_PE_TIMEOUT, EXPIRED_MSG);
            gg_mutex_lock(s->mu);
            continue;
        }
        if (answer_one_overdue_locked(s, now)) continue;
        int64_t r = next_running_deadline(s);
        if (r && (!next || r < next)) next = r;
        /* Woken early by a new deadline and by the stop; at least once a
         * second all the same. */
        int64_t wait = next ? GG_MIN(next - now + 1000000, 1000000000LL) : 1000000000LL;
        gg_cond_timedwait(s->deadline_cv, s->mu, wait);
    }
    gg_mutex_unlock(s->mu);
}
