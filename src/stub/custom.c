/*
 * The stub's hand-written encoders (calls.def TF_CUSTOM) for contexts (which also change the
 * thread's local context stack and drop context-local storage) and for module and library
 * images (sized with fatbin_locate, named by SHA-256, sent only when the node lacks them).
 * Launches are in launch.c, host memory and copies in hostmem.c.
 * Wire layouts: docs/forwarding.md. May call: conn.c, entry.c, src/fatbin, src/exporttab.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coredump.h"
#include "exporttab.h"
#include "fatbin.h"
#include "log.h"
#include "stub.h"

void tfs_push_ctx(CUcontext ctx);

/* ---- contexts ---- */

CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    struct tfs_call c;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfs_begin(&c, TFP_ID_cuCtxCreate_v2);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u32(c.w, flags);
    tfp_put_u32(c.w, (uint32_t)dev);
    r = tfs_transact(&c);
    uint64_t h = r == CUDA_SUCCESS ? tfs_get_u64(&c) : 0;
    r = tfs_end(&c, r);
    if (r == CUDA_SUCCESS) {
        *pctx = (CUcontext)(uintptr_t)h;
        tfs_push_ctx(*pctx);
    }
    return r;
}

/* CUDA 12.5's form: execution-affinity and CIG parameters are not forwarded. */
CUresult CUDAAPI cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams,
                                unsigned int flags, CUdevice dev)
{
    if (ctxCreateParams && (ctxCreateParams->execAffinityParams || ctxCreateParams->cigParams)) {
        tfs_unsupported("cuCtxCreate_v4 with execution affinity or CIG parameters");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return cuCtxCreate_v2(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx)
{
    struct tfs_call c;
    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    CUresult r = tfs_begin(&c, TFP_ID_cuCtxDestroy_v2);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)ctx);
    r = tfs_end(&c, tfs_transact(&c));
    if (r == CUDA_SUCCESS) {
        tfs_forget_ctx(ctx);
        exporttab_context_destroyed(ctx);
        dk_coredump_forget(ctx);
    }
    return r;
}

CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
    struct tfs_call c;
    CUresult r = tfs_begin(&c, TFP_ID_cuDevicePrimaryCtxReset_v2);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u32(c.w, (uint32_t)dev);
    r = tfs_end(&c, tfs_transact(&c));
    CUcontext primary = NULL;
    /* cudart re-initialises after cudaDeviceReset only if its context-local data is dropped. */
    if (r == CUDA_SUCCESS && tfs_primary_ctx(&primary, dev) == CUDA_SUCCESS)
        exporttab_context_destroyed(primary);
    return r;
}

CUresult CUDAAPI cuDevicePrimaryCtxReset(CUdevice dev)
{
    return cuDevicePrimaryCtxReset_v2(dev);
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev)
{
    return cuDevicePrimaryCtxRelease_v2(dev);
}

CUresult CUDAAPI cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
    return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

/* ---- images ---- */

enum { IMAGE_MODULE = 0, IMAGE_LIBRARY = 1 };
enum { IMAGE_LOADED = 0, IMAGE_SEND_BYTES = 1 };

static CUresult send_image(uint32_t call, unsigned what, const uint8_t hash[32], const void *data,
                           size_t size, int with_bytes, uint32_t *status, uint64_t *h)
{
    struct tfs_call c;
    CUresult r = tfs_begin(&c, call);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u32(c.w, what);
    tfp_put_u32(c.w, (uint32_t)with_bytes);
    tfp_put(c.w, hash, 32);
    tfp_put_u64(c.w, size);
    if (with_bytes)
        tfp_put_ref(c.w, data, size);
    r = tfs_transact(&c);
    if (r == CUDA_SUCCESS) {
        tfs_get(&c, status, sizeof *status);
        *h = tfs_get_u64(&c);
    }
    return tfs_end(&c, r);
}

/* Loads an image known only by its address: first by hash alone, then with its bytes when the
 * node has not seen it. */
static CUresult load_image(uint32_t call, unsigned what, const void *image, uint64_t *h)
{
    if (!image)
        return CUDA_ERROR_INVALID_VALUE;
    const void *data;
    size_t size;
    char err[256];
    if (fatbin_locate(image, &data, &size, err, sizeof err) != FATBIN_OK) {
        tf_warn("%s: cannot size the image: %s", tfp_call_name(call), err);
        return CUDA_ERROR_INVALID_IMAGE;
    }
    if (size > TFP_MAX_IMAGE)
        return CUDA_ERROR_INVALID_IMAGE;
    uint8_t hash[32];
    tfp_sha256(data, size, hash);
    uint32_t status = IMAGE_SEND_BYTES;
    CUresult r = send_image(call, what, hash, data, size, 0, &status, h);
    if (r == CUDA_SUCCESS && status == IMAGE_SEND_BYTES)
        r = send_image(call, what, hash, data, size, 1, &status, h);
    if (r == CUDA_SUCCESS && status != IMAGE_LOADED)
        r = CUDA_ERROR_INVALID_IMAGE;
    return r;
}

CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image)
{
    if (!module)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t h = 0;
    CUresult r = load_image(TFP_ID_cuModuleLoadData, IMAGE_MODULE, image, &h);
    if (r == CUDA_SUCCESS)
        *module = (CUmodule)(uintptr_t)h;
    return r;
}

/* JIT options are not forwarded (the worker's driver compiles with its defaults); the log
 * buffers they may name are reported empty rather than left stale. */
void tfs_clear_jit_logs(unsigned n, const CUjit_option *opts, void **vals)
{
    static const CUjit_option pairs[2][2] = {
        {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES},
        {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES}};
    for (int k = 0; opts && vals && k < 2; k++) {
        char *buf = NULL;
        int size_at = -1;
        for (unsigned i = 0; i < n; i++) {
            if (opts[i] == pairs[k][0])
                buf = vals[i];
            else if (opts[i] == pairs[k][1])
                size_at = (int)i;
        }
        if (size_at < 0)
            continue;
        if (buf && (uintptr_t)vals[size_at] > 0)
            buf[0] = '\0';   /* an empty log, NUL-terminated as the driver writes it */
        vals[size_at] = (void *)0;
    }
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                    CUjit_option *options, void **optionValues)
{
    if (!module)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t h = 0;
    CUresult r = load_image(TFP_ID_cuModuleLoadDataEx, IMAGE_MODULE, image, &h);
    if (r == CUDA_SUCCESS) {
        *module = (CUmodule)(uintptr_t)h;
        tfs_clear_jit_logs(numOptions, options, optionValues);
    }
    return r;
}

CUresult CUDAAPI cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                   void **jitOptionsValues, unsigned int numJitOptions,
                                   CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                   unsigned int numLibraryOptions)
{
    if (!library)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t h = 0;
    CUresult r = load_image(TFP_ID_cuLibraryLoadData, IMAGE_LIBRARY, code, &h);
    if (r == CUDA_SUCCESS) {
        *library = (CUlibrary)(uintptr_t)h;
        tfs_clear_jit_logs(numJitOptions, jitOptions, jitOptionsValues);
    }
    return r;
}
