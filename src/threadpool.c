/*
 * threadpool.c - the parallel-for of threadpool.h on the platform layer's
 * threads, locks and C11 atomics.
 *
 * A run is published by bumping `gen`: workers notice the new generation,
 * take task numbers from the atomic `next` until they run out, then check
 * out by decrementing `active`. The caller also takes tasks and returns
 * only when `active` reaches zero, so no worker still reads the job when
 * the next one is written.
 *
 * Both waits (workers for a job, the caller for the workers) spin for a
 * bounded time and then sleep on a condition variable. A sleeper announces
 * itself with a seq_cst counter before its last look at the shared state;
 * the other side changes that state (seq_cst) before reading the counter.
 * One of the two must see the other's write, so either the sleeper sees
 * the change and does not sleep, or the waker sees the sleeper and
 * signals under the mutex the sleeper holds until it waits. No wake-up is
 * lost, and when nobody sleeps the fast path takes no lock.
 */
#include "threadpool.h"

#include "platform/platform.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define POOL_MAX_THREADS 1024
/* How long an idle thread spins before sleeping: long enough to bridge
 * the gap between two operations of a forward pass, short enough that an
 * idle pool costs nothing noticeable. */
#define SPIN_NS 200000

typedef struct worker {
    gg_pool *pool;
    int index;
    gg_thread *thread;
} worker;

struct gg_pool {
    int n_threads;
    worker *workers; /* n_threads - 1 of them; the caller is thread 0 */

    /* The job; written by the caller only while no worker is active. */
    gg_pool_fn fn;
    void *ctx;
    int n_tasks;

    atomic_uint gen;     /* bumped to publish a job */
    atomic_int next;     /* next task number to hand out */
    atomic_int active;   /* workers not yet done with the current job */
    atomic_bool stop;    /* set once, by gg_pool_free */

    gg_mutex *mu;
    gg_cond *job_cv;           /* workers sleep here for a job */
    gg_cond *done_cv;          /* the caller sleeps here for the workers */
    atomic_int idle_sleepers;  /* workers asleep (or about to be) on job_cv */
    atomic_bool caller_sleeps; /* the caller is asleep (or about to be) */
};

static void run_tasks(gg_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

static bool job_ready(gg_pool *p, unsigned seen) {
    return atomic_load(&p->gen) != seen || atomic_load(&p->stop);
}

/* Waits until a job newer than `seen` is published or the pool stops. */
static void wait_for_job(gg_pool *p, unsigned seen) {
    int64_t start = gg_now_ns();
    for (int i = 1; !job_ready(p, seen); i++) {
        gg_cpu_relax();
        if (i % 64 == 0) {
            if (gg_now_ns() - start > SPIN_NS) break;
            gg_thread_yield();
        }
    }
    if (job_ready(p, seen)) return;
    gg_mutex_lock(p->mu);
    atomic_fetch_add(&p->idle_sleepers, 1);
    while (!job_ready(p, seen)) gg_cond_wait(p->job_cv, p->mu);
    atomic_fetch_sub(&p->idle_sleepers, 1);
    gg_mutex_unlock(p->mu);
}

static void worker_main(void *arg) {
    worker *w = arg;
    gg_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        wait_for_job(p, seen);
        if (atomic_load(&p->stop)) return;
        seen = atomic_load(&p->gen);
        run_tasks(p, w->index);
        /* The last worker out wakes the caller if it went to sleep. */
        if (atomic_fetch_sub(&p->active, 1) == 1 && atomic_load(&p->caller_sleeps)) {
            gg_mutex_lock(p->mu);
            gg_cond_signal(p->done_cv);
            gg_mutex_unlock(p->mu);
        }
    }
}

/* Sets `stop`, wakes every worker and joins the first `n` of them. */
static void stop_workers(gg_pool *p, int n) {
    atomic_store(&p->stop, true);
    gg_mutex_lock(p->mu);
    gg_cond_broadcast(p->job_cv);
    gg_mutex_unlock(p->mu);
    for (int i = 0; i < n; i++) gg_thread_join(p->workers[i].thread);
}

static void free_pool(gg_pool *p) {
    gg_cond_free(p->done_cv);
    gg_cond_free(p->job_cv);
    gg_mutex_free(p->mu);
    free(p->workers);
    free(p);
}

gg_pool *gg_pool_new(int n_threads, gg_err *e) {
    if (n_threads <= 0) n_threads = gg_cpu_count();
    if (n_threads > POOL_MAX_THREADS) {
        gg_fail(e, "thread pool: %d threads requested, at most %d allowed", n_threads,
                POOL_MAX_THREADS);
        return NULL;
    }
    gg_pool *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->n_threads = n_threads;
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    p->mu = gg_mutex_new();
    p->job_cv = gg_cond_new();
    p->done_cv = gg_cond_new();
    if (!p->workers || !p->mu || !p->job_cv || !p->done_cv) {
        free_pool(p);
        goto oom;
    }
    atomic_init(&p->gen, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->idle_sleepers, 0);
    atomic_init(&p->caller_sleeps, false);
    for (int i = 0; i < n_threads - 1; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        w->index = i + 1;
        w->thread = gg_thread_start(worker_main, w, e);
        if (!w->thread) {
            gg_err_prefix(e, "thread pool of %d threads", n_threads);
            stop_workers(p, i);
            free_pool(p);
            return NULL;
        }
    }
    return p;
oom:
    gg_fail(e, "thread pool: out of memory");
    return NULL;
}

void gg_pool_free(gg_pool *p) {
    if (!p) return;
    stop_workers(p, p->n_threads - 1);
    free_pool(p);
}

int gg_pool_size(const gg_pool *p) { return p->n_threads; }

/* Waits until every worker has checked out of the current job. */
static void wait_for_workers(gg_pool *p) {
    int64_t start = gg_now_ns();
    for (int i = 1; atomic_load(&p->active) > 0; i++) {
        gg_cpu_relax();
        if (i % 64 == 0) {
            if (gg_now_ns() - start > SPIN_NS) break;
            gg_thread_yield();
        }
    }
    if (atomic_load(&p->active) == 0) return;
    gg_mutex_lock(p->mu);
    atomic_store(&p->caller_sleeps, true);
    while (atomic_load(&p->active) > 0) gg_cond_wait(p->done_cv, p->mu);
    atomic_store(&p->caller_sleeps, false);
    gg_mutex_unlock(p->mu);
}

void gg_pool_run(gg_pool *p, int n_tasks, gg_pool_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        /* Nothing to share: waking the workers would only cost time. */
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* publishes the job (seq_cst) */
    if (atomic_load(&p->idle_sleepers) > 0) {
        gg_mutex_lock(p->mu);
        gg_cond_broadcast(p->job_cv);
        gg_mutex_unlock(p->mu);
    }
    run_tasks(p, 0);
    wait_for_workers(p);
}
