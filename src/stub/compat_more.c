/*
 * More of what the stub composes from calls it forwards: the CUDA 10 kernel-node ABIs (a
 * kernel node without a CUkernel or context), peer 3D copies (one address space for the session's
 * devices), multi-device cooperative launches (one launch per device's stream), the deprecated
 * device properties, the calling thread's stream capture mode (kept per thread here: the
 * worker serves all of a program's threads on one, so the mode is the program thread's), SM
 * splits for green contexts, and batched copies.
 * May call: the stub's entry points (entry.c, graph.c, hostmem.c, launch.c, local.c).
 */
#include <string.h>

#include "copy3d.h"
#include "copybatch.h"
#include "stub.h"

CUresult CUDAAPI cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                      const CUgraphNode *dependencies, size_t numDependencies,
                                      const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
CUresult CUDAAPI cuGraphKernelNodeSetParams(CUgraphNode hNode,
                                            const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
CUresult CUDAAPI cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams);
CUresult CUDAAPI cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *pCopy);
CUresult CUDAAPI cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream);

/* ---- CUDA 10's kernel nodes ---- */

static CUDA_KERNEL_NODE_PARAMS_v2 kernel_params_v2(const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    return (CUDA_KERNEL_NODE_PARAMS_v2){
        .func = p->func, .gridDimX = p->gridDimX, .gridDimY = p->gridDimY,
        .gridDimZ = p->gridDimZ, .blockDimX = p->blockDimX, .blockDimY = p->blockDimY,
        .blockDimZ = p->blockDimZ, .sharedMemBytes = p->sharedMemBytes,
        .kernelParams = p->kernelParams, .extra = p->extra};
}

CUresult CUDAAPI cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                      const CUgraphNode *dependencies, size_t numDependencies,
                                      const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    if (!nodeParams)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_KERNEL_NODE_PARAMS_v2 p = kernel_params_v2(nodeParams);
    return cuGraphAddKernelNode_v2(phGraphNode, hGraph, dependencies, numDependencies, &p);
}

CUresult CUDAAPI cuGraphKernelNodeSetParams(CUgraphNode hNode,
                                            const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    if (!nodeParams)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_KERNEL_NODE_PARAMS_v2 p = kernel_params_v2(nodeParams);
    return cuGraphKernelNodeSetParams_v2(hNode, &p);
}

CUresult CUDAAPI cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
                                                const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)
{
    if (!nodeParams)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_KERNEL_NODE_PARAMS_v2 p = kernel_params_v2(nodeParams);
    return cuGraphExecKernelNodeSetParams_v2(hGraphExec, hNode, &p);
}

/* ---- peer 3D copies: the session's devices share one address space ---- */

CUresult CUDAAPI cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *pCopy)
{
    if (!pCopy)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_MEMCPY3D c = dk_copy3d_of_peer(pCopy);
    return cuMemcpy3D_v2(&c);
}

CUresult CUDAAPI cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream)
{
    if (!pCopy)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_MEMCPY3D c = dk_copy3d_of_peer(pCopy);
    return cuMemcpy3DAsync_v2(&c, hStream);
}

/* ---- multi-device cooperative launches: each device's launch on its own stream ---- */

CUresult CUDAAPI cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS *launchParamsList,
                                                      unsigned int numDevices, unsigned int flags)
{
    if (!launchParamsList || !numDevices)
        return CUDA_ERROR_INVALID_VALUE;
    if (flags & ~(CUDA_COOPERATIVE_LAUNCH_MULTI_DEVICE_NO_PRE_LAUNCH_SYNC |
                  CUDA_COOPERATIVE_LAUNCH_MULTI_DEVICE_NO_POST_LAUNCH_SYNC))
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < numDevices; i++) {
        const CUDA_LAUNCH_PARAMS *l = &launchParamsList[i];
        CUresult r = cuLaunchCooperativeKernel(l->function, l->gridDimX, l->gridDimY, l->gridDimZ,
                                               l->blockDimX, l->blockDimY, l->blockDimZ,
                                               l->sharedMemBytes, l->hStream, l->kernelParams);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

/* ---- deprecated device properties, from the session's device snapshot ---- */

CUresult CUDAAPI cuDeviceGetProperties(CUdevprop *prop, CUdevice dev)
{
    if (!prop)
        return CUDA_ERROR_INVALID_VALUE;
    static const struct {
        size_t offset;
        CUdevice_attribute attr;
    } fields[] = {
        {offsetof(CUdevprop, maxThreadsPerBlock), CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK},
        {offsetof(CUdevprop, maxThreadsDim[0]), CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X},
        {offsetof(CUdevprop, maxThreadsDim[1]), CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y},
        {offsetof(CUdevprop, maxThreadsDim[2]), CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z},
        {offsetof(CUdevprop, maxGridSize[0]), CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X},
        {offsetof(CUdevprop, maxGridSize[1]), CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y},
        {offsetof(CUdevprop, maxGridSize[2]), CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z},
        {offsetof(CUdevprop, sharedMemPerBlock), CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK},
        {offsetof(CUdevprop, totalConstantMemory), CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY},
        {offsetof(CUdevprop, SIMDWidth), CU_DEVICE_ATTRIBUTE_WARP_SIZE},
        {offsetof(CUdevprop, memPitch), CU_DEVICE_ATTRIBUTE_MAX_PITCH},
        {offsetof(CUdevprop, regsPerBlock), CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK},
        {offsetof(CUdevprop, clockRate), CU_DEVICE_ATTRIBUTE_CLOCK_RATE},
        {offsetof(CUdevprop, textureAlign), CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int v = 0;
        CUresult r = cuDeviceGetAttribute(&v, fields[i].attr, dev);
        if (r != CUDA_SUCCESS)
            return r;
        memcpy((char *)prop + fields[i].offset, &v, sizeof v);
    }
    return CUDA_SUCCESS;
}

/* ---- the calling thread's capture mode ---- */

static __thread CUstreamCaptureMode capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

CUresult CUDAAPI cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
    if (!mode || *mode > CU_STREAM_CAPTURE_MODE_RELAXED)
        return CUDA_ERROR_INVALID_VALUE;
    CUstreamCaptureMode old = capture_mode;
    capture_mode = *mode;
    *mode = old;
    return CUDA_SUCCESS;
}

/* ---- SM splits for green contexts ---- */

CUresult CUDAAPI cuDevSmResourceSplitByCount(CUdevResource *result, unsigned int *nbGroups,
                                             const CUdevResource *input, CUdevResource *remaining,
                                             unsigned int useFlags, unsigned int minCount)
{
    if (!nbGroups || !input)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned made = 0;
    CUdevResource rest;
    CUresult r = tfi_sm_split(result ? *nbGroups : 0, input, useFlags, minCount, &made, &rest,
                              result);
    if (r == CUDA_SUCCESS) {
        *nbGroups = made;
        if (remaining)
            *remaining = rest;
    }
    return r;
}

/* ---- batched copies: the copies they stand for (src/driverkit/copybatch.c) ---- */

static CUresult copy_async(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream)
{
    return cuMemcpyAsync(dst, src, bytes, stream);
}

CUresult CUDAAPI cuMemcpyBatchAsync(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes,
                                    size_t count, CUmemcpyAttributes *attrs, size_t *attrIdxs,
                                    size_t numAttrs, size_t *failIdx, CUstream hStream)
{
    return dk_memcpy_batch(copy_async, dsts, srcs, sizes, count, attrs, attrIdxs, numAttrs,
                           failIdx, hStream);
}

CUresult CUDAAPI cuMemcpyBatchAsync_v2(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes,
                                       size_t count, CUmemcpyAttributes *attrs, size_t *attrIdxs,
                                       size_t numAttrs, CUstream hStream)
{
    return dk_memcpy_batch(copy_async, dsts, srcs, sizes, count, attrs, attrIdxs, numAttrs, NULL,
                           hStream);
}

/* ---- tensor maps: the map is read and rewritten by the backend's driver ---- */

CUresult CUDAAPI cuTensorMapReplaceAddress(CUtensorMap *tensorMap, void *globalAddress)
{
    if (!tensorMap)
        return CUDA_ERROR_INVALID_VALUE;
    CUtensorMap out;
    CUresult r = tfi_tensormap_replace(tensorMap, globalAddress, &out);
    if (r == CUDA_SUCCESS)
        memcpy(tensorMap, &out, sizeof out);   /* the map need only be 64-byte aligned */
    return r;
}

/* ---- batched stream memory operations: the worker checks every word they name ---- */

CUresult CUDAAPI cuStreamBatchMemOp(CUstream stream, unsigned int count,
                                    CUstreamBatchMemOpParams *paramArray, unsigned int flags)
{
    if (!paramArray || !count)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_batch_memop(stream, count, paramArray, flags, 0);
}

CUresult CUDAAPI cuStreamBatchMemOp_v2(CUstream stream, unsigned int count,
                                       CUstreamBatchMemOpParams *paramArray, unsigned int flags)
{
    if (!paramArray || !count)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_batch_memop(stream, count, paramArray, flags, 1);
}
