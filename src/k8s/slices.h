/*
 * The node's ResourceSlices: what the DRA driver publishes so the kube-scheduler can allocate
 * this node's GPUs. One pool per node (named after the node), one device per GPU named from
 * its uuid, with attributes and capacities, laid out by the cluster's version:
 *   shared (1.36+, DRAConsumableCapacity beta): allowMultipleAllocations and request policies,
 *     so unrelated claims each take a measured part (memory, compute percent, TFLOPs);
 *   whole (1.34, 1.35: consumable capacity and partitionable devices are alpha, off by
 *     default): one claim per GPU at a time.
 * $TFUSE_K8S_SLICE_LAYOUT (auto, shared, whole) overrides the choice (a 1.34/1.35 cluster with
 * the alpha gate on). Owns: building the slices and k8s_slices_sync.
 * May call: kapi.h, knode.h, jansson.
 */
#ifndef TFUSE_K8S_SLICES_H
#define TFUSE_K8S_SLICES_H

#include <jansson.h>
#include <stddef.h>

#include "k8s.h"

#define K8S_SLICE_MAX_DEVICES 128          /* per ResourceSlice (the API's limit) */
#define K8S_SLICE_HASH_ANNOTATION "gpu.tensorfuse.io/spec-hash"

enum k8s_slice_layout { K8S_LAYOUT_AUTO, K8S_LAYOUT_SHARED, K8S_LAYOUT_WHOLE };

/* The device name of a GPU uuid: a DNS label ("GPU-8F6C-..." -> "gpu-8f6c-..."). 0, or -1. */
int k8s_slice_device_name(const char *uuid, char *out, size_t len);

/* The layout for a server version (AUTO resolved; $TFUSE_K8S_SLICE_LAYOUT honoured), or -1
 * with err when the server has no resource.k8s.io/v1 (before 1.34) or the variable is bad. */
int k8s_slice_layout(int major, int minor, enum k8s_slice_layout *layout, char *err,
                     size_t errlen);

/* The slices (full objects, generation as given, ownerReference to the Node when node_uid is
 * not NULL) for the node's devices (the "devices" array of GET /api/v1/devices). */
json_t *k8s_slices_build(const struct k8s_config *cfg, json_t *node_devices,
                         enum k8s_slice_layout layout, long long generation,
                         const char *node_uid);

/*
 * Makes the API server's slices of this node and driver those of the node's devices now:
 * creates, updates and deletes, bumping the pool's generation when anything changed (nothing
 * is written when nothing did). Idempotent. 0, or -1 with err.
 */
int k8s_slices_sync(const struct k8s_config *cfg, char *err, size_t errlen);

#endif
