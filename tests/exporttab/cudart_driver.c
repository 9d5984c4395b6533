/*
 * A deliberately tiny libcuda.so.1 for testing src/exporttab against NVIDIA's real cudart:
 * it exports only cuGetProcAddress_v2, serves the handful of entry points that cudart's
 * initialisation and cudaMalloc/cudaFree/cudaDeviceReset need (device memory is malloc), and
 * answers cuGetExportTable with exporttab. Everything else is NOT_FOUND, as the shim doc allows.
 *
 * EXPORTTAB_TEST_BAD_HASH=1 makes the integrity hash cover a driver version other than the
 * one reported, which cudart must reject: proof that the positive test could fail.
 * mini_driver_retains() counts cuDevicePrimaryCtxRetain calls (cudart re-retains after
 * cudaDeviceReset only if the context-local-storage destructor ran).
 */
#include <cuda.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporttab.h"

#define MINI_VERSION 13000

static int primary_ctx; /* its address is the device's one primary context handle */
static __thread CUcontext current;
static atomic_int retains;

__attribute__((visibility("default"))) int mini_driver_retains(void)
{
    return atomic_load(&retains);
}

static CUresult driver_get_version(int *v) { *v = MINI_VERSION; return CUDA_SUCCESS; }
static CUresult lying_version(int *v) { *v = MINI_VERSION + 10; return CUDA_SUCCESS; }
static CUresult device_get_count(int *n) { *n = 1; return CUDA_SUCCESS; }
static CUresult device_get(CUdevice *d, int ordinal) { *d = ordinal; return ordinal ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS; }
static CUresult init(unsigned flags) { return flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS; }

static CUresult device_get_uuid(CUuuid *u, CUdevice d)
{
    for (int i = 0; i < 16; i++)
        u->bytes[i] = (char)(0xa0 + i + d);
    return CUDA_SUCCESS;
}

static CUresult device_get_attribute(int *v, CUdevice_attribute a, CUdevice d)
{
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 8; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 2; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: *v = 7; break;
    case CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID: *v = 0; break;
    default: *v = 1; break; /* cudart needs every query to succeed; 1 is sane for flags */
    }
    return CUDA_SUCCESS;
}

static CUresult device_get_name(char *name, int len, CUdevice d) { snprintf(name, (size_t)len, "exporttab test driver"); return CUDA_SUCCESS; }
static CUresult device_total_mem(size_t *b, CUdevice d) { *b = 1u << 30; return CUDA_SUCCESS; }
static CUresult primary_handle(CUcontext *c, CUdevice d) { *c = (CUcontext)&primary_ctx; return CUDA_SUCCESS; }
static CUresult primary_retain(CUcontext *c, CUdevice d) { atomic_fetch_add(&retains, 1); *c = (CUcontext)&primary_ctx; return CUDA_SUCCESS; }
static CUresult primary_release(CUdevice d) { return CUDA_SUCCESS; }
static CUresult primary_reset(CUdevice d) { exporttab_context_destroyed((CUcontext)&primary_ctx); return CUDA_SUCCESS; }
static CUresult ctx_get_current(CUcontext *c) { *c = current; return CUDA_SUCCESS; }
static CUresult ctx_set_current(CUcontext c) { current = c; return CUDA_SUCCESS; }
static CUresult ctx_get_device(CUdevice *d, CUcontext c) { *d = 0; return CUDA_SUCCESS; }
static CUresult ctx_synchronize(CUcontext c) { return CUDA_SUCCESS; }
static CUresult ctx_get_api_version(CUcontext c, unsigned *v) { *v = MINI_VERSION; return CUDA_SUCCESS; }
/* Lazy: cudart then loads no module unless a kernel is used (this driver runs none). */
static CUresult loading_mode(CUmoduleLoadingMode *m) { *m = CU_MODULE_LAZY_LOADING; return CUDA_SUCCESS; }
static CUresult mem_alloc(CUdeviceptr *p, size_t n) { *p = (CUdeviceptr)malloc(n ? n : 1); return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY; }
static CUresult mem_free(CUdeviceptr p) { free((void *)p); return CUDA_SUCCESS; }
static CUresult get_export_table(const void **t, const CUuuid *id) { return exporttab_get(t, id); }

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *status)
    __attribute__((visibility("default")));

static CUresult get_proc_v1(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
    return cuGetProcAddress_v2(symbol, pfn, version, flags, NULL);
}

static const struct { const char *name; void *fn; } entries[] = {
    { "cuInit", init }, { "cuDriverGetVersion", driver_get_version },
    { "cuGetExportTable", get_export_table }, { "cuDeviceGetCount", device_get_count },
    { "cuDeviceGet", device_get }, { "cuDeviceGetName", device_get_name },
    { "cuDeviceTotalMem", device_total_mem }, { "cuDeviceGetAttribute", device_get_attribute },
    { "cuDeviceGetUuid", device_get_uuid }, { "cuDevicePrimaryCtxRetain", primary_retain },
    { "cuDevicePrimaryCtxRelease", primary_release }, { "cuDevicePrimaryCtxReset", primary_reset },
    { "cuCtxGetCurrent", ctx_get_current }, { "cuCtxSetCurrent", ctx_set_current },
    { "cuCtxGetDevice", ctx_get_device }, { "cuCtxSynchronize", ctx_synchronize },
    { "cuCtxGetApiVersion", ctx_get_api_version }, { "cuModuleGetLoadingMode", loading_mode },
    { "cuMemAlloc", mem_alloc }, { "cuMemFree", mem_free },
};

static void init_exporttab_once(void)
{
    static atomic_int done;
    if (atomic_exchange(&done, 1))
        return;
    const char *bad = getenv("EXPORTTAB_TEST_BAD_HASH");
    static struct exporttab_driver d = {
        .driver_get_version = driver_get_version,
        .device_get_count = device_get_count,
        .device_get_uuid = device_get_uuid,
        .device_get_attribute = device_get_attribute,
        .primary_ctx_handle = primary_handle,
        .ctx_get_current = ctx_get_current,
    };
    if (bad && *bad == '1')
        d.driver_get_version = lying_version;
    exporttab_init(&d);
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *status)
{
    init_exporttab_once();
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    if (strcmp(symbol, "cuGetProcAddress") == 0) {
        /* @11030 is the 4-argument ABI, @12000 the 5-argument one. */
        *pfn = version >= 12000 ? (void *)cuGetProcAddress_v2 : (void *)get_proc_v1;
        if (status)
            *status = CU_GET_PROC_ADDRESS_SUCCESS;
        return CUDA_SUCCESS;
    }
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        if (strcmp(symbol, entries[i].name) == 0) {
            *pfn = entries[i].fn;
            if (status)
                *status = CU_GET_PROC_ADDRESS_SUCCESS;
            return CUDA_SUCCESS;
        }
    }
    *pfn = NULL;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return CUDA_ERROR_NOT_FOUND;
}
