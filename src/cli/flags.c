/* `--name VALUE` flag parsing for the tfuse subcommands; see flags.h. */
#include "flags.h"

#include <stdio.h>
#include <string.h>

int cli_parse_flags(const char *cmd, int argc, char **argv, const struct cli_flag *flags,
                    size_t nflags, void *opts)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1;
        if (strcmp(a, "--help") == 0)
            return CLI_HELP;
        const struct cli_flag *f = NULL;
        for (size_t k = 0; k < nflags && !f; k++)
            if (strcmp(a, flags[k].name) == 0)
                f = &flags[k];
        if (!f || i + 1 >= argc) {
            fprintf(stderr, "%s: unexpected argument '%s'%s\n", cmd, a,
                    f ? " (needs a value)" : "");
            return -1;
        }
        *(const char **)((char *)opts + f->offset) = argv[++i];
    }
    return i;
}
