/*
 * proto.c - encoding and decoding of the frames and messages described in
 * docs/PROTOCOL.md. Everything is explicit little-endian byte arithmetic so
 * the result does not depend on the host's byte order or alignment.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

const char *gg_proto_error_name(int code) {
    switch (code) {
#define GG_PE_NAME(name, num) \
    case num: return #name;
        GG_PROTO_ERRORS(GG_PE_NAME)
#undef GG_PE_NAME
    default: return "INTERNAL";
    }
}

const char *gg_proto_type_name(int type) {
    static const char *names[] = {"?",     "HELLO",  "EMBED",    "TOKENIZE", "HEALTH",
                                  "STATS", "CANCEL", "SHUTDOWN", "RERANK"};
    if (type == GG_MSG_ERROR) return "ERROR";
    int base = type & 0x7F;
    if (base <= 0 || base >= (int)GG_ARRAY_LEN(names)) return "?";
    return names[base];
}

/* ---- little-endian helpers ---- */

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- frames ---- */

void gg_frame_header_put(uint8_t out[GG_FRAME_HEADER], const gg_frame_header *h) {
    put32(out, h->length);
    out[4] = h->type;
    out[5] = h->flags;
    put16(out + 6, 0);
    put32(out + 8, h->id);
}

bool gg_frame_header_get(const uint8_t in[GG_FRAME_HEADER], uint32_t max_frame, gg_frame_header *h) {
    h->length = get32(in);
    h->type = in[4];
    h->flags = in[5];
    h->id = get32(in + 8);
    if (h->flags & ~GG_FRAME_MORE) return false;
    if (get16(in + 6) != 0) return false;
    if (h->length > max_frame - GG_FRAME_HEADER) return false;
    return true;
}

void gg_reader_init(gg_reader *r, uint32_t max_frame, uint32_t max_message) {
    memset(r, 0, sizeof *r);
    r->max_frame = max_frame < GG_FRAME_MIN_MAX ? GG_FRAME_MIN_MAX : max_frame;
    r->max_message = max_message;
}

void gg_reader_free(gg_reader *r) {
    free(r->body);
    gg_budget_release(r->budget, r->body_cap);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
}

bool gg_reader_partial(const gg_reader *r) { return r->hdr_have > 0 || r->in_frame || r->in_message; }

/* Makes room for need bytes of body: 0, 1 when the budget has none, -1
 * when out of memory. */
static int body_reserve(gg_reader *r, size_t need) {
    if (need <= r->body_cap) return 0;
    size_t cap = r->body_cap ? r->body_cap : 256;
    while (cap < need) cap *= 2;
    if (!gg_budget_reserve(r->budget, cap - r->body_cap, false)) return 1;
    uint8_t *p = realloc(r->body, cap);
    if (!p) {
        gg_budget_release(r->budget, cap - r->body_cap);
        return -1;
    }
    r->body = p;
    r->body_cap = cap;
    return 0;
}

/* From here on the message's bytes are dropped, and so is what it had. */
static void discard(gg_reader *r) {
    r->discarding = true;
    gg_reader_free(r);
}

/* Starts a frame whose header is complete: MALFORMED when it is,
 * including a continuation frame whose type or id differ; BUSY when the
 * budget has no room for its payload; else MORE. */
static int start_frame(gg_reader *r, gg_message *m) {
    gg_frame_header h;
    if (!gg_frame_header_get(r->hdr, r->max_frame, &h)) return GG_READ_MALFORMED;
    if (r->in_message && (h.type != r->cur.type || h.id != r->cur.id)) return GG_READ_MALFORMED;
    if (!r->in_message) {
        r->body_len = 0;
        r->discarding = r->refused = false;
    }
    r->cur = h;
    r->frame_left = h.length;
    r->hdr_have = 0;
    r->in_frame = true;
    if (r->discarding) return GG_READ_MORE;
    if ((uint64_t)r->body_len + h.length > r->max_message) {
        discard(r);
        return GG_READ_MORE;
    }
    /* Room for the whole payload now, so the budget refuses a message as
     * soon as its frames announce too much, before it is read. */
    int rc = body_reserve(r, r->body_len + h.length);
    if (rc < 0) discard(r); /* out of memory: reported as TOO_LARGE */
    if (rc <= 0) return GG_READ_MORE;
    discard(r);
    r->refused = true;
    m->type = h.type;
    m->id = h.id;
    m->body = NULL;
    m->len = 0;
    return GG_READ_BUSY;
}

/* Ends the current frame: reports the message when it was the last one. */
static int end_frame(gg_reader *r, gg_message *m) {
    r->in_frame = false;
    if (r->cur.flags & GG_FRAME_MORE) {
        r->in_message = true;
        return GG_READ_MORE;
    }
    r->in_message = false;
    m->type = r->cur.type;
    m->id = r->cur.id;
    m->body = r->body;
    m->len = r->body_len;
    if (r->discarding) {
        bool refused = r->refused; /* answered when it was refused */
        m->body = NULL;
        m->len = 0;
        r->discarding = r->refused = false;
        return refused ? GG_READ_MORE : GG_READ_TOO_LARGE;
    }
    /* Keep a big buffer from one large message from living forever. */
    return GG_READ_MESSAGE;
}

int gg_reader_feed(gg_reader *r, const uint8_t *data, size_t n, size_t *used, gg_message *m) {
    size_t off = 0;
    if (!r->in_frame && !r->in_message && r->body_cap > 4 * (size_t)r->max_frame) {
        gg_reader_free(r);
    }
    while (off < n || (r->in_frame && r->frame_left == 0)) {
        if (!r->in_frame) {
            size_t take = GG_MIN(n - off, GG_FRAME_HEADER - r->hdr_have);
            memcpy(r->hdr + r->hdr_have, data + off, take);
            r->hdr_have += take;
            off += take;
            if (r->hdr_have < GG_FRAME_HEADER) break;
            int rc = start_frame(r, m);
            if (rc != GG_READ_MORE) {
                *used = off;
                return rc;
            }
        }
        size_t take = GG_MIN(n - off, (size_t)r->frame_left);
        if (!r->discarding && take > 0) {
            memcpy(r->body + r->body_len, data + off, take);
            r->body_len += take;
        }
        off += take;
        r->frame_left -= (uint32_t)take;
        if (r->frame_left == 0) {
            int rc = end_frame(r, m);
            if (rc != GG_READ_MORE) {
                *used = off;
                return rc;
            }
        }
    }
    *used = off;
    return GG_READ_MORE;
}

/* ---- output buffer ---- */

void gg_buf_free(gg_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static bool buf_grow(gg_buf *b, size_t n) {
    if (b->oom) return false;
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void gg_buf_put(gg_buf *b, const void *p, size_t n) {
    if (n == 0 || !buf_grow(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void gg_buf_zero(gg_buf *b, size_t n) {
    if (n == 0 || !buf_grow(b, n)) return;
    memset(b->data + b->len, 0, n);
    b->len += n;
}

void gg_buf_u8(gg_buf *b, uint8_t v) { gg_buf_put(b, &v, 1); }
void gg_buf_u16(gg_buf *b, uint16_t v) {
    uint8_t p[2];
    put16(p, v);
    gg_buf_put(b, p, 2);
}
void gg_buf_u32(gg_buf *b, uint32_t v) {
    uint8_t p[4];
    put32(p, v);
    gg_buf_put(b, p, 4);
}
void gg_buf_u64(gg_buf *b, uint64_t v) {
    gg_buf_u32(b, (uint32_t)v);
    gg_buf_u32(b, (uint32_t)(v >> 32));
}
void gg_buf_f32(gg_buf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    gg_buf_u32(b, u);
}
void gg_buf_str(gg_buf *b, const char *s, size_t len) {
    gg_buf_u32(b, (uint32_t)len);
    gg_buf_put(b, s, len);
}

size_t gg_frames_size(size_t len, uint32_t max_frame) {
    size_t room = (size_t)max_frame - GG_FRAME_HEADER;
    size_t frames = len ? (len + room - 1) / room : 1;
    return len + frames * GG_FRAME_HEADER;
}

void gg_frames_write(uint8_t *out, uint8_t type, uint32_t id, const uint8_t *body, size_t len,
                     uint32_t max_frame) {
    size_t room = (size_t)max_frame - GG_FRAME_HEADER;
    size_t off = 0;
    do {
        size_t take = GG_MIN(len - off, room);
        gg_frame_header h = {(uint32_t)take, type, off + take < len ? GG_FRAME_MORE : 0, id};
        gg_frame_header_put(out, &h);
        if (take) memcpy(out + GG_FRAME_HEADER, body + off, take);
        out += GG_FRAME_HEADER + take;
        off += take;
    } while (off < len);
}

void gg_frames_put(gg_buf *out, uint8_t type, uint32_t id, const uint8_t *body, size_t len,
                   uint32_t max_frame) {
    size_t n = gg_frames_size(len, max_frame);
    if (!buf_grow(out, n)) return;
    gg_frames_write(out->data + out->len, type, id, body, len, max_frame);
    out->len += n;
}

/* ---- body reader ---- */

void gg_rd_init(gg_rd *r, const uint8_t *p, size_t len) {
    r->p = p;
    r->len = len;
    r->off = 0;
    r->bad = false;
}

const uint8_t *gg_rd_bytes(gg_rd *r, size_t n) {
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t gg_rd_u8(gg_rd *r) {
    const uint8_t *p = gg_rd_bytes(r, 1);
    return p ? p[0] : 0;
}
uint16_t gg_rd_u16(gg_rd *r) {
    const uint8_t *p = gg_rd_bytes(r, 2);
    return p ? get16(p) : 0;
}
uint32_t gg_rd_u32(gg_rd *r) {
    const uint8_t *p = gg_rd_bytes(r, 4);
    return p ? get32(p) : 0;
}
uint64_t gg_rd_u64(gg_rd *r) {
    uint64_t lo = gg_rd_u32(r);
    return lo | ((uint64_t)gg_rd_u32(r) << 32);
}
float gg_rd_f32(gg_rd *r) {
    uint32_t u = gg_rd_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
gg_str gg_rd_str(gg_rd *r) {
    gg_str s = {"", 0};
    uint32_t n = gg_rd_u32(r);
    const uint8_t *p = gg_rd_bytes(r, n);
    if (p) {
        s.p = (const char *)p;
        s.len = n;
    }
    return s;
}
bool gg_rd_done(const gg_rd *r) { return !r->bad && r->off == r->len; }

/* ---- UTF-8 and half floats ---- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
bool gg_utf8_valid(const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) need = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) need = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) need = 3, cp = c & 0x07, min = 0x10000;
        else return false;
        if (len - i <= need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += need + 1;
    }
    return true;
}

uint16_t gg_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFF;
    if (ax > 0x7F800000) return sign | 0x7E00;  /* NaN */
    if (ax >= 0x477FF000) return sign | 0x7C00; /* rounds to or is infinity */
    if (ax < 0x38800000) {                      /* subnormal half or zero */
        if (ax < 0x33000000) return sign;       /* below half the smallest */
        uint32_t mant = (ax & 0x7FFFFF) | 0x800000;
        int shift = 126 - (int)(ax >> 23); /* 14..24 */
        uint32_t h = mant >> shift;
        uint32_t rest = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1))) h++;
        return sign | (uint16_t)h;
    }
    uint32_t h = ((ax >> 13) - (112u << 10)); /* rebias exponent 127 -> 15 */
    uint32_t rest = ax & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float gg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, x;
    if (exp == 0x1F) x = sign | 0x7F800000 | (mant << 13);
    else if (exp != 0) x = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant == 0) x = sign;
    else {
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400));
        x = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}
