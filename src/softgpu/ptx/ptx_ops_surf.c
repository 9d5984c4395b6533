/*
 * Surface instructions: suld.b (unformatted loads of .b8/.b16/.b32/.b64 scalars and vectors),
 * sust.b (unformatted stores) and sust.p (formatted stores of 32-bit components converted to
 * the surface's format) on 1d, 2d, 3d, a1d and a2d surfaces. As on hardware the x coordinate
 * of .b forms is a byte offset and that of sust.p an element index; y, z and the layer are
 * element indices. Out-of-range accesses follow the instruction's mode: .trap stops the launch
 * (CUDA_ERROR_LAUNCH_FAILED), .clamp moves the access to the nearest location inside the
 * surface, .zero loads zeros and drops stores. Calls ptx_ops_tex.c (handles, operands, checked
 * memory) and ptx_tex_sample.c (format encoding).
 */
#include "ptx_tex_int.h"

void ptx_x_surf(ptx_warp *w, const ptx_insn *in, uint32_t mask);

struct surf_access {
    int64_t x, y, z;     /* x in bytes; z: the slice (3d depth or layer) */
    unsigned bytes;      /* bytes moved */
};

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static void read_coords(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                        struct surf_access *a)
{
    const ptx_operand *o = &in->o[in->op == OP_SULD ? 1 : 0];
    int g = in->cmp, k = 0;
    a->x = a->y = a->z = 0;
    if (g == TG_A1D || g == TG_A2D)
        a->z = (int32_t)ptx_tex_vec_elem(w, o, k++, lane);
    a->x = (int32_t)ptx_tex_vec_elem(w, o, k++, lane);
    if (g == TG_2D || g == TG_A2D || g == TG_3D)
        a->y = (int32_t)ptx_tex_vec_elem(w, o, k++, lane);
    if (g == TG_3D)
        a->z = (int32_t)ptx_tex_vec_elem(w, o, k++, lane);
    if (in->type3 == TV_FORMATTED)
        a->x *= d->elem_bytes;
}

/* Applies the out-of-range mode. Returns 1 to go on, 0 to skip (.zero), -1 after a trap. */
static int bound(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                 struct surf_access *a)
{
    const struct ptx_tex_level *lv = &d->level[0];
    int64_t row = (int64_t)lv->width * d->elem_bytes;
    int64_t rows = d->dims >= 2 ? lv->height : 1, slices = lv->depth ? lv->depth : 1;
    int inside = a->x >= 0 && a->x + a->bytes <= row && a->y >= 0 && a->y < rows && a->z >= 0 &&
                 a->z < slices;
    if (inside)
        return 1;
    if (in->boolop == SU_ZERO)
        return 0;
    if (in->boolop == SU_CLAMP && row >= a->bytes) {
        a->x = clamp64(a->x, 0, row - a->bytes);
        a->x -= a->x % a->bytes;
        a->y = clamp64(a->y, 0, rows - 1);
        a->z = clamp64(a->z, 0, slices - 1);
        return 1;
    }
    ptx_fail(w, in, lane, PTX_ERR_TRAP, "surface access out of range (x %lld bytes, y %lld, "
             "z %lld)", (long long)a->x, (long long)a->y, (long long)a->z);
    return -1;
}

static uint8_t *locate(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                       const struct surf_access *a)
{
    const struct ptx_tex_level *lv = &d->level[0];
    uint64_t addr = lv->addr + (uint64_t)a->z * lv->slice + (uint64_t)a->y * lv->pitch
                    + (uint64_t)a->x;
    return ptx_tex_mem(w, in, lane, addr, a->bytes);
}

static int surf_load(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                     struct surf_access *a)
{
    unsigned esz = in->bits / 8u;
    uint64_t v[PTX_MAX_VEC] = {0};
    int go = bound(w, in, lane, d, a);
    if (go < 0)
        return -1;
    if (go) {
        const uint8_t *p = locate(w, in, lane, d, a);
        if (!p)
            return -1;
        for (unsigned k = 0; k < in->vec; k++)
            memcpy(&v[k], p + k * esz, esz);
    }
    ptx_tex_write_dst(w, in, lane, v, in->vec);
    return 0;
}

static int surf_store(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                      struct surf_access *a)
{
    int go = bound(w, in, lane, d, a);
    if (go <= 0)
        return go;
    uint8_t *p = locate(w, in, lane, d, a);
    if (!p)
        return -1;
    if (in->type3 == TV_FORMATTED) {
        uint32_t v[4] = {0, 0, 0, 0};
        for (unsigned k = 0; k < in->vec && k < 4; k++)
            v[k] = (uint32_t)ptx_tex_vec_elem(w, &in->o[1], (int)k, lane);
        ptx_tex_encode(d, v, p);
        return 0;
    }
    unsigned esz = in->bits / 8u;
    for (unsigned k = 0; k < in->vec; k++) {
        uint64_t v = ptx_tex_vec_elem(w, &in->o[1], (int)k, lane);
        memcpy(p + k * esz, &v, esz); /* little-endian host */
    }
    return 0;
}

void ptx_x_surf(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_tex_cache cache;
    cache.valid = 0;
    int load = in->op == OP_SULD;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        const struct ptx_tex_desc *d = ptx_tex_resolve(w, in, load ? 1 : 0, L, 1, &cache);
        if (!d)
            return;
        struct surf_access a;
        read_coords(w, in, L, d, &a);
        a.bytes = in->type3 == TV_FORMATTED ? d->elem_bytes : (in->bits / 8u) * in->vec;
        if ((load ? surf_load : surf_store)(w, in, L, d, &a) < 0)
            return;
    }
}
