/*
 * The node under test for the listener and id tests of the security suite (listen_*, ids_*): a
 * real `tfuse node --backend soft` with a unix and a tcp session listener and a unix and a tcp
 * API, plain HTTP/1.0 over sockets (no client library between the test and the bytes it
 * sends), idle connections from a chosen loopback source address, and the node's children.
 *
 * Owns: the node process it starts and its folder. May call: libc; runs build/bin/tfuse.
 */
#ifndef TFUSE_TESTS_LISTEN_NODE_H
#define TFUSE_TESTS_LISTEN_NODE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define TNODE_TOKEN "security-suite-api-token"

/* Failed checks so far; CHECK counts one and says where and why on stderr. */
extern int tnode_failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            tnode_failures++;                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

struct tnode {
    pid_t pid;
    char build[256], work[256], tfuse[512], log[300];
    char api_sock[300], sess_sock[300];
    int api_port, sess_port;
};

/* Starts the node in a fresh folder under /tmp; extra: more `tfuse node` arguments, NULL
 * terminated (may be NULL). state: --state folder or NULL. Waits (bounded) for /healthz on
 * both APIs. 0, or -1 with the reason on stderr. */
int tnode_start(struct tnode *n, const char *build, const char *state, const char *const *extra);
/* SIGTERM, a bounded wait, then SIGKILL; the folder is removed (show_log: the log's end goes to
 * stderr first). */
void tnode_stop(struct tnode *n, int show_log);

/* One HTTP/1.0 request: over the unix API (tcp 0) or the tcp API from 127.0.0.1 (tcp 1, with
 * the API token). body may be NULL. Returns the status (0: no answer within the timeout), the
 * body in out. */
int tnode_http(const struct tnode *n, int tcp, const char *method, const char *path,
               const char *body, char *out, size_t outlen);

/* The same to any server: the unix socket at path, or 127.0.0.1:port when path is NULL; token:
 * the bearer token, or NULL for none. */
int tnode_http_to(const char *path, int port, const char *token, const char *method,
                  const char *url, const char *body, char *out, size_t outlen);

/* A tcp connection from source address src (a 127.x.y.z) to 127.0.0.1:port that says nothing;
 * the fd, or -1. Does not wait for the connection to be established. */
int tnode_idle_connect(const char *src, int port);
/* Of fds[0..n), how many the peer has closed (EOF or reset) by now, without blocking. */
int tnode_count_closed(const int *fds, int n);
/* Raises the open-files soft limit to at least want (within the hard limit); the limit. */
long tnode_raise_nofile(long want);

/* POST a vGPU of `vram` bytes over the unix API (id NULL: the node names it); its token in tok.
 * The HTTP status. */
int tnode_create_vgpu(const struct tnode *n, const char *id, long long vram, char *tok,
                      size_t len);
/* `tfuse run --connect <unix session listener> --vgpu token -- prog args...`, its stdout and
 * stderr together on *out_fd. The pid. */
pid_t tnode_run(const struct tnode *n, const char *token, const char *prog,
                const char *const *args, int *out_fd);
/* The exit status of pid within secs (scaled), else it is killed: -1. */
int tnode_wait_exit(pid_t pid, int secs);
/* Reads what fd gives within secs (scaled) into out until EOF or a line containing want. */
void tnode_read_until(int fd, const char *want, int secs, char *out, size_t len);

/* A tcp port of 127.0.0.1 that was free a moment ago. */
int tnode_free_port(void);

/* Processes whose parent is pid. */
int tnode_children(pid_t pid);
/* Whether the node's log contains text. */
int tnode_log_has(const struct tnode *n, const char *text);

void tnode_sleep_ms(int ms);

/* Bounded waits stretch by TFUSE_TEST_TIMEOUT_SCALE (a factor, default 1; `make
 * test-under-load` sets 3): seconds, and the tries of a polling loop with a fixed pause. */
double tnode_scale(void);
double tnode_scaled_s(double seconds);
int tnode_scaled_n(int n);

#endif
