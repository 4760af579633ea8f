/*
 * opprof.h - where a forward pass spends its time, op by op: a profile
 * for benchmarks, compiled in only with -DGGEMBED_PROFILE_OPS=ON (the
 * macro GG_PROFILE_OPS); in every other build the hooks are empty and
 * cost nothing.
 *
 * Each op of ops.c is timed from start to stop (wall), and the thread
 * pool adds the time each thread spends inside tasks, so that per op
 *     idle = threads x wall - busy
 * is the time threads waited: at the barrier, for a slower thread (an
 * uneven split), or for serial work inside the op. Time between ops
 * (serial code of the forward pass, outside any op) is its own row. At
 * exit the table goes to stderr, one row per op name (and matrix shape
 * for products). The first pass is left out (its weights come from
 * disk or page faults), so profile a benchmark that makes several.
 *
 * Not thread-safe across pools: one engine per process while profiling.
 */
#ifndef GG_OPPROF_H
#define GG_OPPROF_H

#include <stdint.h>

#include "kernels/kernels.h"

#ifdef GG_PROFILE_OPS
void gg_prof_pass(void); /* a forward pass starts */
int64_t gg_prof_start(void);
/* w: the product's matrix, or NULL */
void gg_prof_stop(int64_t start, const char *name, const gg_matrix *w, int n_threads);
void gg_prof_task(int64_t ns);
#define GG_PROF_PASS() gg_prof_pass()
#define GG_PROF_START() gg_prof_start()
#define GG_PROF_STOP(t, name, w, nth) gg_prof_stop(t, name, w, nth)
#define GG_PROF_TASK_BEGIN() int64_t gg_prof_t0_ = gg_now_ns()
#define GG_PROF_TASK_END() gg_prof_task(gg_now_ns() - gg_prof_t0_)
#else
#define GG_PROF_PASS() ((void)0)
#define GG_PROF_START() ((int64_t)0)
#define GG_PROF_STOP(t, name, w, nth) ((void)(t), (void)(name))
#define GG_PROF_TASK_BEGIN() ((void)0)
#define GG_PROF_TASK_END() ((void)0)
#endif

#endif
