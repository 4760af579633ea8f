/* cmd_inspect.c - `ggembed inspect`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_inspect(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed inspect: not available in this build\n");
    return 2;
}
