/*
 * The texture sampler: texel formats (decoding the 8 base channel types and the normalized
 * ones, encoding for formatted surface stores), address modes (wrap, clamp, mirror, border),
 * point and linear filtering, cubemap face selection, layers, mipmap level selection (explicit
 * level, gradients, bias and clamps, point or linear between levels) and gathers (tld4).
 *
 * Linear filtering follows the CUDA programming guide's texture-fetching appendix, with the
 * hardware's 9-bit fixed-point weights (8 fractional bits, rounded to nearest, ties up); the weighted
 * sum itself is computed in float. Wrap and mirror need normalized coordinates: without them
 * they act as clamp, as on hardware. Every texel read goes through the device address space
 * (ptx_tex_mem), so a descriptor over freed memory fails the launch instead of faulting.
 * Calls ptx_exec.c (failures) and the half helpers of ptx_ops_float.c.
 */
#include <math.h>

#include "ptx_tex_int.h"

typedef struct {
    ptx_warp *w;
    const ptx_insn *in;
    int lane;
    const struct ptx_tex_desc *d;
    const struct ptx_tex_level *lv;
    int naxes;        /* addressed axes: 1, 2 or 3 */
    int modes[3];
    uint32_t slice;   /* the layer (or cubemap face) when fewer than 3 axes are addressed */
    int as_float;
} sampler;

/* ---- formats ------------------------------------------------------------------------------- */

int ptx_tex_returns_float(const struct ptx_tex_desc *d)
{
    if (d->chan_kind == PTX_CHAN_UINT || d->chan_kind == PTX_CHAN_SINT)
        return !d->read_as_integer && d->chan_bytes < 4;
    return 1;
}

static uint32_t read_chan(const uint8_t *p, int bytes, int is_signed)
{
    if (bytes == 1)
        return is_signed ? (uint32_t)(int32_t)(int8_t)p[0] : p[0];
    if (bytes == 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        return is_signed ? (uint32_t)(int32_t)(int16_t)v : v;
    }
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void ptx_tex_decode(const struct ptx_tex_desc *d, const uint8_t *p, uint32_t raw[4])
{
    int sgn = d->chan_kind == PTX_CHAN_SINT || d->chan_kind == PTX_CHAN_SNORM;
    for (int c = 0; c < 4; c++)
        raw[c] = 0;
    for (int c = 0; c < d->channels && c < 4; c++) {
        uint32_t v = read_chan(p + c * d->chan_bytes, d->chan_bytes, sgn);
        if (d->chan_kind == PTX_CHAN_HALF)
            v = (uint32_t)ptx_f32_bits(ptx_h2f((uint16_t)v));
        raw[c] = v;
    }
}

static float unsigned_max(int bytes) { return bytes == 1 ? 255.0f : 65535.0f; }
static float signed_max(int bytes) { return bytes == 1 ? 127.0f : 32767.0f; }

static float srgb_to_linear(float c)
{
    return c <= 0.04045f ? c / 12.92f : powf((c + 0.055f) / 1.055f, 2.4f);
}

static float chan_to_float(const struct ptx_tex_desc *d, uint32_t raw, int c)
{
    float f;
    switch (d->chan_kind) {
    case PTX_CHAN_UINT:
    case PTX_CHAN_UNORM:
        if (d->chan_bytes == 4)
            return (float)raw;
        f = (float)raw / unsigned_max(d->chan_bytes);
        return d->srgb && c < 3 ? srgb_to_linear(f) : f;
    case PTX_CHAN_SINT:
    case PTX_CHAN_SNORM:
        if (d->chan_bytes == 4)
            return (float)(int32_t)raw;
        f = (float)(int32_t)raw / signed_max(d->chan_bytes);
        return f < -1.0f ? -1.0f : f;
    default:
        return ptx_as_f32(raw);
    }
}

/* raw channels -> the returned value: floats (missing channels 0, alpha 1) or integers. */
static void finish(const sampler *s, const uint32_t raw[4], uint32_t out[4])
{
    const struct ptx_tex_desc *d = s->d;
    for (int c = 0; c < 4; c++) {
        if (c >= d->channels)
            out[c] = s->as_float ? (c == 3 ? (uint32_t)ptx_f32_bits(1.0f) : 0) : (c == 3);
        else
            out[c] = s->as_float ? (uint32_t)ptx_f32_bits(chan_to_float(d, raw[c], c)) : raw[c];
    }
}

static uint32_t clamp_u32(double v, double lo, double hi)
{
    if (!(v >= lo))
        v = lo;
    if (v > hi)
        v = hi;
    return (uint32_t)(int64_t)v;
}

static uint32_t encode_chan(const struct ptx_tex_desc *d, uint32_t v)
{
    float f = ptx_as_f32(v);
    int b = d->chan_bytes;
    switch (d->chan_kind) {
    case PTX_CHAN_UNORM:
        return clamp_u32(rintf(f * unsigned_max(b)), 0, unsigned_max(b));
    case PTX_CHAN_SNORM:
        return clamp_u32(rintf(f * signed_max(b)), -signed_max(b), signed_max(b));
    case PTX_CHAN_HALF:
        return ptx_f2h(f, RND_RN);
    default:
        return v; /* integers and floats: the bits, truncated to the channel */
    }
}

void ptx_tex_encode(const struct ptx_tex_desc *d, const uint32_t v[4], uint8_t *p)
{
    for (int c = 0; c < d->channels && c < 4; c++) {
        uint32_t e = encode_chan(d, v[c]);
        memcpy(p + c * d->chan_bytes, &e, d->chan_bytes); /* little-endian host */
    }
}

/* ---- addressing ---------------------------------------------------------------------------- */

/* Texel index i of an axis of n texels after the address mode; -1 on the border. */
static int64_t address(int mode, int64_t i, int64_t n)
{
    int64_t m;
    switch (mode) {
    case PTX_ADDR_WRAP:
        m = i % n;
        return m < 0 ? m + n : m;
    case PTX_ADDR_MIRROR:
        m = i % (2 * n);
        if (m < 0)
            m += 2 * n;
        return m < n ? m : 2 * n - 1 - m;
    case PTX_ADDR_BORDER:
        return i < 0 || i >= n ? -1 : i;
    default:
        return i < 0 ? 0 : i >= n ? n - 1 : i;
    }
}

/* Reads texel (x, y, z) of the sampler's level after addressing into out (finished values). */
static int fetch(sampler *s, int64_t x, int64_t y, int64_t z, uint32_t out[4])
{
    const struct ptx_tex_level *lv = s->lv;
    int64_t idx[3] = {x, y, z}, size[3] = {lv->width, lv->height, lv->depth};
    for (int a = 0; a < s->naxes; a++) {
        idx[a] = address(s->modes[a], idx[a], size[a] ? size[a] : 1);
        if (idx[a] < 0) {
            for (int c = 0; c < 4; c++)
                out[c] = s->d->linear ? 0 : (uint32_t)ptx_f32_bits(s->d->border[c]);
            return 0;
        }
    }
    if (s->naxes < 3)
        idx[2] = s->slice;
    if (s->naxes < 2)
        idx[1] = 0;
    uint64_t addr = lv->addr + (uint64_t)idx[2] * lv->slice + (uint64_t)idx[1] * lv->pitch
                    + (uint64_t)idx[0] * s->d->elem_bytes;
    const uint8_t *p = ptx_tex_mem(s->w, s->in, s->lane, addr, s->d->elem_bytes);
    if (!p)
        return -1;
    uint32_t raw[4];
    ptx_tex_decode(s->d, p, raw);
    finish(s, raw, out);
    return 0;
}

static int64_t to_index(float c)
{
    if (!(c == c))
        return 0;
    if (c < -1e12f)
        return (int64_t)-1e12;
    if (c > 1e12f)
        return (int64_t)1e12;
    return (int64_t)floorf(c);
}

/* Lower texel and 9-bit weight of the upper one for linear filtering along one axis. */
static void linear_axis(float c, int64_t *i0, float *alpha)
{
    float cb = c - 0.5f;
    *i0 = to_index(cb);
    float frac = cb - floorf(cb);
    *alpha = (frac == frac && fabsf(cb) < 1e12f) ? floorf(frac * 256.0f + 0.5f) / 256.0f : 0.0f;
}

static int sample_point(sampler *s, const float c[3], uint32_t out[4])
{
    return fetch(s, to_index(c[0]), to_index(c[1]), to_index(c[2]), out);
}

static int sample_linear(sampler *s, const float c[3], uint32_t out[4])
{
    int64_t i0[3] = {0, 0, 0};
    float a[3] = {0, 0, 0}, acc[4] = {0, 0, 0, 0};
    for (int k = 0; k < s->naxes; k++)
        linear_axis(c[k], &i0[k], &a[k]);
    for (int corner = 0; corner < (1 << s->naxes); corner++) {
        float wgt = 1.0f;
        int64_t i[3] = {i0[0], i0[1], i0[2]};
        for (int k = 0; k < s->naxes; k++) {
            int up = (corner >> k) & 1;
            i[k] += up;
            wgt *= up ? a[k] : 1.0f - a[k];
        }
        uint32_t t[4];
        if (fetch(s, i[0], i[1], i[2], t) < 0)
            return -1;
        for (int ch = 0; ch < 4; ch++)
            acc[ch] += wgt * ptx_as_f32(t[ch]);
    }
    for (int ch = 0; ch < 4; ch++)
        out[ch] = (uint32_t)ptx_f32_bits(acc[ch]);
    return 0;
}

/* tld4: component `comp` of the four texels of a bilinear footprint, in the order
 * (i0,j1), (i1,j1), (i1,j0), (i0,j0). */
static int gather(sampler *s, const float c[3], int comp, uint32_t out[4])
{
    int64_t i0, j0;
    float a;
    linear_axis(c[0], &i0, &a);
    linear_axis(c[1], &j0, &a);
    const int64_t at[4][2] = {{i0, j0 + 1}, {i0 + 1, j0 + 1}, {i0 + 1, j0}, {i0, j0}};
    for (int k = 0; k < 4; k++) {
        uint32_t t[4];
        if (fetch(s, at[k][0], at[k][1], 0, t) < 0)
            return -1;
        out[k] = t[comp];
    }
    return 0;
}

/* ---- geometry ------------------------------------------------------------------------------ */

static void cube_face(const float v[3], int *face, float *u, float *t)
{
    float ax = fabsf(v[0]), ay = fabsf(v[1]), az = fabsf(v[2]), m, sc, tc;
    if (ax >= ay && ax >= az) {
        m = ax;
        *face = v[0] >= 0 ? 0 : 1;
        sc = v[0] >= 0 ? -v[2] : v[2];
        tc = -v[1];
    } else if (ay >= az) {
        m = ay;
        *face = v[1] >= 0 ? 2 : 3;
        sc = v[0];
        tc = v[1] >= 0 ? v[2] : -v[2];
    } else {
        m = az;
        *face = v[2] >= 0 ? 4 : 5;
        sc = v[2] >= 0 ? v[0] : -v[0];
        tc = -v[1];
    }
    if (!(m > 0))
        m = 1;
    *u = (sc / m + 1.0f) * 0.5f;
    *t = (tc / m + 1.0f) * 0.5f;
}

static uint32_t clamp_layer(const struct ptx_tex_desc *d, uint32_t layer)
{
    uint32_t n = d->layers ? d->layers : 1;
    return (int32_t)layer < 0 ? 0 : layer >= n ? n - 1 : layer;
}

/* Sets up the sampler for level lv and turns the request's coordinates into texel space. */
static void setup(sampler *s, const struct ptx_tex_req *q, int level, float c[3])
{
    const struct ptx_tex_desc *d = s->d;
    s->lv = &d->level[level];
    int cube = q->geom == TG_CUBE || q->geom == TG_ACUBE;
    s->naxes = q->geom == TG_1D || q->geom == TG_A1D ? 1 : q->geom == TG_3D ? 3 : 2;
    for (int a = 0; a < 3; a++) {
        int m = d->addr_mode[a];
        if (cube || ((m == PTX_ADDR_WRAP || m == PTX_ADDR_MIRROR) && !d->normalized_coords))
            m = PTX_ADDR_CLAMP;
        s->modes[a] = d->linear ? PTX_ADDR_BORDER : m;
    }
    uint32_t layer = q->geom == TG_A1D || q->geom == TG_A2D || q->geom == TG_ACUBE
                     ? clamp_layer(d, q->layer) : 0;
    float v[3] = {q->c[0], q->c[1], q->c[2]};
    s->slice = layer;
    if (cube) {
        int face;
        cube_face(q->c, &face, &v[0], &v[1]);
        s->slice = layer * 6 + (uint32_t)face;
    }
    const float size[3] = {(float)s->lv->width, (float)s->lv->height, (float)s->lv->depth};
    const float base[3] = {(float)d->level[0].width, (float)d->level[0].height,
                           (float)d->level[0].depth};
    for (int a = 0; a < 3; a++) {
        if (cube || d->normalized_coords)
            c[a] = v[a] * size[a];
        else
            c[a] = level ? v[a] * size[a] / base[a] : v[a];
    }
}

static float grad_lod(const struct ptx_tex_desc *d, const struct ptx_tex_req *q)
{
    const float size[3] = {(float)d->level[0].width, (float)d->level[0].height,
                           (float)d->level[0].depth};
    float len[2];
    int axes = q->geom == TG_1D || q->geom == TG_A1D ? 1 : q->geom == TG_3D ? 3 : 2;
    for (int g = 0; g < 2; g++) {
        float sum = 0;
        for (int a = 0; a < axes; a++) {
            float v = q->grad[g][a] * (d->normalized_coords ? size[a] : 1.0f);
            sum += v * v;
        }
        len[g] = sqrtf(sum);
    }
    float m = len[0] > len[1] ? len[0] : len[1];
    return m > 0 ? log2f(m) : -1e30f;
}

static float select_lod(const struct ptx_tex_desc *d, const struct ptx_tex_req *q)
{
    float lod = q->variant == TV_LEVEL ? q->lod : q->variant == TV_GRAD ? grad_lod(d, q) : 0.0f;
    if (!(lod == lod))
        lod = 0;
    lod += d->lod_bias;
    if (lod < d->min_lod)
        lod = d->min_lod;
    if (lod > d->max_lod)
        lod = d->max_lod;
    float top = (float)(d->nlevels - 1);
    return lod < 0 ? 0 : lod > top ? top : lod;
}

static int sample_at_level(sampler *s, const struct ptx_tex_req *q, int level, uint32_t out[4])
{
    float c[3];
    setup(s, q, level, c);
    if (q->gather)
        return gather(s, c, q->gather - 1, out);
    if (s->d->filter == PTX_FILTER_LINEAR && s->as_float)
        return sample_linear(s, c, out);
    return sample_point(s, c, out);
}

static int sample_int_coords(sampler *s, const struct ptx_tex_req *q, uint32_t out[4])
{
    float c[3];
    setup(s, q, 0, c);
    return fetch(s, q->ic[0], q->ic[1], q->ic[2], out);
}

int ptx_tex_sample(ptx_warp *w, const ptx_insn *in, int lane, const struct ptx_tex_desc *d,
                   const struct ptx_tex_req *q, struct ptx_texval *out)
{
    sampler s = {.w = w, .in = in, .lane = lane, .d = d, .as_float = ptx_tex_returns_float(d)};
    if (d->nlevels < 1)
        return 0;
    if (q->int_coords)
        return sample_int_coords(&s, q, out->u);
    if (d->nlevels == 1)
        return sample_at_level(&s, q, 0, out->u);
    float lod = select_lod(d, q);
    if (d->mip_filter != PTX_FILTER_LINEAR || !s.as_float || q->gather)
        return sample_at_level(&s, q, (int)floorf(lod + 0.5f), out->u);
    int l0 = (int)floorf(lod);
    float f = lod - (float)l0;
    uint32_t a[4], b[4];
    if (sample_at_level(&s, q, l0, a) < 0)
        return -1;
    if (f == 0.0f || l0 + 1 >= d->nlevels) {
        memcpy(out->u, a, sizeof a);
        return 0;
    }
    if (sample_at_level(&s, q, l0 + 1, b) < 0)
        return -1;
    for (int c = 0; c < 4; c++)
        out->u[c] = (uint32_t)ptx_f32_bits((1 - f) * ptx_as_f32(a[c]) + f * ptx_as_f32(b[c]));
    return 0;
}
