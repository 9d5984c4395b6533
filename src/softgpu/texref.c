/*
 * Legacy texture and surface references: cuModuleGetTexRef / cuModuleGetSurfRef (a module's
 * .texref / .surfref variables), cuTexRefCreate/Destroy and every cuTexRefSet* / cuTexRefGet*
 * and cuSurfRef* call. A reference keeps the driver's state (binding, format, address modes,
 * filters, mipmap clamps, border, flags); whenever it changes, the reference registers a fresh
 * internal texture (or surface) object with texture.c and writes that handle into the
 * module variable's 8-byte slot, which is what tex/suld/sust read when they name the reference.
 * Calls texture.c, array.c, module.c (globals) and memory.c.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"

enum binding { BIND_NONE = 0, BIND_ARRAY, BIND_MIPMAP, BIND_LINEAR, BIND_PITCH2D };

/* What a reference is bound to, and the format it reads with. */
struct binding_state {
    enum binding kind;
    CUarray array;
    CUmipmappedArray mipmap;
    CUdeviceptr dptr;
    size_t bytes, width, height, pitch;
    CUarray_format format;
    int channels;
};

struct sg_texref {
    struct sg_module *module;   /* NULL for cuTexRefCreate */
    int global;                 /* the module variable's index */
    int surface;
    struct binding_state b;
    CUDA_TEXTURE_DESC tex;      /* address modes, filters, flags, mipmap state, border */
    uint64_t handle;            /* the internal object now in the slot (0: none) */
    struct sg_texref *next;
};

static pthread_mutex_t ref_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_texref *refs;  /* the references of modules, for cuModuleGet*Ref */

/* INVALID_VALUE, unless the driver is not initialised. */
static CUresult invalid_value(void)
{
    CUresult r = sg_check_init();
    return r ? r : CUDA_ERROR_INVALID_VALUE;
}

/* ---- handles --------------------------------------------------------------------------------- */

static CUresult ref_get(const void *h, int surface, struct sg_texref **out)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(h, surface ? SG_K_SURFREF : SG_K_TEXREF))
        return CUDA_ERROR_INVALID_HANDLE;
    *out = (struct sg_texref *)h;
    return CUDA_SUCCESS;
}

static struct sg_texref *ref_new(struct sg_module *m, int global, int surface)
{
    struct sg_texref *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->module = m;
    t->global = global;
    t->surface = surface;
    t->b.format = CU_AD_FORMAT_FLOAT;
    t->b.channels = 1;
    for (int i = 0; i < 3; i++)
        t->tex.addressMode[i] = CU_TR_ADDRESS_MODE_CLAMP;
    sg_handle_add(t, surface ? SG_K_SURFREF : SG_K_TEXREF);
    return t;
}

/* The slot of a module reference, while its module lives (0 otherwise). */
static uint64_t ref_slot(const struct sg_texref *t)
{
    if (!t->module || !sg_handle_is(t->module, SG_K_MODULE))
        return 0;
    uint64_t a = t->module->global_addrs[t->global];
    return sg_mem_ok(a, 8) ? a : 0;
}

/* ---- publishing ------------------------------------------------------------------------------ */

static void describe_binding(const struct sg_texref *t, CUDA_RESOURCE_DESC *res)
{
    memset(res, 0, sizeof *res);
    switch (t->b.kind) {
    case BIND_ARRAY:
        res->resType = CU_RESOURCE_TYPE_ARRAY;
        res->res.array.hArray = t->b.array;
        break;
    case BIND_MIPMAP:
        res->resType = CU_RESOURCE_TYPE_MIPMAPPED_ARRAY;
        res->res.mipmap.hMipmappedArray = t->b.mipmap;
        break;
    case BIND_LINEAR:
        res->resType = CU_RESOURCE_TYPE_LINEAR;
        res->res.linear.devPtr = t->b.dptr;
        res->res.linear.format = t->b.format;
        res->res.linear.numChannels = (unsigned)t->b.channels;
        res->res.linear.sizeInBytes = t->b.bytes;
        break;
    default:
        res->resType = CU_RESOURCE_TYPE_PITCH2D;
        res->res.pitch2D.devPtr = t->b.dptr;
        res->res.pitch2D.format = t->b.format;
        res->res.pitch2D.numChannels = (unsigned)t->b.channels;
        res->res.pitch2D.width = t->b.width;
        res->res.pitch2D.height = t->b.height;
        res->res.pitch2D.pitchInBytes = t->b.pitch;
        break;
    }
}

/* Registers the reference's current state as an object and puts its handle in the slot. */
static CUresult publish(struct sg_texref *t)
{
    uint64_t handle = 0;
    if (t->b.kind) {
        CUDA_RESOURCE_DESC res;
        describe_binding(t, &res);
        CUresult r = sg_tex_register(&res, &t->tex, NULL, t->surface, &handle);
        if (r)
            return r;
    }
    uint64_t slot = ref_slot(t);
    if (slot)
        memcpy((void *)(uintptr_t)slot, &handle, sizeof handle);
    if (t->handle)
        sg_tex_unregister(t->handle);
    t->handle = handle;
    return CUDA_SUCCESS;
}

/* Applies a change made by `edit` (on a copy) and keeps it only when it can be published. */
static CUresult update(CUtexref h, int surface, void (*edit)(struct sg_texref *, const void *),
                       const void *arg)
{
    struct sg_texref *t;
    CUresult r = ref_get(h, surface, &t);
    if (r)
        return r;
    pthread_mutex_lock(&ref_lock);
    struct sg_texref saved = *t;
    edit(t, arg);
    r = publish(t);
    if (r) {
        uint64_t keep = t->handle;
        *t = saved;
        t->handle = keep;
    }
    pthread_mutex_unlock(&ref_lock);
    return r;
}

/* ---- module references ----------------------------------------------------------------------- */

static CUresult module_ref(void **out, CUmodule hmod, const char *name, int surface)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(hmod, SG_K_MODULE))
        return CUDA_ERROR_INVALID_HANDLE;
    if (!out || !name)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_module *m = (struct sg_module *)hmod;
    int g = ptx_module_find_global(m->ptx, name);
    int want = surface ? PTX_OPAQUE_SURFREF : PTX_OPAQUE_TEXREF;
    if (g < 0 || ptx_module_global(m->ptx, g)->opaque != want)
        return CUDA_ERROR_NOT_FOUND;
    pthread_mutex_lock(&ref_lock);
    struct sg_texref *t = refs;
    while (t && !(t->module == m && t->global == g && sg_handle_is(t, surface ? SG_K_SURFREF : SG_K_TEXREF)))
        t = t->next;
    if (!t && (t = ref_new(m, g, surface))) {
        t->next = refs;
        refs = t;
    }
    pthread_mutex_unlock(&ref_lock);
    *out = t;
    return t ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuModuleGetTexRef(CUtexref *pTexRef, CUmodule hmod, const char *name)
{
    return module_ref((void **)pTexRef, hmod, name, 0);
}

CUresult cuModuleGetSurfRef(CUsurfref *pSurfRef, CUmodule hmod, const char *name)
{
    return module_ref((void **)pSurfRef, hmod, name, 1);
}

CUresult cuTexRefCreate(CUtexref *pTexRef)
{
    struct sg_ctx *ctx;
    CUresult r = sg_ctx_get(&ctx);
    if (r)
        return r;
    if (!pTexRef)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_texref *t = ref_new(NULL, -1, 0);
    *pTexRef = (CUtexref)t;
    return t ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuTexRefDestroy(CUtexref hTexRef)
{
    struct sg_texref *t;
    CUresult r = ref_get(hTexRef, 0, &t);
    if (r)
        return r;
    if (t->module)
        return CUDA_ERROR_INVALID_HANDLE; /* a module's reference lives as long as the module */
    sg_handle_del(t);
    if (t->handle)
        sg_tex_unregister(t->handle);
    free(t);
    return CUDA_SUCCESS;
}

/* ---- bindings -------------------------------------------------------------------------------- */

static void edit_binding(struct sg_texref *t, const void *arg)
{
    const struct binding_state *b = arg;
    struct binding_state keep = t->b;
    t->b = *b;
    if (!b->channels) { /* a linear binding reads with the reference's own format */
        t->b.format = keep.format;
        t->b.channels = keep.channels;
    }
}

/* The format an array binding overrides the reference's with (CU_TRSA_OVERRIDE_FORMAT). */
static CUresult array_format(CUarray h, struct binding_state *b)
{
    struct sg_array *a;
    CUresult r = sg_array_get(h, &a);
    if (!r) {
        b->format = a->fmt.format;
        b->channels = a->fmt.channels;
    }
    return r;
}

CUresult cuTexRefSetArray(CUtexref hTexRef, CUarray hArray, unsigned int Flags)
{
    struct binding_state b = {.kind = BIND_ARRAY, .array = hArray};
    CUresult r = sg_check_init();
    if (!r && Flags != CU_TRSA_OVERRIDE_FORMAT)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        r = array_format(hArray, &b);
    return r ? r : update(hTexRef, 0, edit_binding, &b);
}

CUresult cuTexRefSetMipmappedArray(CUtexref hTexRef, CUmipmappedArray hMipmappedArray,
                                   unsigned int Flags)
{
    struct binding_state b = {.kind = BIND_MIPMAP, .mipmap = hMipmappedArray};
    struct sg_mipmap *m;
    CUresult r = sg_check_init();
    if (!r && Flags != CU_TRSA_OVERRIDE_FORMAT)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        r = sg_mipmap_get(hMipmappedArray, &m);
    if (!r)
        r = array_format((CUarray)m->levels[0], &b);
    return r ? r : update(hTexRef, 0, edit_binding, &b);
}

CUresult cuTexRefSetAddress(size_t *ByteOffset, CUtexref hTexRef, CUdeviceptr dptr, size_t bytes)
{
    struct binding_state b = {.kind = dptr ? BIND_LINEAR : BIND_NONE};
    size_t offset = dptr % 512; /* the texture starts at the aligned address below dptr */
    if (offset && !ByteOffset)
        return CUDA_ERROR_INVALID_VALUE;
    b.dptr = dptr - offset;
    b.bytes = bytes + offset;
    CUresult r = update(hTexRef, 0, edit_binding, &b);
    if (!r && ByteOffset)
        *ByteOffset = offset;
    return r;
}

static CUresult set_address_2d(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR *desc,
                               CUdeviceptr dptr, size_t Pitch)
{
    if (!desc)
        return CUDA_ERROR_INVALID_VALUE;
    struct binding_state b = {.kind = BIND_PITCH2D, .dptr = dptr, .width = desc->Width,
                          .height = desc->Height, .pitch = Pitch, .format = desc->Format,
                          .channels = (int)desc->NumChannels};
    return update(hTexRef, 0, edit_binding, &b);
}

CUresult cuTexRefSetAddress2D(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR *desc, CUdeviceptr dptr,
                              size_t Pitch)
{
    return set_address_2d(hTexRef, desc, dptr, Pitch);
}

/* The 4.1 ABI of the same call. */
CUresult cuTexRefSetAddress2D_v2(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR *desc,
                                 CUdeviceptr dptr, size_t Pitch);
CUresult cuTexRefSetAddress2D_v2(CUtexref hTexRef, const CUDA_ARRAY_DESCRIPTOR *desc,
                                 CUdeviceptr dptr, size_t Pitch)
{
    return set_address_2d(hTexRef, desc, dptr, Pitch);
}

static void edit_format(struct sg_texref *t, const void *arg)
{
    const struct sg_format *f = arg;
    t->b.format = f->format;
    t->b.channels = f->channels;
}

CUresult cuTexRefSetFormat(CUtexref hTexRef, CUarray_format fmt, int NumPackedComponents)
{
    struct sg_format f;
    CUresult r = sg_check_init();
    if (!r)
        r = NumPackedComponents > 0 ? sg_format_get(fmt, (unsigned)NumPackedComponents, &f)
                                    : CUDA_ERROR_INVALID_VALUE;
    return r ? r : update(hTexRef, 0, edit_format, &f);
}

/* ---- sampler state --------------------------------------------------------------------------- */

static void edit_tex(struct sg_texref *t, const void *arg) { t->tex = *(const CUDA_TEXTURE_DESC *)arg; }

/* Sets n bytes at `offset` of the reference's CUDA_TEXTURE_DESC to *v. */
static CUresult set_tex_field(CUtexref h, size_t offset, const void *v, size_t n)
{
    struct sg_texref *t;
    CUresult r = ref_get(h, 0, &t);
    if (r)
        return r;
    pthread_mutex_lock(&ref_lock);
    CUDA_TEXTURE_DESC d = t->tex;
    pthread_mutex_unlock(&ref_lock);
    memcpy((char *)&d + offset, v, n);
    for (int i = 0; i < 3; i++)
        if ((unsigned)d.addressMode[i] > CU_TR_ADDRESS_MODE_BORDER)
            return CUDA_ERROR_INVALID_VALUE;
    if ((unsigned)d.filterMode > CU_TR_FILTER_MODE_LINEAR ||
        (unsigned)d.mipmapFilterMode > CU_TR_FILTER_MODE_LINEAR)
        return CUDA_ERROR_INVALID_VALUE;
    return update(h, 0, edit_tex, &d);
}

#define TEX_FIELD(f) offsetof(CUDA_TEXTURE_DESC, f)

CUresult cuTexRefSetAddressMode(CUtexref hTexRef, int dim, CUaddress_mode am)
{
    if (dim < 0 || dim > 2)
        return invalid_value();
    return set_tex_field(hTexRef, TEX_FIELD(addressMode[dim]), &am, sizeof am);
}

CUresult cuTexRefSetFilterMode(CUtexref hTexRef, CUfilter_mode fm)
{
    return set_tex_field(hTexRef, TEX_FIELD(filterMode), &fm, sizeof fm);
}

CUresult cuTexRefSetMipmapFilterMode(CUtexref hTexRef, CUfilter_mode fm)
{
    return set_tex_field(hTexRef, TEX_FIELD(mipmapFilterMode), &fm, sizeof fm);
}

CUresult cuTexRefSetMipmapLevelBias(CUtexref hTexRef, float bias)
{
    return set_tex_field(hTexRef, TEX_FIELD(mipmapLevelBias), &bias, sizeof bias);
}

CUresult cuTexRefSetMipmapLevelClamp(CUtexref hTexRef, float minMipmapLevelClamp,
                                     float maxMipmapLevelClamp)
{
    float both[2] = {minMipmapLevelClamp, maxMipmapLevelClamp}; /* adjacent in the struct */
    return set_tex_field(hTexRef, TEX_FIELD(minMipmapLevelClamp), both, sizeof both);
}

CUresult cuTexRefSetMaxAnisotropy(CUtexref hTexRef, unsigned int maxAniso)
{
    return set_tex_field(hTexRef, TEX_FIELD(maxAnisotropy), &maxAniso, sizeof maxAniso);
}

CUresult cuTexRefSetBorderColor(CUtexref hTexRef, float *pBorderColor)
{
    if (!pBorderColor)
        return invalid_value();
    return set_tex_field(hTexRef, TEX_FIELD(borderColor), pBorderColor, 4 * sizeof(float));
}

CUresult cuTexRefSetFlags(CUtexref hTexRef, unsigned int Flags)
{
    return set_tex_field(hTexRef, TEX_FIELD(flags), &Flags, sizeof Flags);
}

/* ---- getters --------------------------------------------------------------------------------- */

/* A consistent copy of a reference (INVALID_VALUE for a NULL output). */
static CUresult snapshot(const void *h, int surface, const void *out, struct sg_texref *copy)
{
    struct sg_texref *t;
    CUresult r = ref_get(h, surface, &t);
    if (r)
        return r;
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&ref_lock);
    *copy = *t;
    pthread_mutex_unlock(&ref_lock);
    return CUDA_SUCCESS;
}

/* Copies n bytes at `offset` of the reference's CUDA_TEXTURE_DESC to out. */
static CUresult get_tex_field(CUtexref h, void *out, size_t offset, size_t n)
{
    struct sg_texref t;
    CUresult r = snapshot(h, 0, out, &t);
    if (!r)
        memcpy(out, (const char *)&t.tex + offset, n);
    return r;
}

/* Copies n bytes at `offset` of the reference to out when it is bound as `want` (linear
 * includes pitch-2D); INVALID_VALUE otherwise. */
static CUresult get_binding(const void *h, int surface, enum binding want, void *out,
                            size_t offset, size_t n)
{
    struct sg_texref t;
    CUresult r = snapshot(h, surface, out, &t);
    if (!r && t.b.kind != want && !(want == BIND_LINEAR && t.b.kind == BIND_PITCH2D))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        memcpy(out, (const char *)&t + offset, n);
    return r;
}

CUresult cuTexRefGetAddress(CUdeviceptr *pdptr, CUtexref hTexRef)
{
    return get_binding(hTexRef, 0, BIND_LINEAR, pdptr, offsetof(struct sg_texref, b.dptr), sizeof *pdptr);
}

CUresult cuTexRefGetArray(CUarray *phArray, CUtexref hTexRef)
{
    return get_binding(hTexRef, 0, BIND_ARRAY, phArray, offsetof(struct sg_texref, b.array),
                       sizeof *phArray);
}

CUresult cuTexRefGetMipmappedArray(CUmipmappedArray *phMipmappedArray, CUtexref hTexRef)
{
    return get_binding(hTexRef, 0, BIND_MIPMAP, phMipmappedArray,
                       offsetof(struct sg_texref, b.mipmap), sizeof *phMipmappedArray);
}

CUresult cuTexRefGetAddressMode(CUaddress_mode *pam, CUtexref hTexRef, int dim)
{
    if (dim < 0 || dim > 2)
        return invalid_value();
    return get_tex_field(hTexRef, pam, TEX_FIELD(addressMode[dim]), sizeof *pam);
}

CUresult cuTexRefGetFilterMode(CUfilter_mode *pfm, CUtexref hTexRef)
{
    return get_tex_field(hTexRef, pfm, TEX_FIELD(filterMode), sizeof *pfm);
}

CUresult cuTexRefGetFormat(CUarray_format *pFormat, int *pNumChannels, CUtexref hTexRef)
{
    struct sg_texref t;
    CUresult r = snapshot(hTexRef, 0, pFormat, &t);
    if (r)
        return r;
    *pFormat = t.b.format;
    if (pNumChannels)
        *pNumChannels = t.b.channels;
    return CUDA_SUCCESS;
}

CUresult cuTexRefGetMipmapFilterMode(CUfilter_mode *pfm, CUtexref hTexRef)
{
    return get_tex_field(hTexRef, pfm, TEX_FIELD(mipmapFilterMode), sizeof *pfm);
}

CUresult cuTexRefGetMipmapLevelBias(float *pbias, CUtexref hTexRef)
{
    return get_tex_field(hTexRef, pbias, TEX_FIELD(mipmapLevelBias), sizeof *pbias);
}

CUresult cuTexRefGetMipmapLevelClamp(float *pminMipmapLevelClamp, float *pmaxMipmapLevelClamp,
                                     CUtexref hTexRef)
{
    CUresult r = get_tex_field(hTexRef, pmaxMipmapLevelClamp, TEX_FIELD(maxMipmapLevelClamp),
                               sizeof(float));
    return r ? r : get_tex_field(hTexRef, pminMipmapLevelClamp, TEX_FIELD(minMipmapLevelClamp),
                                 sizeof(float));
}

CUresult cuTexRefGetMaxAnisotropy(int *pmaxAniso, CUtexref hTexRef)
{
    return get_tex_field(hTexRef, pmaxAniso, TEX_FIELD(maxAnisotropy), sizeof *pmaxAniso);
}

CUresult cuTexRefGetBorderColor(float *pBorderColor, CUtexref hTexRef)
{
    return get_tex_field(hTexRef, pBorderColor, TEX_FIELD(borderColor), 4 * sizeof(float));
}

CUresult cuTexRefGetFlags(unsigned int *pFlags, CUtexref hTexRef)
{
    return get_tex_field(hTexRef, pFlags, TEX_FIELD(flags), sizeof *pFlags);
}

/* ---- surface references ---------------------------------------------------------------------- */

CUresult cuSurfRefSetArray(CUsurfref hSurfRef, CUarray hArray, unsigned int Flags)
{
    struct binding_state b = {.kind = BIND_ARRAY, .array = hArray};
    CUresult r = sg_check_init();
    if (!r && Flags)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        r = array_format(hArray, &b);
    return r ? r : update((CUtexref)hSurfRef, 1, edit_binding, &b);
}

CUresult cuSurfRefGetArray(CUarray *phArray, CUsurfref hSurfRef)
{
    return get_binding(hSurfRef, 1, BIND_ARRAY, phArray, offsetof(struct sg_texref, b.array),
                       sizeof *phArray);
}
