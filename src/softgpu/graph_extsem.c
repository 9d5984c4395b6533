/*
 * External semaphore graph nodes: cuGraphAddExternalSemaphoresSignalNode / WaitNode, their
 * Get/SetParams and cuGraphExecExternalSemaphores*NodeSetParams. A node holds the same work
 * item as cuSignalExternalSemaphoresAsync / cuWaitExternalSemaphoresAsync (extmem.c), so a
 * launch signals or waits in the graph's order, a captured call is such a node, and the getters
 * hand out the arrays the work item keeps. An executable graph's node keeps its number of
 * semaphores (graph_update.c checks it). Calls extmem.c, graph.c and graph_nodes.c.
 */
#include "graph.h"

typedef CUDA_EXT_SEM_SIGNAL_NODE_PARAMS sig_params;
typedef CUDA_EXT_SEM_WAIT_NODE_PARAMS wait_params;
/* The wait node's parameters have the signal node's layout (only their arrays' types differ),
 * so one set of helpers serves both kinds; `signal` says which. */
_Static_assert(sizeof(sig_params) == sizeof(wait_params), "one layout");
#define AS_SIG(p) ((const sig_params *)(const void *)(p))

static CUgraphNodeType kind(int signal)
{
    return signal ? CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL : CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT;
}

static CUresult node_work(const sig_params *p, int signal, struct sg_work **out)
{
    *out = NULL;
    return p ? sg_extsem_work_new(p->extSemArray, p->paramsArray, p->numExtSems, signal, out)
             : CUDA_ERROR_INVALID_VALUE;
}

static CUresult add(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t ndeps,
                    const sig_params *p, int signal)
{
    struct sg_work *w;
    CUresult r = node_work(p, signal, &w);
    return sg_graph_api_add(out, g, deps, ndeps, w, r);
}

/* The arrays are the node's own, valid until it is changed or destroyed (as the driver's). */
static CUresult get(CUgraphNode hNode, sig_params *out, int signal)
{
    struct sg_graph_node *n;
    CUresult r = sg_node_of_type(hNode, kind(signal), &n);
    if (!r && !out)
        r = CUDA_ERROR_INVALID_VALUE;
    const void *params;
    if (!r) {
        sg_extsem_work_describe(n->work, &out->extSemArray, &params, &out->numExtSems);
        out->paramsArray = params;
    }
    return r;
}

static CUresult set(CUgraphNode hNode, const sig_params *p, int signal)
{
    struct sg_work *w;
    CUresult r = node_work(p, signal, &w);
    return sg_node_replace(hNode, kind(signal), w, r);
}

static CUresult exec_set(CUgraphExec hx, CUgraphNode hNode, const sig_params *p, int signal)
{
    struct sg_work *w;
    CUresult r = node_work(p, signal, &w);
    return sg_exec_replace(hx, hNode, kind(signal), w, r);
}

CUresult cuGraphAddExternalSemaphoresSignalNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                                const CUgraphNode *dependencies,
                                                size_t numDependencies,
                                                const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *nodeParams)
{
    return add(phGraphNode, hGraph, dependencies, numDependencies, nodeParams, 1);
}

CUresult cuGraphAddExternalSemaphoresWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                              const CUgraphNode *dependencies,
                                              size_t numDependencies,
                                              const CUDA_EXT_SEM_WAIT_NODE_PARAMS *nodeParams)
{
    return add(phGraphNode, hGraph, dependencies, numDependencies, AS_SIG(nodeParams), 0);
}

CUresult cuGraphExternalSemaphoresSignalNodeGetParams(CUgraphNode hNode,
                                                      CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *params_out)
{
    return get(hNode, params_out, 1);
}

CUresult cuGraphExternalSemaphoresWaitNodeGetParams(CUgraphNode hNode,
                                                    CUDA_EXT_SEM_WAIT_NODE_PARAMS *params_out)
{
    return get(hNode, (sig_params *)(void *)params_out, 0);
}

CUresult cuGraphExternalSemaphoresSignalNodeSetParams(
    CUgraphNode hNode, const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *nodeParams)
{
    return set(hNode, nodeParams, 1);
}

CUresult cuGraphExternalSemaphoresWaitNodeSetParams(CUgraphNode hNode,
                                                    const CUDA_EXT_SEM_WAIT_NODE_PARAMS *nodeParams)
{
    return set(hNode, AS_SIG(nodeParams), 0);
}

CUresult cuGraphExecExternalSemaphoresSignalNodeSetParams(
    CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_EXT_SEM_SIGNAL_NODE_PARAMS *nodeParams)
{
    return exec_set(hGraphExec, hNode, nodeParams, 1);
}

CUresult cuGraphExecExternalSemaphoresWaitNodeSetParams(
    CUgraphExec hGraphExec, CUgraphNode hNode, const CUDA_EXT_SEM_WAIT_NODE_PARAMS *nodeParams)
{
    return exec_set(hGraphExec, hNode, AS_SIG(nodeParams), 0);
}
