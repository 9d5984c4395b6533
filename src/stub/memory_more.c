/*
 * The stub's half of calls_memory_more.def that is not generated: range attributes by the
 * list (one forwarded cuMemRangeGetAttribute each), the CUDA 13 prefetch and discard batches
 * and the 3D copy batches as the single calls they stand for (src/driverkit/membatch.c), and
 * the hand-written encoders of cuMemBatchDecompressAsync and cuMemMapArrayAsync, whose
 * worker halves (src/worker/memory_more.c) check every pointer and handle inside them.
 * Calls the stub's own entry points, conn.c (requests) and graph.c (managed ranges).
 */
#include <stdint.h>

#include "stub.h"
#include "memadvice.h"
#include "membatch.h"

CUresult CUDAAPI cuMemRangeGetAttributes(void **data, size_t *dataSizes,
                                         CUmem_range_attribute *attributes, size_t numAttributes,
                                         CUdeviceptr devPtr, size_t count)
{
    return dk_range_attributes(cuMemRangeGetAttribute, data, dataSizes, attributes,
                               numAttributes, devPtr, count);
}

/* ---- prefetch and discard batches ---- */

/* The stub's managed memory is one set of pages for the program and the worker: a discard
 * keeps the contents (undefined by the API) and only the range is checked. */
static CUresult discard(CUdeviceptr p, size_t bytes, CUstream stream)
{
    (void)stream;
    return tfs_managed_range(p, bytes) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuMemPrefetchBatchAsync(CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                         CUmemLocation *prefetchLocs, size_t *prefetchLocIdxs,
                                         size_t numPrefetchLocs, unsigned long long flags,
                                         CUstream hStream)
{
    return dk_prefetch_batch(cuMemPrefetchAsync_v2, dptrs, sizes, count, prefetchLocs,
                             prefetchLocIdxs, numPrefetchLocs, flags, hStream);
}

CUresult CUDAAPI cuMemDiscardBatchAsync(CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                        unsigned long long flags, CUstream hStream)
{
    return dk_discard_batch(discard, dptrs, sizes, count, flags, hStream);
}

CUresult CUDAAPI cuMemDiscardAndPrefetchBatchAsync(CUdeviceptr *dptrs, size_t *sizes,
                                                   size_t count, CUmemLocation *prefetchLocs,
                                                   size_t *prefetchLocIdxs,
                                                   size_t numPrefetchLocs,
                                                   unsigned long long flags, CUstream hStream)
{
    return dk_discard_prefetch_batch(discard, cuMemPrefetchAsync_v2, dptrs, sizes, count,
                                     prefetchLocs, prefetchLocIdxs, numPrefetchLocs, flags,
                                     hStream);
}

/* ---- 3D copy batches: each operation one cuMemcpy3DAsync (host sides, arrays and all) ---- */

/* The CUDA 12.8 ABI, which cuda.h declares only under the newest name. */
CUresult CUDAAPI cuMemcpy3DBatchAsync(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList,
                                      size_t *failIdx, unsigned long long flags,
                                      CUstream hStream);

CUresult CUDAAPI cuMemcpy3DBatchAsync(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList,
                                      size_t *failIdx, unsigned long long flags,
                                      CUstream hStream)
{
    return dk_memcpy3d_batch(cuMemcpy3DAsync_v2, cuArray3DGetDescriptor_v2, numOps, opList,
                             failIdx, flags, hStream);
}

CUresult CUDAAPI cuMemcpy3DBatchAsync_v2(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList,
                                         unsigned long long flags, CUstream hStream)
{
    return dk_memcpy3d_batch(cuMemcpy3DAsync_v2, cuArray3DGetDescriptor_v2, numOps, opList,
                             NULL, flags, hStream);
}

/* ---- decompression ----
 * Request: u64 stream, u32 flags, u64 count, count CUmemDecompressParams as they are.
 * Reply: u32 result, u64 errorIndex (the reply of a failed call carries no outputs, so the
 * worker answers success and the call's own result travels inside). */
CUresult CUDAAPI cuMemBatchDecompressAsync(CUmemDecompressParams *paramsArray, size_t count,
                                           unsigned int flags, size_t *errorIndex,
                                           CUstream stream)
{
    if (errorIndex)
        *errorIndex = SIZE_MAX;
    if (!paramsArray || !count || count > SIZE_MAX / sizeof *paramsArray)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_begin(&c, TFP_ID_cuMemBatchDecompressAsync);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, tfs_stream_arg(stream));
    tfp_put_u32(c.w, flags);
    tfp_put_u64(c.w, count);
    tfp_put(c.w, paramsArray, count * sizeof *paramsArray);
    r = tfs_transact(&c);
    if (r == CUDA_SUCCESS) {
        uint32_t res = 0;
        tfs_get(&c, &res, sizeof res);
        uint64_t idx = tfs_get_u64(&c);
        r = (CUresult)res;
        if (errorIndex && r != CUDA_SUCCESS)
            *errorIndex = idx;
    }
    return tfs_end(&c, r);
}

/* ---- sparse array tiles ----
 * Request: u64 stream, u32 count, count CUarrayMapInfo as they are. */
CUresult CUDAAPI cuMemMapArrayAsync(CUarrayMapInfo *mapInfoList, unsigned int count,
                                    CUstream hStream)
{
    if (!mapInfoList || !count)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfs_call c;
    CUresult r = tfs_begin(&c, TFP_ID_cuMemMapArrayAsync);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, tfs_stream_arg(hStream));
    tfp_put_u32(c.w, count);
    tfp_put(c.w, mapInfoList, count * sizeof *mapInfoList);
    return tfs_end(&c, tfs_transact(&c));
}
