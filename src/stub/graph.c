/*
 * The stub's hand-written encoders for explicit graph construction (node adds, edges, kernel
 * node parameters), 3D copies and the migration hints on managed memory: the calls.def
 * TF_CUSTOM entries that name src/stub/graph.c (and two TF_LOCAL older forms). Their decoders
 * are src/worker/graph.c.
 *
 * Every node request starts with the same header: u64 graph, u64 count, count x u64
 * dependency. A copy (3D copy or memcpy node) names each side as a device pointer or as a
 * place in a shared region (page-locked memory from this stub); any other host memory cannot
 * be reached by the worker later, so a memcpy node refuses it (NOT_SUPPORTED, logged once) and
 * a direct 3D copy falls back to one 2D copy per slice. Wire layouts: docs/forwarding.md.
 * May call: conn.c (transactions), launch.c (kernel arguments), hostmem.c (2D copies and
 * pointer attributes: which memory is managed), local.c (the record of device allocations),
 * entry.c (cuGraphInstantiateWithFlags).
 */
#include <stdlib.h>
#include <string.h>

#include "stub.h"

/* ---- node requests ---- */

CUresult tfs_node_begin(struct tfs_call *c, uint32_t call, CUgraphNode *out, CUgraph graph,
                        const CUgraphNode *deps, size_t ndeps)
{
    if (!out || (ndeps && !deps))
        return CUDA_ERROR_INVALID_VALUE;
    if (ndeps > TFP_MAX_GRAPH_DEPS) {
        tfs_unsupported("graph nodes with more than 4096 dependencies");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    CUresult r = tfs_begin(c, call);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c->w, (uint64_t)(uintptr_t)graph);
    tfp_put_u64(c->w, ndeps);
    for (size_t i = 0; i < ndeps; i++)
        tfp_put_u64(c->w, (uint64_t)(uintptr_t)deps[i]);
    return CUDA_SUCCESS;
}

/* Sends the node request; the reply is the new node's handle. */
CUresult tfs_node_finish(struct tfs_call *c, CUgraphNode *out)
{
    CUresult r = tfs_transact(c);
    uint64_t h = r == CUDA_SUCCESS ? tfs_get_u64(c) : 0;
    r = tfs_end(c, r);
    if (r == CUDA_SUCCESS)
        *out = (CUgraphNode)(uintptr_t)h;
    return r;
}

CUresult CUDAAPI cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                     const CUgraphNode *dependencies, size_t numDependencies)
{
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddEmptyNode, phGraphNode, hGraph, dependencies,
                            numDependencies);
    return r != CUDA_SUCCESS ? r : tfs_node_finish(&c, phGraphNode);
}

static CUresult add_event_node(uint32_t call, CUgraphNode *out, CUgraph graph,
                               const CUgraphNode *deps, size_t ndeps, CUevent event)
{
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, call, out, graph, deps, ndeps);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)event);
    return tfs_node_finish(&c, out);
}

CUresult CUDAAPI cuGraphAddEventRecordNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                           const CUgraphNode *dependencies, size_t numDependencies,
                                           CUevent event)
{
    return add_event_node(TFP_ID_cuGraphAddEventRecordNode, phGraphNode, hGraph, dependencies,
                          numDependencies, event);
}

CUresult CUDAAPI cuGraphAddEventWaitNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                         const CUgraphNode *dependencies, size_t numDependencies,
                                         CUevent event)
{
    return add_event_node(TFP_ID_cuGraphAddEventWaitNode, phGraphNode, hGraph, dependencies,
                          numDependencies, event);
}

/* A memset node's fields (add and both setters): u64 ctx, u64 dst, u64 pitch, u32 value,
 * u32 element size, u64 width (elements), u64 height. */
void tfs_put_memset(struct tfp_writer *w, CUcontext ctx, const CUDA_MEMSET_NODE_PARAMS *p)
{
    tfp_put_u64(w, (uint64_t)(uintptr_t)ctx);
    tfp_put_u64(w, p->dst);
    tfp_put_u64(w, p->pitch);
    tfp_put_u32(w, p->value);
    tfp_put_u32(w, p->elementSize);
    tfp_put_u64(w, p->width);
    tfp_put_u64(w, p->height);
}

CUresult CUDAAPI cuGraphAddMemsetNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                      const CUgraphNode *dependencies, size_t numDependencies,
                                      const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx)
{
    if (!memsetParams)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddMemsetNode, phGraphNode, hGraph, dependencies,
                            numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    tfs_put_memset(c.w, ctx, memsetParams);
    return tfs_node_finish(&c, phGraphNode);
}

/* ---- kernel node parameters: the launch path's encoding ---- */

static CUresult kernel_prepare(const CUDA_KERNEL_NODE_PARAMS *p, struct tfs_kargs *a)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    CUfunction f = p->func ? p->func : (CUfunction)p->kern;   /* func wins, as in the driver */
    if (!f)
        return CUDA_ERROR_INVALID_VALUE;
    return tfs_kargs_prepare(f, p->kernelParams, p->extra, a);
}

/* u64 func, u64 kern, u64 ctx, u32 grid[3], u32 block[3], u32 shared bytes, kernel arguments. */
static void kernel_put(struct tfp_writer *w, const CUDA_KERNEL_NODE_PARAMS *p,
                       const struct tfs_kargs *a)
{
    tfp_put_u64(w, (uint64_t)(uintptr_t)p->func);
    tfp_put_u64(w, p->func ? 0 : (uint64_t)(uintptr_t)p->kern);
    tfp_put_u64(w, (uint64_t)(uintptr_t)p->ctx);
    tfp_put_u32(w, p->gridDimX);
    tfp_put_u32(w, p->gridDimY);
    tfp_put_u32(w, p->gridDimZ);
    tfp_put_u32(w, p->blockDimX);
    tfp_put_u32(w, p->blockDimY);
    tfp_put_u32(w, p->blockDimZ);
    tfp_put_u32(w, p->sharedMemBytes);
    tfs_kargs_put(w, a);
}

CUresult CUDAAPI cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                                         const CUgraphNode *dependencies, size_t numDependencies,
                                         const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    struct tfs_kargs a;
    CUresult r = kernel_prepare(nodeParams, &a);
    if (r != CUDA_SUCCESS)
        return r;
    struct tfs_call c;
    r = tfs_node_begin(&c, TFP_ID_cuGraphAddKernelNode_v2, phGraphNode, hGraph, dependencies,
                   numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    kernel_put(c.w, nodeParams, &a);
    return tfs_node_finish(&c, phGraphNode);
}

/* A setter's request: u64 executable graph (0: the node of a graph), u64 node, then the node's
 * fields as its add sends them, written by put (which ends the call when it fails). */
CUresult tfs_set_node(uint32_t call, CUgraphExec exec, CUgraphNode node, tfs_put_fields put,
                      const void *fields)
{
    struct tfs_call c;
    CUresult r = tfs_begin(&c, call);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)exec);
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)node);
    r = put(&c, fields);
    return r != CUDA_SUCCESS ? r : tfs_end(&c, tfs_transact(&c));
}

struct kernel_fields {
    const CUDA_KERNEL_NODE_PARAMS *p;
    const struct tfs_kargs *a;
};

static CUresult put_kernel(struct tfs_call *c, const void *fields)
{
    const struct kernel_fields *k = fields;
    kernel_put(c->w, k->p, k->a);
    return CUDA_SUCCESS;
}

static CUresult set_kernel_params(uint32_t call, CUgraphExec exec, CUgraphNode node,
                                  const CUDA_KERNEL_NODE_PARAMS *p)
{
    struct tfs_kargs a;
    CUresult r = kernel_prepare(p, &a);
    struct kernel_fields k = {p, &a};
    return r != CUDA_SUCCESS ? r : tfs_set_node(call, exec, node, put_kernel, &k);
}

CUresult CUDAAPI cuGraphKernelNodeSetParams_v2(CUgraphNode hNode,
                                               const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    return set_kernel_params(TFP_ID_cuGraphKernelNodeSetParams_v2, NULL, hNode, nodeParams);
}

CUresult CUDAAPI cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                   const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
    if (!hGraphExec)
        return CUDA_ERROR_INVALID_VALUE;
    return set_kernel_params(TFP_ID_cuGraphExecKernelNodeSetParams_v2, hGraphExec, hNode,
                             nodeParams);
}

/* ---- edges ---- */

/* Request: u64 graph, u64 count, count x u64 from, count x u64 to, u32 has edge data, then
 * count x CUgraphEdgeData (plain bytes: ports and a type). Adding and removing edges alike. */
static CUresult edges(uint32_t call, CUgraph hGraph, const CUgraphNode *from,
                      const CUgraphNode *to, const CUgraphEdgeData *edgeData, size_t n)
{
    if (n && (!from || !to))
        return CUDA_ERROR_INVALID_VALUE;
    if (n > TFP_MAX_GRAPH_DEPS) {
        tfs_unsupported("graph edges: more than 4096 at once");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    struct tfs_call c;
    CUresult r = tfs_begin(&c, call);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)hGraph);
    tfp_put_u64(c.w, n);
    for (size_t i = 0; i < n; i++)
        tfp_put_u64(c.w, (uint64_t)(uintptr_t)from[i]);
    for (size_t i = 0; i < n; i++)
        tfp_put_u64(c.w, (uint64_t)(uintptr_t)to[i]);
    tfp_put_u32(c.w, edgeData != NULL);
    if (edgeData)
        tfp_put(c.w, edgeData, n * sizeof *edgeData);
    return tfs_end(&c, tfs_transact(&c));
}

CUresult CUDAAPI cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode *from,
                                           const CUgraphNode *to, const CUgraphEdgeData *edgeData,
                                           size_t numDependencies)
{
    return edges(TFP_ID_cuGraphAddDependencies_v2, hGraph, from, to, edgeData, numDependencies);
}

CUresult CUDAAPI cuGraphRemoveDependencies_v2(CUgraph hGraph, const CUgraphNode *from,
                                              const CUgraphNode *to,
                                              const CUgraphEdgeData *edgeData,
                                              size_t numDependencies)
{
    return edges(TFP_ID_cuGraphRemoveDependencies_v2, hGraph, from, to, edgeData,
                 numDependencies);
}

CUresult CUDAAPI cuGraphAddDependencies(CUgraph hGraph, const CUgraphNode *from,
                                        const CUgraphNode *to, size_t numDependencies)
{
    return cuGraphAddDependencies_v2(hGraph, from, to, NULL, numDependencies);
}

CUresult CUDAAPI cuGraphRemoveDependencies(CUgraph hGraph, const CUgraphNode *from,
                                           const CUgraphNode *to, size_t numDependencies)
{
    return cuGraphRemoveDependencies_v2(hGraph, from, to, NULL, numDependencies);
}

/* A child graph node: the node header, then u64 the child graph. */
CUresult CUDAAPI cuGraphAddChildGraphNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                          const CUgraphNode *dependencies, size_t numDependencies,
                                          CUgraph childGraph)
{
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddChildGraphNode, phGraphNode, hGraph,
                            dependencies, numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)childGraph);
    return tfs_node_finish(&c, phGraphNode);
}

/* ---- 3D copies and memcpy nodes ---- */

/* One side of a copy as the caller described it. */
struct side {
    CUmemorytype type;
    const void *host;
    CUdeviceptr dev;
    size_t x, y, z, pitch, height;
};

static uint64_t side_extent(const struct side *s, const CUDA_MEMCPY3D *p)
{
    return tfp_extent3d(s->x, s->y, s->z, s->pitch, s->height, p->WidthInBytes, p->Height,
                        p->Depth);
}

enum { SIDE_DEVICE = 0, SIDE_REGION = 1 };
enum { PUT_OK = 0, PUT_NOT_SHARED = 1, PUT_ARRAY = 2, PUT_BAD_TYPE = 3 };

/* Side: u32 SIDE_DEVICE + u64 pointer, or u32 SIDE_REGION + the shared-region place
 * (tfs_put_out's form); then u64 x, y, z, pitch, height. */
static int put_side(struct tfs_call *c, const struct side *s, const CUDA_MEMCPY3D *p)
{
    uint64_t extent = side_extent(s, p);
    int device;
    CUdeviceptr ptr;
    switch (s->type) {
    case CU_MEMORYTYPE_DEVICE:
        device = 1;
        ptr = s->dev;
        break;
    case CU_MEMORYTYPE_UNIFIED:
        ptr = s->dev;
        device = tfs_dev_contains(ptr, 1);
        break;
    case CU_MEMORYTYPE_HOST:   /* managed memory is a device allocation to the worker too */
        ptr = (CUdeviceptr)(uintptr_t)s->host;
        device = tfs_dev_contains(ptr, extent ? extent : 1);
        break;
    case CU_MEMORYTYPE_ARRAY:
        return PUT_ARRAY;
    default:
        return PUT_BAD_TYPE;
    }
    if (device) {
        tfp_put_u32(c->w, SIDE_DEVICE);
        tfp_put_u64(c->w, ptr);
    } else {
        tfp_put_u32(c->w, SIDE_REGION);
        if (!tfs_put_out(c, (void *)(uintptr_t)ptr, extent))
            return PUT_NOT_SHARED;
    }
    uint64_t v[5] = {s->x, s->y, s->z, s->pitch, s->height};
    tfp_put(c->w, v, sizeof v);
    return PUT_OK;
}

static int put_copy3d(struct tfs_call *c, const CUDA_MEMCPY3D *p)
{
    struct side src = {p->srcMemoryType, p->srcHost, p->srcDevice, p->srcXInBytes, p->srcY,
                       p->srcZ, p->srcPitch, p->srcHeight};
    struct side dst = {p->dstMemoryType, p->dstHost, p->dstDevice, p->dstXInBytes, p->dstY,
                       p->dstZ, p->dstPitch, p->dstHeight};
    int e = put_side(c, &src, p);
    if (e == PUT_OK)
        e = put_side(c, &dst, p);
    uint64_t extent[3] = {p->WidthInBytes, p->Height, p->Depth};
    tfp_put(c->w, extent, sizeof extent);
    return e;
}

static CUresult put_error(int e, const char *what)
{
    if (e == PUT_BAD_TYPE)
        return CUDA_ERROR_INVALID_VALUE;
    tfs_unsupported(what);
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* A memcpy node's fields (add and both setters): u64 ctx, the copy. A copy that cannot be
 * encoded ends the call (nothing was sent) and is refused. */
CUresult tfs_put_copy_node(struct tfs_call *c, CUcontext ctx, const CUDA_MEMCPY3D *p)
{
    tfp_put_u64(c->w, (uint64_t)(uintptr_t)ctx);
    int e = put_copy3d(c, p);
    if (e == PUT_OK)
        return CUDA_SUCCESS;
    tfs_end(c, CUDA_SUCCESS);
    return put_error(e, e == PUT_ARRAY ? "memcpy nodes with CUDA arrays"
                                       : "memcpy nodes on host memory that is not page-locked "
                                         "memory of this process's stub");
}

CUresult CUDAAPI cuGraphAddMemcpyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                      const CUgraphNode *dependencies, size_t numDependencies,
                                      const CUDA_MEMCPY3D *copyParams, CUcontext ctx)
{
    if (!copyParams)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_node_begin(&c, TFP_ID_cuGraphAddMemcpyNode, phGraphNode, hGraph, dependencies,
                            numDependencies);
    if (r != CUDA_SUCCESS)
        return r;
    r = tfs_put_copy_node(&c, ctx, copyParams);
    return r != CUDA_SUCCESS ? r : tfs_node_finish(&c, phGraphNode);
}

/* A 3D copy as Depth 2D copies: slice z of a side starts (z0 + z) * height rows further. */
static CUresult copy3d_by_slices(const CUDA_MEMCPY3D *p, CUstream stream, int async)
{
    for (size_t z = 0; z < p->Depth; z++) {
        CUDA_MEMCPY2D m = {
            .srcXInBytes = p->srcXInBytes, .srcY = p->srcY + (p->srcZ + z) * p->srcHeight,
            .srcMemoryType = p->srcMemoryType, .srcHost = p->srcHost, .srcDevice = p->srcDevice,
            .srcPitch = p->srcPitch,
            .dstXInBytes = p->dstXInBytes, .dstY = p->dstY + (p->dstZ + z) * p->dstHeight,
            .dstMemoryType = p->dstMemoryType, .dstHost = p->dstHost, .dstDevice = p->dstDevice,
            .dstPitch = p->dstPitch,
            .WidthInBytes = p->WidthInBytes, .Height = p->Height,
        };
        CUresult r = async ? cuMemcpy2DAsync_v2(&m, stream) : cuMemcpy2D_v2(&m);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

/* Request: u64 stream (0 for the synchronous call), then the copy. */
static CUresult copy3d(uint32_t call, const CUDA_MEMCPY3D *p, CUstream stream, int async)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    if (p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY)
        return tfs_copy_array_3d(p, async ? stream : NULL);
    struct tfs_call c;
    CUresult r = tfs_begin(&c, call);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, tfs_stream_arg(stream));
    int e = put_copy3d(&c, p);
    if (e == PUT_OK)
        return tfs_end(&c, tfs_transact(&c));
    tfs_end(&c, CUDA_SUCCESS);   /* nothing was sent */
    if (e != PUT_NOT_SHARED)
        return put_error(e, "cuMemcpy3D with CUDA arrays");
    return copy3d_by_slices(p, stream, async);   /* pageable host memory: row copies */
}

CUresult CUDAAPI cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy)
{
    return copy3d(TFP_ID_cuMemcpy3D_v2, pCopy, NULL, 0);
}

CUresult CUDAAPI cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
    return copy3d(TFP_ID_cuMemcpy3DAsync_v2, pCopy, hStream, 1);
}

/* ---- migration hints ---- */

/* 1 when [p, p+count) lies in one managed allocation of this stub. */
int tfs_managed_range(CUdeviceptr p, size_t count)
{
    unsigned managed = 0;
    return count && cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, p) ==
                        CUDA_SUCCESS && managed && tfs_dev_contains(p, count);
}

/* A prefetch is pipelined, so what the driver refuses when called is refused here first (the
 * worker checks again): only managed memory migrates, to a device of the session or the host. */
static CUresult prefetch_precheck(CUdeviceptr p, size_t count, CUmemLocation loc, unsigned flags)
{
    if (flags || !tfs_managed_range(p, count))
        return CUDA_ERROR_INVALID_VALUE;
    switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: {
        CUresult r = tfs_ensure_session();
        if (r != CUDA_SUCCESS)
            return r;
        return loc.id >= 0 && loc.id < tfs_info.device_count ? CUDA_SUCCESS
                                                              : CUDA_ERROR_INVALID_DEVICE;
    }
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

/* Request: u64 pointer, u64 count, CUmemLocation, u32 flags, u64 stream. */
CUresult CUDAAPI cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                       unsigned int flags, CUstream hStream)
{
    CUresult r = prefetch_precheck(devPtr, count, location, flags);
    if (r != CUDA_SUCCESS)
        return r;
    struct tfs_call c;
    r = tfs_begin(&c, TFP_ID_cuMemPrefetchAsync_v2);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, devPtr);
    tfp_put_u64(c.w, count);
    tfp_put(c.w, &location, sizeof location);
    tfp_put_u32(c.w, flags);
    tfp_put_u64(c.w, tfs_stream_arg(hStream));
    return tfs_end(&c, tfs_transact(&c));
}

/* Request: u64 pointer, u64 count, u32 advice, CUmemLocation. */
CUresult CUDAAPI cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                                CUmemLocation location)
{
    struct tfs_call c;
    CUresult r = tfs_begin(&c, TFP_ID_cuMemAdvise_v2);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, devPtr);
    tfp_put_u64(c.w, count);
    tfp_put_u32(c.w, (uint32_t)advice);
    tfp_put(c.w, &location, sizeof location);
    return tfs_end(&c, tfs_transact(&c));
}

/* ---- listing a graph's nodes ---- */

/* As many nodes as the caller has room for (the rest of its array NULL), *numNodes the number
 * obtained. The count is asked first so that the reply is never larger than the graph. */
CUresult tfs_graph_nodes(CUgraph graph, CUgraphNode *nodes, size_t *numNodes)
{
    size_t total = 0, room = *numNodes;
    CUresult r = tfi_graph_node_count(graph, &total);
    if (r != CUDA_SUCCESS)
        return r;
    uint64_t want = room < total ? room : total, got = 0;
    uint64_t *tmp = want ? malloc(want * sizeof *tmp) : NULL;
    if (want && !tmp)
        return CUDA_ERROR_OUT_OF_MEMORY;
    r = want ? tfi_graph_nodes(graph, want, &got, tmp) : CUDA_SUCCESS;
    if (r == CUDA_SUCCESS) {
        got = got < want ? got : want;
        for (size_t i = 0; i < room; i++)
            nodes[i] = i < got ? (CUgraphNode)(uintptr_t)tmp[i] : NULL;
        *numNodes = got;
    }
    free(tmp);
    return r;
}

/* ---- instantiation ---- */

CUresult CUDAAPI cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
                                       CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
    if (phErrorNode)
        *phErrorNode = NULL;
    if (logBuffer && bufferSize)
        logBuffer[0] = '\0';
    return cuGraphInstantiateWithFlags(phGraphExec, hGraph, 0);
}
