/*
 * The pool service: the inventory, quotas, allocations and store behind one writer lock, and the
 * operations the HTTP layer (and the benchmark) call. Every operation either succeeds and is
 * durable, or fails with a struct pool_error (HTTP status, failure reason, message) and changes
 * nothing. Calls pool_inv, pool_place, pool_quota, pool_store, pool_nodeclient, jansson, pthreads.
 *
 * Locking: check + place + quota + book + persist happen under svc->lock, so no device or quota
 * is double-booked; the slow part (asking the node to create the vGPUs) runs outside it, with the
 * allocation booked as "pending", and is committed or rolled back under the lock afterwards.
 */
#ifndef TFUSE_POOL_SVC_H
#define TFUSE_POOL_SVC_H

#include <jansson.h>

#include "pool_model.h"
#include "pool_req.h"
#include "pool_store.h"
#include "pool_usage.h"

struct pool_config {
    const char *db_path;
    double heartbeat_timeout_s;        /* a node silent this long is unhealthy (default 15) */
    double oversub;                    /* default TFLOPs oversubscription of pools (>= 1) */
    enum pool_strategy strategy;       /* default strategy of pools */
    long node_timeout_ms;              /* per node API call (default 10000) */
    enum pool_store_sync sync;
    bool nodeless;                     /* simulation: book and persist, never call nodes */
    bool health_thread;                /* check heartbeats in the background */
    const char *admin_token;           /* the admin's credential; NULL: no admin */
    const char *join_token;            /* what a new node presents to register; NULL: none */
    /* Usage history and autoscaling (docs/autoscale.md). 0 picks the default of each. */
    double usage_period_s;             /* one sample per vGPU this often (default 60) */
    double autoscale_period_s;         /* auto mode's pass (default 60; < 0: only on demand) */
    double cooldown_s;                 /* least time from a change of one allocation to a
                                        * cut (default 900) */
    double grow_cooldown_s;            /* ... to a raise (default 60) */
    double auto_window_s;              /* auto memory follows the peak of this window (default
                                        * 1800; < 0: the long-horizon recommendation alone) */
    double auto_lookahead_s;           /* ... and of the coming stretch of past days (default
                                        * 900; < 0: none) */
    const struct pool_reco_params *reco;   /* NULL: pool_reco_params_default */
    /* The clock of the history and autoscaler, ms since the epoch: NULL, the wall clock.
     * test_clock: the wall clock plus an offset pool_svc_clock_advance moves (tests). */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    bool test_clock;
};

/* Who is calling (docs/pool-api.md, "Authentication"): the admin, a tenant, the holder of the
 * join token, or a registered node proven by its own credential. */
enum pool_role { POOL_CALLER_NONE, POOL_CALLER_ADMIN, POOL_CALLER_TENANT, POOL_CALLER_JOIN,
                 POOL_CALLER_NODE };

struct pool_caller {
    enum pool_role role;
    char name[POOL_NAME_MAX];          /* the tenant's or the node's */
};

struct pool_error {
    int status;                        /* HTTP status */
    enum pool_fail_reason reason;
    char message[512];
};

struct pool_svc;

struct pool_svc *pool_svc_open(const struct pool_config *cfg, char *err, size_t errlen);
void pool_svc_close(struct pool_svc *svc);

/* The caller a bearer token names (admin, join or a tenant; NONE when it names nobody), found
 * by comparing its SHA-256 with every credential in constant time. */
struct pool_caller pool_svc_authenticate(struct pool_svc *svc, const char *bearer);
/* Whether bearer is the credential of the registered node `node`. */
bool pool_svc_node_authenticated(struct pool_svc *svc, const char *node, const char *bearer);

/* Registers n (its credential_hash is the service's to set). who: the join token's holder or
 * the admin (a new node, or one replacing a registration whose node stopped heartbeating), or
 * the node itself (NODE, proven by its credential); NULL: an in-process caller (tests,
 * benches), trusted like the admin. A name or GPU uuid of another live node is refused (409).
 * When a credential is issued (a new or replaced registration) it is written to cred (at least
 * TF_CRED_MAX bytes), else cred is "". Returns 201 for a new node, 200 for a
 * re-registration, -1 on error. */
int pool_svc_register_node(struct pool_svc *svc, struct pool_node *n,
                           const struct pool_caller *who, char *cred, struct pool_error *e);
int pool_svc_heartbeat(struct pool_svc *svc, const char *node, const struct pool_heartbeat *hb,
                       struct pool_error *e);
/* Removes a node; its allocations are released. */
int pool_svc_remove_node(struct pool_svc *svc, const char *node, struct pool_error *e);

/* Returns 201 (new allocation) or 200 (idempotent replay) with *result set; -1 on error. */
int pool_svc_allocate(struct pool_svc *svc, const struct pool_alloc_req *req, json_t **result,
                      struct pool_error *e);
/* PATCH /api/v1/allocations/{id} (pool_resize.c): new memory, compute and QoS for every vGPU
 * of an active allocation, re-checked against its GPUs' free capacity and the tenant's quota,
 * applied live by the node. owner as for release. 200 with *result (the allocation), or -1:
 * 400, 403 quota, 404, 409 no_capacity (does not fit, or the node refused: less memory than
 * in use) or conflict (being created, released or resized), 502 node_error, 500 store; the
 * record and the vGPUs are then as they were. */
int pool_svc_resize(struct pool_svc *svc, const char *id, const char *owner,
                    const struct pool_resize_req *rq, json_t **result, struct pool_error *e);
/* owner: the tenant releasing its own allocation (another's is "no such allocation", 404);
 * NULL: the admin. */
int pool_svc_release(struct pool_svc *svc, const char *id, const char *owner,
                     struct pool_error *e);

int pool_svc_set_quota(struct pool_svc *svc, const struct pool_quota *limits, struct pool_error *e);
int pool_svc_set_pool(struct pool_svc *svc, const struct pool_def *def, struct pool_error *e);
struct pool_def pool_svc_pool(struct pool_svc *svc, const char *name);

/* Read views (new references; NULL for an unknown id/tenant/pool). */
json_t *pool_svc_nodes_json(struct pool_svc *svc);
json_t *pool_svc_node_json(struct pool_svc *svc, const char *name);
/* tenant NULL: every tenant's. tokens: with the vGPU tokens (for the owner only). */
json_t *pool_svc_allocations_json(struct pool_svc *svc, const char *tenant, bool tokens);
/* The vGPUs the pool expects on a node, for the node's reconciliation (node-api.md). */
json_t *pool_svc_node_vgpus_json(struct pool_svc *svc, const char *node);
/* owner: a tenant asking for its own allocation (with its tokens; another's is NULL);
 * NULL: the admin's view, without tokens. */
json_t *pool_svc_allocation_json(struct pool_svc *svc, const char *id, const char *owner);
json_t *pool_svc_quotas_json(struct pool_svc *svc);
json_t *pool_svc_quota_json(struct pool_svc *svc, const char *tenant);
json_t *pool_svc_pool_json(struct pool_svc *svc, const char *name);

/* Tenants with credentials (pool_auth.c). Creating one (with optional limits, NULL: none)
 * or rotating its credential writes the new token to token (TF_CRED_MAX bytes): the only
 * time it is ever shown. Deleting revokes the credential; refused (409) while the tenant has
 * allocations. */
int pool_svc_create_tenant(struct pool_svc *svc, const char *name, const struct pool_quota *q,
                           char *token, struct pool_error *e);
int pool_svc_rotate_tenant(struct pool_svc *svc, const char *name, char *token,
                           struct pool_error *e);
int pool_svc_delete_tenant(struct pool_svc *svc, const char *name, struct pool_error *e);
json_t *pool_svc_tenants_json(struct pool_svc *svc);
json_t *pool_svc_tenant_json(struct pool_svc *svc, const char *name);

/* Marks nodes silent for longer than the heartbeat timeout unhealthy (the background thread
 * calls this; tests may too). Returns how many nodes changed state. */
int pool_svc_check_health(struct pool_svc *svc, double now);

/* Dry-run placement (POST /api/v1/placements, pool_dryrun.c): for each of nodes[0..nnodes)
 * (NULL: every node of the request's pool) whether req would be placed there, the strategy's
 * score in 0..1 and the devices, or the reason not ("unknown", "other_pool", "unhealthy",
 * "labels", "model", "no_capacity", "quota"); "best" is the node an allocation would take.
 * Books nothing. The body is an allocation request plus "nodes" (at most
 * POOL_DRY_RUN_NODES_MAX names); *nodes is malloc'd (NULL when absent). */
#define POOL_DRY_RUN_NODES_MAX 1000
int pool_req_decode_dry_run(const char *body, size_t len, struct pool_alloc_req *req,
                            char (**nodes)[POOL_NAME_MAX], int *nnodes, char *err, size_t errlen);
json_t *pool_svc_dry_run(struct pool_svc *svc, const struct pool_alloc_req *req,
                         char (*nodes)[POOL_NAME_MAX], int nnodes);

/* ---- usage history, recommendations, modes and auto mode (pool_usage.c, pool_autoscale.c) */

int64_t pool_svc_now_ms(struct pool_svc *svc);
/* Moves a test clock (cfg.test_clock) forward; -1 when the pool has none. */
int pool_svc_clock_advance(struct pool_svc *svc, int64_t ms);

/* The counters a node reported for vGPU dev of allocation alloc_id (the heartbeat calls this
 * for every "usage" entry; tests and benches may too): a sample of the allocation's workload
 * is written every usage_period_s. 0, or -1 when there is no such active allocation. */
int pool_svc_usage_observe(struct pool_svc *svc, const char *alloc_id, int dev,
                           const struct pool_vgpu_usage *u);
/* Writes one sample of `workload` as it is (benches and tests replaying a history). */
int pool_svc_usage_record(struct pool_svc *svc, const char *workload,
                          const struct pool_usage_sample *s, struct pool_error *e);
/* Where the recommender reads history from: src (taken over: closed with the pool), or NULL
 * for the pool's own store (the default). `--history prometheus:URL` opens src with
 * pool_promsrc_open(url, pool_svc_vgpus_of, svc, ...). */
void pool_svc_set_history(struct pool_svc *svc, const struct pool_usage_source *src);
/* pool_usage_vgpus_fn over the store: the vGPUs that served `workload` in [from_ms, to_ms). */
int pool_svc_vgpus_of(void *svc, const char *workload, int64_t from_ms, int64_t to_ms,
                      char (*ids)[80], size_t max);
/* The pool's own store as a history source (what NULL above means). */
struct pool_usage_source pool_svc_store_source(struct pool_svc *svc);

/* PUT /api/v1/workloads/{tenant}/{name}/mode (struct pool_mode_req, pool_req.h). owner: the
 * tenant (its own workloads only), NULL: the admin. who: recorded in the event. */
int pool_svc_set_mode(struct pool_svc *svc, const char *workload, const char *owner,
                      const struct pool_mode_req *m, const char *who, struct pool_error *e);
/* Views. owner: a tenant sees only its own workloads; NULL: the admin. */
json_t *pool_svc_workload_json(struct pool_svc *svc, const char *workload, const char *owner);
json_t *pool_svc_recommendations_json(struct pool_svc *svc, const char *owner);
json_t *pool_svc_events_json(struct pool_svc *svc, const char *owner, const char *workload,
                             int limit);
/* One pass of auto mode now (the background thread runs one every autoscale_period_s):
 * {"changes": [events]}. */
json_t *pool_svc_autoscale(struct pool_svc *svc);
/* GET /api/v1/workloads/{tenant}/{name}/chart (pool_chart.c): the columns of the workload's
 * history in [from_ms, to_ms), at most `columns`, with the recommendation replayed as of each
 * (pool_plot.h); owner: a tenant sees only its own workloads, NULL: the admin. NULL with e set
 * (400 bad arguments, 404 another tenant's, 502 the history source failed). */
#define POOL_CHART_COLUMNS_MAX 4000
json_t *pool_svc_chart_json(struct pool_svc *svc, const char *workload, const char *owner,
                            int64_t from_ms, int64_t to_ms, int columns, struct pool_error *e);

/* Prometheus text exposition (malloc'd). */
char *pool_svc_metrics(struct pool_svc *svc);
/* Records a request rejected before it reached the service (bad JSON) in the failure metric. */
void pool_svc_count_failure(struct pool_svc *svc, enum pool_fail_reason reason);

#endif
