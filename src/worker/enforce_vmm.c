/*
 * vGPU charging of the virtual memory API (see enforce_int.h). cuMemCreate takes physical
 * memory: it is charged before the backend allocates, like cuMemAlloc. The memory comes back
 * only when the handle has been released (cuMemRelease) AND every mapping of it is gone
 * (cuMemUnmap): CUDA keeps a released allocation alive while it is mapped, so refunding at
 * release would let a tenant map, release and create again past its limit. Mappings are kept
 * per session to know when the last one goes. Memory bound to a multicast object or mapped
 * into tiles of a sparse array is held by those too; their unbinding is not followed (tiles
 * and offsets name no handle), so such an allocation stays charged until the session ends.
 *
 * Owns: the session's table of physical allocations and mappings. May call: enforce.c's
 * charge helpers (enforce_int.h), the saved backend entries, src/common/log.h.
 */
#include <stdlib.h>
#include <string.h>

#include "enforce_int.h"
#include "log.h"

struct vmm_alloc {
    uint64_t handle;
    unsigned maps;     /* mappings of it that are still in place */
    int released;      /* cuMemRelease succeeded: refund once maps reaches 0 */
};

struct vmm_map {
    uint64_t ptr, size, handle;
};

struct tfw_vmm {
    struct vmm_alloc *allocs;
    size_t nallocs, cap_allocs;
    struct vmm_map *maps;
    size_t nmaps, cap_maps;
};

/* Grows *v (elements of elem bytes) to hold one more; 0 or -1. */
static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t want = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, want * elem);
    if (!nv)
        return -1;
    *v = nv;
    *cap = want;
    return 0;
}

static struct tfw_vmm *vmm(struct tfw_limits *L)
{
    if (!L->vmm)
        L->vmm = calloc(1, sizeof *L->vmm);
    return L->vmm;
}

static struct vmm_alloc *find_alloc(struct tfw_vmm *m, uint64_t handle)
{
    for (size_t i = 0; m && i < m->nallocs; i++)
        if (m->allocs[i].handle == handle)
            return &m->allocs[i];
    return NULL;
}

/* Refunds a released allocation whose last mapping is gone, and forgets it. */
static void settle_alloc(struct tfw_limits *L, struct vmm_alloc *a)
{
    if (!a->released || a->maps)
        return;
    tfw_lim_refund(L, TFW_LIMITS_HANDLE_KEY(a->handle));
    struct tfw_vmm *m = L->vmm;
    *a = m->allocs[--m->nallocs];
}

static CUresult w_mem_create(CUmemGenericAllocationHandle *handle, size_t size,
                             const CUmemAllocationProp *prop, unsigned long long flags)
{
    struct tfw_limits *L = lim();
    struct tfw_vgpu *v = prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE
                             ? tfw_lim_vgpu_of_device(L, prop->location.id)
                             : tfw_lim_current_vgpu(L);
    struct tfw_vmm *m = vmm(L);
    if (!m || grow((void **)&m->allocs, &m->cap_allocs, m->nallocs, sizeof *m->allocs) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = tfw_lim_reserve(L, v, size);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemCreate(handle, size, prop, flags);
    if (r != CUDA_SUCCESS) {
        tfw_lim_release(L, v, size);
        return r;
    }
    if (tfw_lim_sizes_put(L, TFW_LIMITS_HANDLE_KEY(*handle), size, v) != 0)
        tf_error("out of memory remembering an allocation: its refund will come at exit");
    m->allocs[m->nallocs++] = (struct vmm_alloc){.handle = *handle};
    return CUDA_SUCCESS;
}

static CUresult w_mem_release(CUmemGenericAllocationHandle handle)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMemRelease(handle);
    struct vmm_alloc *a = find_alloc(L->vmm, handle);
    if (r == CUDA_SUCCESS && a) {
        a->released = 1;
        settle_alloc(L, a);
    }
    return r;
}

static CUresult w_mem_map(CUdeviceptr ptr, size_t size, size_t offset,
                          CUmemGenericAllocationHandle handle, unsigned long long flags)
{
    struct tfw_limits *L = lim();
    struct tfw_vmm *m = vmm(L);
    if (!m || grow((void **)&m->maps, &m->cap_maps, m->nmaps, sizeof *m->maps) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = L->orig.cuMemMap(ptr, size, offset, handle, flags);
    struct vmm_alloc *a = find_alloc(m, handle);
    if (r == CUDA_SUCCESS && a) {
        m->maps[m->nmaps++] = (struct vmm_map){.ptr = ptr, .size = size, .handle = handle};
        a->maps++;
    }
    return r;
}

/* Unmapping a range ends every mapping inside it (CUDA requires whole mappings). */
static CUresult w_mem_unmap(CUdeviceptr ptr, size_t size)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMemUnmap(ptr, size);
    struct tfw_vmm *m = L->vmm;
    if (r != CUDA_SUCCESS || !m)
        return r;
    for (size_t i = 0; i < m->nmaps;) {
        struct vmm_map mp = m->maps[i];
        if (mp.ptr < ptr || mp.ptr - ptr >= size) {
            i++;
            continue;
        }
        m->maps[i] = m->maps[--m->nmaps];
        struct vmm_alloc *a = find_alloc(m, mp.handle);
        if (a && a->maps) {
            a->maps--;
            settle_alloc(L, a);
        }
    }
    return r;
}

/* An allocation something holds that this ledger does not follow: never settled again. */
static void pin(struct tfw_limits *L, uint64_t handle)
{
    struct vmm_alloc *a = find_alloc(L->vmm, handle);
    if (a)
        a->maps++;
}

static CUresult w_multicast_bind_mem(CUmemGenericAllocationHandle mcHandle, size_t mcOffset,
                                     CUmemGenericAllocationHandle memHandle, size_t memOffset,
                                     size_t size, unsigned long long flags)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMulticastBindMem(mcHandle, mcOffset, memHandle, memOffset, size,
                                            flags);
    if (r == CUDA_SUCCESS)
        pin(L, memHandle);
    return r;
}

/* Binding by address binds the allocations mapped over [memptr, memptr+size). */
static CUresult w_multicast_bind_addr(CUmemGenericAllocationHandle mcHandle, size_t mcOffset,
                                      CUdeviceptr memptr, size_t size, unsigned long long flags)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMulticastBindAddr(mcHandle, mcOffset, memptr, size, flags);
    struct tfw_vmm *m = L->vmm;
    for (size_t i = 0; r == CUDA_SUCCESS && m && i < m->nmaps; i++)
        if (m->maps[i].ptr < memptr + size && memptr < m->maps[i].ptr + m->maps[i].size)
            pin(L, m->maps[i].handle);
    return r;
}

static CUresult w_map_array(CUarrayMapInfo *mapInfoList, unsigned int count, CUstream hStream)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMemMapArrayAsync(mapInfoList, count, hStream);
    for (unsigned i = 0; r == CUDA_SUCCESS && i < count; i++)
        if (mapInfoList[i].memOperationType == CU_MEM_OPERATION_TYPE_MAP &&
            mapInfoList[i].memHandleType == CU_MEM_HANDLE_TYPE_GENERIC)
            pin(L, mapInfoList[i].memHandle.memHandle);
    return r;
}

void tfw_lim_vmm_install(struct tf_backend *be)
{
    TFW_WRAP(be, cuMemCreate, w_mem_create);
    TFW_WRAP(be, cuMemRelease, w_mem_release);
    TFW_WRAP(be, cuMemMap, w_mem_map);
    TFW_WRAP(be, cuMemUnmap, w_mem_unmap);
    TFW_WRAP(be, cuMulticastBindMem, w_multicast_bind_mem);
    TFW_WRAP(be, cuMulticastBindAddr, w_multicast_bind_addr);
    TFW_WRAP(be, cuMemMapArrayAsync, w_map_array);
}

void tfw_lim_vmm_free(struct tfw_limits *L)
{
    if (!L->vmm)
        return;
    free(L->vmm->allocs);
    free(L->vmm->maps);
    free(L->vmm);
    L->vmm = NULL;
}
