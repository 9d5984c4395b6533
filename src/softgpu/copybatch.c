/*
 * softgpu's batched copies: cuMemcpyBatchAsync (both ABIs) as the copies they stand for
 * (src/driverkit/copybatch.c), each an ordinary cuMemcpyAsync on the stream.
 */
#include "softgpu.h"
#include "copybatch.h"

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
