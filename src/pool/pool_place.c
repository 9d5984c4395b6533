/*
 * Placement strategies and filters (see pool_place.h). Every score is computed from the device
 * bookings only, so the same inventory always yields the same choice (ties go to the lower node
 * slot and device index). Calls pool_inv only.
 */
#include "pool_place.h"

#include <string.h>

#define EPS 1e-9
#define PREFETCH_AHEAD 4
#define PREFETCH_DEVICES 8 /* the common node size; larger nodes just miss a little more */

static inline double req_tflops(const struct pool_alloc_req *req, const struct pool_device *d)
{
    if (req->tflops_request > 0)
        return req->tflops_request;
    return d->tflops * req->compute_request_pct / 100.0;
}

double pool_req_tflops(const struct pool_alloc_req *req, const struct pool_device *d)
{
    return req_tflops(req, d);
}

double pool_req_tflops_limit(const struct pool_alloc_req *req, const struct pool_device *d)
{
    if (req->tflops_limit > 0)
        return req->tflops_limit;
    if (req->compute_limit_pct > 0)
        return d->tflops * req->compute_limit_pct / 100.0;
    return pool_req_tflops(req, d);
}

static inline bool fits(const struct pool_device *d, double oversub, double tflops, uint64_t vram)
{
    if (d->vgpus >= POOL_MAX_VGPUS_PER_DEVICE || tflops > d->tflops + EPS)
        return false; /* one vGPU never exceeds the card, whatever the oversubscription */
    if (vram > d->memory_bytes || d->vram_booked > d->memory_bytes - vram)
        return false;
    return d->tflops_booked + tflops <= pool_device_capacity(d, oversub) + EPS;
}

bool pool_device_fits(const struct pool_device *d, double oversub, double tflops, uint64_t vram)
{
    return fits(d, oversub, tflops, vram);
}

static inline double share(double used, double cap)
{
    return cap > 0 ? used / cap : 1.0;
}

static inline double load_of(const struct pool_device *d, double oversub)
{
    double c = share(d->tflops_booked, pool_device_capacity(d, oversub));
    double m = share((double)d->vram_booked, (double)d->memory_bytes);
    return c > m ? c : m;
}

double pool_device_load(const struct pool_device *d, double oversub)
{
    return load_of(d, oversub);
}

static inline double load_after(const struct pool_device *d, double oversub, double t, uint64_t v)
{
    double c = share(d->tflops_booked + t, pool_device_capacity(d, oversub));
    double m = share((double)(d->vram_booked + v), (double)d->memory_bytes);
    return c > m ? c : m;
}

static bool labels_match(const struct pool_node *n, const struct pool_alloc_req *req)
{
    for (int i = 0; i < req->nlabels; i++) {
        bool found = false;
        for (int j = 0; j < n->nlabels && !found; j++)
            found = strcmp(n->labels[j].key, req->labels[i].key) == 0 &&
                    strcmp(n->labels[j].value, req->labels[i].value) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Mean load of the node's devices: how "full" the node is, for node-level packing. */
static double node_load(const struct pool_node *n, double oversub)
{
    double sum = 0;
    for (int i = 0; i < n->ndev; i++)
        sum += load_of(&n->dev[i], oversub);
    return n->ndev ? sum / n->ndev : 0;
}

struct candidate {
    int dev;
    double pref;   /* higher is chosen first */
    double tflops;
};

/* Picks the k best candidates (by pref, ties to the lower index) into the front of c. */
static void pick_best(struct candidate *c, int n, int k)
{
    for (int i = 0; i < k; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (c[j].pref > c[best].pref + EPS ||
                (c[j].pref > c[best].pref - EPS && c[j].dev < c[best].dev))
                best = j;
        struct candidate t = c[i];
        c[i] = c[best];
        c[best] = t;
    }
}

/* Scores one node for the request; returns false when it cannot take the whole gang. This is
 * the inner loop of placement: cheap integer rejections come first. */
static bool score_node(const struct pool_node *n, int group, const struct pool_alloc_req *req,
                       enum pool_strategy s, double oversub, struct pool_placement *p, double *score)
{
    struct candidate c[POOL_MAX_DEVICES];
    int nc = 0;
    for (int i = 0; i < n->ndev; i++) {
        const struct pool_device *d = &n->dev[i];
        if (d->group != group || d->vram_booked + req->vram_request > d->memory_bytes)
            continue;
        double t = req_tflops(req, d);
        if (!fits(d, oversub, t, req->vram_request))
            continue;
        c[nc].dev = i;
        c[nc].tflops = t;
        c[nc].pref = s == POOL_STRATEGY_COMPACT_FIRST
                         ? load_after(d, oversub, t, req->vram_request)
                         : -load_of(d, oversub);
        nc++;
    }
    if (nc < req->gpu_count)
        return false;
    pick_best(c, nc, req->gpu_count);
    double sum = 0;
    p->slot = n->slot;
    p->ndev = req->gpu_count;
    for (int i = 0; i < req->gpu_count; i++) {
        p->dev[i] = c[i].dev;
        p->tflops[i] = c[i].tflops;
        p->tflops_limit[i] = pool_req_tflops_limit(req, &n->dev[c[i].dev]);
        if (p->tflops_limit[i] < p->tflops[i])
            p->tflops_limit[i] = p->tflops[i];
        sum += c[i].pref;
    }
    *score = s == POOL_STRATEGY_NODE_COMPACT_GPU_LOW_LOAD ? node_load(n, oversub) : sum;
    return true;
}

static void scan_group(const struct pool_inv *inv, const struct pool_group *g,
                       const struct pool_alloc_req *req, enum pool_strategy s, double oversub,
                       struct pool_placement *best, double *best_score)
{
    for (int i = 0; i < g->count; i++) {
        /* The scan is bound by memory latency (one node header and one line per device):
         * fetch a few nodes ahead so those misses overlap. Prefetches never fault. */
        if (i + PREFETCH_AHEAD < g->count) {
            const struct pool_node *ahead = inv->nodes[g->slots[i + PREFETCH_AHEAD]];
            __builtin_prefetch(ahead);
            for (int k = 0; k < PREFETCH_DEVICES; k++)
                __builtin_prefetch(&ahead->dev[k]);
        }
        const struct pool_node *n = inv->nodes[g->slots[i]];
        if (!n || !n->healthy || !labels_match(n, req) ||
            (req->node[0] && strcmp(n->name, req->node) != 0))
            continue;
        struct pool_placement p;
        double score;
        if (!score_node(n, (int)(g - inv->groups), req, s, oversub, &p, &score))
            continue;
        if (best->slot < 0 || score > *best_score + EPS ||
            (score > *best_score - EPS && p.slot < best->slot)) {
            *best = p;
            *best_score = score;
        }
    }
}

int pool_place(const struct pool_inv *inv, const struct pool_alloc_req *req, enum pool_strategy s,
               struct pool_placement *out)
{
    if (req->gpu_count < 1 || req->gpu_count > POOL_MAX_GANG || (unsigned)s >= POOL_STRATEGY_COUNT)
        return -1;
    struct pool_def def = pool_inv_pool(inv, req->pool);
    struct pool_placement best = {.slot = -1};
    double best_score = 0;
    for (int g = 0; g < inv->ngroups; g++) {
        const struct pool_group *grp = &inv->groups[g];
        if (strcmp(grp->pool, req->pool) != 0)
            continue;
        if (req->model[0] && strcmp(grp->model, req->model) != 0)
            continue;
        scan_group(inv, grp, req, s, def.oversub, &best, &best_score);
    }
    if (best.slot < 0)
        return -1;
    *out = best;
    return 0;
}

/* The strategy's preference for a node's pick in 0..1 (higher is chosen first), whatever the
 * gang size: what a scheduler extender ranks nodes by. */
static double normalised(enum pool_strategy s, double score, int gang)
{
    if (s == POOL_STRATEGY_NODE_COMPACT_GPU_LOW_LOAD)
        return score;
    double mean = score / gang;
    return s == POOL_STRATEGY_COMPACT_FIRST ? mean : 1.0 + mean;
}

enum pool_verdict pool_place_on_node(const struct pool_inv *inv, const struct pool_node *n,
                                     const struct pool_alloc_req *req, enum pool_strategy s,
                                     struct pool_placement *out, double *score)
{
    if (strcmp(n->pool, req->pool) != 0)
        return POOL_VERDICT_OTHER_POOL;
    if (!n->healthy)
        return POOL_VERDICT_UNHEALTHY;
    if (!labels_match(n, req))
        return POOL_VERDICT_LABELS;
    if (req->gpu_count < 1 || req->gpu_count > POOL_MAX_GANG || (unsigned)s >= POOL_STRATEGY_COUNT)
        return POOL_VERDICT_CAPACITY;
    double oversub = pool_inv_pool(inv, req->pool).oversub;
    bool model_seen = false, found = false;
    for (int g = 0; g < inv->ngroups; g++) {
        const struct pool_group *grp = &inv->groups[g];
        if (strcmp(grp->pool, req->pool) != 0 || (req->model[0] && strcmp(grp->model, req->model)))
            continue;
        struct pool_placement p;
        double sc;
        bool has = false;
        for (int i = 0; i < n->ndev && !has; i++)
            has = n->dev[i].group == g;
        model_seen |= has;
        if (!has || !score_node(n, g, req, s, oversub, &p, &sc))
            continue;
        sc = normalised(s, sc, req->gpu_count);
        if (!found || sc > *score + EPS) {
            *out = p;
            *score = sc;
            found = true;
        }
    }
    if (!model_seen)
        return POOL_VERDICT_MODEL;
    return found ? POOL_VERDICT_OK : POOL_VERDICT_CAPACITY;
}
