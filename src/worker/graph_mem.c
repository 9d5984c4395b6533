/*
 * Graph memory nodes (the decoders of src/stub/graph_mem.c). An allocation node takes device
 * memory at every launch and the driver keeps it for the next one, so its size is charged to the
 * vGPU when the node is made and stays charged for the session (as a captured stream-ordered
 * allocation is: enforce.c); its address becomes one of the session's allocations, so the
 * graph's other nodes may name it. The pool properties' and access descriptors' devices are the
 * session's ordinals, renumbered for the backend.
 * May call: graph_int.h (node headers), devmap.h, enforce.h, the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "devmap.h"
#include "enforce.h"
#include "graph_int.h"

#define MAX_ACCESS_DESCS 64

CUresult tfw_custom_cuGraphAddMemAllocNode(struct tfw_session *s, struct tfp_reader *in,
                                           struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddMemAllocNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    CUDA_MEM_ALLOC_NODE_PARAMS p = {0};
    CUmemAccessDesc descs[MAX_ACCESS_DESCS];
    tfp_get(in, &p.poolProps, sizeof p.poolProps);
    p.accessDescCount = tfp_get_u64(in);
    if (p.accessDescCount > MAX_ACCESS_DESCS)
        return tfw_malformed(s, call, "too many access descriptors");
    tfp_get(in, descs, p.accessDescCount * sizeof descs[0]);
    p.bytesize = tfp_get_u64(in);
    TFW_DONE_READING(call);
    r = tfw_devmap_location(s, &p.poolProps.location);
    for (size_t i = 0; r == CUDA_SUCCESS && i < p.accessDescCount; i++)
        r = tfw_devmap_location(s, &descs[i].location);
    if (r != CUDA_SUCCESS)
        return r;
    p.accessDescs = p.accessDescCount ? descs : NULL;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    if (!s->be.cuGraphAddMemAllocNode) {
        free(deps);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if ((r = tfw_limits_reserve(s, p.bytesize)) != CUDA_SUCCESS) {
        free(deps);
        return r;
    }
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddMemAllocNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps, &p);
    if (r != CUDA_SUCCESS)
        tfw_limits_release(s, p.bytesize);
    r = tfw_node_made(s, out, &h, deps, r, node);
    if (r == CUDA_SUCCESS) {
        tfw_record_alloc(s, p.dptr, p.bytesize);
        tfp_put_u64(out, (uint64_t)p.dptr);
    }
    return r;
}

/* The address freed must be one the session holds (an allocation node's, or its own). */
CUresult tfw_custom_cuGraphAddMemFreeNode(struct tfw_session *s, struct tfp_reader *in,
                                          struct tfp_writer *out)
{
    static const char call[] = "cuGraphAddMemFreeNode";
    struct tfw_node_head h;
    CUresult r = tfw_node_read_head(s, in, &h, call);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t dptr = tfp_get_u64(in);
    TFW_DONE_READING(call);
    if ((r = tfw_check_range(s, dptr, 1)) != CUDA_SUCCESS)
        return r;
    CUgraphNode *deps;
    if ((r = tfw_node_check_head(s, &h, &deps)) != CUDA_SUCCESS)
        return r;
    CUgraphNode node = NULL;
    r = s->be.cuGraphAddMemFreeNode
            ? s->be.cuGraphAddMemFreeNode(&node, (CUgraph)(uintptr_t)h.graph, deps, h.ndeps,
                                          (CUdeviceptr)dptr)
            : CUDA_ERROR_NOT_SUPPORTED;
    return tfw_node_made(s, out, &h, deps, r, node);
}
