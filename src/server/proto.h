/*
 * proto.h - the wire format of docs/PROTOCOL.md: frame headers, message
 * assembly from a byte stream, and the encoders and decoders of each
 * message body. Pure functions over memory: no I/O, no threads, so the
 * fuzzer and the unit tests drive it directly.
 */
#ifndef GG_PROTO_H
#define GG_PROTO_H

#include "../common.h"

#define GG_PROTO_VERSION 1
#define GG_FRAME_HEADER 12
#define GG_FRAME_MORE 0x01
#define GG_FRAME_MIN_MAX 4096 /* smallest max frame a server may set */
#define GG_DEFAULT_MAX_FRAME 65536
#define GG_DEFAULT_MAX_MESSAGE (4u << 20)

enum {
    GG_MSG_HELLO = 0x01,
    GG_MSG_EMBED = 0x02,
    GG_MSG_TOKENIZE = 0x03,
    GG_MSG_HEALTH = 0x04,
    GG_MSG_STATS = 0x05,
    GG_MSG_CANCEL = 0x06,
    GG_MSG_SHUTDOWN = 0x07,
    GG_MSG_RERANK = 0x08,
    GG_MSG_LAST_REQUEST = GG_MSG_RERANK, /* the highest request type this server knows */
    GG_MSG_REPLY = 0x80,                 /* answer type = GG_MSG_REPLY | request type */
    GG_MSG_ERROR = 0xFF,
};

/* Error codes carried by ERROR messages: one row per code, name and
 * number as in the error table of docs/PROTOCOL.md (test_proto checks
 * that the two agree, both ways). */
#define GG_PROTO_ERRORS(X) \
    X(MALFORMED, 1)        \
    X(TOO_LARGE, 2)        \
    X(UNKNOWN_TYPE, 3)     \
    X(BAD_REQUEST, 4)      \
    X(BAD_UTF8, 5)         \
    X(NO_HELLO, 6)         \
    X(VERSION, 7)          \
    X(BUSY, 8)             \
    X(TIMEOUT, 9)          \
    X(CANCELLED, 10)       \
    X(TOO_LONG, 11)        \
    X(INVALID, 12)         \
    X(SHUTTING_DOWN, 13)   \
    X(NO_WEIGHTS, 14)      \
    X(INTERNAL, 15)        \
    X(MODEL_CHANGED, 16)

enum {
#define GG_PE_ENUM(name, code) GG_PE_##name = code,
    GG_PROTO_ERRORS(GG_PE_ENUM)
#undef GG_PE_ENUM
};

/* The name of a code ("BUSY"); INTERNAL for a code not in the table, as
 * clients must treat unknown codes. */
const char *gg_proto_error_name(int code);
const char *gg_proto_type_name(int type);

/* ---- frames and message assembly ---- */

typedef struct gg_frame_header {
    uint32_t length; /* payload bytes */
    uint8_t type;
    uint8_t flags;
    uint32_t id;
} gg_frame_header;

void gg_frame_header_put(uint8_t out[GG_FRAME_HEADER], const gg_frame_header *h);
/* Returns false when the header breaks the rules (flags, reserved, size). */
bool gg_frame_header_get(const uint8_t in[GG_FRAME_HEADER], uint32_t max_frame, gg_frame_header *h);

/* Assembles messages from a byte stream fed in arbitrary pieces. */
typedef struct gg_reader {
    uint32_t max_frame, max_message;
    uint8_t hdr[GG_FRAME_HEADER];
    size_t hdr_have;
    bool in_frame;       /* header read, payload pending */
    gg_frame_header cur; /* the frame being read */
    uint32_t frame_left; /* payload bytes of cur still to read */
    bool in_message;     /* a MORE frame was seen: the message continues */
    bool discarding;     /* the message is over max_message: drop it */
    bool refused;        /* ... because the budget had no room for it */
    uint8_t *body;
    size_t body_len, body_cap;
    /* Optional: the body buffer is charged to it when a frame header
     * announces its payload, before any of it is read. */
    gg_budget *budget;
} gg_reader;

enum {
    GG_READ_MORE = 0,      /* all input used, no message complete */
    GG_READ_MESSAGE = 1,   /* a message is complete: see gg_message */
    GG_READ_TOO_LARGE = 2, /* a message over max_message ended (its body is dropped) */
    GG_READ_BUSY = 3,      /* a frame header announced more than the budget has room for: the
                              message (type and id set) is dropped now, its frames discarded */
    GG_READ_MALFORMED = -1 /* the stream cannot be parsed any further */
};

typedef struct gg_message {
    uint8_t type;
    uint32_t id;
    const uint8_t *body; /* valid until the next gg_reader_feed */
    size_t len;
} gg_message;

void gg_reader_init(gg_reader *r, uint32_t max_frame, uint32_t max_message);
/* Frees the body buffer (and gives its bytes back to the budget). */
void gg_reader_free(gg_reader *r);
/* Consumes bytes from data[0..n) and stores in *used how many; stops after
 * each complete message so the caller can handle it, then call again with
 * the rest. A message's type and id are set for MESSAGE and TOO_LARGE. */
int gg_reader_feed(gg_reader *r, const uint8_t *data, size_t n, size_t *used, gg_message *m);
/* True while a frame or message is partly read (for "truncated at EOF"). */
bool gg_reader_partial(const gg_reader *r);

/* ---- growable output buffer ---- */

typedef struct gg_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom; /* an append failed; the contents are incomplete */
} gg_buf;

void gg_buf_free(gg_buf *b);
void gg_buf_put(gg_buf *b, const void *p, size_t n);
void gg_buf_u8(gg_buf *b, uint8_t v);
void gg_buf_u16(gg_buf *b, uint16_t v);
void gg_buf_u32(gg_buf *b, uint32_t v);
void gg_buf_u64(gg_buf *b, uint64_t v);
void gg_buf_f32(gg_buf *b, float v);
void gg_buf_str(gg_buf *b, const char *s, size_t len);
void gg_buf_zero(gg_buf *b, size_t n);

/* Bytes of a message of len bytes as frames of at most max_frame bytes. */
size_t gg_frames_size(size_t len, uint32_t max_frame);
/* Appends a message as frames of at most max_frame bytes each. */
void gg_frames_put(gg_buf *out, uint8_t type, uint32_t id, const uint8_t *body, size_t len,
                   uint32_t max_frame);
/* The same into out[0..gg_frames_size(len, max_frame)). */
void gg_frames_write(uint8_t *out, uint8_t type, uint32_t id, const uint8_t *body, size_t len,
                     uint32_t max_frame);

/* ---- body reader ---- */

typedef struct gg_rd {
    const uint8_t *p;
    size_t len, off;
    bool bad; /* read past the end */
} gg_rd;

typedef struct gg_str {
    const char *p; /* a view into the body; not NUL-terminated */
    uint32_t len;
} gg_str;

void gg_rd_init(gg_rd *r, const uint8_t *p, size_t len);
uint8_t gg_rd_u8(gg_rd *r);
uint16_t gg_rd_u16(gg_rd *r);
uint32_t gg_rd_u32(gg_rd *r);
uint64_t gg_rd_u64(gg_rd *r);
float gg_rd_f32(gg_rd *r);
gg_str gg_rd_str(gg_rd *r);
const uint8_t *gg_rd_bytes(gg_rd *r, size_t n);
/* True when everything was read, nothing more and nothing less. */
bool gg_rd_done(const gg_rd *r);

bool gg_utf8_valid(const char *s, size_t len);
uint16_t gg_f32_to_f16(float f);
float gg_f16_to_f32(uint16_t h);

/* ---- message bodies ---- */

typedef struct gg_hello_req {
    uint16_t min_version, max_version;
    gg_str client;
} gg_hello_req;

typedef struct gg_hello_ok {
    uint16_t version;
    gg_str server, arch, name;
    uint32_t dims, context, max_texts, max_frame, max_message, max_queue;
    int8_t pooling;
    uint8_t normalize, has_weights;
} gg_hello_ok;

typedef struct gg_embed_req {
    uint32_t deadline_ms;
    int8_t pooling, normalize;
    uint8_t truncate, format;
    uint32_t dims;
    gg_str prefix;
    uint32_t n;
    gg_str *texts; /* malloc'd by the decoder; free() it */
} gg_embed_req;

/* RERANK: one query and n documents, each scored against the query. */
typedef struct gg_rerank_req {
    uint32_t deadline_ms;
    uint8_t truncate;
    gg_str query;
    uint32_t n;
    gg_str *docs; /* malloc'd by the decoder; free() it */
} gg_rerank_req;

typedef struct gg_tokenize_req {
    uint8_t add_special;
    gg_str text;
} gg_tokenize_req;

typedef struct gg_health_ok {
    uint8_t state;
    uint32_t queue, connections;
    uint64_t uptime_ms;
} gg_health_ok;

/* Decoders return 0, or an error code (GG_PE_*) with a message in e. */
int gg_decode_hello(const uint8_t *b, size_t n, gg_hello_req *r, gg_err *e);
int gg_decode_embed(const uint8_t *b, size_t n, uint32_t max_texts, gg_embed_req *r, gg_err *e);
int gg_decode_rerank(const uint8_t *b, size_t n, uint32_t max_texts, gg_rerank_req *r, gg_err *e);
int gg_decode_tokenize(const uint8_t *b, size_t n, gg_tokenize_req *r, gg_err *e);
int gg_decode_cancel(const uint8_t *b, size_t n, uint32_t *target, gg_err *e);
int gg_decode_empty(const uint8_t *b, size_t n, gg_err *e);

int gg_decode_hello_ok(const uint8_t *b, size_t n, gg_hello_ok *h, gg_err *e);
int gg_decode_health_ok(const uint8_t *b, size_t n, gg_health_ok *h, gg_err *e);
int gg_decode_error(const uint8_t *b, size_t n, uint16_t *code, gg_str *msg, gg_err *e);
/* EMBED_OK: checks sizes and points info at the n (tokens, flags) pairs
 * and vectors at the n * dims values. */
typedef struct gg_embed_ok {
    uint32_t n, dims;
    uint8_t format;
    const uint8_t *info, *vectors;
} gg_embed_ok;
int gg_decode_embed_ok(const uint8_t *b, size_t n, gg_embed_ok *r, gg_err *e);
/* RERANK_OK: checks sizes and points info at the n (tokens, flags) pairs
 * and scores at the n f32 scores. */
typedef struct gg_rerank_ok {
    uint32_t n;
    const uint8_t *info, *scores;
} gg_rerank_ok;
int gg_decode_rerank_ok(const uint8_t *b, size_t n, gg_rerank_ok *r, gg_err *e);

void gg_encode_hello(gg_buf *b, const gg_hello_req *r);
void gg_encode_hello_ok(gg_buf *b, const gg_hello_ok *h);
void gg_encode_embed(gg_buf *b, const gg_embed_req *r);
void gg_encode_rerank(gg_buf *b, const gg_rerank_req *r);
void gg_encode_tokenize(gg_buf *b, const gg_tokenize_req *r);
void gg_encode_health_ok(gg_buf *b, const gg_health_ok *h);
void gg_encode_error(gg_buf *b, uint16_t code, const char *msg);
/* EMBED_OK: head then per-text info, then the vectors (f32 or f16). */
void gg_encode_embed_ok_head(gg_buf *b, uint32_t n, uint32_t dims, uint8_t format);
void gg_encode_embed_ok_vectors(gg_buf *b, const float *v, size_t count, uint8_t format);
/* RERANK_OK of n pairs: the (tokens, flags) of each, then its score. */
void gg_encode_rerank_ok(gg_buf *b, uint32_t n, const uint32_t *tokens, const uint8_t *truncated,
                         const float *scores);

#endif
