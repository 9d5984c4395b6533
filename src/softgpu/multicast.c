/*
 * Multicast objects (cuMulticastCreate, AddDevice, BindMem, BindAddr, Unbind, GetGranularity),
 * for a softgpu of one device. A multicast object delivers what is written through its mapping
 * to the memory bound to it on every device of its team; with one device that memory is the
 * mapping's own pages, so mapping the object (cuMemMap of its handle, vmm.c) maps the physical
 * allocations bound to it at their offsets: writes through either address land in the same
 * bytes, as on hardware. A team of several devices would need every write copied to each
 * member's memory, which one set of host pages cannot do without copies, so a softgpu of
 * several devices reports CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED 0 and refuses these calls.
 * Memory must be bound before the object is mapped (a mapping takes what is bound then); a
 * binding holds a reference to its allocation until unbound or the object is released.
 * Calls vmm.c (physical allocations, cuMemMap/cuMemUnmap) and device checks (softgpu.h).
 */
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

struct binding {
    uint64_t mc_off, size, mem_off;
    CUmemGenericAllocationHandle mem;
    int device;
    struct binding *next;
};

struct mcast {
    CUmulticastObjectProp prop;
    uint64_t added;            /* bit d: device d joined the team */
    unsigned nadded;
    struct binding *bound;
    struct mcast *next;
};

static pthread_mutex_t mc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mcast *objects;

/* mc_lock held. */
static struct mcast *find(CUmemGenericAllocationHandle h)
{
    for (struct mcast *m = objects; m; m = m->next)
        if ((CUmemGenericAllocationHandle)(uintptr_t)m == h)
            return m;
    return NULL;
}

/* Multicast needs one device (see the top of the file). */
static CUresult supported(void)
{
    CUresult r = sg_check_init();
    return r ? r : sg.ndev == 1 ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
}

int sg_mcast_supported(void)
{
    return sg.ndev == 1;
}

static CUresult check_prop(const CUmulticastObjectProp *prop)
{
    CUresult r = supported();
    if (r)
        return r;
    if (!prop || prop->flags || !prop->numDevices || prop->numDevices > (unsigned)sg.ndev)
        return CUDA_ERROR_INVALID_VALUE;
    /* exporting a multicast object (a shareable handle) is not implemented */
    return prop->handleTypes ? CUDA_ERROR_NOT_SUPPORTED : CUDA_SUCCESS;
}

static int aligned(uint64_t v) { return v % SG_GRANULARITY == 0; }

CUresult cuMulticastGetGranularity(size_t *granularity, const CUmulticastObjectProp *prop,
                                   CUmulticastGranularity_flags option)
{
    CUresult r = check_prop(prop);
    if (r)
        return r;
    if (!granularity || (option != CU_MULTICAST_GRANULARITY_MINIMUM &&
                         option != CU_MULTICAST_GRANULARITY_RECOMMENDED))
        return CUDA_ERROR_INVALID_VALUE;
    *granularity = SG_GRANULARITY;   /* what cuMemCreate and cuMemMap work in */
    return CUDA_SUCCESS;
}

CUresult cuMulticastCreate(CUmemGenericAllocationHandle *mcHandle,
                           const CUmulticastObjectProp *prop)
{
    CUresult r = check_prop(prop);
    if (r)
        return r;
    if (!mcHandle || !prop->size || !aligned(prop->size))
        return CUDA_ERROR_INVALID_VALUE;
    struct mcast *m = calloc(1, sizeof *m);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->prop = *prop;
    pthread_mutex_lock(&mc_lock);
    m->next = objects;
    objects = m;
    pthread_mutex_unlock(&mc_lock);
    *mcHandle = (CUmemGenericAllocationHandle)(uintptr_t)m;
    return CUDA_SUCCESS;
}

CUresult cuMulticastAddDevice(CUmemGenericAllocationHandle mcHandle, CUdevice dev)
{
    CUresult r = supported();
    if (r)
        return r;
    if (sg_device_check(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&mc_lock);
    struct mcast *m = find(mcHandle);
    if (!m || (m->added & (1ull << dev)) || m->nadded == m->prop.numDevices) {
        r = CUDA_ERROR_INVALID_VALUE;
    } else {
        m->added |= 1ull << dev;
        m->nadded++;
    }
    pthread_mutex_unlock(&mc_lock);
    return r;
}

/* Binds [memOffset, memOffset+size) of allocation mem at mcOffset. The driver would wait for
 * the whole team to join; here nobody else can add it, so binding early is refused. */
static CUresult bind(CUmemGenericAllocationHandle mcHandle, uint64_t mcOffset,
                     CUmemGenericAllocationHandle mem, uint64_t memOffset, uint64_t size)
{
    int dev;
    if (!size || !aligned(mcOffset) || !aligned(memOffset) || !aligned(size))
        return CUDA_ERROR_INVALID_VALUE;
    if (sg_vmm_phys_hold(mem, memOffset, size, &dev))
        return CUDA_ERROR_INVALID_VALUE;
    struct binding *b = calloc(1, sizeof *b);
    CUresult r = b ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&mc_lock);
    struct mcast *m = find(mcHandle);
    if (!r && (!m || m->nadded < m->prop.numDevices || size > m->prop.size ||
               mcOffset > m->prop.size - size))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r && !(m->added & (1ull << dev)))
        r = CUDA_ERROR_INVALID_DEVICE;   /* the memory lies on a device outside the team */
    for (struct binding *o = r ? NULL : m->bound; o; o = o->next)
        if (o->device == dev && o->mc_off < mcOffset + size && mcOffset < o->mc_off + o->size)
            r = CUDA_ERROR_INVALID_VALUE;   /* that part of the object is bound already */
    if (!r) {
        *b = (struct binding){mcOffset, size, memOffset, mem, dev, m->bound};
        m->bound = b;
    }
    pthread_mutex_unlock(&mc_lock);
    if (r) {
        free(b);
        sg_vmm_phys_drop(mem);
    }
    return r;
}

CUresult cuMulticastBindMem(CUmemGenericAllocationHandle mcHandle, size_t mcOffset,
                            CUmemGenericAllocationHandle memHandle, size_t memOffset,
                            size_t size, unsigned long long flags)
{
    CUresult r = supported();
    return r ? r : flags ? CUDA_ERROR_INVALID_VALUE
                         : bind(mcHandle, mcOffset, memHandle, memOffset, size);
}

CUresult cuMulticastBindAddr(CUmemGenericAllocationHandle mcHandle, size_t mcOffset,
                             CUdeviceptr memptr, size_t size, unsigned long long flags)
{
    CUresult r = supported();
    if (r)
        return r;
    CUmemGenericAllocationHandle mem;
    uint64_t off;
    if (flags || !aligned(memptr) || sg_vmm_phys_at(memptr, size, &mem, &off))
        return CUDA_ERROR_INVALID_VALUE;
    return bind(mcHandle, mcOffset, mem, off, size);
}

CUresult cuMulticastUnbind(CUmemGenericAllocationHandle mcHandle, CUdevice dev, size_t mcOffset,
                           size_t size)
{
    CUresult r = supported();
    if (r)
        return r;
    if (sg_device_check(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    if (!size || !aligned(mcOffset) || !aligned(size))
        return CUDA_ERROR_INVALID_VALUE;
    struct binding *gone = NULL;
    pthread_mutex_lock(&mc_lock);
    struct mcast *m = find(mcHandle);
    for (struct binding **pb = m ? &m->bound : NULL; pb && *pb;) {
        struct binding *b = *pb;
        if (b->device == dev && b->mc_off >= mcOffset && b->mc_off - mcOffset < size) {
            *pb = b->next;
            b->next = gone;
            gone = b;
        } else {
            pb = &b->next;
        }
    }
    pthread_mutex_unlock(&mc_lock);
    r = m && gone ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    while (gone) {
        struct binding *b = gone;
        gone = b->next;
        sg_vmm_phys_drop(b->mem);
        free(b);
    }
    return r;
}

int sg_mcast_is(CUmemGenericAllocationHandle h)
{
    pthread_mutex_lock(&mc_lock);
    int is = find(h) != NULL;
    pthread_mutex_unlock(&mc_lock);
    return is;
}

/* The binding covering byte `at` of m (mc_lock held), NULL when unbound. */
static const struct binding *binding_at(const struct mcast *m, uint64_t at)
{
    for (const struct binding *b = m->bound; b; b = b->next)
        if (at >= b->mc_off && at - b->mc_off < b->size)
            return b;
    return NULL;
}

CUresult sg_mcast_map(uint64_t ptr, uint64_t size, uint64_t offset,
                      CUmemGenericAllocationHandle h)
{
    pthread_mutex_lock(&mc_lock);
    struct mcast *m = find(h);
    CUresult r = m && m->nadded == m->prop.numDevices && size <= m->prop.size &&
                         offset <= m->prop.size - size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    uint64_t done = 0;
    /* piece by piece: each bound piece is mapped as its allocation (vmm.c's mappings) */
    while (r == CUDA_SUCCESS && done < size) {
        const struct binding *b = binding_at(m, offset + done);
        if (!b) {
            r = CUDA_ERROR_INVALID_VALUE;   /* nothing bound there yet */
            break;
        }
        uint64_t in = offset + done - b->mc_off, n = b->size - in;
        if (n > size - done)
            n = size - done;
        r = cuMemMap(ptr + done, n, b->mem_off + in, b->mem, 0);
        if (r == CUDA_SUCCESS)
            done += n;
    }
    pthread_mutex_unlock(&mc_lock);
    if (r != CUDA_SUCCESS && done)
        cuMemUnmap(ptr, done);
    return r;
}

CUresult sg_mcast_release(CUmemGenericAllocationHandle h)
{
    pthread_mutex_lock(&mc_lock);
    struct mcast *m = NULL;
    for (struct mcast **pm = &objects; *pm; pm = &(*pm)->next)
        if ((CUmemGenericAllocationHandle)(uintptr_t)*pm == h) {
            m = *pm;
            *pm = m->next;
            break;
        }
    pthread_mutex_unlock(&mc_lock);
    if (!m)
        return CUDA_ERROR_INVALID_VALUE;
    while (m->bound) {   /* mappings made of it hold their own references */
        struct binding *b = m->bound;
        m->bound = b->next;
        sg_vmm_phys_drop(b->mem);
        free(b);
    }
    free(m);
    return CUDA_SUCCESS;
}
