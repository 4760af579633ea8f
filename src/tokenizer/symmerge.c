/*
 * symmerge.c - the symbol merge of symmerge.h.
 *
 * Candidate pairs wait in a binary heap ordered by cost, then by left
 * index; a popped pair whose symbols changed since it was queued is
 * skipped instead of being searched for and removed, so a word of n
 * symbols costs O(n log n), not O(n^2).
 */
#include "symmerge.h"

/* Bytes in the UTF-8 character a byte starts, by its high nibble. */
static uint32_t utf8_len(uint8_t b) {
    static const uint8_t by_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_nibble[b >> 4];
}

int32_t gg_sym_cut(gg_sym *syms, const char *text, size_t len) {
    int32_t n = 0;
    for (size_t off = 0; off < len; n++) {
        uint32_t k = utf8_len((uint8_t)text[off]);
        if (k > len - off) k = (uint32_t)(len - off);
        syms[n] = (gg_sym){(uint32_t)off, k, n - 1, -1};
        if (n > 0) syms[n - 1].next = n;
        off += k;
    }
    return n;
}

/* ---- the heap: lowest cost first, then leftmost ---- */

typedef struct sym_heap {
    gg_sym_pair *pairs;
    size_t n;
} sym_heap;

static bool pair_before(const gg_sym_pair *a, const gg_sym_pair *b) {
    return a->cost < b->cost || (a->cost == b->cost && a->left < b->left);
}

static void heap_push(sym_heap *h, gg_sym_pair pr) {
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&pr, &h->pairs[up])) break;
        h->pairs[i] = h->pairs[up];
        i = up;
    }
    h->pairs[i] = pr;
}

static gg_sym_pair heap_pop(sym_heap *h) {
    gg_sym_pair top = h->pairs[0], last = h->pairs[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&h->pairs[c + 1], &h->pairs[c])) c++;
        if (!pair_before(&h->pairs[c], &last)) break;
        h->pairs[i] = h->pairs[c];
        i = c;
    }
    if (n > 0) h->pairs[i] = last;
    return top;
}

/* ---- the merge ---- */

typedef struct sym_merge {
    gg_sym *syms;
    sym_heap heap;
    gg_sym_cost_fn cost;
    void *ctx;
} sym_merge;

/* Queues (left, right) if the family lets them join. */
static void try_pair(sym_merge *m, int32_t left, int32_t right) {
    const gg_sym *l, *r;
    double cost;
    if (left < 0 || right < 0) return;
    l = &m->syms[left];
    r = &m->syms[right];
    if (m->cost(m->ctx, l, r, &cost))
        heap_push(&m->heap, (gg_sym_pair){cost, left, right, l->len + r->len});
}

void gg_sym_merge(gg_sym *syms, int32_t n, gg_sym_pair *heap, gg_sym_cost_fn cost, void *ctx) {
    sym_merge m = {syms, {heap, 0}, cost, ctx};
    for (int32_t i = 1; i < n; i++) try_pair(&m, i - 1, i);
    while (m.heap.n > 0) {
        gg_sym_pair pr = heap_pop(&m.heap);
        gg_sym *l = &syms[pr.left], *r = &syms[pr.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != pr.size) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = pr.left;
        try_pair(&m, l->prev, pr.left);
        try_pair(&m, pr.left, l->next);
    }
}
