/*
 * softgpu's batched copies: cuMemcpyBatchAsync (both ABIs) as the copies they stand for
 * (src/driverkit/copybatch.c), each an ordinary cuMemcpyAsync on the stream, and
 * cuMemcpy3DBatchAsync (both ABIs) as one cuMemcpy3DAsync per operation
 * (src/driverkit/membatch.c).
 */
#include "softgpu.h"
#include "copybatch.h"
#include "membatch.h"

#undef cuMemcpyBatchAsync
CUresult cuMemcpyBatchAsync(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count,
                            CUmemcpyAttributes *attrs, size_t *attrIdxs, size_t numAttrs,
                            size_t *failIdx, CUstream hStream);

static CUresult copy_async(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream)
{
    return cuMemcpyAsync(dst, src, bytes, stream);
}

CUresult cuMemcpyBatchAsync(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count,
                            CUmemcpyAttributes *attrs, size_t *attrIdxs, size_t numAttrs,
                            size_t *failIdx, CUstream hStream)
{
    return dk_memcpy_batch(copy_async, dsts, srcs, sizes, count, attrs, attrIdxs, numAttrs,
                           failIdx, hStream);
}

CUresult cuMemcpyBatchAsync_v2(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count,
                               CUmemcpyAttributes *attrs, size_t *attrIdxs, size_t numAttrs,
                               CUstream hStream)
{
    return dk_memcpy_batch(copy_async, dsts, srcs, sizes, count, attrs, attrIdxs, numAttrs,
                           NULL, hStream);
}

#undef cuMemcpy3DBatchAsync
CUresult cuMemcpy3DBatchAsync(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList, size_t *failIdx,
                              unsigned long long flags, CUstream hStream);

CUresult cuMemcpy3DBatchAsync(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList, size_t *failIdx,
                              unsigned long long flags, CUstream hStream)
{
    return dk_memcpy3d_batch(cuMemcpy3DAsync_v2, cuArray3DGetDescriptor_v2, numOps, opList,
                             failIdx, flags, hStream);
}

CUresult cuMemcpy3DBatchAsync_v2(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList,
                                 unsigned long long flags, CUstream hStream)
{
    return dk_memcpy3d_batch(cuMemcpy3DAsync_v2, cuArray3DGetDescriptor_v2, numOps, opList, NULL,
                             flags, hStream);
}
