/*
 * CUDA 13's location-based pool selection (cuMemGetDefaultMemPool, cuMemGetMemPool,
 * cuMemSetMemPool) and pool sharing between processes (cuMemPoolExportToShareableHandle,
 * cuMemPoolImportFromShareableHandle, cuMemPoolExportPointer, cuMemPoolImportPointer).
 *
 * softgpu has device pools only: the device reports CU_DEVICE_ATTRIBUTE_HOST_MEMORY_POOLS_SUPPORTED
 * and HOST_NUMA_MEMORY_POOLS_SUPPORTED as 0 and no managed pools, so host and managed locations
 * are CUDA_ERROR_NOT_SUPPORTED, as on a GPU without them. It reports
 * CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES as 0 (cuMemPoolCreate refuses handle
 * types), so no pool is exportable: exporting a pool or a pointer of one is
 * CUDA_ERROR_INVALID_VALUE (the driver's answer for a pool created without handle types) and
 * importing is CUDA_ERROR_NOT_SUPPORTED. Calls mempool.c.
 */
#include "softgpu.h"

/* INVALID_VALUE for what cuda.h rules out, NOT_SUPPORTED for kinds of pool softgpu lacks,
 * success for a device location with pinned memory (*dev set). */
static CUresult pool_location(const CUmemLocation *loc, CUmemAllocationType type, CUdevice *dev)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!loc)
        return CUDA_ERROR_INVALID_VALUE;
    if (type == CU_MEM_ALLOCATION_TYPE_MANAGED)
        return loc->type == CU_MEM_LOCATION_TYPE_DEVICE || loc->type == CU_MEM_LOCATION_TYPE_HOST
                       || loc->type == CU_MEM_LOCATION_TYPE_HOST_NUMA
                       || loc->type == CU_MEM_LOCATION_TYPE_NONE
                   ? CUDA_ERROR_NOT_SUPPORTED
                   : CUDA_ERROR_INVALID_VALUE;
    if (type != CU_MEM_ALLOCATION_TYPE_PINNED)
        return CUDA_ERROR_INVALID_VALUE;
    if (loc->type == CU_MEM_LOCATION_TYPE_HOST || loc->type == CU_MEM_LOCATION_TYPE_HOST_NUMA)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (loc->type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    if (sg_device_check(loc->id))
        return CUDA_ERROR_INVALID_DEVICE;
    *dev = loc->id;
    return CUDA_SUCCESS;
}

CUresult cuMemGetDefaultMemPool(CUmemoryPool *pool_out, CUmemLocation *location,
                                CUmemAllocationType type)
{
    CUdevice dev;
    if (!pool_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = pool_location(location, type, &dev);
    return r ? r : cuDeviceGetDefaultMemPool(pool_out, dev);
}

CUresult cuMemGetMemPool(CUmemoryPool *pool, CUmemLocation *location, CUmemAllocationType type)
{
    CUdevice dev;
    if (!pool)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = pool_location(location, type, &dev);
    return r ? r : cuDeviceGetMemPool(pool, dev);
}

CUresult cuMemSetMemPool(CUmemLocation *location, CUmemAllocationType type, CUmemoryPool pool)
{
    CUdevice dev;
    CUresult r = pool_location(location, type, &dev);
    if (r)
        return r;
    if (!sg_handle_is(pool, SG_K_POOL))
        return CUDA_ERROR_INVALID_VALUE;
    if (((struct sg_mempool *)pool)->device != dev)
        return CUDA_ERROR_INVALID_VALUE; /* the location must be the pool's */
    return cuDeviceSetMemPool(dev, pool);
}

CUresult cuMemPoolExportToShareableHandle(void *handle_out, CUmemoryPool pool,
                                          CUmemAllocationHandleType handleType,
                                          unsigned long long flags)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!handle_out || flags || !sg_handle_is(pool, SG_K_POOL) || handleType == CU_MEM_HANDLE_TYPE_NONE)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_INVALID_VALUE; /* no pool is created with a shareable handle type */
}

CUresult cuMemPoolImportFromShareableHandle(CUmemoryPool *pool_out, void *handle,
                                            CUmemAllocationHandleType handleType,
                                            unsigned long long flags)
{
    (void)handleType;
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!pool_out || !handle || flags)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_NOT_SUPPORTED; /* MEMPOOL_SUPPORTED_HANDLE_TYPES is 0 */
}

CUresult cuMemPoolExportPointer(CUmemPoolPtrExportData *shareData_out, CUdeviceptr ptr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_region reg;
    if (!shareData_out || sg_mem_find(ptr, &reg) != 0 || !reg.pool)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_INVALID_VALUE; /* its pool is not exportable */
}

CUresult cuMemPoolImportPointer(CUdeviceptr *ptr_out, CUmemoryPool pool,
                                CUmemPoolPtrExportData *shareData)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!ptr_out || !shareData || !sg_handle_is(pool, SG_K_POOL))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_INVALID_VALUE; /* only an imported pool can import pointers */
}
