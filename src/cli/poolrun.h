/*
 * `tfuse run --pool URL ...`: run a CUDA program on a vGPU allocated through the pool manager
 * (docs/pool-api.md). Owns: the allocation's life around one program run.
 * May call: nodeapi.h (HTTP/JSON client), src/vgpu (size parsing), main.c's cli_run_child.
 */
#ifndef TFUSE_CLI_POOLRUN_H
#define TFUSE_CLI_POOLRUN_H

/* Whether a `tfuse run` command line asks for the pool (--pool before "--"). */
int poolrun_wanted(int argc, char **argv);

/* `tfuse run --pool URL --vram SIZE (--tflops N | --compute PCT) ... -- PROGRAM [ARGS]`:
 * argv[0] is "run". Returns the program's exit status (128+signal when killed), or 2 when the
 * allocation failed. */
int poolrun_main(int argc, char **argv);

/* main.c: runs argv as a child connected to connect with token (the `--connect ADDR --vgpu
 * TOKEN` path), forwards SIGTERM/SIGHUP to it, waits. Returns its status as a shell would. */
int cli_run_child(const char *connect, const char *token, char **argv);

#endif
