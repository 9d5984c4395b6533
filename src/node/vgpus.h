/*
 * The node's vGPUs: one vGPU region per device of the backend (an anonymous memfd mapped before
 * workers are forked, so every worker inherits it and nothing is left in /dev/shm to go stale
 * after a crash), the controller thread that refills the compute buckets every 10 ms, the
 * reaper's refunds for dead workers, and the create/list/delete operations the control API
 * (api.c) exposes. Every mutation and every controller tick run under one mutex.
 *
 * Owns: struct node_vgpus. May call: src/vgpu, src/backend (the device probe, in a child
 * process so that the node never initializes the driver it forks workers from), jansson.
 */
#ifndef TFUSE_NODE_VGPUS_H
#define TFUSE_NODE_VGPUS_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu_compute.h"
#include "vgpu_region.h"

#define NODE_MAX_DEVICES 16
#define NODE_USAGE_SAMPLES 11   /* busy_ns samples 100 ms apart: about the last second */
#define NODE_USAGE_EVERY 10     /* controller ticks between samples */
#define NODE_LEASE_EVERY 50     /* controller ticks between lease checks (0.5 s) */
#define NODE_LEASE_MAX_S 86400  /* longest lease a create may ask for, in seconds */
#define NODE_OWNER_MAX 80       /* "owner" of a create, with its NUL */

struct node_device {
    char name[128];
    char uuid[VGPU_UUID_MAX];
    uint64_t memory;
    int sms;                    /* CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0 when unknown */
    double tflops;
    /* what a Kubernetes ResourceSlice describes (tfuse-k8s, docs/kubernetes.md); 0/"": unknown */
    int cc_major, cc_minor;     /* compute capability */
    int driver_version;         /* cuDriverGetVersion: 13000 is CUDA 13.0 */
    char pci_bus_id[24];        /* "0000:41:00.0", lower case */
};

/* A vGPU's recent device time, sampled by the controller thread (compute_used_pct). */
struct node_usage {
    uint64_t generation;        /* the slot generation the samples belong to */
    int n, head;
    uint64_t at_ns[NODE_USAGE_SAMPLES], busy_ns[NODE_USAGE_SAMPLES];
};

struct node_vgpus {
    int ndev;
    struct node_device dev[NODE_MAX_DEVICES];
    struct vgpu_region *regions[NODE_MAX_DEVICES];
    struct vgpu_controller ctrl[NODE_MAX_DEVICES];
    char idem[NODE_MAX_DEVICES][VGPU_MAX_SLOTS][80]; /* idempotency key of each slot's create */
    /* Leases (ephemeral vGPUs): a vGPU created with "lease_seconds" is deleted once its owner
     * stopped renewing it for that long and no session is attached. 0: no lease. */
    int lease_s[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];
    uint64_t lease_until_ns[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];   /* vgpu_clock_ns() */
    /* Who made each vGPU: "pool:NAME" for the pool's (a node's reconciliation may delete those
     * the pool forgot, never a user's), "" for one made on the node directly; and when (or
     * when restored), so that reconciliation leaves a create in flight alone. */
    char owner[NODE_MAX_DEVICES][VGPU_MAX_SLOTS][NODE_OWNER_MAX];
    uint64_t born_ns[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];          /* vgpu_clock_ns() */
    char connect[300];          /* the session address given back to creators */
    /* Warm workers' contexts, charged to the node (warm.h): how many and their bytes. */
    _Atomic int warm_workers[NODE_MAX_DEVICES];
    _Atomic uint64_t warm_bytes[NODE_MAX_DEVICES];
    struct node_usage usage[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];
    unsigned ticks;
    pthread_mutex_t lock;
    pthread_t thread;
    int running;
    /* Called with lock held after a create was made and before a delete is made (the node saves
     * the vGPUs to its state folder, persist.h), with the vGPU to leave out (a delete) or -1,
     * -1. Returns 0, or an errno with a message: the create is rolled back and the delete not
     * made, and the API answers 507 (a full folder) or 500. NULL: nothing to save. */
    int (*changed)(struct node_vgpus *v, void *arg, int skip_dev, int skip_slot, char *err,
                   size_t errlen);
    void *changed_arg;
};

/* Probes the backend's devices (in a child process) and creates their regions. promise: the
 * most the memory limits of a device may add up to, in device memories (1: no more than the
 * device; INFINITY: --oversubscribe, no bound). Returns 0 or -1 with err. */
int node_vgpus_init(struct node_vgpus *v, const char *backend_path, double promise,
                    const char *connect, char *err, size_t errlen);
/* Starts the controller thread (10 ms period). */
int node_vgpus_start(struct node_vgpus *v);
void node_vgpus_stop(struct node_vgpus *v);

/* A worker process died: refund what it held on every vGPU, free deleted vGPUs it was the last
 * user of. */
void node_vgpus_reap(struct node_vgpus *v, pid_t pid);

/* The API's operations. Each returns an HTTP status and sets *reply (a new JSON object: the
 * answer, or {"error":..., "message":...}). Nothing is changed when the status is not 2xx. */
int node_vgpus_create(struct node_vgpus *v, json_t *body, json_t **reply);
int node_vgpus_list(struct node_vgpus *v, json_t **reply);
/* DELETE: the vGPU stops taking sessions at once and its attached workers are asked to end
 * (SIGTERM); 204 once its slot and memory are free (waited for briefly), else 202 with
 * "state": "deleting" until the reaper frees it (GET answers 404 from then on). */
int node_vgpus_delete(struct node_vgpus *v, const char *id, json_t **reply);
/* PATCH /api/v1/vgpus/{id} (vgpus_resize.c): a live vGPU's new memory limit, compute
 * request/limit and QoS, seen by its running sessions at once. 200 with the vGPU and its
 * "previous" values; 409 "memory_in_use" (with used_bytes and asked_bytes) for a limit below
 * what is in use, 409 "insufficient_memory" for one the device cannot promise; 400, 404; 507
 * or 500 when the state folder cannot save it (then nothing changed). */
int node_vgpus_resize(struct node_vgpus *v, const char *id, json_t *body, json_t **reply);
/* POST /api/v1/vgpus/{id}/lease: the owner of a leased vGPU renews it for another lease. */
int node_vgpus_renew(struct node_vgpus *v, const char *id, json_t **reply);
/* Gives (dev, slot) a lease of seconds from now (0: none). Call with lock held. */
void node_vgpus_set_lease_locked(struct node_vgpus *v, int dev, int slot, int seconds);
int node_vgpus_devices(struct node_vgpus *v, json_t **reply);

/* Reconciliation with the pool (poolreg.c): deletes every live vGPU whose owner begins with
 * "pool:", that is older than grace_s, whose id is not in `keep` (a JSON array of
 * {"id": ...}) and whose idempotency key does not begin with an allocation in `creating` (a JSON
 * array of strings). Returns how many it deleted. */
int node_vgpus_reconcile(struct node_vgpus *v, json_t *keep, json_t *creating, double grace_s);

/* Share of the device (0..1) the vGPU in slot `slot` of device `dev` used over about the last
 * second. Takes the lock. */
double node_vgpus_used_share(struct node_vgpus *v, int dev, int slot);
double node_vgpus_used_share_locked(struct node_vgpus *v, int dev, int slot);

#endif
