/*
 * Changing an executable graph: enabling and disabling nodes, per-node updates
 * (sg_exec_set_work, behind every cuGraphExec*SetParams), cuGraphExecChildGraphNodeSetParams
 * and cuGraphExecUpdate (both ABIs), which keep the executable graph's topology and replace
 * what its nodes run. Calls graph_exec.c, graph_nodes.c, graph_mem.c and extmem.c.
 */
#include <stdlib.h>

#include "graph.h"

/* ---- enabling and updating nodes -------------------------------------------------------------- */

static CUresult exec_index(struct sg_graph_exec *x, CUgraphNode h, size_t *out)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    for (size_t i = 0; i < x->n; i++)
        if (x->source[i] == (struct sg_graph_node *)h || x->alias[i] == (struct sg_graph_node *)h) {
            *out = i;
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_VALUE;
}

/* What an executable graph's node cannot change: an external semaphore node's number of
 * semaphores (cuGraphExecExternalSemaphores*NodeSetParams, cuGraphExecUpdate). */
static int fixed_params_changed(CUgraphNodeType type, const struct sg_work *was,
                                const struct sg_work *now)
{
    if (type != CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL && type != CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT)
        return 0;
    CUexternalSemaphore *sems;
    const void *params;
    unsigned a, b;
    sg_extsem_work_describe(was, &sems, &params, &a);
    sg_extsem_work_describe(now, &sems, &params, &b);
    return a != b;
}

CUresult sg_exec_set_work(struct sg_graph_exec *x, CUgraphNode h, CUgraphNodeType type,
                          struct sg_work *w)
{
    size_t i;
    CUresult r = exec_index(x, h, &i);
    if (!r && (x->types[i] != type || fixed_params_changed(type, x->works[i], w)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r) {
        sg_work_free(w);
        return r;
    }
    pthread_mutex_lock(&x->lock);
    struct sg_work *old = x->works[i];
    x->works[i] = w;
    pthread_mutex_unlock(&x->lock);
    sg_work_free(old);
    return CUDA_SUCCESS;
}

static CUresult enabled_index(CUgraphExec hGraphExec, CUgraphNode hNode,
                              struct sg_graph_exec **x, size_t *i)
{
    CUresult r = sg_exec_lookup(hGraphExec, x);
    if (!r)
        r = exec_index(*x, hNode, i);
    if (r)
        return r;
    CUgraphNodeType t = (*x)->types[*i];
    return t == CU_GRAPH_NODE_TYPE_KERNEL || t == CU_GRAPH_NODE_TYPE_MEMCPY
                   || t == CU_GRAPH_NODE_TYPE_MEMSET
               ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGraphNodeSetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int isEnabled)
{
    struct sg_graph_exec *x;
    size_t i;
    CUresult r = enabled_index(hGraphExec, hNode, &x, &i);
    if (!r) {
        pthread_mutex_lock(&x->lock);
        x->enabled[i] = isEnabled != 0;
        pthread_mutex_unlock(&x->lock);
    }
    return r;
}

CUresult cuGraphNodeGetEnabled(CUgraphExec hGraphExec, CUgraphNode hNode, unsigned int *isEnabled)
{
    struct sg_graph_exec *x;
    size_t i;
    CUresult r = isEnabled ? enabled_index(hGraphExec, hNode, &x, &i) : CUDA_ERROR_INVALID_VALUE;
    if (!r)
        *isEnabled = x->enabled[i];
    return r;
}

CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                            CUgraph childGraph)
{
    struct sg_graph_exec *x;
    struct sg_graph *child;
    size_t i;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    if (!r)
        r = sg_graph_lookup(childGraph, &child);
    if (!r)
        r = exec_index(x, hNode, &i);
    if (!r && (x->types[i] != CU_GRAPH_NODE_TYPE_GRAPH || x->shapes[i] != sg_bodies_shape(&child, 1)
               || sg_graph_has_mem_nodes(child)))
        r = CUDA_ERROR_INVALID_VALUE; /* the topology must match the node's graph */
    struct sg_work *w = NULL;
    if (!r)
        r = sg_graph_program(child, &w);
    return r ? r : sg_exec_set_work(x, hNode, CU_GRAPH_NODE_TYPE_GRAPH, w);
}

/* Same node count, types, edges (by creation index) and nested shapes as the executable graph:
 * CU_GRAPH_EXEC_UPDATE_SUCCESS or why not, with the node at fault in *bad. */
static CUgraphExecUpdateResult update_check(const struct sg_graph_exec *x, const struct sg_graph *g,
                                            CUgraphNode *bad)
{
    *bad = NULL;
    if (x->n != g->n)
        return CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
    for (size_t i = 0; i < g->n; i++) {
        const struct sg_graph_node *n = g->nodes[i];
        *bad = (CUgraphNode)n;
        if (n->type != x->types[i])
            return CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
        if (n->ndeps != x->ndeps[i] || sg_bodies_shape(n->bodies, n->nbodies) != x->shapes[i])
            return CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
        for (size_t k = 0; k < n->ndeps; k++)
            if (sg_node_index(g, n->deps[k]) != x->deps[i][k])
                return CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
        int mem = n->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC || n->type == CU_GRAPH_NODE_TYPE_MEM_FREE;
        if (mem && sg_gmem_of(n->work) != sg_gmem_of(x->works[i]))
            return CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED; /* allocations cannot change */
        if (fixed_params_changed(n->type, x->works[i], n->work))
            return CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED;
    }
    *bad = NULL;
    return CU_GRAPH_EXEC_UPDATE_SUCCESS;
}

static CUresult fresh_works(const struct sg_graph *g, struct sg_work ***out)
{
    struct sg_work **fresh = calloc(g->n ? g->n : 1, sizeof *fresh);
    CUresult r = fresh ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; !r && i < g->n; i++)
        r = sg_node_exec_work(g->nodes[i], &fresh[i]);
    if (r && fresh) {
        for (size_t i = 0; i < g->n; i++)
            sg_work_free(fresh[i]);
        free(fresh);
    }
    *out = r ? NULL : fresh;
    return r;
}

CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
                              CUgraphExecUpdateResultInfo *resultInfo)
{
    struct sg_graph_exec *x;
    struct sg_graph *g;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    if (!r)
        r = sg_graph_lookup(hGraph, &g);
    if (r)
        return r;
    CUgraphNode bad;
    CUgraphExecUpdateResult result = update_check(x, g, &bad);
    if (resultInfo)
        *resultInfo = (CUgraphExecUpdateResultInfo){result, bad, NULL};
    if (result != CU_GRAPH_EXEC_UPDATE_SUCCESS)
        return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
    struct sg_work **fresh;
    r = fresh_works(g, &fresh);
    if (r)
        return r;
    pthread_mutex_lock(&x->lock);
    struct sg_work **old = x->works;
    x->works = fresh;
    for (size_t i = 0; i < x->n; i++)
        x->alias[i] = g->nodes[i]; /* both graphs' nodes name the exec's nodes from now on */
    pthread_mutex_unlock(&x->lock);
    for (size_t i = 0; i < x->n; i++)
        sg_work_free(old[i]);
    free(old);
    return CUDA_SUCCESS;
}

/* The 10.2 ABI: the error node and the result as two outputs. */
#undef cuGraphExecUpdate
CUresult cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out,
                           CUgraphExecUpdateResult *updateResult_out);
CUresult cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out,
                           CUgraphExecUpdateResult *updateResult_out)
{
    if (!hErrorNode_out || !updateResult_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUgraphExecUpdateResultInfo info = {CU_GRAPH_EXEC_UPDATE_ERROR, NULL, NULL};
    CUresult r = cuGraphExecUpdate_v2(hGraphExec, hGraph, &info);
    *hErrorNode_out = info.errorNode;
    *updateResult_out = info.result;
    return r;
}
