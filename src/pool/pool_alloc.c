/*
 * Allocation and release (see pool_svc.h for the locking story). An allocation is booked and
 * persisted as "pending" under the lock, its vGPUs are created on the node outside the lock, and
 * it is then committed ("active") or rolled back: vGPUs already created are deleted, bookings and
 * quota returned, the row removed. Idempotency keys map retries to the stored result.
 * Calls pool_place, pool_inv, pool_quota, pool_store, pool_nodeclient, pool_views, the log.
 */
#include "pool_svc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pool_nodeclient.h"
#include "pool_place.h"

void pool_alloc_free(struct pool_alloc *a)
{
    if (a) {
        free(a->request_json);
        free(a);
    }
}

static double alloc_tflops(const struct pool_alloc *a)
{
    double t = 0;
    for (int i = 0; i < a->ndev; i++)
        t += a->dev[i].tflops;
    return t;
}

static uint64_t alloc_vram(const struct pool_alloc *a)
{
    uint64_t v = 0;
    for (int i = 0; i < a->ndev; i++)
        v += a->dev[i].vram;
    return v;
}

void pool_alloc_book(struct pool_svc *svc, const struct pool_alloc *a)
{
    struct pool_node *n = pool_inv_node(&svc->inv, a->node);
    for (int i = 0; n && i < a->ndev; i++) {
        struct pool_device *d = pool_node_device(n, a->dev[i].uuid);
        if (d)
            pool_device_book(d, a->dev[i].tflops, a->dev[i].vram);
        else
            tf_warn("pool: allocation %s refers to unknown device %s", a->id, a->dev[i].uuid);
    }
    struct pool_quota *q = pool_quota_get(&svc->quotas, a->tenant, true);
    if (q)
        pool_quota_charge(q, alloc_tflops(a), alloc_vram(a), a->ndev);
}

void pool_alloc_unbook(struct pool_svc *svc, const struct pool_alloc *a)
{
    struct pool_node *n = pool_inv_node(&svc->inv, a->node);
    for (int i = 0; n && i < a->ndev; i++) {
        struct pool_device *d = pool_node_device(n, a->dev[i].uuid);
        if (d)
            pool_device_unbook(d, a->dev[i].tflops, a->dev[i].vram);
    }
    struct pool_quota *q = pool_quota_get(&svc->quotas, a->tenant, false);
    if (q)
        pool_quota_refund(q, alloc_tflops(a), alloc_vram(a), a->ndev);
}

/* Drops an allocation from memory (maps, bookings) and frees it. */
static void forget(struct pool_svc *svc, struct pool_alloc *a)
{
    pool_alloc_unbook(svc, a);
    pool_map_del(&svc->allocs, a->id);
    if (a->idempotency_key[0]) {
        char key[POOL_ALLOC_KEY_MAX];
        pool_alloc_key(a->tenant, a->idempotency_key, key);
        pool_map_del(&svc->alloc_keys, key);
    }
    pool_alloc_free(a);
}

struct node_release {
    struct pool_svc *svc;
    const char *node;
    struct pool_alloc *victims[256];
    int n;
    bool more;
};

static void collect_on_node(const char *key, void *value, void *arg)
{
    (void)key;
    struct node_release *r = arg;
    struct pool_alloc *a = value;
    if (strcmp(a->node, r->node) != 0)
        return;
    if (r->n < (int)(sizeof r->victims / sizeof *r->victims))
        r->victims[r->n++] = a;
    else
        r->more = true;
}

int pool_alloc_release_node(struct pool_svc *svc, const char *node)
{
    struct node_release r = {.svc = svc, .node = node, .more = true};
    while (r.more) { /* the map cannot change while we walk it: collect, then release */
        r.n = 0;
        r.more = false;
        pool_map_each(&svc->allocs, collect_on_node, &r);
        for (int i = 0; i < r.n; i++) {
            if (pool_store_release_alloc(svc->store, r.victims[i]->id,
                                         r.victims[i]->idempotency_key[0] != '\0'))
                return -1;
            tf_info("pool: allocation %s released with node %s", r.victims[i]->id, node);
            forget(svc, r.victims[i]);
        }
    }
    return 0;
}

void pool_fail(struct pool_error *e, int status, enum pool_fail_reason r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    pool_err_set(e, status, r);
}

/* An idempotency key the tenant already used: replay (1), conflict (-1) or unknown (0). Keys
 * are per tenant: another tenant's keys are not even looked at. */
static int check_key(struct pool_svc *svc, const struct pool_alloc_req *req, const char *canonical,
                     json_t **result, struct pool_error *e)
{
    char map_key[POOL_ALLOC_KEY_MAX];
    pool_alloc_key(req->tenant, req->idempotency_key, map_key);
    struct pool_alloc *a = pool_map_get(&svc->alloc_keys, map_key);
    if (a) {
        if (strcmp(a->request_json, canonical) != 0) {
            pool_fail(e, 409, POOL_FAIL_CONFLICT,
                     "idempotency key '%s' was used for a different request (allocation %s)",
                     req->idempotency_key, a->id);
            return -1;
        }
        if (a->status == POOL_ALLOC_PENDING || a->releasing) {
            pool_fail(e, 409, POOL_FAIL_CONFLICT,
                     "allocation %s for this idempotency key is being %s; retry", a->id,
                     a->releasing ? "released" : "created");
            return -1;
        }
        *result = pool_view_alloc(svc, a, true);
        return 1;
    }
    char id[POOL_UUID_MAX];
    enum pool_alloc_status status;
    int found = pool_store_find_key(svc->store, req->tenant, req->idempotency_key, id,
                                    sizeof id, &status);
    if (found < 0) {
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s", pool_store_error(svc->store));
        return -1;
    }
    if (found) {
        pool_fail(e, 409, POOL_FAIL_CONFLICT,
                 "idempotency key '%s' belongs to allocation %s, already released",
                 req->idempotency_key, id);
        return -1;
    }
    return 0;
}

static void fill_alloc(struct pool_svc *svc, const struct pool_alloc_req *req,
                       const struct pool_node *n, const struct pool_placement *p,
                       enum pool_strategy s, struct pool_alloc *a)
{
    snprintf(a->id, sizeof a->id, "alloc-%08x-%llu", svc->id_prefix,
             (unsigned long long)++svc->id_counter);
    memcpy(a->tenant, req->tenant, sizeof a->tenant);
    memcpy(a->pool, req->pool, sizeof a->pool);
    memcpy(a->node, n->name, sizeof a->node);
    memcpy(a->model, n->dev[p->dev[0]].model, sizeof a->model);
    memcpy(a->idempotency_key, req->idempotency_key, sizeof a->idempotency_key);
    snprintf(a->workload, sizeof a->workload, "%s/%s", req->tenant,
             req->workload[0] ? req->workload : req->model[0] ? req->model : "any");
    a->qos = req->qos;
    a->priority = req->priority;
    a->strategy = s;
    a->status = svc->cfg.nodeless ? POOL_ALLOC_ACTIVE : POOL_ALLOC_PENDING;
    a->created_unix = (int64_t)time(NULL);
    a->ndev = p->ndev;
    for (int i = 0; i < p->ndev; i++) {
        struct pool_alloc_dev *d = &a->dev[i];
        memcpy(d->uuid, n->dev[p->dev[i]].uuid, sizeof d->uuid);
        d->tflops = p->tflops[i];
        d->tflops_limit = p->tflops_limit[i];
        d->vram = req->vram_request;
        d->vram_limit = req->vram_limit;
    }
}

/* Everything under the lock: key check, placement, quota, booking, the pending row. Returns 1
 * for a replay (result set), 0 with *out booked, -1 on error. */
static int reserve(struct pool_svc *svc, const struct pool_alloc_req *req, char *canonical,
                   struct pool_alloc **out, json_t **result, struct pool_error *e)
{
    if (req->idempotency_key[0]) {
        int k = check_key(svc, req, canonical, result, e);
        if (k != 0)
            return k;
    }
    struct pool_def def = pool_inv_pool(&svc->inv, req->pool);
    enum pool_strategy s = req->strategy >= 0 ? (enum pool_strategy)req->strategy : def.strategy;
    struct pool_placement p;
    if (pool_place(&svc->inv, req, s, &p) != 0) {
        pool_fail(e, 409, POOL_FAIL_NO_CAPACITY,
                 "no healthy node in pool '%s' has %d free GPU(s)%s%s for this request",
                 req->pool, req->gpu_count, req->model[0] ? " of model " : "", req->model);
        return -1;
    }
    struct pool_alloc *a = calloc(1, sizeof *a);
    if (!a) {
        pool_fail(e, 500, POOL_FAIL_STORE, "out of memory");
        return -1;
    }
    fill_alloc(svc, req, svc->inv.nodes[p.slot], &p, s, a);
    a->request_json = canonical;
    struct pool_quota *q = pool_quota_get(&svc->quotas, req->tenant, false);
    if (pool_quota_check(q, alloc_tflops(a), alloc_vram(a), a->ndev, e->message,
                         sizeof e->message)) {
        pool_err_set(e, 403, POOL_FAIL_QUOTA);
        a->request_json = NULL;
        pool_alloc_free(a);
        return -1;
    }
    if (pool_store_begin(svc->store) || pool_store_put_alloc(svc->store, a) ||
        pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s", pool_store_error(svc->store));
        a->request_json = NULL;
        pool_alloc_free(a);
        return -1;
    }
    pool_map_put(&svc->allocs, a->id, a);
    if (a->idempotency_key[0]) {
        char key[POOL_ALLOC_KEY_MAX];
        pool_alloc_key(a->tenant, a->idempotency_key, key);
        pool_map_put(&svc->alloc_keys, key, a);
    }
    pool_alloc_book(svc, a);
    *out = a;
    return 0;
}

static void delete_vgpus(const char *address, const struct pool_alloc *a, int upto, long timeout)
{
    for (int i = 0; i < upto; i++) {
        char err[256];
        if (a->dev[i].vgpu_id[0] &&
            pool_node_delete_vgpu(address, a->dev[i].vgpu_id, timeout, err, sizeof err))
            tf_warn("pool: could not delete vGPU %s of %s: %s", a->dev[i].vgpu_id, a->id, err);
    }
}

/* Creates the vGPUs of a (a private copy) on its node; on failure deletes those created. */
static int create_vgpus(struct pool_svc *svc, const char *address, const double *rated,
                        struct pool_alloc *a, struct pool_error *e)
{
    for (int i = 0; i < a->ndev; i++) {
        char key[POOL_UUID_MAX + 16], owner[POOL_NAME_MAX + 8];
        snprintf(key, sizeof key, "%s/%d", a->id, i);
        snprintf(owner, sizeof owner, "pool:%s", a->pool);
        double req_pct = rated[i] > 0 ? a->dev[i].tflops / rated[i] * 100 : 100;
        double lim_pct = rated[i] > 0 ? a->dev[i].tflops_limit / rated[i] * 100 : 100;
        struct pool_vgpu_spec spec = {
            .device = a->dev[i].uuid,
            .vram_bytes = a->dev[i].vram_limit,
            .compute_request_pct = req_pct > 100 ? 100 : req_pct,
            .compute_limit_pct = lim_pct > 100 ? 100 : lim_pct,
            .qos = a->qos,
            .idempotency_key = key,
            .owner = owner,
        };
        char err[300];
        if (pool_node_create_vgpu(address, &spec, svc->cfg.node_timeout_ms, &a->dev[i], err,
                                  sizeof err)) {
            pool_fail(e, 502, POOL_FAIL_NODE_ERROR,
                      "node %s could not create vGPU %d of %d on %s: %s", a->node, i + 1,
                      a->ndev, a->dev[i].uuid, err);
            delete_vgpus(address, a, i, svc->cfg.node_timeout_ms);
            return -1;
        }
    }
    return 0;
}

/* Under the lock: the pending allocation becomes active (ok) or disappears (!ok). */
static int finish(struct pool_svc *svc, const struct pool_alloc *done, bool ok, json_t **result,
                  struct pool_error *e)
{
    struct pool_alloc *a = pool_map_get(&svc->allocs, done->id);
    if (!a) { /* its node was removed meanwhile */
        if (ok)
            pool_fail(e, 409, POOL_FAIL_CONFLICT, "node %s was removed during the allocation",
                     done->node);
        return -1;
    }
    if (ok) {
        for (int i = 0; i < a->ndev; i++)
            a->dev[i] = done->dev[i];
        a->status = POOL_ALLOC_ACTIVE;
        if (pool_store_begin(svc->store) == 0 && pool_store_put_alloc(svc->store, a) == 0 &&
            pool_store_commit(svc->store) == 0) {
            *result = pool_view_alloc(svc, a, true);
            return 0;
        }
        pool_store_rollback(svc->store);
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s", pool_store_error(svc->store));
    }
    if (pool_store_begin(svc->store) || pool_store_release_alloc(svc->store, a->id, false) ||
        pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        tf_error("pool: could not remove failed allocation %s: %s", a->id,
                 pool_store_error(svc->store));
    }
    forget(svc, a);
    return -1;
}

static int allocate_locked_part(struct pool_svc *svc, const struct pool_alloc_req *req,
                                char *canonical, struct pool_alloc *copy, char *address,
                                double *rated, json_t **result, struct pool_error *e)
{
    struct pool_alloc *a = NULL;
    int rc = reserve(svc, req, canonical, &a, result, e);
    if (rc != 0)
        return rc;
    *copy = *a;
    copy->request_json = NULL;
    if (svc->cfg.nodeless) {
        *result = pool_view_alloc(svc, a, true);
        return 2;
    }
    struct pool_node *n = pool_inv_node(&svc->inv, a->node);
    snprintf(address, POOL_ADDR_MAX, "%s", n->address);
    for (int i = 0; i < a->ndev; i++)
        rated[i] = pool_node_device(n, a->dev[i].uuid)->tflops;
    return 0;
}

int pool_svc_allocate(struct pool_svc *svc, const struct pool_alloc_req *req, json_t **result,
                      struct pool_error *e)
{
    double t0 = pool_now();
    *result = NULL;
    char *canonical = pool_req_canonical(req);
    if (!canonical) {
        pool_fail(e, 500, POOL_FAIL_STORE, "out of memory");
        return -1;
    }
    struct pool_alloc copy;
    char address[POOL_ADDR_MAX];
    double rated[POOL_MAX_GANG];
    pthread_mutex_lock(&svc->lock);
    int rc = allocate_locked_part(svc, req, canonical, &copy, address, rated, result, e);
    if (rc != 0) { /* failed, replayed, or done without a node (nodeless) */
        if (rc < 0)
            svc->metrics.failures[e->reason]++;
        if (rc == 2) {
            svc->metrics.placements[copy.strategy]++;
            pool_metrics_observe(&svc->metrics, pool_now() - t0);
        }
        pthread_mutex_unlock(&svc->lock);
        if (rc != 2)
            free(canonical);
        return rc < 0 ? -1 : rc == 1 ? 200 : 201;
    }
    pthread_mutex_unlock(&svc->lock);

    bool ok = create_vgpus(svc, address, rated, &copy, e) == 0;
    pthread_mutex_lock(&svc->lock);
    rc = finish(svc, &copy, ok, result, e);
    if (rc == 0) {
        svc->metrics.placements[copy.strategy]++;
        pool_metrics_observe(&svc->metrics, pool_now() - t0);
    } else {
        svc->metrics.failures[e->reason]++;
    }
    pthread_mutex_unlock(&svc->lock);
    if (rc != 0 && ok) /* created but could not be kept */
        delete_vgpus(address, &copy, copy.ndev, svc->cfg.node_timeout_ms);
    return rc == 0 ? 201 : -1;
}

/* Under the lock: finds a releasable allocation and marks it releasing. Another tenant's
 * allocation is as absent as one that never existed. */
static struct pool_alloc *begin_release(struct pool_svc *svc, const char *id, const char *owner,
                                        struct pool_error *e)
{
    struct pool_alloc *a = pool_map_get(&svc->allocs, id);
    if (a && owner && strcmp(a->tenant, owner) != 0)
        a = NULL;
    if (!a)
        pool_fail(e, 404, POOL_FAIL_INVALID, "no allocation %s", id);
    else if (a->status == POOL_ALLOC_PENDING || a->releasing || a->resizing)
        pool_fail(e, 409, POOL_FAIL_CONFLICT, "allocation %s is being %s; retry", id,
                 a->releasing ? "released" : a->resizing ? "resized" : "created");
    else
        a->releasing = true;
    return e->status ? NULL : a;
}

int pool_svc_release(struct pool_svc *svc, const char *id, const char *owner,
                     struct pool_error *e)
{
    e->status = 0;
    pthread_mutex_lock(&svc->lock);
    struct pool_alloc *a = begin_release(svc, id, owner, e);
    if (!a) {
        pthread_mutex_unlock(&svc->lock);
        return -1;
    }
    struct pool_alloc copy = *a;
    copy.request_json = NULL;
    struct pool_node *n = pool_inv_node(&svc->inv, a->node);
    char address[POOL_ADDR_MAX] = "";
    if (n && n->credential_hash[0] && !svc->cfg.nodeless) /* never an unauthenticated node */
        snprintf(address, sizeof address, "%s", n->address);
    pthread_mutex_unlock(&svc->lock);

    /* The node frees the vGPUs before the pool frees their capacity, so a new allocation can
     * never land on memory the node still holds. A node that cannot be reached keeps a stale
     * vGPU whose token is no longer handed out, until it reconciles against
     * GET /api/v1/nodes/{name}/vgpus; the pool's books are released regardless. */
    if (address[0])
        delete_vgpus(address, &copy, copy.ndev, svc->cfg.node_timeout_ms);

    pthread_mutex_lock(&svc->lock);
    a = pool_map_get(&svc->allocs, id); /* gone if its node was removed meanwhile */
    int rc = 0;
    if (a && (pool_store_begin(svc->store) ||
              pool_store_release_alloc(svc->store, id, a->idempotency_key[0] != '\0') ||
              pool_store_commit(svc->store))) {
        pool_store_rollback(svc->store);
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s", pool_store_error(svc->store));
        a->releasing = false;
        rc = -1;
    } else if (a) {
        forget(svc, a);
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}
