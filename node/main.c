/*  foundry-node: the site agent. Until the jobs issue lands it only knows
 *  --help and --version; running jobs, forwarding telemetry and installing
 *  models come with later issues (docs/architecture.md).
 */
#include "foundry.h"

#include <stdio.h>
#include <string.h>

static void
s_usage(FILE *out)
{
    fprintf(out,
            "Usage: foundry-node [--help] [--version]\n"
            "\n"
            "The Foundry site agent. This version is a placeholder: job execution,\n"
            "telemetry forwarding and model installation arrive with later releases.\n"
            "\n"
            "  --help      show this help and exit\n"
            "  --version   print the version and exit\n");
}

int
main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        s_usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("foundry-node %s\n", foundry_version());
        return 0;
    }
    s_usage(stderr);
    fprintf(stderr, "foundry-node: nothing to run yet (see --help)\n");
    return 2;
}
