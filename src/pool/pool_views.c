/*
 * JSON views of the service's state for the HTTP API and the CLI: nodes with their devices and
 * bookings, allocations (an active allocation on an unhealthy node reads "lost"), quotas and
 * pools. Calls pool_inv, pool_quota, pool_map, jansson and pthreads.
 */
#include "pool_svc_int.h"

#include <string.h>

static json_t *labels_json(const struct pool_label *l, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++)
        json_object_set_new(o, l[i].key, json_string(l[i].value));
    return o;
}

static json_t *device_json(const struct pool_device *d, const pool_peer_list peer_list,
                          double oversub)
{
    json_t *peers = json_array();
    for (int i = 0; i < d->npeers; i++)
        json_array_append_new(peers, json_string(peer_list[i]));
    return json_pack("{s:s, s:s, s:I, s:f, s:f, s:i, s:o, s:f, s:I, s:i, s:I, s:f}", "uuid",
                     d->uuid, "model", d->model, "memory_bytes", (json_int_t)d->memory_bytes,
                     "tflops_fp16", d->tflops, "capacity_tflops", d->tflops * oversub, "numa",
                     d->numa, "nvlink_peers", peers, "allocated_tflops", d->tflops_booked,
                     "allocated_vram", (json_int_t)d->vram_booked, "vgpus", d->vgpus,
                     "used_bytes", (json_int_t)d->used_bytes, "util_pct", d->util_pct);
}

json_t *pool_view_node(const struct pool_svc *svc, const struct pool_node *n)
{
    double oversub = pool_inv_pool(&svc->inv, n->pool).oversub;
    json_t *devs = json_array();
    for (int i = 0; i < n->ndev; i++)
        json_array_append_new(devs, device_json(&n->dev[i], n->peers[i], oversub));
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:f, s:o}", "name", n->name, "address",
                     n->address, "pool", n->pool, "labels", labels_json(n->labels, n->nlabels),
                     "healthy", n->healthy, "heartbeat_age_s", pool_now() - n->last_heartbeat,
                     "devices", devs);
}

static const char *reported_status(const struct pool_svc *svc, const struct pool_alloc *a)
{
    const struct pool_node *n = pool_inv_node(&svc->inv, a->node);
    if (a->status == POOL_ALLOC_ACTIVE && (!n || !n->healthy || a->missing_beats >= 2))
        return "lost";
    return pool_status_name(a->status);
}

json_t *pool_view_alloc(const struct pool_svc *svc, const struct pool_alloc *a, bool tokens)
{
    json_t *devs = json_array();
    for (int i = 0; i < a->ndev; i++) {
        const struct pool_alloc_dev *d = &a->dev[i];
        json_t *dv = json_pack("{s:s, s:f, s:f, s:I, s:I, s:s, s:s}", "uuid", d->uuid,
                               "tflops_request", d->tflops, "tflops_limit", d->tflops_limit,
                               "vram_request", (json_int_t)d->vram, "vram_limit",
                               (json_int_t)d->vram_limit, "vgpu_id", d->vgpu_id, "connect",
                               d->connect);
        /* A vGPU its node no longer has: its token would connect to nothing. */
        if (dv && tokens && a->missing_beats < 2)
            json_object_set_new(dv, "token", json_string(d->token));
        json_array_append_new(devs, dv);
    }
    const struct pool_node *n = pool_inv_node(&svc->inv, a->node);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:o}", "id",
                          a->id, "tenant", a->tenant, "pool", a->pool, "node", a->node,
                          "node_address", n ? n->address : "", "model", a->model, "qos",
                          pool_qos_name(a->qos), "priority", a->priority, "strategy",
                          pool_strategy_name(a->strategy), "status", reported_status(svc, a),
                          "created_unix", (json_int_t)a->created_unix, "devices", devs);
    if (o && a->idempotency_key[0])
        json_object_set_new(o, "idempotency_key", json_string(a->idempotency_key));
    if (o && a->workload[0])
        json_object_set_new(o, "workload", json_string(a->workload));
    return o;
}

static json_t *limit_num(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static json_t *limit_int(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

json_t *pool_view_quota(const struct pool_quota *q)
{
    return json_pack("{s:s, s:o, s:o, s:o, s:{s:f, s:I, s:I}}", "tenant", q->tenant, "max_tflops",
                     limit_num(q->max_tflops), "max_vram", limit_int(q->max_vram), "max_vgpus",
                     limit_int(q->max_vgpus), "used", "tflops", q->used_tflops, "vram",
                     (json_int_t)q->used_vram, "vgpus", (json_int_t)q->used_vgpus);
}

json_t *pool_svc_nodes_json(struct pool_svc *svc)
{
    json_t *a = json_array();
    pthread_mutex_lock(&svc->lock);
    for (int i = 0; i < svc->inv.nslots; i++)
        if (svc->inv.nodes[i])
            json_array_append_new(a, pool_view_node(svc, svc->inv.nodes[i]));
    pthread_mutex_unlock(&svc->lock);
    return json_pack("{s:o}", "nodes", a);
}

json_t *pool_svc_node_json(struct pool_svc *svc, const char *name)
{
    pthread_mutex_lock(&svc->lock);
    const struct pool_node *n = pool_inv_node(&svc->inv, name);
    json_t *o = n ? pool_view_node(svc, n) : NULL;
    pthread_mutex_unlock(&svc->lock);
    return o;
}

struct alloc_list {
    const struct pool_svc *svc;
    const char *tenant;
    bool tokens;
    json_t *out;
};

static void add_alloc(const char *key, void *value, void *arg)
{
    (void)key;
    struct alloc_list *l = arg;
    const struct pool_alloc *a = value;
    if (!l->tenant || strcmp(l->tenant, a->tenant) == 0)
        json_array_append_new(l->out, pool_view_alloc(l->svc, a, l->tokens));
}

json_t *pool_svc_allocations_json(struct pool_svc *svc, const char *tenant, bool tokens)
{
    struct alloc_list l = {svc, tenant, tokens, json_array()};
    pthread_mutex_lock(&svc->lock);
    pool_map_each(&svc->allocs, add_alloc, &l);
    pthread_mutex_unlock(&svc->lock);
    return json_pack("{s:o}", "allocations", l.out);
}

struct vgpu_list {
    const char *node;
    json_t *vgpus, *creating;
};

static void add_node_vgpus(const char *key, void *value, void *arg)
{
    (void)key;
    struct vgpu_list *l = arg;
    const struct pool_alloc *a = value;
    if (strcmp(a->node, l->node) != 0)
        return;
    if (a->status == POOL_ALLOC_PENDING) {
        json_array_append_new(l->creating, json_string(a->id));
        return;
    }
    for (int i = 0; i < a->ndev; i++)
        json_array_append_new(l->vgpus, json_pack("{s:s, s:s, s:s}", "id", a->dev[i].vgpu_id,
                                                   "allocation", a->id, "device", a->dev[i].uuid));
}

json_t *pool_svc_node_vgpus_json(struct pool_svc *svc, const char *node)
{
    struct vgpu_list l = {node, json_array(), json_array()};
    pthread_mutex_lock(&svc->lock);
    bool known = pool_inv_node(&svc->inv, node) != NULL;
    if (known)
        pool_map_each(&svc->allocs, add_node_vgpus, &l);
    pthread_mutex_unlock(&svc->lock);
    if (!known) {
        json_decref(l.vgpus);
        json_decref(l.creating);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "vgpus", l.vgpus, "creating", l.creating);
}

json_t *pool_svc_allocation_json(struct pool_svc *svc, const char *id, const char *owner)
{
    pthread_mutex_lock(&svc->lock);
    const struct pool_alloc *a = pool_map_get(&svc->allocs, id);
    if (a && owner && strcmp(a->tenant, owner) != 0)
        a = NULL;   /* another tenant's: as absent as one that never existed */
    json_t *o = a ? pool_view_alloc(svc, a, owner != NULL) : NULL;
    pthread_mutex_unlock(&svc->lock);
    return o;
}

static void add_quota(const struct pool_quota *q, void *arg)
{
    json_array_append_new(arg, pool_view_quota(q));
}

json_t *pool_svc_quotas_json(struct pool_svc *svc)
{
    json_t *a = json_array();
    pthread_mutex_lock(&svc->lock);
    pool_quotas_each(&svc->quotas, add_quota, a);
    pthread_mutex_unlock(&svc->lock);
    return json_pack("{s:o}", "quotas", a);
}

json_t *pool_svc_quota_json(struct pool_svc *svc, const char *tenant)
{
    pthread_mutex_lock(&svc->lock);
    const struct pool_quota *q = pool_quota_get(&svc->quotas, tenant, false);
    json_t *o = q ? pool_view_quota(q) : NULL;
    pthread_mutex_unlock(&svc->lock);
    return o;
}

json_t *pool_svc_pool_json(struct pool_svc *svc, const char *name)
{
    struct pool_def d = pool_svc_pool(svc, name);
    return json_pack("{s:s, s:f, s:s}", "name", d.name, "oversub_ratio", d.oversub, "strategy",
                     pool_strategy_name(d.strategy));
}
