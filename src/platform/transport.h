/*
 * transport.h - byte-stream connections between a ggembed server and its
 * clients, one interface over Unix domain sockets, Windows named pipes and
 * the process's own stdin/stdout; and the process-life events that stop a
 * server (SIGTERM/SIGINT, a console close, the parent's death).
 *
 * Every blocking call can be interrupted from another thread: the server
 * uses one reader and one writer thread per connection and must be able to
 * wake them all when it stops.
 */
#ifndef GG_TRANSPORT_H
#define GG_TRANSPORT_H

#include "../common.h"

typedef struct gg_listener gg_listener;
typedef struct gg_conn gg_conn;

/* Unix socket at path, mode 0600; its directory must belong to the user
 * and be closed to others. A stale socket file is replaced; a live one is
 * an error. Not available on Windows (returns NULL). */
gg_listener *gg_listen_unix(const char *path, gg_err *e);
/* \\.\pipe\NAME for the current user only. Windows only. */
gg_listener *gg_listen_pipe(const char *name, gg_err *e);
/* stdin/stdout: gg_accept gives one connection, then waits for the stop. */
gg_listener *gg_listen_stdio(gg_err *e);

/* What gg_accept did. A failure that concerns one client (the process is
 * out of descriptors or memory for it, it went away) is GG_ACCEPT_RETRY:
 * that client was sent the refusal bytes (if any) and closed, and the
 * listener goes on; only a listener that cannot work any more is BROKEN. */
typedef enum gg_accept_status {
    GG_ACCEPT_OK,      /* *out is a new connection */
    GG_ACCEPT_RETRY,   /* no connection this time; e says why; call again */
    GG_ACCEPT_STOPPED, /* gg_listener_stop was called */
    GG_ACCEPT_BROKEN,  /* the listener failed for good; e says why */
} gg_accept_status;

/* Waits for a client. Out of descriptors, it turns the waiting client away
 * with the refusal bytes instead of leaving it hanging, and backs off
 * briefly when even that is impossible. */
gg_accept_status gg_accept(gg_listener *l, gg_conn **out, gg_err *e);
/* Bytes a client turned away inside gg_accept is sent (a protocol ERROR);
 * copied. */
void gg_listener_set_refusal(gg_listener *l, const void *msg, size_t n);
/* Wakes gg_accept for good; safe from any thread. */
void gg_listener_stop(gg_listener *l);
/* Frees the listener and removes its socket file, unless that path now
 * names another file (another server's socket): a path is only removed
 * while it is the very socket this listener made. */
void gg_listener_close(gg_listener *l);

/* How many connections a server can hold with descriptors to spare: from
 * the process's descriptor limit where there is one (one descriptor per
 * connection plus a reserve), at most GG_CONN_LIMIT_CAP. */
#define GG_CONN_LIMIT_CAP 1024
uint32_t gg_conn_limit_default(void);

gg_conn *gg_connect_unix(const char *path, gg_err *e);
gg_conn *gg_connect_pipe(const char *name, gg_err *e);

/* Reads what is there, up to cap bytes: > 0 bytes read, 0 at end of
 * stream, -1 on error or after gg_conn_shutdown. */
long gg_conn_read(gg_conn *c, void *buf, size_t cap);
/* gg_conn_read that gives up after timeout_ms (< 0: never) and then
 * returns GG_CONN_TIMEOUT, the connection intact. */
#define GG_CONN_TIMEOUT (-2)
long gg_conn_read_within(gg_conn *c, void *buf, size_t cap, int64_t timeout_ms);
/* Writes all n bytes; false on error or after gg_conn_shutdown. */
bool gg_conn_write(gg_conn *c, const void *buf, size_t n);
/* Makes blocked and later reads and writes fail; safe from any thread. */
void gg_conn_shutdown(gg_conn *c);
void gg_conn_close(gg_conn *c);
/* Turns a client away: writes msg as far as it goes without waiting more
 * than a moment, then closes c. */
void gg_conn_refuse(gg_conn *c, const void *msg, size_t n);

/* Calls fn(user) once, from a thread of its own, when the process is asked
 * to stop: SIGTERM, SIGINT, a console close, or (Linux) the parent's death.
 * Also makes writes to closed connections fail instead of killing the
 * process (SIGPIPE). gg_stop_watch_end undoes it. */
typedef struct gg_stop_watch gg_stop_watch;
gg_stop_watch *gg_stop_watch_start(void (*fn)(void *), void *user, gg_err *e);
void gg_stop_watch_end(gg_stop_watch *w);

/* Process id, for the ready line. */
long gg_process_id(void);

#endif
