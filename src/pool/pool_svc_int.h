/*
 * Internals of the pool service shared by pool_svc.c (lifecycle, nodes, quotas, pools),
 * pool_alloc.c (allocate/release), pool_views.c (JSON views), pool_health.c and pool_metrics.c.
 * Nothing outside those files includes this.
 */
#ifndef TFUSE_POOL_SVC_INT_H
#define TFUSE_POOL_SVC_INT_H

#include <pthread.h>

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
    struct pool_map alloc_keys;        /* idempotency key -> struct pool_alloc */
    struct pool_store *store;
    uint32_t id_prefix;
    uint64_t id_counter;
    struct pool_metrics_state metrics;
    pthread_t health;
    bool health_running;
    bool stopping;
    pthread_cond_t stop_cond;
};

static inline void pool_err_set(struct pool_error *e, int status, enum pool_fail_reason r)
{
    e->status = status;
    e->reason = r;
}

/* Views, called with the lock held. */
json_t *pool_view_node(const struct pool_svc *svc, const struct pool_node *n);
json_t *pool_view_alloc(const struct pool_svc *svc, const struct pool_alloc *a);
json_t *pool_view_quota(const struct pool_quota *q);

/* Books an allocation's devices and quota (start-up load and allocation share it). */
void pool_alloc_book(struct pool_svc *svc, const struct pool_alloc *a);
void pool_alloc_unbook(struct pool_svc *svc, const struct pool_alloc *a);
void pool_alloc_free(struct pool_alloc *a);
/* Releases every allocation on a node (node removal), with the lock held. */
int pool_alloc_release_node(struct pool_svc *svc, const char *node);

void pool_metrics_observe(struct pool_metrics_state *m, double seconds);

int pool_health_start(struct pool_svc *svc);
void pool_health_stop(struct pool_svc *svc);

#endif
