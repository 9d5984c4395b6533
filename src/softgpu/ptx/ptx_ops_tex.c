/*
 * Texture instructions: the decoder's side of tex, tld4, txq, suld, sust and suq (their
 * modifiers and operand checks), the helpers they share (handle resolution through the
 * launch's tex_lookup hook, coordinate and destination access, checked texel memory) and the
 * executors of tex (1d, 2d, 3d, a1d, a2d, cube, acube; base, .level and .grad; f32, s32 and
 * u32 results; float or integer coordinates), tld4 and txq. Handles are texture objects held in
 * registers (unified mode) or .texref variables whose 8-byte slot the driver fills. Sampling
 * itself is ptx_tex_sample.c; surfaces are ptx_ops_surf.c. Calls ptx_exec.c and ptx_ops_mem.c.
 */
#include "ptx_tex_int.h"

void ptx_x_surf(ptx_warp *w, const ptx_insn *in, uint32_t mask); /* ptx_ops_surf.c */

/* ---- decoding ------------------------------------------------------------------------------ */

static const char *const geometry_names[] = {"1d", "2d", "3d", "a1d", "a2d", "cube", "acube"};
static const char *const query_names[] = {
    "width", "height", "depth", "channel_data_type", "channel_order", "normalized_coords",
    "filter_mode", "addr_mode_0", "addr_mode_1", "addr_mode_2", "array_size",
    "num_mipmap_levels", "num_samples", "memory_layout",
};

static int find_name(const char *const *names, int n, const char *m)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], m))
            return i;
    return -1;
}

static int surface_modifier(ptx_insn *in, const char *m)
{
    if (!strcmp(m, "b"))
        return 1;
    if (in->op == OP_SUST && !strcmp(m, "p")) {
        in->type3 = TV_FORMATTED;
        return 1;
    }
    int k = find_name((const char *const[]){"trap", "clamp", "zero"}, 3, m);
    if (k < 0)
        return 0;
    in->boolop = (uint8_t)(SU_TRAP + k);
    return 1;
}

int ptx_tex_modifier(ptx_insn *in, const char *m)
{
    int k;
    if (in->op == OP_TXQ || in->op == OP_SUQ) {
        if (in->op == OP_TXQ && !strcmp(m, "level")) {
            in->type3 = TV_LEVEL;
            return 1;
        }
        if ((k = find_name(query_names, (int)(sizeof query_names / sizeof *query_names), m)) < 0)
            return 0;
        in->cmp = (uint8_t)(TQ_WIDTH + k);
        return 1;
    }
    if ((k = find_name(geometry_names, 7, m)) >= 0) {
        in->cmp = (uint8_t)(TG_1D + k);
        return 1;
    }
    if (in->op == OP_TEX && (!strcmp(m, "level") || !strcmp(m, "grad"))) {
        in->type3 = m[0] == 'l' ? TV_LEVEL : TV_GRAD;
        return 1;
    }
    if (in->op == OP_TLD4 && (k = find_name((const char *const[]){"r", "g", "b", "a"}, 4, m)) >= 0) {
        in->boolop = (uint8_t)(k + 1);
        return 1;
    }
    if (in->op == OP_SULD || in->op == OP_SUST)
        return surface_modifier(in, m);
    return 0;
}

/* Coordinates each geometry needs (the layer included). */
static int coords_needed(int geom)
{
    static const int n[] = {0, 1, 2, 3, 2, 3, 3, 4};
    return geom >= TG_1D && geom <= TG_ACUBE ? n[geom] : 0;
}

static int bad(const ptx_insn *in, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "'%s': %s", in->name, why);
    return -1;
}

static int is_value_operand(const ptx_operand *o)
{
    return o->kind == OK_REG || o->kind == OK_IMM;
}

static int check_tex(ptx_insn *in, char *err, size_t errlen)
{
    int want = in->type3 == TV_LEVEL ? 3 : in->type3 == TV_GRAD ? 4 : 2;
    if (!in->cmp)
        return bad(in, err, errlen, "missing geometry (.1d, .2d, ...)");
    if (in->op == OP_TLD4 && (!in->boolop || in->cmp == TG_1D || in->cmp == TG_3D ||
                              in->cmp == TG_A1D))
        return bad(in, err, errlen, "tld4 needs .r/.g/.b/.a and a 2d or cube geometry");
    if ((in->type != T_F32 && in->type != T_S32 && in->type != T_U32) ||
        (in->type2 != T_F32 && in->type2 != T_S32))
        return bad(in, err, errlen, "results must be .f32/.s32/.u32, coordinates .f32/.s32");
    if (in->nops != want || in->o[0].kind != OK_VEC || in->o[0].nvec != 4 ||
        in->o[1].kind != OK_ADDR || in->o[1].nvec < coords_needed(in->cmp))
        return bad(in, err, errlen, "expected {d0, d1, d2, d3}, [handle, {coordinates}]");
    if (in->type3 == TV_LEVEL && !is_value_operand(&in->o[2]))
        return bad(in, err, errlen, "the level must be a register or a constant");
    if (in->type3 == TV_GRAD && (in->o[2].kind != OK_VEC || in->o[3].kind != OK_VEC))
        return bad(in, err, errlen, "gradients must be vectors");
    return 0;
}

static int check_query(ptx_insn *in, char *err, size_t errlen)
{
    int want = in->type3 == TV_LEVEL ? 3 : 2;
    if (!in->cmp || in->nops != want || in->o[0].kind != OK_REG || in->o[1].kind != OK_ADDR ||
        in->o[1].nvec)
        return bad(in, err, errlen, "expected .query d, [handle]");
    int sampler_query = (in->cmp >= TQ_NORMALIZED_COORDS && in->cmp <= TQ_ADDR_MODE_2) ||
                        in->cmp == TQ_NUM_MIPMAP_LEVELS || in->cmp == TQ_NUM_SAMPLES;
    if (in->op == OP_SUQ ? sampler_query : in->cmp == TQ_MEMORY_LAYOUT)
        return bad(in, err, errlen, "query not defined for this instruction");
    return 0;
}

static int check_surface(ptx_insn *in, char *err, size_t errlen)
{
    int ld = in->op == OP_SULD;
    const ptx_operand *addr = &in->o[ld ? 1 : 0], *data = &in->o[ld ? 0 : 1];
    if (!in->cmp || in->cmp == TG_CUBE || in->cmp == TG_ACUBE)
        return bad(in, err, errlen, "missing or unsupported geometry");
    if (!in->boolop)
        in->boolop = SU_TRAP;
    if (in->nops != 2 || addr->kind != OK_ADDR || addr->nvec < coords_needed(in->cmp) ||
        (data->kind != OK_VEC && data->kind != OK_REG && (ld || data->kind != OK_IMM)))
        return bad(in, err, errlen, "bad operands");
    if (data->kind == OK_VEC && data->nvec != in->vec)
        return bad(in, err, errlen, "vector size does not match the instruction");
    if (in->type3 == TV_FORMATTED ? in->bits != 32 : (in->bits < 8 || in->bits > 64))
        return bad(in, err, errlen, "bad data type");
    return 0;
}

void ptx_x_tex(ptx_warp *w, const ptx_insn *in, uint32_t mask);
void ptx_x_txq(ptx_warp *w, const ptx_insn *in, uint32_t mask);

int ptx_tex_check(ptx_insn *in, char *err, size_t errlen)
{
    switch (in->op) {
    case OP_TEX:
    case OP_TLD4:
        in->exec = ptx_x_tex;
        return check_tex(in, err, errlen);
    case OP_TXQ:
    case OP_SUQ:
        in->exec = ptx_x_txq;
        return check_query(in, err, errlen);
    default:
        in->exec = ptx_x_surf;
        return check_surface(in, err, errlen);
    }
}

/* ---- shared helpers ------------------------------------------------------------------------ */

static uint64_t read_handle(ptx_warp *w, const ptx_insn *in, const ptx_operand *a, int lane,
                            int *ok)
{
    *ok = 1;
    if (a->reg != UINT32_MAX)
        return ptx_top(w)->regs[(size_t)a->reg * PTX_WARP + lane];
    if (!a->sym_kind)
        return a->imm;
    int space = a->sym_kind == SYM_KPARAM ? SP_PARAM : SP_GLOBAL;
    uint64_t addr = ptx_sym_value(w, a->sym_kind, a->sym, lane) + a->imm;
    const void *p = ptx_translate(w, in, space, addr, 8, lane, 0);
    uint64_t h = 0;
    if (p)
        memcpy(&h, p, 8);
    *ok = p != NULL;
    return h;
}

const struct ptx_tex_desc *ptx_tex_resolve(ptx_warp *w, const ptx_insn *in, int idx, int lane,
                                           int surface, ptx_tex_cache *cache)
{
    int ok;
    uint64_t h = read_handle(w, in, &in->o[idx], lane, &ok);
    if (!ok)
        return NULL;
    if (cache->valid && cache->handle == h)
        return &cache->d;
    const struct ptx_launch *l = w->blk->l;
    cache->valid = 0;
    if (!l->tex_lookup || l->tex_lookup(h, surface, &cache->d) != 0) {
        ptx_fail(w, in, lane, PTX_ERR_ILLEGAL_ADDRESS, "invalid %s handle 0x%llx",
                 surface ? "surface" : "texture", (unsigned long long)h);
        return NULL;
    }
    cache->valid = 1;
    cache->handle = h;
    return &cache->d;
}

uint64_t ptx_tex_vec_elem(ptx_warp *w, const ptx_operand *o, int k, int lane)
{
    if (o->kind == OK_REG)
        return ptx_top(w)->regs[(size_t)o->reg * PTX_WARP + lane];
    if (o->kind == OK_IMM)
        return o->imm;
    if (k >= o->nvec || o->vec[k] == UINT32_MAX)
        return 0;
    if (o->vec[k] == UINT32_MAX - 1)
        return o->vimm[k];
    return ptx_top(w)->regs[(size_t)o->vec[k] * PTX_WARP + lane];
}

void ptx_tex_write_dst(ptx_warp *w, const ptx_insn *in, int lane, const uint64_t *v, int n)
{
    const ptx_operand *d = &in->o[0];
    uint64_t m = ptx_wmask(in->bits ? in->bits : 32);
    uint64_t *regs = ptx_top(w)->regs;
    if (d->kind == OK_REG) {
        regs[(size_t)d->reg * PTX_WARP + lane] = v[0] & m;
        return;
    }
    for (int k = 0; k < n && k < d->nvec; k++)
        if (d->vec[k] < UINT32_MAX - 1)
            regs[(size_t)d->vec[k] * PTX_WARP + lane] = v[k] & m;
}

void *ptx_tex_mem(ptx_warp *w, const ptx_insn *in, int lane, uint64_t addr, unsigned bytes)
{
    if (sg_addr_ok(w->blk->l->mem, addr, bytes))
        return (void *)(uintptr_t)addr;
    ptx_fail(w, in, lane, PTX_ERR_ILLEGAL_ADDRESS, "texture memory 0x%llx (%u bytes) not mapped",
             (unsigned long long)addr, bytes);
    return NULL;
}

/* ---- tex and tld4 -------------------------------------------------------------------------- */

static int is_layered_geometry(int g) { return g == TG_A1D || g == TG_A2D || g == TG_ACUBE; }

static int coord_axes(int g) { return g == TG_1D || g == TG_A1D ? 1 : g == TG_2D || g == TG_A2D ? 2 : 3; }

static void read_request(ptx_warp *w, const ptx_insn *in, int lane, struct ptx_tex_req *q)
{
    const ptx_operand *a = &in->o[1];
    memset(q, 0, sizeof *q);
    q->geom = in->cmp;
    q->int_coords = in->type2 == T_S32;
    q->variant = in->op == OP_TEX ? in->type3 : TV_BASE;
    q->gather = in->op == OP_TLD4 ? in->boolop : 0;
    int first = 0;
    if (is_layered_geometry(q->geom)) {
        q->layer = (uint32_t)ptx_tex_vec_elem(w, a, 0, lane);
        first = 1;
    }
    for (int k = 0; k < coord_axes(q->geom); k++) {
        uint64_t v = ptx_tex_vec_elem(w, a, first + k, lane);
        q->ic[k] = (int32_t)v;
        q->c[k] = ptx_as_f32(v);
    }
    if (q->variant == TV_LEVEL)
        q->lod = ptx_as_f32(ptx_tex_vec_elem(w, &in->o[2], 0, lane));
    if (q->variant == TV_GRAD)
        for (int g = 0; g < 2; g++)
            for (int k = 0; k < 3; k++)
                q->grad[g][k] = ptx_as_f32(ptx_tex_vec_elem(w, &in->o[2 + g], k, lane));
}

void ptx_x_tex(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_tex_cache cache;
    cache.valid = 0;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        const struct ptx_tex_desc *d = ptx_tex_resolve(w, in, 1, L, 0, &cache);
        if (!d)
            return;
        struct ptx_tex_req q;
        struct ptx_texval v;
        read_request(w, in, L, &q);
        if (ptx_tex_sample(w, in, L, d, &q, &v) < 0)
            return;
        uint64_t out[4] = {v.u[0], v.u[1], v.u[2], v.u[3]};
        ptx_tex_write_dst(w, in, L, out, 4);
    }
}

/* ---- txq and suq --------------------------------------------------------------------------- */

/* OpenCL's channel data type and order codes, which txq and suq report. */
static uint32_t channel_data_type(const struct ptx_tex_desc *d)
{
    int b = d->chan_bytes == 1 ? 0 : d->chan_bytes == 2 ? 1 : 2;
    int promoted = ptx_tex_returns_float(d) && b < 2;
    switch (d->chan_kind) {
    case PTX_CHAN_UINT: return promoted ? 0x10D2u + (uint32_t)b : 0x10DAu + (uint32_t)b;
    case PTX_CHAN_SINT: return promoted ? 0x10D0u + (uint32_t)b : 0x10D7u + (uint32_t)b;
    case PTX_CHAN_UNORM: return 0x10D2u + (uint32_t)b;
    case PTX_CHAN_SNORM: return 0x10D0u + (uint32_t)b;
    case PTX_CHAN_HALF: return 0x10DDu;
    default: return 0x10DEu;
    }
}

static uint32_t channel_order(const struct ptx_tex_desc *d)
{
    return d->channels == 1 ? 0x10B0u : d->channels == 2 ? 0x10B2u : 0x10B5u;
}

static uint32_t query(const struct ptx_tex_desc *d, int q, uint32_t level, int surface)
{
    const struct ptx_tex_level *lv = &d->level[level < (uint32_t)d->nlevels ? level : 0];
    switch (q) {
    case TQ_WIDTH: return level < (uint32_t)d->nlevels ? lv->width : 0;
    case TQ_HEIGHT: return level < (uint32_t)d->nlevels ? lv->height : 0;
    case TQ_DEPTH: return d->dims == 3 ? lv->depth : 1;
    case TQ_CHANNEL_DATA_TYPE: return channel_data_type(d);
    case TQ_CHANNEL_ORDER: return channel_order(d);
    case TQ_NORMALIZED_COORDS: return d->normalized_coords;
    case TQ_FILTER_MODE: return d->filter;
    case TQ_ADDR_MODE_0: case TQ_ADDR_MODE_1: case TQ_ADDR_MODE_2:
        return d->addr_mode[q - TQ_ADDR_MODE_0];
    case TQ_ARRAY_SIZE: return d->layered ? d->layers : 1;
    case TQ_NUM_MIPMAP_LEVELS: return (uint32_t)d->nlevels;
    case TQ_MEMORY_LAYOUT: return surface ? !d->linear : 0;
    default: return 0; /* num_samples: no multisample textures */
    }
}

void ptx_x_txq(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_tex_cache cache;
    cache.valid = 0;
    int surface = in->op == OP_SUQ;
    for (int L = 0; L < PTX_WARP; L++) {
        if (!((mask >> L) & 1u))
            continue;
        const struct ptx_tex_desc *d = ptx_tex_resolve(w, in, 1, L, surface, &cache);
        if (!d)
            return;
        uint32_t level = in->type3 == TV_LEVEL ? (uint32_t)ptx_tex_vec_elem(w, &in->o[2], 0, L) : 0;
        uint64_t v = query(d, in->cmp, level, surface);
        ptx_tex_write_dst(w, in, L, &v, 1);
    }
}
