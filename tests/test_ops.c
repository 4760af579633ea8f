/*
 * test_ops.c - gg_op_matmul_n (several products of one input in one
 * parallel run) gives each product bit for bit what gg_op_matmul gives it
 * alone on one thread: for products that share the activation format
 * (one quantization) and products that do not (one after another), any
 * number of threads (the guided split of the rows), row counts that are
 * not whole tiles, biases, strided outputs (nothing written past a row's
 * products), and activation scratch too small for all tokens at once.
 */
#include "check.h"
#include "models/ops.h"
#include "platform/platform.h"

#include <stdlib.h>
#include <string.h>

#define COLS 512
#define MAX_TOK 70
#define PAD 5 /* floats past each output row that must stay untouched */
#define CANARY -777.0f

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static gg_matrix make_matrix(gg_type t, int64_t rows, unsigned seed) {
    gg_matrix m = {NULL, t, COLS, rows, gg_row_size(t, COLS)};
    uint8_t *d = gg_aligned_alloc(m.row_bytes * (size_t)rows);
    float x[COLS];
    for (int64_t r = 0; r < rows; r++) {
        for (int i = 0; i < COLS; i++) x[i] = frand(&seed);
        gg_quantize_row_ref(t, x, d + (size_t)r * m.row_bytes, COLS);
    }
    m.data = d;
    return m;
}

typedef struct exec_mem {
    gg_exec ex;
    gg_pool *pool;
} exec_mem;

/* An exec of n threads whose activation scratch holds act_rows rows for
 * every matrix of the case. */
static bool exec_open(exec_mem *m, int n_threads, const gg_matrix *ws, int n, int act_rows) {
    memset(m, 0, sizeof *m);
    m->pool = gg_pool_new(n_threads, NULL);
    if (!m->pool) return false;
    size_t cap = 0;
    for (int k = 0; k < n; k++) cap = GG_MAX(cap, gg_matmul_scratch(&ws[k], act_rows));
    m->ex.pool = m->pool;
    m->ex.n_threads = n_threads;
    m->ex.act = gg_aligned_alloc(cap);
    m->ex.act_cap = cap;
    return m->ex.act != NULL;
}

static void exec_close(exec_mem *m) {
    gg_aligned_free(m->ex.act);
    gg_pool_free(m->pool);
}

typedef struct mcase {
    const char *name;
    int n;
    gg_type types[GG_MM_MAX];
    int64_t rows[GG_MM_MAX];
    bool bias[GG_MM_MAX];
} mcase;

static void run_case(const mcase *c, const float *in) {
    gg_matrix w[GG_MM_MAX];
    float *bias[GG_MM_MAX], *want[GG_MM_MAX], *got[GG_MM_MAX];
    unsigned seed = 99;
    for (int k = 0; k < c->n; k++) {
        w[k] = make_matrix(c->types[k], c->rows[k], 1234u + 17u * (unsigned)k);
        bias[k] = NULL;
        if (c->bias[k]) {
            bias[k] = malloc(sizeof(float) * (size_t)c->rows[k]);
            for (int64_t r = 0; r < c->rows[k]; r++) bias[k][r] = frand(&seed);
        }
        const size_t n_out = (size_t)MAX_TOK * (size_t)(c->rows[k] + PAD);
        want[k] = malloc(sizeof(float) * n_out);
        got[k] = malloc(sizeof(float) * n_out);
    }
    static const int toks[] = {1, 13, MAX_TOK};
    for (size_t ti = 0; ti < GG_ARRAY_LEN(toks); ti++) {
        const int n_tok = toks[ti];
        /* the reference: each product alone, one thread, all tokens at once */
        exec_mem one;
        if (!exec_open(&one, 1, w, c->n, n_tok)) {
            CHECKF(false, "%s: exec", c->name);
            break;
        }
        for (int k = 0; k < c->n; k++)
            gg_op_matmul(&one.ex, &w[k], bias[k], in, COLS, n_tok, want[k], (int)(c->rows[k] + PAD));
        exec_close(&one);
        for (int threads = 1; threads <= 4; threads++)
            for (int act_rows = 3; act_rows <= n_tok + 3; act_rows += n_tok) {
                exec_mem m;
                if (!exec_open(&m, threads, w, c->n, act_rows)) {
                    CHECKF(false, "%s: exec of %d threads", c->name, threads);
                    continue;
                }
                gg_mm_dst d[GG_MM_MAX];
                for (int k = 0; k < c->n; k++) {
                    const int ld = (int)(c->rows[k] + PAD);
                    for (size_t i = 0; i < (size_t)MAX_TOK * (size_t)ld; i++) got[k][i] = CANARY;
                    d[k] = (gg_mm_dst){&w[k], bias[k], got[k], ld};
                }
                gg_op_matmul_n(&m.ex, c->n, d, in, COLS, n_tok);
                for (int k = 0; k < c->n; k++) {
                    const int64_t ld = c->rows[k] + PAD;
                    int bad_val = 0, bad_pad = 0;
                    for (int t = 0; t < n_tok; t++) {
                        bad_val += memcmp(got[k] + t * ld, want[k] + t * ld,
                                          sizeof(float) * (size_t)c->rows[k]) != 0;
                        for (int64_t r = c->rows[k]; r < ld; r++)
                            bad_pad += got[k][t * ld + r] != CANARY;
                    }
                    for (int64_t i = (int64_t)n_tok * ld; i < (int64_t)MAX_TOK * ld; i++)
                        bad_pad += got[k][i] != CANARY;
                    CHECKF(bad_val == 0 && bad_pad == 0,
                           "%s: product %d (%s, %lld rows), %d tokens, %d threads, scratch of %d "
                           "rows: %d rows of results differ from the product alone, %d floats "
                           "written outside",
                           c->name, k, gg_type_info(w[k].type)->name, (long long)c->rows[k], n_tok,
                           threads, act_rows, bad_val, bad_pad);
                }
                exec_close(&m);
            }
    }
    for (int k = 0; k < c->n; k++) {
        gg_aligned_free((void *)w[k].data);
        free(bias[k]);
        free(want[k]);
        free(got[k]);
    }
}

int main(void) {
    static float in[MAX_TOK * COLS];
    unsigned s = 7;
    for (size_t i = 0; i < GG_ARRAY_LEN(in); i++) in[i] = frand(&s);
    static const mcase cases[] = {
        {"keys and values (q4_K, q6_K: one quantization)",
         2,
         {GG_TYPE_Q4_K, GG_TYPE_Q6_K},
         {200, 200},
         {true, true}},
        {"gate and up (q4_K)", 2, {GG_TYPE_Q4_K, GG_TYPE_Q4_K}, {1000, 1000}, {true, false}},
        {"activation formats differ (q4_K, q8_0)",
         2,
         {GG_TYPE_Q4_K, GG_TYPE_Q8_0},
         {64, 72},
         {false, true}},
        {"f16", 2, {GG_TYPE_F16, GG_TYPE_F16}, {96, 40}, {false, false}},
        {"fewer rows than a task (q8_0)", 2, {GG_TYPE_Q8_0, GG_TYPE_Q8_0}, {20, 7}, {true, true}},
        {"three products, uneven (q5_K, q4_K, q6_K)",
         3,
         {GG_TYPE_Q5_K, GG_TYPE_Q4_K, GG_TYPE_Q6_K},
         {48, 301, 16},
         {false, true, false}},
        {"one product (q4_0)", 1, {GG_TYPE_Q4_0}, {517}, {true}},
    };
    for (size_t i = 0; i < GG_ARRAY_LEN(cases); i++) run_case(&cases[i], in);
    return check_done("test_ops");
}
