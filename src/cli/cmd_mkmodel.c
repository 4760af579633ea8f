/* cmd_mkmodel.c - `ggembed mkmodel`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_mkmodel(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed mkmodel: not available in this build\n");
    return 2;
}
