/*
 * bytes.c - the byte buffer of bytes.h.
 */
#include "bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        uint8_t *p = realloc(b->p, b->cap);
        if (!p) {
            fprintf(stderr, "test: out of memory\n");
            exit(1);
        }
        b->p = p;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

void put_le(buf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(b, &c, 1);
    }
}

void put_str(buf *b, const char *s) {
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}
