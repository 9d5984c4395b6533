/*
 * CUDA 13's location-based pool selection (cuMemGetDefaultMemPool, cuMemGetMemPool,
 * cuMemSetMemPool) and pool sharing between processes (cuMemPoolExportToShareableHandle,
 * cuMemPoolImportFromShareableHandle, cuMemPoolExportPointer, cuMemPoolImportPointer).
 *
 * softgpu has device pools only: the device reports CU_DEVICE_ATTRIBUTE_HOST_MEMORY_POOLS_SUPPORTED
 * and HOST_NUMA_MEMORY_POOLS_SUPPORTED as 0 and no managed pools, so host and managed locations
 * are CUDA_ERROR_NOT_SUPPORTED, as on a GPU without them.
 *
 * Sharing: a pool created with CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR (the one type
 * CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES reports) exports as a descriptor of a
 * one-page memfd naming the pool (struct pool_token: the exporter's pid and a random id); the
 * importing process gets a pool of its own that stands for the exporter's. A pointer of an
 * exportable pool exports as an IPC memory handle of its allocation (ipc.c moves its pages into a
 * memfd) with the pool's id; the importer's pool must be that pool's import, and the pointer
 * opens as IPC memory (SG_R_IPC, not charged) tagged with the imported pool, freed by cuMemFree
 * or cuMemFreeAsync. Exporting from a pool without handle types is CUDA_ERROR_INVALID_VALUE, as
 * the driver answers. Calls mempool.c and ipc.c.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "softgpu.h"

#define POOL_MAGIC 0x4c504753u /* "SGPL" */

/* The memfd page an exported pool's descriptor names. */
struct pool_token {
    uint32_t magic;
    int32_t pid;
    uint64_t id;
};

/* The 64 bytes of a CUmemPoolPtrExportData: an IPC memory handle's first 32 bytes (ipc.c's
 * struct ipc_wire) and the id of the pool the pointer came from. */
struct ptr_export {
    unsigned char ipc[32];
    uint64_t pool_id;
};
_Static_assert(sizeof(struct ptr_export) <= sizeof(CUmemPoolPtrExportData), "export too small");

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

/* The exporter's token of pool p (made once): its id, and its descriptor in *fd. */
static CUresult pool_token(struct sg_mempool *p, int *fd)
{
    if (p->share_fd < 0) {
        uint64_t id;
        int f = sg_ipc_memfd(SG_PAGE_SIZE, &id);
        struct pool_token t = {POOL_MAGIC, (int32_t)getpid(), id};
        if (f < 0 || pwrite(f, &t, sizeof t, 0) != (ssize_t)sizeof t) {
            if (f >= 0)
                close(f);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        p->share_fd = f;
        p->share_id = id;
    }
    *fd = p->share_fd;
    return CUDA_SUCCESS;
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
    struct sg_mempool *p = (struct sg_mempool *)pool;
    if (!(p->handle_types & handleType) || p->imported)
        return CUDA_ERROR_INVALID_VALUE; /* not created with that handle type */
    int fd;
    if ((r = pool_token(p, &fd)))
        return r;
    int out = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (out < 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *(int *)handle_out = out;
    return CUDA_SUCCESS;
}

CUresult cuMemPoolImportFromShareableHandle(CUmemoryPool *pool_out, void *handle,
                                            CUmemAllocationHandleType handleType,
                                            unsigned long long flags)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!pool_out || flags || handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_INVALID_VALUE;
    int fd = (int)(intptr_t)handle; /* the POSIX handle is the descriptor itself */
    struct pool_token t;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof t
        || pread(fd, &t, sizeof t, 0) != (ssize_t)sizeof t || t.magic != POOL_MAGIC)
        return CUDA_ERROR_INVALID_VALUE;
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = c->dev->ordinal;
    CUmemoryPool h;
    if ((r = cuMemPoolCreate(&h, &props)))
        return r;
    struct sg_mempool *p = (struct sg_mempool *)h;
    p->imported = 1;
    p->share_id = t.id;
    *pool_out = h;
    return CUDA_SUCCESS;
}

CUresult cuMemPoolExportPointer(CUmemPoolPtrExportData *shareData_out, CUdeviceptr ptr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_region reg;
    if (!shareData_out || sg_mem_find(ptr, &reg) != 0 || !reg.pool || reg.start != ptr
        || reg.kind != SG_R_DEVICE || !reg.pool->handle_types)
        return CUDA_ERROR_INVALID_VALUE; /* a pointer of an exportable pool */
    int fd;
    if ((r = pool_token(reg.pool, &fd)))
        return r;
    CUipcMemHandle h;
    if ((r = cuIpcGetMemHandle(&h, ptr)))
        return r;
    struct ptr_export e;
    memcpy(e.ipc, h.reserved, sizeof e.ipc);
    e.pool_id = reg.pool->share_id;
    memset(shareData_out, 0, sizeof *shareData_out);
    memcpy(shareData_out->reserved, &e, sizeof e);
    return CUDA_SUCCESS;
}

CUresult cuMemPoolImportPointer(CUdeviceptr *ptr_out, CUmemoryPool pool,
                                CUmemPoolPtrExportData *shareData)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!ptr_out || !shareData || !sg_handle_is(pool, SG_K_POOL))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_mempool *p = (struct sg_mempool *)pool;
    struct ptr_export e;
    memcpy(&e, shareData->reserved, sizeof e);
    if (!p->imported || e.pool_id != p->share_id)
        return CUDA_ERROR_INVALID_VALUE; /* only the import of the pointer's pool */
    CUipcMemHandle h;
    memset(&h, 0, sizeof h);
    memcpy(h.reserved, e.ipc, sizeof e.ipc);
    if ((r = cuIpcOpenMemHandle_v2(ptr_out, h, 0)))
        return r;
    sg_mem_tag_pool(*ptr_out, p); /* freed by cuMemFree(Async), not cuIpcCloseMemHandle */
    return CUDA_SUCCESS;
}
