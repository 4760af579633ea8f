/*
 * main.c - the `ggembed` command: dispatches to one subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "ggembed.h"
#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"embed", cmd_embed, "embed texts with a model and print JSON lines"},
    {"rerank", cmd_rerank, "score documents against a query with a reranker"},
    {"tokenize", cmd_tokenize, "print the token ids of texts"},
    {"inspect", cmd_inspect, "describe a GGUF file (--json for machines)"},
    {"serve", cmd_serve, "answer requests over a socket, named pipe or stdio"},
    {"client", cmd_client, "talk to a running server (health, stats, embed)"},
    {"mkmodel", cmd_mkmodel, "write a model with seeded random weights"},
    {"bench", cmd_bench, "measure embedding speed and memory"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: ggembed COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nggembed COMMAND --help shows a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("ggembed %s\n", GGEMBED_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ggembed: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
}
