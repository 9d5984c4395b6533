/*
 * Strict decoders for every JSON body the pool accepts (allocation requests, node registration,
 * heartbeats, quotas, pool settings). A body is either fully valid or rejected with a message
 * naming the offending field: unknown fields, wrong types, negative or overflowing numbers,
 * over-long or oddly-charactered names are all errors, and nothing is half-applied because the
 * decoders only fill caller-owned structs. Calls jansson and libc only (fuzzed by
 * tests/pool/fuzz_pool_request.c).
 */
#ifndef TFUSE_POOL_REQ_H
#define TFUSE_POOL_REQ_H

#include "pool_model.h"

#define POOL_BODY_MAX (64 * 1024)    /* largest request body the pool reads */
/* ...but a heartbeat's: its "usage" has an entry per vGPU, up to 16 x 64 of them. */
#define POOL_HEARTBEAT_BODY_MAX (1024 * 1024)

struct pool_heartbeat_dev {
    char uuid[POOL_UUID_MAX];
    uint64_t used_bytes;
    double util_pct;
};

/* One vGPU's usage as its node reports it (node-api.md, heartbeat "usage"): the memory now,
 * its peak and limit, and counters that only grow while the vGPU lives (pool_usage.c turns
 * them into samples). */
struct pool_vgpu_usage {
    char vgpu[POOL_UUID_MAX];
    uint64_t mem_used, mem_peak, mem_limit;
    uint64_t busy_ns, throttled_ns, launches, oom_refusals;
    uint64_t oom_largest;            /* bytes: the largest allocation refused (0: none/unsaid) */
    double compute_limit;            /* 0..1 of the device; 1: unlimited */
};

struct pool_heartbeat {
    int ndev;
    struct pool_heartbeat_dev dev[POOL_MAX_DEVICES];
    /* "vgpus": the ids of every vGPU the node has (malloc'd); has_vgpus false: a node that does
     * not report them (nothing is concluded from their absence). */
    bool has_vgpus;
    int nvgpus;
    char (*vgpus)[POOL_UUID_MAX];
    int nusage;                      /* "usage" (malloc'd; absent: none) */
    struct pool_vgpu_usage *usage;
};

int pool_req_decode_alloc(const char *body, size_t len, struct pool_alloc_req *out, char *err,
                          size_t errlen);
/* PATCH /api/v1/allocations/{id}: what a resize changes (per GPU, as in an allocation); 0 (or
 * qos -1) leaves a field as it is. A request given without its limit sets the limit too, as at
 * allocation. At least one field; one form of compute (TFLOPs or percent). */
struct pool_resize_req {
    uint64_t vram_request, vram_limit;
    double tflops_request, tflops_limit;
    double compute_request_pct, compute_limit_pct;
    int qos;
};
int pool_req_decode_resize(const char *body, size_t len, struct pool_resize_req *out,
                           char *err, size_t errlen);
int pool_req_decode_node(const char *body, size_t len, struct pool_node *out, char *err,
                         size_t errlen);
/* A workload's mode (docs/autoscale.md) and, optionally, bounds of its own inside the
 * pool's (min_vram/max_vram, 0: the pool's). */
enum pool_wl_mode { POOL_MODE_OFF, POOL_MODE_RECOMMEND, POOL_MODE_AUTO, POOL_MODE_COUNT };
const char *pool_mode_name(enum pool_wl_mode m);
int pool_mode_parse(const char *s);                /* -1 when unknown */
struct pool_mode_req {
    enum pool_wl_mode mode;
    uint64_t min_vram, max_vram;
};
/* {"mode": "off"|"recommend"|"auto", "min_vram": N, "max_vram": N}. */
int pool_req_decode_mode(const char *body, size_t len, struct pool_mode_req *out, char *err,
                         size_t errlen);
int pool_req_decode_heartbeat(const char *body, size_t len, struct pool_heartbeat *out, char *err,
                              size_t errlen);
void pool_req_free_heartbeat(struct pool_heartbeat *hb);
/* Fills limits of out (tenant comes from the URL); absent limits are unlimited (-1). */
int pool_req_decode_quota(const char *body, size_t len, struct pool_quota *out, char *err,
                          size_t errlen);
/* Fills oversub/strategy of out, keeping the values it had for absent fields. */
int pool_req_decode_pool(const char *body, size_t len, struct pool_def *out, char *err,
                         size_t errlen);

/* The request as canonical JSON (malloc'd), equal for equal requests: how a retry with the same
 * idempotency key is told apart from a different request reusing the key. */
char *pool_req_canonical(const struct pool_alloc_req *req);

/* Names: 1..POOL_NAME_MAX-1 characters of [A-Za-z0-9._:-]. */
bool pool_valid_name(const char *s, size_t cap);

#endif
