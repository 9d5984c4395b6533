/*
 * Batched memory operations as single ones (see membatch.h).
 */
#include "membatch.h"

#include <stdint.h>

/* The locations' start indices: the first 0, increasing, each below count (the driver's rule,
 * shared with cuMemcpyBatchAsync's attributes). */
static int starts_ok(const size_t *idxs, size_t n, size_t count)
{
    if (!idxs || !n || n > count || idxs[0] != 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (idxs[i] <= idxs[i - 1] || idxs[i] >= count)
            return 0;
    return 1;
}

/* The batch calls take no legacy NULL stream. */
static int stream_ok(CUstream s)
{
    return s != NULL && s != CU_STREAM_LEGACY;
}

static CUresult ranges_ok(CUdeviceptr *dptrs, size_t *sizes, size_t count,
                          unsigned long long flags, CUstream stream)
{
    return dptrs && sizes && count && !flags && stream_ok(stream) ? CUDA_SUCCESS
                                                                   : CUDA_ERROR_INVALID_VALUE;
}

/* Prefetches range i of the batch to the location whose run it falls in. */
static CUresult prefetch_all(dk_prefetch_fn prefetch, CUdeviceptr *dptrs, size_t *sizes,
                             size_t count, CUmemLocation *locs, size_t *locIdxs, size_t numLocs,
                             CUstream stream)
{
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        while (k + 1 < numLocs && locIdxs[k + 1] <= i)
            k++;
        CUresult r = prefetch(dptrs[i], sizes[i], locs[k], 0, stream);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

CUresult dk_prefetch_batch(dk_prefetch_fn prefetch, CUdeviceptr *dptrs, size_t *sizes,
                           size_t count, CUmemLocation *locs, size_t *locIdxs, size_t numLocs,
                           unsigned long long flags, CUstream stream)
{
    CUresult r = ranges_ok(dptrs, sizes, count, flags, stream);
    if (r != CUDA_SUCCESS || !locs || !starts_ok(locIdxs, numLocs, count))
        return CUDA_ERROR_INVALID_VALUE;
    return prefetch_all(prefetch, dptrs, sizes, count, locs, locIdxs, numLocs, stream);
}

CUresult dk_discard_batch(dk_discard_fn discard, CUdeviceptr *dptrs, size_t *sizes, size_t count,
                          unsigned long long flags, CUstream stream)
{
    CUresult r = ranges_ok(dptrs, sizes, count, flags, stream);
    for (size_t i = 0; r == CUDA_SUCCESS && i < count; i++)
        r = discard(dptrs[i], sizes[i], stream);
    return r;
}

CUresult dk_discard_prefetch_batch(dk_discard_fn discard, dk_prefetch_fn prefetch,
                                   CUdeviceptr *dptrs, size_t *sizes, size_t count,
                                   CUmemLocation *locs, size_t *locIdxs, size_t numLocs,
                                   unsigned long long flags, CUstream stream)
{
    CUresult r = ranges_ok(dptrs, sizes, count, flags, stream);
    if (r != CUDA_SUCCESS || !locs || !starts_ok(locIdxs, numLocs, count))
        return CUDA_ERROR_INVALID_VALUE;
    r = dk_discard_batch(discard, dptrs, sizes, count, 0, stream);
    return r != CUDA_SUCCESS
               ? r : prefetch_all(prefetch, dptrs, sizes, count, locs, locIdxs, numLocs, stream);
}

/* ---- 3D copies ---- */

/* Bytes of one element of an array of the classic formats; 0 for the others (block-compressed,
 * video), whose elements a batch operand cannot name. */
static size_t element_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    size_t b;
    switch (d->Format) {
    case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: b = 1; break;
    case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF: b = 2; break;
    case CU_AD_FORMAT_UNSIGNED_INT32: case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT: b = 4; break;
    default: return 0;
    }
    return b * d->NumChannels;
}

static int operand_ok(const CUmemcpy3DOperand *o, const CUextent3D *e)
{
    if (o->type == CU_MEMCPY_OPERAND_TYPE_ARRAY)
        return o->op.array.array != NULL;
    return o->type == CU_MEMCPY_OPERAND_TYPE_POINTER &&
           (!o->op.ptr.rowLength || o->op.ptr.rowLength >= e->width) &&
           (!o->op.ptr.layerHeight || o->op.ptr.layerHeight >= e->height);
}

/* The element size of an operation: 1 between pointers, else the array's (both arrays'
 * must match); 0 when it has none. */
static CUresult op_element(dk_array_desc_fn describe, const CUDA_MEMCPY3D_BATCH_OP *op,
                           size_t *elem)
{
    size_t sizes[2] = {0, 0};
    const CUmemcpy3DOperand *side[2] = {&op->src, &op->dst};
    *elem = 1;
    for (int i = 0; i < 2; i++) {
        if (side[i]->type != CU_MEMCPY_OPERAND_TYPE_ARRAY)
            continue;
        CUDA_ARRAY3D_DESCRIPTOR d;
        CUresult r = describe(&d, side[i]->op.array.array);
        if (r != CUDA_SUCCESS)
            return r;
        if (!(sizes[i] = element_bytes(&d)))
            return CUDA_ERROR_NOT_SUPPORTED;
        *elem = sizes[i];
    }
    return sizes[0] && sizes[1] && sizes[0] != sizes[1] ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

/* One side of the 3D copy: a pointer is unified memory (host or device, as the library knows
 * it), pitched by its row length and layer height or packed to the extent. */
static void side_of(const CUmemcpy3DOperand *o, const CUextent3D *e, size_t elem,
                    CUmemorytype *type, CUdeviceptr *dev, CUarray *array, size_t *x, size_t *y,
                    size_t *z, size_t *pitch, size_t *height)
{
    if (o->type == CU_MEMCPY_OPERAND_TYPE_ARRAY) {
        *type = CU_MEMORYTYPE_ARRAY;
        *array = o->op.array.array;
        *x = o->op.array.offset.x * elem;
        *y = o->op.array.offset.y;
        *z = o->op.array.offset.z;
        return;
    }
    *type = CU_MEMORYTYPE_UNIFIED;
    *dev = o->op.ptr.ptr;
    *pitch = (o->op.ptr.rowLength ? o->op.ptr.rowLength : e->width) * elem;
    *height = o->op.ptr.layerHeight ? o->op.ptr.layerHeight : e->height;
}

static CUresult copy_op(dk_copy3d_fn copy, dk_array_desc_fn describe,
                        const CUDA_MEMCPY3D_BATCH_OP *op, CUstream stream)
{
    const CUextent3D *e = &op->extent;
    if (!e->width || !e->height || !e->depth || !operand_ok(&op->src, e) ||
        !operand_ok(&op->dst, e) || op->srcAccessOrder < CU_MEMCPY_SRC_ACCESS_ORDER_STREAM ||
        op->srcAccessOrder > CU_MEMCPY_SRC_ACCESS_ORDER_ANY ||
        (op->flags & ~(unsigned)CU_MEMCPY_FLAG_PREFER_OVERLAP_WITH_COMPUTE))
        return CUDA_ERROR_INVALID_VALUE;
    size_t elem;
    CUresult r = op_element(describe, op, &elem);
    if (r != CUDA_SUCCESS)
        return r;
    CUDA_MEMCPY3D c = {.WidthInBytes = e->width * elem, .Height = e->height, .Depth = e->depth};
    side_of(&op->src, e, elem, &c.srcMemoryType, &c.srcDevice, &c.srcArray, &c.srcXInBytes,
            &c.srcY, &c.srcZ, &c.srcPitch, &c.srcHeight);
    side_of(&op->dst, e, elem, &c.dstMemoryType, &c.dstDevice, &c.dstArray, &c.dstXInBytes,
            &c.dstY, &c.dstZ, &c.dstPitch, &c.dstHeight);
    return copy(&c, stream);
}

CUresult dk_memcpy3d_batch(dk_copy3d_fn copy, dk_array_desc_fn describe, size_t numOps,
                           CUDA_MEMCPY3D_BATCH_OP *ops, size_t *failIdx,
                           unsigned long long flags, CUstream stream)
{
    if (failIdx)
        *failIdx = SIZE_MAX;
    if (!numOps || !ops || flags || !stream_ok(stream))
        return CUDA_ERROR_INVALID_VALUE;
    int during_call = 0;
    for (size_t i = 0; i < numOps; i++) {
        CUresult r = copy_op(copy, describe, &ops[i], stream);
        if (r != CUDA_SUCCESS) {
            if (failIdx)
                *failIdx = i;
            return r;
        }
        during_call |= ops[i].srcAccessOrder == CU_MEMCPY_SRC_ACCESS_ORDER_DURING_API_CALL;
    }
    /* a source that may be gone once the call returns (a stack variable) is read by then */
    return during_call ? cuStreamSynchronize(stream) : CUDA_SUCCESS;
}
