/*
 * vGPU charging of CUDA arrays and mipmapped arrays (see enforce_int.h): an array takes device
 * memory like cuMemAlloc. It is charged before the backend creates it, with the size its
 * descriptor implies (elements x channels x bytes per channel, every level of a mipmapped
 * array), then settled to what the backend says it really takes (cuArrayGetMemoryRequirements,
 * cuMipmappedArrayGetMemoryRequirements: padding and alignment included) when it can say.
 * Destroying the array refunds it; a session's end refunds what it still holds.
 *
 * Owns: nothing beyond enforce.c's charge table. May call: enforce.c's charge helpers
 * (enforce_int.h), the saved backend entries, src/common/log.h.
 */
#include "enforce_int.h"
#include "log.h"

/* Bytes of one channel of a format; 0 for formats whose size is not per channel (compressed,
 * planar), charged at 16 bytes per element, the most any format takes. */
static uint64_t channel_bytes(CUarray_format f)
{
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8:
        return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF:
        return 2;
    case CU_AD_FORMAT_UNSIGNED_INT32: case CU_AD_FORMAT_SIGNED_INT32: case CU_AD_FORMAT_FLOAT:
        return 4;
    default:
        return 0;
    }
}

/* The bytes an array of these dimensions takes; UINT64_MAX when it cannot be (overflow). */
static uint64_t array_bytes(size_t w, size_t h, size_t d, CUarray_format f, unsigned channels)
{
    uint64_t elem = channel_bytes(f) ? channel_bytes(f) * channels : 16;
    uint64_t n = w;
    uint64_t dims[] = {h ? h : 1, d ? d : 1, elem};
    for (int i = 0; i < 3; i++) {
        if (dims[i] && n > UINT64_MAX / dims[i])
            return UINT64_MAX;
        n *= dims[i];
    }
    return n;
}

static uint64_t descriptor_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels)
{
    uint64_t total = 0;
    size_t w = d->Width, h = d->Height, depth = d->Depth;
    for (unsigned l = 0; l < (levels ? levels : 1); l++) {
        uint64_t b = array_bytes(w, h, depth, d->Format, d->NumChannels);
        if (b == UINT64_MAX || total > UINT64_MAX - b)
            return UINT64_MAX;
        total += b;
        w = w > 1 ? w / 2 : 1;
        h = h > 1 ? h / 2 : h;
        /* layered arrays keep their layer count at every level */
        depth = depth > 1 && !(d->Flags & CUDA_ARRAY3D_LAYERED) ? depth / 2 : depth;
    }
    return total;
}

/* Charges `est` to the current vGPU around create(); settles to the backend's own size. */
static CUresult charge_created(struct tfw_limits *L, uint64_t est, CUresult created,
                               uint64_t key, uint64_t actual, struct tfw_vgpu *v)
{
    if (created != CUDA_SUCCESS) {
        tfw_lim_release(L, v, est);
        return created;
    }
    if (actual && actual > est && tfw_lim_reserve(L, v, actual - est) == CUDA_SUCCESS)
        est = actual;
    else if (actual && actual < est) {
        tfw_lim_release(L, v, est - actual);
        est = actual;
    }
    if (tfw_lim_sizes_put(L, TFW_LIMITS_HANDLE_KEY(key), est, v) != 0)
        tf_error("out of memory remembering an array: its refund will come at exit");
    return CUDA_SUCCESS;
}

static uint64_t backend_array_size(struct tfw_limits *L, CUarray a)
{
    CUDA_ARRAY_MEMORY_REQUIREMENTS req = {0};
    CUcontext ctx = NULL;
    CUdevice dev = 0;
    if (!L->orig.cuArrayGetMemoryRequirements || L->orig.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS
        || !ctx || L->orig.cuCtxGetDevice(&dev) != CUDA_SUCCESS
        || L->orig.cuArrayGetMemoryRequirements(&req, a, dev) != CUDA_SUCCESS)
        return 0;
    return req.size;
}

static CUresult create3d(CUarray *arr, const CUDA_ARRAY3D_DESCRIPTOR *d, int is3d,
                         const CUDA_ARRAY_DESCRIPTOR *d2)
{
    struct tfw_limits *L = lim();
    CUDA_ARRAY3D_DESCRIPTOR as3d;
    if (!is3d && d2)
        as3d = (CUDA_ARRAY3D_DESCRIPTOR){.Width = d2->Width, .Height = d2->Height,
                                         .Format = d2->Format, .NumChannels = d2->NumChannels};
    const CUDA_ARRAY3D_DESCRIPTOR *desc = is3d ? d : d2 ? &as3d : NULL;
    if (!arr || !desc)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t est = descriptor_bytes(desc, 1);
    if (est == UINT64_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    CUresult r = tfw_lim_reserve(L, v, est);
    if (r != CUDA_SUCCESS)
        return r;
    r = is3d ? L->orig.cuArray3DCreate_v2(arr, d) : L->orig.cuArrayCreate_v2(arr, d2);
    uint64_t key = r == CUDA_SUCCESS ? (uint64_t)(uintptr_t)*arr : 0;
    return charge_created(L, est, r, key, r == CUDA_SUCCESS ? backend_array_size(L, *arr) : 0, v);
}

static CUresult w_array_create(CUarray *arr, const CUDA_ARRAY_DESCRIPTOR *d)
{
    return create3d(arr, NULL, 0, d);
}

static CUresult w_array3d_create(CUarray *arr, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    return create3d(arr, d, 1, NULL);
}

static CUresult w_mipmapped_create(CUmipmappedArray *m, const CUDA_ARRAY3D_DESCRIPTOR *d,
                                   unsigned levels)
{
    struct tfw_limits *L = lim();
    if (!m || !d)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t est = descriptor_bytes(d, levels);
    if (est == UINT64_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    CUresult r = tfw_lim_reserve(L, v, est);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMipmappedArrayCreate(m, d, levels);
    uint64_t actual = 0;
    CUDA_ARRAY_MEMORY_REQUIREMENTS req = {0};
    CUdevice dev = 0;
    if (r == CUDA_SUCCESS && L->orig.cuMipmappedArrayGetMemoryRequirements
        && L->orig.cuCtxGetDevice(&dev) == CUDA_SUCCESS
        && L->orig.cuMipmappedArrayGetMemoryRequirements(&req, *m, dev) == CUDA_SUCCESS)
        actual = req.size;
    return charge_created(L, est, r, r == CUDA_SUCCESS ? (uint64_t)(uintptr_t)*m : 0, actual, v);
}

/* After the backend destroyed (r) the array or mipmapped array `handle`: its refund. */
static CUresult refund_destroyed(CUresult r, const void *handle)
{
    if (r == CUDA_SUCCESS)
        tfw_lim_refund(lim(), TFW_LIMITS_HANDLE_KEY((uint64_t)(uintptr_t)handle));
    return r;
}

static CUresult w_array_destroy(CUarray a)
{
    return refund_destroyed(lim()->orig.cuArrayDestroy(a), a);
}

static CUresult w_mipmapped_destroy(CUmipmappedArray m)
{
    return refund_destroyed(lim()->orig.cuMipmappedArrayDestroy(m), m);
}

void tfw_lim_array_install(struct tf_backend *be)
{
    TFW_WRAP(be, cuArrayCreate_v2, w_array_create);
    TFW_WRAP(be, cuArray3DCreate_v2, w_array3d_create);
    TFW_WRAP(be, cuMipmappedArrayCreate, w_mipmapped_create);
    TFW_WRAP(be, cuArrayDestroy, w_array_destroy);
    TFW_WRAP(be, cuMipmappedArrayDestroy, w_mipmapped_destroy);
}
