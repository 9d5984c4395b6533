/*
 * Dry-run placement (POST /api/v1/placements): where an allocation request would go, node by
 * node, with the same filters, strategy and quota check an allocation applies, booking
 * nothing. A Kubernetes scheduler extender (src/k8s/extender.c) filters and ranks its candidate
 * nodes with it, so pods are placed by the pool's rules and the allocation its bind makes
 * (pinned to the chosen node by the request's "node") lands where the scheduler put the pod.
 * Owns: the request's decoding (an allocation body plus "nodes") and the answer's shape.
 * Calls pool_req, pool_place, pool_inv, pool_quota, jansson.
 */
#include "pool_svc_int.h"

#include <stdlib.h>
#include <string.h>

#include "pool_place.h"
#include "pool_req.h"

static const char *verdict_reason(enum pool_verdict v)
{
    switch (v) {
    case POOL_VERDICT_OK: return "ok";
    case POOL_VERDICT_OTHER_POOL: return "other_pool";
    case POOL_VERDICT_UNHEALTHY: return "unhealthy";
    case POOL_VERDICT_LABELS: return "labels";
    case POOL_VERDICT_MODEL: return "model";
    case POOL_VERDICT_CAPACITY: return "no_capacity";
    }
    return "no_capacity";
}

static const char *verdict_message(enum pool_verdict v)
{
    switch (v) {
    case POOL_VERDICT_OTHER_POOL: return "the node is in another pool";
    case POOL_VERDICT_UNHEALTHY: return "the node is not heartbeating";
    case POOL_VERDICT_LABELS: return "the node lacks the requested labels";
    case POOL_VERDICT_MODEL: return "the node has no GPU of the requested model";
    default: return "no GPU of the node has the free memory, compute or vGPU slot asked";
    }
}

int pool_req_decode_dry_run(const char *body, size_t len, struct pool_alloc_req *req,
                            char (**nodes)[POOL_NAME_MAX], int *nnodes, char *err, size_t errlen)
{
    *nodes = NULL;
    *nnodes = 0;
    if (len > POOL_BODY_MAX) {
        snprintf(err, errlen, "request body larger than %d bytes", POOL_BODY_MAX);
        return -1;
    }
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        snprintf(err, errlen, o ? "request body must be a JSON object"
                                : "invalid JSON: %s", je.text);
        json_decref(o);
        return -1;
    }
    json_t *list = json_object_get(o, "nodes");
    size_t n = list ? json_array_size(list) : 0;
    if (list && (!json_is_array(list) || n > POOL_DRY_RUN_NODES_MAX)) {
        snprintf(err, errlen, "field 'nodes' must be an array of at most %d node names",
                 POOL_DRY_RUN_NODES_MAX);
        json_decref(o);
        return -1;
    }
    /* "nodes": [] asks about no node (absent: every node of the pool) */
    char (*names)[POOL_NAME_MAX] = list ? calloc(n ? n : 1, POOL_NAME_MAX) : NULL;
    if (list && !names) {
        snprintf(err, errlen, "out of memory");
        json_decref(o);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_string(v) ||
            json_string_length(v) != strlen(json_string_value(v)) ||
            !pool_valid_name(json_string_value(v), POOL_NAME_MAX)) {
            snprintf(err, errlen, "'nodes' entries must be node names of [A-Za-z0-9._:-]");
            free(names);
            json_decref(o);
            return -1;
        }
        strcpy(names[i], json_string_value(v));
    }
    json_object_del(o, "nodes");
    char *rest = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = rest ? pool_req_decode_alloc(rest, strlen(rest), req, err, errlen) : -1;
    free(rest);
    if (rc) {
        free(names);
        return -1;
    }
    *nodes = names;
    *nnodes = (int)n;
    return 0;
}

/* One node's entry of the answer; *best_* track the node pool_place would pick. */
static json_t *judge(struct pool_svc *svc, const struct pool_node *n, const char *name,
                     const struct pool_alloc_req *req, enum pool_strategy s,
                     const struct pool_node **best, double *best_score)
{
    if (!n)
        return json_pack("{s:s, s:b, s:s, s:s}", "name", name, "fits", 0, "reason", "unknown",
                         "message", "the pool has no node of this name");
    struct pool_placement p;
    double score = 0;
    enum pool_verdict v = pool_place_on_node(&svc->inv, n, req, s, &p, &score);
    if (v != POOL_VERDICT_OK)
        return json_pack("{s:s, s:b, s:s, s:s}", "name", name, "fits", 0, "reason",
                         verdict_reason(v), "message", verdict_message(v));
    double tflops = 0;
    json_t *devs = json_array();
    for (int i = 0; i < p.ndev; i++) {
        tflops += p.tflops[i];
        json_array_append_new(devs, json_pack("{s:s, s:f, s:f}", "uuid", n->dev[p.dev[i]].uuid,
                                              "tflops_request", p.tflops[i], "tflops_limit",
                                              p.tflops_limit[i]));
    }
    char msg[512];
    const struct pool_quota *q = pool_quota_get(&svc->quotas, req->tenant, false);
    if (pool_quota_check(q, tflops, req->vram_request * (uint64_t)p.ndev, p.ndev, msg,
                         sizeof msg)) {
        json_decref(devs);
        return json_pack("{s:s, s:b, s:s, s:s}", "name", name, "fits", 0, "reason", "quota",
                         "message", msg);
    }
    if (!*best || score > *best_score + 1e-9 ||
        (score > *best_score - 1e-9 && n->slot < (*best)->slot)) {
        *best = n;
        *best_score = score;
    }
    return json_pack("{s:s, s:b, s:f, s:o}", "name", name, "fits", 1, "score", score, "devices",
                     devs);
}

json_t *pool_svc_dry_run(struct pool_svc *svc, const struct pool_alloc_req *req,
                         char (*nodes)[POOL_NAME_MAX], int nnodes)
{
    json_t *list = json_array();
    const struct pool_node *best = NULL;
    double best_score = 0;
    pthread_mutex_lock(&svc->lock);
    struct pool_def def = pool_inv_pool(&svc->inv, req->pool);
    enum pool_strategy s = req->strategy >= 0 ? (enum pool_strategy)req->strategy : def.strategy;
    if (nodes) {
        for (int i = 0; i < nnodes; i++)
            json_array_append_new(list, judge(svc, pool_inv_node(&svc->inv, nodes[i]), nodes[i],
                                              req, s, &best, &best_score));
    } else {
        for (int i = 0; i < svc->inv.nslots; i++) {
            const struct pool_node *n = svc->inv.nodes[i];
            if (n && strcmp(n->pool, req->pool) == 0)
                json_array_append_new(list, judge(svc, n, n->name, req, s, &best, &best_score));
        }
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:o, s:o}", "tenant", req->tenant, "pool",
                            req->pool, "strategy", pool_strategy_name(s), "nodes", list, "best",
                            best ? json_string(best->name) : json_null());
    pthread_mutex_unlock(&svc->lock);
    return out;
}
