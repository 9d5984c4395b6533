/*
 * Texture and surface descriptors: what the driver (src/softgpu/texture.c) tells the PTX
 * interpreter about a texture or surface handle, and nothing more. The interpreter resolves a
 * handle through the launch's tex_lookup hook (ptx.h) and samples memory through the address
 * space like any other global access, so a descriptor never lets a kernel reach memory that is
 * not device-accessible. Owned by the interpreter (ptx_ops_tex.c, ptx_ops_surf.c,
 * ptx_tex_sample.c); filled by the driver. Includes nothing of cuda.h.
 */
#ifndef SOFTGPU_PTX_TEX_H
#define SOFTGPU_PTX_TEX_H

#include <stdint.h>

/* How the bytes of one channel are read. */
enum ptx_chan_kind {
    PTX_CHAN_UINT = 0, /* unsigned integer: promoted to [0, 1] unless read as integer */
    PTX_CHAN_SINT,     /* signed integer: promoted to [-1, 1] unless read as integer */
    PTX_CHAN_UNORM,    /* always read as a float in [0, 1] */
    PTX_CHAN_SNORM,    /* always read as a float in [-1, 1] */
    PTX_CHAN_HALF,
    PTX_CHAN_FLOAT,
};

/* Address modes and filters, numbered as CUaddress_mode and CUfilter_mode. */
enum { PTX_ADDR_WRAP = 0, PTX_ADDR_CLAMP, PTX_ADDR_MIRROR, PTX_ADDR_BORDER };
enum { PTX_FILTER_POINT = 0, PTX_FILTER_LINEAR };

#define PTX_TEX_MAX_LEVELS 18

/* One mipmap level (or the only level): `width` elements per row, `pitch` bytes between rows,
 * `height` rows per slice, `slice` bytes between slices; `depth` slices (the z extent of a 3D
 * texture, or layers of a layered one: cubemaps have 6 faces per layer). */
struct ptx_tex_level {
    uint64_t addr;
    uint64_t pitch, slice;
    uint32_t width, height, depth;
};

struct ptx_tex_desc {
    uint8_t dims;              /* 1, 2 or 3 (a cubemap is 2 with cubemap set) */
    uint8_t layered, cubemap;
    uint8_t linear;            /* a linear-memory resource: integer fetches, 0 outside */
    uint8_t chan_kind;         /* enum ptx_chan_kind */
    uint8_t chan_bytes;        /* 1, 2 or 4 */
    uint8_t channels;          /* 1, 2 or 4 */
    uint8_t elem_bytes;        /* chan_bytes * channels */
    uint8_t addr_mode[3];
    uint8_t filter, mip_filter;
    uint8_t read_as_integer;   /* CU_TRSF_READ_AS_INTEGER */
    uint8_t normalized_coords; /* CU_TRSF_NORMALIZED_COORDINATES */
    uint8_t srgb;              /* CU_TRSF_SRGB */
    uint32_t layers;           /* layered: layers (cubemap layered: cubes) */
    uint32_t max_aniso;
    uint32_t format;           /* the CUarray_format, for txq/suq */
    float border[4];
    float lod_bias, min_lod, max_lod;
    int nlevels;
    struct ptx_tex_level level[PTX_TEX_MAX_LEVELS];
};

#endif
