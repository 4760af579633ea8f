/* cmd_bench.c - `ggembed bench`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_bench(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed bench: not available in this build\n");
    return 2;
}
