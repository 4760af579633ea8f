/*
 * strmap.h - an open-addressing hash map from byte strings (views that
 * the map does not own) to int32 values, built once and read by many
 * threads.
 */
#ifndef GG_STRMAP_H
#define GG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct gg_strmap_slot {
    const char *key;
    uint32_t len;
    int32_t value;
} gg_strmap_slot;

typedef struct gg_strmap {
    gg_strmap_slot *slots;
    size_t mask; /* capacity - 1 (a power of two) */
    size_t count;
} gg_strmap;

/* Sizes the table for n keys; returns -1 when memory runs out. */
int gg_strmap_init(gg_strmap *m, size_t n);
void gg_strmap_free(gg_strmap *m);
/* Inserts key -> value (value >= 0; the map must have been sized for
 * it by gg_strmap_init); an existing key keeps its first value. */
void gg_strmap_put(gg_strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t gg_strmap_get(const gg_strmap *m, const char *key, size_t len);
size_t gg_strmap_bytes(const gg_strmap *m);

#endif
