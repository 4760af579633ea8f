/*
 * symmerge.h - the symbol merge that SentencePiece (spm.c) and byte-level
 * BPE (bpe.c) both run, as llama.cpp runs it: a word is cut into its
 * UTF-8 characters, then adjacent symbols are joined, cheapest pair first
 * and leftmost first among equal costs, until no adjacent pair may join.
 *
 * The two families differ only in which pairs may join and what a join
 * costs (BPE: the merge rank; SentencePiece: minus the token score), so
 * they say that through a callback and share everything else.
 */
#ifndef GG_SYMMERGE_H
#define GG_SYMMERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gg_sym {
    uint32_t start, len; /* bytes of the text; len 0 once merged into the left neighbour */
    int32_t prev, next;  /* the list of live symbols; -1 ends it */
} gg_sym;

typedef struct gg_sym_pair {
    double cost; /* double holds every int32 rank and every float score exactly */
    int32_t left, right;
    uint32_t size; /* left.len + right.len when queued: detects stale pairs */
} gg_sym_pair;

/* Whether the adjacent symbols l, r may join; if so sets *cost. */
typedef bool (*gg_sym_cost_fn)(void *ctx, const gg_sym *l, const gg_sym *r, double *cost);

/* Cuts text[0..len) into UTF-8 characters, counted by lead byte as
 * llama.cpp counts them (no validation, the last one clipped at the end).
 * syms needs room for len entries; returns how many it filled. */
int32_t gg_sym_cut(gg_sym *syms, const char *text, size_t len);

/* Joins the n symbols that gg_sym_cut made, in place; heap needs room for
 * 3 * n pairs (n - 1 first pairs, then at most two per join). Afterwards
 * the live symbols are the list from syms[0]. */
void gg_sym_merge(gg_sym *syms, int32_t n, gg_sym_pair *heap, gg_sym_cost_fn cost, void *ctx);

#endif
