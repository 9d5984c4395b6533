/*
 * Batched memory operations as the single operations they stand for, for every driver-shaped
 * library here (the stub, softgpu): cuMemPrefetchBatchAsync, cuMemDiscardBatchAsync and
 * cuMemDiscardAndPrefetchBatchAsync as one prefetch or discard per range, cuMemcpy3DBatchAsync
 * (both ABIs) as one 3D copy per operation. The batch's own arguments are checked here as the
 * driver documents them (CUDA_ERROR_INVALID_VALUE); each operation's by the single call. Calls
 * only the callbacks it is given and cuStreamSynchronize of the library it is linked into.
 */
#ifndef TFUSE_DRIVERKIT_MEMBATCH_H
#define TFUSE_DRIVERKIT_MEMBATCH_H

#include <stddef.h>
#include <cuda.h>

typedef CUresult (*dk_prefetch_fn)(CUdeviceptr p, size_t bytes, CUmemLocation loc,
                                   unsigned int flags, CUstream stream);
/* Discards [p, p+bytes) of managed memory (checks it is): the contents become undefined. */
typedef CUresult (*dk_discard_fn)(CUdeviceptr p, size_t bytes, CUstream stream);

CUresult dk_prefetch_batch(dk_prefetch_fn prefetch, CUdeviceptr *dptrs, size_t *sizes,
                           size_t count, CUmemLocation *locs, size_t *locIdxs, size_t numLocs,
                           unsigned long long flags, CUstream stream);
CUresult dk_discard_batch(dk_discard_fn discard, CUdeviceptr *dptrs, size_t *sizes, size_t count,
                          unsigned long long flags, CUstream stream);
/* Each range discarded, then prefetched to its location. */
CUresult dk_discard_prefetch_batch(dk_discard_fn discard, dk_prefetch_fn prefetch,
                                   CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                   CUmemLocation *locs, size_t *locIdxs, size_t numLocs,
                                   unsigned long long flags, CUstream stream);

typedef CUresult (*dk_copy3d_fn)(const CUDA_MEMCPY3D *copy, CUstream stream);
typedef CUresult (*dk_array_desc_fn)(CUDA_ARRAY3D_DESCRIPTOR *desc, CUarray array);

/* failIdx (may be NULL): the failing operation, SIZE_MAX for an error of the whole batch. */
CUresult dk_memcpy3d_batch(dk_copy3d_fn copy, dk_array_desc_fn describe, size_t numOps,
                           CUDA_MEMCPY3D_BATCH_OP *ops, size_t *failIdx,
                           unsigned long long flags, CUstream stream);

#endif
