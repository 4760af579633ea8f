/*
 * test_proto.c - the protocol codec against the hex examples of
 * docs/PROTOCOL.md (read from the document itself, so the document and
 * the code cannot drift apart), plus the frame reader's edge cases,
 * UTF-8 validation and half-float conversion.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/proto.h"

#define MAX_BLOCKS 32

typedef struct block {
    uint8_t b[512];
    size_t n;
} block;

static block blocks[MAX_BLOCKS];
static int n_blocks;

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* A line of the document made only of 4-space indent and hex byte pairs. */
static bool hex_line(const char *s, block *out) {
    if (strncmp(s, "    ", 4) != 0) return false;
    s += 4;
    size_t n = 0;
    uint8_t tmp[64];
    while (*s && *s != '\n') {
        if (*s == ' ') {
            s++;
            continue;
        }
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0 || n == sizeof tmp) return false;
        tmp[n++] = (uint8_t)(hi * 16 + lo);
        s += 2;
    }
    if (n == 0 || out->n + n > sizeof out->b) return false;
    memcpy(out->b + out->n, tmp, n);
    out->n += n;
    return true;
}

/* Collects the hex example blocks of section 4, in document order. */
/* docs/PROTOCOL.md, NUL-terminated (malloc'd), or NULL. */
static char *protocol_doc(void) {
    char path[1024];
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dir = slash ? (int)(slash - file) : 0;
    snprintf(path, sizeof path, "%.*s%s../docs/PROTOCOL.md", dir, file, slash ? "/" : "");
    size_t size;
    char *doc = (char *)check_read_file(path, &size); /* NUL-terminated */
    CHECKF(doc != NULL, "cannot read %s", path);
    return doc;
}

static void load_examples(void) {
    char *doc = protocol_doc();
    if (!doc) return;
    bool in_block = false;
    for (char *line = doc; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (n_blocks < MAX_BLOCKS && hex_line(line, &blocks[n_blocks])) {
            in_block = true;
        } else if (in_block) {
            in_block = false;
            n_blocks++;
        }
    }
    free(doc);
}

static bool same(const gg_buf *b, const block *x) {
    return !b->oom && b->len == x->n && memcmp(b->data, x->b, x->n) == 0;
}

/* Reads one whole message out of an example block. */
static gg_message one_message(const block *x, gg_reader *r) {
    gg_message m = {0};
    size_t used;
    int rc = gg_reader_feed(r, x->b, x->n, &used, &m);
    CHECK_EQ_INT(rc, GG_READ_MESSAGE);
    CHECK_EQ_INT(used, x->n);
    return m;
}

static void frame_of(gg_buf *out, uint8_t type, uint32_t id, gg_buf *body) {
    gg_frames_put(out, type, id, body->data, body->len, GG_DEFAULT_MAX_FRAME);
    gg_buf_free(body);
}

static gg_str S(const char *s) {
    gg_str r = {s, (uint32_t)strlen(s)};
    return r;
}

static void test_hello(gg_reader *r) {
    gg_message m = one_message(&blocks[0], r);
    CHECK_EQ_INT(m.type, GG_MSG_HELLO);
    CHECK_EQ_INT(m.id, 1);
    gg_hello_req h;
    CHECK_EQ_INT(gg_decode_hello(m.body, m.len, &h, NULL), 0);
    CHECK_EQ_INT(h.min_version, 1);
    CHECK_EQ_INT(h.max_version, 1);
    CHECK(h.client.len == 4 && !memcmp(h.client.p, "node", 4));
    gg_buf body = {0}, out = {0};
    gg_encode_hello(&body, &h);
    frame_of(&out, GG_MSG_HELLO, 1, &body);
    CHECK(same(&out, &blocks[0]));
    gg_buf_free(&out);

    gg_hello_ok ok = {1, S("ggembed 0.1.0"), S("bert"), S("tiny"), 8, 64, 256, 65536, 4194304, 64, 1, 1,
                      1};
    gg_encode_hello_ok(&body, &ok);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_HELLO, 1, &body);
    CHECK(same(&out, &blocks[1]));
    gg_buf_free(&out);
    m = one_message(&blocks[1], r);
    gg_hello_ok back;
    CHECK_EQ_INT(gg_decode_hello_ok(m.body, m.len, &back, NULL), 0);
    CHECK_EQ_INT(back.max_message, 4194304);
    CHECK_EQ_INT(back.max_queue, 64);
    CHECK(back.name.len == 4 && !memcmp(back.name.p, "tiny", 4));
}

static void test_embed(gg_reader *r) {
    gg_message m = one_message(&blocks[2], r);
    CHECK_EQ_INT(m.type, GG_MSG_EMBED);
    CHECK_EQ_INT(m.id, 2);
    gg_embed_req e;
    CHECK_EQ_INT(gg_decode_embed(m.body, m.len, 256, &e, NULL), 0);
    CHECK_EQ_INT(e.deadline_ms, 5000);
    CHECK_EQ_INT(e.pooling, -1);
    CHECK_EQ_INT(e.normalize, -1);
    CHECK_EQ_INT(e.truncate, 1);
    CHECK_EQ_INT(e.format, 0);
    CHECK_EQ_INT(e.dims, 0);
    CHECK_EQ_INT(e.prefix.len, 0);
    CHECK_EQ_INT(e.n, 2);
    if (e.n == 2) CHECK(e.texts[1].len == 2 && !memcmp(e.texts[1].p, "ok", 2));
    gg_buf body = {0}, out = {0};
    gg_encode_embed(&body, &e);
    frame_of(&out, GG_MSG_EMBED, 2, &body);
    CHECK(same(&out, &blocks[2]));
    gg_buf_free(&out);
    free(e.texts);
    /* one text too many for the limit is INVALID, not a crash */
    CHECK_EQ_INT(gg_decode_embed(m.body, m.len, 1, &e, NULL), GG_PE_INVALID);

    const float v[4] = {0.6f, 0.8f, 1.0f, 0.0f};
    gg_encode_embed_ok_head(&body, 2, 2, 0);
    for (int i = 0; i < 2; i++) gg_buf_u32(&body, 3), gg_buf_u32(&body, 0);
    gg_encode_embed_ok_vectors(&body, v, 4, 0);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_EMBED, 2, &body);
    CHECK(same(&out, &blocks[3]));
    gg_buf_free(&out);
    gg_encode_embed_ok_head(&body, 1, 2, 1);
    gg_buf_u32(&body, 3), gg_buf_u32(&body, 1);
    gg_encode_embed_ok_vectors(&body, v, 2, 1);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_EMBED, 2, &body);
    CHECK(same(&out, &blocks[4]));
    gg_buf_free(&out);

    m = one_message(&blocks[3], r);
    gg_embed_ok ok;
    CHECK_EQ_INT(gg_decode_embed_ok(m.body, m.len, &ok, NULL), 0);
    CHECK_EQ_INT(ok.n, 2);
    CHECK_EQ_INT(ok.dims, 2);
    CHECK(ok.vectors == m.body + 12 + 16);
}

static void test_small_messages(gg_reader *r) {
    gg_message m = one_message(&blocks[5], r);
    gg_tokenize_req t;
    CHECK_EQ_INT(m.type, GG_MSG_TOKENIZE);
    CHECK_EQ_INT(gg_decode_tokenize(m.body, m.len, &t, NULL), 0);
    CHECK(t.add_special == 1 && t.text.len == 2 && !memcmp(t.text.p, "hi", 2));
    gg_buf body = {0}, out = {0};
    gg_encode_tokenize(&body, &t);
    frame_of(&out, GG_MSG_TOKENIZE, 3, &body);
    CHECK(same(&out, &blocks[5]));
    gg_buf_free(&out);

    gg_buf_u32(&body, 3);
    gg_buf_u32(&body, 101), gg_buf_u32(&body, 7632), gg_buf_u32(&body, 102);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_TOKENIZE, 3, &body);
    CHECK(same(&out, &blocks[6]));
    gg_buf_free(&out);

    m = one_message(&blocks[7], r);
    CHECK(m.type == GG_MSG_HEALTH && m.id == 4 && gg_decode_empty(m.body, m.len, NULL) == 0);
    gg_health_ok h = {0, 1, 2, 61000};
    gg_encode_health_ok(&body, &h);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_HEALTH, 4, &body);
    CHECK(same(&out, &blocks[8]));
    gg_buf_free(&out);
    m = one_message(&blocks[8], r);
    gg_health_ok hb;
    CHECK_EQ_INT(gg_decode_health_ok(m.body, m.len, &hb, NULL), 0);
    CHECK_EQ_INT(hb.uptime_ms, 61000);

    m = one_message(&blocks[9], r);
    CHECK(m.type == GG_MSG_STATS && m.id == 5 && m.len == 0);
    gg_buf_u32(&body, 2);
    gg_buf_str(&body, "requests", 8), gg_buf_u64(&body, 42);
    gg_buf_str(&body, "rss_anon", 8), gg_buf_u64(&body, 10485760);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_STATS, 5, &body);
    CHECK(same(&out, &blocks[10]));
    gg_buf_free(&out);

    m = one_message(&blocks[11], r);
    uint32_t target = 0;
    CHECK(m.type == GG_MSG_CANCEL && gg_decode_cancel(m.body, m.len, &target, NULL) == 0);
    CHECK_EQ_INT(target, 2);
    gg_buf_u8(&body, 1), gg_buf_zero(&body, 3);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_CANCEL, 6, &body);
    CHECK(same(&out, &blocks[12]));
    gg_buf_free(&out);

    m = one_message(&blocks[13], r);
    CHECK(m.type == GG_MSG_SHUTDOWN && m.id == 7 && m.len == 0);
    m = one_message(&blocks[14], r);
    CHECK(m.type == (GG_MSG_REPLY | GG_MSG_SHUTDOWN) && m.len == 0);

    gg_encode_error(&body, GG_PE_BUSY, "queue full");
    frame_of(&out, GG_MSG_ERROR, 2, &body);
    CHECK(same(&out, &blocks[15]));
    gg_buf_free(&out);
    m = one_message(&blocks[15], r);
    uint16_t code;
    gg_str msg;
    CHECK_EQ_INT(gg_decode_error(m.body, m.len, &code, &msg, NULL), 0);
    CHECK_EQ_INT(code, GG_PE_BUSY);
    CHECK(msg.len == 10 && !memcmp(msg.p, "queue full", 10));
}

/* The RERANK examples; a reranker's pooling (4) in HELLO_OK; and the
 * requests the decoder must refuse. */
static void test_rerank(gg_reader *r) {
    gg_message m = one_message(&blocks[18], r);
    CHECK_EQ_INT(m.type, GG_MSG_RERANK);
    CHECK_EQ_INT(m.id, 10);
    CHECK(!strcmp(gg_proto_type_name(m.type), "RERANK"));
    CHECK(!strcmp(gg_proto_type_name(GG_MSG_REPLY | GG_MSG_RERANK), "RERANK"));
    gg_rerank_req q;
    CHECK_EQ_INT(gg_decode_rerank(m.body, m.len, 256, &q, NULL), 0);
    CHECK_EQ_INT(q.deadline_ms, 0);
    CHECK_EQ_INT(q.truncate, 1);
    CHECK(q.query.len == 1 && q.query.p[0] == 'q');
    CHECK_EQ_INT(q.n, 2);
    if (q.n == 2) CHECK(q.docs[0].len == 1 && q.docs[1].len == 2 && !memcmp(q.docs[1].p, "bc", 2));
    gg_buf body = {0}, out = {0};
    gg_encode_rerank(&body, &q);
    frame_of(&out, GG_MSG_RERANK, 10, &body);
    CHECK(same(&out, &blocks[18]));
    gg_buf_free(&out);
    free(q.docs);
    CHECK_EQ_INT(gg_decode_rerank(m.body, m.len, 1, &q, NULL), GG_PE_INVALID); /* over max_texts */
    CHECK(q.docs == NULL);

    const uint32_t tokens[2] = {5, 6};
    const uint8_t cut[2] = {0, 1};
    const float scores[2] = {0.5f, -1.25f};
    gg_encode_rerank_ok(&body, 2, tokens, cut, scores);
    frame_of(&out, GG_MSG_REPLY | GG_MSG_RERANK, 10, &body);
    CHECK(same(&out, &blocks[19]));
    gg_buf_free(&out);
    m = one_message(&blocks[19], r);
    gg_rerank_ok ok;
    CHECK_EQ_INT(gg_decode_rerank_ok(m.body, m.len, &ok, NULL), 0);
    CHECK_EQ_INT(ok.n, 2);
    CHECK(ok.info == m.body + 4 && ok.scores == m.body + 4 + 16);
    CHECK_EQ_INT(gg_decode_rerank_ok(m.body, m.len - 1, &ok, NULL), GG_PE_BAD_REQUEST);
    CHECK_EQ_INT(gg_decode_rerank_ok(m.body, 3, &ok, NULL), GG_PE_BAD_REQUEST);

    /* every prefix of the request is BAD_REQUEST, a byte more too */
    const uint8_t *rb = blocks[18].b + GG_FRAME_HEADER;
    size_t len = blocks[18].n - GG_FRAME_HEADER;
    for (size_t k = 0; k < len; k++) {
        int rc = gg_decode_rerank(rb, k, 256, &q, NULL);
        CHECKF(rc == GG_PE_BAD_REQUEST, "RERANK prefix %zu: %d", k, rc);
    }
    uint8_t longer[64];
    memcpy(longer, rb, len);
    longer[len] = 0;
    CHECK_EQ_INT(gg_decode_rerank(longer, len + 1, 256, &q, NULL), GG_PE_BAD_REQUEST);
    /* truncate 2; bad UTF-8 in the query, then in a document */
    memcpy(longer, rb, len);
    longer[4] = 2;
    CHECK_EQ_INT(gg_decode_rerank(longer, len, 256, &q, NULL), GG_PE_INVALID);
    memcpy(longer, rb, len);
    longer[12] = 0xff;
    CHECK_EQ_INT(gg_decode_rerank(longer, len, 256, &q, NULL), GG_PE_BAD_UTF8);
    memcpy(longer, rb, len);
    longer[len - 1] = 0xc3;
    CHECK_EQ_INT(gg_decode_rerank(longer, len, 256, &q, NULL), GG_PE_BAD_UTF8);
    CHECK(q.docs == NULL);
    /* a document count far beyond the body must not allocate for it */
    gg_buf b = {0};
    gg_buf_u32(&b, 0), gg_buf_u8(&b, 1), gg_buf_zero(&b, 3), gg_buf_str(&b, "q", 1);
    gg_buf_u32(&b, 0x7FFFFFFF);
    CHECK_EQ_INT(gg_decode_rerank(b.data, b.len, 0xFFFFFFFFu, &q, NULL), GG_PE_BAD_REQUEST);
    gg_buf_free(&b);
    /* zero documents is a request */
    gg_rerank_req none = {7, 0, S("q"), 0, NULL};
    gg_encode_rerank(&b, &none);
    CHECK_EQ_INT(gg_decode_rerank(b.data, b.len, 256, &q, NULL), 0);
    CHECK(q.n == 0 && q.deadline_ms == 7 && q.truncate == 0);
    free(q.docs);
    gg_buf_free(&b);

    /* a reranker says so in HELLO_OK */
    gg_hello_ok h = {1, S("s"), S("bert"), S(""), 8, 64, 256, 65536, 4194304, 64, 4, 1, 1}, back;
    gg_encode_hello_ok(&b, &h);
    CHECK_EQ_INT(gg_decode_hello_ok(b.data, b.len, &back, NULL), 0);
    CHECK_EQ_INT(back.pooling, 4);
    gg_buf_free(&b);
}

/* The split example, fed one byte at a time, gives one message. */
static void test_split(void) {
    gg_reader r;
    gg_reader_init(&r, GG_DEFAULT_MAX_FRAME, 1 << 20);
    block all = blocks[16];
    memcpy(all.b + all.n, blocks[17].b, blocks[17].n);
    all.n += blocks[17].n;
    int messages = 0;
    gg_message m = {0};
    for (size_t i = 0; i < all.n; i++) {
        size_t used;
        int rc = gg_reader_feed(&r, all.b + i, 1, &used, &m);
        CHECK_EQ_INT(used, 1);
        if (rc == GG_READ_MESSAGE) {
            messages++;
            CHECK_EQ_INT(i, all.n - 1);
        }
    }
    CHECK_EQ_INT(messages, 1);
    CHECK(m.type == GG_MSG_EMBED && m.id == 9);
    gg_embed_req e;
    CHECK_EQ_INT(gg_decode_embed(m.body, m.len, 8, &e, NULL), 0);
    CHECK(e.n == 1 && e.texts[0].len == 3 && !memcmp(e.texts[0].p, "abc", 3));
    CHECK_EQ_INT(e.deadline_ms, 0);
    /* re-encoded in 22-byte frames: 10 + 10 + 7 payload bytes, MORE on
     * the first two, and the reader gives back the same body */
    gg_buf body = {0}, out = {0};
    gg_encode_embed(&body, &e);
    CHECK_EQ_INT(body.len, 27);
    gg_frames_put(&out, GG_MSG_EMBED, 9, body.data, body.len, 22);
    CHECK_EQ_INT(out.len, 27 + 3 * 12);
    if (out.len == 27 + 3 * 12) {
        CHECK(out.data[0] == 10 && out.data[5] == 1 && out.data[22] == 10 && out.data[27] == 1);
        CHECK(out.data[44] == 7 && out.data[49] == 0);
    }
    CHECK(same(&out, &all) == false);
    size_t used;
    int rc = GG_READ_MORE;
    for (size_t off = 0; off < out.len && rc == GG_READ_MORE; off += used)
        rc = gg_reader_feed(&r, out.data + off, out.len - off, &used, &m);
    CHECK_EQ_INT(rc, GG_READ_MESSAGE);
    CHECK(m.len == body.len && !memcmp(m.body, body.data, body.len));
    gg_buf_free(&body);
    gg_buf_free(&out);
    free(e.texts);
    gg_reader_free(&r);
}

static int feed_all(gg_reader *r, const uint8_t *p, size_t n) {
    size_t used;
    gg_message m;
    int rc = GG_READ_MORE;
    while (n > 0) {
        rc = gg_reader_feed(r, p, n, &used, &m);
        p += used, n -= used;
        if (rc != GG_READ_MORE) break;
    }
    return rc;
}

static void test_bad_frames(void) {
    gg_reader r;
    uint8_t f[GG_FRAME_HEADER] = {0, 0, 0, 0, 4, 2, 0, 0, 1, 0, 0, 0}; /* flag bit 1 */
    gg_reader_init(&r, 4096, 1 << 16);
    CHECK_EQ_INT(feed_all(&r, f, sizeof f), GG_READ_MALFORMED);
    gg_reader_free(&r);
    f[5] = 0, f[6] = 1; /* reserved */
    gg_reader_init(&r, 4096, 1 << 16);
    CHECK_EQ_INT(feed_all(&r, f, sizeof f), GG_READ_MALFORMED);
    gg_reader_free(&r);
    f[6] = 0, f[0] = 0xF5, f[1] = 0x0F; /* 4085 + 12 > 4096 */
    gg_reader_init(&r, 4096, 1 << 16);
    CHECK_EQ_INT(feed_all(&r, f, sizeof f), GG_READ_MALFORMED);
    gg_reader_free(&r);
    f[0] = 0xF4; /* exactly 4096: fine, waits for the payload */
    gg_reader_init(&r, 4096, 1 << 16);
    CHECK_EQ_INT(feed_all(&r, f, sizeof f), GG_READ_MORE);
    CHECK(gg_reader_partial(&r));
    gg_reader_free(&r);

    /* a continuation frame with another id breaks the stream */
    uint8_t two[24] = {0, 0, 0, 0, 2, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0};
    gg_reader_init(&r, 4096, 1 << 16);
    CHECK_EQ_INT(feed_all(&r, two, sizeof two), GG_READ_MALFORMED);
    gg_reader_free(&r);
}

/* A message over max_message is dropped, reported, and the next is fine. */
static void test_too_large(void) {
    gg_reader r;
    gg_reader_init(&r, 4096, 5000);
    gg_buf big = {0}, out = {0};
    gg_buf_zero(&big, 6000);
    gg_frames_put(&out, GG_MSG_EMBED, 3, big.data, big.len, 4096);
    gg_frames_put(&out, GG_MSG_HEALTH, 4, NULL, 0, 4096);
    size_t off = 0, used;
    gg_message m;
    int rc = GG_READ_MORE;
    while (rc == GG_READ_MORE && off < out.len) {
        rc = gg_reader_feed(&r, out.data + off, out.len - off, &used, &m);
        off += used;
    }
    CHECK_EQ_INT(rc, GG_READ_TOO_LARGE);
    CHECK(m.type == GG_MSG_EMBED && m.id == 3);
    CHECK(r.body_len < 5000);
    rc = gg_reader_feed(&r, out.data + off, out.len - off, &used, &m);
    CHECK_EQ_INT(rc, GG_READ_MESSAGE);
    CHECK(m.type == GG_MSG_HEALTH && m.id == 4 && m.len == 0);
    CHECK(!gg_reader_partial(&r));
    gg_buf_free(&big);
    gg_buf_free(&out);
    gg_reader_free(&r);
}

/* With a budget, a message is refused (BUSY, its id) at the frame header
 * that would cross it, before its payload is read; what it held is given
 * back, its other frames are dropped, and the next message is read. */
static void test_budget(void) {
    gg_budget budget = {0};
    budget.limit = 8192;
    gg_reader r;
    gg_reader_init(&r, 4096, 1 << 20);
    r.budget = &budget;
    gg_buf big = {0}, out = {0};
    gg_buf_zero(&big, 20000);
    gg_frames_put(&out, GG_MSG_EMBED, 3, big.data, big.len, 4096);
    gg_frames_put(&out, GG_MSG_TOKENIZE, 4, big.data, 3000, 4096);
    size_t off = 0, used;
    gg_message m;
    int rc = GG_READ_MORE;
    while (rc == GG_READ_MORE && off < out.len) {
        rc = gg_reader_feed(&r, out.data + off, out.len - off, &used, &m);
        off += used;
    }
    CHECK_EQ_INT(rc, GG_READ_BUSY);
    CHECK(m.type == GG_MSG_EMBED && m.id == 3);
    /* refused on a header: the third frame's (8168 bytes of body would need 16 KiB) */
    CHECKF(off == 2 * 4096 + GG_FRAME_HEADER, "refused after %zu bytes", off);
    CHECK_EQ_INT(atomic_load(&budget.used), 0);
    rc = GG_READ_MORE;
    while (rc == GG_READ_MORE && off < out.len) {
        rc = gg_reader_feed(&r, out.data + off, out.len - off, &used, &m);
        off += used;
    }
    CHECK_EQ_INT(rc, GG_READ_MESSAGE);
    CHECK(m.type == GG_MSG_TOKENIZE && m.id == 4 && m.len == 3000);
    CHECK(atomic_load(&budget.used) == r.body_cap && r.body_cap >= 3000);
    CHECK(atomic_load(&budget.peak) <= budget.limit);
    gg_reader_free(&r);
    CHECK_EQ_INT(atomic_load(&budget.used), 0);
    gg_buf_free(&big);
    gg_buf_free(&out);
}

/* Every prefix of a valid EMBED body is refused without a crash. */
static void test_truncated_bodies(void) {
    const block *x = &blocks[2];
    const uint8_t *body = x->b + GG_FRAME_HEADER;
    size_t len = x->n - GG_FRAME_HEADER;
    for (size_t k = 0; k < len; k++) {
        gg_embed_req e;
        int rc = gg_decode_embed(body, k, 256, &e, NULL);
        CHECKF(rc == GG_PE_BAD_REQUEST, "prefix %zu: %d", k, rc);
    }
    uint8_t longer[64];
    memcpy(longer, body, len);
    longer[len] = 0;
    gg_embed_req e;
    CHECK_EQ_INT(gg_decode_embed(longer, len + 1, 256, &e, NULL), GG_PE_BAD_REQUEST);
    /* a text count far beyond the body must not allocate for it */
    gg_buf b = {0};
    gg_buf_u32(&b, 0), gg_buf_u32(&b, 0x0001FFFFu), gg_buf_u32(&b, 0), gg_buf_u32(&b, 0);
    gg_buf_u32(&b, 0x7FFFFFFF);
    CHECK_EQ_INT(gg_decode_embed(b.data, b.len, 0xFFFFFFFFu, &e, NULL), GG_PE_BAD_REQUEST);
    gg_buf_free(&b);
}

static void test_utf8(void) {
    CHECK(gg_utf8_valid("", 0));
    CHECK(gg_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    CHECK(!gg_utf8_valid("\xc0\x80", 2));         /* overlong NUL */
    CHECK(!gg_utf8_valid("\xe0\x80\xaf", 3));     /* overlong '/' */
    CHECK(!gg_utf8_valid("\xed\xa0\x80", 3));     /* surrogate D800 */
    CHECK(!gg_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!gg_utf8_valid("\xe2\x82", 2));         /* cut short */
    CHECK(!gg_utf8_valid("\x80", 1));             /* lone continuation */
    CHECK(!gg_utf8_valid("\xff", 1));
    CHECK(gg_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    /* and the decoder applies it */
    gg_buf b = {0};
    gg_tokenize_req t;
    gg_buf_u8(&b, 1), gg_buf_zero(&b, 3), gg_buf_str(&b, "a\xff", 2);
    CHECK_EQ_INT(gg_decode_tokenize(b.data, b.len, &t, NULL), GG_PE_BAD_UTF8);
    gg_buf_free(&b);
}

static void test_f16(void) {
    /* values from the IEEE 754 binary16 definition */
    CHECK_EQ_INT(gg_f32_to_f16(1.0f), 0x3C00);
    CHECK_EQ_INT(gg_f32_to_f16(-2.0f), 0xC000);
    CHECK_EQ_INT(gg_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(gg_f32_to_f16(65520.0f), 0x7C00); /* halfway to the next: ties to even = inf */
    CHECK_EQ_INT(gg_f32_to_f16(ldexpf(1, -24)), 0x0001);
    CHECK_EQ_INT(gg_f32_to_f16(ldexpf(1, -25)), 0x0000); /* tie, rounds to even zero */
    CHECK_EQ_INT(gg_f32_to_f16(ldexpf(1, -14)), 0x0400);
    CHECK_EQ_INT(gg_f32_to_f16(0.1f), 0x2E66);
    CHECK_EQ_INT(gg_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3C00); /* tie to even */
    CHECK_EQ_INT(gg_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3C02);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue; /* NaN */
        if (gg_f32_to_f16(gg_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(gg_f16_to_f32(0x0001) == ldexpf(1, -24));
    CHECK(gg_f16_to_f32(0x3555) > 0.333f && gg_f16_to_f32(0x3555) < 0.3334f);
}

/* The error table of PROTOCOL.md and GG_PROTO_ERRORS agree both ways:
 * every code of the C table has a row "| code | `NAME` |", and every row
 * of the document's table is a code of the C table with that name. */
static void test_error_table(void) {
    static const struct {
        int code;
        const char *name;
    } table[] = {
#define ROW(name, code) {code, #name},
        GG_PROTO_ERRORS(ROW)
#undef ROW
    };
    char *doc = protocol_doc();
    if (!doc) return;
    for (size_t i = 0; i < GG_ARRAY_LEN(table); i++) {
        char row[128];
        snprintf(row, sizeof row, "\n| %d | `%s` |", table[i].code, table[i].name);
        CHECKF(strstr(doc, row) != NULL, "PROTOCOL.md has no error row '%s'", row + 1);
        CHECKF(!strcmp(gg_proto_error_name(table[i].code), table[i].name), "name of %d", table[i].code);
    }
    const char *head = strstr(doc, "| code | name | meaning |");
    CHECKF(head != NULL, "PROTOCOL.md has no error table");
    int rows = 0;
    for (const char *line = head ? strchr(head, '\n') : NULL; line && line[1] == '|';
         line = strchr(line + 1, '\n')) {
        int code;
        char name[64];
        if (sscanf(line + 1, "| %d | `%63[A-Z_0-9]` |", &code, name) != 2) continue; /* the |---| row */
        rows++;
        bool known = false;
        for (size_t i = 0; i < GG_ARRAY_LEN(table); i++)
            if (table[i].code == code && !strcmp(table[i].name, name)) known = true;
        CHECKF(known, "PROTOCOL.md error %d %s is not in GG_PROTO_ERRORS", code, name);
    }
    CHECK_EQ_INT(rows, GG_ARRAY_LEN(table));
    CHECK_EQ_INT(GG_PE_MODEL_CHANGED, 16);
    CHECK(!strcmp(gg_proto_error_name(999), "INTERNAL") && !strcmp(gg_proto_error_name(0), "INTERNAL"));
    free(doc);
}

int main(void) {
    test_error_table();
    load_examples();
    CHECKF(n_blocks == 20, "found %d hex examples in PROTOCOL.md, expected 20", n_blocks);
    if (n_blocks == 20) {
        gg_reader r;
        gg_reader_init(&r, GG_DEFAULT_MAX_FRAME, 1 << 20);
        test_hello(&r);
        test_embed(&r);
        test_small_messages(&r);
        test_rerank(&r);
        gg_reader_free(&r);
        test_split();
        test_truncated_bodies();
    }
    test_bad_frames();
    test_too_large();
    test_budget();
    test_utf8();
    test_f16();
    return check_done("test_proto");
}
