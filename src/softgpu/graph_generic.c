/*
 * The generic node API: cuGraphAddNode (12.2 ABI) and cuGraphAddNode_v2 (with edge data),
 * cuGraphNodeSetParams and cuGraphExecNodeSetParams, which dispatch on CUgraphNodeParams.type
 * to each kind's constructor or setter. Calls graph.c, graph_nodes.c, graph_cond.c,
 * graph_mem.c, memop.c, extmem.c (semaphore nodes' work) and graph_update.c.
 */
#include <string.h>

#include "graph.h"

/* Reserved fields must be zero (CUgraphNodeParams). */
static int reserved_clear(const CUgraphNodeParams *p)
{
    return !p->reserved0[0] && !p->reserved0[1] && !p->reserved0[2] && !p->reserved2;
}

static CUresult kernel_from_v3(const CUDA_KERNEL_NODE_PARAMS_v3 *k, struct sg_work **out)
{
    CUDA_KERNEL_NODE_PARAMS p;
    memcpy(&p, k, sizeof p); /* v3 has v2's layout */
    return sg_kernel_node_work(&p, out);
}

static CUresult event_kind_work(CUgraphNodeType type, CUevent ev, struct sg_work **out)
{
    if (!sg_handle_is(ev, SG_K_EVENT))
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_event *e = (struct sg_event *)ev;
    *out = type == CU_GRAPH_NODE_TYPE_EVENT_RECORD ? sg_work_event_record_new(e, 0)
                                                   : sg_work_event_wait_new(e, 0);
    return *out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* The work item of a node kind whose parameters fully describe it; NOT_SUPPORTED for kinds that
 * are made otherwise (child graphs, conditionals, allocations, frees, empty nodes). */
static CUresult work_from_params(const CUgraphNodeParams *p, struct sg_work **out)
{
    *out = NULL;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL:
        return kernel_from_v3(&p->kernel, out);
    case CU_GRAPH_NODE_TYPE_MEMCPY: {
        struct sg_ctx *c;
        CUresult r = sg_ctx_resolve(p->memcpy.copyCtx, &c);
        return r ? r : p->memcpy.flags ? CUDA_ERROR_INVALID_VALUE
                                       : sg_copy3d_work_new(&p->memcpy.copyParams, out);
    }
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m = {p->memset.dst, p->memset.pitch, p->memset.value,
                                     p->memset.elementSize, p->memset.width, p->memset.height};
        return sg_memset_node_work(&m, p->memset.ctx, out);
    }
    case CU_GRAPH_NODE_TYPE_HOST:
        if (!p->host.fn)
            return CUDA_ERROR_INVALID_VALUE;
        *out = sg_host_work_new(p->host.fn, p->host.userData);
        return *out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        return event_kind_work(p->type, p->eventRecord.event, out);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        return event_kind_work(p->type, p->eventWait.event, out);
    case CU_GRAPH_NODE_TYPE_BATCH_MEM_OP: {
        const CUDA_BATCH_MEM_OP_NODE_PARAMS_v2 *m = &p->memOp;
        return sg_memop_work_new(m->ctx, m->count, m->paramArray, m->flags, 1, out);
    }
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL:
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT: {
        const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS_v2 *e = &p->extSemSignal; /* extSemWait's layout */
        return sg_extsem_work_new(e->extSemArray, e->paramsArray, e->numExtSems,
                                  p->type == CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL, out);
    }
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

static CUresult add_generic(CUgraphNode *out, CUgraph hGraph, const CUgraphNode *deps,
                            size_t ndeps, CUgraphNodeParams *p)
{
    if (!p || !reserved_clear(p))
        return CUDA_ERROR_INVALID_VALUE;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_EMPTY:
        return sg_graph_api_add(out, hGraph, deps, ndeps, NULL, CUDA_SUCCESS);
    case CU_GRAPH_NODE_TYPE_GRAPH:
        if (p->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE
            && p->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE)
            return CUDA_ERROR_INVALID_VALUE;
        return sg_child_node_new(out, hGraph, deps, ndeps, p->graph.graph,
                                 p->graph.ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE);
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        return sg_cond_node_new(out, hGraph, deps, ndeps, &p->conditional);
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
        CUDA_MEM_ALLOC_NODE_PARAMS a; /* v1 and v2 share a layout */
        memcpy(&a, &p->alloc, sizeof a);
        CUresult r = sg_mem_alloc_node_new(out, hGraph, deps, ndeps, &a);
        p->alloc.dptr = a.dptr;
        return r;
    }
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
        return sg_mem_free_node_new(out, hGraph, deps, ndeps, p->free.dptr);
    default: {
        struct sg_work *w = NULL;
        CUresult r = work_from_params(p, &w);
        r = sg_graph_api_add(out, hGraph, deps, ndeps, w, r);
        if (!r && p->type == CU_GRAPH_NODE_TYPE_MEMCPY) {
            struct sg_graph_node *n = (struct sg_graph_node *)*out;
            n->copy = p->memcpy.copyParams;
            n->has_copy = 1;
        }
        return r;
    }
    }
}

#undef cuGraphAddNode /* the 12.2 ABI, without edge data */
CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                        size_t numDependencies, CUgraphNodeParams *nodeParams);
CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                        size_t numDependencies, CUgraphNodeParams *nodeParams)
{
    return add_generic(phGraphNode, hGraph, dependencies, numDependencies, nodeParams);
}

CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                           const CUgraphEdgeData *dependencyData, size_t numDependencies,
                           CUgraphNodeParams *nodeParams)
{
    /* only default edges exist here: programmatic edge types need real hardware overlap */
    for (size_t i = 0; dependencyData && i < numDependencies; i++)
        if (dependencyData[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT
            || dependencyData[i].from_port || dependencyData[i].to_port)
            return CUDA_ERROR_NOT_SUPPORTED;
    return add_generic(phGraphNode, hGraph, dependencies, numDependencies, nodeParams);
}

CUresult cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *nodeParams)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_lookup(hNode, &n);
    if (!r && (!nodeParams || !reserved_clear(nodeParams) || nodeParams->type != n->type))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r)
        return r;
    if (n->type == CU_GRAPH_NODE_TYPE_GRAPH) {
        struct sg_graph_node *fresh; /* a clone of the new child graph replaces the old one */
        CUgraphNode h;
        r = sg_child_node_new(&h, (CUgraph)n->graph, NULL, 0, nodeParams->graph.graph, 0);
        if (r)
            return r;
        fresh = (struct sg_graph_node *)h;
        struct sg_graph *body = fresh->bodies[0];
        fresh->bodies[0] = n->bodies[0];
        n->bodies[0] = body;
        return cuGraphDestroyNode(h);
    }
    struct sg_work *w = NULL;
    r = work_from_params(nodeParams, &w);
    if (r)
        return r;
    sg_node_set_work(n, w);
    if (n->type == CU_GRAPH_NODE_TYPE_MEMCPY) {
        n->copy = nodeParams->memcpy.copyParams;
        n->has_copy = 1;
    }
    return CUDA_SUCCESS;
}

CUresult cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                  CUgraphNodeParams *nodeParams)
{
    struct sg_graph_exec *x;
    CUresult r = sg_exec_lookup(hGraphExec, &x);
    if (!r && (!nodeParams || !reserved_clear(nodeParams)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r)
        return r;
    if (nodeParams->type == CU_GRAPH_NODE_TYPE_GRAPH)
        return cuGraphExecChildGraphNodeSetParams(hGraphExec, hNode, nodeParams->graph.graph);
    struct sg_work *w = NULL;
    r = work_from_params(nodeParams, &w);
    return r ? r : sg_exec_set_work(x, hNode, nodeParams->type, w);
}
