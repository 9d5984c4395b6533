/*
 * Batched copies (cuMemcpyBatchAsync, CUDA 12.8 and 13.0 ABIs) as the copies they stand for:
 * shared by every driver-shaped library here (the stub and softgpu), each passing its own
 * cuMemcpyAsync. Attributes are hints about access order and location: they are checked, not
 * needed, since each copy is ordered on the stream like any other.
 */
#ifndef TFUSE_DRIVERKIT_COPYBATCH_H
#define TFUSE_DRIVERKIT_COPYBATCH_H

#include <cuda.h>

typedef CUresult (*dk_copy_fn)(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream);

/* The copies in order; on failure *failIdx (when not NULL) is the index of the copy that failed,
 * or SIZE_MAX when the batch itself is wrong. */
CUresult dk_memcpy_batch(dk_copy_fn copy, CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes,
                         size_t count, CUmemcpyAttributes *attrs, size_t *attrIdxs,
                         size_t numAttrs, size_t *failIdx, CUstream stream);

#endif
