/*
 * What a graph says of itself, in the program's process: root nodes, edges, a node's
 * dependencies and dependents (tfi_graph_query), and a node's counterpart in a clone
 * (tfi_node_in_clone). The driver's rule for the lists: a NULL array asks for the count; else
 * as many entries as *num are filled, the rest of them set to NULL, and *num becomes the count.
 * May call: entry.c (tfi_graph_query, tfi_node_in_clone).
 */
#include <stdlib.h>
#include <string.h>

#include "stub.h"

/* One query: `a` (and `b` for edges) receive nodes, `e` edge data (may be NULL). */
static CUresult listing(unsigned what, uint64_t h, CUgraphNode *a, CUgraphNode *b,
                        CUgraphEdgeData *e, size_t *num)
{
    if (!num)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t cap = a ? *num : 0, count = 0;
    if (cap > TFP_MAX_GRAPH_DEPS * 16u)
        cap = TFP_MAX_GRAPH_DEPS * 16u;
    uint64_t *fa = cap ? calloc(cap, sizeof *fa) : NULL;
    uint64_t *fb = cap ? calloc(cap, sizeof *fb) : NULL;
    CUgraphEdgeData *fe = cap && e ? calloc(cap, sizeof *fe) : NULL;
    CUresult r = cap && (!fa || !fb || (e && !fe))
                     ? CUDA_ERROR_OUT_OF_MEMORY
                     : tfi_graph_query(what, h, cap, e != NULL, &count, fa, fb, fe);
    for (uint64_t i = 0; r == CUDA_SUCCESS && i < cap; i++) {
        int filled = i < count;
        a[i] = filled ? (CUgraphNode)(uintptr_t)fa[i] : NULL;
        if (b)
            b[i] = filled ? (CUgraphNode)(uintptr_t)fb[i] : NULL;
        if (e && filled)
            e[i] = fe[i];
        else if (e)
            memset(&e[i], 0, sizeof e[i]);
    }
    if (r == CUDA_SUCCESS)
        *num = (size_t)count;
    free(fa);
    free(fb);
    free(fe);
    return r;
}

CUresult CUDAAPI cuGraphGetRootNodes(CUgraph hGraph, CUgraphNode *rootNodes, size_t *numRootNodes)
{
    return listing(0, (uint64_t)(uintptr_t)hGraph, rootNodes, NULL, NULL, numRootNodes);
}

CUresult CUDAAPI cuGraphGetEdges_v2(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to,
                                    CUgraphEdgeData *edgeData, size_t *numEdges)
{
    if ((from == NULL) != (to == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    return listing(1, (uint64_t)(uintptr_t)hGraph, from, to, from ? edgeData : NULL, numEdges);
}

CUresult CUDAAPI cuGraphGetEdges(CUgraph hGraph, CUgraphNode *from, CUgraphNode *to,
                                 size_t *numEdges)
{
    return cuGraphGetEdges_v2(hGraph, from, to, NULL, numEdges);
}

CUresult CUDAAPI cuGraphNodeGetDependencies_v2(CUgraphNode hNode, CUgraphNode *dependencies,
                                               CUgraphEdgeData *edgeData, size_t *numDependencies)
{
    return listing(2, (uint64_t)(uintptr_t)hNode, dependencies, NULL,
                   dependencies ? edgeData : NULL, numDependencies);
}

CUresult CUDAAPI cuGraphNodeGetDependencies(CUgraphNode hNode, CUgraphNode *dependencies,
                                            size_t *numDependencies)
{
    return cuGraphNodeGetDependencies_v2(hNode, dependencies, NULL, numDependencies);
}

CUresult CUDAAPI cuGraphNodeGetDependentNodes_v2(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                                 CUgraphEdgeData *edgeData,
                                                 size_t *numDependentNodes)
{
    return listing(3, (uint64_t)(uintptr_t)hNode, dependentNodes, NULL,
                   dependentNodes ? edgeData : NULL, numDependentNodes);
}

CUresult CUDAAPI cuGraphNodeGetDependentNodes(CUgraphNode hNode, CUgraphNode *dependentNodes,
                                              size_t *numDependentNodes)
{
    return cuGraphNodeGetDependentNodes_v2(hNode, dependentNodes, NULL, numDependentNodes);
}

CUresult CUDAAPI cuGraphNodeFindInClone(CUgraphNode *phNode, CUgraphNode hOriginalNode,
                                        CUgraph hClonedGraph)
{
    if (!phNode)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t node = 0;
    CUresult r = tfi_node_in_clone(hOriginalNode, hClonedGraph, &node);
    if (r == CUDA_SUCCESS)
        *phNode = (CUgraphNode)(uintptr_t)node;
    return r;
}
