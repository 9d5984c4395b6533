/*
 * Copies that involve CUDA arrays: the array side of copy.c's 2D/3D copies (locating a byte of
 * an array, checking a copy's rectangle fits inside it), the 1D array copies (cuMemcpyAtoA,
 * AtoD, AtoH, AtoHAsync, DtoA, HtoA, HtoAAsync: an array is linear device memory underneath,
 * so each is a device copy at the array's address after a bounds check), and cuMemcpy3DPeer /
 * cuMemcpy3DPeerAsync (every context shares softgpu's address space: a checked 3D copy).
 * Calls array.c, copy.c and context.c.
 */
#include <string.h>

#include "array.h"
#include "copy3d.h"

CUresult sg_array_locate(CUarray h, size_t x, size_t y, size_t z, uint64_t *addr, size_t *pitch,
                         size_t *slice)
{
    struct sg_array *a;
    CUresult r = sg_array_get(h, &a);
    if (r)
        return r;
    if (x > a->pitch || y > a->height || z > a->depth)
        return CUDA_ERROR_INVALID_VALUE;
    *addr = a->addr + x + y * a->pitch + z * a->slice;
    *pitch = a->pitch;
    *slice = a->slice;
    return CUDA_SUCCESS;
}

/* The array side of a copy: x and width whole elements, the box inside the array. */
static CUresult side_fits(CUmemorytype type, CUarray h, size_t x, size_t y, size_t z,
                          size_t width, size_t height, size_t depth)
{
    if (type != CU_MEMORYTYPE_ARRAY)
        return CUDA_SUCCESS;
    struct sg_array *a;
    CUresult r = sg_array_get(h, &a);
    if (r)
        return r;
    if (x % a->fmt.elem_bytes || width % a->fmt.elem_bytes || x > a->pitch ||
        width > a->pitch - x || y > a->height || height > a->height - y || z > a->depth ||
        depth > a->depth - z)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

CUresult sg_array_copy_check(const CUDA_MEMCPY3D *p)
{
    size_t h = p->Height ? p->Height : 1, d = p->Depth ? p->Depth : 1;
    CUresult r = side_fits(p->srcMemoryType, p->srcArray, p->srcXInBytes, p->srcY, p->srcZ,
                           p->WidthInBytes, h, d);
    if (!r)
        r = side_fits(p->dstMemoryType, p->dstArray, p->dstXInBytes, p->dstY, p->dstZ,
                      p->WidthInBytes, h, d);
    return r;
}

/* ---- 1D copies ------------------------------------------------------------------------------ */

/* The device address of bytes [offset, offset + count) of an array. */
static CUresult array_span(CUarray h, size_t offset, size_t count, CUdeviceptr *addr)
{
    struct sg_array *a;
    CUresult r = sg_array_get(h, &a);
    if (r)
        return r;
    if (offset > a->bytes || count > a->bytes - offset)
        return CUDA_ERROR_INVALID_VALUE;
    *addr = a->addr + offset;
    return CUDA_SUCCESS;
}

CUresult cuMemcpyAtoA(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset,
                      size_t ByteCount)
{
    CUdeviceptr d, s;
    CUresult r = array_span(dstArray, dstOffset, ByteCount, &d);
    if (!r)
        r = array_span(srcArray, srcOffset, ByteCount, &s);
    return r ? r : cuMemcpyDtoD(d, s, ByteCount);
}

CUresult cuMemcpyAtoD(CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    CUdeviceptr s;
    CUresult r = array_span(srcArray, srcOffset, ByteCount, &s);
    return r ? r : cuMemcpyDtoD(dstDevice, s, ByteCount);
}

CUresult cuMemcpyDtoA(CUarray dstArray, size_t dstOffset, CUdeviceptr srcDevice, size_t ByteCount)
{
    CUdeviceptr d;
    CUresult r = array_span(dstArray, dstOffset, ByteCount, &d);
    return r ? r : cuMemcpyDtoD(d, srcDevice, ByteCount);
}

CUresult cuMemcpyAtoH(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount)
{
    CUdeviceptr s;
    CUresult r = array_span(srcArray, srcOffset, ByteCount, &s);
    return r ? r : cuMemcpyDtoH(dstHost, s, ByteCount);
}

CUresult cuMemcpyHtoA(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount)
{
    CUdeviceptr d;
    CUresult r = array_span(dstArray, dstOffset, ByteCount, &d);
    return r ? r : cuMemcpyHtoD(d, srcHost, ByteCount);
}

CUresult cuMemcpyAtoHAsync(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount,
                           CUstream hStream)
{
    CUdeviceptr s;
    CUresult r = array_span(srcArray, srcOffset, ByteCount, &s);
    return r ? r : cuMemcpyDtoHAsync(dstHost, s, ByteCount, hStream);
}

CUresult cuMemcpyHtoAAsync(CUarray dstArray, size_t dstOffset, const void *srcHost,
                           size_t ByteCount, CUstream hStream)
{
    CUdeviceptr d;
    CUresult r = array_span(dstArray, dstOffset, ByteCount, &d);
    return r ? r : cuMemcpyHtoDAsync(d, srcHost, ByteCount, hStream);
}

/* ---- 3D peer copies ------------------------------------------------------------------------ */

/* A device-memory side names its context; array and host sides need none. */
static CUresult side_context(CUmemorytype type, CUcontext h)
{
    if (type != CU_MEMORYTYPE_DEVICE && type != CU_MEMORYTYPE_UNIFIED)
        return CUDA_SUCCESS;
    struct sg_ctx *c;
    return h ? sg_ctx_resolve(h, &c) : CUDA_ERROR_INVALID_CONTEXT;
}

static CUresult peer_to_3d(const CUDA_MEMCPY3D_PEER *p, CUDA_MEMCPY3D *q)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = side_context(p->srcMemoryType, p->srcContext);
    if (!r)
        r = side_context(p->dstMemoryType, p->dstContext);
    if (r)
        return r;
    *q = dk_copy3d_of_peer(p);
    return CUDA_SUCCESS;
}

CUresult cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *pCopy)
{
    CUDA_MEMCPY3D q;
    CUresult r = peer_to_3d(pCopy, &q);
    return r ? r : cuMemcpy3D(&q);
}

CUresult cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *pCopy, CUstream hStream)
{
    CUDA_MEMCPY3D q;
    CUresult r = peer_to_3d(pCopy, &q);
    return r ? r : cuMemcpy3DAsync(&q, hStream);
}
