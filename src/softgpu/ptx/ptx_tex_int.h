/*
 * Private declarations shared by the texture and surface executors (ptx_ops_tex.c,
 * ptx_ops_surf.c) and the sampler (ptx_tex_sample.c): instruction modifiers as the decoder
 * stores them, handle resolution, operand access and the sampling request. Nothing outside
 * src/softgpu/ptx includes this file.
 */
#ifndef SOFTGPU_PTX_TEX_INT_H
#define SOFTGPU_PTX_TEX_INT_H

#include "ptx_internal.h"
#include "ptx_tex.h"

/* geometry (ptx_insn.cmp of tex, tld4, suld, sust) */
enum { TG_1D = 1, TG_2D, TG_3D, TG_A1D, TG_A2D, TG_CUBE, TG_ACUBE };
/* variant (ptx_insn.type3): tex.level / tex.grad; sust.p (formatted) */
enum { TV_BASE = 0, TV_LEVEL, TV_GRAD, TV_FORMATTED };
/* out-of-range policy of suld/sust (ptx_insn.boolop) */
enum { SU_TRAP = 1, SU_CLAMP, SU_ZERO };
/* txq / suq queries (ptx_insn.cmp) */
enum {
    TQ_WIDTH = 1, TQ_HEIGHT, TQ_DEPTH, TQ_CHANNEL_DATA_TYPE, TQ_CHANNEL_ORDER,
    TQ_NORMALIZED_COORDS, TQ_FILTER_MODE, TQ_ADDR_MODE_0, TQ_ADDR_MODE_1, TQ_ADDR_MODE_2,
    TQ_ARRAY_SIZE, TQ_NUM_MIPMAP_LEVELS, TQ_NUM_SAMPLES, TQ_MEMORY_LAYOUT,
};

/* The descriptor of the last handle a lane resolved: lanes of a warp usually share one. */
typedef struct {
    int valid;
    uint64_t handle;
    struct ptx_tex_desc d;
} ptx_tex_cache;

/* Resolves lane's handle (address operand idx: a register holding a handle, or a .texref /
 * .surfref variable holding one) to its descriptor; NULL after failing the launch. */
const struct ptx_tex_desc *ptx_tex_resolve(ptx_warp *w, const ptx_insn *in, int idx, int lane,
                                           int surface, ptx_tex_cache *cache);
/* Element k of vector operand o (the coordinates of an address operand) for lane. */
uint64_t ptx_tex_vec_elem(ptx_warp *w, const ptx_operand *o, int k, int lane);
/* Writes n 32-bit (or narrower, per the instruction type) values to destination operand 0. */
void ptx_tex_write_dst(ptx_warp *w, const ptx_insn *in, int lane, const uint64_t *v, int n);

/* Texel memory: the host pointer of `bytes` at addr, or NULL after failing the launch. */
void *ptx_tex_mem(ptx_warp *w, const ptx_insn *in, int lane, uint64_t addr, unsigned bytes);

/* One lane's sampling request. Coordinates are floats, or integers when int_coords. */
struct ptx_tex_req {
    int geom;                 /* TG_* */
    int int_coords;
    float c[3];
    int32_t ic[3];
    uint32_t layer;
    int variant;              /* TV_BASE, TV_LEVEL, TV_GRAD */
    float lod;
    float grad[2][3];
    int gather;               /* tld4: component + 1; 0 for tex */
};

/* A sampled value: floats (bits in u) or integers, per the texture's return type. */
struct ptx_texval {
    uint32_t u[4];
};

/* Samples (tex) or gathers (tld4) for one lane: 0, or -1 after failing the launch. */
int ptx_tex_sample(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                   const struct ptx_tex_req *q, struct ptx_texval *out);
/* 1 when the texture returns floats (float/half data, normalized integers). */
int ptx_tex_returns_float(const struct ptx_tex_desc *d);
/* Channel values of one element, raw: integers sign-extended, floats as f32 bits. */
void ptx_tex_decode(const struct ptx_tex_desc *d, const uint8_t *p, uint32_t raw[4]);
/* Encodes a formatted store (sust.p) of four 32-bit values into one element at p. */
void ptx_tex_encode(const struct ptx_tex_desc *d, const uint32_t v[4], uint8_t *p);

#endif
