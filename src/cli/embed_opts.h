/*
 * embed_opts.h - the options of `ggembed embed` and `ggembed client
 * embed`: one table, one parser, one usage text, so the two commands take
 * the same options the same way. Options that only make sense where the
 * model is opened (-m, --threads, --batch, --max-memory) are refused by
 * the client with a message saying where they belong.
 */
#ifndef GG_EMBED_OPTS_H
#define GG_EMBED_OPTS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct embed_opts {
    const char *model, *prefix;
    bool jsonl, no_normalize, no_truncate;
    int pooling; /* GGEMBED_POOLING_DEFAULT or a ggembed_pooling */
    long dims, threads, batch, max_memory;
} embed_opts;

/* Which command parses: options are marked with the commands that take them. */
enum { EMBED_LOCAL = 1, EMBED_CLIENT = 2 };

/* Parses argv[0..argc) of `cmd` (e.g. "ggembed embed"): options first,
 * "--" ends them, the rest are texts. Returns the index of the first text
 * (argc when none), or -1 after a one-line message on stderr (an unknown
 * option, a missing or bad value, an option this command does not take). */
int embed_opts_parse(const char *cmd, unsigned who, int argc, char **argv, embed_opts *o);
/* The option lines of usage text for one command. */
void embed_opts_usage(FILE *out, unsigned who);

#endif
