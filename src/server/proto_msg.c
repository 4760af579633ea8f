/*
 * proto_msg.c - the bodies of the protocol's messages (docs/PROTOCOL.md
 * section 3): one encoder per message a side sends and one decoder per
 * message it receives. Decoders check every length against the body and
 * every string for UTF-8, so what they return can be trusted.
 */
#include "proto.h"

#include <stdlib.h>

static int bad(gg_err *e, const char *what) {
    gg_fail(e, "%s", what);
    return GG_PE_BAD_REQUEST;
}

static int check_end(const gg_rd *r, const char *msg, gg_err *e) {
    if (r->bad) return gg_fail(e, "%s: body too short", msg), GG_PE_BAD_REQUEST;
    if (!gg_rd_done(r)) return gg_fail(e, "%s: trailing bytes in body", msg), GG_PE_BAD_REQUEST;
    return 0;
}

static int check_utf8(gg_str s, const char *what, gg_err *e) {
    if (gg_utf8_valid(s.p, s.len)) return 0;
    gg_fail(e, "%s is not valid UTF-8", what);
    return GG_PE_BAD_UTF8;
}

int gg_decode_hello(const uint8_t *b, size_t n, gg_hello_req *r, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    r->min_version = gg_rd_u16(&rd);
    r->max_version = gg_rd_u16(&rd);
    r->client = gg_rd_str(&rd);
    int rc = check_end(&rd, "HELLO", e);
    if (rc) return rc;
    if (r->min_version > r->max_version) return bad(e, "HELLO: min_version > max_version");
    return check_utf8(r->client, "HELLO client name", e);
}

/* The fixed part of EMBED: options before the texts. */
static int embed_options(gg_rd *rd, gg_embed_req *r, gg_err *e) {
    r->deadline_ms = gg_rd_u32(rd);
    r->pooling = (int8_t)gg_rd_u8(rd);
    r->normalize = (int8_t)gg_rd_u8(rd);
    r->truncate = gg_rd_u8(rd);
    r->format = gg_rd_u8(rd);
    r->dims = gg_rd_u32(rd);
    r->prefix = gg_rd_str(rd);
    r->n = gg_rd_u32(rd);
    if (rd->bad) return bad(e, "EMBED: body too short");
    if (r->pooling != -1 && (r->pooling < 1 || r->pooling > 3))
        return gg_fail(e, "EMBED: pooling %d is not -1, 1, 2 or 3", r->pooling), GG_PE_INVALID;
    if (r->normalize < -1 || r->normalize > 1)
        return gg_fail(e, "EMBED: normalize %d is not -1, 0 or 1", r->normalize), GG_PE_INVALID;
    if (r->truncate > 1)
        return gg_fail(e, "EMBED: truncate %d is not 0 or 1", r->truncate), GG_PE_INVALID;
    if (r->format > 1) return gg_fail(e, "EMBED: format %d is not 0 or 1", r->format), GG_PE_INVALID;
    return check_utf8(r->prefix, "EMBED prefix", e);
}

/* The n strings that end an EMBED or RERANK body (msg names it, what
 * names one string): at most max of them, each valid UTF-8, and nothing
 * after them. *out is malloc'd on success, NULL otherwise. */
static int read_strings(gg_rd *rd, uint32_t n, uint32_t max, const char *msg, const char *what,
                        gg_str **out, gg_err *e) {
    *out = NULL;
    if (n > max)
        return gg_fail(e, "%s: %u %ss, more than max_texts %u", msg, n, what, max), GG_PE_INVALID;
    /* Each string takes at least its 4-byte length: refuse before allocating. */
    if ((uint64_t)n * 4 > rd->len - rd->off)
        return gg_fail(e, "%s: body too short for its %ss", msg, what), GG_PE_BAD_REQUEST;
    gg_str *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return gg_fail_kind(e, GG_E_MEMORY, "%s: out of memory", msg), GG_PE_INTERNAL;
    for (uint32_t i = 0; i < n; i++) v[i] = gg_rd_str(rd);
    int rc = check_end(rd, msg, e);
    for (uint32_t i = 0; i < n && !rc; i++) {
        if (!gg_utf8_valid(v[i].p, v[i].len))
            rc = (gg_fail(e, "%s: %s %u is not valid UTF-8", msg, what, i), GG_PE_BAD_UTF8);
    }
    if (rc) free(v);
    else *out = v;
    return rc;
}

int gg_decode_embed(const uint8_t *b, size_t n, uint32_t max_texts, gg_embed_req *r, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    r->texts = NULL;
    int rc = embed_options(&rd, r, e);
    if (rc) return rc;
    return read_strings(&rd, r->n, max_texts, "EMBED", "text", &r->texts, e);
}

int gg_decode_rerank(const uint8_t *b, size_t n, uint32_t max_texts, gg_rerank_req *r, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    r->docs = NULL;
    r->deadline_ms = gg_rd_u32(&rd);
    r->truncate = gg_rd_u8(&rd);
    gg_rd_bytes(&rd, 3);
    r->query = gg_rd_str(&rd);
    r->n = gg_rd_u32(&rd);
    if (rd.bad) return bad(e, "RERANK: body too short");
    if (r->truncate > 1)
        return gg_fail(e, "RERANK: truncate %d is not 0 or 1", r->truncate), GG_PE_INVALID;
    int rc = check_utf8(r->query, "RERANK query", e);
    if (rc) return rc;
    return read_strings(&rd, r->n, max_texts, "RERANK", "document", &r->docs, e);
}

int gg_decode_tokenize(const uint8_t *b, size_t n, gg_tokenize_req *r, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    r->add_special = gg_rd_u8(&rd);
    gg_rd_bytes(&rd, 3);
    r->text = gg_rd_str(&rd);
    int rc = check_end(&rd, "TOKENIZE", e);
    if (rc) return rc;
    if (r->add_special > 1) return gg_fail(e, "TOKENIZE: add_special is not 0 or 1"), GG_PE_INVALID;
    return check_utf8(r->text, "TOKENIZE text", e);
}

int gg_decode_cancel(const uint8_t *b, size_t n, uint32_t *target, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    *target = gg_rd_u32(&rd);
    return check_end(&rd, "CANCEL", e);
}

int gg_decode_empty(const uint8_t *b, size_t n, gg_err *e) {
    (void)b;
    if (n) return bad(e, "this message has an empty body");
    return 0;
}

int gg_decode_hello_ok(const uint8_t *b, size_t n, gg_hello_ok *h, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    h->version = gg_rd_u16(&rd);
    h->server = gg_rd_str(&rd);
    h->arch = gg_rd_str(&rd);
    h->name = gg_rd_str(&rd);
    h->dims = gg_rd_u32(&rd);
    h->context = gg_rd_u32(&rd);
    h->max_texts = gg_rd_u32(&rd);
    h->max_frame = gg_rd_u32(&rd);
    h->max_message = gg_rd_u32(&rd);
    h->max_queue = gg_rd_u32(&rd);
    h->pooling = (int8_t)gg_rd_u8(&rd);
    h->normalize = gg_rd_u8(&rd);
    h->has_weights = gg_rd_u8(&rd);
    gg_rd_u8(&rd);
    return check_end(&rd, "HELLO_OK", e);
}

int gg_decode_health_ok(const uint8_t *b, size_t n, gg_health_ok *h, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    h->state = gg_rd_u8(&rd);
    gg_rd_bytes(&rd, 3);
    h->queue = gg_rd_u32(&rd);
    h->connections = gg_rd_u32(&rd);
    h->uptime_ms = gg_rd_u64(&rd);
    return check_end(&rd, "HEALTH_OK", e);
}

int gg_decode_error(const uint8_t *b, size_t n, uint16_t *code, gg_str *msg, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    *code = gg_rd_u16(&rd);
    gg_rd_u16(&rd);
    *msg = gg_rd_str(&rd);
    return check_end(&rd, "ERROR", e);
}

int gg_decode_embed_ok(const uint8_t *b, size_t n, gg_embed_ok *r, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    r->n = gg_rd_u32(&rd);
    r->dims = gg_rd_u32(&rd);
    r->format = gg_rd_u8(&rd);
    gg_rd_bytes(&rd, 3);
    if (rd.bad || r->format > 1) return bad(e, "EMBED_OK: bad head");
    uint64_t vec = (uint64_t)r->n * r->dims * (r->format ? 2 : 4);
    r->info = gg_rd_bytes(&rd, (size_t)r->n * 8);
    if (rd.bad || vec != rd.len - rd.off) return bad(e, "EMBED_OK: size does not match n and dims");
    r->vectors = b + rd.off;
    return 0;
}

int gg_decode_rerank_ok(const uint8_t *b, size_t n, gg_rerank_ok *r, gg_err *e) {
    gg_rd rd;
    gg_rd_init(&rd, b, n);
    r->n = gg_rd_u32(&rd);
    if (rd.bad) return bad(e, "RERANK_OK: bad head");
    r->info = gg_rd_bytes(&rd, (size_t)r->n * 8);
    if (rd.bad || (uint64_t)r->n * 4 != rd.len - rd.off)
        return bad(e, "RERANK_OK: size does not match n");
    r->scores = b + rd.off;
    return 0;
}

/* ---- encoders ---- */

void gg_encode_hello(gg_buf *b, const gg_hello_req *r) {
    gg_buf_u16(b, r->min_version);
    gg_buf_u16(b, r->max_version);
    gg_buf_str(b, r->client.p, r->client.len);
}

void gg_encode_hello_ok(gg_buf *b, const gg_hello_ok *h) {
    gg_buf_u16(b, h->version);
    gg_buf_str(b, h->server.p, h->server.len);
    gg_buf_str(b, h->arch.p, h->arch.len);
    gg_buf_str(b, h->name.p, h->name.len);
    gg_buf_u32(b, h->dims);
    gg_buf_u32(b, h->context);
    gg_buf_u32(b, h->max_texts);
    gg_buf_u32(b, h->max_frame);
    gg_buf_u32(b, h->max_message);
    gg_buf_u32(b, h->max_queue);
    gg_buf_u8(b, (uint8_t)h->pooling);
    gg_buf_u8(b, h->normalize);
    gg_buf_u8(b, h->has_weights);
    gg_buf_u8(b, 0);
}

void gg_encode_embed(gg_buf *b, const gg_embed_req *r) {
    gg_buf_u32(b, r->deadline_ms);
    gg_buf_u8(b, (uint8_t)r->pooling);
    gg_buf_u8(b, (uint8_t)r->normalize);
    gg_buf_u8(b, r->truncate);
    gg_buf_u8(b, r->format);
    gg_buf_u32(b, r->dims);
    gg_buf_str(b, r->prefix.p, r->prefix.len);
    gg_buf_u32(b, r->n);
    for (uint32_t i = 0; i < r->n; i++) gg_buf_str(b, r->texts[i].p, r->texts[i].len);
}

void gg_encode_rerank(gg_buf *b, const gg_rerank_req *r) {
    gg_buf_u32(b, r->deadline_ms);
    gg_buf_u8(b, r->truncate);
    gg_buf_zero(b, 3);
    gg_buf_str(b, r->query.p, r->query.len);
    gg_buf_u32(b, r->n);
    for (uint32_t i = 0; i < r->n; i++) gg_buf_str(b, r->docs[i].p, r->docs[i].len);
}

void gg_encode_tokenize(gg_buf *b, const gg_tokenize_req *r) {
    gg_buf_u8(b, r->add_special);
    gg_buf_zero(b, 3);
    gg_buf_str(b, r->text.p, r->text.len);
}

void gg_encode_health_ok(gg_buf *b, const gg_health_ok *h) {
    gg_buf_u8(b, h->state);
    gg_buf_zero(b, 3);
    gg_buf_u32(b, h->queue);
    gg_buf_u32(b, h->connections);
    gg_buf_u64(b, h->uptime_ms);
}

void gg_encode_error(gg_buf *b, uint16_t code, const char *msg) {
    size_t len = 0;
    while (msg[len]) len++;
    gg_buf_u16(b, code);
    gg_buf_u16(b, 0);
    gg_buf_str(b, msg, len);
}

void gg_encode_embed_ok_head(gg_buf *b, uint32_t n, uint32_t dims, uint8_t format) {
    gg_buf_u32(b, n);
    gg_buf_u32(b, dims);
    gg_buf_u8(b, format);
    gg_buf_zero(b, 3);
}

void gg_encode_embed_ok_vectors(gg_buf *b, const float *v, size_t count, uint8_t format) {
    for (size_t i = 0; i < count; i++) {
        if (format) gg_buf_u16(b, gg_f32_to_f16(v[i]));
        else gg_buf_f32(b, v[i]);
    }
}

void gg_encode_rerank_ok(gg_buf *b, uint32_t n, const uint32_t *tokens, const uint8_t *truncated,
                         const float *scores) {
    gg_buf_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        gg_buf_u32(b, tokens[i]);
        gg_buf_u32(b, truncated[i] ? 1 : 0);
    }
    for (uint32_t i = 0; i < n; i++) gg_buf_f32(b, scores[i]);
}
