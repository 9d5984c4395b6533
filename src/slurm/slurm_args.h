/*
 * The plugin's arguments from its plugstack.conf line (docs/slurm.md): api=ADDR,
 * token_file=PATH, ca_file=PATH, stub_dir=DIR, lease=SECONDS, gres=auto|off. Apart from the
 * plugin so that they are tested without Slurm. Owns: struct slurm_args. May call:
 * src/cli/nodeapi.h (the token and the CA), libc.
 */
#ifndef TFUSE_SLURM_ARGS_H
#define TFUSE_SLURM_ARGS_H

#include <stddef.h>

#ifndef TFUSE_SLURM_STUB_DIR
#define TFUSE_SLURM_STUB_DIR "/usr/local/lib/tfuse"   /* the build sets PREFIX/lib/tfuse */
#endif
#define SLURM_ARGS_API_DEFAULT "unix:/run/tfuse/api.sock"

struct slurm_args {
    char api[512];
    char stub_dir[1024];
    char ca_file[1024];
    char token[256];        /* read from token_file */
    int lease;              /* seconds */
    int gres_auto;          /* size from the GRES Slurm allocated (asks slurmctld per step) */
};

/* Fills a from argv (KEY=VALUE each) over the defaults. Reads token_file (its first line) and
 * hands the token and ca_file to nodeapi. Returns 0, or -1 with err naming the argument. */
int tfsl_args_parse(struct slurm_args *a, int argc, char **argv, char *err, size_t errlen);

#endif
