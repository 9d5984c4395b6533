/*
 * Live resize of an allocation (PATCH /api/v1/allocations/{id}, pool_svc.h pool_svc_resize):
 * new memory and compute (per GPU, as an allocation asks) and QoS for every vGPU of an active
 * allocation, applied by the node through its own PATCH while the programs keep running.
 *
 * Under the lock the allocation's old booking is taken out, the new one is checked against
 * each device's free capacity (placement's own test: VRAM, TFLOPs under the pool's ratio, the
 * card's rating) and the tenant's quota; what does not fit is refused with what was asked
 * (409 no_capacity, 403 quota) and the old booking goes back. What fits is booked as the
 * larger of old and new per GPU while the nodes are asked, so that an allocation placed
 * meanwhile cannot take capacity an undo would need. A node that refuses (less memory than in
 * use: 409 from the node, said so) or fails has the vGPUs already changed put back, and the
 * record keeps its old values; otherwise the record takes the new ones and is stored.
 *
 * Owns: the pool's resize. May call: pool_svc_int.h (inventory, quotas, store, views),
 * pool_place (fits), pool_nodeclient, the log.
 */
#include "pool_svc_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pool_nodeclient.h"
#include "pool_place.h"

static double of_card(double pct, double rated)
{
    return pct > 0 ? rated * pct / 100.0 : 0;
}

/* The new values of one vGPU: a request given alone sets its limit too (as at allocation). */
static int apply(const struct pool_resize_req *rq, double rated, struct pool_alloc_dev *d,
                 struct pool_error *e)
{
    if ((rq->compute_request_pct > 0 || rq->compute_limit_pct > 0) && !(rated > 0)) {
        pool_fail(e, 400, POOL_FAIL_INVALID, "GPU %s has no TFLOPs rating: give compute in "
                  "TFLOPs", d->uuid);
        return -1;
    }
    if (rq->vram_request) {
        d->vram = rq->vram_request;
        d->vram_limit = rq->vram_limit ? rq->vram_limit : rq->vram_request;
    } else if (rq->vram_limit) {
        d->vram_limit = rq->vram_limit;
    }
    double treq = rq->tflops_request > 0 ? rq->tflops_request
                                         : of_card(rq->compute_request_pct, rated);
    double tlim = rq->tflops_limit > 0 ? rq->tflops_limit : of_card(rq->compute_limit_pct, rated);
    if (treq > 0) {
        d->tflops = treq;
        d->tflops_limit = tlim > 0 ? tlim : treq;
    } else if (tlim > 0) {
        d->tflops_limit = tlim;
    }
    if (d->vram_limit < d->vram)
        pool_fail(e, 400, POOL_FAIL_INVALID, "the memory limit (%llu) would be below the "
                  "request (%llu)", (unsigned long long)d->vram_limit,
                  (unsigned long long)d->vram);
    else if (d->tflops_limit + 1e-9 < d->tflops)
        pool_fail(e, 400, POOL_FAIL_INVALID, "the compute limit (%.2f TFLOPs) would be below "
                  "the request (%.2f TFLOPs)", d->tflops_limit, d->tflops);
    return e->status ? -1 : 0;
}

/* Whether `to` fits the node's devices and the tenant's quota once `from` is taken out.
 * Leaves the books as they were. */
static int fits(struct pool_svc *svc, struct pool_node *n, const struct pool_alloc *from,
                const struct pool_alloc *to, struct pool_error *e)
{
    double oversub = pool_inv_pool(&svc->inv, from->pool).oversub, tflops = 0;
    uint64_t vram = 0;
    pool_alloc_unbook(svc, from);
    for (int i = 0; i < to->ndev && !e->status; i++) {
        const struct pool_device *d = pool_node_device(n, to->dev[i].uuid);
        tflops += to->dev[i].tflops;
        vram += to->dev[i].vram;
        if (d && !pool_device_fits(d, oversub, to->dev[i].tflops, to->dev[i].vram))
            pool_fail(e, 409, POOL_FAIL_NO_CAPACITY, "allocation %s no longer fits GPU %s of "
                      "node %s: %.2f TFLOPs and %llu bytes asked; %.2f of %.2f TFLOPs and "
                      "%llu of %llu bytes are booked by others", from->id, d->uuid, n->name,
                      to->dev[i].tflops, (unsigned long long)to->dev[i].vram,
                      d->tflops_booked, pool_device_capacity(d, oversub),
                      (unsigned long long)d->vram_booked, (unsigned long long)d->memory_bytes);
    }
    struct pool_quota *q = pool_quota_get(&svc->quotas, from->tenant, false);
    if (!e->status && pool_quota_check(q, tflops, vram, from->ndev, e->message,
                                       sizeof e->message))
        pool_err_set(e, 403, POOL_FAIL_QUOTA);
    pool_alloc_book(svc, from);
    return e->status ? -1 : 0;
}

static struct pool_alloc_dev larger(struct pool_alloc_dev a, const struct pool_alloc_dev *b)
{
    if (b->tflops > a.tflops)
        a.tflops = b->tflops;
    if (b->vram > a.vram)
        a.vram = b->vram;
    return a;
}

/* Under the lock: checks, books max(old, new) and marks the allocation resizing. */
static int begin(struct pool_svc *svc, const char *id, const char *owner,
                 const struct pool_resize_req *rq, struct pool_alloc *from,
                 struct pool_alloc *to, char *address, double *rated, struct pool_error *e)
{
    struct pool_alloc *a = pool_map_get(&svc->allocs, id);
    if (a && owner && strcmp(a->tenant, owner) != 0)
        a = NULL;   /* another tenant's: as absent as one that never existed */
    struct pool_node *n = a ? pool_inv_node(&svc->inv, a->node) : NULL;
    if (!a) {
        pool_fail(e, 404, POOL_FAIL_INVALID, "no allocation %s", id);
        return -1;
    }
    if (a->status != POOL_ALLOC_ACTIVE || a->releasing || a->resizing) {
        pool_fail(e, 409, POOL_FAIL_CONFLICT, "allocation %s is being %s; retry", id,
                  a->releasing ? "released" : a->resizing ? "resized" : "created");
        return -1;
    }
    if (!n || (!svc->cfg.nodeless && (!n->healthy || !n->credential_hash[0]))) {
        pool_fail(e, 409, POOL_FAIL_NODE_ERROR, "node %s of allocation %s is not healthy: its "
                  "vGPUs cannot be resized now", a->node, id);
        return -1;
    }
    *from = *a;
    from->request_json = NULL;
    *to = *from;
    if (rq->qos >= 0)
        to->qos = (enum pool_qos)rq->qos;
    for (int i = 0; i < a->ndev; i++) {
        const struct pool_device *d = pool_node_device(n, a->dev[i].uuid);
        rated[i] = d ? d->tflops : 0;
        if (apply(rq, rated[i], &to->dev[i], e) != 0)
            return -1;
    }
    if (fits(svc, n, from, to, e) != 0)
        return -1;
    pool_alloc_unbook(svc, a);
    for (int i = 0; i < a->ndev; i++)   /* what a removal of the node unbooks meanwhile */
        a->dev[i] = larger(from->dev[i], &to->dev[i]);
    pool_alloc_book(svc, a);
    a->resizing = true;
    snprintf(address, POOL_ADDR_MAX, "%s", n->address);
    return 0;
}

static void node_spec(const struct pool_alloc *a, int i, double rated, struct pool_vgpu_spec *s)
{
    double req = rated > 0 ? a->dev[i].tflops / rated * 100 : 100;
    double lim = rated > 0 ? a->dev[i].tflops_limit / rated * 100 : 100;
    *s = (struct pool_vgpu_spec){.device = a->dev[i].uuid, .vram_bytes = a->dev[i].vram_limit,
                                 .compute_request_pct = req > 100 ? 100 : req,
                                 .compute_limit_pct = lim > 100 ? 100 : lim, .qos = a->qos};
}

/* Sets the vGPUs 0..upto-1 of `a` on the node to a's values. Returns the first that failed,
 * or upto, with e set from the node's answer. */
static int apply_on_node(struct pool_svc *svc, const char *address, const struct pool_alloc *a,
                         const double *rated, int upto, struct pool_error *e)
{
    for (int i = 0; i < upto; i++) {
        struct pool_vgpu_spec spec;
        char err[400];
        int status = 0;
        node_spec(a, i, rated[i], &spec);
        if (pool_node_resize_vgpu(address, a->dev[i].vgpu_id, &spec, svc->cfg.node_timeout_ms,
                                  &status, err, sizeof err) == 0)
            continue;
        if (status == 409)
            pool_fail(e, 409, POOL_FAIL_NO_CAPACITY, "node %s refused to resize vGPU %s: %s",
                      a->node, a->dev[i].vgpu_id, err);
        else
            pool_fail(e, 502, POOL_FAIL_NODE_ERROR, "node %s could not resize vGPU %s: %s",
                      a->node, a->dev[i].vgpu_id, err);
        return i;
    }
    return upto;
}

/* Under the lock: the allocation takes `final` (booked, stored) and is resizing no more.
 * -1 when its node was removed meanwhile or the store failed (e set). */
static int finish(struct pool_svc *svc, const struct pool_alloc *final, struct pool_error *e)
{
    struct pool_alloc *a = pool_map_get(&svc->allocs, final->id);
    if (!a) {
        pool_fail(e, 409, POOL_FAIL_CONFLICT, "node %s was removed during the resize",
                  final->node);
        return -1;
    }
    pool_alloc_unbook(svc, a);
    for (int i = 0; i < a->ndev; i++)
        a->dev[i] = final->dev[i];
    a->qos = final->qos;
    pool_alloc_book(svc, a);
    a->resizing = false;
    if (pool_store_begin(svc->store) || pool_store_put_alloc(svc->store, a) ||
        pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s", pool_store_error(svc->store));
        return -1;
    }
    return 0;
}

int pool_svc_resize(struct pool_svc *svc, const char *id, const char *owner,
                    const struct pool_resize_req *rq, json_t **result, struct pool_error *e)
{
    struct pool_alloc from, to;
    char address[POOL_ADDR_MAX] = "";
    double rated[POOL_MAX_GANG];
    e->status = 0;
    *result = NULL;
    pthread_mutex_lock(&svc->lock);
    int rc = begin(svc, id, owner, rq, &from, &to, address, rated, e);
    if (rc != 0)
        svc->metrics.failures[e->reason]++;
    pthread_mutex_unlock(&svc->lock);
    if (rc != 0)
        return -1;
    int done = svc->cfg.nodeless ? to.ndev : apply_on_node(svc, address, &to, rated, to.ndev, e);
    struct pool_error undo = {0};
    if (done < to.ndev && apply_on_node(svc, address, &from, rated, done, &undo) < done)
        tf_error("pool: allocation %s: vGPUs left resized after a failed resize: %s", id,
                 undo.message);
    pthread_mutex_lock(&svc->lock);
    bool ok = done == to.ndev;
    rc = finish(svc, ok ? &to : &from, ok ? e : &undo);
    if (ok && rc != 0 && !svc->cfg.nodeless)   /* not stored: the nodes go back as well */
        finish(svc, &from, &undo);
    if (ok && rc == 0) {
        struct pool_alloc *a = pool_map_get(&svc->allocs, id);
        *result = pool_view_alloc(svc, a, owner != NULL);
        tf_info("pool: allocation %s resized", id);
    } else {
        svc->metrics.failures[e->reason]++;
    }
    pthread_mutex_unlock(&svc->lock);
    if (ok && rc != 0 && !svc->cfg.nodeless)
        apply_on_node(svc, address, &from, rated, to.ndev, &undo);
    return ok && rc == 0 ? 200 : -1;
}
