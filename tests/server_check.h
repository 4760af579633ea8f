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

#endif
