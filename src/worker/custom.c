/*
 * Hand-written handlers for calls with irregular shapes (calls.def TF_CUSTOM): context creation
 * and destruction, primary-context reset, module/library images (sent once per tenant, cached by
 * hash in the session's scope once loaded) and
 * kernel launches (parameter buffer + layout; the decoder is shared with graph kernel nodes,
 * kparams.h). Wire layouts: docs/forwarding.md.
 * May call: the backend table, session helpers, modcache.c.
 */
#include <stdlib.h>
#include <string.h>

#include "enforce.h"
#include "fatbin.h"
#include "log.h"
#include "kparams.h"
#include "migrate.h"
#include "ptxglobals.h"
#include "worker_int.h"

#define NEED_BACKEND(fn) \
    do { if (!s->be.fn) return CUDA_ERROR_NOT_SUPPORTED; } while (0)
#define DONE_READING(call) \
    do { if (!tfp_reader_done(in)) return tfw_malformed(s, call, "arguments do not match"); } while (0)

CUresult tfw_custom_cuCtxCreate_v2(struct tfw_session *s, struct tfp_reader *in,
                                   struct tfp_writer *out)
{
    unsigned flags = tfp_get_u32(in);
    CUdevice dev = (CUdevice)tfp_get_u32(in);
    DONE_READING("cuCtxCreate");
    NEED_BACKEND(cuCtxCreate_v2);
    CUcontext ctx = NULL;
    CUresult r = s->be.cuCtxCreate_v2(&ctx, flags, dev);
    if (r != CUDA_SUCCESS)
        return r;
    tfw_record_handle(s, TFW_K_CTX, (uint64_t)(uintptr_t)ctx);
    /* The backend pushed it on this thread's stack; the program's stack is the stub's, and the
     * worker only ever replaces its one current context (enter_context), so the push is undone
     * into a replacement: a stack that grew by one per create would overflow after a few dozen
     * create/destroy rounds (cuCtxSetCurrent(NULL) pops, as the driver documents). */
    if (s->be.cuCtxSetCurrent(NULL) == CUDA_SUCCESS)
        s->be.cuCtxSetCurrent(ctx);
    s->current = ctx;   /* current on this thread, as the stub makes it in the program */
    tfp_put_u64(out, tfw_xout(s, (uint64_t)(uintptr_t)ctx));
    return CUDA_SUCCESS;
}

CUresult tfw_custom_cuCtxDestroy_v2(struct tfw_session *s, struct tfp_reader *in,
                                    struct tfp_writer *out)
{
    uint64_t wire = tfp_get_u64(in), h = tfw_xin(s, wire);
    DONE_READING("cuCtxDestroy");
    NEED_BACKEND(cuCtxDestroy_v2);
    if (!h || tfw_handles_kind(&s->handles, h) != TFW_K_CTX)
        return CUDA_ERROR_INVALID_CONTEXT;
    CUresult r = s->be.cuCtxDestroy_v2((CUcontext)(uintptr_t)h);
    if (r != CUDA_SUCCESS)
        return r;
    tfw_handles_del(&s->handles, h);
    tfw_xlate_forget(s->xl, wire, h);
    if ((uint64_t)(uintptr_t)s->current == h || s->be.cuCtxGetCurrent(&s->current) != CUDA_SUCCESS)
        s->current = NULL;
    return CUDA_SUCCESS;
}

CUresult tfw_custom_cuDevicePrimaryCtxReset_v2(struct tfw_session *s, struct tfp_reader *in,
                                               struct tfp_writer *out)
{
    CUdevice dev = (CUdevice)tfp_get_u32(in);
    DONE_READING("cuDevicePrimaryCtxReset");
    NEED_BACKEND(cuDevicePrimaryCtxReset_v2);
    return s->be.cuDevicePrimaryCtxReset_v2(dev);
}

/* ---- module images ---- */

enum { IMAGE_MODULE = 0, IMAGE_LIBRARY = 1 };
enum { IMAGE_LOADED = 0, IMAGE_SEND_BYTES = 1 };

static CUresult load_image_uncharged(struct tfw_session *s, unsigned what, const void *image,
                                     uint64_t *h)
{
    CUresult r;
    if (what == IMAGE_MODULE) {
        NEED_BACKEND(cuModuleLoadData);
        CUmodule mod = NULL;
        r = s->be.cuModuleLoadData(&mod, image);
        *h = (uint64_t)(uintptr_t)mod;
        if (r == CUDA_SUCCESS)
            tfw_record_handle(s, TFW_K_MOD, *h);
    } else {
        NEED_BACKEND(cuLibraryLoadData);
        CUlibrary lib = NULL;
        r = s->be.cuLibraryLoadData(&lib, image, NULL, NULL, 0, NULL, NULL, 0);
        *h = (uint64_t)(uintptr_t)lib;
        if (r == CUDA_SUCCESS)
            tfw_record_handle(s, TFW_K_LIB, *h);
    }
    return r;
}

/* The device memory an image's __device__/__constant__ variables take (the driver API cannot
 * list a module's globals): read from its PTX, or from its cubins' section tables when it has
 * no PTX. An image neither reader understands is charged nothing, with a warning. */
static uint64_t image_globals_bytes(const void *image, uint64_t size)
{
    char *ptx = NULL, err[160];
    size_t len = 0;
    uint64_t bytes = 0;
    if (fatbin_select_ptx(image, (size_t)size, ~0u, &ptx, &len, err, sizeof err) != 0) {
        if (fatbin_image_globals_bytes(image, (size_t)size, &bytes, err, sizeof err) != 0) {
            tf_warn("cannot size a module's globals (%s): they are not charged", err);
            bytes = 0;
        }
        return bytes;
    }
    if (tfw_ptx_globals_bytes(ptx, len, &bytes) != 0) {
        tf_warn("cannot size the globals of a module's PTX: they are not charged");
        bytes = 0;
    }
    free(ptx);
    return bytes;
}

/* Loads an image, its globals charged to the session's vGPU first (refunded on unload, see
 * enforce.c): a module whose globals do not fit fails with CUDA_ERROR_OUT_OF_MEMORY. */
static CUresult load_image(struct tfw_session *s, unsigned what, const void *image, uint64_t size,
                           uint64_t *h)
{
    uint64_t globals = s->lim ? image_globals_bytes(image, size) : 0;
    CUresult r = tfw_limits_reserve(s, globals);
    if (r != CUDA_SUCCESS)
        return r;
    r = load_image_uncharged(s, what, image, h);
    if (r != CUDA_SUCCESS) {
        tfw_limits_release(s, globals);
        return r;
    }
    tfw_limits_remember(s, TFW_LIMITS_HANDLE_KEY(*h), globals);
    /* for a migration (migrate.c): a module's image to load it again; a library stays */
    tfw_migrate_note_module(s, *h, what == IMAGE_MODULE ? image : NULL, size, globals);
    return r;
}

/* Request: u32 what, u32 has_bytes, u8 sha256[32], u64 size, [size bytes, 8-aligned].
 * Reply: u32 status (IMAGE_LOADED + u64 handle, or IMAGE_SEND_BYTES: not cached, resend). */
static CUresult image_request(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out,
                              const char *call)
{
    unsigned what = tfp_get_u32(in);
    unsigned has_bytes = tfp_get_u32(in);
    uint8_t hash[32];
    tfp_get(in, hash, sizeof hash);
    uint64_t size = tfp_get_u64(in);
    const void *bytes = has_bytes ? tfp_get_ref(in, size) : NULL;
    DONE_READING(call);
    if (what > IMAGE_LIBRARY || size == 0 || size > TFP_MAX_IMAGE)
        return tfw_malformed(s, call, "bad image kind or size");
    void *owned = NULL;
    if (has_bytes) {
        uint8_t check[32];
        tfp_sha256(bytes, size, check);
        if (memcmp(check, hash, sizeof check) != 0)
            return tfw_malformed(s, call, "image does not match its hash");
        /* Our own copy, 8-aligned and NUL-padded, outliving the request buffer. */
        owned = calloc(1, size + 8);
        if (!owned)
            return CUDA_ERROR_OUT_OF_MEMORY;
        memcpy(owned, bytes, size);
    } else {
        /* Only this session's scope: another tenant's image is never found by its hash. */
        owned = tfw_cache_get(&s->cache, hash, size);
        if (!owned) {
            tfp_put_u32(out, IMAGE_SEND_BYTES);
            tfp_put_u64(out, 0);
            return CUDA_SUCCESS;
        }
    }
    uint64_t h = 0;
    CUresult r = load_image(s, what, owned, size, &h);
    if (r == CUDA_SUCCESS && has_bytes)   /* cached only once the driver accepted it */
        tfw_cache_put(&s->cache, hash, owned, size);
    free(owned);   /* no BINARY_IS_PRESERVED option was given: the driver kept a copy */
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u32(out, IMAGE_LOADED);
    tfp_put_u64(out, tfw_xout(s, h));
    return CUDA_SUCCESS;
}

CUresult tfw_custom_cuModuleLoadData(struct tfw_session *s, struct tfp_reader *in,
                                     struct tfp_writer *out)
{
    return image_request(s, in, out, "cuModuleLoadData");
}

CUresult tfw_custom_cuModuleLoadDataEx(struct tfw_session *s, struct tfp_reader *in,
                                       struct tfp_writer *out)
{
    return image_request(s, in, out, "cuModuleLoadDataEx");
}

CUresult tfw_custom_cuLibraryLoadData(struct tfw_session *s, struct tfp_reader *in,
                                      struct tfp_writer *out)
{
    return image_request(s, in, out, "cuLibraryLoadData");
}

/* ---- launches ---- */

/* Common tail of both launch requests: u32 nparams (UINT32_MAX: the buffer is an `extra`
 * parameter buffer), nparams x (u32 offset, u32 size), u32 buflen, buflen bytes. */
CUresult tfw_read_kernel_params(struct tfw_session *s, struct tfp_reader *in, struct tfw_launch *l,
                                const char *call)
{
    uint32_t n = tfp_get_u32(in);
    const struct tfp_param *layout = NULL;
    if (n != UINT32_MAX) {
        if (n > TFP_MAX_PARAMS)
            return tfw_malformed(s, call, "too many parameters");
        layout = tfp_get_ref(in, (size_t)n * sizeof *layout);
    }
    l->buflen = tfp_get_u32(in);
    if (l->buflen > TFP_MAX_PARAM_BYTES)
        return tfw_malformed(s, call, "parameter buffer too large");
    uint8_t *buf = (uint8_t *)tfp_get_ref(in, l->buflen);
    DONE_READING(call);
    if (n == UINT32_MAX) {
        l->use_extra = 1;
        l->extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER;
        l->extra[1] = buf;
        l->extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE;
        l->extra[3] = &l->buflen;
        l->extra[4] = CU_LAUNCH_PARAM_END;
        return CUDA_SUCCESS;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct tfp_param p;
        memcpy(&p, &layout[i], sizeof p);
        if ((uint64_t)p.offset + p.size > l->buflen)
            return tfw_malformed(s, call, "parameter outside the buffer");
        l->params[i] = buf + p.offset;
    }
    return CUDA_SUCCESS;
}

static CUresult read_geometry(struct tfw_session *s, struct tfp_reader *in, struct tfw_launch *l)
{
    l->f = tfw_xin(s, tfp_get_u64(in));
    for (int i = 0; i < 3; i++)
        l->grid[i] = tfp_get_u32(in);
    for (int i = 0; i < 3; i++)
        l->block[i] = tfp_get_u32(in);
    l->shmem = tfp_get_u32(in);
    l->stream = tfw_xin(s, tfp_get_u64(in));
    if (!l->f)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult r = tfw_check_handle(s, TFW_K_FUNC, l->f);
    return r != CUDA_SUCCESS ? r : tfw_check_handle(s, TFW_K_STREAM, l->stream);
}

CUresult tfw_custom_cuLaunchKernel(struct tfw_session *s, struct tfp_reader *in,
                                   struct tfp_writer *out)
{
    struct tfw_launch l;
    memset(&l, 0, sizeof l);
    CUresult geo = read_geometry(s, in, &l);
    CUresult r = tfw_read_kernel_params(s, in, &l, "cuLaunchKernel");
    if (r != CUDA_SUCCESS)
        return r;
    if (geo != CUDA_SUCCESS)
        return geo;
    NEED_BACKEND(cuLaunchKernel);
    return s->be.cuLaunchKernel((CUfunction)(uintptr_t)l.f, l.grid[0], l.grid[1], l.grid[2],
                                l.block[0], l.block[1], l.block[2], l.shmem,
                                (CUstream)(uintptr_t)l.stream, l.use_extra ? NULL : l.params,
                                l.use_extra ? l.extra : NULL);
}

/* Attributes whose values hold no handles or pointers travel as they are; the others would
 * name objects of the client's process and are refused. */
static int attribute_forwardable(CUlaunchAttributeID id)
{
    switch (id) {
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
        return 1;
    default:
        return 0;
    }
}

CUresult tfw_custom_cuLaunchKernelEx(struct tfw_session *s, struct tfp_reader *in,
                                     struct tfp_writer *out)
{
    struct tfw_launch l;
    memset(&l, 0, sizeof l);
    CUresult geo = read_geometry(s, in, &l);
    uint32_t nattrs = tfp_get_u32(in);
    if (nattrs > 64)
        return tfw_malformed(s, "cuLaunchKernelEx", "too many attributes");
    CUlaunchAttribute attrs[64];
    tfp_get(in, attrs, nattrs * sizeof attrs[0]);
    CUresult r = tfw_read_kernel_params(s, in, &l, "cuLaunchKernelEx");
    if (r != CUDA_SUCCESS)
        return r;
    if (geo != CUDA_SUCCESS)
        return geo;
    for (uint32_t i = 0; i < nattrs; i++)
        if (!attribute_forwardable(attrs[i].id))
            return CUDA_ERROR_NOT_SUPPORTED;
    NEED_BACKEND(cuLaunchKernelEx);
    CUlaunchConfig cfg = {
        .gridDimX = l.grid[0], .gridDimY = l.grid[1], .gridDimZ = l.grid[2],
        .blockDimX = l.block[0], .blockDimY = l.block[1], .blockDimZ = l.block[2],
        .sharedMemBytes = l.shmem, .hStream = (CUstream)(uintptr_t)l.stream,
        .attrs = nattrs ? attrs : NULL, .numAttrs = nattrs,
    };
    return s->be.cuLaunchKernelEx(&cfg, (CUfunction)(uintptr_t)l.f,
                                  l.use_extra ? NULL : l.params, l.use_extra ? l.extra : NULL);
}
