/*
 * Corpus cases for texture.cu: texture objects over CUDA arrays (1D, 2D, 3D, layered, cubemap,
 * mipmapped), linear memory and surfaces, checked against a C reference of CUDA's texture
 * fetch (the programming guide's texture-fetching appendix: address modes on texel indices,
 * wrap and mirror only with normalized coordinates, linear filtering at texel centres with
 * 9-bit fixed-point weights) on random data and random coordinates, many outside the texture.
 *
 * May call: the harness (harness.h), the CUDA driver API, libc.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- resources of a case (destroyed when it ends) ------------------------------------------ */

static CUarray arrays[16];
static int narrays;
static CUtexObject texs[16];
static int ntexs;

static int cleanup(int rc)
{
    while (ntexs > 0)
        cuTexObjectDestroy(texs[--ntexs]);
    while (narrays > 0)
        cuArrayDestroy(arrays[--narrays]);
    return rc;
}

/* A w x h x d array (0 for absent dimensions) filled from host data of elem-byte elements. */
static CUarray make_array(size_t w, size_t h, size_t d, unsigned flags, CUarray_format f,
                          unsigned ch, const void *data, size_t elem)
{
    CUDA_ARRAY3D_DESCRIPTOR desc = {w, h, d, f, ch, flags};
    CUarray a;
    CUresult r = cuArray3DCreate(&a, &desc);
    if (r) {
        kt_fail("cuArray3DCreate -> %s", kt_result_name(r));
        return NULL;
    }
    arrays[narrays++] = a;
    CUDA_MEMCPY3D p;
    memset(&p, 0, sizeof p);
    p.srcMemoryType = CU_MEMORYTYPE_HOST;
    p.srcHost = data;
    p.srcPitch = w * elem;
    p.srcHeight = h ? h : 1;
    p.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    p.dstArray = a;
    p.WidthInBytes = w * elem;
    p.Height = h ? h : 1;
    p.Depth = d ? d : 1;
    r = cuMemcpy3D(&p);
    if (r) {
        kt_fail("cuMemcpy3D to array -> %s", kt_result_name(r));
        return NULL;
    }
    return a;
}

static CUDA_TEXTURE_DESC sampler(int mode, int filter, int flags)
{
    CUDA_TEXTURE_DESC t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < 3; i++)
        t.addressMode[i] = (CUaddress_mode)mode;
    t.filterMode = (CUfilter_mode)filter;
    t.flags = (unsigned)flags;
    for (int i = 0; i < 4; i++)
        t.borderColor[i] = 0.25f * (float)(i + 1);
    return t;
}

static CUtexObject make_tex(CUarray a, CUmipmappedArray m, const CUDA_TEXTURE_DESC *t)
{
    CUDA_RESOURCE_DESC res;
    memset(&res, 0, sizeof res);
    res.resType = a ? CU_RESOURCE_TYPE_ARRAY : CU_RESOURCE_TYPE_MIPMAPPED_ARRAY;
    if (a)
        res.res.array.hArray = a;
    else
        res.res.mipmap.hMipmappedArray = m;
    CUtexObject o = 0;
    CUresult r = cuTexObjectCreate(&o, &res, t, NULL);
    if (r)
        kt_fail("cuTexObjectCreate -> %s", kt_result_name(r));
    else
        texs[ntexs++] = o;
    return o;
}

/* ---- the reference sampler ------------------------------------------------------------------ */

struct ref_tex {
    const float *data;  /* 4 floats per texel (missing channels: 0, 0, 1) */
    int size[3];        /* width, height, depth (slices) */
    int axes;           /* addressed axes */
    int slice;          /* the layer / face for fewer than 3 axes */
    int mode, linear, norm;
    float border[4];
};

static int ref_index(const struct ref_tex *t, int i, int n)
{
    int mode = t->mode;
    if (!t->norm && (mode == CU_TR_ADDRESS_MODE_WRAP || mode == CU_TR_ADDRESS_MODE_MIRROR))
        mode = CU_TR_ADDRESS_MODE_CLAMP;
    if (mode == CU_TR_ADDRESS_MODE_WRAP)
        return ((i % n) + n) % n;
    if (mode == CU_TR_ADDRESS_MODE_MIRROR) {
        int m = ((i % (2 * n)) + 2 * n) % (2 * n);
        return m < n ? m : 2 * n - 1 - m;
    }
    if (mode == CU_TR_ADDRESS_MODE_BORDER)
        return i < 0 || i >= n ? -1 : i;
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

static void ref_texel(const struct ref_tex *t, const int at[3], float out[4])
{
    int idx[3] = {at[0], at[1], at[2]};
    for (int a = 0; a < t->axes; a++)
        if ((idx[a] = ref_index(t, idx[a], t->size[a])) < 0) {
            memcpy(out, t->border, 4 * sizeof(float));
            return;
        }
    if (t->axes < 3)
        idx[2] = t->slice;
    if (t->axes < 2)
        idx[1] = 0;
    memcpy(out, t->data + 4 * (((size_t)idx[2] * t->size[1] + idx[1]) * t->size[0] + idx[0]),
           4 * sizeof(float));
}

/* Fetch at coordinates c (normalized when t->norm). */
static void ref_sample(const struct ref_tex *t, const float *c, float out[4])
{
    float x[3] = {0, 0, 0};
    for (int a = 0; a < t->axes; a++)
        x[a] = t->norm ? c[a] * (float)t->size[a] : c[a];
    if (!t->linear) {
        int at[3] = {(int)floorf(x[0]), (int)floorf(x[1]), (int)floorf(x[2])};
        ref_texel(t, at, out);
        return;
    }
    int lo[3] = {0, 0, 0};
    float w[3] = {0, 0, 0};
    for (int a = 0; a < t->axes; a++) {
        float b = x[a] - 0.5f;
        lo[a] = (int)floorf(b);
        w[a] = roundf((b - floorf(b)) * 256.0f) / 256.0f; /* 9-bit fixed point */
    }
    memset(out, 0, 4 * sizeof(float));
    for (int corner = 0; corner < (1 << t->axes); corner++) {
        int at[3] = {lo[0], lo[1], lo[2]};
        float wgt = 1;
        for (int a = 0; a < t->axes; a++) {
            int up = (corner >> a) & 1;
            at[a] += up;
            wgt *= up ? w[a] : 1 - w[a];
        }
        float v[4];
        ref_texel(t, at, v);
        for (int k = 0; k < 4; k++)
            out[k] += wgt * v[k];
    }
}

static float *rand_texels(int n, int channels)
{
    float *d = kt_host(16 * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            d[4 * i + k] = k < channels ? kt_randf(-4, 4) : (k == 3 ? 1.0f : 0.0f);
    return d;
}

/* Packs the first `channels` of 4-float texels into a host buffer for the array. */
static float *pack(const float *texels, int n, int channels)
{
    float *p = kt_host(4 * (size_t)n * channels);
    for (int i = 0; i < n; i++)
        memcpy(p + i * channels, texels + 4 * i, 4 * (size_t)channels);
    return p;
}

/* Launches `kernel` over n items with the given params and downloads n float4 from out. */
static int run_float4(const char *kernel, void **params, int n, CUdeviceptr out, float *got)
{
    return kt_run(kt_func("texture", kernel), KT_CEIL_DIV(n, 64), 64, 0, params) ||
           kt_download(got, out, 16 * (size_t)n);
}

/* ---- cases ------------------------------------------------------------------------------------ */

/* tex2D over every address mode x filter x normalized-coordinates combination. */
static int case_tex_2d_modes(void)
{
    enum { W = 7, H = 5, N = 256 };
    float *texels = rand_texels(W * H, 4);
    CUarray a = make_array(W, H, 0, 0, CU_AD_FORMAT_FLOAT, 4, texels, 16);
    if (!a)
        return cleanup(1);
    float *c = kt_host(8 * N), *got = kt_host(16 * N), *want = kt_host(16 * N);
    CUdeviceptr dc = kt_alloc(8 * N), dout = kt_alloc(16 * N);
    for (int combo = 0; combo < 16; combo++) {
        int mode = combo % 4, linear = (combo / 4) % 2, norm = combo / 8;
        CUDA_TEXTURE_DESC sd = sampler(mode, linear, norm ? CU_TRSF_NORMALIZED_COORDINATES : 0);
        CUtexObject t = make_tex(a, NULL, &sd);
        struct ref_tex ref = {texels, {W, H, 1}, 2, 0, mode, linear, norm, {0.25f, 0.5f, 0.75f, 1}};
        for (int i = 0; i < N; i++) {
            c[2 * i] = norm ? kt_randf(-1.5f, 2.5f) : kt_randf(-8, 14);
            c[2 * i + 1] = norm ? kt_randf(-1.5f, 2.5f) : kt_randf(-8, 12);
            ref_sample(&ref, &c[2 * i], &want[4 * i]);
        }
        int n = N;
        void *params[] = {&t, &dc, &dout, &n};
        KT_CHECK(cuMemcpyHtoD(dc, c, 8 * N));
        if (!t || run_float4("tex_2d", params, N, dout, got))
            return cleanup(1);
        char what[64];
        snprintf(what, sizeof what, "tex2D mode %d linear %d normalized %d", mode, linear, norm);
        if (kt_expect_f32(what, got, want, 4 * N, 1e-5, 1e-5))
            return cleanup(1);
    }
    return cleanup(0);
}

/* tex1D of unsigned 8-bit data promoted to [0, 1], linear filtering, uploaded with HtoA. */
static int case_tex_1d_normalized_u8(void)
{
    enum { W = 37, N = 300 };
    uint8_t raw[4 * W];
    float *texels = kt_host(16 * W);
    for (int i = 0; i < 4 * W; i++) {
        raw[i] = (uint8_t)kt_randi(0, 255);
        texels[i] = raw[i] / 255.0f;
    }
    CUDA_ARRAY_DESCRIPTOR desc = {W, 0, CU_AD_FORMAT_UNSIGNED_INT8, 4};
    CUarray a;
    KT_CHECK(cuArrayCreate(&a, &desc));
    arrays[narrays++] = a;
    KT_CHECK(cuMemcpyHtoA(a, 0, raw, sizeof raw));
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 1, 0);
    CUtexObject t = make_tex(a, NULL, &sd);
    struct ref_tex ref = {texels, {W, 1, 1}, 1, 0, CU_TR_ADDRESS_MODE_CLAMP, 1, 0, {0}};
    float *x = kt_host(4 * N), *got = kt_host(16 * N), *want = kt_host(16 * N);
    for (int i = 0; i < N; i++) {
        x[i] = kt_randf(-3, W + 3);
        ref_sample(&ref, &x[i], &want[4 * i]);
    }
    CUdeviceptr dx = kt_upload(x, 4 * N), dout = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&t, &dx, &dout, &n};
    if (!t || !dout || run_float4("tex_1d", params, N, dout, got))
        return cleanup(1);
    return cleanup(kt_expect_f32("tex1D u8 normalized", got, want, 4 * N, 1e-5, 1e-6));
}

/* tex2D<uint4> of 16-bit integers read as integers (point sampling, border mode). */
static int case_tex_2d_read_as_integer(void)
{
    enum { W = 9, H = 6, N = 200 };
    uint16_t raw[4 * W * H];
    for (int i = 0; i < 4 * W * H; i++)
        raw[i] = (uint16_t)kt_randi(0, 65535);
    CUarray a = make_array(W, H, 0, 0, CU_AD_FORMAT_UNSIGNED_INT16, 4, raw, 8);
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 0, CU_TRSF_READ_AS_INTEGER);
    CUtexObject t = a ? make_tex(a, NULL, &sd) : 0;
    float *c = kt_host(8 * N);
    uint32_t *got = kt_host(16 * N), *want = kt_host(16 * N);
    for (int i = 0; i < N; i++) {
        c[2 * i] = kt_randf(-2, W + 2);
        c[2 * i + 1] = kt_randf(-2, H + 2);
        int x = (int)floorf(c[2 * i]), y = (int)floorf(c[2 * i + 1]);
        x = x < 0 ? 0 : x >= W ? W - 1 : x;
        y = y < 0 ? 0 : y >= H ? H - 1 : y;
        for (int k = 0; k < 4; k++)
            want[4 * i + k] = raw[4 * (y * W + x) + k];
    }
    CUdeviceptr dc = kt_upload(c, 8 * N), dout = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&t, &dc, &dout, &n};
    if (!t || !dout || run_float4("tex_2d_uint", params, N, dout, (float *)got))
        return cleanup(1);
    return cleanup(kt_expect_u32("tex2D<uint4>", got, want, 4 * N));
}

/* tex3D of a one-channel float volume: wrap, linear, normalized coordinates. */
static int case_tex_3d(void)
{
    enum { W = 6, H = 5, D = 4, N = 256 };
    float *texels = rand_texels(W * H * D, 1);
    CUarray a = make_array(W, H, D, 0, CU_AD_FORMAT_FLOAT, 1, pack(texels, W * H * D, 1), 4);
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_WRAP, 1, CU_TRSF_NORMALIZED_COORDINATES);
    CUtexObject t = a ? make_tex(a, NULL, &sd) : 0;
    struct ref_tex ref = {texels, {W, H, D}, 3, 0, CU_TR_ADDRESS_MODE_WRAP, 1, 1, {0}};
    float *c = kt_host(16 * N), *got = kt_host(16 * N), *want = kt_host(16 * N);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 3; k++)
            c[4 * i + k] = kt_randf(-1, 2);
        ref_sample(&ref, &c[4 * i], &want[4 * i]);
    }
    CUdeviceptr dc = kt_upload(c, 16 * N), dout = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&t, &dc, &dout, &n};
    if (!t || !dout || run_float4("tex_3d", params, N, dout, got))
        return cleanup(1);
    return cleanup(kt_expect_f32("tex3D", got, want, 4 * N, 1e-5, 1e-5));
}

/* tex1DLayered and tex2DLayered: linear filtering inside the layer, layers clamped. */
static int case_tex_layered(void)
{
    enum { W = 6, H = 5, L = 3, N = 128 };
    float *t1d = rand_texels(W * L, 4), *t2d = rand_texels(W * H * L, 4);
    CUarray a1 = make_array(W, 0, L, CUDA_ARRAY3D_LAYERED, CU_AD_FORMAT_FLOAT, 4, t1d, 16);
    CUarray a2 = make_array(W, H, L, CUDA_ARRAY3D_LAYERED, CU_AD_FORMAT_FLOAT, 4, t2d, 16);
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 1, 0);
    CUtexObject x1 = a1 ? make_tex(a1, NULL, &sd) : 0, x2 = a2 ? make_tex(a2, NULL, &sd) : 0;
    float *c = kt_host(16 * N), *g1 = kt_host(16 * N), *g2 = kt_host(16 * N);
    float *w1 = kt_host(16 * N), *w2 = kt_host(16 * N);
    for (int i = 0; i < N; i++) {
        c[4 * i] = kt_randf(-2, W + 2);
        c[4 * i + 1] = kt_randf(-2, H + 2);
        c[4 * i + 3] = (float)kt_randi(0, L - 1);
        struct ref_tex r1 = {t1d, {W, 1, L}, 1, (int)c[4 * i + 3], CU_TR_ADDRESS_MODE_CLAMP, 1, 0, {0}};
        struct ref_tex r2 = {t2d, {W, H, L}, 2, (int)c[4 * i + 3], CU_TR_ADDRESS_MODE_CLAMP, 1, 0, {0}};
        ref_sample(&r1, &c[4 * i], &w1[4 * i]);
        ref_sample(&r2, &c[4 * i], &w2[4 * i]);
    }
    CUdeviceptr dc = kt_upload(c, 16 * N), o1 = kt_alloc(16 * N), o2 = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&x1, &x2, &dc, &o1, &o2, &n};
    if (!x1 || !x2 || !o2 || kt_run(kt_func("texture", "tex_layered"), KT_CEIL_DIV(N, 64), 64, 0, params) ||
        kt_download(g1, o1, 16 * N) || kt_download(g2, o2, 16 * N))
        return cleanup(1);
    return cleanup(kt_expect_f32("tex1DLayered", g1, w1, 4 * N, 1e-5, 1e-5) ||
                   kt_expect_f32("tex2DLayered", g2, w2, 4 * N, 1e-5, 1e-5));
}

/* The cube face and face coordinates of a direction (CUDA's cubemap fetch table). */
static void ref_cube(const float *v, int *face, float *s, float *t)
{
    float ax = fabsf(v[0]), ay = fabsf(v[1]), az = fabsf(v[2]), m, sc, tc;
    if (ax >= ay && ax >= az) {
        m = ax, *face = v[0] >= 0 ? 0 : 1, sc = v[0] >= 0 ? -v[2] : v[2], tc = -v[1];
    } else if (ay >= az) {
        m = ay, *face = v[1] >= 0 ? 2 : 3, sc = v[0], tc = v[1] >= 0 ? v[2] : -v[2];
    } else {
        m = az, *face = v[2] >= 0 ? 4 : 5, sc = v[2] >= 0 ? v[0] : -v[0], tc = -v[1];
    }
    *s = (sc / m + 1) / 2;
    *t = (tc / m + 1) / 2;
}

static int case_tex_cubemap(void)
{
    enum { W = 4, N = 256 };
    float *texels = rand_texels(W * W * 6, 1);
    CUarray a = make_array(W, W, 6, CUDA_ARRAY3D_CUBEMAP, CU_AD_FORMAT_FLOAT, 1,
                           pack(texels, W * W * 6, 1), 4);
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 0, CU_TRSF_NORMALIZED_COORDINATES);
    CUtexObject t = a ? make_tex(a, NULL, &sd) : 0;
    float *d = kt_host(16 * N), *got = kt_host(16 * N), *want = kt_host(16 * N);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 3; k++)
            d[4 * i + k] = kt_randf(-1, 1);
        int face;
        float st[2];
        ref_cube(&d[4 * i], &face, &st[0], &st[1]);
        struct ref_tex r = {texels, {W, W, 6}, 2, face, CU_TR_ADDRESS_MODE_CLAMP, 0, 1, {0}};
        ref_sample(&r, st, &want[4 * i]);
    }
    CUdeviceptr dd = kt_upload(d, 16 * N), dout = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&t, &dd, &dout, &n};
    if (!t || !dout || run_float4("tex_cube", params, N, dout, got))
        return cleanup(1);
    return cleanup(kt_expect_f32("texCubemap", got, want, 4 * N, 1e-6, 1e-6));
}

/* tex2Dgather of each component: the 2x2 footprint of bilinear filtering. */
static int case_tex_gather(void)
{
    enum { W = 8, H = 7, N = 100 };
    float *texels = rand_texels(W * H, 4);
    CUarray a = make_array(W, H, 0, CUDA_ARRAY3D_TEXTURE_GATHER, CU_AD_FORMAT_FLOAT, 4, texels, 16);
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 0, 0);
    CUtexObject t = a ? make_tex(a, NULL, &sd) : 0;
    struct ref_tex r = {texels, {W, H, 1}, 2, 0, CU_TR_ADDRESS_MODE_CLAMP, 0, 0, {0}};
    float *c = kt_host(8 * N), *got = kt_host(64 * N), *want = kt_host(64 * N);
    for (int i = 0; i < N; i++) {
        c[2 * i] = kt_randf(-2, W + 2);
        c[2 * i + 1] = kt_randf(-2, H + 2);
        int x0 = (int)floorf(c[2 * i] - 0.5f), y0 = (int)floorf(c[2 * i + 1] - 0.5f);
        const int at[4][3] = {{x0, y0 + 1, 0}, {x0 + 1, y0 + 1, 0}, {x0 + 1, y0, 0}, {x0, y0, 0}};
        for (int k = 0; k < 4; k++) {
            float v[4];
            ref_texel(&r, at[k], v);
            for (int comp = 0; comp < 4; comp++)
                want[16 * i + 4 * comp + k] = v[comp];
        }
    }
    CUdeviceptr dc = kt_upload(c, 8 * N), dout = kt_alloc(64 * N);
    int n = N;
    void *params[] = {&t, &dc, &dout, &n};
    if (!t || !dout || run_float4("tex_gather", params, N, dout, got) ||
        kt_download(got, dout, 64 * N))
        return cleanup(1);
    return cleanup(kt_expect_f32("tex2Dgather", got, want, 16 * N, 0, 0));
}

/* tex1Dfetch of int4 from linear memory: zero outside. */
static int case_tex_fetch_linear(void)
{
    enum { W = 50, N = 128 };
    int32_t *data = kt_rand_ints(4 * W, -100000, 100000), *idx = kt_host(4 * N);
    int32_t *got = kt_host(16 * N), *want = kt_host(16 * N);
    CUdeviceptr dd = kt_upload(data, 16 * W);
    CUDA_RESOURCE_DESC res;
    memset(&res, 0, sizeof res);
    res.resType = CU_RESOURCE_TYPE_LINEAR;
    res.res.linear.devPtr = dd;
    res.res.linear.format = CU_AD_FORMAT_SIGNED_INT32;
    res.res.linear.numChannels = 4;
    res.res.linear.sizeInBytes = 16 * W;
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 0, CU_TRSF_READ_AS_INTEGER);
    CUtexObject t;
    KT_CHECK(cuTexObjectCreate(&t, &res, &sd, NULL));
    texs[ntexs++] = t;
    for (int i = 0; i < N; i++) {
        idx[i] = kt_randi(-10, W + 10);
        for (int k = 0; k < 4; k++)
            want[4 * i + k] = idx[i] >= 0 && idx[i] < W ? data[4 * idx[i] + k] : 0;
    }
    CUdeviceptr di = kt_upload(idx, 4 * N), dout = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&t, &di, &dout, &n};
    if (!dout || run_float4("tex_fetch_linear", params, N, dout, (float *)got))
        return cleanup(1);
    return cleanup(kt_expect_i32("tex1Dfetch", got, want, 4 * N));
}

/* tex2DLod on a 3-level mipmapped array, trilinear (linear in and between levels). */
static int case_tex_mipmap_lod(void)
{
    enum { W = 16, H = 8, LEVELS = 3, N = 200 };
    CUDA_ARRAY3D_DESCRIPTOR desc = {W, H, 0, CU_AD_FORMAT_FLOAT, 4, 0};
    CUmipmappedArray m;
    KT_CHECK(cuMipmappedArrayCreate(&m, &desc, LEVELS));
    float *lv[LEVELS];
    struct ref_tex ref[LEVELS];
    for (int l = 0; l < LEVELS; l++) {
        CUarray a;
        KT_CHECK(cuMipmappedArrayGetLevel(&a, m, (unsigned)l));
        int w = W >> l, h = H >> l;
        lv[l] = rand_texels(w * h, 4);
        CUDA_MEMCPY2D p;
        memset(&p, 0, sizeof p);
        p.srcMemoryType = CU_MEMORYTYPE_HOST;
        p.srcHost = lv[l];
        p.srcPitch = 16 * (size_t)w;
        p.dstMemoryType = CU_MEMORYTYPE_ARRAY;
        p.dstArray = a;
        p.WidthInBytes = 16 * (size_t)w;
        p.Height = (size_t)h;
        KT_CHECK(cuMemcpy2D(&p));
        ref[l] = (struct ref_tex){lv[l], {w, h, 1}, 2, 0, CU_TR_ADDRESS_MODE_CLAMP, 1, 1, {0}};
    }
    CUDA_TEXTURE_DESC sd = sampler(CU_TR_ADDRESS_MODE_CLAMP, 1, CU_TRSF_NORMALIZED_COORDINATES);
    sd.mipmapFilterMode = CU_TR_FILTER_MODE_LINEAR;
    sd.maxMipmapLevelClamp = LEVELS - 1;
    CUtexObject t = make_tex(NULL, m, &sd);
    float *c = kt_host(16 * N), *got = kt_host(16 * N), *want = kt_host(16 * N);
    for (int i = 0; i < N; i++) {
        c[4 * i] = kt_randf(-0.2f, 1.2f);
        c[4 * i + 1] = kt_randf(-0.2f, 1.2f);
        float lod = c[4 * i + 2] = kt_randf(-0.5f, 3.0f);
        lod = lod < 0 ? 0 : lod > LEVELS - 1 ? LEVELS - 1 : lod;
        int l0 = (int)floorf(lod), l1 = l0 + 1 < LEVELS ? l0 + 1 : l0;
        float f = lod - (float)l0, a[4], b[4];
        ref_sample(&ref[l0], &c[4 * i], a);
        ref_sample(&ref[l1], &c[4 * i], b);
        for (int k = 0; k < 4; k++)
            want[4 * i + k] = f == 0 ? a[k] : (1 - f) * a[k] + f * b[k];
    }
    CUdeviceptr dc = kt_upload(c, 16 * N), dout = kt_alloc(16 * N);
    int n = N;
    void *params[] = {&t, &dc, &dout, &n};
    int rc = !t || !dout || run_float4("tex_lod", params, N, dout, got) ||
             kt_expect_f32("tex2DLod", got, want, 4 * N, 1e-5, 1e-5);
    cleanup(0);
    KT_CHECK(cuMipmappedArrayDestroy(m));
    return rc;
}

/* ---- surfaces -------------------------------------------------------------------------------- */

static CUsurfObject make_surf(CUarray a)
{
    CUDA_RESOURCE_DESC res;
    memset(&res, 0, sizeof res);
    res.resType = CU_RESOURCE_TYPE_ARRAY;
    res.res.array.hArray = a;
    CUsurfObject s = 0;
    CUresult r = cuSurfObjectCreate(&s, &res);
    if (r)
        kt_fail("cuSurfObjectCreate -> %s", kt_result_name(r));
    return s;
}

/* surf2Dread / surf2Dwrite over whole surfaces, read back with a 2D copy. */
static int case_surf_scale(void)
{
    enum { W = 70, H = 9 };
    float *in = kt_rand_floats(W * H, -100, 100), *got = kt_host(4 * W * H), *want = kt_host(4 * W * H);
    CUarray a = make_array(W, H, 0, CUDA_ARRAY3D_SURFACE_LDST, CU_AD_FORMAT_FLOAT, 1, in, 4);
    CUarray b = make_array(W, H, 0, CUDA_ARRAY3D_SURFACE_LDST, CU_AD_FORMAT_FLOAT, 1, in, 4);
    CUsurfObject sa = a ? make_surf(a) : 0, sb = b ? make_surf(b) : 0;
    int w = W, h = H;
    void *params[] = {&sa, &sb, &w, &h};
    if (!sa || !sb)
        return cleanup(1);
    KT_CHECK(kt_launch(kt_func("texture", "surf_scale"), KT_CEIL_DIV(W, 32), H, 1, 32, 1, 1, 0, params));
    CUDA_MEMCPY2D p;
    memset(&p, 0, sizeof p);
    p.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    p.srcArray = b;
    p.dstMemoryType = CU_MEMORYTYPE_HOST;
    p.dstHost = got;
    p.dstPitch = 4 * W;
    p.WidthInBytes = 4 * W;
    p.Height = H;
    KT_CHECK(cuMemcpy2D(&p));
    for (int i = 0; i < W * H; i++)
        want[i] = 2.0f * in[i] + 1.0f;
    cuSurfObjectDestroy(sa);
    cuSurfObjectDestroy(sb);
    return cleanup(kt_expect_f32("surf2Dwrite(2v+1)", got, want, W * H, 0, 0));
}

/* Byte-addressed loads outside a uchar4 surface: zeros (.zero) or the nearest element (.clamp). */
static int case_surf_boundary(void)
{
    enum { W = 8, H = 4, N = 128 };
    uint8_t *data = kt_host(4 * W * H);
    for (int i = 0; i < 4 * W * H; i++)
        data[i] = (uint8_t)kt_randi(0, 255);
    CUarray a = make_array(W, H, 0, CUDA_ARRAY3D_SURFACE_LDST, CU_AD_FORMAT_UNSIGNED_INT8, 4, data, 4);
    CUsurfObject s = a ? make_surf(a) : 0;
    int32_t *xy = kt_host(8 * N);
    uint32_t *gz = kt_host(4 * N), *gc = kt_host(4 * N), *wz = kt_host(4 * N), *wc = kt_host(4 * N);
    for (int i = 0; i < N; i++) {
        int x = xy[2 * i] = 4 * kt_randi(-3, W + 3), y = xy[2 * i + 1] = kt_randi(-2, H + 2);
        int inside = x >= 0 && x < 4 * W && y >= 0 && y < H;
        int cx = x < 0 ? 0 : x > 4 * (W - 1) ? 4 * (W - 1) : x, cy = y < 0 ? 0 : y >= H ? H - 1 : y;
        memcpy(&wc[i], data + cy * 4 * W + cx, 4);
        wz[i] = inside ? wc[i] : 0;
    }
    CUdeviceptr dxy = kt_upload(xy, 8 * N), dz = kt_alloc(4 * N), dcl = kt_alloc(4 * N);
    int n = N;
    void *params[] = {&s, &dxy, &dz, &dcl, &n};
    if (!s || !dcl || kt_run(kt_func("texture", "surf_bounds"), KT_CEIL_DIV(N, 64), 64, 0, params) ||
        kt_download(gz, dz, 4 * N) || kt_download(gc, dcl, 4 * N))
        return cleanup(1);
    cuSurfObjectDestroy(s);
    return cleanup(kt_expect_u32("surf2Dread zero", gz, wz, N) ||
                   kt_expect_u32("surf2Dread clamp", gc, wc, N));
}

/* surf3Dwrite and surf2DLayeredwrite, read back with 3D copies. */
static int case_surf_3d_layered(void)
{
    enum { W = 5, H = 4, D = 3 };
    int32_t zero[W * H * D] = {0}, got3[W * H * D], want3[W * H * D];
    int16_t gotl[2 * W * H * D], wantl[2 * W * H * D];
    CUarray a3 = make_array(W, H, D, CUDA_ARRAY3D_SURFACE_LDST, CU_AD_FORMAT_SIGNED_INT32, 1, zero, 4);
    CUarray al = make_array(W, H, D, CUDA_ARRAY3D_SURFACE_LDST | CUDA_ARRAY3D_LAYERED,
                            CU_AD_FORMAT_SIGNED_INT16, 2, zero, 4);
    CUsurfObject s3 = a3 ? make_surf(a3) : 0, sl = al ? make_surf(al) : 0;
    int w = W, h = H;
    void *params[] = {&s3, &sl, &w, &h};
    if (!s3 || !sl)
        return cleanup(1);
    KT_CHECK(kt_launch(kt_func("texture", "surf_3d_layered"), H, D, 1, 32, 1, 1, 0, params));
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int i = (z * H + y) * W + x;
                want3[i] = x + 10 * y + 100 * z;
                wantl[2 * i] = (int16_t)x;
                wantl[2 * i + 1] = (int16_t)(y - z);
            }
    CUDA_MEMCPY3D p;
    memset(&p, 0, sizeof p);
    p.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    p.dstMemoryType = CU_MEMORYTYPE_HOST;
    p.dstPitch = 4 * W;
    p.dstHeight = H;
    p.WidthInBytes = 4 * W;
    p.Height = H;
    p.Depth = D;
    p.srcArray = a3;
    p.dstHost = got3;
    KT_CHECK(cuMemcpy3D(&p));
    p.srcArray = al;
    p.dstHost = gotl;
    KT_CHECK(cuMemcpy3D(&p));
    cuSurfObjectDestroy(s3);
    cuSurfObjectDestroy(sl);
    return cleanup(kt_expect_i32("surf3Dwrite", got3, want3, W * H * D) ||
                   kt_expect_i32("surf2DLayeredwrite", (int32_t *)gotl, (int32_t *)wantl, W * H * D));
}

/* A store outside the surface in trap mode stops the kernel with an error. */
static int case_surf_trap(void)
{
    float zero[16] = {0};
    CUarray a = make_array(16, 1, 0, CUDA_ARRAY3D_SURFACE_LDST, CU_AD_FORMAT_FLOAT, 1, zero, 4);
    CUsurfObject s = a ? make_surf(a) : 0;
    int x = 64;
    void *params[] = {&s, &x};
    if (!s)
        return cleanup(1);
    CUresult r = kt_launch(kt_func("texture", "surf_trap"), 1, 1, 1, 1, 1, 1, 0, params);
    if (r == CUDA_SUCCESS)
        return cleanup(kt_fail("out-of-range surf2Dwrite in trap mode succeeded"));
    cleanup(0);
    return kt_new_context();
}

const struct kt_case kt_cases_texture[] = {
    KT_CASE(tex_2d_modes, "texture"),
    KT_CASE(tex_1d_normalized_u8, "texture"),
    KT_CASE(tex_2d_read_as_integer, "texture"),
    KT_CASE(tex_3d, "texture"),
    KT_CASE(tex_layered, "texture"),
    KT_CASE(tex_cubemap, "texture"),
    KT_CASE(tex_gather, "texture"),
    KT_CASE(tex_fetch_linear, "texture"),
    KT_CASE(tex_mipmap_lod, "texture"),
    KT_CASE(surf_scale, "texture"),
    KT_CASE(surf_boundary, "texture"),
    KT_CASE(surf_3d_layered, "texture"),
    KT_CASE(surf_trap, "texture"),
};
const int kt_ncases_texture = sizeof kt_cases_texture / sizeof kt_cases_texture[0];
