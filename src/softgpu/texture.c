/*
 * Texture and surface objects: cuTexObjectCreate/Destroy/GetResourceDesc/GetTextureDesc/
 * GetResourceViewDesc and cuSurfObjectCreate/Destroy/GetResourceDesc over arrays, mipmapped
 * arrays, linear and pitch-2D memory (textures) and surface-capable arrays (surfaces). Each
 * object is validated when it is made and turned into the interpreter's descriptor
 * (ptx/ptx_tex.h) then; kernels find it through sg_tex_lookup, the launch's tex_lookup hook.
 * Handles are (generation << 32 | slot + 1), so a destroyed handle never names a newer object.
 * Texture references (texref.c) register their internal objects here too.
 * Calls array.c, memory.c and context.c.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"

#define TEX_ALIGN 512u       /* CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT */
#define TEX_PITCH_ALIGN 32u  /* CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT */
#define TEX_TRSF_KNOWN (CU_TRSF_READ_AS_INTEGER | CU_TRSF_NORMALIZED_COORDINATES | CU_TRSF_SRGB | \
                        CU_TRSF_DISABLE_TRILINEAR_OPTIMIZATION | CU_TRSF_SEAMLESS_CUBEMAP)

struct texobj {
    int used;
    int surface;
    uint32_t generation;
    CUDA_RESOURCE_DESC res;
    CUDA_TEXTURE_DESC tex;
    CUDA_RESOURCE_VIEW_DESC view;
    struct ptx_tex_desc d;
};

static pthread_rwlock_t tex_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct texobj *objs;
static size_t nobjs, cap_objs;

/* ---- resources ----------------------------------------------------------------------------- */

static void set_format(struct ptx_tex_desc *d, const struct sg_format *f)
{
    d->chan_kind = f->kind;
    d->chan_bytes = f->chan_bytes;
    d->channels = f->channels;
    d->elem_bytes = f->elem_bytes;
    d->format = (uint32_t)f->format;
}

static void describe_array_shape(struct ptx_tex_desc *d, const struct sg_array *a)
{
    unsigned flags = a->desc.Flags;
    d->cubemap = (flags & CUDA_ARRAY3D_CUBEMAP) != 0;
    d->layered = (flags & CUDA_ARRAY3D_LAYERED) != 0;
    d->dims = d->cubemap ? 2 : a->desc.Depth && !d->layered ? 3 : a->desc.Height ? 2 : 1;
    d->layers = !d->layered ? 0 : d->cubemap ? a->depth / 6 : a->depth;
    set_format(d, &a->fmt);
}

static CUresult describe_array(CUarray h, int surface, struct ptx_tex_desc *d)
{
    struct sg_array *a;
    CUresult r = sg_array_get(h, &a);
    if (r)
        return r;
    if (surface && !(a->desc.Flags & CUDA_ARRAY3D_SURFACE_LDST))
        return CUDA_ERROR_INVALID_VALUE;
    describe_array_shape(d, a);
    d->nlevels = 1;
    sg_array_level(a, &d->level[0]);
    return CUDA_SUCCESS;
}

static CUresult describe_mipmap(CUmipmappedArray h, struct ptx_tex_desc *d)
{
    struct sg_mipmap *m;
    CUresult r = sg_mipmap_get(h, &m);
    if (r)
        return r;
    describe_array_shape(d, m->levels[0]);
    d->nlevels = (int)m->nlevels;
    for (unsigned i = 0; i < m->nlevels; i++)
        sg_array_level(m->levels[i], &d->level[i]);
    return CUDA_SUCCESS;
}

/* Device memory [p, p + bytes) that a linear or pitch-2D texture reads. */
static int memory_ok(CUdeviceptr p, uint64_t bytes)
{
    return p % TEX_ALIGN == 0 && bytes && sg_mem_ok(p, bytes);
}

static CUresult describe_linear(const CUDA_RESOURCE_DESC *res, struct ptx_tex_desc *d)
{
    struct sg_format f;
    CUresult r = sg_format_get(res->res.linear.format, res->res.linear.numChannels, &f);
    if (r)
        return r;
    uint64_t width = res->res.linear.sizeInBytes / f.elem_bytes;
    if (!width || width > (1u << 28) || !memory_ok(res->res.linear.devPtr, width * f.elem_bytes))
        return CUDA_ERROR_INVALID_VALUE;
    set_format(d, &f);
    d->dims = 1;
    d->linear = 1;
    d->nlevels = 1;
    d->level[0] = (struct ptx_tex_level){.addr = res->res.linear.devPtr, .pitch = width * f.elem_bytes,
                                         .width = (uint32_t)width, .height = 1, .depth = 1};
    d->level[0].slice = d->level[0].pitch;
    return CUDA_SUCCESS;
}

static CUresult describe_pitch2d(const CUDA_RESOURCE_DESC *res, struct ptx_tex_desc *d)
{
    struct sg_format f;
    CUresult r = sg_format_get(res->res.pitch2D.format, res->res.pitch2D.numChannels, &f);
    if (r)
        return r;
    size_t w = res->res.pitch2D.width, h = res->res.pitch2D.height;
    size_t pitch = res->res.pitch2D.pitchInBytes;
    if (!w || !h || w > 131072 || h > 65000 || pitch % TEX_PITCH_ALIGN || pitch > 2097120 ||
        w * f.elem_bytes > pitch || !memory_ok(res->res.pitch2D.devPtr, (h - 1) * pitch + w * f.elem_bytes))
        return CUDA_ERROR_INVALID_VALUE;
    set_format(d, &f);
    d->dims = 2;
    d->nlevels = 1;
    d->level[0] = (struct ptx_tex_level){.addr = res->res.pitch2D.devPtr, .pitch = pitch,
                                         .slice = pitch * h, .width = (uint32_t)w,
                                         .height = (uint32_t)h, .depth = 1};
    return CUDA_SUCCESS;
}

static CUresult describe_resource(const CUDA_RESOURCE_DESC *res, int surface,
                                  struct ptx_tex_desc *d)
{
    if (!res || res->flags)
        return CUDA_ERROR_INVALID_VALUE;
    switch (res->resType) {
    case CU_RESOURCE_TYPE_ARRAY: return describe_array(res->res.array.hArray, surface, d);
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
        return surface ? CUDA_ERROR_INVALID_VALUE : describe_mipmap(res->res.mipmap.hMipmappedArray, d);
    case CU_RESOURCE_TYPE_LINEAR:
        return surface ? CUDA_ERROR_INVALID_VALUE : describe_linear(res, d);
    case CU_RESOURCE_TYPE_PITCH2D:
        return surface ? CUDA_ERROR_INVALID_VALUE : describe_pitch2d(res, d);
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

/* ---- sampler state and views ----------------------------------------------------------------- */

static CUresult describe_sampler(const CUDA_TEXTURE_DESC *t, struct ptx_tex_desc *d)
{
    if (!t)
        return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; i < 3; i++) {
        if ((unsigned)t->addressMode[i] > CU_TR_ADDRESS_MODE_BORDER)
            return CUDA_ERROR_INVALID_VALUE;
        d->addr_mode[i] = (uint8_t)t->addressMode[i];
    }
    if ((unsigned)t->filterMode > CU_TR_FILTER_MODE_LINEAR ||
        (unsigned)t->mipmapFilterMode > CU_TR_FILTER_MODE_LINEAR || (t->flags & ~TEX_TRSF_KNOWN))
        return CUDA_ERROR_INVALID_VALUE;
    d->filter = (uint8_t)t->filterMode;
    d->mip_filter = (uint8_t)t->mipmapFilterMode;
    d->read_as_integer = (t->flags & CU_TRSF_READ_AS_INTEGER) != 0;
    d->normalized_coords = (t->flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
    d->srgb = (t->flags & CU_TRSF_SRGB) != 0;
    d->max_aniso = t->maxAnisotropy;
    d->lod_bias = t->mipmapLevelBias;
    d->min_lod = t->minMipmapLevelClamp;
    d->max_lod = t->maxMipmapLevelClamp;
    memcpy(d->border, t->borderColor, sizeof d->border);
    return CUDA_SUCCESS;
}

/* CUresourceViewFormat 1..0x18: {u8, s8, u16, s16, u32, s32, f16, f32} x {1, 2, 4} channels. */
static CUresult view_format(CUresourceViewFormat v, struct sg_format *out)
{
    static const CUarray_format base[] = {
        CU_AD_FORMAT_UNSIGNED_INT8, CU_AD_FORMAT_SIGNED_INT8, CU_AD_FORMAT_UNSIGNED_INT16,
        CU_AD_FORMAT_SIGNED_INT16, CU_AD_FORMAT_UNSIGNED_INT32, CU_AD_FORMAT_SIGNED_INT32,
        CU_AD_FORMAT_HALF, CU_AD_FORMAT_FLOAT,
    };
    if (v < CU_RES_VIEW_FORMAT_UINT_1X8 || v > CU_RES_VIEW_FORMAT_FLOAT_4X32)
        return v <= CU_RES_VIEW_FORMAT_SIGNED_BC6H ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    unsigned i = (unsigned)v - 1;
    return sg_format_get(base[i / 3], 1u << (i % 3), out);
}

static CUresult apply_view(const CUDA_RESOURCE_VIEW_DESC *v, struct ptx_tex_desc *d)
{
    if (v->format != CU_RES_VIEW_FORMAT_NONE) {
        struct sg_format f;
        CUresult r = view_format(v->format, &f);
        if (r)
            return r;
        if (f.elem_bytes != d->elem_bytes)
            return CUDA_ERROR_INVALID_VALUE;
        set_format(d, &f);
    }
    unsigned first = v->firstMipmapLevel, last = v->lastMipmapLevel;
    if (first > last || last >= (unsigned)d->nlevels)
        return CUDA_ERROR_INVALID_VALUE;
    memmove(d->level, d->level + first, (last - first + 1) * sizeof d->level[0]);
    d->nlevels = (int)(last - first + 1);
    if (!d->layered)
        return v->firstLayer || v->lastLayer ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    if (v->firstLayer > v->lastLayer || v->lastLayer >= d->layers)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned per = d->cubemap ? 6 : 1;
    for (int i = 0; i < d->nlevels; i++) {
        d->level[i].addr += (uint64_t)v->firstLayer * per * d->level[i].slice;
        d->level[i].depth = (v->lastLayer - v->firstLayer + 1) * per;
    }
    d->layers = v->lastLayer - v->firstLayer + 1;
    return CUDA_SUCCESS;
}

CUresult sg_tex_describe(const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                         const CUDA_RESOURCE_VIEW_DESC *view, int surface,
                         struct ptx_tex_desc *out)
{
    memset(out, 0, sizeof *out);
    CUresult r = describe_resource(res, surface, out);
    if (!r && !surface)
        r = describe_sampler(tex, out);
    if (!r && view && !surface)
        r = res->resType == CU_RESOURCE_TYPE_ARRAY || res->resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY
            ? apply_view(view, out) : CUDA_ERROR_INVALID_VALUE;
    return r;
}

/* ---- the object table ------------------------------------------------------------------------ */

/* tex_lock held for writing: a free slot (grown when none), or -1. */
static ssize_t free_slot(void)
{
    for (size_t i = 0; i < nobjs; i++)
        if (!objs[i].used)
            return (ssize_t)i;
    if (nobjs == cap_objs) {
        size_t nc = cap_objs ? cap_objs * 2 : 64;
        struct texobj *n = nc < UINT32_MAX ? realloc(objs, nc * sizeof *n) : NULL;
        if (!n)
            return -1;
        objs = n;
        cap_objs = nc;
    }
    memset(&objs[nobjs], 0, sizeof objs[0]);
    return (ssize_t)nobjs++;
}

CUresult sg_tex_register(const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                         const CUDA_RESOURCE_VIEW_DESC *view, int surface, uint64_t *handle)
{
    struct ptx_tex_desc d;
    CUresult r = sg_tex_describe(res, tex, view, surface, &d);
    if (r)
        return r;
    pthread_rwlock_wrlock(&tex_lock);
    ssize_t i = free_slot();
    if (i < 0) {
        pthread_rwlock_unlock(&tex_lock);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    struct texobj *o = &objs[i];
    o->used = 1;
    o->surface = surface;
    o->generation++;
    o->res = *res;
    memset(&o->tex, 0, sizeof o->tex);
    memset(&o->view, 0, sizeof o->view);
    if (tex && !surface)
        o->tex = *tex;
    if (view && !surface)
        o->view = *view;
    o->d = d;
    *handle = ((uint64_t)o->generation << 32) | (uint64_t)(i + 1);
    pthread_rwlock_unlock(&tex_lock);
    return CUDA_SUCCESS;
}

/* tex_lock held: the live object behind handle, or NULL. */
static struct texobj *find(uint64_t handle, int surface)
{
    uint64_t slot = handle & 0xffffffffu;
    if (!slot || slot > nobjs)
        return NULL;
    struct texobj *o = &objs[slot - 1];
    return o->used && o->surface == surface && o->generation == (uint32_t)(handle >> 32) ? o : NULL;
}

void sg_tex_unregister(uint64_t handle)
{
    pthread_rwlock_wrlock(&tex_lock);
    struct texobj *o = find(handle, 0);
    if (!o)
        o = find(handle, 1);
    if (o)
        o->used = 0;
    pthread_rwlock_unlock(&tex_lock);
}

int sg_tex_lookup(uint64_t handle, int surface, struct ptx_tex_desc *out)
{
    pthread_rwlock_rdlock(&tex_lock);
    struct texobj *o = find(handle, surface);
    if (o)
        *out = o->d;
    pthread_rwlock_unlock(&tex_lock);
    return o ? 0 : -1;
}

/* Copies a part of a live object out; INVALID_VALUE for a bad handle or a NULL destination. */
static CUresult object_part(uint64_t handle, int surface, void *dst, size_t offset, size_t bytes)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!dst)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_rwlock_rdlock(&tex_lock);
    struct texobj *o = find(handle, surface);
    if (o)
        memcpy(dst, (const char *)o + offset, bytes);
    pthread_rwlock_unlock(&tex_lock);
    return o ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult object_destroy(uint64_t handle, int surface)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    pthread_rwlock_wrlock(&tex_lock);
    struct texobj *o = find(handle, surface);
    if (o)
        o->used = 0;
    pthread_rwlock_unlock(&tex_lock);
    return o ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* The common part of cuTexObjectCreate and cuSurfObjectCreate. */
static CUresult object_create(CUtexObject *out, const CUDA_RESOURCE_DESC *res,
                              const CUDA_TEXTURE_DESC *tex, const CUDA_RESOURCE_VIEW_DESC *view,
                              int surface)
{
    struct sg_ctx *ctx;
    CUresult r = sg_ctx_get(&ctx);
    if (r)
        return r;
    if (!out || !res || (!surface && !tex) || (surface && res->resType != CU_RESOURCE_TYPE_ARRAY))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t h;
    r = sg_tex_register(res, tex, view, surface, &h);
    if (!r)
        *out = h;
    return r;
}

CUresult cuTexObjectCreate(CUtexObject *pTexObject, const CUDA_RESOURCE_DESC *pResDesc,
                           const CUDA_TEXTURE_DESC *pTexDesc,
                           const CUDA_RESOURCE_VIEW_DESC *pResViewDesc)
{
    return object_create(pTexObject, pResDesc, pTexDesc, pResViewDesc, 0);
}

CUresult cuTexObjectDestroy(CUtexObject texObject) { return object_destroy(texObject, 0); }

CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUtexObject texObject)
{
    return object_part(texObject, 0, pResDesc, offsetof(struct texobj, res), sizeof *pResDesc);
}

CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *pTexDesc, CUtexObject texObject)
{
    return object_part(texObject, 0, pTexDesc, offsetof(struct texobj, tex), sizeof *pTexDesc);
}

CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *pResViewDesc,
                                        CUtexObject texObject)
{
    return object_part(texObject, 0, pResViewDesc, offsetof(struct texobj, view),
                       sizeof *pResViewDesc);
}

CUresult cuSurfObjectCreate(CUsurfObject *pSurfObject, const CUDA_RESOURCE_DESC *pResDesc)
{
    return object_create(pSurfObject, pResDesc, NULL, NULL, 1);
}

CUresult cuSurfObjectDestroy(CUsurfObject surfObject) { return object_destroy(surfObject, 1); }

CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUsurfObject surfObject)
{
    return object_part(surfObject, 1, pResDesc, offsetof(struct texobj, res), sizeof *pResDesc);
}
