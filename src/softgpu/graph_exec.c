/*
 * Executable graphs: cuGraphInstantiate* (a topological order of the graph's nodes, each
 * holding its own copy of the node's work), cuGraphLaunch (one stream work item that runs a
 * snapshot of those items in order, so later updates never race a launch in flight),
 * cuGraphExecKernelNodeSetParams, cuGraphExecUpdate and cuGraphExecDestroy.
 * Calls graph.c, stream.c and launch.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

struct sg_graph_exec {
    size_t n;
    size_t *order;                    /* node indices in a valid execution order */
    struct sg_work **works;           /* by node index; NULL for empty nodes */
    struct sg_graph_node **source;    /* the graph node each index came from */
    CUgraphNodeType *types;
    size_t **deps;                    /* dependency indices by node index */
    size_t *ndeps;
    pthread_mutex_t lock;
};

static void exec_free(struct sg_graph_exec *x)
{
    for (size_t i = 0; i < x->n; i++) {
        sg_work_free(x->works ? x->works[i] : NULL);
        free(x->deps ? x->deps[i] : NULL);
    }
    free(x->order);
    free(x->works);
    free(x->source);
    free(x->types);
    free(x->deps);
    free(x->ndeps);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

static size_t index_of(const struct sg_graph *g, const struct sg_graph_node *n)
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
    if (!pending)
        return -1;
    for (size_t i = 0; i < n; i++)
        pending[i] = ndeps[i];
    size_t done = 0;
    char *emitted = calloc(n ? n : 1, 1);
    while (emitted && done < n) {
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

static CUresult exec_build(struct sg_graph *g, struct sg_graph_exec **out)
{
    struct sg_graph_exec *x = calloc(1, sizeof *x);
    if (!x)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_init(&x->lock, NULL);
    x->n = g->n;
    size_t n = g->n ? g->n : 1;
    x->order = calloc(n, sizeof *x->order);
    x->works = calloc(n, sizeof *x->works);
    x->source = calloc(n, sizeof *x->source);
    x->types = calloc(n, sizeof *x->types);
    x->deps = calloc(n, sizeof *x->deps);
    x->ndeps = calloc(n, sizeof *x->ndeps);
    CUresult r = x->order && x->works && x->source && x->types && x->deps && x->ndeps
                     ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; !r && i < g->n; i++) {
        struct sg_graph_node *node = g->nodes[i];
        x->source[i] = node;
        x->types[i] = node->type;
        x->ndeps[i] = node->ndeps;
        x->deps[i] = calloc(node->ndeps ? node->ndeps : 1, sizeof **x->deps);
        if (!x->deps[i])
            r = CUDA_ERROR_OUT_OF_MEMORY;
        for (size_t k = 0; !r && k < node->ndeps; k++)
            x->deps[i][k] = index_of(g, node->deps[k]);
        if (!r && node->work && !(x->works[i] = node->work->clone(node->work)))
            r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (!r && topo_order(x->n, x->deps, x->ndeps, x->order) != 0)
        r = CUDA_ERROR_INVALID_VALUE; /* a dependency cycle */
    if (r) {
        exec_free(x);
        return r;
    }
    sg_handle_add(x, SG_K_EXEC);
    *out = x;
    return CUDA_SUCCESS;
}

static CUresult exec_lookup(CUgraphExec h, struct sg_graph_exec **out)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(h, SG_K_EXEC))
        return CUDA_ERROR_INVALID_VALUE;
    *out = (struct sg_graph_exec *)h;
    return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                     unsigned long long flags)
{
    if (!phGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(hGraph, SG_K_GRAPH))
        return CUDA_ERROR_INVALID_VALUE;
    if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH)
        return CUDA_ERROR_NOT_SUPPORTED; /* no device-side graph launch */
    struct sg_graph_exec *x;
    r = exec_build((struct sg_graph *)hGraph, &x);
    if (!r)
        *phGraphExec = (CUgraphExec)x;
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
    if (phErrorNode)
        *phErrorNode = NULL;
    if (logBuffer && bufferSize)
        logBuffer[0] = 0;
    return cuGraphInstantiateWithFlags(phGraphExec, hGraph, 0);
}

CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                            char *logBuffer, size_t bufferSize)
{
    return cuGraphInstantiate_v2(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
    struct sg_graph_exec *x;
    CUresult r = exec_lookup(hGraphExec, &x);
    if (r)
        return r;
    sg_handle_del(x);
    exec_free(x); /* launches in flight run their own snapshot */
    return CUDA_SUCCESS;
}

/* ---- launch ----------------------------------------------------------------------------------- */

struct graph_work {
    struct sg_work base;
    size_t n;
    struct sg_work **items; /* in execution order; NULL entries are empty nodes */
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

CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
    struct sg_graph_exec *x;
    CUresult r = exec_lookup(hGraphExec, &x);
    if (r)
        return r;
    struct sg_stream *s;
    r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    struct graph_work *gw = graph_work_alloc(x->n);
    if (!gw)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&x->lock);
    for (size_t i = 0; i < x->n; i++) {
        struct sg_work *src = x->works[x->order[i]];
        if (src && !(gw->items[i] = src->clone(src)))
            r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_unlock(&x->lock);
    if (r) {
        graph_work_destroy(&gw->base);
        return r;
    }
    return sg_stream_submit(s, &gw->base);
}

CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
    struct sg_graph_exec *x;
    struct sg_stream *s;
    CUresult r = exec_lookup(hGraphExec, &x);
    return r ? r : sg_stream_resolve(hStream, &s); /* nothing to upload: host memory */
}

/* ---- updates ---------------------------------------------------------------------------------- */

CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                           const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    struct sg_graph_exec *x;
    CUresult r = exec_lookup(hGraphExec, &x);
    if (r)
        return r;
    if (!nodeParams)
        return CUDA_ERROR_INVALID_VALUE;
    size_t i = 0;
    while (i < x->n && x->source[i] != (struct sg_graph_node *)hNode)
        i++;
    if (i == x->n || x->types[i] != CU_GRAPH_NODE_TYPE_KERNEL)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    r = sg_func_resolve(nodeParams->func ? nodeParams->func : (CUfunction)nodeParams->kern, &f);
    if (r)
        return r;
    struct sg_launch_cfg cfg = {{nodeParams->gridDimX, nodeParams->gridDimY, nodeParams->gridDimZ},
                                {nodeParams->blockDimX, nodeParams->blockDimY, nodeParams->blockDimZ},
                                nodeParams->sharedMemBytes, 0};
    struct sg_work *w;
    r = sg_kernel_work_new(f, &cfg, nodeParams->kernelParams, nodeParams->extra, &w);
    if (r)
        return r;
    pthread_mutex_lock(&x->lock);
    struct sg_work *old = x->works[i];
    x->works[i] = w;
    pthread_mutex_unlock(&x->lock);
    sg_work_free(old);
    return CUDA_SUCCESS;
}

/* Same node count, types and edges (by creation index) as the executable graph. */
static int same_topology(const struct sg_graph_exec *x, const struct sg_graph *g, CUgraphNode *bad)
{
    if (x->n != g->n)
        return 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct sg_graph_node *n = g->nodes[i];
        *bad = (CUgraphNode)n;
        if (n->type != x->types[i] || n->ndeps != x->ndeps[i])
            return 0;
        for (size_t k = 0; k < n->ndeps; k++)
            if (index_of(g, n->deps[k]) != x->deps[i][k])
                return 0;
    }
    *bad = NULL;
    return 1;
}

CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
                              CUgraphExecUpdateResultInfo *resultInfo)
{
    struct sg_graph_exec *x;
    CUresult r = exec_lookup(hGraphExec, &x);
    if (r)
        return r;
    if (!sg_handle_is(hGraph, SG_K_GRAPH))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_graph *g = (struct sg_graph *)hGraph;
    CUgraphNode bad = NULL;
    if (!same_topology(x, g, &bad)) {
        if (resultInfo) {
            resultInfo->result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
            resultInfo->errorNode = bad;
            resultInfo->errorFromNode = NULL;
        }
        return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
    }
    struct sg_work **fresh = calloc(x->n ? x->n : 1, sizeof *fresh);
    if (!fresh)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; i < x->n; i++) {
        struct sg_work *w = g->nodes[i]->work;
        if (w && !(fresh[i] = w->clone(w))) {
            for (size_t k = 0; k < i; k++)
                sg_work_free(fresh[k]);
            free(fresh);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    pthread_mutex_lock(&x->lock);
    struct sg_work **old = x->works;
    x->works = fresh;
    for (size_t i = 0; i < x->n; i++)
        x->source[i] = g->nodes[i];
    pthread_mutex_unlock(&x->lock);
    for (size_t i = 0; i < x->n; i++)
        sg_work_free(old[i]);
    free(old);
    if (resultInfo) {
        resultInfo->result = CU_GRAPH_EXEC_UPDATE_SUCCESS;
        resultInfo->errorNode = NULL;
        resultInfo->errorFromNode = NULL;
    }
    return CUDA_SUCCESS;
}
