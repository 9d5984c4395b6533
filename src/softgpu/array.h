/*
 * softgpu's CUDA arrays, mipmapped arrays and texture/surface objects, as the files that
 * implement them (array.c, array_copy.c, texture.c, texref.c) share them. An array is a block
 * of device memory (charged to the device like cuMemAlloc) holding its elements row-major:
 * rows of `pitch` bytes, `height` rows per slice, `depth` slices (the depth of a 3D array, the
 * layers of a layered one, six faces per cube of a cubemap). Calls softgpu.h only.
 */
#ifndef SOFTGPU_ARRAY_H
#define SOFTGPU_ARRAY_H

#include "softgpu.h"
#include "ptx/ptx_tex.h"

/* What an element of a CUarray_format looks like. */
struct sg_format {
    CUarray_format format;
    uint8_t kind;        /* enum ptx_chan_kind */
    uint8_t chan_bytes;
    uint8_t channels;
    uint8_t elem_bytes;
};
/* Validates a format and channel count (0 = the format's own, for formats that fix it). */
CUresult sg_format_get(CUarray_format format, unsigned channels, struct sg_format *out);

struct sg_mipmap;

struct sg_array {
    CUDA_ARRAY3D_DESCRIPTOR desc;    /* as created */
    struct sg_ctx *ctx;
    unsigned ctx_generation;         /* ctx->generation at creation: its memory is gone after */
    struct sg_format fmt;
    uint64_t addr, bytes;
    uint64_t pitch, slice;           /* bytes per row, per slice */
    uint32_t width, height, depth;   /* elements per row, rows (>= 1), slices (>= 1) */
    struct sg_mipmap *owner;         /* a level of this mipmapped array, destroyed with it */
};

struct sg_mipmap {
    CUDA_ARRAY3D_DESCRIPTOR desc;
    unsigned nlevels;
    struct sg_array *levels[PTX_TEX_MAX_LEVELS];
};

/* The live array / mipmapped array behind a handle, or INVALID_HANDLE (or the init error). */
CUresult sg_array_get(CUarray h, struct sg_array **out);
CUresult sg_mipmap_get(CUmipmappedArray h, struct sg_mipmap **out);
/* The sampler's view of one array (a level). */
void sg_array_level(const struct sg_array *a, struct ptx_tex_level *lv);

/* array_copy.c: the byte at (x bytes, y, z) of an array and its row and slice pitches, for
 * copy.c's CU_MEMORYTYPE_ARRAY sides, and the bounds check of a 3D copy's array sides. */
CUresult sg_array_locate(CUarray h, size_t x, size_t y, size_t z, uint64_t *addr, size_t *pitch,
                         size_t *slice);
CUresult sg_array_copy_check(const CUDA_MEMCPY3D *p);

/* texture.c: a descriptor for the interpreter from driver descriptors (surface: for sust/suld),
 * and the hook the launches pass (ptx.h tex_lookup). */
CUresult sg_tex_describe(const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                         const CUDA_RESOURCE_VIEW_DESC *view, int surface,
                         struct ptx_tex_desc *out);
int sg_tex_lookup(uint64_t handle, int surface, struct ptx_tex_desc *out);
/* Registers a descriptor under a new handle (internal objects of texture references too). */
CUresult sg_tex_register(const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                         const CUDA_RESOURCE_VIEW_DESC *view, int surface, uint64_t *handle);
void sg_tex_unregister(uint64_t handle);

#endif
