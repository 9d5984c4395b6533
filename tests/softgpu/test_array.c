/*
 * softgpu's CUDA arrays, mipmapped arrays, array copies, texture and surface objects and the
 * legacy texture/surface references, through the public driver API: every format and shape,
 * descriptors, memory accounting (cuMemGetInfo), every copy path into and out of arrays, the
 * object descriptors, references bound from a hand-written PTX module (.texref / .surfref with
 * tex, txq, suq, sust.p and suld.b), and bad input answered with errors, never a crash.
 */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* the reference API is deprecated */

#include "sg_test.h"

static const CUarray_format base_formats[] = {
    CU_AD_FORMAT_UNSIGNED_INT8, CU_AD_FORMAT_UNSIGNED_INT16, CU_AD_FORMAT_UNSIGNED_INT32,
    CU_AD_FORMAT_SIGNED_INT8, CU_AD_FORMAT_SIGNED_INT16, CU_AD_FORMAT_SIGNED_INT32,
    CU_AD_FORMAT_HALF, CU_AD_FORMAT_FLOAT,
};

static CUarray array3d(size_t w, size_t h, size_t d, CUarray_format f, unsigned ch, unsigned flags)
{
    CUDA_ARRAY3D_DESCRIPTOR desc = {w, h, d, f, ch, flags};
    CUarray a = NULL;
    CU_OK(cuArray3DCreate(&a, &desc));
    return a;
}

static void test_formats_and_descriptors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof base_formats / sizeof base_formats[0]; i++)
        for (unsigned ch = 1; ch <= 4; ch *= 2) {
            CUarray a = array3d(17, 3, 0, base_formats[i], ch, CUDA_ARRAY3D_SURFACE_LDST);
            CUDA_ARRAY3D_DESCRIPTOR d;
            CU_OK(cuArray3DGetDescriptor(&d, a));
            assert_int_equal(d.Width, 17);
            assert_int_equal(d.Height, 3);
            assert_int_equal(d.Depth, 0);
            assert_int_equal(d.Format, base_formats[i]);
            assert_int_equal(d.NumChannels, ch);
            assert_int_equal(d.Flags, CUDA_ARRAY3D_SURFACE_LDST);
            CUDA_ARRAY_DESCRIPTOR d2;
            CU_OK(cuArrayGetDescriptor(&d2, a));
            assert_int_equal(d2.Width, 17);
            assert_int_equal(d2.NumChannels, ch);
            CU_OK(cuArrayDestroy(a));
        }
    /* the normalized formats fix their channel count */
    CUarray a = array3d(8, 0, 0, CU_AD_FORMAT_UNORM_INT8X4, 4, 0);
    CU_OK(cuArrayDestroy(a));
    CUDA_ARRAY_DESCRIPTOR two = {64, 32, CU_AD_FORMAT_HALF, 2};
    CU_OK(cuArrayCreate(&a, &two));
    CU_OK(cuArrayDestroy(a));
    /* layered, cubemap, layered cubemap, 3D */
    CU_OK(cuArrayDestroy(array3d(16, 0, 5, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_LAYERED)));
    CU_OK(cuArrayDestroy(array3d(8, 8, 6, CU_AD_FORMAT_FLOAT, 4, CUDA_ARRAY3D_CUBEMAP)));
    CU_OK(cuArrayDestroy(array3d(8, 8, 12, CU_AD_FORMAT_FLOAT, 1,
                                 CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_LAYERED)));
    CU_OK(cuArrayDestroy(array3d(8, 8, 8, CU_AD_FORMAT_SIGNED_INT8, 2, 0)));
}

static void test_memory_is_charged(void **state)
{
    (void)state;
    size_t free0, total, free1, free2;
    CU_OK(cuMemGetInfo(&free0, &total));
    CUarray a = array3d(1024, 1024, 0, CU_AD_FORMAT_FLOAT, 4, 0); /* 16 MiB */
    CU_OK(cuMemGetInfo(&free1, &total));
    assert_true(free0 - free1 >= (size_t)16 << 20);
    CU_OK(cuArrayDestroy(a));
    CU_OK(cuMemGetInfo(&free2, &total));
    assert_int_equal(free2, free0);
    /* more than the device has */
    CUDA_ARRAY3D_DESCRIPTOR big = {16384, 16384, 16384, CU_AD_FORMAT_FLOAT, 4, 0};
    CU_ERR(cuArray3DCreate(&a, &big), CUDA_ERROR_OUT_OF_MEMORY);
}

static void test_bad_arrays(void **state)
{
    (void)state;
    CUarray a;
    CUDA_ARRAY3D_DESCRIPTOR d = {16, 16, 0, CU_AD_FORMAT_FLOAT, 1, 0};
    CU_ERR(cuArray3DCreate(NULL, &d), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuArray3DCreate(&a, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuArrayCreate(&a, NULL), CUDA_ERROR_INVALID_VALUE);
    CUDA_ARRAY3D_DESCRIPTOR bad[] = {
        {16, 16, 0, (CUarray_format)0x77, 1, 0},                       /* no such format */
        {16, 16, 0, CU_AD_FORMAT_FLOAT, 3, 0},                         /* 3 channels */
        {16, 16, 0, CU_AD_FORMAT_FLOAT, 0, 0},
        {16, 16, 0, CU_AD_FORMAT_UNORM_INT8X2, 4, 0},                  /* format fixes 2 */
        {0, 16, 0, CU_AD_FORMAT_FLOAT, 1, 0},                          /* no width */
        {16, 0, 4, CU_AD_FORMAT_FLOAT, 1, 0},                          /* depth without height */
        {(size_t)-1, 1, 0, CU_AD_FORMAT_FLOAT, 4, 0},                  /* overflowing sizes */
        {1u << 20, 1u << 20, 1u << 20, CU_AD_FORMAT_FLOAT, 4, 0},
        {16, 16, 0, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_LAYERED},      /* layered, no layers */
        {16, 8, 6, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP},       /* not square */
        {8, 8, 5, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP},        /* not 6 faces */
        {16, 16, 0, CU_AD_FORMAT_FLOAT, 1, 0x1000},                    /* unknown flag */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ERR(cuArray3DCreate(&a, &bad[i]), CUDA_ERROR_INVALID_VALUE);
    CUDA_ARRAY3D_DESCRIPTOR sparse = {16, 16, 0, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_SPARSE};
    CU_ERR(cuArray3DCreate(&a, &sparse), CUDA_ERROR_NOT_SUPPORTED);
    CUDA_ARRAY3D_DESCRIPTOR nv12 = {16, 16, 0, CU_AD_FORMAT_NV12, 1, 0};
    CU_ERR(cuArray3DCreate(&a, &nv12), CUDA_ERROR_NOT_SUPPORTED);

    a = array3d(16, 16, 0, CU_AD_FORMAT_FLOAT, 1, 0);
    CUDA_ARRAY_SPARSE_PROPERTIES sp;
    CUDA_ARRAY_MEMORY_REQUIREMENTS req;
    CUarray plane;
    CU_ERR(cuArrayGetSparseProperties(&sp, a), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuArrayGetMemoryRequirements(&req, a, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuArrayGetMemoryRequirements(&req, a, 99), CUDA_ERROR_INVALID_DEVICE);
    CU_ERR(cuArrayGetPlane(&plane, a, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuArray3DGetDescriptor(NULL, a), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuArrayDestroy(a));
    /* stale and forged handles */
    CU_ERR(cuArrayDestroy(a), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuArrayDestroy((CUarray)&sp), CUDA_ERROR_INVALID_HANDLE);
    CUDA_ARRAY3D_DESCRIPTOR d3;
    CU_ERR(cuArray3DGetDescriptor(&d3, (CUarray)&sp), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuMemcpyHtoA((CUarray)&sp, 0, &d3, 4), CUDA_ERROR_INVALID_HANDLE);
}

static void test_mipmapped(void **state)
{
    (void)state;
    CUDA_ARRAY3D_DESCRIPTOR d = {64, 16, 0, CU_AD_FORMAT_FLOAT, 2, 0};
    CUmipmappedArray m;
    CU_ERR(cuMipmappedArrayCreate(&m, &d, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMipmappedArrayCreate(&m, &d, 8), CUDA_ERROR_INVALID_VALUE); /* 64 has 7 levels */
    CU_OK(cuMipmappedArrayCreate(&m, &d, 7));
    for (unsigned l = 0; l < 7; l++) {
        CUarray a;
        CUDA_ARRAY3D_DESCRIPTOR ld;
        CU_OK(cuMipmappedArrayGetLevel(&a, m, l));
        CU_OK(cuArray3DGetDescriptor(&ld, a));
        assert_int_equal(ld.Width, 64u >> l);
        assert_int_equal(ld.Height, (16u >> l) ? (16u >> l) : 1);
        if (l == 0)
            CU_ERR(cuArrayDestroy(a), CUDA_ERROR_INVALID_HANDLE); /* goes with the mipmap */
    }
    CUarray a;
    CU_ERR(cuMipmappedArrayGetLevel(&a, m, 7), CUDA_ERROR_INVALID_VALUE);
    CUDA_ARRAY_SPARSE_PROPERTIES sp;
    CUDA_ARRAY_MEMORY_REQUIREMENTS req;
    CU_ERR(cuMipmappedArrayGetSparseProperties(&sp, m), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMipmappedArrayGetMemoryRequirements(&req, m, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMipmappedArrayDestroy(m));
    CU_ERR(cuMipmappedArrayDestroy(m), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuMipmappedArrayGetLevel(&a, m, 0), CUDA_ERROR_INVALID_HANDLE);
}

/* ---- copies ------------------------------------------------------------------------------- */

static void fill(uint32_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = seed * 2654435761u + (uint32_t)i;
}

static void test_linear_array_copies(void **state)
{
    (void)state;
    enum { N = 1000 };
    uint32_t in[N], out[N];
    fill(in, N, 1);
    CUarray a = array3d(N, 0, 0, CU_AD_FORMAT_UNSIGNED_INT32, 1, 0);
    CUarray b = array3d(N, 0, 0, CU_AD_FORMAT_UNSIGNED_INT32, 1, 0);
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, sizeof in));
    CU_OK(cuMemcpyHtoA(a, 0, in, sizeof in));
    CU_OK(cuMemcpyAtoA(b, 8, a, 0, sizeof in - 8));            /* b = in shifted by 2 */
    CU_OK(cuMemcpyAtoD(d, b, 0, sizeof in));
    CU_OK(cuMemcpyDtoH(out, d, sizeof out));
    assert_memory_equal(out + 2, in, sizeof in - 8);
    CU_OK(cuMemcpyDtoA(a, 0, d, sizeof in));
    memset(out, 0, sizeof out);
    CU_OK(cuMemcpyAtoH(out, a, 0, sizeof out));
    assert_memory_equal(out + 2, in, sizeof in - 8);
    CU_OK(cuMemcpyHtoAAsync(b, 0, in, sizeof in, NULL));
    CU_OK(cuMemcpyAtoHAsync(out, b, 0, sizeof out, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_memory_equal(out, in, sizeof in);
    /* past the end */
    CU_ERR(cuMemcpyHtoA(a, 4, in, sizeof in), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemcpyAtoH(out, a, (size_t)-8, 16), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemcpyAtoA(a, 0, b, 8, sizeof in), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemFree(d));
    CU_OK(cuArrayDestroy(a));
    CU_OK(cuArrayDestroy(b));
}

/* 2D and 3D copies with array sides at offsets, and 3D peer copies. */
static void test_rect_array_copies(void **state)
{
    (void)state;
    enum { W = 20, H = 6, D = 3 };
    uint32_t in[D][H][W], out[D][H][W];
    fill(&in[0][0][0], W * H * D, 7);
    CUarray a = array3d(W, H, D, CU_AD_FORMAT_UNSIGNED_INT32, 1, 0);
    CUarray b = array3d(W, H, D, CU_AD_FORMAT_UNSIGNED_INT32, 1, 0);
    CUDA_MEMCPY3D p;
    memset(&p, 0, sizeof p);
    p.srcMemoryType = CU_MEMORYTYPE_HOST;
    p.srcHost = in;
    p.srcPitch = 4 * W;
    p.srcHeight = H;
    p.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    p.dstArray = a;
    p.WidthInBytes = 4 * W;
    p.Height = H;
    p.Depth = D;
    CU_OK(cuMemcpy3D(&p));
    /* array to array: a 3x2x2 box from (2,1,1) to (5,3,0) */
    CUDA_MEMCPY3D q;
    memset(&q, 0, sizeof q);
    q.srcMemoryType = q.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    q.srcArray = a;
    q.dstArray = b;
    q.srcXInBytes = 8, q.srcY = 1, q.srcZ = 1;
    q.dstXInBytes = 20, q.dstY = 3, q.dstZ = 0;
    q.WidthInBytes = 12, q.Height = 2, q.Depth = 2;
    CU_OK(cuMemcpy3DAsync(&q, NULL));
    CUDA_MEMCPY3D_PEER r;
    memset(&r, 0, sizeof r);
    CUcontext ctx;
    CU_OK(cuCtxGetCurrent(&ctx));
    r.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    r.srcArray = b;
    r.dstMemoryType = CU_MEMORYTYPE_HOST;
    r.dstHost = out;
    r.dstPitch = 4 * W;
    r.dstHeight = H;
    r.dstContext = ctx;
    r.WidthInBytes = 4 * W, r.Height = H, r.Depth = D;
    memset(out, 0, sizeof out);
    CU_OK(cuMemcpy3DPeer(&r));
    for (int z = 0; z < 2; z++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                assert_int_equal(out[z][3 + y][5 + x], in[1 + z][1 + y][2 + x]);
    assert_int_equal(out[2][0][0], 0);
    CU_OK(cuMemcpy3DPeerAsync(&r, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    /* 2D: a row range of one slice of a, through cuMemcpy2D (layer 0 only) */
    CUDA_MEMCPY2D t;
    memset(&t, 0, sizeof t);
    t.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    t.srcArray = a;
    t.srcY = 2;
    t.dstMemoryType = CU_MEMORYTYPE_HOST;
    t.dstHost = out;
    t.dstPitch = 4 * W;
    t.WidthInBytes = 4 * W;
    t.Height = 3;
    CU_OK(cuMemcpy2DUnaligned(&t));
    assert_memory_equal(out[0][0], in[0][2], 3 * 4 * W);
    CU_OK(cuMemcpy2DAsync(&t, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    /* outside the array, partial elements, a peer copy without its context */
    q.dstXInBytes = 4 * W - 8;
    CU_ERR(cuMemcpy3D(&q), CUDA_ERROR_INVALID_VALUE);
    q.dstXInBytes = 2;
    CU_ERR(cuMemcpy3D(&q), CUDA_ERROR_INVALID_VALUE);
    q.dstXInBytes = 0, q.dstZ = D;
    CU_ERR(cuMemcpy3D(&q), CUDA_ERROR_INVALID_VALUE);
    t.Height = H;
    CU_ERR(cuMemcpy2D(&t), CUDA_ERROR_INVALID_VALUE);
    r.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    r.dstContext = NULL;
    CU_ERR(cuMemcpy3DPeer(&r), CUDA_ERROR_INVALID_CONTEXT);
    CU_ERR(cuMemcpy3DPeer(NULL), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuArrayDestroy(a));
    CU_OK(cuArrayDestroy(b));
}

/* ---- texture and surface objects ------------------------------------------------------------ */

static void test_object_descriptors(void **state)
{
    (void)state;
    CUarray a = array3d(32, 8, 4, CU_AD_FORMAT_FLOAT, 4, CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST);
    CUDA_RESOURCE_DESC res;
    memset(&res, 0, sizeof res);
    res.resType = CU_RESOURCE_TYPE_ARRAY;
    res.res.array.hArray = a;
    CUDA_TEXTURE_DESC td;
    memset(&td, 0, sizeof td);
    td.addressMode[0] = CU_TR_ADDRESS_MODE_MIRROR;
    td.filterMode = CU_TR_FILTER_MODE_LINEAR;
    td.flags = CU_TRSF_NORMALIZED_COORDINATES;
    td.borderColor[2] = 3.5f;
    CUDA_RESOURCE_VIEW_DESC vd;
    memset(&vd, 0, sizeof vd);
    vd.format = CU_RES_VIEW_FORMAT_UINT_4X32;
    vd.width = 32, vd.height = 8, vd.depth = 2;
    vd.firstLayer = 1, vd.lastLayer = 2;
    CUtexObject t;
    CU_OK(cuTexObjectCreate(&t, &res, &td, &vd));
    CUDA_RESOURCE_DESC r2;
    CUDA_TEXTURE_DESC t2;
    CUDA_RESOURCE_VIEW_DESC v2;
    CU_OK(cuTexObjectGetResourceDesc(&r2, t));
    CU_OK(cuTexObjectGetTextureDesc(&t2, t));
    CU_OK(cuTexObjectGetResourceViewDesc(&v2, t));
    assert_memory_equal(&r2, &res, sizeof res);
    assert_memory_equal(&t2, &td, sizeof td);
    assert_memory_equal(&v2, &vd, sizeof vd);
    CUsurfObject s;
    CU_OK(cuSurfObjectCreate(&s, &res));
    CU_OK(cuSurfObjectGetResourceDesc(&r2, s));
    assert_memory_equal(&r2, &res, sizeof res);
    /* a texture handle is not a surface handle and the reverse */
    CU_ERR(cuSurfObjectDestroy(t), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuTexObjectGetTextureDesc(&t2, s), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuSurfObjectDestroy(s));
    CU_OK(cuTexObjectDestroy(t));
    CU_ERR(cuTexObjectDestroy(t), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuTexObjectGetResourceDesc(&r2, t), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuTexObjectDestroy(0x123456789ull), CUDA_ERROR_INVALID_VALUE);

    /* bad descriptors */
    CU_ERR(cuTexObjectCreate(&t, &res, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    td.addressMode[1] = (CUaddress_mode)9;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_VALUE);
    td.addressMode[1] = CU_TR_ADDRESS_MODE_CLAMP;
    td.flags = 0x8000;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_VALUE);
    td.flags = 0;
    vd.lastLayer = 4;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, &vd), CUDA_ERROR_INVALID_VALUE);
    vd.lastLayer = 2, vd.format = CU_RES_VIEW_FORMAT_FLOAT_1X32; /* another element size */
    CU_ERR(cuTexObjectCreate(&t, &res, &td, &vd), CUDA_ERROR_INVALID_VALUE);
    res.res.array.hArray = (CUarray)&res;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_HANDLE);
    res.resType = (CUresourcetype)17;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_VALUE);

    /* linear and pitch-2D resources: aligned, inside allocations */
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 1 << 16));
    memset(&res, 0, sizeof res);
    res.resType = CU_RESOURCE_TYPE_LINEAR;
    res.res.linear.devPtr = d;
    res.res.linear.format = CU_AD_FORMAT_SIGNED_INT16;
    res.res.linear.numChannels = 2;
    res.res.linear.sizeInBytes = 1 << 16;
    CU_OK(cuTexObjectCreate(&t, &res, &td, NULL));
    CU_OK(cuTexObjectDestroy(t));
    res.res.linear.devPtr = d + 4;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_VALUE);
    res.res.linear.devPtr = d;
    res.res.linear.sizeInBytes = 1 << 20;
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_VALUE);
    memset(&res, 0, sizeof res);
    res.resType = CU_RESOURCE_TYPE_PITCH2D;
    res.res.pitch2D.devPtr = d;
    res.res.pitch2D.format = CU_AD_FORMAT_FLOAT;
    res.res.pitch2D.numChannels = 1;
    res.res.pitch2D.width = 100;
    res.res.pitch2D.height = 100;
    res.res.pitch2D.pitchInBytes = 512;
    CU_OK(cuTexObjectCreate(&t, &res, &td, NULL));
    CU_OK(cuTexObjectDestroy(t));
    res.res.pitch2D.pitchInBytes = 100; /* not a multiple of 32, and narrower than a row */
    CU_ERR(cuTexObjectCreate(&t, &res, &td, NULL), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuSurfObjectCreate(&s, &res), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemFree(d));
    /* surfaces need CUDA_ARRAY3D_SURFACE_LDST */
    CUarray plain = array3d(8, 8, 0, CU_AD_FORMAT_FLOAT, 1, 0);
    memset(&res, 0, sizeof res);
    res.resType = CU_RESOURCE_TYPE_ARRAY;
    res.res.array.hArray = plain;
    CU_ERR(cuSurfObjectCreate(&s, &res), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuArrayDestroy(plain));
    CU_OK(cuArrayDestroy(a));
}

/* ---- references from PTX -------------------------------------------------------------------- */

static const char ref_ptx[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".global .texref tr;\n.global .surfref sr;\n"
    ".visible .entry refs(.param .u64 out, .param .f32 x, .param .f32 y)\n{\n"
    "  .reg .f32 %f<8>;\n  .reg .b32 %r<12>;\n  .reg .b64 %rd<2>;\n"
    "  ld.param.u64 %rd1, [out];\n  ld.param.f32 %f1, [x];\n  ld.param.f32 %f2, [y];\n"
    "  tex.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [tr, {%f1, %f2}];\n"
    "  st.global.v4.f32 [%rd1], {%f3, %f4, %f5, %f6};\n"
    "  txq.width.b32 %r1, [tr];\n  txq.height.b32 %r2, [tr];\n"
    "  txq.normalized_coords.b32 %r3, [tr];\n  suq.width.b32 %r4, [sr];\n"
    "  st.global.v4.b32 [%rd1+16], {%r1, %r2, %r3, %r4};\n"
    "  mov.b32 %r5, 1;\n  mov.b32 %r6, 0;\n"
    "  mov.b32 %r7, 0f00000000;\n  mov.b32 %r8, 0f3F000000;\n"
    "  mov.b32 %r9, 0f3F800000;\n  mov.b32 %r10, 0f40000000;\n"
    "  sust.p.2d.v4.b32.trap [sr, {%r5, %r6}], {%r7, %r8, %r9, %r10};\n"
    "  mov.b32 %r5, 4;\n"
    "  suld.b.2d.b32.trap {%r11}, [sr, {%r5, %r6}];\n"
    "  st.global.b32 [%rd1+32], %r11;\n"
    "  ret;\n}\n";

static void test_references(void **state)
{
    (void)state;
    CUmodule mod;
    CU_OK(cuModuleLoadData(&mod, ref_ptx));
    CUtexref tr, tr2;
    CUsurfref sr;
    CU_OK(cuModuleGetTexRef(&tr, mod, "tr"));
    CU_OK(cuModuleGetTexRef(&tr2, mod, "tr"));
    assert_ptr_equal(tr, tr2);
    CU_OK(cuModuleGetSurfRef(&sr, mod, "sr"));
    CU_ERR(cuModuleGetTexRef(&tr2, mod, "sr"), CUDA_ERROR_NOT_FOUND);
    CU_ERR(cuModuleGetTexRef(&tr2, mod, "nothere"), CUDA_ERROR_NOT_FOUND);
    CU_ERR(cuModuleGetTexRef(&tr2, (CUmodule)&mod, "tr"), CUDA_ERROR_INVALID_HANDLE);

    /* a 4x2 float2 texture, linear filtering, border */
    float texels[2][4][2] = {{{0, 1}, {2, 3}, {4, 5}, {6, 7}}, {{8, 9}, {10, 11}, {12, 13}, {14, 15}}};
    CUarray a = array3d(4, 2, 0, CU_AD_FORMAT_FLOAT, 2, 0);
    CU_OK(cuMemcpyHtoA(a, 0, texels, sizeof texels));
    CU_OK(cuTexRefSetArray(tr, a, CU_TRSA_OVERRIDE_FORMAT));
    CU_OK(cuTexRefSetFilterMode(tr, CU_TR_FILTER_MODE_LINEAR));
    CU_OK(cuTexRefSetAddressMode(tr, 0, CU_TR_ADDRESS_MODE_BORDER));
    float border[4] = {100, 200, 300, 400}, bgot[4];
    CU_OK(cuTexRefSetBorderColor(tr, border));
    CU_OK(cuTexRefSetFlags(tr, 0));
    CU_OK(cuTexRefSetMipmapLevelClamp(tr, 0.5f, 3.0f));
    CU_OK(cuTexRefSetMipmapLevelBias(tr, 0.25f));
    CU_OK(cuTexRefSetMipmapFilterMode(tr, CU_TR_FILTER_MODE_LINEAR));
    CU_OK(cuTexRefSetMaxAnisotropy(tr, 4));
    CUarray got_a;
    CUarray_format fmt;
    int ch, aniso;
    unsigned flags;
    CUaddress_mode am;
    CUfilter_mode fm;
    float lo, hi, bias;
    CU_OK(cuTexRefGetArray(&got_a, tr));
    assert_ptr_equal(got_a, a);
    CU_OK(cuTexRefGetFormat(&fmt, &ch, tr));
    assert_int_equal(fmt, CU_AD_FORMAT_FLOAT);
    assert_int_equal(ch, 2);
    CU_OK(cuTexRefGetAddressMode(&am, tr, 0));
    assert_int_equal(am, CU_TR_ADDRESS_MODE_BORDER);
    CU_OK(cuTexRefGetFilterMode(&fm, tr));
    assert_int_equal(fm, CU_TR_FILTER_MODE_LINEAR);
    CU_OK(cuTexRefGetMipmapFilterMode(&fm, tr));
    assert_int_equal(fm, CU_TR_FILTER_MODE_LINEAR);
    CU_OK(cuTexRefGetBorderColor(bgot, tr));
    assert_memory_equal(bgot, border, sizeof border);
    CU_OK(cuTexRefGetMipmapLevelClamp(&lo, &hi, tr));
    assert_true(lo == 0.5f && hi == 3.0f);
    CU_OK(cuTexRefGetMipmapLevelBias(&bias, tr));
    assert_true(bias == 0.25f);
    CU_OK(cuTexRefGetMaxAnisotropy(&aniso, tr));
    assert_int_equal(aniso, 4);
    CU_OK(cuTexRefGetFlags(&flags, tr));
    assert_int_equal(flags, 0);
    CUdeviceptr none;
    CU_ERR(cuTexRefGetAddress(&none, tr), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuTexRefSetAddressMode(tr, 3, CU_TR_ADDRESS_MODE_WRAP), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuTexRefSetArray(tr, a, 0), CUDA_ERROR_INVALID_VALUE);

    /* a 4x1 unorm8x4 surface */
    CUarray s = array3d(4, 1, 0, CU_AD_FORMAT_UNORM_INT8X4, 4, CUDA_ARRAY3D_SURFACE_LDST);
    CU_ERR(cuSurfRefSetArray(sr, a, 0), CUDA_ERROR_INVALID_VALUE); /* not surface-capable */
    CU_OK(cuSurfRefSetArray(sr, s, 0));
    CU_OK(cuSurfRefGetArray(&got_a, sr));
    assert_ptr_equal(got_a, s);

    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, mod, "refs"));
    CUdeviceptr out;
    CU_OK(cuMemAlloc(&out, 64));
    float x = 1.25f, y = 1.0f; /* between texels 0 and 1 of x, exactly between the rows */
    void *params[] = {&out, &x, &y};
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
    CU_OK(cuCtxSynchronize());
    uint32_t res[9];
    CU_OK(cuMemcpyDtoH(res, out, sizeof res));
    float r[4];
    memcpy(r, res, sizeof r);
    /* x: 0.25 * texel 0 + 0.75 * texel 1 (9-bit weights are exact here); y: mean of rows */
    assert_true(r[0] == 0.25f * 4 + 0.75f * 6);
    assert_true(r[1] == 0.25f * 5 + 0.75f * 7);
    assert_true(r[2] == 0.0f && r[3] == 1.0f);
    assert_int_equal(res[4], 4);
    assert_int_equal(res[5], 2);
    assert_int_equal(res[6], 0);
    assert_int_equal(res[7], 4);
    assert_int_equal(res[8], 0xffff8000u); /* bytes 0, 128, 255, 255: 0.5 rounds to 128 */

    /* linear and pitch-2D bindings */
    CUdeviceptr d;
    CU_OK(cuMemAlloc(&d, 4096));
    size_t off = 1;
    CU_OK(cuTexRefSetFormat(tr, CU_AD_FORMAT_SIGNED_INT8, 4));
    CU_OK(cuTexRefSetAddress(&off, tr, d, 4096));
    assert_int_equal(off, 0);
    CUdeviceptr back;
    CU_OK(cuTexRefGetAddress(&back, tr));
    assert_int_equal(back, d);
    CU_ERR(cuTexRefSetAddress(NULL, tr, d + 4, 64), CUDA_ERROR_INVALID_VALUE);
    CUDA_ARRAY_DESCRIPTOR pd = {16, 16, CU_AD_FORMAT_FLOAT, 1};
    CU_OK(cuTexRefSetAddress2D(tr, &pd, d, 64));
    CU_ERR(cuTexRefSetAddress2D(tr, &pd, d, 60), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuTexRefSetFormat(tr, CU_AD_FORMAT_FLOAT, 3), CUDA_ERROR_INVALID_VALUE);

    /* created references */
    CUtexref own;
    CU_OK(cuTexRefCreate(&own));
    CU_OK(cuTexRefSetArray(own, a, CU_TRSA_OVERRIDE_FORMAT));
    CU_OK(cuTexRefDestroy(own));
    CU_ERR(cuTexRefDestroy(own), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuTexRefDestroy(tr), CUDA_ERROR_INVALID_HANDLE); /* the module's */
    CU_ERR(cuTexRefGetFlags(&flags, (CUtexref)&flags), CUDA_ERROR_INVALID_HANDLE);

    CU_OK(cuMemFree(d));
    CU_OK(cuMemFree(out));
    CU_OK(cuModuleUnload(mod));
    CU_OK(cuArrayDestroy(a));
    CU_OK(cuArrayDestroy(s));
}

/* A kernel given a handle that names no texture fails with an illegal address, not a crash. */
static void test_bad_handle_in_kernel(void **state)
{
    (void)state;
    static const char ptx[] =
        ".version 8.0\n.target sm_80\n.address_size 64\n"
        ".visible .entry k(.param .u64 t)\n{\n  .reg .f32 %f<6>;\n  .reg .b64 %rd<2>;\n"
        "  ld.param.u64 %rd1, [t];\n  mov.f32 %f1, 0f00000000;\n"
        "  tex.1d.v4.f32.f32 {%f2, %f3, %f4, %f5}, [%rd1, {%f1}];\n  ret;\n}\n";
    CUcontext ctx;
    CU_OK(cuCtxCreate(&ctx, NULL, 0, 0));
    CUmodule mod;
    CUfunction f;
    CU_OK(cuModuleLoadData(&mod, ptx));
    CU_OK(cuModuleGetFunction(&f, mod, "k"));
    unsigned long long h = 0xdeadbeefull;
    void *params[] = {&h};
    CU_OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
    CU_ERR(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    CU_OK(cuCtxDestroy(ctx));
    CUcontext primary;
    CU_OK(cuDevicePrimaryCtxRetain(&primary, 0));
    CU_OK(cuCtxSetCurrent(primary));
    CU_OK(cuDevicePrimaryCtxRelease(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_formats_and_descriptors, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_memory_is_charged, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_bad_arrays, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_mipmapped, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_linear_array_copies, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_rect_array_copies, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_object_descriptors, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_references, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(test_bad_handle_in_kernel, sg_setup_primary, sg_teardown_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
