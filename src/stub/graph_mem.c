/*
 * Graph memory nodes in the program's process: the encoders of cuGraphAddMemAllocNode (the node
 * header, the pool properties, the access descriptors and the size; the reply adds the address
 * the graph will allocate at) and cuGraphAddMemFreeNode (the header and the address). Their
 * decoders are src/worker/graph_mem.c.
 * May call: graph.c (node requests), local.c (the record of device allocations).
 */
#include "stub.h"

#define MAX_ACCESS_DESCS 64

CUresult CUDAAPI cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                        const CUgraphNode *dependencies, size_t numDependencies,
                                        CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams)
{
    if (!nodeParams || (nodeParams->accessDescCount && !nodeParams->accessDescs) ||
        nodeParams->accessDescCount > MAX_ACCESS_DESCS)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddMemAllocNode, phGraphNode, hGraph,
                                dependencies, numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put(c.w, &nodeParams->poolProps, sizeof nodeParams->poolProps);
    tfp_put_u64(c.w, nodeParams->accessDescCount);
    tfp_put(c.w, nodeParams->accessDescs,
            nodeParams->accessDescCount * sizeof *nodeParams->accessDescs);
    tfp_put_u64(c.w, nodeParams->bytesize);
    r = tfs_transact(&c);
    uint64_t node = 0, dptr = 0;
    if (r == CUDA_SUCCESS) {
        node = tfs_get_u64(&c);
        dptr = tfs_get_u64(&c);
    }
    r = tfs_end(&c, r);
    if (r == CUDA_SUCCESS) {
        *phGraphNode = (CUgraphNode)(uintptr_t)node;
        nodeParams->dptr = (CUdeviceptr)dptr;
        tfs_dev_add(nodeParams->dptr, nodeParams->bytesize);
    }
    return r;
}

CUresult CUDAAPI cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                       const CUgraphNode *dependencies, size_t numDependencies,
                                       CUdeviceptr dptr)
{
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddMemFreeNode, phGraphNode, hGraph,
                                dependencies, numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)dptr);
    return tfs_node_finish(&c, phGraphNode);
}
