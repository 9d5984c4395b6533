/*
 * Helpers of the state, module cache and ephemeral vGPU tests (issue 19): a real `tfuse node
 * --backend soft` on unix sockets in a temporary folder (its output through a pipe to its log),
 * its API over HTTP (libcurl, jansson), `tfuse run` children and bounded waits. A full state
 * folder is simulated with persist.c's test-only TFUSE_FAULT_STATE_MAX_BYTES: RLIMIT_FSIZE, the real mechanism,
 * also bounds the memfds of the node's vGPU regions, so a node under it cannot start.
 *
 * Owns: nothing. May call: libcurl, jansson, libc; runs tfuse.
 */
#ifndef TFUSE_TESTS_SECURITY_STATE_NODE_H
#define TFUSE_TESTS_SECURITY_STATE_NODE_H

#include <jansson.h>
#include <sys/types.h>

extern int sn_failures;
extern char sn_tfuse[512];     /* BUILD/bin/tfuse */

#define SN_CHECK(cond, ...)                                                                \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            sn_failures++;                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

struct sn_node {
    pid_t pid, logger;
    char dir[256];             /* this node's folder: sockets, log */
    char api[320], listen[320], log[320];
};

/* Sets sn_tfuse from the build folder; makes a temporary work folder (returned). */
const char *sn_init(const char *build_dir);
/* Starts a node in folder work/name with --state state (NULL: none), extra flags (NULL-ended,
 * may be NULL) and, when fsize > 0, a state folder that takes no vgpus.json over fsize bytes.
 * Waits (up to 60 s) for /healthz. 0, or -1 when it exited or never answered (n->pid is then 0
 * and the log says why). */
int sn_start(struct sn_node *n, const char *name, const char *state, const char *const *extra,
             long fsize);
/* SIGTERM, then waits (SIGKILL after 20 s). */
void sn_stop(struct sn_node *n);
/* Waits up to seconds for the node to exit; its exit status, or -1 when it still runs. */
int sn_wait_exit(struct sn_node *n, double seconds);

struct sn_resp {
    long status;               /* 0: no answer */
    json_t *json;              /* the body parsed, or NULL */
};
/* An API call over the node's unix socket; body may be NULL. Free with sn_free. */
struct sn_resp sn_http(const struct sn_node *n, const char *method, const char *path,
                       const char *body);
void sn_free(struct sn_resp *r);

/* POST /api/v1/vgpus with the body; returns the status, the token in token (when 201). */
long sn_create(const struct sn_node *n, const char *body, char *token, size_t len);
/* The state of vGPU id ("live", "deleting") or "" when GET answers 404. */
void sn_vgpu_state(const struct sn_node *n, const char *id, char *out, size_t len);
/* Device 0's memory and the sum of its vGPUs' memory promises. */
void sn_device_memory(const struct sn_node *n, long long *memory, long long *promised);

/* Whether the file contains the text. */
int sn_file_has(const char *path, const char *text);
double sn_now(void);
void sn_sleep_ms(int ms);

/* Starts argv (argv[0] a path) with stdout to a pipe (*out) and stderr to the test's. */
pid_t sn_spawn(char *const argv[], int *out);
/* Reads fd until want appears or seconds pass; 1 when seen. */
int sn_wait_output(int fd, const char *want, double seconds);

#endif
