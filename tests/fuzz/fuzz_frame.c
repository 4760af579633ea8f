/*
 * fuzz_frame.c - libFuzzer target for the server's input path: arbitrary
 * bytes go through the frame reader in pieces whose sizes come from the
 * input itself, and every message that comes out goes through the decoder
 * of its type, as the server would do.
 */
#include <stdlib.h>

#include "server/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const gg_message *m) {
    gg_err e;
    switch (m->type) {
    case GG_MSG_HELLO: {
        gg_hello_req h;
        gg_decode_hello(m->body, m->len, &h, &e);
        break;
    }
    case GG_MSG_EMBED: {
        gg_embed_req r;
        if (gg_decode_embed(m->body, m->len, 1024, &r, &e) == 0) free(r.texts);
        break;
    }
    case GG_MSG_RERANK: {
        gg_rerank_req r;
        if (gg_decode_rerank(m->body, m->len, 1024, &r, &e) == 0) free(r.docs);
        break;
    }
    case GG_MSG_TOKENIZE: {
        gg_tokenize_req t;
        gg_decode_tokenize(m->body, m->len, &t, &e);
        break;
    }
    case GG_MSG_CANCEL: {
        uint32_t target;
        gg_decode_cancel(m->body, m->len, &target, &e);
        break;
    }
    case GG_MSG_REPLY | GG_MSG_HELLO: {
        gg_hello_ok h;
        gg_decode_hello_ok(m->body, m->len, &h, &e);
        break;
    }
    case GG_MSG_REPLY | GG_MSG_EMBED: {
        gg_embed_ok r;
        gg_decode_embed_ok(m->body, m->len, &r, &e);
        break;
    }
    case GG_MSG_REPLY | GG_MSG_RERANK: {
        gg_rerank_ok r;
        gg_decode_rerank_ok(m->body, m->len, &r, &e);
        break;
    }
    case GG_MSG_ERROR: {
        uint16_t code;
        gg_str msg;
        gg_decode_error(m->body, m->len, &code, &msg, &e);
        break;
    }
    default: gg_decode_empty(m->body, m->len, &e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    /* The first byte picks the read size, so short and long reads are
     * tried, and (its top bits) a memory budget, so refusals are too. */
    size_t chunk = (size_t)data[0] % 64 + 1;
    gg_budget budget = {0};
    budget.limit = (size_t)(data[0] >> 6) * 8192;
    data++, size--;
    gg_reader r;
    gg_reader_init(&r, GG_FRAME_MIN_MAX, 1 << 16);
    if (budget.limit) r.budget = &budget;
    while (size > 0) {
        size_t used = 0, n = size < chunk ? size : chunk;
        gg_message m;
        int rc = gg_reader_feed(&r, data, n, &used, &m);
        if (used > n) abort();
        data += used, size -= used;
        if (rc == GG_READ_MALFORMED) break;
        if (rc == GG_READ_MESSAGE) decode(&m);
    }
    gg_reader_free(&r);
    if (atomic_load(&budget.used) != 0) abort(); /* every byte charged is given back */
    return 0;
}
