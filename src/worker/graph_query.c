/*
 * What a graph says of itself: its root nodes and edges, a node's dependencies and dependents
 * (tfi_graph_query), and the node of a clone that stands for a node of its original
 * (tfi_node_in_clone), and an executable graph's update with its result even when it fails
 * (tfi_graph_exec_update). Every node listed becomes a node of its graph in the session, so that
 * later requests may name it; nothing else of the graph changes.
 * May call: the session's records, the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker_int.h"

static void record_node(struct tfw_session *s, uint64_t node, uint64_t graph)
{
    if (node && tfw_handles_kind(&s->handles, node) == TFW_K_NONE &&
        tfw_handles_add_child(&s->handles, node, TFW_K_NODE, graph) != 0)
        tf_error("out of memory recording a graph node: the session will refuse it");
}

/* Runs the query into a (and b for edges): n holds the capacity, then the count. */
static CUresult query(struct tfw_session *s, unsigned what, uint64_t h, CUgraphNode *a,
                      CUgraphNode *b, CUgraphEdgeData *e, size_t *n)
{
    switch (what) {
    case 0:
        return s->be.cuGraphGetRootNodes
                   ? s->be.cuGraphGetRootNodes((CUgraph)(uintptr_t)h, a, n)
                   : CUDA_ERROR_NOT_SUPPORTED;
    case 1:
        return s->be.cuGraphGetEdges_v2
                   ? s->be.cuGraphGetEdges_v2((CUgraph)(uintptr_t)h, a, b, e, n)
                   : CUDA_ERROR_NOT_SUPPORTED;
    case 2:
        return s->be.cuGraphNodeGetDependencies_v2
                   ? s->be.cuGraphNodeGetDependencies_v2((CUgraphNode)(uintptr_t)h, a, e, n)
                   : CUDA_ERROR_NOT_SUPPORTED;
    default:
        return s->be.cuGraphNodeGetDependentNodes_v2
                   ? s->be.cuGraphNodeGetDependentNodes_v2((CUgraphNode)(uintptr_t)h, a, e, n)
                   : CUDA_ERROR_NOT_SUPPORTED;
    }
}

CUresult tfw_tfi_graph_query(unsigned int what, uint64_t handle, uint64_t capacity,
                             unsigned int edges, uint64_t *count, void *first, void *second,
                             void *edgeData)
{
    struct tfw_session *s = tfw_self;
    if (what > 3 || edges > 1)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfw_check_handle(s, what < 2 ? TFW_K_GRAPH : TFW_K_NODE, handle);
    if (r != CUDA_SUCCESS || !handle)
        return r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_VALUE;
    uint64_t graph = what < 2 ? handle : tfw_handles_parent(&s->handles, handle);
    CUgraphNode *a = capacity ? calloc(capacity, sizeof *a) : NULL;
    CUgraphNode *b = capacity && what == 1 ? calloc(capacity, sizeof *b) : NULL;
    CUgraphEdgeData *e = capacity && edges ? calloc(capacity, sizeof *e) : NULL;
    size_t n = capacity;
    if (capacity && (!a || (what == 1 && !b) || (edges && !e)))
        r = CUDA_ERROR_OUT_OF_MEMORY;
    else
        r = query(s, what, handle, a, b, e, &n);
    for (uint64_t i = 0; r == CUDA_SUCCESS && i < capacity && i < n; i++) {
        uint64_t ka = (uint64_t)(uintptr_t)a[i], kb = b ? (uint64_t)(uintptr_t)b[i] : 0;
        record_node(s, ka, graph);
        record_node(s, kb, graph);
        memcpy((uint8_t *)first + i * sizeof ka, &ka, sizeof ka);
        memcpy((uint8_t *)second + i * sizeof kb, &kb, sizeof kb);
        if (e && edgeData)
            memcpy((uint8_t *)edgeData + i * sizeof *e, &e[i], sizeof *e);
    }
    if (r == CUDA_SUCCESS)
        *count = n;
    free(a);
    free(b);
    free(e);
    return r;
}

CUresult tfw_tfi_node_in_clone(CUgraphNode original, CUgraph clone, uint64_t *node)
{
    struct tfw_session *s = tfw_self;
    if (!original || !clone)
        return CUDA_ERROR_INVALID_VALUE;
    if (!s->be.cuGraphNodeFindInClone)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUgraphNode found = NULL;
    CUresult r = s->be.cuGraphNodeFindInClone(&found, original, clone);
    if (r == CUDA_SUCCESS) {
        *node = (uint64_t)(uintptr_t)found;
        record_node(s, *node, (uint64_t)(uintptr_t)clone);
    }
    return r;
}

/* cuGraphExecUpdate_v2 with its result returned on failure too (calls_stream.def says why). */
CUresult tfw_tfi_graph_exec_update(CUgraphExec hGraphExec, CUgraph hGraph,
                                   CUgraphExecUpdateResultInfo *resultInfo, int *status)
{
    struct tfw_session *s = tfw_self;
    memset(resultInfo, 0, sizeof *resultInfo);
    if (!s->be.cuGraphExecUpdate_v2)
        return CUDA_ERROR_NOT_SUPPORTED;
    *status = (int)s->be.cuGraphExecUpdate_v2(hGraphExec, hGraph, resultInfo);
    return CUDA_SUCCESS;
}
