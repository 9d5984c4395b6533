/*
 * Hints on managed memory and what they leave behind: cuMemAdvise, cuMemPrefetchAsync and
 * their CUDA 13 batches (cuMemPrefetchBatchAsync, cuMemDiscardBatchAsync,
 * cuMemDiscardAndPrefetchBatchAsync), and the range attributes that read them back
 * (cuMemRangeGetAttribute(s)). Host and device share the same pages here, so nothing migrates:
 * advice and prefetch locations are only remembered (src/driverkit/memadvice.c), and a discard
 * keeps the contents (undefined by the API, so keeping them is one of its outcomes; every later
 * access works). Calls memory.c (regions), stream.c and device checks (softgpu.h).
 */
#include "softgpu.h"
#include "memadvice.h"
#include "membatch.h"

static struct dk_advice_book book = DK_ADVICE_BOOK_INIT;

void sg_advice_forget(uint64_t p, uint64_t bytes)
{
    dk_advice_forget(&book, p, bytes);
}

/* [p, p+count) must lie in one managed allocation. */
static CUresult check_managed_range(CUdeviceptr p, size_t count)
{
    struct sg_region reg;
    if (!count || sg_mem_find(p, &reg) != 0 || reg.kind != SG_R_MANAGED ||
        count > reg.start + reg.size - p)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

/* A location a hint may name: a device of ours or the host. */
static CUresult check_location(CUmemLocation loc)
{
    switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE:
        return sg_device_check(loc.id) ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                        CUmemLocation location)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (advice < CU_MEM_ADVISE_SET_READ_MOSTLY || advice > CU_MEM_ADVISE_UNSET_ACCESSED_BY)
        return CUDA_ERROR_INVALID_VALUE;
    /* read-mostly and unsetting a preferred location name no location */
    int located = advice != CU_MEM_ADVISE_SET_READ_MOSTLY &&
                  advice != CU_MEM_ADVISE_UNSET_READ_MOSTLY &&
                  advice != CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION;
    if ((r = check_managed_range(devPtr, count)) || (located && (r = check_location(location))))
        return r;
    return dk_advice_apply(&book, devPtr, count, advice, location) ? CUDA_ERROR_OUT_OF_MEMORY
                                                                   : CUDA_SUCCESS;
}

CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                               unsigned int flags, CUstream hStream)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (flags)
        return CUDA_ERROR_INVALID_VALUE;
    if ((r = check_location(location)) || (r = check_managed_range(devPtr, count)))
        return r;
    /* the last location asked for, as the driver reports it: not whether anything moved */
    return dk_advice_prefetched(&book, devPtr, count, location) ? CUDA_ERROR_OUT_OF_MEMORY
                                                                : CUDA_SUCCESS;
}

CUresult cuMemRangeGetAttribute(void *data, size_t dataSize, CUmem_range_attribute attribute,
                                CUdeviceptr devPtr, size_t count)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if ((r = check_managed_range(devPtr, count)))
        return r;
    return dk_advice_query(&book, data, dataSize, attribute, devPtr, count);
}

CUresult cuMemRangeGetAttributes(void **data, size_t *dataSizes,
                                 CUmem_range_attribute *attributes, size_t numAttributes,
                                 CUdeviceptr devPtr, size_t count)
{
    return dk_range_attributes(cuMemRangeGetAttribute, data, dataSizes, attributes,
                               numAttributes, devPtr, count);
}

/* ---- the CUDA 13 batches (src/driverkit/membatch.c) ---- */

static CUresult discard(CUdeviceptr p, size_t bytes, CUstream hStream)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    return r ? r : check_managed_range(p, bytes);
}

CUresult cuMemPrefetchBatchAsync(CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                 CUmemLocation *prefetchLocs, size_t *prefetchLocIdxs,
                                 size_t numPrefetchLocs, unsigned long long flags,
                                 CUstream hStream)
{
    return dk_prefetch_batch(cuMemPrefetchAsync_v2, dptrs, sizes, count, prefetchLocs,
                             prefetchLocIdxs, numPrefetchLocs, flags, hStream);
}

CUresult cuMemDiscardBatchAsync(CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                unsigned long long flags, CUstream hStream)
{
    return dk_discard_batch(discard, dptrs, sizes, count, flags, hStream);
}

CUresult cuMemDiscardAndPrefetchBatchAsync(CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                           CUmemLocation *prefetchLocs, size_t *prefetchLocIdxs,
                                           size_t numPrefetchLocs, unsigned long long flags,
                                           CUstream hStream)
{
    return dk_discard_prefetch_batch(discard, cuMemPrefetchAsync_v2, dptrs, sizes, count,
                                     prefetchLocs, prefetchLocIdxs, numPrefetchLocs, flags,
                                     hStream);
}
