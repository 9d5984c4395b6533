/*
 * The CUDA runtime's private driver interface: the export tables that cudart asks for with
 * cuGetExportTable (CUDART_INTERFACE, TOOLS_RUNTIME_CALLBACK_HOOKS, TOOLS_TLS,
 * CONTEXT_LOCAL_STORAGE, CONTEXT_CHECKS, INTEGRITY_CHECK) and those NVIDIA's libraries add
 * (TOOLS_CONTEXT, TOOLS_MODULE), context-local storage, and the HMAC-MD2 integrity answer
 * (facts: docs/export-tables.md).
 *
 * Any libcuda-shaped library that wants nvcc-built programs to run on it links this module:
 * softgpu (so cudart programs run on it directly) and the TensorFuse stub. It knows nothing of
 * either; it reaches the driver only through the functions given to exporttab_init().
 */
#ifndef TFUSE_EXPORTTAB_H
#define TFUSE_EXPORTTAB_H

#include <cuda.h>

struct exporttab_driver {
    /* What the driver reports: the integrity hash covers these values. */
    CUresult (*driver_get_version)(int *version);
    CUresult (*device_get_count)(int *count);
    CUresult (*device_get_uuid)(CUuuid *uuid, CUdevice dev);
    CUresult (*device_get_attribute)(int *value, CUdevice_attribute attr, CUdevice dev);
    /* The device's primary context handle without retaining or activating it. */
    CUresult (*primary_ctx_handle)(CUcontext *ctx, CUdevice dev);
    /* The calling thread's current context (NULL when none). */
    CUresult (*ctx_get_current)(CUcontext *ctx);
    /* Optional (NULL allowed): load a fat binary (a __fatBinC_Wrapper_t or a raw fatbin
     * container) as a module, for CUDART_INTERFACE's legacy module slots 1, 6 and 8, which
     * CUDA 13 cudart does not use. NULL makes those slots answer CUDA_ERROR_NOT_SUPPORTED. */
    CUresult (*module_load_data)(CUmodule *module, const void *image);
    /* Optional: cuCtxGetId, for TOOLS_CONTEXT's slot 4 (NULL: that slot is refused). */
    CUresult (*ctx_get_id)(CUcontext ctx, unsigned long long *id);
    /* Optional: cuModuleGetFunctionCount and cuModuleEnumerateFunctions, for TOOLS_MODULE's
     * slot 7 (NULL: that slot is refused). */
    CUresult (*module_function_count)(unsigned *count, CUmodule mod);
    CUresult (*module_functions)(CUfunction *out, unsigned count, CUmodule mod);
    /* Optional: cuStreamGetId, for TOOLS_CONTEXT's slot 39 (NULL: that slot is refused). It
     * must take CU_STREAM_LEGACY and CU_STREAM_PER_THREAD as the current context's streams. */
    CUresult (*stream_get_id)(CUstream stream, unsigned long long *id);
};

/* Called once by the driver before it answers cuGetExportTable. */
void exporttab_init(const struct exporttab_driver *drv);

/* The body of cuGetExportTable: fills *table for a known id, else CUDA_ERROR_INVALID_VALUE
 * with *table = NULL. Tables are static: the same address for every call. */
CUresult exporttab_get(const void **table, const CUuuid *id);

/* The table's name for a known id ("CUDART_INTERFACE", ...), else NULL: for drivers' logs. */
const char *exporttab_name(const CUuuid *id);

/* The driver calls this when a context is destroyed or a primary context is reset: every
 * context-local value stored on it is removed and its destructor called (cudart relies on it
 * to re-initialise after cudaDeviceReset). */
void exporttab_context_destroyed(CUcontext ctx);

/* HMAC-MD2 as RFC 2104 over RFC 1319 MD2 (exposed for tests against the RFC vectors). */
void exporttab_md2(const void *msg, size_t len, unsigned char out[16]);
void exporttab_hmac_md2(const unsigned char key[16], const void *msg, size_t len,
                        unsigned char out[16]);

#endif
