/*
 * The device plugin's Allocate on the device-plugin path: which pod the kubelet is admitting
 * (the kubelet names only device ids, which are interchangeable shares), and what its container
 * needs to reach its vGPUs. Owns: the choice of the pod and the per-node record of containers
 * served. May call: kapi.h, config.h.
 */
#ifndef TFUSE_K8S_DP_ALLOC_H
#define TFUSE_K8S_DP_ALLOC_H

#include <stddef.h>

#include "k8s.h"

#define K8S_DP_LIB_DIR "/usr/local/tfuse/lib"   /* where the stub libraries are mounted */
#define K8S_DP_STATE_FILE "dp-alloc.json"        /* under cfg->plugin_dir */

struct k8s_dp_alloc {
    char **env;                        /* "K=V" */
    size_t n_env;
    struct { char host[512], container[512]; int ro; } *mounts;
    size_t n_mounts;
};

/*
 * The kubelet's Allocate for one container asking for n shares (device_ids: their ids, only
 * counted): the pod is the oldest (by the extender's bind time) Pending pod bound to this node
 * (cfg->node_name) with the extender's annotations whose next GPU container, in the kubelet's
 * order (init containers, then containers), asks for n; the record in cfg->plugin_dir counts
 * the containers already served. The env carries TFUSE_CONNECT (cfg->session_addr, else the
 * allocation's) and TFUSE_TOKEN (the vGPUs' tokens, comma-separated, from the pod's Secret:
 * never an annotation); with cfg->stub_dir, our libcuda.so.1 and libnvidia-ml.so.1 are
 * mounted read-only in K8S_DP_LIB_DIR, which LD_LIBRARY_PATH names first.
 * 0 and *out filled (free with k8s_dp_alloc_free), or -1 with the reason in err.
 */
int k8s_dp_allocate(const struct k8s_config *cfg, const char *const *device_ids, size_t n,
                    struct k8s_dp_alloc *out, char *err, size_t errlen);
void k8s_dp_alloc_free(struct k8s_dp_alloc *a);

#endif
