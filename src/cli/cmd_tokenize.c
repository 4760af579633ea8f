/* cmd_tokenize.c - `ggembed tokenize`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_tokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed tokenize: not available in this build\n");
    return 2;
}
