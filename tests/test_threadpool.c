/*
 * test_threadpool.c - the parallel-for of threadpool.h: every task runs
 * exactly once, on a thread index within the pool, for many pool sizes and
 * task counts, and across thousands of back-to-back runs (the pattern of a
 * forward pass, which exercises the spin-then-sleep hand-offs); that a
 * thread stopped in the middle of a task does not hold up the tasks it has
 * not claimed, and that threads waiting (for a job, or for a task another
 * thread runs) sleep rather than spin, so a pool sharing the machine with
 * another busy process leaves it the cores it cannot use.
 */
#include "check.h"
#include "platform/platform.h"
#include "threadpool.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct counts {
    int n_tasks;
    int n_threads;
    atomic_int *hits;       /* per task */
    atomic_int bad_thread;  /* thread index out of range */
    atomic_int *per_thread; /* tasks run by each thread */
} counts;

static void count_task(void *ctx, int task, int thread) {
    counts *c = ctx;
    if (task < 0 || task >= c->n_tasks) {
        atomic_fetch_add(&c->bad_thread, 1000); /* out-of-range task: fail loudly */
        return;
    }
    atomic_fetch_add(&c->hits[task], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_fetch_add(&c->bad_thread, 1);
    else atomic_fetch_add(&c->per_thread[thread], 1);
}

/* Runs n_tasks once on `p` and checks each ran exactly once. */
static bool run_once(gg_pool *p, int n_tasks) {
    counts c = {n_tasks, gg_pool_size(p), NULL, 0, NULL};
    c.hits = calloc((size_t)n_tasks + 1, sizeof *c.hits);
    c.per_thread = calloc((size_t)c.n_threads, sizeof *c.per_thread);
    gg_pool_run(p, n_tasks, count_task, &c);
    bool ok = atomic_load(&c.bad_thread) == 0;
    for (int i = 0; i < n_tasks; i++) ok = ok && atomic_load(&c.hits[i]) == 1;
    int sum = 0;
    for (int t = 0; t < c.n_threads; t++) sum += atomic_load(&c.per_thread[t]);
    ok = ok && sum == n_tasks;
    free(c.hits);
    free(c.per_thread);
    return ok;
}

static void test_sizes(void) {
    static const int sizes[] = {1, 2, 3, 4, 8};
    static const int tasks[] = {0, 1, 2, 3, 5, 7, 8, 9, 64, 1000};
    for (size_t s = 0; s < GG_ARRAY_LEN(sizes); s++) {
        gg_err e = {{0}};
        gg_pool *p = gg_pool_new(sizes[s], &e);
        CHECKF(p != NULL, "pool of %d: %s", sizes[s], e.msg);
        if (!p) continue;
        CHECK_EQ_INT(gg_pool_size(p), sizes[s]);
        for (int round = 0; round < 20; round++) {
            for (size_t t = 0; t < GG_ARRAY_LEN(tasks); t++) {
                CHECKF(run_once(p, tasks[t]), "pool %d, %d tasks, round %d", sizes[s], tasks[t], round);
            }
        }
        gg_pool_free(p);
    }
}

/* A pool of one runs everything on the caller, as thread 0. */
static void thread_zero_only(void *ctx, int task, int thread) {
    int *seen = ctx;
    seen[task] = thread == 0 ? 1 : -1;
}

static void test_pool_of_one(void) {
    gg_pool *p = gg_pool_new(1, NULL);
    CHECK(p != NULL);
    if (!p) return;
    int seen[10] = {0};
    gg_pool_run(p, 10, thread_zero_only, seen);
    for (int i = 0; i < 10; i++) CHECK_EQ_INT(seen[i], 1);
    gg_pool_free(p);
}

/* Back-to-back runs where each depends on the previous one's results, as
 * the layers of a forward pass do: run k adds k to every slot, so a task
 * lost, duplicated or run after gg_pool_run returned shows in the sums. */
typedef struct chain {
    long long *slots;
    int k;
} chain;

static void add_k(void *ctx, int task, int thread) {
    chain *c = ctx;
    c->slots[task] += c->k;
}

static void test_back_to_back(int n_threads, int runs, int n_slots) {
    gg_pool *p = gg_pool_new(n_threads, NULL);
    CHECK(p != NULL);
    if (!p) return;
    chain c = {calloc((size_t)n_slots, sizeof(long long)), 0};
    for (int k = 1; k <= runs; k++) {
        c.k = k;
        gg_pool_run(p, n_slots, add_k, &c);
    }
    long long want = (long long)runs * (runs + 1) / 2;
    int wrong = 0;
    for (int i = 0; i < n_slots; i++) wrong += c.slots[i] != want;
    CHECKF(wrong == 0, "%d threads, %d runs: %d of %d slots wrong", n_threads, runs, wrong, n_slots);
    free(c.slots);
    gg_pool_free(p);
}

/* With pauses between runs the workers fall asleep; the next run must
 * still wake them (a lost wake-up would hang here, caught by ctest's
 * timeout) and they must take part in the work again. */
typedef struct sleepy {
    atomic_int per_thread[4];
} sleepy;

static void slow_task(void *ctx, int task, int thread) {
    sleepy *s = ctx;
    atomic_fetch_add(&s->per_thread[thread], 1);
    gg_sleep_ms(2); /* long enough that one thread cannot take every task */
}

static void test_wake_after_sleep(void) {
    gg_pool *p = gg_pool_new(4, NULL);
    CHECK(p != NULL);
    if (!p) return;
    sleepy s;
    for (int i = 0; i < 4; i++) atomic_init(&s.per_thread[i], 0);
    for (int round = 0; round < 5; round++) {
        gg_sleep_ms(20); /* well past the spin time: workers are asleep */
        CHECK(run_once(p, 13));
        gg_pool_run(p, 40, slow_task, &s);
    }
    int sum = 0, helpers = 0;
    for (int i = 0; i < 4; i++) {
        sum += atomic_load(&s.per_thread[i]);
        helpers += i > 0 && atomic_load(&s.per_thread[i]) > 0;
    }
    CHECK_EQ_INT(sum, 200);
    CHECKF(helpers > 0, "no worker thread ran any task");
    gg_pool_free(p);
}

/* Polls (sleeping, not spinning) until *v >= want; false after limit_ns. */
static bool wait_until(atomic_int *v, int want, int64_t limit_ns) {
    int64_t end = gg_now_ns() + limit_ns;
    while (atomic_load(v) < want) {
        if (gg_now_ns() > end) return false;
        gg_sleep_ms(1);
    }
    return true;
}

#define STALL_LIMIT_NS ((int64_t)10 * 1000000000)

/* A thread that stops in the middle of a task (descheduled because another
 * process took its core) must not stall the rest of the run: the others
 * take every task it has not claimed. The first task a worker gets waits
 * until all the other tasks are finished; every other task first waits
 * until a worker holds one, so the stall really happens. With the tasks
 * dealt out to the threads in advance, the stalled worker's share would
 * never run: its wait gives up after 10 s and the test fails. */
typedef struct stall {
    int n;
    atomic_int others_done;
    atomic_int worker_holds;
    atomic_int stalled_ok;
    atomic_int timeouts;
} stall;

static void stall_task(void *ctx, int task, int thread) {
    (void)task;
    stall *s = ctx;
    if (thread != 0 && atomic_exchange(&s->worker_holds, 1) == 0) {
        if (wait_until(&s->others_done, s->n - 1, STALL_LIMIT_NS)) atomic_store(&s->stalled_ok, 1);
        else atomic_fetch_add(&s->timeouts, 1);
        return;
    }
    if (!wait_until(&s->worker_holds, 1, STALL_LIMIT_NS)) atomic_fetch_add(&s->timeouts, 1);
    atomic_fetch_add(&s->others_done, 1);
}

static void test_stalled_thread(int n_threads) {
    gg_pool *p = gg_pool_new(n_threads, NULL);
    CHECK(p != NULL);
    if (!p) return;
    for (int round = 0; round < 3; round++) {
        stall s = {.n = 64};
        atomic_init(&s.others_done, 0);
        atomic_init(&s.worker_holds, 0);
        atomic_init(&s.stalled_ok, 0);
        atomic_init(&s.timeouts, 0);
        gg_pool_run(p, s.n, stall_task, &s);
        CHECKF(atomic_load(&s.timeouts) == 0 && atomic_load(&s.stalled_ok) == 1,
               "%d threads, round %d: a stalled worker held up the run (%d of %d other tasks done)",
               n_threads, round, atomic_load(&s.others_done), s.n - 1);
    }
    gg_pool_free(p);
}

/* Waiting costs no CPU beyond a short spin: while one worker runs a long
 * task, the caller (waiting for it) and the idle workers sleep, and so do
 * all of them between runs. A thread that kept spinning would take a core
 * from the work of another process, or from a thread of ours waiting for
 * that core. Process CPU time over 0.5 s of waiting must stay below 20 ms:
 * the spins are bounded (SPIN_NS, a fraction of a millisecond; the whole
 * wait costs well under 1 ms here), a spinning waiter uses up to the whole
 * 0.5 s per thread on an idle machine and still tens of ms on one where
 * twenty other processes want the cores. */
typedef struct long_run {
    atomic_int started;
    atomic_int worker_holds;
} long_run;

/* On a worker: half a second. On the caller: nothing, once a worker holds
 * the other task (so the caller cannot take both and has to wait). */
static void long_task(void *ctx, int task, int thread) {
    (void)task;
    long_run *l = ctx;
    atomic_fetch_add(&l->started, 1);
    if (thread != 0) {
        atomic_store(&l->worker_holds, 1);
        gg_sleep_ms(500);
    } else {
        (void)wait_until(&l->worker_holds, 1, STALL_LIMIT_NS);
    }
}

/* The step by which the process CPU clock advances, the largest of a few
 * (spinning until it moves, at most 0.3 s): Windows counts CPU time in
 * scheduler ticks (15.6 ms; 10 ms under wine), so the same few ms of real
 * use read as 0, 1 or 2 ticks. Nanoseconds on Linux. */
static int64_t cpu_clock_step_ns(void) {
    int64_t step = 0, prev = gg_process_cpu_ns();
    const int64_t t_end = gg_now_ns() + 300 * 1000000LL;
    for (int seen = 0; seen < 3 && gg_now_ns() < t_end;) {
        int64_t now = gg_process_cpu_ns();
        if (now != prev) {
            step = GG_MAX(step, now - prev);
            prev = now;
            seen++;
        }
    }
    return step;
}

static void test_waiting_sleeps(int n_threads) {
    gg_pool *p = gg_pool_new(n_threads, NULL);
    CHECK(p != NULL);
    if (!p) return;
    /* 20 ms, plus two of the clock's steps where it counts in ticks (a
     * spinning pool would still use hundreds of ms) */
    const int64_t step = cpu_clock_step_ns();
    CHECKF(step < 50 * 1000000LL, "the process CPU clock moves in steps of %.1f ms", (double)step / 1e6);
    const int64_t limit = 20 * 1000000 + 2 * GG_MIN(step, 50 * 1000000LL);
    CHECK(run_once(p, 100)); /* every thread started and idle */

    int64_t c0 = gg_process_cpu_ns();
    gg_sleep_ms(500);
    int64_t idle = gg_process_cpu_ns() - c0;
    CHECKF(idle < limit, "%d threads: an idle pool used %.1f ms of CPU in 0.5 s", n_threads,
           (double)idle / 1e6);

    long_run l;
    atomic_init(&l.started, 0);
    atomic_init(&l.worker_holds, 0);
    c0 = gg_process_cpu_ns();
    int64_t t0 = gg_now_ns();
    gg_pool_run(p, 2, long_task, &l);
    int64_t wall = gg_now_ns() - t0, cpu = gg_process_cpu_ns() - c0;
    CHECK_EQ_INT(atomic_load(&l.started), 2);
    CHECKF(wall >= 500 * 1000000, "%d threads: no worker ran a task (%.0f ms)", n_threads,
           (double)wall / 1e6);
    CHECKF(cpu < limit, "%d threads: waiting %.0f ms for a worker's task used %.1f ms of CPU", n_threads,
           (double)wall / 1e6, (double)cpu / 1e6);
    gg_pool_free(p);
}

static void test_default_size(void) {
    gg_err e = {{0}};
    gg_pool *p = gg_pool_new(0, &e);
    CHECKF(p != NULL, "%s", e.msg);
    if (!p) return;
    CHECK_EQ_INT(gg_pool_size(p), gg_cpu_count());
    CHECK(run_once(p, 100));
    gg_pool_free(p);
}

static void test_too_many(void) {
    gg_err e = {{0}};
    gg_pool *p = gg_pool_new(1 << 20, &e);
    CHECK(p == NULL);
    CHECKF(strstr(e.msg, "threads") != NULL, "message: %s", e.msg);
    gg_pool_free(p); /* NULL is allowed */
}

int main(void) {
    test_sizes();
    test_pool_of_one();
    test_back_to_back(2, 5000, 7);
    test_back_to_back(4, 3000, 33);
    test_back_to_back(8, 1000, 5);
    test_wake_after_sleep();
    test_stalled_thread(2);
    test_stalled_thread(4);
    test_waiting_sleeps(2);
    test_waiting_sleeps(4);
    test_default_size();
    test_too_many();
    return check_done("test_threadpool");
}
