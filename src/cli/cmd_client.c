/* cmd_client.c - `ggembed client`: being written (replaced by its implementation). */
#include <stdio.h>
#include "cli.h"
int cmd_client(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ggembed client: not available in this build\n");
    return 2;
}
