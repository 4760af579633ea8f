/*
 * threadpool.h - a fixed set of worker threads for parallel loops.
 *
 * gg_pool_run() is a blocking parallel-for: tasks 0..n_tasks-1 are handed
 * out one at a time to the calling thread and the workers, and the call
 * returns when all of them are finished. A forward pass makes hundreds of
 * these calls, so idle workers spin for a short while waiting for the next
 * one before they go to sleep; back-to-back calls then cost microseconds
 * rather than a wake-up each.
 *
 * One pool serves one caller at a time: gg_pool_run() must not be called
 * concurrently on the same pool, nor from inside one of its tasks.
 */
#ifndef GG_THREADPOOL_H
#define GG_THREADPOOL_H

#include "common.h"

typedef struct gg_pool gg_pool;

/* `task` is the task index in [0, n_tasks); `thread` the index of the
 * thread running it, in [0, gg_pool_size()), 0 being the caller, so a
 * caller can give each thread its own scratch memory. */
typedef void (*gg_pool_fn)(void *ctx, int task, int thread);

/* n_threads counts the calling thread; n_threads <= 0 means one per
 * usable CPU. Returns NULL with a message in `e` on failure. */
gg_pool *gg_pool_new(int n_threads, gg_err *e);
void gg_pool_free(gg_pool *p);
int gg_pool_size(const gg_pool *p);

void gg_pool_run(gg_pool *p, int n_tasks, gg_pool_fn fn, void *ctx);

#endif
