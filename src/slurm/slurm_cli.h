/*
 * `tfuse slurm ...`, the Slurm subcommands of the CLI (gres.c). May call: src/cli/nodeapi.h.
 */
#ifndef TFUSE_SLURM_CLI_H
#define TFUSE_SLURM_CLI_H

/* `tfuse slurm gres [--node ADDR] [--name NODENAME] [--token T]`; argv[0] is "slurm". */
int tfuse_slurm_main(int argc, char **argv);

#endif
