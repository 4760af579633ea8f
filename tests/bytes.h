/*
 * bytes.h - a growable byte buffer for tests that build GGUF files and
 * protocol frames by hand, following the format descriptions rather
 * than the library's own writer.
 */
#ifndef GG_TEST_BYTES_H
#define GG_TEST_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

void put(buf *b, const void *d, size_t n);
void put_le(buf *b, uint64_t v, int n); /* n little-endian bytes of v */
void put_str(buf *b, const char *s);    /* GGUF string: u64 length, bytes */

#endif
