/*
 * What the stub answers inside the program's process (calls.def TF_LOCAL): driver version and
 * device queries from the session snapshot, the per-thread current-context stack, error names,
 * cudart's export tables (src/exporttab), and the stub's record of device allocations.
 * May call: conn.c (snapshot, internal requests), src/exporttab, src/common/ranges.h (the
 * device pointers it holds).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "exporttab.h"
#include "log.h"
#include "logs.h"
#include "ranges.h"
#include "stub.h"

/* ---- driver and devices ---- */

CUresult CUDAAPI cuDriverGetVersion(int *driverVersion)
{
    if (!driverVersion)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_ensure_session();
    if (r == CUDA_SUCCESS)
        *driverVersion = tfs_info.driver_version;
    return r;
}

CUresult CUDAAPI cuDeviceGetCount(int *count)
{
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_ensure_session();
    if (r == CUDA_SUCCESS)
        *count = tfs_info.device_count;
    return r;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal)
{
    if (!device)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_ensure_session();
    if (r != CUDA_SUCCESS)
        return r;
    if (ordinal < 0 || ordinal >= tfs_info.device_count)
        return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

/* The cached description of dev, or the reason there is none. */
static CUresult device(CUdevice dev, const struct tfp_device_info **out)
{
    CUresult r = tfs_ensure_session();
    if (r != CUDA_SUCCESS)
        return r;
    *out = tfs_device(dev);
    return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
    const struct tfp_device_info *d;
    if (!name || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = device(dev, &d);
    if (r == CUDA_SUCCESS)
        snprintf(name, (size_t)len, "%s", d->name);
    return r;
}

CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
    const struct tfp_device_info *d;
    if (!uuid)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = device(dev, &d);
    if (r == CUDA_SUCCESS)
        *uuid = d->uuid;
    return r;
}

CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
    return cuDeviceGetUuid_v2(uuid, dev);
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    const struct tfp_device_info *d;
    if (!bytes)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = device(dev, &d);
    if (r != CUDA_SUCCESS)
        return r;
    /* A vGPU's limit may change while the program runs (a live resize): ask the worker, and
     * fall back to the session's snapshot only if it cannot say. */
    size_t now = 0;
    *bytes = tfi_device_total_mem(dev, &now) == CUDA_SUCCESS ? now : d->total_mem;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    const struct tfp_device_info *d;
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = device(dev, &d);
    if (r != CUDA_SUCCESS)
        return r;
    if ((int)attrib <= 0 || (int)attrib >= TFP_ATTR_COUNT || !d->attr_ok[attrib])
        return CUDA_ERROR_INVALID_VALUE;
    *pi = d->attr[attrib];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
    if (!major || !minor)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    return r == CUDA_SUCCESS
               ? cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)
               : r;
}

CUresult CUDAAPI cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    const struct tfp_device_info *d;
    if (!pciBusId || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = device(dev, &d);
    if (r == CUDA_SUCCESS)
        snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0",
                 d->attr[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID], d->attr[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID],
                 d->attr[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]);
    return r;
}

/* ---- current context: a stack per program thread ---- */

#define CTX_STACK_MAX 64
static __thread CUcontext ctx_stack[CTX_STACK_MAX];
static __thread int ctx_depth;

CUcontext tfs_current_ctx(void)
{
    return ctx_depth ? ctx_stack[ctx_depth - 1] : NULL;
}

void tfs_forget_ctx(CUcontext ctx)
{
    int j = 0;
    for (int i = 0; i < ctx_depth; i++)
        if (ctx_stack[i] != ctx)
            ctx_stack[j++] = ctx_stack[i];
    ctx_depth = j;
}

void tfs_push_ctx(CUcontext ctx);
void tfs_push_ctx(CUcontext ctx)
{
    if (ctx_depth < CTX_STACK_MAX)
        ctx_stack[ctx_depth++] = ctx;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx)
{
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = tfs_current_ctx();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx)
{
    /* The worker checks the context at the next call that needs it: cudart sets the primary
     * context current before it is retained (docs/cudart-driver.md,
     * "Primary-context bring-up"). */
    if (ctx_depth)
        ctx_stack[ctx_depth - 1] = ctx;
    else if (ctx)
        ctx_stack[ctx_depth++] = ctx;
    if (!ctx && ctx_depth == 1)
        ctx_depth = 0;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx)
{
    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (ctx_depth == CTX_STACK_MAX)
        return CUDA_ERROR_OUT_OF_MEMORY;
    ctx_stack[ctx_depth++] = ctx;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext *pctx)
{
    if (!ctx_depth)
        return CUDA_ERROR_INVALID_CONTEXT;
    CUcontext top = ctx_stack[--ctx_depth];
    if (pctx)
        *pctx = top;
    return CUDA_SUCCESS;
}

/* ---- primary contexts and export tables ---- */

#define MAX_DEVICES 64
static CUcontext primary[MAX_DEVICES];
static pthread_mutex_t primary_lock = PTHREAD_MUTEX_INITIALIZER;

CUresult tfs_primary_ctx(CUcontext *ctx, CUdevice dev)
{
    if (dev < 0 || dev >= MAX_DEVICES)
        return CUDA_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&primary_lock);
    CUresult r = CUDA_SUCCESS;
    if (!primary[dev])
        r = tfi_primary_ctx_handle(&primary[dev], dev);
    *ctx = primary[dev];
    pthread_mutex_unlock(&primary_lock);
    return r;
}

static CUresult export_primary(CUcontext *ctx, CUdevice dev)
{
    return tfs_primary_ctx(ctx, dev);
}

static void init_exporttab(void)
{
    static const struct exporttab_driver drv = {
        .driver_get_version = cuDriverGetVersion,
        .device_get_count = cuDeviceGetCount,
        .device_get_uuid = cuDeviceGetUuid_v2,
        .device_get_attribute = cuDeviceGetAttribute,
        .primary_ctx_handle = export_primary,
        .ctx_get_current = cuCtxGetCurrent,
        .ctx_get_id = cuCtxGetId,
        .module_function_count = cuModuleGetFunctionCount,
        .module_functions = cuModuleEnumerateFunctions,
        .stream_get_id = cuStreamGetId,
    };
    exporttab_init(&drv);
}

CUresult CUDAAPI cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!ppExportTable || !pExportTableId)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_once(&once, init_exporttab);
    return exporttab_get(ppExportTable, pExportTableId);
}

/* ---- the stub's record of device allocations ---- */

static struct tf_ranges dev_ranges;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;

/* Each range remembers the context it was allocated in (its `parent`): the device it is on. */
void tfs_dev_add(CUdeviceptr p, size_t size)
{
    pthread_mutex_lock(&dev_lock);
    if (p && tf_ranges_add_child(&dev_ranges, p, size, (uint64_t)(uintptr_t)tfs_current_ctx()) != 0)
        tf_warn("out of memory recording a device allocation");
    pthread_mutex_unlock(&dev_lock);
}

void tfs_dev_del(CUdeviceptr p)
{
    pthread_mutex_lock(&dev_lock);
    tf_ranges_del(&dev_ranges, p);
    pthread_mutex_unlock(&dev_lock);
}

int tfs_dev_ordinal(CUdeviceptr p)
{
    if (tfs_info.device_count <= 1)
        return 0;
    pthread_mutex_lock(&dev_lock);
    const struct tf_range *r = tf_ranges_find(&dev_ranges, p);
    CUcontext ctx = r ? (CUcontext)(uintptr_t)r->parent : NULL;
    pthread_mutex_unlock(&dev_lock);
    CUdevice dev = 0;
    if (!ctx || cuCtxGetDevice_v2(&dev, ctx) != CUDA_SUCCESS)
        dev = 0;   /* its context is gone: the ordinal is no longer known */
    return (int)dev;
}

uint64_t tfs_dev_buffer_id(CUdeviceptr p)
{
    pthread_mutex_lock(&dev_lock);
    const struct tf_range *r = tf_ranges_find(&dev_ranges, p);
    uint64_t id = r ? r->id : 0;
    pthread_mutex_unlock(&dev_lock);
    return id;
}

int tfs_dev_contains(CUdeviceptr p, size_t len)
{
    pthread_mutex_lock(&dev_lock);
    int in = tf_ranges_contains(&dev_ranges, p, len ? len : 1);
    pthread_mutex_unlock(&dev_lock);
    return in;
}

/* ---- unsupported calls: said once per name ---- */

void tfs_unsupported(const char *name)
{
    static const char *said[256];
    static int nsaid;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    int known = 0;
    for (int i = 0; i < nsaid && !known; i++)
        known = said[i] == name || strcmp(said[i], name) == 0;
    if (!known && nsaid < 256)
        said[nsaid++] = name;
    pthread_mutex_unlock(&lock);
    if (known)
        return;
    tf_warn("%s is not supported by TensorFuse yet: CUDA_ERROR_NOT_SUPPORTED", name);
    char line[512];
    snprintf(line, sizeof line, "%s is not supported by TensorFuse yet: CUDA_ERROR_NOT_SUPPORTED",
             name);
    dk_logs_add(CU_LOG_LEVEL_WARNING, line);   /* the driver's log (cuLogs*) */
}

/* ---- for our libnvidia-ml.so.1 (exported, not part of NVIDIA's driver API) ---- */

CUresult tfuse_mem_info(CUdevice dev, size_t *freeBytes, size_t *totalBytes);
CUresult tfuse_mem_info(CUdevice dev, size_t *freeBytes, size_t *totalBytes)
{
    if (!freeBytes || !totalBytes)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_mem_info(dev, freeBytes, totalBytes);
}

CUresult tfuse_vgpu_usage(CUdevice dev, unsigned *gpu_percent, unsigned long long *held);
CUresult tfuse_vgpu_usage(CUdevice dev, unsigned *gpu_percent, unsigned long long *held)
{
    if (!gpu_percent || !held)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_vgpu_usage(dev, gpu_percent, held);
}
