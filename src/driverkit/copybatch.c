/*
 * Batched copies as single copies (see copybatch.h).
 */
#include "copybatch.h"

#include <stdint.h>

static int attrs_ok(const CUmemcpyAttributes *attrs, const size_t *idxs, size_t n, size_t count)
{
    if (n && (!attrs || !idxs))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (attrs[i].srcAccessOrder < CU_MEMCPY_SRC_ACCESS_ORDER_STREAM ||
            attrs[i].srcAccessOrder > CU_MEMCPY_SRC_ACCESS_ORDER_ANY)
            return 0;
        /* attribute i applies from idxs[i] on: the starts must be increasing, the first 0 */
        if ((i == 0 && idxs[0] != 0) || (i > 0 && idxs[i] <= idxs[i - 1]) || idxs[i] >= count)
            return 0;
    }
    return 1;
}

CUresult dk_memcpy_batch(dk_copy_fn copy, CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes,
                         size_t count, CUmemcpyAttributes *attrs, size_t *attrIdxs,
                         size_t numAttrs, size_t *failIdx, CUstream stream)
{
    if (failIdx)
        *failIdx = SIZE_MAX;
    if (!count || !dsts || !srcs || !sizes ||
        !attrs_ok(attrs, attrIdxs, numAttrs, count))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++) {
        CUresult r = copy(dsts[i], srcs[i], sizes[i], stream);
        if (r != CUDA_SUCCESS) {
            if (failIdx)
                *failIdx = i;
            return r;
        }
    }
    return CUDA_SUCCESS;
}
