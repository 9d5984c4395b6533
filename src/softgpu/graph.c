/*
 * CUDA graphs: graphs of nodes that each hold one work item (kernel, memcpy, memset, host
 * function, event record/wait) or nothing (empty nodes), edges, cloning, instantiation (a
 * topological order of cloned work items), launch (one stream work item that runs the
 * executable graph's items in that order), and updating an executable graph's kernel nodes
 * (graph_exec.c). Structure queries and edits (roots, dependencies, removing edges and nodes)
 * are here too. Stream capture (capture.c) builds graphs through sg_graph_add_work(). Other
 * node kinds, getters and setters are in graph_nodes.c, graph_cond.c, graph_mem.c, memop.c
 * and graph_extsem.c.
 * Calls stream.c, launch.c, copy.c, event.c, module.c, context.c and graph_nodes.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static _Atomic unsigned long long next_node_id = 1;

/* ---- graphs and nodes ---------------------------------------------------------------------- */

CUresult sg_graph_lookup(CUgraph h, struct sg_graph **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_GRAPH, CUDA_ERROR_INVALID_VALUE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult sg_node_lookup(CUgraphNode h, struct sg_graph_node **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_NODE, CUDA_ERROR_INVALID_VALUE, &p);
    if (!r)
        *out = p;
    return r;
}

struct sg_graph *sg_graph_new(void)
{
    struct sg_graph *g = calloc(1, sizeof *g);
    if (g)
        sg_handle_add(g, SG_K_GRAPH);
    return g;
}

static CUgraphNodeType node_type_of(const struct sg_work *w)
{
    if (!w)
        return CU_GRAPH_NODE_TYPE_EMPTY;
    switch (w->kind) {
    case SG_W_KERNEL: return CU_GRAPH_NODE_TYPE_KERNEL;
    case SG_W_COPY: return CU_GRAPH_NODE_TYPE_MEMCPY;
    case SG_W_MEMSET: return CU_GRAPH_NODE_TYPE_MEMSET;
    case SG_W_HOST: return CU_GRAPH_NODE_TYPE_HOST;
    case SG_W_EVENT_RECORD: return CU_GRAPH_NODE_TYPE_EVENT_RECORD;
    case SG_W_EVENT_WAIT: return CU_GRAPH_NODE_TYPE_WAIT_EVENT;
    case SG_W_MEMOP: return CU_GRAPH_NODE_TYPE_BATCH_MEM_OP;
    case SG_W_GRAPH_ALLOC: return CU_GRAPH_NODE_TYPE_MEM_ALLOC;
    case SG_W_GRAPH_FREE: return CU_GRAPH_NODE_TYPE_MEM_FREE;
    case SG_W_EXT_SIGNAL: return CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL;
    case SG_W_EXT_WAIT: return CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT;
    default: return CU_GRAPH_NODE_TYPE_EMPTY;
    }
}

static int add_dep(struct sg_graph_node *n, struct sg_graph_node *dep)
{
    for (size_t i = 0; i < n->ndeps; i++)
        if (n->deps[i] == dep)
            return 0;
    struct sg_graph_node **d = realloc(n->deps, (n->ndeps + 1) * sizeof *d);
    if (!d)
        return -1;
    n->deps = d;
    n->deps[n->ndeps++] = dep;
    return 0;
}

/* Adds a node holding w (NULL: empty), after deps. Takes ownership of w. */
CUresult sg_graph_add_work(struct sg_graph *g, struct sg_work *w, struct sg_graph_node *const *deps,
                           size_t ndeps, struct sg_graph_node **out)
{
    if (w && !w->clone) {
        sg_work_free(w);
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; /* this work cannot be replayed */
    }
    struct sg_graph_node *n = calloc(1, sizeof *n);
    struct sg_graph_node **nodes = NULL;
    if (n && g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 16;
        nodes = realloc(g->nodes, ncap * sizeof *nodes);
        if (nodes) {
            g->nodes = nodes;
            g->cap = ncap;
        }
    }
    if (!n || g->n == g->cap) {
        free(n);
        sg_work_free(w);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    n->graph = g;
    n->work = w;
    n->type = node_type_of(w);
    n->id = atomic_fetch_add(&next_node_id, 1);
    for (size_t i = 0; i < ndeps; i++) {
        if (add_dep(n, deps[i]) != 0) {
            free(n->deps);
            free(n);
            sg_work_free(w);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    g->nodes[g->n++] = n;
    sg_handle_add(n, SG_K_NODE);
    *out = n;
    return CUDA_SUCCESS;
}

static void node_free(struct sg_graph_node *n)
{
    sg_handle_del(n);
    sg_node_release_extras(n);
    sg_work_free(n->work);
    free(n->deps);
    free(n);
}

void sg_graph_free(struct sg_graph *g)
{
    sg_handle_del(g);
    for (size_t i = 0; i < g->n; i++)
        node_free(g->nodes[i]);
    free(g->nodes);
    sg_user_refs_release(&g->users);
    for (size_t i = 0; i < g->nconds; i++)
        sg_cond_release(g->conds[i]);
    free(g->conds);
    free(g);
}

CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
    if (!phGraph || flags)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_graph *g = sg_graph_new();
    if (!g)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *phGraph = (CUgraph)g;
    return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph hGraph)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    if (g->capturing)
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (g->owned)
        return CUDA_ERROR_INVALID_VALUE; /* a child graph or body: its node owns it */
    sg_graph_free(g);
    return CUDA_SUCCESS;
}

/* Checks the dependency list of a new node: every entry a node of g. */
static CUresult check_deps(struct sg_graph *g, const CUgraphNode *deps, size_t n)
{
    if (n && !deps)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < n; i++) {
        struct sg_graph_node *d;
        if (sg_node_lookup(deps[i], &d) != CUDA_SUCCESS || d->graph != g)
            return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

CUresult sg_graph_api_add(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps, size_t ndeps,
                         struct sg_work *w, CUresult made)
{
    struct sg_graph *g;
    CUresult r = made;
    if (!r)
        r = out ? sg_graph_lookup(hGraph, &g) : CUDA_ERROR_INVALID_VALUE;
    if (!r)
        r = check_deps(g, deps, ndeps);
    if (r) {
        sg_work_free(w);
        return r;
    }
    struct sg_graph_node *n;
    r = sg_graph_add_work(g, w, (struct sg_graph_node *const *)deps, ndeps, &n);
    if (!r)
        *out = (CUgraphNode)n;
    return r;
}

CUresult sg_kernel_node_work(const CUDA_KERNEL_NODE_PARAMS *p, struct sg_work **out)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(p->func ? p->func : (CUfunction)p->kern, &f);
    if (r)
        return r;
    struct sg_launch_cfg cfg = {{p->gridDimX, p->gridDimY, p->gridDimZ},
                                {p->blockDimX, p->blockDimY, p->blockDimZ}, p->sharedMemBytes, 0};
    return sg_kernel_work_new(f, &cfg, p->kernelParams, p->extra, out);
}

CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                                 const CUgraphNode *dependencies, size_t numDependencies,
                                 const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = sg_kernel_node_work(nodeParams, &w);
    return sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, w, r);
}

CUresult cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                              const CUgraphNode *dependencies, size_t numDependencies,
                              const CUDA_MEMCPY3D *copyParams, CUcontext ctx)
{
    struct sg_ctx *c;
    struct sg_work *w = NULL;
    CUresult r = sg_ctx_resolve(ctx, &c);
    if (!r)
        r = sg_copy3d_work_new(copyParams, &w);
    r = sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, w, r);
    if (!r) {
        struct sg_graph_node *n = (struct sg_graph_node *)*phGraphNode;
        n->copy = *copyParams; /* what cuGraphMemcpyNodeGetParams returns */
        n->has_copy = 1;
    }
    return r;
}

CUresult cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                              const CUgraphNode *dependencies, size_t numDependencies,
                              const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx)
{
    struct sg_work *w = NULL;
    CUresult r = sg_memset_node_work(p, ctx, &w);
    return sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, w, r);
}

CUresult sg_memset_node_work(const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx, struct sg_work **out)
{
    struct sg_ctx *c;
    struct sg_work *w = NULL;
    CUresult r = sg_ctx_resolve(ctx, &c);
    if (!r && (!p || (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4)
               || p->dst % p->elementSize || (p->height > 1 && p->pitch < p->width * p->elementSize)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r && p->width && p->height
        && !sg_mem_ok(p->dst, (p->height - 1) * p->pitch + p->width * p->elementSize)
        && !sg_graph_mem_covers(p->dst, (p->height - 1) * p->pitch + p->width * p->elementSize))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r) {
        w = sg_memset_work_new(p->dst, p->pitch, p->value, p->elementSize, p->width, p->height);
        r = w ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    }
    *out = w;
    return r;
}

CUresult cuGraphAddHostNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                            const CUgraphNode *dependencies, size_t numDependencies,
                            const CUDA_HOST_NODE_PARAMS *nodeParams)
{
    struct sg_work *w = NULL;
    CUresult r = nodeParams && nodeParams->fn ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    if (!r) {
        w = sg_host_work_new(nodeParams->fn, nodeParams->userData);
        r = w ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    }
    return sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, w, r);
}

CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                             const CUgraphNode *dependencies, size_t numDependencies)
{
    return sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, NULL, CUDA_SUCCESS);
}

/* Event record and wait nodes differ only in the work item they hold. */
static CUresult add_event_node(CUgraphNode *phGraphNode, CUgraph hGraph,
                               const CUgraphNode *dependencies, size_t numDependencies,
                               CUevent event, struct sg_work *(*make)(struct sg_event *, uint64_t))
{
    struct sg_work *w = NULL;
    CUresult r = sg_handle_is(event, SG_K_EVENT) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
    if (!r) {
        w = make((struct sg_event *)event, 0);
        r = w ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    }
    return sg_graph_api_add(phGraphNode, hGraph, dependencies, numDependencies, w, r);
}

CUresult cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                   const CUgraphNode *dependencies, size_t numDependencies,
                                   CUevent event)
{
    return add_event_node(phGraphNode, hGraph, dependencies, numDependencies, event,
                          sg_work_event_record_new);
}

CUresult cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                 const CUgraphNode *dependencies, size_t numDependencies,
                                 CUevent event)
{
    return add_event_node(phGraphNode, hGraph, dependencies, numDependencies, event,
                          sg_work_event_wait_new);
}

CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_lookup(hNode, &n);
    if (!r && !type)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        *type = n->type;
    return r;
}

/* ---- edges ------------------------------------------------------------------------------------ */

static CUresult add_edges(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to, size_t n)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    if (n && (!from || !to))
        return CUDA_ERROR_INVALID_VALUE;
    r = check_deps(g, from, n);
    if (!r)
        r = check_deps(g, to, n);
    for (size_t i = 0; !r && i < n; i++) {
        if (from[i] == to[i])
            return CUDA_ERROR_INVALID_VALUE;
        if (add_dep((struct sg_graph_node *)to[i], (struct sg_graph_node *)from[i]) != 0)
            r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    return r;
}

#undef cuGraphAddDependencies /* the 10.0 ABI, without edge data */
CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                size_t numDependencies);
CUresult cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                size_t numDependencies)
{
    return add_edges(hGraph, from, to, numDependencies);
}

CUresult cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                   const CUgraphEdgeData *edgeData, size_t numDependencies)
{
    /* only default edges exist here: programmatic edge types need real hardware overlap */
    for (size_t i = 0; edgeData && i < numDependencies; i++)
        if (edgeData[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT || edgeData[i].from_port
            || edgeData[i].to_port)
            return CUDA_ERROR_NOT_SUPPORTED;
    return add_edges(hGraph, from, to, numDependencies);
}

CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    if (!numNodes)
        return CUDA_ERROR_INVALID_VALUE;
    if (nodes)
        for (size_t i = 0; i < g->n && i < *numNodes; i++)
            nodes[i] = (CUgraphNode)g->nodes[i];
    if (!nodes || *numNodes > g->n)
        *numNodes = g->n;
    return CUDA_SUCCESS;
}

static CUresult get_edges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to,
                          CUgraphEdgeData *data, size_t *numEdges)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    if (!numEdges || (!from) != (!to))
        return CUDA_ERROR_INVALID_VALUE;
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->nodes[i]->ndeps; j++, k++)
            if (from && k < *numEdges) {
                from[k] = (CUgraphNode)g->nodes[i]->deps[j];
                to[k] = (CUgraphNode)g->nodes[i];
                if (data)
                    memset(&data[k], 0, sizeof data[k]);
            }
    if (!from || *numEdges > k)
        *numEdges = k;
    return CUDA_SUCCESS;
}

#undef cuGraphGetEdges /* the 10.0 ABI, without edge data */
CUresult cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges);
CUresult cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to, size_t *numEdges)
{
    return get_edges(hGraph, from, to, NULL, numEdges);
}

CUresult cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to,
                            CUgraphEdgeData *edgeData, size_t *numEdges)
{
    return get_edges(hGraph, from, to, edgeData, numEdges);
}

/* Copies g's nodes, edges and user object references into the empty graph c; each copy
 * remembers its original (cuGraphNodeFindInClone). */
CUresult sg_graph_clone_into(struct sg_graph *c, const struct sg_graph *g)
{
    CUresult r = sg_user_refs_copy(&c->users, &g->users);
    /* nodes keep their index, so edges map by position */
    for (size_t i = 0; !r && i < g->n; i++) {
        struct sg_graph_node *n;
        struct sg_work *w = g->nodes[i]->work ? g->nodes[i]->work->clone(g->nodes[i]->work) : NULL;
        if (g->nodes[i]->work && !w)
            r = CUDA_ERROR_OUT_OF_MEMORY;
        else
            r = sg_graph_add_work(c, w, NULL, 0, &n);
        if (!r) {
            n->origin = g->nodes[i]->id;
            r = sg_node_clone_extras(n, g->nodes[i]);
        }
    }
    for (size_t i = 0; !r && i < g->n; i++)
        for (size_t j = 0; j < g->nodes[i]->ndeps; j++) {
            size_t k = 0;
            while (g->nodes[k] != g->nodes[i]->deps[j])
                k++;
            if (add_dep(c->nodes[i], c->nodes[k]) != 0)
                r = CUDA_ERROR_OUT_OF_MEMORY;
        }
    return r;
}

CUresult cuGraphClone(CUgraph *phGraphClone, CUgraph originalGraph)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(originalGraph, &g);
    if (r)
        return r;
    if (!phGraphClone)
        return CUDA_ERROR_INVALID_VALUE;
    if (sg_graph_has_mem_nodes(g))
        return CUDA_ERROR_NOT_SUPPORTED; /* graphs with allocation or free nodes cannot be cloned */
    struct sg_graph *c = sg_graph_new();
    if (!c)
        return CUDA_ERROR_OUT_OF_MEMORY;
    r = sg_graph_clone_into(c, g);
    if (r) {
        sg_graph_free(c);
        return r;
    }
    *phGraphClone = (CUgraph)c;
    return CUDA_SUCCESS;
}

/* ---- structure queries and edits ------------------------------------------------------------ */

static CUresult node_list_out(struct sg_graph_node *const *list, size_t n, CUgraphNode *out,
                              CUgraphEdgeData *edges, size_t *count)
{
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    if (out)
        for (size_t i = 0; i < n && i < *count; i++) {
            out[i] = (CUgraphNode)list[i];
            if (edges)
                memset(&edges[i], 0, sizeof edges[i]);
        }
    if (!out || *count > n)
        *count = n;
    return CUDA_SUCCESS;
}

CUresult cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes)
{
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    struct sg_graph_node **roots = malloc((g->n ? g->n : 1) * sizeof *roots);
    if (!roots)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (!g->nodes[i]->ndeps)
            roots[k++] = g->nodes[i];
    r = node_list_out(roots, k, rootNodes, NULL, numRootNodes);
    free(roots);
    return r;
}

CUresult cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies,
                                       CUgraphEdgeData *edgeData, size_t *numDependencies)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_lookup(hNode, &n);
    return r ? r : node_list_out(n->deps, n->ndeps, dependencies, edgeData, numDependencies);
}

CUresult cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                         CUgraphEdgeData *edgeData, size_t *numDependentNodes)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_lookup(hNode, &n);
    if (r)
        return r;
    struct sg_graph *g = n->graph;
    struct sg_graph_node **outs = malloc((g->n ? g->n : 1) * sizeof *outs);
    if (!outs)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->nodes[i]->ndeps; j++)
            if (g->nodes[i]->deps[j] == n) {
                outs[k++] = g->nodes[i];
                break;
            }
    r = node_list_out(outs, k, dependentNodes, edgeData, numDependentNodes);
    free(outs);
    return r;
}

static void remove_dep(struct sg_graph_node *n, const struct sg_graph_node *dep)
{
    for (size_t i = 0; i < n->ndeps; i++)
        if (n->deps[i] == dep) {
            n->deps[i] = n->deps[--n->ndeps];
            return;
        }
}

CUresult cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                      const CUgraphEdgeData *edgeData, size_t numDependencies)
{
    (void)edgeData; /* only default edges exist */
    struct sg_graph *g;
    CUresult r = sg_graph_lookup(hGraph, &g);
    if (!r && numDependencies && (!from || !to))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        r = check_deps(g, from, numDependencies);
    if (!r)
        r = check_deps(g, to, numDependencies);
    if (r)
        return r;
    for (size_t i = 0; i < numDependencies; i++) {
        struct sg_graph_node *t = (struct sg_graph_node *)to[i];
        size_t j = 0;
        while (j < t->ndeps && t->deps[j] != (struct sg_graph_node *)from[i])
            j++;
        if (j == t->ndeps)
            return CUDA_ERROR_INVALID_VALUE; /* no such edge */
    }
    for (size_t i = 0; i < numDependencies; i++)
        remove_dep((struct sg_graph_node *)to[i], (struct sg_graph_node *)from[i]);
    return CUDA_SUCCESS;
}

CUresult cuGraphDestroyNode(CUgraphNode hNode)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_lookup(hNode, &n);
    if (r)
        return r;
    struct sg_graph *g = n->graph;
    for (size_t i = 0; i < g->n; i++)
        remove_dep(g->nodes[i], n);
    for (size_t i = 0; i < g->n; i++)
        if (g->nodes[i] == n) {
            memmove(&g->nodes[i], &g->nodes[i + 1], (g->n - i - 1) * sizeof *g->nodes);
            g->n--;
            break;
        }
    node_free(n);
    return CUDA_SUCCESS;
}

CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_lookup(hNode, &n);
    if (!r && n->type != CU_GRAPH_NODE_TYPE_KERNEL)
        r = CUDA_ERROR_INVALID_VALUE;
    struct sg_work *w = NULL;
    if (!r)
        r = sg_kernel_node_work(nodeParams, &w);
    if (r)
        return r;
    sg_node_set_work(n, w);
    return CUDA_SUCCESS;
}

/* The 10.0 ABIs of the dependency queries and edits, without edge data. */
#undef cuGraphNodeGetDependencies
#undef cuGraphNodeGetDependentNodes
#undef cuGraphRemoveDependencies
CUresult cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies,
                                    size_t *numDependencies);
CUresult cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                      size_t *numDependentNodes);
CUresult cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                   size_t numDependencies);

CUresult cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies,
                                    size_t *numDependencies)
{
    return cuGraphNodeGetDependencies_v2(hNode, dependencies, NULL, numDependencies);
}

CUresult cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                      size_t *numDependentNodes)
{
    return cuGraphNodeGetDependentNodes_v2(hNode, dependentNodes, NULL, numDependentNodes);
}

CUresult cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from, const CUgraphNode *to,
                                   size_t numDependencies)
{
    return cuGraphRemoveDependencies_v2(hGraph, from, to, NULL, numDependencies);
}
