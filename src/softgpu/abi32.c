/*
 * softgpu's allocations through the CUDA 3.1 ABIs (src/driverkit/abi32.h): cuMemAlloc,
 * cuMemAllocPitch and cuMemFree with 32-bit pointers and sizes, and cuMemAllocHost. The memory
 * comes from the 32-bit window below 4 GiB (memory.c), device memory charged to the device like
 * any allocation, so every address given back fits; the other v1 entry points are composed in
 * src/driverkit/abi32.c.
 * Calls memory.c and context.c.
 */
#include "softgpu.h"

#include "abi32_names.h"

/* bytes of device memory in the window, its address checked to fit (it always does: the
 * window lies below 4 GiB; a platform without one answers CUDA_ERROR_OUT_OF_MEMORY) */
static CUresult alloc32(CUdeviceptr_v1 *dptr, uint64_t bytes)
{
    struct sg_ctx *c;
    uint64_t p;
    CUresult r = sg_ctx_get(&c);
    if (!r)
        r = sg_mem_alloc_low(c, bytes, SG_R_DEVICE, &p);
    if (!r && (r = dk_abi32_addr(p, dptr)) != CUDA_SUCCESS)
        sg_mem_free(p, SG_R_DEVICE);
    return r;
}

CUresult CUDAAPI cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
    if (!dptr)
        return CUDA_ERROR_INVALID_VALUE;
    return alloc32(dptr, bytesize);
}

CUresult CUDAAPI cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pPitch,
                                 unsigned int WidthInBytes, unsigned int Height,
                                 unsigned int ElementSizeBytes)
{
    size_t pitch;
    unsigned int pitch32;
    if (!dptr || !pPitch)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_mem_pitch(WidthInBytes, Height, ElementSizeBytes, &pitch);
    if (!r)
        r = dk_abi32_size(pitch, &pitch32);
    if (!r)
        r = alloc32(dptr, (uint64_t)pitch * Height);
    if (!r)
        *pPitch = pitch32;
    return r;
}

/* Page-locked memory in the window too, so that cuMemHostGetDevicePointer's 32-bit form can
 * name it (unified addressing: its device address is its host address). */
CUresult CUDAAPI cuMemAllocHost(void **pp, unsigned int bytesize)
{
    struct sg_ctx *c;
    uint64_t p;
    if (!pp)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_ctx_get(&c);
    if (!r)
        r = sg_mem_alloc_low(c, bytesize, SG_R_HOST, &p);
    if (!r)
        *pp = (void *)(uintptr_t)p;
    return r;
}

/* A 32-bit pointer names the window only: freeing it is freeing any device allocation. */
CUresult CUDAAPI cuMemFree(CUdeviceptr_v1 dptr) { return cuMemFree_v2(dptr); }
