/*
 * threadpool.c - the parallel-for of threadpool.h on the platform layer's
 * threads, locks and C11 atomics.
 *
 * A run is published by storing a new `ticket`: generation, task count
 * and next task number in one 64-bit atomic. Every thread (the caller
 * too) claims tasks by incrementing the ticket; the value returned says
 * which generation and which task it got, so a claim is valid exactly when
 * its number is below that generation's count, and a thread that wakes
 * late, even by several runs, can only claim a task of the run current at
 * that moment: no task is lost, none runs twice, and no thread runs
 * anything once its run is over. A thread that got a valid claim reads the
 * run's function from jobs[gen & 1], which is rewritten only two runs
 * later, after this run (including that task) is finished. Each finished
 * task increments `done`; the caller returns when done reaches the count,
 * without waiting for workers that never woke up or found nothing left,
 * so a descheduled worker (another process took its core) cannot hold up
 * a pass. Work is spread by the claims themselves: a slow thread takes
 * fewer tasks.
 *
 * Ordering: the caller writes jobs[] and resets `done` before the seq_cst
 * store that publishes the ticket; a claim is an acq_rel read-modify-write
 * of the ticket, so it reads that store or a later increment in its release
 * sequence and sees the job. Tasks' writes reach the caller through the
 * seq_cst increments of `done`, which it reads (seq_cst) equal to the
 * count. The slot a claimer read was rewritten only after the caller saw
 * `done` complete, i.e. after the claimer's increment: no race.
 *
 * Both waits (workers for a job, the caller for `done`) spin for a
 * bounded time and then sleep on a condition variable. They do not yield
 * (unless the pool has more threads than CPUs, SPIN_NS below):
 * under Linux's EEVDF scheduler a sched_yield() charges the yielder the
 * rest of its slice whenever another task shares its core (a thread that
 * works 100 us and then yields, beside a busy loop on its core, gets 7%
 * of that core instead of 50%), so a waiter that yielded every few
 * microseconds gave a busy process sharing its core most of that core (a
 * worker beside a busy loop ran 17% of a pass, the loop 87%). Sleeping
 * runs up no such debt. How long a wait spins, and whether it yields, is
 * set before the workers start. A sleeper announces itself with a seq_cst counter
 * or flag before its last look at the shared state; the other side
 * changes that state (seq_cst) before reading the announcement. One of the
 * two must see the other's write, so either the sleeper sees the change
 * and does not sleep, or the waker sees the sleeper and signals under the
 * mutex the sleeper holds until it waits. No wake-up is lost, and when
 * nobody sleeps the fast path takes no lock.
 */
#include "threadpool.h"

#include "opprof.h"
#include "platform/platform.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define POOL_MAX_THREADS 1024
/* How long a waiting thread spins before sleeping: about what a sleep and
 * a wake-up cost, and longer than 95-99% of the waits of a 2-thread pass
 * with the cores to itself (most gaps between two operations of a forward
 * pass are a few microseconds). Spinning longer made a pass beside a busy
 * process slower (texts/s: 16.4-18.7 at 20 us, 14.7-17.6 at 50 us, 15 at
 * 1 ms), as spinning counts against a thread's share of its core as work
 * does; shorter spins (10 us) did no better there and cost quiet passes
 * 1-3% in wake-ups.
 * A pool with more threads than CPUs instead spins for up to 200 us and
 * yields every 64 turns: its threads share cores, and the thread being
 * waited for is likely queued behind the waiter, which a yield lets run
 * (4 threads on 2 cores: 26 texts/s without yields, 30 with them, as many
 * as 2 threads). */
#define SPIN_NS 20000
#define SPIN_NS_OVERSUBSCRIBED 200000

/* The ticket: generation (24 bits, wrapping) | task count (20) | next
 * task (20). A run's claims number at most its count plus one per
 * thread, so `next` never carries into the count. */
#define COUNT_SHIFT 20
#define GEN_SHIFT 40
#define FIELD_MASK ((1u << 20) - 1)
#define GEN_MASK ((1u << 24) - 1)
#define MAX_RUN_TASKS (1 << 19) /* larger runs go in pieces */

static unsigned ticket_gen(uint64_t v) { return (unsigned)(v >> GEN_SHIFT) & GEN_MASK; }
static int ticket_count(uint64_t v) { return (int)((v >> COUNT_SHIFT) & FIELD_MASK); }
static int ticket_next(uint64_t v) { return (int)(v & FIELD_MASK); }

typedef struct worker {
    gg_pool *pool;
    int index;
    gg_thread *thread;
} worker;

typedef struct job {
    gg_pool_fn fn;
    void *ctx;
} job;

struct gg_pool {
    int n_threads;
    int64_t spin_ns; /* how long a wait spins before it sleeps */
    bool yield;      /* whether it yields as it spins: more threads than CPUs */
    worker *workers; /* n_threads - 1 of them; the caller is thread 0 */

    job jobs[2];  /* generation g's in jobs[g & 1]; written by the caller */
    unsigned gen; /* the latest generation; the caller's alone */
    _Atomic uint64_t ticket;
    atomic_int done;  /* tasks of the current run finished */
    atomic_bool stop; /* set once, by gg_pool_free */

    gg_mutex *mu;
    gg_cond *job_cv;           /* workers sleep here for a job */
    gg_cond *done_cv;          /* the caller sleeps here for `done` */
    atomic_int idle_sleepers;  /* workers asleep (or about to be) on job_cv */
    atomic_bool caller_sleeps; /* the caller is asleep (or about to be) */
};

/* Claims and runs tasks until a claim finds none left; returns the
 * generation of that last claim. */
static unsigned run_tasks(gg_pool *p, int thread) {
    for (;;) {
        uint64_t v = atomic_fetch_add_explicit(&p->ticket, 1, memory_order_acq_rel);
        const unsigned g = ticket_gen(v);
        const int n = ticket_count(v), t = ticket_next(v);
        if (t >= n) return g;
        const job *j = &p->jobs[g & 1];
        GG_PROF_TASK_BEGIN();
        j->fn(j->ctx, t, thread);
        GG_PROF_TASK_END();
        /* The thread that finishes the last task wakes the caller if it
         * went to sleep. */
        if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->caller_sleeps)) {
            gg_mutex_lock(p->mu);
            gg_cond_signal(p->done_cv);
            gg_mutex_unlock(p->mu);
        }
    }
}

static bool job_ready(gg_pool *p, unsigned seen) {
    return ticket_gen(atomic_load(&p->ticket)) != seen || atomic_load(&p->stop);
}

/* Waits until a job newer than `seen` is published or the pool stops. */
static void wait_for_job(gg_pool *p, unsigned seen) {
    int64_t start = gg_now_ns();
    for (int i = 1; !job_ready(p, seen); i++) {
        gg_cpu_relax();
        if (i % 64 == 0) {
            if (gg_now_ns() - start > p->spin_ns) break;
            if (p->yield) gg_thread_yield();
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
        seen = run_tasks(p, w->index);
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
        gg_fail(e, "thread pool: %d threads requested, at most %d allowed", n_threads, POOL_MAX_THREADS);
        return NULL;
    }
    gg_pool *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->n_threads = n_threads;
    p->yield = n_threads > gg_cpu_count();
    p->spin_ns = p->yield ? SPIN_NS_OVERSUBSCRIBED : SPIN_NS;
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    p->mu = gg_mutex_new();
    p->job_cv = gg_cond_new();
    p->done_cv = gg_cond_new();
    if (!p->workers || !p->mu || !p->job_cv || !p->done_cv) {
        free_pool(p);
        goto oom;
    }
    atomic_init(&p->ticket, 0);
    atomic_init(&p->done, 0);
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
    gg_fail_kind(e, GG_E_MEMORY, "thread pool: out of memory");
    return NULL;
}

void gg_pool_free(gg_pool *p) {
    if (!p) return;
    stop_workers(p, p->n_threads - 1);
    free_pool(p);
}

int gg_pool_size(const gg_pool *p) { return p->n_threads; }

/* Waits until the n tasks of the current run are finished. */
static void wait_for_done(gg_pool *p, int n) {
    int64_t start = gg_now_ns();
    for (int i = 1; atomic_load(&p->done) < n; i++) {
        gg_cpu_relax();
        if (i % 64 == 0) {
            if (gg_now_ns() - start > p->spin_ns) break;
            if (p->yield) gg_thread_yield();
        }
    }
    if (atomic_load(&p->done) >= n) return;
    gg_mutex_lock(p->mu);
    atomic_store(&p->caller_sleeps, true);
    while (atomic_load(&p->done) < n) gg_cond_wait(p->done_cv, p->mu);
    atomic_store(&p->caller_sleeps, false);
    gg_mutex_unlock(p->mu);
}

/* Tasks base.. of a run too large for one ticket. */
typedef struct piece {
    gg_pool_fn fn;
    void *ctx;
    int base;
} piece;

static void piece_task(void *ctx, int task, int thread) {
    piece *c = ctx;
    c->fn(c->ctx, c->base + task, thread);
}

void gg_pool_run(gg_pool *p, int n_tasks, gg_pool_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (p->n_threads == 1 || n_tasks == 1) {
        /* Nothing to share: waking the workers would only cost time. */
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    if (n_tasks > MAX_RUN_TASKS) {
        for (int b = 0; b < n_tasks; b += MAX_RUN_TASKS) {
            piece c = {fn, ctx, b};
            gg_pool_run(p, GG_MIN(MAX_RUN_TASKS, n_tasks - b), piece_task, &c);
        }
        return;
    }
    p->gen = (p->gen + 1) & GEN_MASK;
    p->jobs[p->gen & 1] = (job){fn, ctx};
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    /* publishes the job (seq_cst) */
    atomic_store(&p->ticket, (uint64_t)p->gen << GEN_SHIFT | (uint64_t)n_tasks << COUNT_SHIFT);
    if (atomic_load(&p->idle_sleepers) > 0) {
        gg_mutex_lock(p->mu);
        gg_cond_broadcast(p->job_cv);
        gg_mutex_unlock(p->mu);
    }
    run_tasks(p, 0);
    wait_for_done(p, n_tasks);
}
