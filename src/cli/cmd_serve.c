/* cmd_serve.c - `ggembed serve`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_serve(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed serve: not available in this build\n");
    return 2;
}
