/*
 * Stream-ordered allocation: memory pools (default and created), cuMemAllocAsync,
 * cuMemAllocFromPoolAsync, cuMemFreeAsync and pool attributes. Allocation happens when the
 * call is made (memory that exists early is always safe to use later in stream order); the
 * free is a work item that runs when the stream reaches it and hands the block to the pool's
 * cache (mempool_cache.c: reuse rules, release threshold, used/reserved figures).
 * Calls memory.c, mempool_cache.c, stream.c and context.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "softgpu.h"

void sg_mempool_init_device(struct sg_device *d)
{
    struct sg_mempool *p = calloc(1, sizeof *p);
    if (!p)
        abort(); /* at init, without a few bytes nothing else would work either */
    p->device = d->ordinal;
    p->is_default = 1;
    p->share_fd = -1;
    p->reuse_flags[0] = p->reuse_flags[1] = p->reuse_flags[2] = 1; /* the driver's defaults */
    d->default_pool = d->current_pool = p;
    sg_handle_add(p, SG_K_POOL);
}

static CUresult pool_lookup(CUmemoryPool h, struct sg_mempool **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_POOL, CUDA_ERROR_INVALID_VALUE, &p);
    if (!r)
        *out = p;
    return r;
}

static CUresult alloc_from(struct sg_mempool *p, CUdeviceptr *dptr, size_t bytes, CUstream h)
{
    if (!dptr || !bytes)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(h, &s);
    if (r)
        return r;
    if (s->ctx->dev->ordinal != p->device)
        return CUDA_ERROR_INVALID_VALUE;
    if (s->capture) /* an allocation node of the capture graph */
        return sg_capture_mem_alloc(s, p, bytes, dptr);
    uint64_t rounded = (bytes + SG_PAGE_SIZE - 1) / SG_PAGE_SIZE * SG_PAGE_SIZE;
    uint64_t addr = sg_pool_cache_take(p, s, rounded);
    if (!addr) {
        r = sg_mem_alloc(s->ctx, bytes, SG_PAGE_SIZE, SG_R_DEVICE, 0, &addr);
        if (r)
            return r;
        sg_mem_tag_pool(addr, p);
        sg_pool_note_alloc(p, rounded, 1);
    }
    *dptr = addr;
    return CUDA_SUCCESS;
}

CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    return r ? r : alloc_from(c->dev->current_pool, dptr, bytesize, hStream);
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                 CUstream hStream)
{
    struct sg_mempool *p;
    CUresult r = pool_lookup(pool, &p);
    return r ? r : alloc_from(p, dptr, bytesize, hStream);
}

struct free_work {
    struct sg_work base;
    uint64_t addr;
};

static CUresult free_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c;
    uint64_t addr = ((struct free_work *)w)->addr;
    struct sg_region reg;
    if (sg_mem_find(addr, &reg) != 0 || reg.start != addr)
        return CUDA_ERROR_INVALID_VALUE;
    if (!reg.pool || reg.kind == SG_R_IPC) /* an imported pool pointer is only unmapped */
        return sg_mem_free(addr, reg.kind);
    sg_pool_cache_put(reg.pool, addr, s);
    return CUDA_SUCCESS;
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (sg_graph_mem_owns(dptr))
        return sg_graph_mem_free_async(s, dptr);
    struct sg_region reg;
    if (sg_mem_find(dptr, &reg) != 0 || reg.start != dptr
        || (reg.kind != SG_R_DEVICE && !(reg.kind == SG_R_IPC && reg.pool)))
        return CUDA_ERROR_INVALID_VALUE;
    struct free_work *w = sg_work_new(sizeof *w, SG_W_FREE, free_exec, NULL, NULL);
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    w->addr = dptr;
    return sg_stream_submit(s, &w->base);
}

CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props)
{
    if (!pool || !props)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED
        || props->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    if (sg_device_check(props->location.id))
        return CUDA_ERROR_INVALID_DEVICE;
    if (props->handleTypes & ~(unsigned)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_NOT_SUPPORTED; /* shareable by descriptors only (mempool_share.c) */
    struct sg_mempool *p = calloc(1, sizeof *p);
    if (!p)
        return CUDA_ERROR_OUT_OF_MEMORY;
    p->device = props->location.id;
    p->handle_types = props->handleTypes;
    p->share_fd = -1;
    p->reuse_flags[0] = p->reuse_flags[1] = p->reuse_flags[2] = 1;
    sg_handle_add(p, SG_K_POOL);
    *pool = (CUmemoryPool)p;
    return CUDA_SUCCESS;
}

CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
    struct sg_mempool *p;
    CUresult r = pool_lookup(pool, &p);
    if (r)
        return r;
    if (p->is_default)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_device *d = &sg.dev[p->device];
    if (d->current_pool == p)
        d->current_pool = d->default_pool;
    sg_pool_cache_trim(p, 0);
    sg_handle_del(p);
    if (p->share_fd >= 0) /* its export's token: imports already made keep their pools */
        close(p->share_fd);
    p->share_fd = -1;
    /* Allocations still out keep a pointer for accounting; the pool struct is small, so it is
     * kept rather than risk a use after free when they are released. */
    p->is_default = 0;
    return CUDA_SUCCESS;
}

/* The device's default pool, or the one cuDeviceSetMemPool made current. */
static CUresult device_pool(CUmemoryPool *out, CUdevice dev, int current)
{
    CUresult r = sg_device_arg(dev, out != NULL);
    if (!r)
        *out = (CUmemoryPool)(current ? sg.dev[dev].current_pool : sg.dev[dev].default_pool);
    return r;
}

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
    return device_pool(pool_out, dev, 0);
}

CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev) { return device_pool(pool, dev, 1); }

CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
    struct sg_mempool *p;
    CUresult r = sg_device_check(dev);
    if (!r)
        r = pool_lookup(pool, &p);
    if (r)
        return r;
    if (p->device != dev)
        return CUDA_ERROR_INVALID_DEVICE;
    sg.dev[dev].current_pool = p;
    return CUDA_SUCCESS;
}

CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
    struct sg_mempool *p;
    CUresult r = pool_lookup(pool, &p);
    if (!r)
        sg_pool_cache_trim(p, minBytesToKeep);
    return r;
}

/* The checks both attribute calls make: a live pool and a value to read or write. */
static CUresult pool_attr_lookup(CUmemoryPool pool, const void *value, struct sg_mempool **p)
{
    CUresult r = pool_lookup(pool, p);
    return r ? r : value ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    struct sg_mempool *p;
    CUresult r = pool_attr_lookup(pool, value, &p);
    if (r)
        return r;
    switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        memcpy(&p->reuse_flags[attr - 1], value, sizeof(int));
        return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        memcpy(&p->release_threshold, value, sizeof(cuuint64_t));
        return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        if (memcmp(value, &(cuuint64_t){0}, sizeof(cuuint64_t)) != 0)
            return CUDA_ERROR_INVALID_VALUE; /* the high-water marks can only be reset */
        if (attr == CU_MEMPOOL_ATTR_USED_MEM_HIGH)
            atomic_store(&p->used_high, atomic_load(&p->used));
        else
            atomic_store(&p->reserved_high, atomic_load(&p->reserved));
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
    struct sg_mempool *p;
    CUresult r = pool_attr_lookup(pool, value, &p);
    if (r)
        return r;
    /* values are written with memcpy: the caller's pointer need not be aligned */
    cuuint64_t v;
    switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        memcpy(value, &p->reuse_flags[attr - 1], sizeof(int));
        return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: v = p->release_threshold; break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: v = atomic_load(&p->reserved); break;
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: v = atomic_load(&p->used); break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: v = atomic_load(&p->reserved_high); break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH: v = atomic_load(&p->used_high); break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    memcpy(value, &v, sizeof v);
    return CUDA_SUCCESS;
}

CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc *map, size_t count)
{
    struct sg_mempool *p;
    CUresult r = pool_lookup(pool, &p);
    if (r)
        return r;
    if (!map && count)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++)
        if (map[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE || sg_device_check(map[i].location.id))
            return CUDA_ERROR_INVALID_DEVICE;
    return CUDA_SUCCESS; /* every device already reaches every pool: one address space */
}

CUresult cuMemPoolGetAccess(CUmemAccess_flags *flags, CUmemoryPool memPool, CUmemLocation *location)
{
    struct sg_mempool *p;
    CUresult r = pool_lookup(memPool, &p);
    if (r)
        return r;
    if (!flags || !location || location->type != CU_MEM_LOCATION_TYPE_DEVICE
        || sg_device_check(location->id))
        return CUDA_ERROR_INVALID_VALUE;
    *flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    return CUDA_SUCCESS;
}
