/*
 * abi32.h: the CUDA 3.1 ABIs, whose sizes and device pointers are 32 bits wide, for every
 * driver-shaped library here (the stub, softgpu) and for the layers that forward three of them
 * (the call table's cuMemAlloc, cuMemAllocPitch and cuMemFree, and the worker's backend table).
 *
 * Owns: the v1 types (cuda.h declares them only for NVIDIA's own build of the driver, under
 * __CUDA_API_VERSION_INTERNAL), the PFN typedefs of the v1 entries the call table forwards, and
 * the one place where v1 values become current ones and back (abi32.c). Including this header
 * renames nothing; a file that defines v1 entry points includes abi32_names.h after it.
 *
 * The rules every v1 entry point follows (abi32.c):
 *   - a device address given back must fit in 32 bits; one that does not is never truncated:
 *     the call fails with CUDA_ERROR_OUT_OF_MEMORY (that memory is not addressable through the
 *     32-bit ABI), after undoing what it allocated;
 *   - a size given back that does not fit fails the same way, except the memory totals
 *     (cuMemGetInfo, cuDeviceTotalMem), which are clamped to UINT_MAX (abi32.c says why).
 */
#ifndef TFUSE_DRIVERKIT_ABI32_H
#define TFUSE_DRIVERKIT_ABI32_H

#include <cuda.h>

#if !defined(__CUDA_API_VERSION_INTERNAL)
/* The definitions of cuda.h's internal section, word for word. */
typedef unsigned int CUdeviceptr_v1;

typedef struct CUDA_MEMCPY2D_v1_st {
    unsigned int srcXInBytes, srcY;
    CUmemorytype srcMemoryType;
    const void *srcHost;
    CUdeviceptr_v1 srcDevice;
    CUarray srcArray;
    unsigned int srcPitch;
    unsigned int dstXInBytes, dstY;
    CUmemorytype dstMemoryType;
    void *dstHost;
    CUdeviceptr_v1 dstDevice;
    CUarray dstArray;
    unsigned int dstPitch;
    unsigned int WidthInBytes, Height;
} CUDA_MEMCPY2D_v1;

typedef struct CUDA_MEMCPY3D_v1_st {
    unsigned int srcXInBytes, srcY, srcZ, srcLOD;
    CUmemorytype srcMemoryType;
    const void *srcHost;
    CUdeviceptr_v1 srcDevice;
    CUarray srcArray;
    void *reserved0;
    unsigned int srcPitch, srcHeight;
    unsigned int dstXInBytes, dstY, dstZ, dstLOD;
    CUmemorytype dstMemoryType;
    void *dstHost;
    CUdeviceptr_v1 dstDevice;
    CUarray dstArray;
    void *reserved1;
    unsigned int dstPitch, dstHeight;
    unsigned int WidthInBytes, Height, Depth;
} CUDA_MEMCPY3D_v1;

typedef struct CUDA_ARRAY_DESCRIPTOR_v1_st {
    unsigned int Width, Height;
    CUarray_format Format;
    unsigned int NumChannels;
} CUDA_ARRAY_DESCRIPTOR_v1;

typedef struct CUDA_ARRAY3D_DESCRIPTOR_v1_st {
    unsigned int Width, Height, Depth;
    CUarray_format Format;
    unsigned int NumChannels;
    unsigned int Flags;
} CUDA_ARRAY3D_DESCRIPTOR_v1;

/* cudaTypedefs.h's, for the entries of the backend table (src/backend/backend.h). */
typedef CUresult(CUDAAPI *PFN_cuMemAlloc_v2000)(CUdeviceptr_v1 *dptr, unsigned int bytesize);
typedef CUresult(CUDAAPI *PFN_cuMemAllocPitch_v2000)(CUdeviceptr_v1 *dptr, unsigned int *pPitch,
                                                     unsigned int WidthInBytes,
                                                     unsigned int Height,
                                                     unsigned int ElementSizeBytes);
typedef CUresult(CUDAAPI *PFN_cuMemFree_v2000)(CUdeviceptr_v1 dptr);
#endif

/* An address given back through the 32-bit ABI: *out = p when it fits, else
 * CUDA_ERROR_OUT_OF_MEMORY and *out untouched. */
CUresult dk_abi32_addr(CUdeviceptr p, CUdeviceptr_v1 *out);
/* A size or offset given back: the same rule. */
CUresult dk_abi32_size(size_t n, unsigned int *out);

/* v1 descriptors and copies as the current structures (widening: always exact). */
CUDA_ARRAY_DESCRIPTOR dk_abi32_desc(const CUDA_ARRAY_DESCRIPTOR_v1 *d);
CUDA_ARRAY3D_DESCRIPTOR dk_abi32_desc3d(const CUDA_ARRAY3D_DESCRIPTOR_v1 *d);
CUDA_MEMCPY2D dk_abi32_copy2d(const CUDA_MEMCPY2D_v1 *c);
CUDA_MEMCPY3D dk_abi32_copy3d(const CUDA_MEMCPY3D_v1 *c);
/* Current descriptors as v1 ones: CUDA_ERROR_OUT_OF_MEMORY when an extent does not fit. */
CUresult dk_abi32_desc_v1(const CUDA_ARRAY_DESCRIPTOR *d, CUDA_ARRAY_DESCRIPTOR_v1 *out);
CUresult dk_abi32_desc3d_v1(const CUDA_ARRAY3D_DESCRIPTOR *d, CUDA_ARRAY3D_DESCRIPTOR_v1 *out);

#endif
