/*
 * Helpers for the end-to-end forwarding tests: start `tfuse node` on a temporary unix socket and
 * a free TCP port, run programs through `tfuse run` with a timeout and capture their output,
 * count a node's worker processes. Paths come from the build (TFUSE_BUILD_DIR).
 */
#ifndef TFUSE_TESTS_FORWARDING_HARNESS_H
#define TFUSE_TESTS_FORWARDING_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct node_proc {
    pid_t pid;
    char dir[256];           /* temporary folder: socket, state */
    char unix_addr[300];     /* "unix:..." */
    char tcp_addr[300];      /* "tcp:127.0.0.1:PORT" (node_start_tls: "tls:127.0.0.1:PORT") */
};

/* Starts a node (token may be NULL). Returns 0 once it listens on both addresses. */
int node_start(struct node_proc *n, const char *token);
/* The same with --tls-cert cert --tls-key key (when both are given): its tcp listener speaks
 * TLS and tcp_addr reads tls:127.0.0.1:PORT. */
int node_start_tls(struct node_proc *n, const char *token, const char *cert, const char *key);
void node_stop(struct node_proc *n);
/* Number of live child processes (workers) of the node. */
int node_workers(const struct node_proc *n);

struct run_result {
    int status;              /* exit status, or 128+signal, or -1 on timeout */
    char out[65536];         /* stdout */
    char err[65536];         /* stderr */
    double seconds;
};

/* Every timeout_s below (and the node's start) is times TFUSE_TEST_TIMEOUT_SCALE
 * (tests/common/test_timeouts.h). */

/* Runs `tfuse run --connect addr [--token t] -- argv...` and waits up to timeout_s. */
int run_program(const char *addr, const char *token, char *const argv[], double timeout_s,
                struct run_result *res);
/* Starts it without waiting; stdout goes to a pipe returned in *out_fd. */
pid_t spawn_program(const char *addr, const char *token, char *const argv[], int *out_fd);
/* Reads from fd until `want` appears or timeout; returns 1 if seen. */
int wait_for_output(int fd, const char *want, double timeout_s);

double now_seconds(void);

#endif
