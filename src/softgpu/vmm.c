/*
 * Virtual-memory management: cuMemAddressReserve/Free, cuMemCreate/Release, cuMemMap/Unmap,
 * cuMemSetAccess/GetAccess, cuMemGetAllocationGranularity,
 * cuMemGetAllocationPropertiesFromHandle and cuMemRetainAllocationHandle. A physical
 * allocation is a memfd; mapping it places the file's pages at the reserved address with
 * MAP_FIXED, so two mappings of one handle alias the same bytes, as on hardware. Access is
 * granted separately (cuMemSetAccess) through the page map. A multicast object's handle
 * (multicast.c) maps as the physical memory bound to it and is released there. Calls memory.c,
 * context.c and multicast.c.
 */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "softgpu.h"

struct phys {
    int fd;
    uint64_t size;
    int device;
    CUmemAllocationProp prop;
    int refs;          /* the creator's handle + one per mapping */
    struct phys *next;
};

struct mapping {
    uint64_t addr, size, offset;
    struct phys *phys;
    int access;        /* CUmemAccess_flags for the owning device */
    struct mapping *next;
};

static pthread_mutex_t vmm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct phys *physes;
static struct mapping *mappings;

static struct phys *phys_find(CUmemGenericAllocationHandle h)
{
    for (struct phys *p = physes; p; p = p->next)
        if ((CUmemGenericAllocationHandle)(uintptr_t)p == h)
            return p;
    return NULL;
}

/* vmm_lock held. Drops a reference; the last one frees the memory and its accounting. */
static void phys_unref(struct phys *p)
{
    if (--p->refs > 0)
        return;
    for (struct phys **pp = &physes; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    close(p->fd);
    sg_dev_mem_release(&sg.dev[p->device], p->size);
    free(p);
}

/* Validates allocation properties once the driver is initialised. */
static CUresult check_prop(const CUmemAllocationProp *prop)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!prop || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED
        || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_ERROR_INVALID_VALUE;
    if (prop->requestedHandleTypes & ~(unsigned)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_NOT_SUPPORTED; /* memfds are shareable as descriptors only (vmm_share.c) */
    return sg_device_check(prop->location.id) ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                       CUmemAllocationGranularity_flags option)
{
    if (!granularity)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = check_prop(prop);
    if (r)
        return r;
    if (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)
        return CUDA_ERROR_INVALID_VALUE;
    *granularity = SG_GRANULARITY;
    return CUDA_SUCCESS;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                     const CUmemAllocationProp *prop, unsigned long long flags)
{
    if (!handle || flags || !size || size % SG_GRANULARITY)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = check_prop(prop);
    if (r)
        return r;
    struct sg_device *d = &sg.dev[prop->location.id];
    uint64_t over;
    if (sg_dev_mem_reserve(d, size, &over) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct phys *p = calloc(1, sizeof *p);
    int fd = p ? memfd_create("softgpu-vmm", MFD_CLOEXEC) : -1;
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        if (fd >= 0)
            close(fd);
        free(p);
        sg_dev_mem_release(d, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    p->fd = fd;
    p->size = size;
    p->device = prop->location.id;
    p->prop = *prop;
    p->refs = 1;
    pthread_mutex_lock(&vmm_lock);
    p->next = physes;
    physes = p;
    pthread_mutex_unlock(&vmm_lock);
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
    return CUDA_SUCCESS;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    pthread_mutex_lock(&vmm_lock);
    struct phys *p = phys_find(handle);
    if (p)
        phys_unref(p);
    pthread_mutex_unlock(&vmm_lock);
    return p ? CUDA_SUCCESS : sg_mcast_release(handle);
}

CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags)
{
    if (!ptr || !size || size % SG_GRANULARITY || flags)
        return CUDA_ERROR_INVALID_VALUE;
    if (alignment & (alignment - 1))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_region reg = {0};
    reg.device = -1;
    r = sg_mem_reserve_va(size, alignment > SG_GRANULARITY ? alignment : SG_GRANULARITY, addr, &reg);
    if (!r)
        *ptr = reg.start;
    return r;
}

CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    struct sg_region reg;
    if (sg_mem_find(ptr, &reg) != 0 || reg.kind != SG_R_RESERVED || reg.start != ptr
        || reg.span != size)
        return CUDA_ERROR_INVALID_VALUE;
    sg_mem_release_va(ptr); /* unmaps what is still mapped (sg_vmm_unmap_reserved) */
    return CUDA_SUCCESS;
}

static int in_reservation(uint64_t addr, uint64_t size)
{
    struct sg_region reg;
    return sg_mem_find(addr, &reg) == 0 && reg.kind == SG_R_RESERVED
           && addr + size <= reg.start + reg.span && addr + size > addr;
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (flags || !size || size % SG_GRANULARITY || ptr % SG_GRANULARITY || offset % SG_GRANULARITY)
        return CUDA_ERROR_INVALID_VALUE;
    if (!in_reservation(ptr, size))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    struct phys *p = phys_find(handle);
    if (!p) {   /* a multicast object maps what is bound to it (its lock comes first) */
        pthread_mutex_unlock(&vmm_lock);
        return sg_mcast_is(handle) ? sg_mcast_map(ptr, size, offset, handle)
                                   : CUDA_ERROR_INVALID_VALUE;
    }
    int overlap = 0;
    for (struct mapping *m = mappings; m && !overlap; m = m->next)
        overlap = ptr < m->addr + m->size && m->addr < ptr + size;
    if (!p || overlap || offset + size > p->size) {
        pthread_mutex_unlock(&vmm_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    struct mapping *m = calloc(1, sizeof *m);
    void *at = m ? mmap((void *)(uintptr_t)ptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                        p->fd, (off_t)offset)
                 : MAP_FAILED;
    if (at == MAP_FAILED) {
        pthread_mutex_unlock(&vmm_lock);
        free(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *m = (struct mapping){ptr, size, offset, p, CU_MEM_ACCESS_FLAGS_PROT_NONE, mappings};
    mappings = m;
    p->refs++;
    pthread_mutex_unlock(&vmm_lock);
    return CUDA_SUCCESS;
}

/* vmm_lock held. Puts a private PROT_NONE mapping back, which also drops the file pages. */
static void unmap_one(struct mapping **pm)
{
    struct mapping *m = *pm;
    sg_mem_set_access(m->addr, m->size, 0);
    mmap((void *)(uintptr_t)m->addr, m->size, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    *pm = m->next;
    phys_unref(m->phys);
    free(m);
}

/* True when [ptr, ptr+size) is exactly covered by whole mappings (caller holds vmm_lock). */
static int whole_mappings_cover(uint64_t ptr, uint64_t size)
{
    uint64_t covered = 0;
    for (struct mapping *m = mappings; m; m = m->next)
        if (m->addr >= ptr && m->addr + m->size <= ptr + size)
            covered += m->size;
        else if (m->addr < ptr + size && ptr < m->addr + m->size)
            return 0; /* a partial overlap */
    return size && covered == size;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    pthread_mutex_lock(&vmm_lock);
    if (!whole_mappings_cover(ptr, size)) {
        pthread_mutex_unlock(&vmm_lock);
        return CUDA_ERROR_INVALID_VALUE;
    }
    for (struct mapping **pm = &mappings; *pm;)
        if ((*pm)->addr >= ptr && (*pm)->addr + (*pm)->size <= ptr + size)
            unmap_one(pm);
        else
            pm = &(*pm)->next;
    pthread_mutex_unlock(&vmm_lock);
    return CUDA_SUCCESS;
}

void sg_vmm_unmap_reserved(uint64_t start, uint64_t span)
{
    pthread_mutex_lock(&vmm_lock);
    for (struct mapping **pm = &mappings; *pm;)
        if ((*pm)->addr >= start && (*pm)->addr < start + span)
            unmap_one(pm);
        else
            pm = &(*pm)->next;
    pthread_mutex_unlock(&vmm_lock);
}

int sg_vmm_find_mapping(uint64_t addr, uint64_t *base, uint64_t *size, int *device)
{
    int found = -1;
    pthread_mutex_lock(&vmm_lock);
    for (struct mapping *m = mappings; m; m = m->next)
        if (addr >= m->addr && addr < m->addr + m->size) {
            *base = m->addr;
            *size = m->size;
            *device = m->phys->device;
            found = 0;
            break;
        }
    pthread_mutex_unlock(&vmm_lock);
    return found;
}

CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!desc || !count || !size)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++) {
        if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE || sg_device_check(desc[i].location.id))
            return CUDA_ERROR_INVALID_DEVICE;
        if (desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE && desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READ
            && desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
            return CUDA_ERROR_INVALID_VALUE;
    }
    pthread_mutex_lock(&vmm_lock);
    if (!whole_mappings_cover(ptr, size)) {
        pthread_mutex_unlock(&vmm_lock);
        return CUDA_ERROR_INVALID_VALUE; /* every byte must be mapped */
    }
    /* All devices share one address space, so the last descriptor decides; read-only access
     * is granted as read-write because the page map has no write bit. */
    CUmemAccess_flags f = desc[count - 1].flags;
    for (struct mapping *m = mappings; m; m = m->next)
        if (m->addr >= ptr && m->addr + m->size <= ptr + size) {
            m->access = f;
            sg_mem_set_access(m->addr, m->size, f != CU_MEM_ACCESS_FLAGS_PROT_NONE);
        }
    pthread_mutex_unlock(&vmm_lock);
    return CUDA_SUCCESS;
}

CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!flags || !location || location->type != CU_MEM_LOCATION_TYPE_DEVICE
        || sg_device_check(location->id))
        return CUDA_ERROR_INVALID_VALUE;
    r = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    for (struct mapping *m = mappings; m; m = m->next)
        if (ptr >= m->addr && ptr < m->addr + m->size) {
            *flags = (unsigned long long)m->access;
            r = CUDA_SUCCESS;
            break;
        }
    pthread_mutex_unlock(&vmm_lock);
    return r;
}

CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
                                                CUmemGenericAllocationHandle handle)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!prop)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    struct phys *p = phys_find(handle);
    if (p)
        *prop = p->prop;
    pthread_mutex_unlock(&vmm_lock);
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!handle)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t a = (uint64_t)(uintptr_t)addr;
    r = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    for (struct mapping *m = mappings; m; m = m->next)
        if (a >= m->addr && a < m->addr + m->size) {
            m->phys->refs++; /* released with cuMemRelease, like the creator's handle */
            *handle = (CUmemGenericAllocationHandle)(uintptr_t)m->phys;
            r = CUDA_SUCCESS;
            break;
        }
    pthread_mutex_unlock(&vmm_lock);
    return r;
}

/* ---- what multicast objects bind (multicast.c) --------------------------------------------- */

CUresult sg_vmm_phys_hold(CUmemGenericAllocationHandle h, uint64_t off, uint64_t size,
                          int *device)
{
    CUresult r = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    struct phys *p = phys_find(h);
    if (p && size && off + size >= off && off + size <= p->size) {
        p->refs++;
        *device = p->device;
        r = CUDA_SUCCESS;
    }
    pthread_mutex_unlock(&vmm_lock);
    return r;
}

void sg_vmm_phys_drop(CUmemGenericAllocationHandle h)
{
    pthread_mutex_lock(&vmm_lock);
    struct phys *p = phys_find(h);
    if (p)
        phys_unref(p);
    pthread_mutex_unlock(&vmm_lock);
}

CUresult sg_vmm_phys_at(uint64_t addr, uint64_t size, CUmemGenericAllocationHandle *h,
                        uint64_t *off)
{
    CUresult r = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&vmm_lock);
    for (struct mapping *m = mappings; m; m = m->next)
        if (addr >= m->addr && size <= m->size && addr - m->addr <= m->size - size) {
            *h = (CUmemGenericAllocationHandle)(uintptr_t)m->phys;
            *off = m->offset + (addr - m->addr);
            r = CUDA_SUCCESS;
            break;
        }
    pthread_mutex_unlock(&vmm_lock);
    return r;
}

/* ---- shareable handles (vmm_share.c) ------------------------------------------------------- */

int sg_vmm_phys_dup_fd(CUmemGenericAllocationHandle handle, CUmemAllocationProp *prop)
{
    int fd = -1;
    pthread_mutex_lock(&vmm_lock);
    struct phys *p = phys_find(handle);
    if (p) {
        *prop = p->prop;
        fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
    }
    pthread_mutex_unlock(&vmm_lock);
    return p ? (fd >= 0 ? fd : -2) : -1;
}

CUresult sg_vmm_phys_adopt(int fd, uint64_t size, const CUmemAllocationProp *prop,
                           CUmemGenericAllocationHandle *handle)
{
    struct sg_device *d = &sg.dev[prop->location.id];
    uint64_t over;
    if (sg_dev_mem_reserve(d, size, &over) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct phys *p = calloc(1, sizeof *p);
    if (!p) {
        sg_dev_mem_release(d, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *p = (struct phys){fd, size, prop->location.id, *prop, 1, NULL};
    pthread_mutex_lock(&vmm_lock);
    p->next = physes;
    physes = p;
    pthread_mutex_unlock(&vmm_lock);
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
    return CUDA_SUCCESS;
}
