/*
 * 2D and 3D copies with a CUDA array on a side: sent to the worker slab by slab (a slab: rows of
 * one slice, at most SLAB_BYTES of them) as tfi_memcpy_array, with a host side packed into
 * rows of WidthInBytes on the way out and unpacked on the way back, so that the program's
 * pitched host memory never has to be visible to the worker. Device and array sides travel as
 * they are and are checked by the worker.
 * May call: entry.c (tfi_memcpy_array), local.c (the record of device allocations).
 */
#include <stdlib.h>
#include <string.h>

#include "stub.h"

#define SLAB_BYTES (8u << 20)

static int is_host(CUmemorytype t, CUdeviceptr dev)
{
    return t == CU_MEMORYTYPE_HOST || (t == CU_MEMORYTYPE_UNIFIED && !tfs_dev_contains(dev, 1));
}

/* A host side's base: a unified side names it by its device pointer (the address itself). */
static const void *host_base(CUmemorytype t, const void *host, CUdeviceptr dev)
{
    return t == CU_MEMORYTYPE_UNIFIED ? (const void *)(uintptr_t)dev : host;
}

/* The address of row `row` of slice `z` of a host side. */
static char *host_row(const void *base, size_t x, size_t y, size_t z, size_t pitch,
                      size_t height, size_t row)
{
    return (char *)base + ((z * height) + y + row) * pitch + x;
}

/* One slab: rows [row, row + n) of slice z. */
static CUresult copy_slab(const CUDA_MEMCPY3D *c, size_t z, size_t row, size_t n, char *buf,
                          CUstream s)
{
    CUDA_MEMCPY3D slab = *c;
    size_t w = c->WidthInBytes;
    int src_host = is_host(c->srcMemoryType, c->srcDevice);
    int dst_host = is_host(c->dstMemoryType, c->dstDevice);
    slab.Height = n;
    slab.Depth = 1;
    if (src_host) {
        for (size_t i = 0; i < n; i++)
            memcpy(buf + i * w,
                   host_row(host_base(c->srcMemoryType, c->srcHost, c->srcDevice),
                            c->srcXInBytes, c->srcY, c->srcZ + z, c->srcPitch, c->srcHeight,
                            row + i), w);
        slab.srcMemoryType = CU_MEMORYTYPE_HOST;
        slab.srcHost = NULL;
        slab.srcXInBytes = slab.srcY = slab.srcZ = 0;
    } else {
        slab.srcY += row;
        slab.srcZ += z;
    }
    if (dst_host) {
        slab.dstMemoryType = CU_MEMORYTYPE_HOST;
        slab.dstHost = NULL;
        slab.dstXInBytes = slab.dstY = slab.dstZ = 0;
    } else {
        slab.dstY += row;
        slab.dstZ += z;
    }
    uint64_t bytes = (uint64_t)w * n;
    CUresult r = tfi_memcpy_array(&slab, src_host ? bytes : 0, src_host ? buf : NULL,
                                  dst_host ? bytes : 0, dst_host ? buf : NULL, s);
    if (r == CUDA_SUCCESS && dst_host)
        for (size_t i = 0; i < n; i++)
            memcpy(host_row(host_base(c->dstMemoryType, c->dstHost, c->dstDevice),
                            c->dstXInBytes, c->dstY, c->dstZ + z, c->dstPitch, c->dstHeight,
                            row + i), buf + i * w, w);
    return r;
}

CUresult tfs_copy_array_3d(const CUDA_MEMCPY3D *c, CUstream s)
{
    size_t w = c->WidthInBytes, h = c->Height ? c->Height : 1, d = c->Depth ? c->Depth : 1;
    if (!w || !c->Height || !c->Depth)
        return CUDA_SUCCESS;
    if (w > SLAB_BYTES) {
        tfs_unsupported("array copies with rows over 8 MiB");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    size_t rows = SLAB_BYTES / w;
    char *buf = malloc(rows < h ? rows * w : h * w);
    if (!buf)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = CUDA_SUCCESS;
    for (size_t z = 0; z < d && r == CUDA_SUCCESS; z++)
        for (size_t row = 0; row < h && r == CUDA_SUCCESS; row += rows)
            r = copy_slab(c, z, row, rows < h - row ? rows : h - row, buf, s);
    free(buf);
    return r;
}

CUresult tfs_copy_array_2d(const CUDA_MEMCPY2D *c, CUstream s)
{
    CUDA_MEMCPY3D c3 = {
        .srcXInBytes = c->srcXInBytes, .srcY = c->srcY, .srcMemoryType = c->srcMemoryType,
        .srcHost = c->srcHost, .srcDevice = c->srcDevice, .srcArray = c->srcArray,
        .srcPitch = c->srcPitch, .srcHeight = c->Height,
        .dstXInBytes = c->dstXInBytes, .dstY = c->dstY, .dstMemoryType = c->dstMemoryType,
        .dstHost = c->dstHost, .dstDevice = c->dstDevice, .dstArray = c->dstArray,
        .dstPitch = c->dstPitch, .dstHeight = c->Height,
        .WidthInBytes = c->WidthInBytes, .Height = c->Height, .Depth = 1};
    return tfs_copy_array_3d(&c3, s);
}
