/*
 * Executable graphs: cuGraphInstantiate* (a topological order of the graph's nodes, each
 * holding its own copy of what the node runs: child graphs and conditional bodies become
 * nested programs), cuGraphLaunch (one stream work item that runs a snapshot of those items
 * in order, so later updates never race a launch in flight; a prologue resets conditional
 * handles, frees AUTO_FREE_ON_LAUNCH allocations and holds the graph's user objects until the
 * launch is done), cuGraphUpload, cuGraphExecGetFlags and cuGraphExecDestroy; updates are in
 * graph_update.c. Calls graph.c, graph_nodes.c, graph_cond.c, graph_mem.c, userobj.c and
 * stream.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static int list_add_unique(struct sg_ptr_list *l, void *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == p)
            return 0;
    void **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    l->v[l->n++] = p;
    return 0;
}

static void exec_free(struct sg_graph_exec *x)
{
    for (size_t i = 0; i < x->n; i++) {
        sg_work_free(x->works ? x->works[i] : NULL);
        free(x->deps ? x->deps[i] : NULL);
    }
    for (size_t i = 0; i < x->conds.n; i++)
        sg_cond_release(x->conds.v[i]);
    for (size_t i = 0; i < x->allocs.n; i++) {
        sg_gmem_unclaim(x->allocs.v[i]);
        sg_gmem_release(x->allocs.v[i]);
    }
    for (size_t i = 0; i < x->frees.n; i++)
        sg_gmem_release(x->frees.v[i]);
    free(x->conds.v);
    free(x->allocs.v);
    free(x->frees.v);
    sg_user_refs_release(&x->users);
    free(x->order);
    free(x->works);
    free(x->source);
    free(x->alias);
    free(x->types);
    free(x->shapes);
    free(x->deps);
    free(x->ndeps);
    free(x->enabled);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

size_t sg_node_index(const struct sg_graph *g, const struct sg_graph_node *n)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->nodes[i] == n)
            return i;
    return (size_t)-1;
}

/* Kahn's algorithm over dependency indices; -1 when the graph has a cycle. */
static int topo_order(size_t n, size_t **deps, const size_t *ndeps, size_t *order)
{
    size_t *pending = calloc(n ? n : 1, sizeof *pending);
    char *emitted = calloc(n ? n : 1, 1);
    size_t done = 0;
    for (size_t i = 0; pending && i < n; i++)
        pending[i] = ndeps[i];
    while (pending && emitted && done < n) {
        size_t before = done;
        for (size_t i = 0; i < n; i++) {
            if (emitted[i] || pending[i])
                continue;
            emitted[i] = 1;
            order[done++] = i;
            for (size_t j = 0; j < n; j++)
                for (size_t k = 0; k < ndeps[j]; k++)
                    if (deps[j][k] == i)
                        pending[j]--;
        }
        if (done == before)
            break;
    }
    free(pending);
    free(emitted);
    return done == n ? 0 : -1;
}

/* An execution order of g's nodes (indices); -1 on a cycle or when out of memory. */
static int graph_order(const struct sg_graph *g, size_t *order)
{
    size_t n = g->n ? g->n : 1;
    size_t **deps = calloc(n, sizeof *deps);
    size_t *ndeps = calloc(n, sizeof *ndeps);
    int rc = deps && ndeps ? 0 : -1;
    for (size_t i = 0; !rc && i < g->n; i++) {
        ndeps[i] = g->nodes[i]->ndeps;
        if (!(deps[i] = calloc(ndeps[i] ? ndeps[i] : 1, sizeof **deps)))
            rc = -1;
        for (size_t k = 0; !rc && k < ndeps[i]; k++)
            deps[i][k] = sg_node_index(g, g->nodes[i]->deps[k]);
    }
    if (!rc)
        rc = topo_order(g->n, deps, ndeps, order);
    for (size_t i = 0; deps && i < g->n; i++)
        free(deps[i]);
    free(deps);
    free(ndeps);
    return rc;
}

/* A structural fingerprint of a graph: node types, edges by index, bodies, recursively. */
static uint64_t graph_shape(const struct sg_graph *g)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ull)
    MIX(g->n);
    for (size_t i = 0; i < g->n; i++) {
        const struct sg_graph_node *n = g->nodes[i];
        MIX(n->type);
        MIX(n->ndeps);
        for (size_t k = 0; k < n->ndeps; k++)
            MIX(sg_node_index(g, n->deps[k]));
        MIX(n->nbodies);
        for (unsigned b = 0; b < n->nbodies; b++)
            MIX(graph_shape(n->bodies[b]));
    }
#undef MIX
    return h;
}

uint64_t sg_bodies_shape(struct sg_graph *const *bodies, unsigned n)
{
    uint64_t h = n;
    for (unsigned b = 0; b < n; b++)
        h = h * 31 + graph_shape(bodies[b]);
    return h;
}

/* ---- programs: a graph's items in order, as one work item ------------------------------------- */

struct graph_work {
    struct sg_work base;
    size_t n;
    struct sg_work **items; /* in execution order; NULL entries are empty or disabled nodes */
};

static CUresult graph_exec_run(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    struct graph_work *gw = (struct graph_work *)w;
    for (size_t i = 0; i < gw->n; i++) {
        if (!gw->items[i])
            continue;
        CUresult r = gw->items[i]->exec(c, s, gw->items[i]);
        if (r)
            return r; /* later nodes may depend on this one: stop, as a faulted kernel does */
    }
    return CUDA_SUCCESS;
}

static void graph_work_destroy(struct sg_work *w)
{
    struct graph_work *gw = (struct graph_work *)w;
    for (size_t i = 0; i < gw->n; i++)
        sg_work_free(gw->items[i]);
    free(gw->items);
    free(gw);
}

static struct sg_work *graph_work_clone(const struct sg_work *w);

static struct graph_work *graph_work_alloc(size_t n)
{
    struct graph_work *gw = sg_work_new(sizeof *gw, SG_W_GRAPH, graph_exec_run, graph_work_clone,
                                        graph_work_destroy);
    if (!gw)
        return NULL;
    gw->items = calloc(n ? n : 1, sizeof *gw->items);
    if (!gw->items) {
        free(gw);
        return NULL;
    }
    gw->n = n;
    return gw;
}

static struct sg_work *graph_work_clone(const struct sg_work *w)
{
    const struct graph_work *src = (const struct graph_work *)w;
    struct graph_work *gw = graph_work_alloc(src->n);
    if (!gw)
        return NULL;
    for (size_t i = 0; i < src->n; i++)
        if (src->items[i] && !(gw->items[i] = src->items[i]->clone(src->items[i]))) {
            graph_work_destroy(&gw->base);
            return NULL;
        }
    return &gw->base;
}

CUresult sg_graph_program(const struct sg_graph *g, struct sg_work **out)
{
    size_t *order = calloc(g->n ? g->n : 1, sizeof *order);
    struct graph_work *gw = order ? graph_work_alloc(g->n) : NULL;
    CUresult r = gw ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    if (!r && graph_order(g, order) != 0)
        r = CUDA_ERROR_INVALID_VALUE; /* a dependency cycle */
    for (size_t i = 0; !r && i < g->n; i++)
        r = sg_node_exec_work(g->nodes[order[i]], &gw->items[i]);
    free(order);
    if (r && gw)
        graph_work_destroy(&gw->base);
    if (!r)
        *out = &gw->base;
    return r;
}

/* ---- instantiation ---------------------------------------------------------------------------- */

/* Gathers the conditional handles, allocations and frees of g and its nested graphs. */
static CUresult collect(struct sg_graph_exec *x, const struct sg_graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct sg_graph_node *n = g->nodes[i];
        struct sg_ptr_list *l = n->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC ? &x->allocs
                             : n->type == CU_GRAPH_NODE_TYPE_MEM_FREE ? &x->frees : NULL;
        size_t before = l ? l->n : 0;
        if (l && list_add_unique(l, sg_gmem_of(n->work)) != 0)
            return CUDA_ERROR_OUT_OF_MEMORY;
        if (l == &x->allocs && l->n > before && sg_gmem_claim(l->v[before]) != CUDA_SUCCESS) {
            l->n--; /* another executable graph of this graph exists */
            return CUDA_ERROR_INVALID_VALUE;
        }
        if (l && l->n > before)
            sg_gmem_retain(l->v[before]);
        before = x->conds.n;
        if (n->cond && list_add_unique(&x->conds, n->cond) != 0)
            return CUDA_ERROR_OUT_OF_MEMORY;
        if (x->conds.n > before)
            sg_cond_retain(n->cond);
        for (unsigned b = 0; b < n->nbodies; b++) {
            CUresult r = collect(x, n->bodies[b]);
            if (r)
                return r;
        }
    }
    return CUDA_SUCCESS;
}

/* Every handle created on g (or its bodies) must belong to a conditional node. */
static int handles_used(const struct sg_graph_exec *x, const struct sg_graph *g)
{
    for (size_t i = 0; i < g->nconds; i++) {
        size_t k = 0;
        while (k < x->conds.n && x->conds.v[k] != g->conds[i])
            k++;
        if (k == x->conds.n)
            return 0;
    }
    for (size_t i = 0; i < g->n; i++)
        for (unsigned b = 0; b < g->nodes[i]->nbodies; b++)
            if (!handles_used(x, g->nodes[i]->bodies[b]))
                return 0;
    return 1;
}

static CUresult exec_alloc_arrays(struct sg_graph_exec *x, size_t count)
{
    size_t n = count ? count : 1;
    x->n = count;
    x->order = calloc(n, sizeof *x->order);
    x->works = calloc(n, sizeof *x->works);
    x->source = calloc(n, sizeof *x->source);
    x->alias = calloc(n, sizeof *x->alias);
    x->types = calloc(n, sizeof *x->types);
    x->shapes = calloc(n, sizeof *x->shapes);
    x->deps = calloc(n, sizeof *x->deps);
    x->ndeps = calloc(n, sizeof *x->ndeps);
    x->enabled = calloc(n, 1);
    return x->order && x->works && x->source && x->alias && x->types && x->shapes && x->deps && x->ndeps
                   && x->enabled
               ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult exec_add_node(struct sg_graph_exec *x, const struct sg_graph *g, size_t i)
{
    struct sg_graph_node *node = g->nodes[i];
    x->source[i] = node;
    x->types[i] = node->type;
    x->shapes[i] = sg_bodies_shape(node->bodies, node->nbodies);
    x->enabled[i] = 1;
    x->ndeps[i] = node->ndeps;
    if (!(x->deps[i] = calloc(node->ndeps ? node->ndeps : 1, sizeof **x->deps)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t k = 0; k < node->ndeps; k++)
        x->deps[i][k] = sg_node_index(g, node->deps[k]);
    return sg_node_exec_work(node, &x->works[i]);
}

static CUresult exec_build(struct sg_graph *g, unsigned long long flags,
                           CUgraphInstantiateResult *result, struct sg_graph_exec **out)
{
    struct sg_graph_exec *x = calloc(1, sizeof *x);
    if (!x)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_init(&x->lock, NULL);
    x->flags = flags;
    CUresult r = exec_alloc_arrays(x, g->n);
    if (!r && graph_order(g, x->order) != 0) {
        *result = CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE;
        r = CUDA_ERROR_INVALID_VALUE; /* a dependency cycle */
    }
    for (size_t i = 0; !r && i < g->n; i++)
        r = exec_add_node(x, g, i);
    if (!r)
        r = collect(x, g);
    if (!r && !handles_used(x, g)) {
        *result = CUDA_GRAPH_INSTANTIATE_CONDITIONAL_HANDLE_UNUSED;
        r = CUDA_ERROR_INVALID_VALUE;
    }
    if (!r)
        r = sg_user_refs_copy(&x->users, &g->users);
    if (r) {
        exec_free(x);
        return r;
    }
    sg_handle_add(x, SG_K_EXEC);
    *out = x;
    return CUDA_SUCCESS;
}

CUresult sg_exec_lookup(CUgraphExec h, struct sg_graph_exec **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_EXEC, CUDA_ERROR_INVALID_VALUE, &p);
    if (!r)
        *out = p;
    return r;
}

/* A graph for device launch holds only kernel, memcpy, memset and child graph nodes of one
 * context, and at least one kernel, memcpy or memset (cuGraphInstantiateWithFlags). */
static int device_launchable(const struct sg_graph *g, int *work_nodes, struct sg_graph_node **bad)
{
    for (size_t i = 0; i < g->n; i++) {
        struct sg_graph_node *n = g->nodes[i];
        switch (n->type) {
        case CU_GRAPH_NODE_TYPE_KERNEL:
        case CU_GRAPH_NODE_TYPE_MEMCPY:
        case CU_GRAPH_NODE_TYPE_MEMSET:
            ++*work_nodes;
            break;
        case CU_GRAPH_NODE_TYPE_GRAPH:
            if (!device_launchable(n->bodies[0], work_nodes, bad))
                return 0;
            break;
        default:
            *bad = n;
            return 0;
        }
    }
    return 1;
}

static CUresult instantiate(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags,
                            CUgraphInstantiateResult *result, CUgraphNode *err_node)
{
    const unsigned long long known = CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH
        | CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD | CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH
        | CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY;
    *result = CUDA_GRAPH_INSTANTIATE_ERROR;
    *err_node = NULL;
    struct sg_graph *g;
    CUresult r = phGraphExec ? sg_graph_lookup(hGraph, &g) : CUDA_ERROR_INVALID_VALUE;
    if (!r && ((flags & ~known) || g->owned || g->capturing))
        r = CUDA_ERROR_INVALID_VALUE;
    int device = (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH) != 0;
    if (!r && device && (flags & CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH))
        r = CUDA_ERROR_INVALID_VALUE;
    int work_nodes = 0;
    struct sg_graph_node *bad = NULL;
    if (!r && device && (!device_launchable(g, &work_nodes, &bad) || !work_nodes)) {
        *result = CUDA_GRAPH_INSTANTIATE_NODE_OPERATION_NOT_SUPPORTED;
        *err_node = (CUgraphNode)bad;
        r = CUDA_ERROR_INVALID_VALUE;
    }
    struct sg_graph_exec *x;
    if (!r)
        r = exec_build(g, flags, result, &x);
    if (r)
        return r;
    *result = CUDA_GRAPH_INSTANTIATE_SUCCESS;
    *phGraphExec = (CUgraphExec)x;
    return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                     unsigned long long flags)
{
    CUgraphInstantiateResult result;
    CUgraphNode err;
    if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)
        return CUDA_ERROR_INVALID_VALUE; /* only cuGraphInstantiateWithParams uploads */
    return instantiate(phGraphExec, hGraph, flags, &result, &err);
}

CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                      CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)
{
    CUDA_GRAPH_INSTANTIATE_PARAMS *p = instantiateParams;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = instantiate(phGraphExec, hGraph, p->flags, &p->result_out, &p->hErrNode_out);
    if (!r && (p->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)) {
        r = cuGraphUpload(*phGraphExec, p->hUploadStream);
        if (r) {
            cuGraphExecDestroy(*phGraphExec);
            p->result_out = CUDA_GRAPH_INSTANTIATE_ERROR;
        }
    }
    return r;
}

/* The 10.0 and 11.0 ABIs (the same arguments): an error node and a log buffer. */
#undef cuGraphInstantiate
CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                            char *logBuffer, size_t bufferSize);
CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize);
CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                               char *logBuffer, size_t bufferSize)
{
    CUgraphInstantiateResult result;
    CUgraphNode err;
    CUresult r = instantiate(phGraphExec, hGraph, 0, &result, &err);
    if (phErrorNode)
        *phErrorNode = err;
    if (logBuffer && bufferSize)
        snprintf(logBuffer, bufferSize, "%s",
                 r == CUDA_SUCCESS ? ""
                 : result == CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE ? "graph has a cycle"
                 : "instantiation failed");
    return r;
}

CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                            char *logBuffer, size_t bufferSize)
{
    return cuGraphInstantiate_v2(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

CUresult cuGraphExecGetFlags(CUgraphExec hGraphExec, cuuint64_t *flags)
{
    struct sg_graph_exec *x;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    if (!r && !flags)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        *flags = x->flags;
    return r;
}

CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    struct sg_graph_exec *x;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    if (r)
        return r;
    sg_handle_del(x);
    exec_free(x); /* launches in flight run their own snapshot and hold their own references */
    return CUDA_SUCCESS;
}

/* ---- launch ----------------------------------------------------------------------------------- */

/* The first item of a launch: resets conditional handles, frees the allocations an
 * AUTO_FREE_ON_LAUNCH graph left live; holds the user objects until the launch is done. */
struct prologue {
    struct sg_work base;
    struct sg_ptr_list conds, autofree;
    struct sg_user_refs users;
};

static CUresult prologue_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s;
    struct prologue *p = (struct prologue *)w;
    for (size_t i = 0; i < p->autofree.n; i++)
        sg_gmem_free_run(p->autofree.v[i]);
    for (size_t i = 0; i < p->conds.n; i++)
        sg_cond_launch_reset(p->conds.v[i]);
    return CUDA_SUCCESS;
}

static void prologue_destroy(struct sg_work *w)
{
    struct prologue *p = (struct prologue *)w;
    for (size_t i = 0; i < p->conds.n; i++)
        sg_cond_release(p->conds.v[i]);
    for (size_t i = 0; i < p->autofree.n; i++)
        sg_gmem_release(p->autofree.v[i]);
    free(p->conds.v);
    free(p->autofree.v);
    sg_user_refs_release(&p->users);
    free(p);
}

static struct prologue *prologue_new(const struct sg_ptr_list *conds, const struct sg_ptr_list *autofree,
                                     const struct sg_user_refs *users);

static struct sg_work *prologue_clone(const struct sg_work *w)
{
    const struct prologue *p = (const struct prologue *)w;
    struct prologue *n = prologue_new(&p->conds, &p->autofree, &p->users);
    return n ? &n->base : NULL;
}

static int list_copy(struct sg_ptr_list *dst, const struct sg_ptr_list *src)
{
    dst->v = malloc((src->n ? src->n : 1) * sizeof *dst->v);
    if (!dst->v)
        return -1;
    if (src->n)
        memcpy(dst->v, src->v, src->n * sizeof *dst->v);
    dst->n = src->n;
    return 0;
}

static struct prologue *prologue_new(const struct sg_ptr_list *conds, const struct sg_ptr_list *autofree,
                                     const struct sg_user_refs *users)
{
    struct prologue *p = sg_work_new(sizeof *p, SG_W_NOP, prologue_exec, prologue_clone,
                                     prologue_destroy);
    if (!p)
        return NULL;
    if (list_copy(&p->conds, conds) != 0 || list_copy(&p->autofree, autofree) != 0
        || sg_user_refs_copy(&p->users, users) != CUDA_SUCCESS) {
        free(p->conds.v);
        free(p->autofree.v);
        free(p);
        return NULL;
    }
    for (size_t i = 0; i < conds->n; i++)
        sg_cond_retain(conds->v[i]);
    for (size_t i = 0; i < autofree->n; i++)
        sg_gmem_retain(autofree->v[i]);
    return p;
}

/* The allocation bookkeeping of a launch: an allocation still live from an earlier launch is
 * an error, unless the graph frees it automatically (then it goes on the autofree list). */
static CUresult launch_allocations(struct sg_graph_exec *x, struct sg_ptr_list *autofree)
{
    int auto_free = (x->flags & CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH) != 0;
    for (size_t i = 0; i < x->allocs.n; i++)
        if (sg_gmem_outstanding(x->allocs.v[i]) > 0) {
            if (!auto_free)
                return CUDA_ERROR_INVALID_VALUE;
            if (list_add_unique(autofree, x->allocs.v[i]) != 0)
                return CUDA_ERROR_OUT_OF_MEMORY;
        }
    for (size_t i = 0; i < autofree->n; i++)
        sg_gmem_note_launch(autofree->v[i], 0, 1);
    for (size_t i = 0; i < x->allocs.n; i++)
        sg_gmem_note_launch(x->allocs.v[i], 1, 0);
    for (size_t i = 0; i < x->frees.n; i++)
        sg_gmem_note_launch(x->frees.v[i], 0, 1);
    return CUDA_SUCCESS;
}

static CUresult launch_snapshot(struct sg_graph_exec *x, struct graph_work **out)
{
    struct sg_ptr_list autofree = {0};
    struct graph_work *gw = graph_work_alloc(x->n + 1);
    if (!gw)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = CUDA_SUCCESS;
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; !r && i < x->n; i++) {
        size_t k = x->order[i];
        struct sg_work *src = x->enabled[k] ? x->works[k] : NULL;
        if (src && !(gw->items[i + 1] = src->clone(src)))
            r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (!r)
        r = launch_allocations(x, &autofree);
    struct prologue *p = r ? NULL : prologue_new(&x->conds, &autofree, &x->users);
    if (!r && !p)
        r = CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_unlock(&x->lock);
    free(autofree.v);
    if (r) {
        graph_work_destroy(&gw->base);
        return r;
    }
    gw->items[0] = &p->base;
    *out = gw;
    return CUDA_SUCCESS;
}

CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
    struct sg_graph_exec *x;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    if (r)
        return r;
    struct sg_stream *s;
    r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    struct graph_work *gw;
    r = launch_snapshot(x, &gw);
    return r ? r : sg_stream_submit(s, &gw->base);
}

CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
    struct sg_graph_exec *x;
    struct sg_stream *s;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    return r ? r : sg_stream_resolve(hStream, &s); /* nothing to upload: host memory */
}

