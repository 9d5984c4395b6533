/*
 * The session's device numbering (see devmap.h): wrappers in the session's backend table that
 * translate the device ordinals of the calls that name one (device queries, primary contexts,
 * context creation, memory pools, kernel attributes, peer queries) and of the calls that report
 * one (the device of a context). Memory locations inside structures are translated too
 * (cuMemPoolCreate, cuMemPoolSetAccess, cuMemPoolGetAccess, cuMemCreate, cuMemSetAccess,
 * cuMemGetAllocationGranularity; prefetch and advice in graph.c).
 *
 * May call: enforce.h, the saved backend entries, src/common/log.h.
 */
#include "devmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce.h"
#include "worker_int.h"

struct tfw_devmap {
    int n;
    CUdevice dev[TFW_MAX_GPUS];   /* session ordinal i -> backend ordinal dev[i] */
    struct tf_backend orig;       /* the entries below the translation (enforce.c's) */
};

static struct tfw_devmap *map(void)
{
    return tfw_self->devmap;
}

static CUresult to_backend(const struct tfw_devmap *m, CUdevice dev, CUdevice *out)
{
    if (dev < 0 || dev >= m->n)
        return CUDA_ERROR_INVALID_DEVICE;
    *out = m->dev[dev];
    return CUDA_SUCCESS;
}

/* The session's ordinal of a backend ordinal (a context's device). */
static CUresult to_session(const struct tfw_devmap *m, CUdevice *dev)
{
    for (int i = 0; i < m->n; i++) {
        if (m->dev[i] == *dev) {
            *dev = i;
            return CUDA_SUCCESS;
        }
    }
    return CUDA_ERROR_INVALID_DEVICE;   /* a context on a device the session does not hold */
}

CUresult tfw_devmap_to_backend(const struct tfw_session *s, CUdevice dev, CUdevice *out)
{
    if (!s->devmap) {
        *out = dev;
        return CUDA_SUCCESS;
    }
    return to_backend(s->devmap, dev, out);
}

CUresult tfw_devmap_to_session(const struct tfw_session *s, CUdevice *dev)
{
    return s->devmap ? to_session(s->devmap, dev) : CUDA_SUCCESS;
}

CUresult tfw_devmap_location(const struct tfw_session *s, CUmemLocation *loc)
{
    if (loc->type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_SUCCESS;
    return tfw_devmap_to_backend(s, loc->id, &loc->id);
}

/* ---- wrappers: translate, then call the entry below ---- */

/* Declares `CUdevice d` as the backend ordinal of `dev`, or returns INVALID_DEVICE. */
#define TRANSLATE(m, dev, d) \
    CUdevice d; \
    do { \
        CUresult tr_ = to_backend(m, dev, &d); \
        if (tr_ != CUDA_SUCCESS) \
            return tr_; \
    } while (0)

static CUresult w_device_get_count(int *count)
{
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    *count = map()->n;
    return CUDA_SUCCESS;
}

static CUresult w_device_get_name(char *name, int len, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDeviceGetName(name, len, d);
}

static CUresult w_device_get_uuid(CUuuid *uuid, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDeviceGetUuid_v2(uuid, d);
}

static CUresult w_device_total_mem(size_t *bytes, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDeviceTotalMem_v2(bytes, d);
}

static CUresult w_device_get_attribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDeviceGetAttribute(pi, attrib, d);
}

static CUresult w_primary_retain(CUcontext *pctx, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDevicePrimaryCtxRetain(pctx, d);
}

static CUresult w_primary_release(CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDevicePrimaryCtxRelease_v2(d);
}

static CUresult w_primary_reset(CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDevicePrimaryCtxReset_v2(d);
}

static CUresult w_primary_get_state(CUdevice dev, unsigned *flags, int *active)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDevicePrimaryCtxGetState(d, flags, active);
}

static CUresult w_primary_set_flags(CUdevice dev, unsigned flags)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDevicePrimaryCtxSetFlags_v2(d, flags);
}

static CUresult w_ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuCtxCreate_v2(pctx, flags, d);
}

static CUresult w_ctx_get_device(CUdevice *dev)
{
    struct tfw_devmap *m = map();
    CUresult r = m->orig.cuCtxGetDevice(dev);
    return r == CUDA_SUCCESS && dev ? to_session(m, dev) : r;
}

static CUresult w_ctx_get_device_v2(CUdevice *dev, CUcontext ctx)
{
    struct tfw_devmap *m = map();
    CUresult r = m->orig.cuCtxGetDevice_v2(dev, ctx);
    return r == CUDA_SUCCESS && dev ? to_session(m, dev) : r;
}

static CUresult w_default_mem_pool(CUmemoryPool *pool, CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuDeviceGetDefaultMemPool(pool, d);
}

static CUresult w_mem_pool_create(CUmemoryPool *pool, const CUmemPoolProps *props)
{
    struct tfw_devmap *m = map();
    if (!props || props->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
        return m->orig.cuMemPoolCreate(pool, props);
    CUmemPoolProps p = *props;
    TRANSLATE(m, props->location.id, d);
    p.location.id = d;
    return m->orig.cuMemPoolCreate(pool, &p);
}

/* A location in the backend's numbering (devices translated, the others as they are). */
static CUresult location_to_backend(const struct tfw_devmap *m, CUmemLocation *loc)
{
    if (loc->type != CU_MEM_LOCATION_TYPE_DEVICE)
        return CUDA_SUCCESS;
    return to_backend(m, loc->id, &loc->id);
}

#define ACCESS_MAX (TFW_MAX_GPUS * 4)   /* a location per device and kind, repeats aside */

/* Copies count access descriptors into copy (ACCESS_MAX entries) with their devices in the
 * backend's numbering. */
static CUresult access_to_backend(const struct tfw_devmap *m, const CUmemAccessDesc *desc,
                                  size_t count, CUmemAccessDesc *copy)
{
    if (count > ACCESS_MAX || count > (size_t)m->n * 4)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; i++) {
        copy[i] = desc[i];
        CUresult r = location_to_backend(m, &copy[i].location);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

static CUresult w_mem_pool_set_access(CUmemoryPool pool, const CUmemAccessDesc *desc, size_t count)
{
    struct tfw_devmap *m = map();
    if (!desc || count == 0)   /* the backend judges an empty request */
        return m->orig.cuMemPoolSetAccess(pool, desc, count);
    CUmemAccessDesc copy[ACCESS_MAX];
    CUresult r = access_to_backend(m, desc, count, copy);
    return r == CUDA_SUCCESS ? m->orig.cuMemPoolSetAccess(pool, copy, count) : r;
}

static CUresult w_mem_set_access(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
                                 size_t count)
{
    struct tfw_devmap *m = map();
    if (!desc || count == 0)
        return m->orig.cuMemSetAccess(ptr, size, desc, count);
    CUmemAccessDesc copy[ACCESS_MAX];
    CUresult r = access_to_backend(m, desc, count, copy);
    return r == CUDA_SUCCESS ? m->orig.cuMemSetAccess(ptr, size, copy, count) : r;
}

/* A physical allocation's properties in the backend's numbering, or a copy as they are. */
static CUresult prop_to_backend(const struct tfw_devmap *m, const CUmemAllocationProp *prop,
                                CUmemAllocationProp *copy)
{
    *copy = *prop;
    return location_to_backend(m, &copy->location);
}

static CUresult w_mem_create(CUmemGenericAllocationHandle *handle, size_t size,
                             const CUmemAllocationProp *prop, unsigned long long flags)
{
    struct tfw_devmap *m = map();
    CUmemAllocationProp p;
    if (!prop)
        return m->orig.cuMemCreate(handle, size, prop, flags);
    CUresult r = prop_to_backend(m, prop, &p);
    return r == CUDA_SUCCESS ? m->orig.cuMemCreate(handle, size, &p, flags) : r;
}

static CUresult w_granularity(size_t *granularity, const CUmemAllocationProp *prop,
                              CUmemAllocationGranularity_flags option)
{
    struct tfw_devmap *m = map();
    CUmemAllocationProp p;
    if (!prop)
        return m->orig.cuMemGetAllocationGranularity(granularity, prop, option);
    CUresult r = prop_to_backend(m, prop, &p);
    return r == CUDA_SUCCESS ? m->orig.cuMemGetAllocationGranularity(granularity, &p, option) : r;
}

static CUresult w_mem_pool_get_access(CUmemAccess_flags *flags, CUmemoryPool pool,
                                      CUmemLocation *location)
{
    struct tfw_devmap *m = map();
    if (!location)
        return m->orig.cuMemPoolGetAccess(flags, pool, location);
    CUmemLocation loc = *location;
    CUresult r = location_to_backend(m, &loc);
    return r == CUDA_SUCCESS ? m->orig.cuMemPoolGetAccess(flags, pool, &loc) : r;
}

static CUresult w_kernel_get_attribute(int *pi, CUfunction_attribute attrib, CUkernel k,
                                       CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuKernelGetAttribute(pi, attrib, k, d);
}

static CUresult w_kernel_set_attribute(CUfunction_attribute attrib, int val, CUkernel k,
                                       CUdevice dev)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    return m->orig.cuKernelSetAttribute(attrib, val, k, d);
}

static CUresult w_can_access_peer(int *can, CUdevice dev, CUdevice peer)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, dev, d);
    TRANSLATE(m, peer, p);
    return m->orig.cuDeviceCanAccessPeer(can, d, p);
}

static CUresult w_p2p_attribute(int *value, CUdevice_P2PAttribute attrib, CUdevice src,
                                CUdevice dst)
{
    struct tfw_devmap *m = map();
    TRANSLATE(m, src, s);
    TRANSLATE(m, dst, d);
    return m->orig.cuDeviceGetP2PAttribute(value, attrib, s, d);
}

/* ---- installation ---- */

static void install(struct tf_backend *be)
{
    TFW_WRAP(be, cuDeviceGetCount, w_device_get_count);
    TFW_WRAP(be, cuDeviceGetName, w_device_get_name);
    TFW_WRAP(be, cuDeviceGetUuid_v2, w_device_get_uuid);
    TFW_WRAP(be, cuDeviceTotalMem_v2, w_device_total_mem);
    TFW_WRAP(be, cuDeviceGetAttribute, w_device_get_attribute);
    TFW_WRAP(be, cuDevicePrimaryCtxRetain, w_primary_retain);
    TFW_WRAP(be, cuDevicePrimaryCtxRelease_v2, w_primary_release);
    TFW_WRAP(be, cuDevicePrimaryCtxReset_v2, w_primary_reset);
    TFW_WRAP(be, cuDevicePrimaryCtxGetState, w_primary_get_state);
    TFW_WRAP(be, cuDevicePrimaryCtxSetFlags_v2, w_primary_set_flags);
    TFW_WRAP(be, cuCtxCreate_v2, w_ctx_create);
    TFW_WRAP(be, cuCtxGetDevice, w_ctx_get_device);
    TFW_WRAP(be, cuCtxGetDevice_v2, w_ctx_get_device_v2);
    TFW_WRAP(be, cuDeviceGetDefaultMemPool, w_default_mem_pool);
    TFW_WRAP(be, cuMemPoolCreate, w_mem_pool_create);
    TFW_WRAP(be, cuKernelGetAttribute, w_kernel_get_attribute);
    TFW_WRAP(be, cuKernelSetAttribute, w_kernel_set_attribute);
    TFW_WRAP(be, cuMemPoolSetAccess, w_mem_pool_set_access);
    TFW_WRAP(be, cuMemPoolGetAccess, w_mem_pool_get_access);
    TFW_WRAP(be, cuMemSetAccess, w_mem_set_access);
    TFW_WRAP(be, cuMemCreate, w_mem_create);
    TFW_WRAP(be, cuMemGetAllocationGranularity, w_granularity);
    TFW_WRAP(be, cuDeviceCanAccessPeer, w_can_access_peer);
    TFW_WRAP(be, cuDeviceGetP2PAttribute, w_p2p_attribute);
}

int tfw_devmap_install(struct tfw_session *s, char *err, size_t errlen)
{
    int n = tfw_limits_count(s);
    if (n == 0)
        return 0;
    struct tfw_devmap *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int count = 0;
    if (!s->be.cuDeviceGetCount || s->be.cuDeviceGetCount(&count) != CUDA_SUCCESS)
        count = -1;
    m->n = n;
    for (int i = 0; i < n; i++) {
        m->dev[i] = tfw_limits_device(s, i);
        if (m->dev[i] < 0 || m->dev[i] >= count) {
            snprintf(err, errlen, "vGPU device %d is not one of the backend's %d devices",
                     (int)m->dev[i], count);
            free(m);
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (m->dev[j] == m->dev[i]) {
                snprintf(err, errlen, "two of the session's vGPUs are on device %d: each must "
                         "be on its own device", (int)m->dev[i]);
                free(m);
                return -1;
            }
        }
    }
    m->orig = s->be;
    install(&s->be);
    s->devmap = m;
    return 0;
}

void tfw_devmap_move(struct tfw_session *s, int i, CUdevice to)
{
    if (s->devmap && i >= 0 && i < s->devmap->n)
        s->devmap->dev[i] = to;
}

void tfw_devmap_end(struct tfw_session *s)
{
    free(s->devmap);
    s->devmap = NULL;
}
