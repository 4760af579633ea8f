/* cmd_embed.c - `ggembed embed`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_embed(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed embed: not available in this build\n");
    return 2;
}
