/*
 * server_check.c - the server test helpers of server_check.h.
 */
#include "server_check.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "platform/platform.h"
#include "server/client.h"

void check_transport_refused(gg_listener *(*listen)(const char *, gg_err *),
                             gg_conn *(*connect)(const char *, gg_err *), const char *name,
                             const char *listen_hint, const char *connect_hint) {
    gg_err e;
    e.msg[0] = '\0';
    gg_listener *l = listen(name, &e);
    CHECKF(l == NULL && strstr(e.msg, listen_hint) != NULL, "listen refused: %s", e.msg);
    if (l) gg_listener_close(l);
    e.msg[0] = '\0';
    gg_conn *c = connect(name, &e);
    CHECKF(c == NULL && strstr(e.msg, connect_hint) != NULL, "connect refused: %s", e.msg);
    if (c) gg_conn_close(c);
}

int tokenize_answer_errors(const ggembed_model *m, const char *text, const uint8_t *body, size_t len) {
    int32_t ids[256];
    size_t n = 0;
    int bad = 0;
    if (ggembed_tokenize(m, text, strlen(text), 1, ids, GG_ARRAY_LEN(ids), &n, NULL, 0) != GGEMBED_OK ||
        n > GG_ARRAY_LEN(ids))
        return 1;
    gg_rd rd;
    gg_rd_init(&rd, body, len);
    if (gg_rd_u32(&rd) != n) return 1;
    for (size_t k = 0; k < n; k++)
        if ((int32_t)gg_rd_u32(&rd) != ids[k]) bad++;
    return bad + !gg_rd_done(&rd);
}

void check_garbage_refused(const char *address, bool is_pipe) {
    gg_err e;
    gg_conn *g = is_pipe ? gg_connect_pipe(address, &e) : gg_connect_unix(address, &e);
    CHECKF(g != NULL, "connect: %s", g ? "" : e.msg);
    if (!g) return;
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
    CHECK(gg_conn_write(g, junk, sizeof junk));
    uint8_t buf[256];
    long n = gg_conn_read(g, buf, sizeof buf);
    CHECK(n >= 12 && buf[4] == GG_MSG_ERROR);
    /* the server must close its end, not wait for the client to */
    while (n > 0) n = gg_conn_read(g, buf, sizeof buf);
    CHECK_EQ_INT(n, 0);
    gg_conn_close(g);
}

/* ---- mixed clients ---- */

typedef struct mixed_client {
    const mixed_clients *m;
    int me, errors;
} mixed_client;

typedef struct sent {
    uint8_t kind;
    bool seen;
    size_t text;
} sent;

static uint8_t kind_of(const mixed_clients *m, int i) {
    if (i % 3 == 0) return GG_MSG_HEALTH;
    return i % 3 == 2 && m->embed_errors ? GG_MSG_EMBED : GG_MSG_TOKENIZE;
}

/* Sends every request; returns the id of the first. */
static uint32_t send_all(const mixed_clients *m, int me, gg_client *c, sent *s) {
    uint32_t first = 0;
    for (int i = 0; i < m->requests; i++) {
        gg_buf b = {0};
        s[i] = (sent){kind_of(m, i), false, (size_t)(me + i) % m->n_texts};
        gg_str text = {m->texts[s[i].text], (uint32_t)strlen(m->texts[s[i].text])};
        if (s[i].kind == GG_MSG_TOKENIZE) {
            gg_tokenize_req q = {1, text};
            gg_encode_tokenize(&b, &q);
        } else if (s[i].kind == GG_MSG_EMBED) {
            gg_embed_req q = {0, -1, -1, 1, 0, 0, {"", 0}, 1, &text};
            gg_encode_embed(&b, &q);
        }
        uint32_t id = gg_client_send(c, s[i].kind, b.data, b.len);
        if (i == 0) first = id;
        gg_buf_free(&b);
    }
    return first;
}

/* Failures in one answer to the request s. */
static int answer_errors(const mixed_clients *m, const sent *s, uint8_t type, const gg_buf *r) {
    /* EMBED may be refused with BUSY (a small --max-queue): a real answer too */
    if (s->kind == GG_MSG_EMBED && type == GG_MSG_ERROR) {
        uint16_t code = 0;
        gg_str msg;
        gg_decode_error(r->data, r->len, &code, &msg, NULL);
        return code != GG_PE_BUSY;
    }
    if (type != (GG_MSG_REPLY | s->kind)) return 1;
    if (s->kind == GG_MSG_TOKENIZE) return tokenize_answer_errors(m->model, m->texts[s->text], r->data, r->len);
    if (s->kind == GG_MSG_EMBED) return m->embed_errors(r->data, r->len, s->text);
    return 0;
}

static int client_errors(const mixed_clients *m, int me) {
    gg_client *c = gg_client_open(m->address, m->is_pipe, NULL);
    sent *s = calloc((size_t)m->requests, sizeof *s);
    int bad = 0;
    if (!c || !s) {
        gg_client_close(c);
        free(s);
        return 1000;
    }
    uint32_t first = send_all(m, me, c, s);
    gg_buf r = {0};
    for (int k = 0; k < m->requests; k++) {
        uint8_t type;
        uint32_t id;
        if (!gg_client_recv(c, &type, &id, &r)) {
            bad += m->requests - k;
            break;
        }
        uint32_t i = id - first;
        if (i >= (uint32_t)m->requests || s[i].seen) {
            bad++;
            continue;
        }
        s[i].seen = true;
        bad += answer_errors(m, &s[i], type, &r);
    }
    gg_buf_free(&r);
    gg_client_close(c);
    free(s);
    return bad;
}

static void client_main(void *arg) {
    mixed_client *a = arg;
    a->errors = client_errors(a->m, a->me);
}

int run_mixed_clients(const mixed_clients *m) {
    mixed_client *a = calloc((size_t)m->clients, sizeof *a);
    gg_thread **t = calloc((size_t)m->clients, sizeof *t);
    int bad = 0;
    if (!a || !t) {
        free(a);
        free(t);
        return 1;
    }
    for (int i = 0; i < m->clients; i++) {
        a[i] = (mixed_client){m, i, 0};
        t[i] = gg_thread_start(client_main, &a[i], NULL);
    }
    for (int i = 0; i < m->clients; i++) {
        if (t[i]) gg_thread_join(t[i]);
        else bad++;
        bad += a[i].errors;
    }
    free(a);
    free(t);
    return bad;
}
