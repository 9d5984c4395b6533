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

struct pool_heartbeat_dev {
    char uuid[POOL_UUID_MAX];
    uint64_t used_bytes;
    double util_pct;
};

struct pool_heartbeat {
    int ndev;
    struct pool_heartbeat_dev dev[POOL_MAX_DEVICES];
    /* "vgpus": the ids of every vGPU the node has (malloc'd); has_vgpus false: a node that does
     * not report them (nothing is concluded from their absence). */
    bool has_vgpus;
    int nvgpus;
    char (*vgpus)[POOL_UUID_MAX];
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
