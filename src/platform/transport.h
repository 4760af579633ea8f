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

/* Waits for a client; NULL once gg_listener_stop was called, or on error. */
gg_conn *gg_accept(gg_listener *l, gg_err *e);
/* Wakes gg_accept for good; safe from any thread. */
void gg_listener_stop(gg_listener *l);
/* Frees the listener and removes its socket file. */
void gg_listener_close(gg_listener *l);

gg_conn *gg_connect_unix(const char *path, gg_err *e);
gg_conn *gg_connect_pipe(const char *name, gg_err *e);

/* Reads what is there, up to cap bytes: > 0 bytes read, 0 at end of
 * stream, -1 on error or after gg_conn_shutdown. */
long gg_conn_read(gg_conn *c, void *buf, size_t cap);
/* Writes all n bytes; false on error or after gg_conn_shutdown. */
bool gg_conn_write(gg_conn *c, const void *buf, size_t n);
/* Makes blocked and later reads and writes fail; safe from any thread. */
void gg_conn_shutdown(gg_conn *c);
void gg_conn_close(gg_conn *c);

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
