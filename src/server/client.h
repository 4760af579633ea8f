/*
 * client.h - a small synchronous client of the protocol, for
 * `ggembed client`, the benchmarks and the tests: connect, HELLO, then one
 * request at a time (or several sent first and answers read in any order).
 */
#ifndef GG_CLIENT_H
#define GG_CLIENT_H

#include "../platform/transport.h"
#include "proto.h"

typedef struct gg_client {
    gg_conn *io;
    gg_reader rd;
    gg_hello_ok hello;
    gg_buf hello_body; /* hello's strings point into it */
    uint8_t in[65536];
    size_t in_len, in_off;
    uint32_t next_id;
} gg_client;

/* Connects to a socket path or (with is_pipe) a pipe name and says HELLO. */
gg_client *gg_client_open(const char *address, bool is_pipe, gg_err *e);
void gg_client_close(gg_client *c);

/* Sends a request; returns its id, or 0 when the connection failed. */
uint32_t gg_client_send(gg_client *c, uint8_t type, const uint8_t *body, size_t len);
/* Reads the next answer into *reply (a copy the caller frees with
 * gg_buf_free); false when the connection ended or broke. */
bool gg_client_recv(gg_client *c, uint8_t *type, uint32_t *id, gg_buf *reply);
/* send + recv for one request; when the answer is an ERROR, returns false
 * with "CODE_NAME: message" in e and the code in *code (if not NULL). */
bool gg_client_call(gg_client *c, uint8_t type, const uint8_t *body, size_t len, gg_buf *reply,
                    int *code, gg_err *e);

#endif
