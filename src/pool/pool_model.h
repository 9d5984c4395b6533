/*
 * The pool manager's data model: nodes and their devices, allocations (one vGPU per device of a
 * gang), tenant quotas and named pools. Plain structs shared by every file of src/pool; this
 * header owns no behaviour except the enum <-> name tables (pool_model.c). It calls nothing.
 *
 * Units everywhere: memory in bytes (uint64_t), compute in TFLOPs (double, FP16 rating of the
 * card), percentages in 0..100.
 */
#ifndef TFUSE_POOL_MODEL_H
#define TFUSE_POOL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_NAME_MAX 64     /* node, pool, tenant, model names, label keys (with the NUL) */
#define POOL_UUID_MAX 80     /* device uuid, allocation and vGPU ids */
#define POOL_ADDR_MAX 256    /* node base URL, vGPU connect string */
#define POOL_TOKEN_MAX 160   /* vGPU connection token */
#define POOL_KEY_MAX 128     /* idempotency key */
#define POOL_LABEL_VALUE_MAX 128
#define POOL_MAX_LABELS 16
#define POOL_MAX_DEVICES 16  /* per node */
#define POOL_MAX_GANG POOL_MAX_DEVICES
#define POOL_MAX_PEERS 16    /* NVLink peers per device */
#define POOL_MAX_VGPUS_PER_DEVICE 64
#define POOL_HASH_HEX 65     /* SHA-256 in hex, with the NUL */

enum pool_qos { POOL_QOS_LOW, POOL_QOS_MEDIUM, POOL_QOS_HIGH, POOL_QOS_CRITICAL, POOL_QOS_COUNT };

enum pool_strategy {
    POOL_STRATEGY_COMPACT_FIRST,
    POOL_STRATEGY_LOW_LOAD_FIRST,
    POOL_STRATEGY_NODE_COMPACT_GPU_LOW_LOAD,
    POOL_STRATEGY_COUNT
};

/* pending: booked, vGPUs being created on the node; active: usable; released: kept only in the
 * store so that an idempotency key cannot silently allocate twice. "lost" is not stored: it is
 * how an active allocation on an unhealthy node is reported. */
enum pool_alloc_status { POOL_ALLOC_PENDING, POOL_ALLOC_ACTIVE, POOL_ALLOC_RELEASED };

/* Why an allocation failed; also the label values of the failures metric. */
enum pool_fail_reason {
    POOL_FAIL_INVALID,
    POOL_FAIL_NO_CAPACITY,
    POOL_FAIL_QUOTA,
    POOL_FAIL_NODE_ERROR,
    POOL_FAIL_CONFLICT,
    POOL_FAIL_STORE,
    POOL_FAIL_COUNT
};

struct pool_label {
    char key[POOL_NAME_MAX];
    char value[POOL_LABEL_VALUE_MAX];
};

/* Field order matters: placement reads the first group of fields of every candidate device,
 * so they share one cache line; names, peers and reported usage come after. */
struct pool_device {
    int group;                       /* index of its (pool, model) group in the inventory */
    int vgpus;                       /* booked vGPUs */
    uint64_t memory_bytes;
    uint64_t vram_booked;
    double tflops;                   /* rated FP16 TFLOPs */
    double tflops_booked;
    char uuid[POOL_UUID_MAX];
    char model[POOL_NAME_MAX];
    int numa;                        /* -1 when unknown */
    int npeers;
    /* last reported by the node's heartbeat (informational) */
    uint64_t used_bytes;
    double util_pct;
};

/* NVLink peers of one device (uuids); kept in the node, away from the placement-hot fields. */
typedef char pool_peer_list[POOL_MAX_PEERS][POOL_UUID_MAX];

struct pool_node {
    bool healthy;                    /* read first by placement: kept at the front */
    int ndev;
    int nlabels;
    int slot;                        /* index in the inventory's node table */
    double last_heartbeat;           /* monotonic seconds */
    struct pool_device dev[POOL_MAX_DEVICES];
    char name[POOL_NAME_MAX];
    char address[POOL_ADDR_MAX];     /* base URL of the node's HTTP API, e.g. http://10.0.0.5:7070 */
    char pool[POOL_NAME_MAX];
    struct pool_label labels[POOL_MAX_LABELS];
    pool_peer_list peers[POOL_MAX_DEVICES]; /* peers[i]: NVLink peers of dev[i] */
    char credential_hash[POOL_HASH_HEX];    /* SHA-256 of its credential; "": none (not called) */
};

struct pool_alloc_req {
    char tenant[POOL_NAME_MAX];
    char pool[POOL_NAME_MAX];
    char model[POOL_NAME_MAX];       /* empty: any model (all GPUs of a gang share one) */
    char workload[POOL_NAME_MAX];    /* usage history's name (pool_usage.h); "": the model */
    int gpu_count;
    double tflops_request, tflops_limit;
    double compute_request_pct, compute_limit_pct;
    uint64_t vram_request, vram_limit;
    enum pool_qos qos;
    int priority;                    /* kept for preemption, not used by placement yet */
    int strategy;                    /* enum pool_strategy, or -1: the pool's default */
    int nlabels;                     /* node labels that must all match */
    struct pool_label labels[POOL_MAX_LABELS];
    char idempotency_key[POOL_KEY_MAX];
    char node[POOL_NAME_MAX];        /* "": any node; else only this one (a scheduler's pick) */
};

/* One vGPU of an allocation: what was booked on which device and what the node answered. */
struct pool_alloc_dev {
    char uuid[POOL_UUID_MAX];
    double tflops;                   /* booked request */
    double tflops_limit;
    uint64_t vram;                   /* booked request */
    uint64_t vram_limit;
    char vgpu_id[POOL_UUID_MAX];
    char token[POOL_TOKEN_MAX];
    char connect[POOL_ADDR_MAX];
};

struct pool_alloc {
    char id[POOL_UUID_MAX];
    char tenant[POOL_NAME_MAX];
    char pool[POOL_NAME_MAX];
    char node[POOL_NAME_MAX];
    char model[POOL_NAME_MAX];
    char idempotency_key[POOL_KEY_MAX];
    char workload[2 * POOL_NAME_MAX]; /* "<tenant>/<name>" (pool_usage.h) */
    enum pool_qos qos;
    int priority;
    enum pool_strategy strategy;
    enum pool_alloc_status status;
    int64_t created_unix;
    int ndev;
    struct pool_alloc_dev dev[POOL_MAX_GANG];
    char *request_json;              /* canonical request, to recognise an idempotent retry */
    bool releasing;                  /* in memory only: its vGPUs are being deleted */
    bool resizing;                   /* in memory only: its vGPUs are being resized */
    /* In memory only: consecutive heartbeats of its node that lacked one of its vGPUs (the node
     * lost its state, or deleted it); from 2 on it reads "lost" and its tokens are withheld. */
    int missing_beats;
};

/* Limits of one tenant; a negative limit means unlimited. Usage is derived from allocations. */
struct pool_quota {
    char tenant[POOL_NAME_MAX];
    double max_tflops;
    int64_t max_vram;
    int64_t max_vgpus;
    double used_tflops;
    uint64_t used_vram;
    int64_t used_vgpus;
};

/* A tenant with a credential (created by the admin); its token is kept only as a hash. */
struct pool_tenant {
    char name[POOL_NAME_MAX];
    char token_hash[POOL_HASH_HEX];
    int64_t created_unix;
};

struct pool_def {
    char name[POOL_NAME_MAX];
    double oversub;                  /* TFLOPs oversubscription ratio, >= 1 */
    enum pool_strategy strategy;     /* default strategy */
};

const char *pool_qos_name(enum pool_qos q);
int pool_qos_parse(const char *s);                 /* -1 when unknown */
const char *pool_strategy_name(enum pool_strategy s);
int pool_strategy_parse(const char *s);            /* accepts the names, case-insensitively; -1 */
const char *pool_status_name(enum pool_alloc_status s);
int pool_status_parse(const char *s);
const char *pool_fail_reason_name(enum pool_fail_reason r);

/* Copies src into dst[cap]; returns false (dst untouched) when it does not fit. */
bool pool_copy_name(char *dst, size_t cap, const char *src);

/* Monotonic clock in seconds. */
double pool_now(void);

#endif
