/*
 * texts.h - reading the texts a command works on: its arguments, or
 * standard input one text per line, or (--jsonl) one JSON string per line.
 */
#ifndef GG_TEXTS_H
#define GG_TEXTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct text_source {
    char **argv; /* texts given as arguments, or NULL for stdin */
    int argc, next;
    bool jsonl;
    FILE *in;
    char *line;
    size_t line_cap;
    long line_no;
} text_source;

/* Next text into *text (valid until the next call; malloc'd for jsonl and
 * freed by the source). Returns 1 for a text, 0 at the end, -1 on a
 * malformed line (message printed). */
int text_next(text_source *s, char **text, size_t *len);
void text_source_close(text_source *s);

#endif
