/*
 * server_check.h - what the server tests (test_server_unix.c,
 * test_server_pipe.c) share: the refusal of a transport the OS lacks,
 * TOKENIZE answers checked against the library in this process, garbage
 * answered with MALFORMED, and many clients with mixed requests in
 * flight at once. The tests differ in how they start a server (a POSIX
 * child or a Windows process), not in what they ask of it.
 */
#ifndef GG_SERVER_CHECK_H
#define GG_SERVER_CHECK_H

#include "ggembed.h"
#include "platform/transport.h"
#include "server/client.h"

/* Listening on and connecting to a transport this OS lacks both fail,
 * with messages that contain listen_hint and connect_hint. */
void check_transport_refused(gg_listener *(*listen)(const char *, gg_err *),
                             gg_conn *(*connect)(const char *, gg_err *), const char *name,
                             const char *listen_hint, const char *connect_hint);

/* Failures in a TOKENIZE answer body against the library's own ids for
 * text (specials added); 0 when they are equal. */
int tokenize_answer_errors(const ggembed_model *m, const char *text, const uint8_t *body, size_t len);

/* Garbage on a raw connection gets a MALFORMED error and then the end of
 * the stream. */
void check_garbage_refused(const char *address, bool is_pipe);

typedef struct mixed_clients {
    const char *address;
    bool is_pipe;
    const ggembed_model *model; /* TOKENIZE answers are checked against it */
    const char *const *texts;
    size_t n_texts;
    int clients, requests; /* requests per client */
    /* NULL: HEALTH then two TOKENIZE in turn. Set: every third request is
     * an EMBED of one text instead, answered with BUSY or with a body in
     * which this counts the failures. */
    int (*embed_errors)(const uint8_t *body, size_t len, size_t text);
} mixed_clients;

/* Runs the clients on threads at once. Each sends all its requests
 * without waiting, then reads the answers in any order and matches each
 * to its request by id. Returns the failures of all of them. */
int run_mixed_clients(const mixed_clients *m);

/* ---- a server child process ---- */

typedef struct server_proc {
    long pid;          /* POSIX: the child */
    void *process;     /* Windows: its process handle */
    char address[512]; /* a socket path in a fresh directory (POSIX), a pipe name (Windows) */
    bool is_pipe;
} server_proc;

/* Starts `$GGEMBED_BIN serve -m model (--socket PATH | --pipe NAME)
 * args...` with the environment entries env added (both lists
 * NULL-terminated, may be NULL) and waits up to 10 s until it answers;
 * false when it does not. */
bool server_proc_start(server_proc *p, const char *model, const char *const *args,
                       const char *const *env);
/* Stops it (POSIX: SIGTERM; Windows: SHUTDOWN) and waits: its exit
 * status, 128 + the signal it died of (POSIX), or -1 when it did not end. */
int server_proc_stop(server_proc *p);
/* Writes a bert-tiny model (`ggembed mkmodel`, the bge vocabulary) to path. */
bool make_tiny_model(const char *path);
/* The same with another BERT-family preset (bge-reranker-tiny, say). */
bool make_preset_model(const char *path, const char *preset);

/* Sends EMBED of texts with these options; returns the request id (0 when
 * the connection failed). */
uint32_t send_embed(gg_client *c, const char *const *texts, uint32_t n, uint32_t deadline_ms,
                    bool truncate, const char *prefix);
/* The error code of an ERROR answer body (0 when it is not one). */
int answer_error_code(uint8_t type, const gg_buf *r);

/* One text's expected EMBED result, computed by the library in this
 * process with the same options the request names. */
typedef struct ref_embedding {
    int tokens, truncated, dims;
    ggembed_status status; /* not OK: the server must answer the same error */
    float *v;
} ref_embedding;

/* Computes ref for text alone on m (normalize and pooling: the model's). */
bool ref_embed(ggembed_model *m, const char *text, bool truncate, const char *prefix,
               ref_embedding *ref);
/* Failures of an EMBED_OK body against refs[0..n): counts, flags, and every
 * value within 1e-5. */
int embed_ok_errors(const uint8_t *body, size_t len, const ref_embedding *const *refs, uint32_t n);

#endif
