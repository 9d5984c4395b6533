/*
 * Internals of the pool service shared by pool_svc.c (lifecycle, nodes, quotas, pools),
 * pool_alloc.c (allocate/release), pool_views.c (JSON views), pool_health.c and pool_metrics.c.
 * Nothing outside those files includes this.
 */
#ifndef TFUSE_POOL_SVC_INT_H
#define TFUSE_POOL_SVC_INT_H

#include <pthread.h>
#include <stdio.h>

#include "pool_inv.h"
#include "pool_map.h"
#include "pool_quota.h"
#include "pool_store.h"
#include "pool_svc.h"

#define POOL_LAT_BUCKETS 14

struct pool_metrics_state {
    uint64_t placements[POOL_STRATEGY_COUNT];
    uint64_t failures[POOL_FAIL_COUNT];
    uint64_t lat_bucket[POOL_LAT_BUCKETS]; /* not cumulative; the renderer accumulates */
    uint64_t lat_count;
    double lat_sum;
};

extern const double pool_latency_bounds[POOL_LAT_BUCKETS]; /* seconds, upper bounds */

struct pool_svc {
    struct pool_config cfg;
    char *db_path;
    pthread_mutex_t lock;              /* the writer lock: everything below */
    struct pool_inv inv;
    struct pool_quotas quotas;
    struct pool_map allocs;            /* id -> struct pool_alloc (owned) */
    struct pool_map alloc_keys;        /* "tenant/key" (pool_alloc_key) -> struct pool_alloc */
    struct pool_map tenants;           /* name -> struct pool_tenant (owned) */
    char admin_hash[POOL_HASH_HEX];    /* "": no admin credential */
    char join_hash[POOL_HASH_HEX];     /* "": no node can join */
    struct pool_store *store;
    uint32_t id_prefix;
    uint64_t id_counter;
    struct pool_metrics_state metrics;
    pthread_t health;
    bool health_running;
    bool stopping;
    pthread_cond_t stop_cond;
    struct pool_auto *autos;           /* usage history and autoscaling (pool_auto_int.h) */
};

static inline void pool_err_set(struct pool_error *e, int status, enum pool_fail_reason r)
{
    e->status = status;
    e->reason = r;
}

/* Sets e: status, reason and a formatted message. */
void pool_fail(struct pool_error *e, int status, enum pool_fail_reason r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Idempotency keys are per tenant: the key of the alloc_keys map. */
#define POOL_ALLOC_KEY_MAX (POOL_NAME_MAX + POOL_KEY_MAX)
static inline void pool_alloc_key(const char *tenant, const char *key, char *out)
{
    snprintf(out, POOL_ALLOC_KEY_MAX, "%s/%s", tenant, key);   /* no '/' in tenant names */
}

/* SHA-256 of a credential, in hex: what the pool keeps of the secrets it only verifies. */
void pool_auth_hash(const char *token, char hex[POOL_HASH_HEX]);
/* Whether token hashes to hex (constant time; "" never matches). */
bool pool_auth_matches(const char *token_hash_of_caller, const char *hex);

/* Views, called with the lock held. tokens: with the vGPU tokens (their owner's view). */
json_t *pool_view_node(const struct pool_svc *svc, const struct pool_node *n);
json_t *pool_view_alloc(const struct pool_svc *svc, const struct pool_alloc *a, bool tokens);
json_t *pool_view_quota(const struct pool_quota *q);

/* Books an allocation's devices and quota (start-up load and allocation share it). */
void pool_alloc_book(struct pool_svc *svc, const struct pool_alloc *a);
void pool_alloc_unbook(struct pool_svc *svc, const struct pool_alloc *a);
void pool_alloc_free(struct pool_alloc *a);
/* Releases every allocation on a node (node removal), with the lock held. */
int pool_alloc_release_node(struct pool_svc *svc, const char *node);

void pool_metrics_observe(struct pool_metrics_state *m, double seconds);

/* Tenants at start-up and close (pool_auth.c). */
int pool_tenant_load(void *svc, const struct pool_tenant *t);
void pool_tenants_free(struct pool_svc *svc);

int pool_health_start(struct pool_svc *svc);
void pool_health_stop(struct pool_svc *svc);

#endif
