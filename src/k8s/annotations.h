/*
 * A pod's GPU request on the device-plugin path: read from our annotations (tensorfuse.io/...),
 * or from Tensor Fusion's (tensor-fusion.ai/...) and HAMi's container resources and annotations
 * (nvidia.com/gpu, nvidia.com/gpumem, ...) taken as aliases, checked, and written back as our
 * canonical annotations (the webhook) or as the pool's allocation request (the extender).
 * Owns: the annotation vocabulary, Kubernetes quantities, the defaults of a request.
 * May call: knode.h (quantities), jansson, libc.
 */
#ifndef TFUSE_K8S_ANNOTATIONS_H
#define TFUSE_K8S_ANNOTATIONS_H

#include <jansson.h>
#include <stdint.h>

#define K8S_ANN "tensorfuse.io/"
#define K8S_RESOURCE_VGPU "tensorfuse.io/vgpu"   /* the device plugin's extended resource */
#define K8S_LABEL_MANAGED "tensorfuse.io/vgpu"   /* pod label the webhook sets: "true" */
/* Written by the extender's bind (never a token: whoever reads pods reads annotations). */
#define K8S_ANN_ALLOCATION K8S_ANN "allocation"  /* the pool allocation's id */
#define K8S_ANN_NODE K8S_ANN "node"              /* the node it was bound to */
#define K8S_ANN_VGPUS K8S_ANN "vgpu-ids"         /* the vGPU ids, comma-separated */
#define K8S_ANN_SECRET K8S_ANN "secret"          /* Secret (same namespace) with the tokens */
#define K8S_ANN_BIND_TIME K8S_ANN "bind-time"    /* unix seconds.nanoseconds of the bind */
#define K8S_GPU_CONTAINERS_MAX 16
#define K8S_GANG_MAX 16

struct k8s_gpu_request {
    int gpu_count;                     /* GPUs of one node, all the pod's GPU containers share */
    uint64_t vram_request, vram_limit; /* bytes per GPU */
    double tflops_request, tflops_limit;           /* per GPU; 0 when asked in percent */
    double compute_request_pct, compute_limit_pct; /* per GPU; 0 when asked in TFLOPs */
    char qos[16];                      /* low, medium, high, critical; "" = the pool's default */
    char pool[64];                     /* "" = "default" */
    char model[64];                    /* "" = any */
    char strategy[32];                 /* "" = the pool's */
    int n_containers;                  /* the containers that get the GPUs (spec.containers) */
    char containers[K8S_GPU_CONTAINERS_MAX][64];
};

/* What a pod that leaves something out gets (webhook flags). vram 0: a pod must say. */
struct k8s_gpu_defaults {
    uint64_t vram;
    double compute_request_pct, compute_limit_pct;
};

/*
 * Reads pod (a v1 Pod object) into *out. 1: it asks for GPUs; 0: it does not (out zeroed);
 * -1: it asks but wrongly (conflicting aliases, bad numbers, unknown containers, a shape we
 * cannot give), with the reason in err for a person to read.
 */
int k8s_pod_gpu_request(const json_t *pod, const struct k8s_gpu_defaults *defs,
                        struct k8s_gpu_request *out, char *err, size_t errlen);

/* Our canonical annotations for r: {"tensorfuse.io/gpu-count": "1", ...}. */
json_t *k8s_gpu_request_annotations(const struct k8s_gpu_request *r);

/* The pool's allocation request (docs/pool-api.md) for r; tenant, node and key may be NULL. */
json_t *k8s_gpu_request_pool_body(const struct k8s_gpu_request *r, const char *tenant,
                                  const char *node, const char *idempotency_key);

/* Kubernetes quantities in annotations and flags ("1Gi", "512Mi", "1.5G", "100m", "2e3", as
 * knode.h's parser reads them): bytes (a fraction rounds up, as the API server does) at most
 * 1 PiB; numbers finite, non-negative, at most 1e12. 0, or -1 when s is none of these. */
int k8s_ann_bytes(const char *s, uint64_t *out);
int k8s_ann_number(const char *s, double *out);

/* A string member of a JSON object, NULL when absent or not a string. */
const char *k8s_json_str(const json_t *obj, const char *key);

#endif
