/*
 * CUDA arrays and mipmapped arrays (array.h): formats, shape validation against the device's
 * texture limits, creation (device memory from memory.c, charged like cuMemAlloc so that
 * cuMemGetInfo shows it), destruction, descriptors, memory requirements, planes and sparse
 * properties. Sparse and deferred-mapping arrays and planar / block-compressed formats are not
 * supported (CUDA_ERROR_NOT_SUPPORTED). Calls memory.c, context.c and init.c (handles).
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"

/* ---- formats ------------------------------------------------------------------------------- */

static const struct sg_format formats[] = {
    {CU_AD_FORMAT_UNSIGNED_INT8, PTX_CHAN_UINT, 1, 0, 0},
    {CU_AD_FORMAT_UNSIGNED_INT16, PTX_CHAN_UINT, 2, 0, 0},
    {CU_AD_FORMAT_UNSIGNED_INT32, PTX_CHAN_UINT, 4, 0, 0},
    {CU_AD_FORMAT_SIGNED_INT8, PTX_CHAN_SINT, 1, 0, 0},
    {CU_AD_FORMAT_SIGNED_INT16, PTX_CHAN_SINT, 2, 0, 0},
    {CU_AD_FORMAT_SIGNED_INT32, PTX_CHAN_SINT, 4, 0, 0},
    {CU_AD_FORMAT_HALF, PTX_CHAN_HALF, 2, 0, 0},
    {CU_AD_FORMAT_FLOAT, PTX_CHAN_FLOAT, 4, 0, 0},
    {CU_AD_FORMAT_UNORM_INT8X1, PTX_CHAN_UNORM, 1, 1, 0},
    {CU_AD_FORMAT_UNORM_INT8X2, PTX_CHAN_UNORM, 1, 2, 0},
    {CU_AD_FORMAT_UNORM_INT8X4, PTX_CHAN_UNORM, 1, 4, 0},
    {CU_AD_FORMAT_UNORM_INT16X1, PTX_CHAN_UNORM, 2, 1, 0},
    {CU_AD_FORMAT_UNORM_INT16X2, PTX_CHAN_UNORM, 2, 2, 0},
    {CU_AD_FORMAT_UNORM_INT16X4, PTX_CHAN_UNORM, 2, 4, 0},
    {CU_AD_FORMAT_SNORM_INT8X1, PTX_CHAN_SNORM, 1, 1, 0},
    {CU_AD_FORMAT_SNORM_INT8X2, PTX_CHAN_SNORM, 1, 2, 0},
    {CU_AD_FORMAT_SNORM_INT8X4, PTX_CHAN_SNORM, 1, 4, 0},
    {CU_AD_FORMAT_SNORM_INT16X1, PTX_CHAN_SNORM, 2, 1, 0},
    {CU_AD_FORMAT_SNORM_INT16X2, PTX_CHAN_SNORM, 2, 2, 0},
    {CU_AD_FORMAT_SNORM_INT16X4, PTX_CHAN_SNORM, 2, 4, 0},
};

/* Formats of cuda.h that softgpu does not store: planar YUV, packed and block-compressed. */
static int is_unsupported_format(CUarray_format f)
{
    return f == CU_AD_FORMAT_NV12 || f == CU_AD_FORMAT_UNORM_INT_101010_2 ||
           (f >= CU_AD_FORMAT_BC1_UNORM && f <= CU_AD_FORMAT_Y444_PLANAR10) ||
           f == CU_AD_FORMAT_YUV444_8bit_SemiPlanar || f == CU_AD_FORMAT_YUV444_16bit_SemiPlanar;
}

CUresult sg_format_get(CUarray_format format, unsigned channels, struct sg_format *out)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (formats[i].format != format)
            continue;
        *out = formats[i];
        if (out->channels) {
            if (channels && channels != out->channels)
                return CUDA_ERROR_INVALID_VALUE;
        } else if (channels == 1 || channels == 2 || channels == 4) {
            out->channels = (uint8_t)channels;
        } else {
            return CUDA_ERROR_INVALID_VALUE;
        }
        out->elem_bytes = (uint8_t)(out->chan_bytes * out->channels);
        return CUDA_SUCCESS;
    }
    return is_unsupported_format(format) ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
}

/* ---- handles ------------------------------------------------------------------------------- */

CUresult sg_array_get(CUarray h, struct sg_array **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_ARRAY, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult sg_mipmap_get(CUmipmappedArray h, struct sg_mipmap **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_MIPMAP, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

void sg_array_level(const struct sg_array *a, struct ptx_tex_level *lv)
{
    lv->addr = a->addr;
    lv->pitch = a->pitch;
    lv->slice = a->slice;
    lv->width = a->width;
    lv->height = a->height;
    lv->depth = a->depth;
}

/* ---- shapes -------------------------------------------------------------------------------- */

#define KNOWN_FLAGS (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST | CUDA_ARRAY3D_CUBEMAP | \
                     CUDA_ARRAY3D_TEXTURE_GATHER | CUDA_ARRAY3D_DEPTH_TEXTURE |               \
                     CUDA_ARRAY3D_COLOR_ATTACHMENT)

/* The largest width, height and depth (layers) of each kind of array (device.c's limits). */
static int within_limits(const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    size_t w = d->Width, h = d->Height, z = d->Depth;
    int layered = d->Flags & CUDA_ARRAY3D_LAYERED, cube = d->Flags & CUDA_ARRAY3D_CUBEMAP;
    if (cube)
        return w <= 32768 && (!layered || z <= 2046u * 6u);
    if (layered)
        return w <= 32768 && h <= 32768 && z <= 2048;
    if (z)
        return w <= 16384 && h <= 16384 && z <= 16384;
    return w <= 131072 && h <= 65536;
}

static CUresult check_shape(const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    unsigned f = d->Flags;
    if (f & (CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING))
        return CUDA_ERROR_NOT_SUPPORTED;
    if ((f & ~KNOWN_FLAGS) || !d->Width)
        return CUDA_ERROR_INVALID_VALUE;
    int layered = f & CUDA_ARRAY3D_LAYERED, cube = f & CUDA_ARRAY3D_CUBEMAP;
    if (cube && (d->Width != d->Height || !d->Depth || d->Depth % 6 || (!layered && d->Depth != 6)))
        return CUDA_ERROR_INVALID_VALUE;
    if (layered && !d->Depth)
        return CUDA_ERROR_INVALID_VALUE;
    if (!layered && !d->Height && d->Depth)
        return CUDA_ERROR_INVALID_VALUE;
    if ((f & CUDA_ARRAY3D_TEXTURE_GATHER) && (layered || cube || !d->Height || d->Depth))
        return CUDA_ERROR_INVALID_VALUE;
    return within_limits(d) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* False once the array's context was destroyed or reset (its memory went with it and the
 * addresses may belong to someone else now). */
static int array_memory_live(const struct sg_array *a)
{
    struct sg_region rg;
    return sg_handle_is(a->ctx, SG_K_CTX) && a->ctx->generation == a->ctx_generation &&
           sg_mem_find(a->addr, &rg) == 0 && rg.start == a->addr && rg.ctx == a->ctx;
}

static void array_free(struct sg_array *a)
{
    if (a->addr && array_memory_live(a))
        sg_mem_free(a->addr, SG_R_DEVICE);
    free(a);
}

/* A new array of shape d in ctx (d validated); its memory is zero. */
static CUresult array_new(struct sg_ctx *ctx, const CUDA_ARRAY3D_DESCRIPTOR *d,
                          const struct sg_format *fmt, struct sg_array **out)
{
    struct sg_array *a = calloc(1, sizeof *a);
    if (!a)
        return CUDA_ERROR_OUT_OF_MEMORY;
    a->desc = *d;
    a->ctx = ctx;
    a->ctx_generation = ctx->generation;
    a->fmt = *fmt;
    a->width = (uint32_t)d->Width;
    a->height = d->Height ? (uint32_t)d->Height : 1;
    a->depth = d->Depth ? (uint32_t)d->Depth : 1;
    a->pitch = (uint64_t)a->width * fmt->elem_bytes;
    a->slice = a->pitch * a->height;
    a->bytes = a->slice * a->depth; /* < 2^63: the limits bound every dimension */
    CUresult r = sg_mem_alloc(ctx, a->bytes, 512, SG_R_DEVICE, 0, &a->addr);
    if (r) {
        free(a);
        return r;
    }
    *out = a;
    return CUDA_SUCCESS;
}

static CUresult array3d_create(CUarray *handle, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    struct sg_ctx *ctx;
    CUresult r = sg_ctx_get(&ctx);
    if (r)
        return r;
    if (!handle || !d)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_format fmt;
    struct sg_array *a;
    if ((r = sg_format_get(d->Format, d->NumChannels, &fmt)) || (r = check_shape(d)) ||
        (r = array_new(ctx, d, &fmt, &a)))
        return r;
    sg_handle_add(a, SG_K_ARRAY);
    *handle = (CUarray)a;
    return CUDA_SUCCESS;
}

/* ---- entry points: arrays ------------------------------------------------------------------ */

CUresult cuArray3DCreate(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray)
{
    return array3d_create(pHandle, pAllocateArray);
}

CUresult cuArrayCreate(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray)
{
    if (!pAllocateArray)
        return array3d_create(pHandle, NULL);
    CUDA_ARRAY3D_DESCRIPTOR d = {
        .Width = pAllocateArray->Width, .Height = pAllocateArray->Height, .Depth = 0,
        .Format = pAllocateArray->Format, .NumChannels = pAllocateArray->NumChannels,
    };
    return array3d_create(pHandle, &d);
}

CUresult cuArrayDestroy(CUarray hArray)
{
    struct sg_array *a;
    CUresult r = sg_array_get(hArray, &a);
    if (r)
        return r;
    if (a->owner)
        return CUDA_ERROR_INVALID_HANDLE; /* a mipmap level goes with its mipmapped array */
    sg_handle_del(a);
    array_free(a);
    return CUDA_SUCCESS;
}

CUresult cuArray3DGetDescriptor(CUDA_ARRAY3D_DESCRIPTOR *pArrayDescriptor, CUarray hArray)
{
    struct sg_array *a;
    CUresult r = sg_array_get(hArray, &a);
    if (r)
        return r;
    if (!pArrayDescriptor)
        return CUDA_ERROR_INVALID_VALUE;
    *pArrayDescriptor = a->desc;
    return CUDA_SUCCESS;
}

CUresult cuArrayGetDescriptor(CUDA_ARRAY_DESCRIPTOR *pArrayDescriptor, CUarray hArray)
{
    CUDA_ARRAY3D_DESCRIPTOR d;
    CUresult r = cuArray3DGetDescriptor(pArrayDescriptor ? &d : NULL, hArray);
    if (r)
        return r;
    pArrayDescriptor->Width = d.Width;
    pArrayDescriptor->Height = d.Height;
    pArrayDescriptor->Format = d.Format;
    pArrayDescriptor->NumChannels = d.NumChannels;
    return CUDA_SUCCESS;
}

/* Requirements for mapping an array's memory yourself: the VMM granularity. Only deferred-
 * mapping arrays have them, and softgpu creates none (CUDA_ERROR_INVALID_VALUE, as the driver
 * answers for the others), but the device is checked first. */
static CUresult requirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *req, unsigned flags, CUdevice dev)
{
    if (!req)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_device_check(dev);
    if (r)
        return r;
    return (flags & CUDA_ARRAY3D_DEFERRED_MAPPING) ? CUDA_ERROR_NOT_SUPPORTED
                                                   : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *memoryRequirements,
                                      CUarray array, CUdevice device)
{
    struct sg_array *a;
    CUresult r = sg_array_get(array, &a);
    return r ? r : requirements(memoryRequirements, a->desc.Flags, device);
}

CUresult cuArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *sparseProperties, CUarray array)
{
    struct sg_array *a;
    CUresult r = sg_array_get(array, &a);
    if (r)
        return r;
    (void)sparseProperties;
    return CUDA_ERROR_INVALID_VALUE; /* not a sparse array: softgpu creates none */
}

CUresult cuArrayGetPlane(CUarray *pPlaneArray, CUarray hArray, unsigned int planeIdx)
{
    struct sg_array *a;
    CUresult r = sg_array_get(hArray, &a);
    if (r)
        return r;
    (void)pPlaneArray, (void)planeIdx;
    return CUDA_ERROR_INVALID_VALUE; /* no multi-planar formats: no planes */
}

/* ---- mipmapped arrays ---------------------------------------------------------------------- */

static size_t level_extent(size_t n, unsigned level) { return n ? (n >> level ? n >> level : 1) : 0; }

static unsigned max_levels(const CUDA_ARRAY3D_DESCRIPTOR *d)
{
    size_t m = d->Width;
    if (d->Height > m)
        m = d->Height;
    if (!(d->Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP)) && d->Depth > m)
        m = d->Depth;
    unsigned n = 1;
    while (m >>= 1)
        n++;
    return n;
}

static void mipmap_free(struct sg_mipmap *m)
{
    for (unsigned i = 0; i < m->nlevels; i++)
        if (m->levels[i]) {
            sg_handle_del(m->levels[i]);
            array_free(m->levels[i]);
        }
    free(m);
}

static CUresult mipmap_levels(struct sg_ctx *ctx, struct sg_mipmap *m, const struct sg_format *fmt)
{
    int keep_depth = m->desc.Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP);
    for (unsigned i = 0; i < m->nlevels; i++) {
        CUDA_ARRAY3D_DESCRIPTOR d = m->desc;
        d.Width = level_extent(d.Width, i);
        d.Height = level_extent(d.Height, i);
        d.Depth = keep_depth ? d.Depth : level_extent(d.Depth, i);
        CUresult r = array_new(ctx, &d, fmt, &m->levels[i]);
        if (r)
            return r;
        m->levels[i]->owner = m;
        sg_handle_add(m->levels[i], SG_K_ARRAY);
    }
    return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                unsigned int numMipmapLevels)
{
    struct sg_ctx *ctx;
    CUresult r = sg_ctx_get(&ctx);
    if (r)
        return r;
    const CUDA_ARRAY3D_DESCRIPTOR *d = pMipmappedArrayDesc;
    if (!pHandle || !d || !numMipmapLevels)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_format fmt;
    if ((r = sg_format_get(d->Format, d->NumChannels, &fmt)) || (r = check_shape(d)))
        return r;
    if (numMipmapLevels > max_levels(d) || numMipmapLevels > PTX_TEX_MAX_LEVELS)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_mipmap *m = calloc(1, sizeof *m);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->desc = *d;
    m->nlevels = numMipmapLevels;
    if ((r = mipmap_levels(ctx, m, &fmt))) {
        mipmap_free(m);
        return r;
    }
    sg_handle_add(m, SG_K_MIPMAP);
    *pHandle = (CUmipmappedArray)m;
    return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray,
                                  unsigned int level)
{
    struct sg_mipmap *m;
    CUresult r = sg_mipmap_get(hMipmappedArray, &m);
    if (r)
        return r;
    if (!pLevelArray || level >= m->nlevels)
        return CUDA_ERROR_INVALID_VALUE;
    *pLevelArray = (CUarray)m->levels[level];
    return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
    struct sg_mipmap *m;
    CUresult r = sg_mipmap_get(hMipmappedArray, &m);
    if (r)
        return r;
    sg_handle_del(m);
    mipmap_free(m);
    return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *memoryRequirements,
                                               CUmipmappedArray mipmap, CUdevice device)
{
    struct sg_mipmap *m;
    CUresult r = sg_mipmap_get(mipmap, &m);
    return r ? r : requirements(memoryRequirements, m->desc.Flags, device);
}

CUresult cuMipmappedArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *sparseProperties,
                                             CUmipmappedArray mipmap)
{
    struct sg_mipmap *m;
    CUresult r = sg_mipmap_get(mipmap, &m);
    (void)sparseProperties;
    return r ? r : CUDA_ERROR_INVALID_VALUE; /* not sparse: softgpu creates no sparse arrays */
}
