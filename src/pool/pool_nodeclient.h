/*
 * The pool's side of the node API (docs/node-api.md): create and delete vGPUs on a node daemon
 * over HTTP/JSON. Answers from the node are validated like any outside input. Calls
 * src/common/httpc.h, jansson and libc.
 */
#ifndef TFUSE_POOL_NODECLIENT_H
#define TFUSE_POOL_NODECLIENT_H

#include "pool_model.h"

struct pool_vgpu_spec {
    const char *device;                /* uuid */
    uint64_t vram_bytes;
    double compute_request_pct, compute_limit_pct;
    enum pool_qos qos;
    const char *idempotency_key;
    const char *owner;                 /* "pool:NAME": the node's reconciliation may delete it */
};

/* The bearer token presented to nodes (their --api-token): token, or when NULL the environment's
 * TFUSE_NODE_TOKEN. Call before threads start (tfuse pool serve --node-token). */
void pool_node_set_token(const char *token);

/* POST {address}/api/v1/vgpus. On success fills vgpu_id/token/connect of out. */
int pool_node_create_vgpu(const char *address, const struct pool_vgpu_spec *spec,
                          long timeout_ms, struct pool_alloc_dev *out, char *err, size_t errlen);

/* PATCH {address}/api/v1/vgpus/{id} with spec's memory limit, compute and QoS (device, key and
 * owner unused): a live resize. Returns 0, or -1 with err and *status the node's answer (409:
 * it does not fit the node, or less memory than is in use; 0: not reached). */
int pool_node_resize_vgpu(const char *address, const char *vgpu_id,
                          const struct pool_vgpu_spec *spec, long timeout_ms, int *status,
                          char *err, size_t errlen);

/* DELETE {address}/api/v1/vgpus/{id}; a vGPU the node no longer knows (404) counts as deleted. */
int pool_node_delete_vgpu(const char *address, const char *vgpu_id, long timeout_ms, char *err,
                          size_t errlen);

#endif
