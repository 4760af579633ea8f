/*
 * texts.c - the texts of `embed`, `tokenize` and `client embed` (texts.h).
 * Lines may be any length; a trailing "\n" or "\r\n" is not part of the
 * text.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "texts.h"

/* Reads one line of any length; returns its length or -1 at the end. */
static long read_line(text_source *s) {
    size_t n = 0;
    int c;
    while ((c = fgetc(s->in)) != EOF) {
        if (n + 1 >= s->line_cap) {
            size_t cap = s->line_cap ? 2 * s->line_cap : 4096;
            char *p = realloc(s->line, cap);
            if (!p) return -1;
            s->line = p;
            s->line_cap = cap;
        }
        if (c == '\n') break;
        s->line[n++] = (char)c;
    }
    if (c == EOF && n == 0) return -1;
    if (n > 0 && s->line[n - 1] == '\r') n--;
    s->line[n] = '\0';
    return (long)n;
}

static char *parsed; /* the last JSON-decoded text */

int text_next(text_source *s, char **text, size_t *len) {
    free(parsed);
    parsed = NULL;
    if (s->argv) {
        if (s->next >= s->argc) return 0;
        *text = s->argv[s->next++];
        *len = strlen(*text);
        return 1;
    }
    if (!s->in) s->in = stdin;
    long n = read_line(s);
    if (n < 0) return 0;
    s->line_no++;
    if (!s->jsonl) {
        *text = s->line;
        *len = (size_t)n;
        return 1;
    }
    char err[256];
    parsed = cli_json_parse_string(s->line, (size_t)n, len, err, sizeof err);
    if (!parsed) {
        fprintf(stderr, "ggembed: standard input line %ld: %s\n", s->line_no, err);
        return -1;
    }
    *text = parsed;
    return 1;
}

void text_source_close(text_source *s) {
    free(parsed);
    parsed = NULL;
    free(s->line);
    s->line = NULL;
}
