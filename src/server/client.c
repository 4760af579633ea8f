/*
 * client.c - the synchronous protocol client of client.h.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

uint32_t gg_client_send(gg_client *c, uint8_t type, const uint8_t *body, size_t len) {
    uint32_t id = ++c->next_id;
    if (id == 0) id = ++c->next_id;
    gg_buf out = {0};
    uint32_t max_frame = c->hello.max_frame ? c->hello.max_frame : GG_FRAME_MIN_MAX;
    gg_frames_put(&out, type, id, body, len, max_frame);
    bool ok = !out.oom && gg_conn_write(c->io, out.data, out.len);
    gg_buf_free(&out);
    return ok ? id : 0;
}

bool gg_client_recv(gg_client *c, uint8_t *type, uint32_t *id, gg_buf *reply) {
    for (;;) {
        while (c->in_off < c->in_len) {
            size_t used;
            gg_message m;
            int rc = gg_reader_feed(&c->rd, c->in + c->in_off, c->in_len - c->in_off, &used, &m);
            c->in_off += used;
            if (rc == GG_READ_MALFORMED || rc == GG_READ_TOO_LARGE) return false;
            if (rc == GG_READ_MESSAGE) {
                *type = m.type;
                *id = m.id;
                reply->len = 0;
                reply->oom = false;
                gg_buf_put(reply, m.body, m.len);
                return !reply->oom;
            }
        }
        long n = gg_conn_read(c->io, c->in, sizeof c->in);
        if (n <= 0) return false;
        c->in_len = (size_t)n;
        c->in_off = 0;
    }
}

bool gg_client_call(gg_client *c, uint8_t type, const uint8_t *body, size_t len, gg_buf *reply,
                    int *code, gg_err *e) {
    if (code) *code = 0;
    uint32_t id = gg_client_send(c, type, body, len), got;
    uint8_t rtype;
    if (!id) return gg_fail(e, "cannot send to the server"), false;
    do {
        if (!gg_client_recv(c, &rtype, &got, reply))
            return gg_fail(e, "the server closed the connection"), false;
    } while (got != id && got != 0);
    if (rtype == GG_MSG_ERROR) {
        uint16_t ec = 0;
        gg_str msg = {"", 0};
        gg_decode_error(reply->data, reply->len, &ec, &msg, NULL);
        if (code) *code = ec;
        return gg_fail(e, "%s: %.*s", gg_proto_error_name(ec), (int)msg.len, msg.p), false;
    }
    if (rtype != (GG_MSG_REPLY | type)) return gg_fail(e, "unexpected answer type 0x%02x", rtype), false;
    return true;
}

gg_client *gg_client_open(const char *address, bool is_pipe, gg_err *e) {
    gg_client *c = calloc(1, sizeof *c);
    if (!c) return gg_fail_kind(e, GG_E_MEMORY, "out of memory"), NULL;
    c->io = is_pipe ? gg_connect_pipe(address, e) : gg_connect_unix(address, e);
    if (!c->io) {
        free(c);
        return NULL;
    }
    gg_reader_init(&c->rd, 1u << 30, 1u << 30); /* answers are not limited */
    gg_hello_req h = {GG_PROTO_VERSION, GG_PROTO_VERSION, {"ggembed client", 14}};
    gg_buf body = {0};
    gg_encode_hello(&body, &h);
    bool ok = gg_client_call(c, GG_MSG_HELLO, body.data, body.len, &c->hello_body, NULL, e) &&
              gg_decode_hello_ok(c->hello_body.data, c->hello_body.len, &c->hello, e) == 0;
    gg_buf_free(&body);
    if (!ok) {
        gg_client_close(c);
        return NULL;
    }
    return c;
}

void gg_client_close(gg_client *c) {
    if (!c) return;
    gg_conn_close(c->io);
    gg_reader_free(&c->rd);
    gg_buf_free(&c->hello_body);
    free(c);
}
