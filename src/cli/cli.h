/*
 * cli.h - the subcommands of the `ggembed` program and the small helpers
 * they share (option parsing, JSON output).
 */
#ifndef GG_CLI_H
#define GG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit statuses of the ggembed command (README, docs/PROTOCOL.md). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_POISON = 3,        /* serve: GGEMBED_TEST_POISON matched (tests only) */
    CLI_EXIT_MODEL_CHANGED = 4, /* the model file changed or was truncated while in use */
};

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Writes s[0..len) as a JSON string literal (quotes included). Invalid
 * UTF-8 bytes are written as U+FFFD. */
void cli_json_string(FILE *out, const char *s, size_t len);
/* Shortest decimal that reads back as the same float ("%.9g"-like). */
void cli_json_float(FILE *out, float v);

/* Parses a base-10 integer option value in [lo, hi]; prints a message
 * naming the option and returns false when it is not one. */
bool cli_parse_int(const char *opt, const char *val, long lo, long hi, long *out);

/* Parses one JSON string literal (a --jsonl line) into a malloc'd buffer;
 * returns NULL and a message in err when the line is not one. */
char *cli_json_parse_string(const char *line, size_t len, size_t *out_len, char *err, size_t err_len);

#endif
