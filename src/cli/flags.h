/*
 * Command-line flags of the form `--name VALUE ... -- PROGRAM ARGS`, shared by the `tfuse run`
 * variants: each flag names the `const char *` field of an options struct that receives its value.
 */
#ifndef TFUSE_CLI_FLAGS_H
#define TFUSE_CLI_FLAGS_H

#include <stddef.h>

struct cli_flag {
    const char *name;  /* "--vram" */
    size_t offset;     /* offsetof(options struct, const char * field) */
};

#define CLI_FLAG(name, type, field) {name, offsetof(type, field)}
#define CLI_HELP (-2)

/* Fills opts from argv[1..] up to "--" and returns the index of the program after it (argc when
 * there is none). An unknown flag or a missing value prints "CMD: ..." and returns -1; --help
 * returns CLI_HELP. */
int cli_parse_flags(const char *cmd, int argc, char **argv, const struct cli_flag *flags,
                    size_t nflags, void *opts);

#endif
