/*
 * strmap.c - the string-to-id hash map of strmap.h: open addressing with
 * linear probing, at most half full, keys kept as views.
 *
 * Tokenizers look up many short substrings per word, so the hash reads
 * eight bytes at a time and the table never holds more than one key per
 * two slots, which keeps probe sequences short without storing hashes.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t load64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The hash depends only on the bytes, never on their address or the
 * platform's byte order beyond what memcpy gives: the map is rebuilt
 * per process, so only consistency within a run matters. */
static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (len * 0x100000001B3ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) h = mix(h ^ load64(s + i));
    uint64_t tail = 0;
    for (size_t k = 0; i < len; i++, k += 8) tail |= (uint64_t)(uint8_t)s[i] << k;
    return mix(h ^ tail);
}

int gg_strmap_init(gg_strmap *m, size_t n) {
    size_t cap = 16;
    /* At most three quarters full: probes stay short and a 150k-token
     * vocabulary takes 4 MB of slots, not 8. */
    while (cap < n + n / 3 + 2) {
        if (cap > SIZE_MAX / 2 / sizeof(gg_strmap_slot)) return -1;
        cap *= 2;
    }
    m->slots = calloc(cap, sizeof(gg_strmap_slot));
    m->mask = cap - 1;
    m->count = 0;
    if (!m->slots) {
        m->mask = 0;
        return -1;
    }
    /* value -1 marks an empty slot: key may legitimately be "" with NULL */
    for (size_t i = 0; i < cap; i++) m->slots[i].value = -1;
    return 0;
}

void gg_strmap_free(gg_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

static size_t find_slot(const gg_strmap *m, const char *key, size_t len) {
    size_t i = (size_t)hash_bytes(key, len) & m->mask;
    for (;;) {
        const gg_strmap_slot *s = &m->slots[i];
        if (s->value < 0) return i;
        if (s->len == len && (len == 0 || memcmp(s->key, key, len) == 0)) return i;
        i = (i + 1) & m->mask;
    }
}

void gg_strmap_put(gg_strmap *m, const char *key, size_t len, int32_t value) {
    /* Callers size the map first; refuse to go past three quarters full
     * (or accept a negative value, which would read as an empty slot). */
    if (!m->slots || value < 0 || len > UINT32_MAX || (m->count + 1) * 4 > (m->mask + 1) * 3) return;
    gg_strmap_slot *s = &m->slots[find_slot(m, key, len)];
    if (s->value >= 0) return;
    s->key = key;
    s->len = (uint32_t)len;
    s->value = value;
    m->count++;
}

int32_t gg_strmap_get(const gg_strmap *m, const char *key, size_t len) {
    if (!m->slots || len > UINT32_MAX) return -1;
    return m->slots[find_slot(m, key, len)].value;
}

size_t gg_strmap_bytes(const gg_strmap *m) {
    return m->slots ? (m->mask + 1) * sizeof(gg_strmap_slot) : 0;
}
