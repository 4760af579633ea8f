/*
 * opprof.c - the op profile of opprof.h (built only with GG_PROFILE_OPS).
 */
#include "opprof.h"

#ifdef GG_PROFILE_OPS

#include "platform/platform.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROF_ROWS 64

typedef struct prof_row {
    char key[64];
    long calls;
    int64_t wall, busy, idle;
} prof_row;

static prof_row rows[PROF_ROWS];
static int n_rows;
static _Atomic int64_t busy_ns; /* tasks' time since the current op started */
static int64_t last_stop;       /* end of the previous op: the gap to the next is serial */
static int64_t first_start;
static int passes;
static int last_threads = 1;

static prof_row *row_for(const char *key) {
    for (int i = 0; i < n_rows; i++)
        if (!strcmp(rows[i].key, key)) return &rows[i];
    if (n_rows == PROF_ROWS) return &rows[PROF_ROWS - 1];
    prof_row *r = &rows[n_rows++];
    snprintf(r->key, sizeof r->key, "%s", key);
    return r;
}

static void print_table(void) {
    int64_t wall = 0, busy = 0, idle = 0;
    for (int i = 0; i < n_rows; i++) wall += rows[i].wall;
    fprintf(stderr, "\nop profile of passes 2..%d (ms; idle = threads x wall - time in tasks)\n",
            passes);
    fprintf(stderr, "%-40s %8s %10s %8s %10s %10s\n", "op", "calls", "wall", "wall%", "busy", "idle");
    for (int i = 0; i < n_rows; i++) {
        const prof_row *r = &rows[i];
        fprintf(stderr, "%-40s %8ld %10.1f %7.1f%% %10.1f %10.1f\n", r->key, r->calls, r->wall * 1e-6,
                wall ? 100.0 * (double)r->wall / (double)wall : 0.0, r->busy * 1e-6, r->idle * 1e-6);
        busy += r->busy;
        idle += r->idle;
    }
    fprintf(stderr, "%-40s %8s %10.1f %8s %10.1f %10.1f\n", "total", "", wall * 1e-6, "", busy * 1e-6,
            idle * 1e-6);
}

void gg_prof_pass(void) {
    if (++passes == 2) { /* the first pass (cold: faulting the mapping in) is left out */
        memset(rows, 0, sizeof rows);
        n_rows = 0;
    }
    last_stop = 0; /* the time between passes is no op's */
}

int64_t gg_prof_start(void) {
    const int64_t now = gg_now_ns();
    if (!first_start) {
        first_start = now;
        atexit(print_table);
    } else if (last_stop) { /* the caller alone: the other threads wait */
        prof_row *r = row_for("(between ops, serial)");
        r->calls++;
        r->wall += now - last_stop;
        r->busy += now - last_stop;
        r->idle += (int64_t)(last_threads - 1) * (now - last_stop);
    }
    atomic_store(&busy_ns, 0);
    return now;
}

void gg_prof_task(int64_t ns) { atomic_fetch_add(&busy_ns, ns); }

void gg_prof_stop(int64_t start, const char *name, const gg_matrix *w, int n_threads) {
    const int64_t now = gg_now_ns(), wall = now - start;
    char key[64];
    if (w)
        snprintf(key, sizeof key, "%s %s %lldx%lld", name, gg_type_info(w->type)->name,
                 (long long)w->rows, (long long)w->cols);
    else snprintf(key, sizeof key, "%s", name);
    prof_row *r = row_for(key);
    int64_t busy = atomic_load(&busy_ns);
    if (busy == 0) busy = wall; /* ran on the caller alone, outside the pool */
    r->calls++;
    r->wall += wall;
    r->busy += busy;
    r->idle += (int64_t)n_threads * wall - busy;
    last_stop = now;
    last_threads = n_threads;
}

#endif
