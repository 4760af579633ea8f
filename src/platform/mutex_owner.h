/* mutex_owner.h - the debug-build record of which thread holds a gg_mutex,
 * shared by posix.c and win32.c (included after each defines struct
 * gg_mutex with, in debug builds, an `_Atomic(const char *) owner` field).
 *
 * gg_mutex_held() lets every `_locked` function assert the lock it needs.
 * A thread is named by the address of its own thread-local byte. Only the
 * holder writes the owner, so a thread that does not hold the mutex can
 * never read its own name there, whatever it reads: relaxed order is
 * enough. Release builds keep no owner and the hooks compile to nothing. */
#ifndef GG_MUTEX_OWNER_H
#define GG_MUTEX_OWNER_H

#ifndef NDEBUG
#include <stdatomic.h>

static _Thread_local char this_thread;
static void owner_set(gg_mutex *m) {
    atomic_store_explicit(&m->owner, &this_thread, memory_order_relaxed);
}
static void owner_clear(gg_mutex *m) { atomic_store_explicit(&m->owner, NULL, memory_order_relaxed); }
bool gg_mutex_held(gg_mutex *m) {
    return atomic_load_explicit(&m->owner, memory_order_relaxed) == &this_thread;
}
#else
#define owner_set(m) ((void)0)
#define owner_clear(m) ((void)0)
#endif

#endif
