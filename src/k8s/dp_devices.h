/*
 * What the device plugin advertises to the kubelet: tensorfuse.io/vgpu shares of each GPU the
 * TensorFuse node lists, their health, and which shares to prefer for a container.
 * A share is a slot, "<GPU uuid>::<k>" for k in [0, shares per GPU): the kubelet counts them
 * (the node's allocatable tensorfuse.io/vgpu is GPUs x shares), while the vGPU's memory and
 * compute, and the GPU it really lands on, are the pool's placement (the scheduler extender).
 * Owns: the set of GPUs last seen, the node's reachability, a generation bumped whenever the
 * advertised list changes (ListAndWatch streams wait on it), the share-id format.
 * May call: libc, pthreads.
 */
#ifndef TFUSE_K8S_DP_DEVICES_H
#define TFUSE_K8S_DP_DEVICES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_DP_RESOURCE_DEFAULT "tensorfuse.io/vgpu"
/* HAMi's deviceSplitCount default: users moving over keep the pods-per-GPU they had. */
#define K8S_DP_SHARES_DEFAULT 10
/* A node holds at most 64 vGPUs per device (VGPU_MAX_SLOTS): more shares could never run. */
#define K8S_DP_SHARES_MAX 64
#define K8S_DP_GPUS_MAX 64
#define K8S_DP_UUID_MAX 48        /* with the NUL; "GPU-" and 36 characters fit */
#define K8S_DP_ID_MAX 64          /* the kubelet's Device.ID: at most 63 characters */

enum k8s_dp_node_state {
    K8S_DP_NODE_UNKNOWN,          /* not asked yet */
    K8S_DP_NODE_UP,               /* answered, serving */
    K8S_DP_NODE_DOWN,             /* unreachable, refusing us, or draining */
};

struct k8s_dp_devices {
    pthread_mutex_t lock;
    pthread_cond_t changed;       /* broadcast with every generation bump */
    unsigned shares;              /* per GPU, 1..K8S_DP_SHARES_MAX */
    size_t n_gpus;
    char gpus[K8S_DP_GPUS_MAX][K8S_DP_UUID_MAX];
    enum k8s_dp_node_state node;
    uint64_t generation;
};

/* One advertised share, as ListAndWatch sends it. */
struct k8s_dp_share {
    char id[K8S_DP_ID_MAX];
    int healthy;
};

void k8s_dp_devices_init(struct k8s_dp_devices *d, unsigned shares);
void k8s_dp_devices_destroy(struct k8s_dp_devices *d);

/*
 * The node answered: its GPUs are uuids[0..n) in its order. A uuid that cannot name a share
 * (empty, too long, characters outside [A-Za-z0-9_.-]) or repeats is skipped and counted in
 * *skipped. GPUs the node no longer lists leave the list (the kubelet drops their shares).
 * Returns 1 when the advertised list changed (generation bumped), else 0.
 */
int k8s_dp_devices_set(struct k8s_dp_devices *d, const char *const *uuids, size_t n,
                       size_t *skipped);

/* The node could not be asked, or is draining: every share is reported Unhealthy (the GPUs are
 * kept: we do not know they are gone), so the kubelet stops admitting pods that need them.
 * Returns 1 when the list changed. */
int k8s_dp_devices_node_down(struct k8s_dp_devices *d);

/* The list as ListAndWatch sends it now: *out malloc'd (NULL when empty), *gen its generation. */
size_t k8s_dp_devices_list(struct k8s_dp_devices *d, struct k8s_dp_share **out, uint64_t *gen);

/* Waits until the generation differs from gen or timeout_ms passes; returns the generation. */
uint64_t k8s_dp_devices_wait(struct k8s_dp_devices *d, uint64_t gen, int timeout_ms);

/*
 * Whether id is a share advertised now (1), one of a GPU we list that is unhealthy (0), or
 * none of ours (-1: malformed, a GPU the node does not list, k out of range).
 */
int k8s_dp_devices_check(struct k8s_dp_devices *d, const char *id);

/* "<uuid>::<k>". 0, or -1 when id is not of that form (the uuid is not checked against a list). */
int k8s_dp_share_parse(const char *id, char uuid[K8S_DP_UUID_MAX], unsigned *k);

/*
 * GetPreferredAllocation for one container: size shares from avail, all of must first, then
 * one at a time the share whose GPU is least represented in the choice so far (a request for
 * 2 gets 2 GPUs' shares when it can: the kubelet's count then matches a 2-GPU allocation),
 * ties to the GPU with the most shares still available (spreads pods), then to the earlier in
 * avail. Ids that are not shares are left out. out holds size pointers into avail/must;
 * returns how many were chosen (fewer than size when avail runs out).
 */
size_t k8s_dp_prefer(const char *const *avail, size_t n_avail, const char *const *must,
                     size_t n_must, size_t size, const char **out);

#endif
