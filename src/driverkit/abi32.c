/*
 * The CUDA 3.1 ABIs (abi32.h) composed from the current ones, compiled into every driver-shaped
 * library here (the stub, softgpu): the conversions between v1 values and current ones, and
 * every v1 entry point that allocates nothing. The allocating ones (cuMemAlloc,
 * cuMemAllocPitch, cuMemFree, cuMemAllocHost) are each library's own: their memory must come
 * from addresses below 4 GiB, which only the device can choose (softgpu's 32-bit window;
 * through the stub, the worker's backend, or the program's own memory for cuMemAllocHost).
 * May call: the library's current entry points (cuMemcpyHtoD_v2, ...), by their exported names.
 */
#include <limits.h>

#include "abi32_names.h"

/* The texture reference API is deprecated in cuda.h, and part of the ABI all the same. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* ---- conversions ---- */

CUresult dk_abi32_addr(CUdeviceptr p, CUdeviceptr_v1 *out)
{
    if (p > UINT_MAX)
        return CUDA_ERROR_OUT_OF_MEMORY; /* not addressable through the 32-bit ABI */
    *out = (CUdeviceptr_v1)p;
    return CUDA_SUCCESS;
}

CUresult dk_abi32_size(size_t n, unsigned int *out)
{
    if (n > UINT_MAX)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *out = (unsigned int)n;
    return CUDA_SUCCESS;
}

/* The memory totals are clamped, not refused: the driver documents them as the amounts of
 * memory, which a device of more than 4 GiB cannot state in 32 bits, and a 32-bit program can
 * use no more than UINT_MAX bytes of it anyway. Failing would make the call useless on every
 * device sold since; clamping tells the program truthfully that it may use all it can name. */
static unsigned int clamp32(size_t n) { return n > UINT_MAX ? UINT_MAX : (unsigned int)n; }

CUDA_ARRAY_DESCRIPTOR dk_abi32_desc(const CUDA_ARRAY_DESCRIPTOR_v1 *d)
{
    return (CUDA_ARRAY_DESCRIPTOR){.Width = d->Width, .Height = d->Height, .Format = d->Format,
                                   .NumChannels = d->NumChannels};
}

CUDA_ARRAY3D_DESCRIPTOR dk_abi32_desc3d(const CUDA_ARRAY3D_DESCRIPTOR_v1 *d)
{
    return (CUDA_ARRAY3D_DESCRIPTOR){.Width = d->Width, .Height = d->Height, .Depth = d->Depth,
                                     .Format = d->Format, .NumChannels = d->NumChannels,
                                     .Flags = d->Flags};
}

CUresult dk_abi32_desc_v1(const CUDA_ARRAY_DESCRIPTOR *d, CUDA_ARRAY_DESCRIPTOR_v1 *out)
{
    CUDA_ARRAY_DESCRIPTOR_v1 v = {.Format = d->Format, .NumChannels = d->NumChannels};
    CUresult r = dk_abi32_size(d->Width, &v.Width);
    if (!r)
        r = dk_abi32_size(d->Height, &v.Height);
    if (!r)
        *out = v;
    return r;
}

CUresult dk_abi32_desc3d_v1(const CUDA_ARRAY3D_DESCRIPTOR *d, CUDA_ARRAY3D_DESCRIPTOR_v1 *out)
{
    CUDA_ARRAY3D_DESCRIPTOR_v1 v = {.Format = d->Format, .NumChannels = d->NumChannels,
                                    .Flags = d->Flags};
    CUresult r = dk_abi32_size(d->Width, &v.Width);
    if (!r)
        r = dk_abi32_size(d->Height, &v.Height);
    if (!r)
        r = dk_abi32_size(d->Depth, &v.Depth);
    if (!r)
        *out = v;
    return r;
}

CUDA_MEMCPY2D dk_abi32_copy2d(const CUDA_MEMCPY2D_v1 *c)
{
    return (CUDA_MEMCPY2D){
        .srcXInBytes = c->srcXInBytes, .srcY = c->srcY, .srcMemoryType = c->srcMemoryType,
        .srcHost = c->srcHost, .srcDevice = c->srcDevice, .srcArray = c->srcArray,
        .srcPitch = c->srcPitch, .dstXInBytes = c->dstXInBytes, .dstY = c->dstY,
        .dstMemoryType = c->dstMemoryType, .dstHost = c->dstHost, .dstDevice = c->dstDevice,
        .dstArray = c->dstArray, .dstPitch = c->dstPitch, .WidthInBytes = c->WidthInBytes,
        .Height = c->Height};
}

CUDA_MEMCPY3D dk_abi32_copy3d(const CUDA_MEMCPY3D_v1 *c)
{
    return (CUDA_MEMCPY3D){
        .srcXInBytes = c->srcXInBytes, .srcY = c->srcY, .srcZ = c->srcZ, .srcLOD = c->srcLOD,
        .srcMemoryType = c->srcMemoryType, .srcHost = c->srcHost, .srcDevice = c->srcDevice,
        .srcArray = c->srcArray, .reserved0 = c->reserved0, .srcPitch = c->srcPitch,
        .srcHeight = c->srcHeight, .dstXInBytes = c->dstXInBytes, .dstY = c->dstY,
        .dstZ = c->dstZ, .dstLOD = c->dstLOD, .dstMemoryType = c->dstMemoryType,
        .dstHost = c->dstHost, .dstDevice = c->dstDevice, .dstArray = c->dstArray,
        .reserved1 = c->reserved1, .dstPitch = c->dstPitch, .dstHeight = c->dstHeight,
        .WidthInBytes = c->WidthInBytes, .Height = c->Height, .Depth = c->Depth};
}

/* ---- device and memory queries ---- */

CUresult CUDAAPI cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
    size_t total;
    if (!bytes)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuDeviceTotalMem_v2(&total, dev);
    if (!r)
        *bytes = clamp32(total);
    return r;
}

CUresult CUDAAPI cuMemGetInfo(unsigned int *free, unsigned int *total)
{
    size_t f, t;
    if (!free || !total)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuMemGetInfo_v2(&f, &t);
    if (!r) {
        *free = clamp32(f);
        *total = clamp32(t);
    }
    return r;
}

CUresult CUDAAPI cuMemGetAddressRange(CUdeviceptr_v1 *pbase, unsigned int *psize,
                                      CUdeviceptr_v1 dptr)
{
    CUdeviceptr base;
    size_t size;
    CUdeviceptr_v1 b32;
    unsigned int s32;
    CUresult r = cuMemGetAddressRange_v2(&base, &size, dptr);
    if (!r)
        r = dk_abi32_addr(base, &b32);
    if (!r)
        r = dk_abi32_size(size, &s32);
    if (!r && pbase)
        *pbase = b32;
    if (!r && psize)
        *psize = s32;
    return r;
}

CUresult CUDAAPI cuModuleGetGlobal(CUdeviceptr_v1 *dptr, unsigned int *bytes, CUmodule hmod,
                                   const char *name)
{
    CUdeviceptr p;
    size_t n;
    CUdeviceptr_v1 p32;
    unsigned int n32;
    CUresult r = cuModuleGetGlobal_v2(&p, &n, hmod, name);
    if (!r)
        r = dk_abi32_addr(p, &p32);
    if (!r)
        r = dk_abi32_size(n, &n32);
    if (!r && dptr)
        *dptr = p32;
    if (!r && bytes)
        *bytes = n32;
    return r;
}

/* ---- page-locked host memory (cuMemAllocHost is each library's: where the memory lies
 * decides whether its device address fits) ---- */

CUresult CUDAAPI cuMemHostGetDevicePointer(CUdeviceptr_v1 *pdptr, void *p, unsigned int Flags)
{
    CUdeviceptr d;
    if (!pdptr)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuMemHostGetDevicePointer_v2(&d, p, Flags);
    return r ? r : dk_abi32_addr(d, pdptr);
}

/* ---- copies and memsets: 32-bit arguments widen exactly ---- */

CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr_v1 dstDevice, const void *srcHost,
                              unsigned int ByteCount)
{
    return cuMemcpyHtoD_v2(dstDevice, srcHost, ByteCount);
}

CUresult CUDAAPI cuMemcpyDtoH(void *dstHost, CUdeviceptr_v1 srcDevice, unsigned int ByteCount)
{
    return cuMemcpyDtoH_v2(dstHost, srcDevice, ByteCount);
}

CUresult CUDAAPI cuMemcpyDtoD(CUdeviceptr_v1 dstDevice, CUdeviceptr_v1 srcDevice,
                              unsigned int ByteCount)
{
    return cuMemcpyDtoD_v2(dstDevice, srcDevice, ByteCount);
}

CUresult CUDAAPI cuMemcpyDtoA(CUarray dstArray, unsigned int dstOffset, CUdeviceptr_v1 srcDevice,
                              unsigned int ByteCount)
{
    return cuMemcpyDtoA_v2(dstArray, dstOffset, srcDevice, ByteCount);
}

CUresult CUDAAPI cuMemcpyAtoD(CUdeviceptr_v1 dstDevice, CUarray srcArray, unsigned int srcOffset,
                              unsigned int ByteCount)
{
    return cuMemcpyAtoD_v2(dstDevice, srcArray, srcOffset, ByteCount);
}

CUresult CUDAAPI cuMemcpyHtoA(CUarray dstArray, unsigned int dstOffset, const void *srcHost,
                              unsigned int ByteCount)
{
    return cuMemcpyHtoA_v2(dstArray, dstOffset, srcHost, ByteCount);
}

CUresult CUDAAPI cuMemcpyAtoH(void *dstHost, CUarray srcArray, unsigned int srcOffset,
                              unsigned int ByteCount)
{
    return cuMemcpyAtoH_v2(dstHost, srcArray, srcOffset, ByteCount);
}

CUresult CUDAAPI cuMemcpyAtoA(CUarray dstArray, unsigned int dstOffset, CUarray srcArray,
                              unsigned int srcOffset, unsigned int ByteCount)
{
    return cuMemcpyAtoA_v2(dstArray, dstOffset, srcArray, srcOffset, ByteCount);
}

CUresult CUDAAPI cuMemcpyHtoAAsync(CUarray dstArray, unsigned int dstOffset, const void *srcHost,
                                   unsigned int ByteCount, CUstream hStream)
{
    return cuMemcpyHtoAAsync_v2(dstArray, dstOffset, srcHost, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyAtoHAsync(void *dstHost, CUarray srcArray, unsigned int srcOffset,
                                   unsigned int ByteCount, CUstream hStream)
{
    return cuMemcpyAtoHAsync_v2(dstHost, srcArray, srcOffset, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyHtoDAsync(CUdeviceptr_v1 dstDevice, const void *srcHost,
                                   unsigned int ByteCount, CUstream hStream)
{
    return cuMemcpyHtoDAsync_v2(dstDevice, srcHost, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoHAsync(void *dstHost, CUdeviceptr_v1 srcDevice,
                                   unsigned int ByteCount, CUstream hStream)
{
    return cuMemcpyDtoHAsync_v2(dstHost, srcDevice, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr_v1 dstDevice, CUdeviceptr_v1 srcDevice,
                                   unsigned int ByteCount, CUstream hStream)
{
    return cuMemcpyDtoDAsync_v2(dstDevice, srcDevice, ByteCount, hStream);
}

/* A copy descriptor the program gives as NULL stays NULL: the current call refuses it. */
#define WIDEN(conv, p, body)                                                                 \
    do {                                                                                     \
        if (!(p))                                                                            \
            return CUDA_ERROR_INVALID_VALUE;                                                 \
        const __typeof__(conv(p)) c = conv(p);                                               \
        return body;                                                                         \
    } while (0)

CUresult CUDAAPI cuMemcpy2D(const CUDA_MEMCPY2D_v1 *pCopy)
{
    WIDEN(dk_abi32_copy2d, pCopy, cuMemcpy2D_v2(&c));
}

CUresult CUDAAPI cuMemcpy2DUnaligned(const CUDA_MEMCPY2D_v1 *pCopy)
{
    WIDEN(dk_abi32_copy2d, pCopy, cuMemcpy2DUnaligned_v2(&c));
}

CUresult CUDAAPI cuMemcpy2DAsync(const CUDA_MEMCPY2D_v1 *pCopy, CUstream hStream)
{
    WIDEN(dk_abi32_copy2d, pCopy, cuMemcpy2DAsync_v2(&c, hStream));
}

CUresult CUDAAPI cuMemcpy3D(const CUDA_MEMCPY3D_v1 *pCopy)
{
    WIDEN(dk_abi32_copy3d, pCopy, cuMemcpy3D_v2(&c));
}

CUresult CUDAAPI cuMemcpy3DAsync(const CUDA_MEMCPY3D_v1 *pCopy, CUstream hStream)
{
    WIDEN(dk_abi32_copy3d, pCopy, cuMemcpy3DAsync_v2(&c, hStream));
}

CUresult CUDAAPI cuMemsetD8(CUdeviceptr_v1 dstDevice, unsigned char uc, unsigned int N)
{
    return cuMemsetD8_v2(dstDevice, uc, N);
}

CUresult CUDAAPI cuMemsetD16(CUdeviceptr_v1 dstDevice, unsigned short us, unsigned int N)
{
    return cuMemsetD16_v2(dstDevice, us, N);
}

CUresult CUDAAPI cuMemsetD32(CUdeviceptr_v1 dstDevice, unsigned int ui, unsigned int N)
{
    return cuMemsetD32_v2(dstDevice, ui, N);
}

CUresult CUDAAPI cuMemsetD2D8(CUdeviceptr_v1 dstDevice, unsigned int dstPitch, unsigned char uc,
                              unsigned int Width, unsigned int Height)
{
    return cuMemsetD2D8_v2(dstDevice, dstPitch, uc, Width, Height);
}

CUresult CUDAAPI cuMemsetD2D16(CUdeviceptr_v1 dstDevice, unsigned int dstPitch,
                               unsigned short us, unsigned int Width, unsigned int Height)
{
    return cuMemsetD2D16_v2(dstDevice, dstPitch, us, Width, Height);
}

CUresult CUDAAPI cuMemsetD2D32(CUdeviceptr_v1 dstDevice, unsigned int dstPitch, unsigned int ui,
                               unsigned int Width, unsigned int Height)
{
    return cuMemsetD2D32_v2(dstDevice, dstPitch, ui, Width, Height);
}

/* ---- CUDA arrays ---- */

CUresult CUDAAPI cuArrayCreate(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR_v1 *pAllocateArray)
{
    WIDEN(dk_abi32_desc, pAllocateArray, cuArrayCreate_v2(pHandle, &c));
}

CUresult CUDAAPI cuArray3DCreate(CUarray *pHandle,
                                 const CUDA_ARRAY3D_DESCRIPTOR_v1 *pAllocateArray)
{
    WIDEN(dk_abi32_desc3d, pAllocateArray, cuArray3DCreate_v2(pHandle, &c));
}

CUresult CUDAAPI cuArrayGetDescriptor(CUDA_ARRAY_DESCRIPTOR_v1 *pArrayDescriptor, CUarray hArray)
{
    CUDA_ARRAY_DESCRIPTOR d;
    if (!pArrayDescriptor)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuArrayGetDescriptor_v2(&d, hArray);
    return r ? r : dk_abi32_desc_v1(&d, pArrayDescriptor);
}

CUresult CUDAAPI cuArray3DGetDescriptor(CUDA_ARRAY3D_DESCRIPTOR_v1 *pArrayDescriptor,
                                        CUarray hArray)
{
    CUDA_ARRAY3D_DESCRIPTOR d;
    if (!pArrayDescriptor)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuArray3DGetDescriptor_v2(&d, hArray);
    return r ? r : dk_abi32_desc3d_v1(&d, pArrayDescriptor);
}

/* ---- texture references bound to linear memory ---- */

CUresult CUDAAPI cuTexRefSetAddress(unsigned int *ByteOffset, CUtexref hTexRef,
                                    CUdeviceptr_v1 dptr, unsigned int bytes)
{
    size_t off = 0;
    CUresult r = cuTexRefSetAddress_v2(&off, hTexRef, dptr, bytes);
    /* the offset is below the texture alignment: it always fits */
    if (!r && ByteOffset)
        *ByteOffset = (unsigned int)off;
    return r;
}

/* The CUDA 2.2 ABI: what CUDA 4.1's cuTexRefSetAddress2D_v3 does with 32-bit arguments. */
CUresult CUDAAPI cuTexRefSetAddress2D(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR_v1 *desc,
                                      CUdeviceptr_v1 dptr, unsigned int Pitch)
{
    WIDEN(dk_abi32_desc, desc, cuTexRefSetAddress2D_v3(hTexRef, &c, dptr, Pitch));
}

CUresult CUDAAPI cuTexRefGetAddress(CUdeviceptr_v1 *pdptr, CUtexref hTexRef)
{
    CUdeviceptr p;
    if (!pdptr)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuTexRefGetAddress_v2(&p, hTexRef);
    return r ? r : dk_abi32_addr(p, pdptr);
}
