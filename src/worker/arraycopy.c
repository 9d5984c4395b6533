/*
 * tfi_memcpy_array: one slab of a 2D or 3D copy that has a CUDA array on a side (the stub cuts
 * copies into slabs that fit a frame: src/stub/arraycopy.c). A host side arrives packed, rows
 * of WidthInBytes, and is pointed at in place of the program's pitched memory; a device side
 * must lie in one of the session's allocations and an array must be the session's.
 * May call: the session's checks (worker.c), the backend table.
 */
#include <string.h>

#include "worker_int.h"

/* Points a host side at the packed bytes, or checks a device or array side. */
static CUresult fix_side(struct tfw_session *s, CUmemorytype *type, const void **host,
                         CUdeviceptr dev, CUarray array, size_t x, size_t y, size_t z,
                         size_t *pitch, size_t *height, const CUDA_MEMCPY3D *c, const void *packed,
                         uint64_t packed_bytes)
{
    uint64_t bytes = tfp_mul(tfp_mul(c->WidthInBytes, c->Height), c->Depth);
    switch (*type) {
    case CU_MEMORYTYPE_HOST:
        if (packed_bytes != bytes || x || y || z)
            return CUDA_ERROR_INVALID_VALUE;
        *host = packed;
        *pitch = c->WidthInBytes;
        *height = c->Height;
        return CUDA_SUCCESS;
    case CU_MEMORYTYPE_DEVICE:
    case CU_MEMORYTYPE_UNIFIED:
        *type = CU_MEMORYTYPE_DEVICE;
        return tfw_check_range(s, dev, tfp_extent3d(x, y, z, *pitch, *height, c->WidthInBytes,
                                                    c->Height, c->Depth));
    case CU_MEMORYTYPE_ARRAY:
        return array ? tfw_check_handle(s, TFW_K_ARRAY, (uint64_t)(uintptr_t)array)
                     : CUDA_ERROR_INVALID_HANDLE;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult tfw_tfi_memcpy_array(const CUDA_MEMCPY3D *desc, uint64_t srcBytes, const void *src,
                              uint64_t dstBytes, void *dst, CUstream hStream)
{
    struct tfw_session *s = tfw_self;
    CUDA_MEMCPY3D c = *desc;
    const void *dst_host = NULL;
    CUresult r = fix_side(s, &c.srcMemoryType, &c.srcHost, c.srcDevice, c.srcArray, c.srcXInBytes,
                          c.srcY, c.srcZ, &c.srcPitch, &c.srcHeight, &c, src, srcBytes);
    if (r == CUDA_SUCCESS)
        r = fix_side(s, &c.dstMemoryType, &dst_host, c.dstDevice, c.dstArray, c.dstXInBytes,
                     c.dstY, c.dstZ, &c.dstPitch, &c.dstHeight, &c, dst, dstBytes);
    if (r != CUDA_SUCCESS)
        return r;
    if (c.dstMemoryType == CU_MEMORYTYPE_HOST)
        c.dstHost = (void *)dst_host;
    if (c.srcMemoryType != CU_MEMORYTYPE_ARRAY && c.dstMemoryType != CU_MEMORYTYPE_ARRAY)
        return CUDA_ERROR_INVALID_VALUE; /* every other copy has a call of its own */
    if (!s->be.cuMemcpy3DAsync_v2 || !s->be.cuStreamSynchronize)
        return CUDA_ERROR_NOT_SUPPORTED;
    r = s->be.cuMemcpy3DAsync_v2(&c, hStream);
    return r == CUDA_SUCCESS ? s->be.cuStreamSynchronize(hStream) : r;
}
