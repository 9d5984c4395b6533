/*
 * Ephemeral vGPUs for one program or one job step: created through a node's API with a lease,
 * renewed while their owner runs, deleted when it ends (docs/node-api.md, "lease_seconds").
 * `tfuse run --vram` and the Slurm SPANK plugin (src/slurm) share this code; neither prints:
 * every failure comes back as a sentence in err for the caller to prefix and show.
 *
 * Owns: struct eph_set. May call: nodeapi.h (the node's HTTP API), src/vgpu (quantities),
 * libc.
 */
#ifndef TFUSE_CLI_EPHEMERAL_H
#define TFUSE_CLI_EPHEMERAL_H

#include <stddef.h>

#define EPH_MAX_GPUS 16          /* the worker's bound: one vGPU per device, 16 devices */
#define EPH_LEASE_DEFAULT_S 30
#define EPH_LEASE_MAX_S 86400    /* the node's bound (NODE_LEASE_MAX_S) */
#define EPH_ID_MAX 64            /* a vGPU id with its NUL (VGPU_ID_LEN_MAX + 1) */

/* What to create. Strings are the node's own forms ("256MiB", "30%", "high"). */
struct eph_spec {
    const char *vram;            /* required */
    const char *compute;         /* guaranteed share; NULL: unlimited */
    const char *limit;           /* maximum share; NULL: the node's default */
    const char *qos;             /* NULL: the node's default (medium) */
    const char *owner;           /* kept by the node and listed ("slurm:42.0"); NULL: none */
    const char *id;              /* our id (gangs add "-N"); NULL: the node names it, and a
                                    gang is named "run-PID-TIME-N" */
    const char *connect;         /* session address to use instead of the node's; NULL */
    int lease;                   /* seconds; 0: EPH_LEASE_DEFAULT_S */
    int ngpus;                   /* vGPUs on distinct devices; 0 or 1: one where the node
                                    chooses */
};

/* The vGPUs of one owner, in device order. */
struct eph_set {
    char api[512];               /* the node's API address */
    int n;
    char ids[EPH_MAX_GPUS][EPH_ID_MAX];
    char tokens[EPH_MAX_GPUS * 161];   /* comma-separated, as TFUSE_TOKEN takes them */
    char connect[512];           /* where the program connects (TFUSE_CONNECT) */
    int lost;                    /* the node no longer had one at a renewal */
};

/*
 * Creates spec->ngpus vGPUs on the node at api. Returns 0; -1 with err (bad input, node
 * unreachable or refusing: nothing is left behind); or 409 when the node has no room for them
 * (err then carries the node's message).
 */
int tf_eph_create(const char *api, const struct eph_spec *spec, struct eph_set *set,
                  char *err, size_t errlen);

/* Renews every lease of set. Returns how many the node no longer has (404: expired or deleted
 * by someone else); an unreachable node counts as none, to be tried again next period. */
int tf_eph_renew(struct eph_set *set);

/* Deletes every vGPU of set, waiting (NODEAPI_DELETE_WAIT_S at most) for the memory of one
 * whose sessions are still ending. Returns 0, or -1 with err naming what could not be deleted
 * (the leases end them later). set->n is 0 afterwards. */
int tf_eph_delete(struct eph_set *set, char *err, size_t errlen);

/* LD_LIBRARY_PATH with the folder of our libcuda.so.1 first: "DIR[:OLD]". Returns 0, or -1 when
 * it does not fit. */
int tf_eph_library_path(const char *stub_dir, const char *old, char *out, size_t len);

#endif
