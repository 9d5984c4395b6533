/*
 * The generic graph-node API of CUDA 12.2 (cuGraphAddNode[_v2], cuGraphNodeSetParams,
 * cuGraphExecNodeSetParams) in the program's process: each node kind the stub forwards goes to
 * its own call (kernel, memcpy, memset, empty, event record and wait, child graph, memory
 * allocation and free, conditional, host, batch memory operation, external semaphore signal
 * and wait), which checks what the node names as a direct call would; the setters likewise go
 * to each kind's setter. Edge data other than the default and a child graph moved into its node
 * are refused by name.
 * May call: graph.c, graph_params.c, callbacks.c and entry.c (the per-kind calls).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

CUresult CUDAAPI cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                const CUgraphNode *dependencies, size_t numDependencies,
                                CUgraphNodeParams *nodeParams);

static CUresult refuse(const char *what)
{
    tfs_unsupported(what);
    return CUDA_ERROR_NOT_SUPPORTED;
}

static CUDA_KERNEL_NODE_PARAMS_v2 kernel_v2(const CUDA_KERNEL_NODE_PARAMS_v3 *k)
{
    return (CUDA_KERNEL_NODE_PARAMS_v2){
        .func = k->func, .gridDimX = k->gridDimX, .gridDimY = k->gridDimY,
        .gridDimZ = k->gridDimZ, .blockDimX = k->blockDimX, .blockDimY = k->blockDimY,
        .blockDimZ = k->blockDimZ, .sharedMemBytes = k->sharedMemBytes,
        .kernelParams = k->kernelParams, .extra = k->extra, .kern = k->kern, .ctx = k->ctx};
}

/* The CUDA 12.2 structures of external semaphore nodes as the older ones (same fields). */
#define SEMS(e) {(e).extSemArray, (e).paramsArray, (e).numExtSems}

static CUDA_MEMSET_NODE_PARAMS memset_v1(const CUDA_MEMSET_NODE_PARAMS_v2 *m)
{
    return (CUDA_MEMSET_NODE_PARAMS){.dst = m->dst, .pitch = m->pitch, .value = m->value,
                                     .elementSize = m->elementSize, .width = m->width,
                                     .height = m->height};
}

static CUDA_BATCH_MEM_OP_NODE_PARAMS memop_v1(const CUDA_BATCH_MEM_OP_NODE_PARAMS_v2 *m)
{
    return (CUDA_BATCH_MEM_OP_NODE_PARAMS){.ctx = m->ctx, .count = m->count,
                                           .paramArray = m->paramArray, .flags = m->flags};
}

/* The body graphs the driver hands out live as long as their node; the stub keeps each array
 * for the program's life (reachable from here). */
struct bodies {
    struct bodies *next;
    CUgraph graphs[];
};
static struct bodies *_Atomic kept_bodies;

static CUresult add_conditional(CUgraphNode *out, CUgraph graph, const CUgraphNode *deps,
                                size_t ndeps, CUDA_CONDITIONAL_NODE_PARAMS *c)
{
    if (!out || !c->size || c->size > 4096 || (ndeps && !deps))
        return CUDA_ERROR_INVALID_VALUE;
    struct bodies *b = calloc(1, sizeof *b + c->size * sizeof b->graphs[0]);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    uint64_t node = 0;
    CUresult r = tfi_add_conditional(graph, ndeps, deps, c->handle, (unsigned)c->type, c->size,
                                     c->ctx, &node, b->graphs);
    if (r != CUDA_SUCCESS) {
        free(b);
        return r;
    }
    b->next = atomic_load(&kept_bodies);
    while (!atomic_compare_exchange_weak(&kept_bodies, &b->next, b))
        ;
    *out = (CUgraphNode)(uintptr_t)node;
    c->phGraph_out = b->graphs;
    return CUDA_SUCCESS;
}

static int default_edges(const CUgraphEdgeData *e, size_t n)
{
    static const CUgraphEdgeData none;
    for (size_t i = 0; e && i < n; i++)
        if (memcmp(&e[i], &none, sizeof none) != 0)
            return 0;
    return 1;
}

CUresult CUDAAPI cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                                   const CUgraphNode *dependencies,
                                   const CUgraphEdgeData *dependencyData, size_t numDependencies,
                                   CUgraphNodeParams *p)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    if (!default_edges(dependencyData, numDependencies))
        return refuse("graph edges with port or type data");
    const CUgraphNode *d = dependencies;
    size_t n = numDependencies;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        CUDA_KERNEL_NODE_PARAMS_v2 k = kernel_v2(&p->kernel);
        return cuGraphAddKernelNode_v2(phGraphNode, hGraph, d, n, &k);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        return cuGraphAddMemcpyNode(phGraphNode, hGraph, d, n, &p->memcpy.copyParams,
                                    p->memcpy.copyCtx);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m = memset_v1(&p->memset);
        return cuGraphAddMemsetNode(phGraphNode, hGraph, d, n, &m, p->memset.ctx);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        CUDA_HOST_NODE_PARAMS h = {.fn = p->host.fn, .userData = p->host.userData};
        return cuGraphAddHostNode(phGraphNode, hGraph, d, n, &h);
    }
    case CU_GRAPH_NODE_TYPE_BATCH_MEM_OP: {
        CUDA_BATCH_MEM_OP_NODE_PARAMS m = memop_v1(&p->memOp);
        return cuGraphAddBatchMemOpNode(phGraphNode, hGraph, d, n, &m);
    }
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL: {
        CUDA_EXT_SEM_SIGNAL_NODE_PARAMS e = SEMS(p->extSemSignal);
        return cuGraphAddExternalSemaphoresSignalNode(phGraphNode, hGraph, d, n, &e);
    }
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT: {
        CUDA_EXT_SEM_WAIT_NODE_PARAMS e = SEMS(p->extSemWait);
        return cuGraphAddExternalSemaphoresWaitNode(phGraphNode, hGraph, d, n, &e);
    }
    case CU_GRAPH_NODE_TYPE_EMPTY:
        return cuGraphAddEmptyNode(phGraphNode, hGraph, d, n);
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        return cuGraphAddEventRecordNode(phGraphNode, hGraph, d, n, p->eventRecord.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        return cuGraphAddEventWaitNode(phGraphNode, hGraph, d, n, p->eventWait.event);
    case CU_GRAPH_NODE_TYPE_GRAPH:
        if (p->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE)
            return refuse("child graphs moved into their node");
        return cuGraphAddChildGraphNode(phGraphNode, hGraph, d, n, p->graph.graph);
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
        CUDA_MEM_ALLOC_NODE_PARAMS a = {.poolProps = p->alloc.poolProps,
                                        .accessDescs = p->alloc.accessDescs,
                                        .accessDescCount = p->alloc.accessDescCount,
                                        .bytesize = p->alloc.bytesize};
        CUresult r = cuGraphAddMemAllocNode(phGraphNode, hGraph, d, n, &a);
        p->alloc.dptr = a.dptr;
        return r;
    }
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
        return cuGraphAddMemFreeNode(phGraphNode, hGraph, d, n, p->free.dptr);
    case CU_GRAPH_NODE_TYPE_CONDITIONAL:
        return add_conditional(phGraphNode, hGraph, d, n, &p->conditional);
    default:
        return refuse("graph nodes of this kind");
    }
}

CUresult CUDAAPI cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                const CUgraphNode *dependencies, size_t numDependencies,
                                CUgraphNodeParams *nodeParams)
{
    return cuGraphAddNode_v2(phGraphNode, hGraph, dependencies, NULL, numDependencies,
                             nodeParams);
}

/* A graph's node (exec NULL) or an executable graph's: each kind to its own setter. */
static CUresult set_params(CUgraphExec exec, CUgraphNode node, CUgraphNodeParams *p)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
        CUDA_KERNEL_NODE_PARAMS_v2 k = kernel_v2(&p->kernel);
        return exec ? cuGraphExecKernelNodeSetParams_v2(exec, node, &k)
                    : cuGraphKernelNodeSetParams_v2(node, &k);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
        return exec ? cuGraphExecMemcpyNodeSetParams(exec, node, &p->memcpy.copyParams,
                                                     p->memcpy.copyCtx)
                    : cuGraphMemcpyNodeSetParams(node, &p->memcpy.copyParams);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m = memset_v1(&p->memset);
        return exec ? cuGraphExecMemsetNodeSetParams(exec, node, &m, p->memset.ctx)
                    : cuGraphMemsetNodeSetParams(node, &m);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
        CUDA_HOST_NODE_PARAMS h = {.fn = p->host.fn, .userData = p->host.userData};
        return exec ? cuGraphExecHostNodeSetParams(exec, node, &h)
                    : cuGraphHostNodeSetParams(node, &h);
    }
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        return exec ? cuGraphExecEventRecordNodeSetEvent(exec, node, p->eventRecord.event)
                    : cuGraphEventRecordNodeSetEvent(node, p->eventRecord.event);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        return exec ? cuGraphExecEventWaitNodeSetEvent(exec, node, p->eventWait.event)
                    : cuGraphEventWaitNodeSetEvent(node, p->eventWait.event);
    case CU_GRAPH_NODE_TYPE_BATCH_MEM_OP: {
        CUDA_BATCH_MEM_OP_NODE_PARAMS m = memop_v1(&p->memOp);
        return exec ? cuGraphExecBatchMemOpNodeSetParams(exec, node, &m)
                    : cuGraphBatchMemOpNodeSetParams(node, &m);
    }
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL: {
        CUDA_EXT_SEM_SIGNAL_NODE_PARAMS e = SEMS(p->extSemSignal);
        return exec ? cuGraphExecExternalSemaphoresSignalNodeSetParams(exec, node, &e)
                    : cuGraphExternalSemaphoresSignalNodeSetParams(node, &e);
    }
    case CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT: {
        CUDA_EXT_SEM_WAIT_NODE_PARAMS e = SEMS(p->extSemWait);
        return exec ? cuGraphExecExternalSemaphoresWaitNodeSetParams(exec, node, &e)
                    : cuGraphExternalSemaphoresWaitNodeSetParams(node, &e);
    }
    case CU_GRAPH_NODE_TYPE_GRAPH:
        if (exec)
            return cuGraphExecChildGraphNodeSetParams(exec, node, p->graph.graph);
        return refuse("cuGraphNodeSetParams on child graph nodes");
    default:
        return refuse("setting the parameters of this kind of graph node");
    }
}

CUresult CUDAAPI cuGraphNodeSetParams(CUgraphNode hNode, CUgraphNodeParams *p)
{
    return set_params(NULL, hNode, p);
}

CUresult CUDAAPI cuGraphExecNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                          CUgraphNodeParams *p)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_params(hGraphExec, hNode, p);
}
