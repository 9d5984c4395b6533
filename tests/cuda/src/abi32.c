/*
 * abi32: the CUDA 3.1 ABIs, whose sizes and device pointers are 32 bits wide, as a program
 * built against CUDA 3.1 calls them (the unsuffixed symbols, declared here with their own
 * types): allocations whose addresses must fit in 32 bits, copies host/device/device, memsets of
 * 8, 16 and 32 bits in 1D and 2D, 2D and 3D copies, CUDA arrays (descriptors, copies to and from
 * host, device and another array), a module global and a kernel reading it and v1 memory,
 * memory queries, texture references bound to v1 memory, the deprecated context usage count,
 * and a free of what no v1 call gave. Every value is checked against the CPU.
 */
#define CUDA_ENABLE_DEPRECATED   /* texture references and cuParamSetTexRef are under test */
#include <cuda.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call) expect_rc((call), CUDA_SUCCESS, #call, __LINE__)
#define FAILS(call, rc) expect_rc((call), (rc), #call, __LINE__)
#define FAIL(...) (fprintf(stderr, "abi32.c:%d: ", __LINE__), fprintf(stderr, __VA_ARGS__), \
                   fputc('\n', stderr), exit(1))

static void expect_rc(CUresult got, CUresult want, const char *what, int line)
{
    if (got == want)
        return;
    const char *g = "?", *w = "?";
    cuGetErrorName(got, &g);
    cuGetErrorName(want, &w);
    fprintf(stderr, "abi32.c:%d: %s gave %s, expected %s\n", line, what, g, w);
    exit(1);
}

/* ---- the CUDA 3.1 ABIs, as cuda.h declares them for the driver's own build ---- */
typedef unsigned int dptr32;
typedef struct {
    unsigned int srcXInBytes, srcY;
    CUmemorytype srcMemoryType;
    const void *srcHost;
    dptr32 srcDevice;
    CUarray srcArray;
    unsigned int srcPitch;
    unsigned int dstXInBytes, dstY;
    CUmemorytype dstMemoryType;
    void *dstHost;
    dptr32 dstDevice;
    CUarray dstArray;
    unsigned int dstPitch;
    unsigned int WidthInBytes, Height;
} copy2d_v1;
typedef struct {
    unsigned int srcXInBytes, srcY, srcZ, srcLOD;
    CUmemorytype srcMemoryType;
    const void *srcHost;
    dptr32 srcDevice;
    CUarray srcArray;
    void *reserved0;
    unsigned int srcPitch, srcHeight;
    unsigned int dstXInBytes, dstY, dstZ, dstLOD;
    CUmemorytype dstMemoryType;
    void *dstHost;
    dptr32 dstDevice;
    CUarray dstArray;
    void *reserved1;
    unsigned int dstPitch, dstHeight;
    unsigned int WidthInBytes, Height, Depth;
} copy3d_v1;
typedef struct {
    unsigned int Width, Height;
    CUarray_format Format;
    unsigned int NumChannels;
} desc_v1;
typedef struct {
    unsigned int Width, Height, Depth;
    CUarray_format Format;
    unsigned int NumChannels, Flags;
} desc3d_v1;

#undef cuDeviceTotalMem
#undef cuMemGetInfo
#undef cuMemAlloc
#undef cuMemAllocPitch
#undef cuMemFree
#undef cuMemGetAddressRange
#undef cuMemAllocHost
#undef cuMemHostGetDevicePointer
#undef cuModuleGetGlobal
#undef cuMemcpyHtoD
#undef cuMemcpyDtoH
#undef cuMemcpyDtoD
#undef cuMemcpyHtoDAsync
#undef cuMemcpyDtoHAsync
#undef cuMemcpyDtoDAsync
#undef cuMemcpyHtoA
#undef cuMemcpyAtoH
#undef cuMemcpyAtoA
#undef cuMemcpyDtoA
#undef cuMemcpyAtoD
#undef cuMemcpyHtoAAsync
#undef cuMemcpyAtoHAsync
#undef cuMemcpy2D
#undef cuMemcpy2DUnaligned
#undef cuMemcpy2DAsync
#undef cuMemcpy3D
#undef cuMemcpy3DAsync
#undef cuMemsetD8
#undef cuMemsetD16
#undef cuMemsetD32
#undef cuMemsetD2D8
#undef cuMemsetD2D16
#undef cuMemsetD2D32
#undef cuArrayCreate
#undef cuArrayGetDescriptor
#undef cuArray3DCreate
#undef cuArray3DGetDescriptor
#undef cuTexRefSetAddress
#undef cuTexRefSetAddress2D
#undef cuTexRefGetAddress
CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev);
CUresult cuMemGetInfo(unsigned int *free, unsigned int *total);
CUresult cuMemAlloc(dptr32 *dptr, unsigned int bytesize);
CUresult cuMemAllocPitch(dptr32 *dptr, unsigned int *pitch, unsigned int w, unsigned int h,
                         unsigned int elem);
CUresult cuMemFree(dptr32 dptr);
CUresult cuMemGetAddressRange(dptr32 *pbase, unsigned int *psize, dptr32 dptr);
CUresult cuMemAllocHost(void **pp, unsigned int bytesize);
CUresult cuMemHostGetDevicePointer(dptr32 *pdptr, void *p, unsigned int flags);
CUresult cuModuleGetGlobal(dptr32 *dptr, unsigned int *bytes, CUmodule hmod, const char *name);
CUresult cuMemcpyHtoD(dptr32 dst, const void *src, unsigned int n);
CUresult cuMemcpyDtoH(void *dst, dptr32 src, unsigned int n);
CUresult cuMemcpyDtoD(dptr32 dst, dptr32 src, unsigned int n);
CUresult cuMemcpyHtoDAsync(dptr32 dst, const void *src, unsigned int n, CUstream s);
CUresult cuMemcpyDtoHAsync(void *dst, dptr32 src, unsigned int n, CUstream s);
CUresult cuMemcpyDtoDAsync(dptr32 dst, dptr32 src, unsigned int n, CUstream s);
CUresult cuMemcpyHtoA(CUarray dst, unsigned int off, const void *src, unsigned int n);
CUresult cuMemcpyAtoH(void *dst, CUarray src, unsigned int off, unsigned int n);
CUresult cuMemcpyAtoA(CUarray dst, unsigned int doff, CUarray src, unsigned int soff,
                      unsigned int n);
CUresult cuMemcpyDtoA(CUarray dst, unsigned int off, dptr32 src, unsigned int n);
CUresult cuMemcpyAtoD(dptr32 dst, CUarray src, unsigned int off, unsigned int n);
CUresult cuMemcpyHtoAAsync(CUarray dst, unsigned int off, const void *src, unsigned int n,
                           CUstream s);
CUresult cuMemcpyAtoHAsync(void *dst, CUarray src, unsigned int off, unsigned int n, CUstream s);
CUresult cuMemcpy2D(const copy2d_v1 *c);
CUresult cuMemcpy2DUnaligned(const copy2d_v1 *c);
CUresult cuMemcpy2DAsync(const copy2d_v1 *c, CUstream s);
CUresult cuMemcpy3D(const copy3d_v1 *c);
CUresult cuMemcpy3DAsync(const copy3d_v1 *c, CUstream s);
CUresult cuMemsetD8(dptr32 d, unsigned char v, unsigned int n);
CUresult cuMemsetD16(dptr32 d, unsigned short v, unsigned int n);
CUresult cuMemsetD32(dptr32 d, unsigned int v, unsigned int n);
CUresult cuMemsetD2D8(dptr32 d, unsigned int pitch, unsigned char v, unsigned int w,
                      unsigned int h);
CUresult cuMemsetD2D16(dptr32 d, unsigned int pitch, unsigned short v, unsigned int w,
                       unsigned int h);
CUresult cuMemsetD2D32(dptr32 d, unsigned int pitch, unsigned int v, unsigned int w,
                       unsigned int h);
CUresult cuArrayCreate(CUarray *a, const desc_v1 *d);
CUresult cuArrayGetDescriptor(desc_v1 *d, CUarray a);
CUresult cuArray3DCreate(CUarray *a, const desc3d_v1 *d);
CUresult cuArray3DGetDescriptor(desc3d_v1 *d, CUarray a);
CUresult cuTexRefSetAddress(unsigned int *off, CUtexref t, dptr32 d, unsigned int bytes);
CUresult cuTexRefSetAddress2D(CUtexref t, const desc_v1 *d, dptr32 p, unsigned int pitch);
CUresult cuTexRefGetAddress(dptr32 *d, CUtexref t);

/* out[i] = in[i] + g_words[i % 8] for i < n */
static const char ptx[] =
    ".version 7.0\n.target sm_80\n.address_size 64\n"
    ".visible .global .align 4 .u32 g_words[8] = {1, 2, 3, 4, 5, 6, 7, 8};\n"
    ".global .texref t_lin;\n"
    ".visible .entry add_words(.param .u64 p_out, .param .u64 p_in, .param .u32 p_n)\n"
    "{\n"
    "    .reg .pred %p<2>;\n    .reg .b32 %r<10>;\n    .reg .b64 %rd<10>;\n"
    "    ld.param.u64 %rd1, [p_out];\n    ld.param.u64 %rd2, [p_in];\n"
    "    ld.param.u32 %r1, [p_n];\n"
    "    mov.u32 %r2, %ctaid.x;\n    mov.u32 %r3, %ntid.x;\n    mov.u32 %r4, %tid.x;\n"
    "    mad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "    setp.ge.u32 %p1, %r5, %r1;\n    @%p1 bra DONE;\n"
    "    mul.wide.u32 %rd3, %r5, 4;\n"
    "    add.s64 %rd4, %rd2, %rd3;\n    ld.global.u32 %r6, [%rd4];\n"
    "    and.b32 %r7, %r5, 7;\n    mul.wide.u32 %rd5, %r7, 4;\n"
    "    mov.u64 %rd6, g_words;\n    add.s64 %rd7, %rd6, %rd5;\n"
    "    ld.global.u32 %r8, [%rd7];\n    add.s32 %r9, %r6, %r8;\n"
    "    add.s64 %rd8, %rd1, %rd3;\n    st.global.u32 [%rd8], %r9;\n"
    "DONE:\n    ret;\n}\n";

#define N 1000

static void queries(CUdevice dev)
{
    unsigned int total32, free32, mtotal32;
    size_t total, mfree, mtotal;
    CHECK(cuDeviceTotalMem(&total32, dev));
    CHECK(cuDeviceTotalMem_v2(&total, dev));
    if (total32 != (total > UINT_MAX ? UINT_MAX : total))
        FAIL("cuDeviceTotalMem v1 %u, current %zu", total32, total);
    CHECK(cuMemGetInfo(&free32, &mtotal32));
    CHECK(cuMemGetInfo_v2(&mfree, &mtotal));
    if (mtotal32 != (mtotal > UINT_MAX ? UINT_MAX : mtotal) || free32 > mtotal32 || !free32)
        FAIL("cuMemGetInfo v1 %u of %u, current %zu of %zu", free32, mtotal32, mfree, mtotal);
    FAILS(cuMemGetInfo(NULL, &mtotal32), CUDA_ERROR_INVALID_VALUE);
}

/* A v1 allocation: non-zero, and its own range per cuMemGetAddressRange. */
static dptr32 alloc32(unsigned int bytes)
{
    dptr32 p = 0, base = 0;
    unsigned int size = 0;
    CHECK(cuMemAlloc(&p, bytes));
    CHECK(cuMemGetAddressRange(&base, &size, p + bytes / 2));
    if (!p || base != p || size != bytes)
        FAIL("allocation %#x of %u: range %#x + %u", p, bytes, base, size);
    return p;
}

static void check_words(const unsigned *got, unsigned want_base, unsigned step, int n,
                        const char *what)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want_base + step * (unsigned)i)
            FAIL("%s: [%d] = %u, expected %u", what, i, got[i], want_base + step * (unsigned)i);
}

static void linear(dptr32 a, dptr32 b, CUstream s)
{
    static unsigned host[N], back[N];
    for (int i = 0; i < N; i++)
        host[i] = 7u * (unsigned)i + 3u;
    CHECK(cuMemcpyHtoD(a, host, sizeof host));
    CHECK(cuMemcpyDtoD(b, a, sizeof host));
    CHECK(cuMemcpyDtoH(back, b, sizeof back));
    check_words(back, 3, 7, N, "HtoD/DtoD/DtoH");
    for (int i = 0; i < N; i++)
        host[i] = 5u * (unsigned)i;
    CHECK(cuMemcpyHtoDAsync(a, host, sizeof host, s));
    CHECK(cuMemcpyDtoDAsync(b, a, sizeof host, s));
    CHECK(cuMemcpyDtoHAsync(back, b, sizeof back, s));
    CHECK(cuStreamSynchronize(s));
    check_words(back, 0, 5, N, "async HtoD/DtoD/DtoH");
}

static void memsets(dptr32 a)
{
    static unsigned char b8[4 * N];
    CHECK(cuMemsetD8(a, 0xab, 4 * N));
    CHECK(cuMemsetD16(a + 8, 0x1234, 4));
    CHECK(cuMemsetD32(a + 16, 0xdeadbeef, 2));
    CHECK(cuMemcpyDtoH(b8, a, sizeof b8));
    for (int i = 0; i < 4 * N; i++) {
        unsigned char want = 0xab;
        if (i >= 8 && i < 16)
            want = (i & 1) ? 0x12 : 0x34;
        else if (i >= 16 && i < 24)
            want = (unsigned char)(0xdeadbeefu >> (8 * (i & 3)));
        if (b8[i] != want)
            FAIL("memset byte %d = %#x, expected %#x", i, b8[i], want);
    }
}

/* A pitched allocation, 2D memsets of every width, 2D copies both ways. */
static void pitched(CUstream s)
{
    enum { W = 100, H = 6 };
    dptr32 p;
    unsigned int pitch;
    static unsigned char host[H][W], back[H][W];
    CHECK(cuMemAllocPitch(&p, &pitch, W, H, 4));
    if (pitch < W || !p)
        FAIL("pitch %u for rows of %d bytes", pitch, W);
    CHECK(cuMemsetD2D8(p, pitch, 0x11, W, 2));
    CHECK(cuMemsetD2D16(p + 2 * pitch, pitch, 0x2222, W / 2, 2));
    CHECK(cuMemsetD2D32(p + 4 * pitch, pitch, 0x33333333, W / 4, 2));
    copy2d_v1 c = {.srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = p, .srcPitch = pitch,
                   .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = back, .dstPitch = W,
                   .WidthInBytes = W, .Height = H};
    CHECK(cuMemcpy2D(&c));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (back[y][x] != 0x11 * (1 + y / 2))
                FAIL("2D memset [%d][%d] = %#x", y, x, back[y][x]);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            host[y][x] = (unsigned char)(y * 31 + x);
    copy2d_v1 up = {.srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = host, .srcPitch = W,
                    .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = p, .dstPitch = pitch,
                    .WidthInBytes = W, .Height = H};
    CHECK(cuMemcpy2DUnaligned(&up));
    memset(back, 0, sizeof back);
    CHECK(cuMemcpy2DAsync(&c, s));
    CHECK(cuStreamSynchronize(s));
    if (memcmp(host, back, sizeof host))
        FAIL("2D copies: rows differ");
    FAILS(cuMemcpy2D(NULL), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemFree(p));
}

/* A 4x3x2 box of words to the device and back through 3D copies. */
static void box3d(dptr32 dev, CUstream s)
{
    enum { X = 4, Y = 3, Z = 2 };
    static unsigned host[Z][Y][X], back[Z][Y][X];
    for (int i = 0; i < X * Y * Z; i++)
        (&host[0][0][0])[i] = 1000u + (unsigned)i;
    copy3d_v1 c = {.srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = host,
                   .srcPitch = X * 4, .srcHeight = Y, .dstMemoryType = CU_MEMORYTYPE_DEVICE,
                   .dstDevice = dev, .dstPitch = X * 4, .dstHeight = Y,
                   .WidthInBytes = X * 4, .Height = Y, .Depth = Z};
    CHECK(cuMemcpy3D(&c));
    copy3d_v1 d = c;
    d.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    d.srcDevice = dev;
    d.srcHost = NULL;
    d.dstMemoryType = CU_MEMORYTYPE_HOST;
    d.dstHost = back;
    d.dstDevice = 0;
    CHECK(cuMemcpy3DAsync(&d, s));
    CHECK(cuStreamSynchronize(s));
    check_words(&back[0][0][0], 1000, 1, X * Y * Z, "3D copies");
}

static CUarray array_of(unsigned width)
{
    CUarray a;
    desc_v1 d = {.Width = width, .Height = 0, .Format = CU_AD_FORMAT_UNSIGNED_INT32,
                 .NumChannels = 1}, got;
    CHECK(cuArrayCreate(&a, &d));
    CHECK(cuArrayGetDescriptor(&got, a));
    if (got.Width != width || got.Height != 0 || got.Format != d.Format || got.NumChannels != 1)
        FAIL("array descriptor %ux%u format %d x%u", got.Width, got.Height, (int)got.Format,
             got.NumChannels);
    return a;
}

/* HtoA, AtoA, AtoD, DtoA, AtoH (and their async forms) through two 1D arrays; a 3D array's
 * descriptor. */
static void arrays(dptr32 dev, CUstream s)
{
    static unsigned host[N], back[N];
    CUarray a = array_of(N), b = array_of(N);
    for (int i = 0; i < N; i++)
        host[i] = 9u * (unsigned)i + 1u;
    CHECK(cuMemcpyHtoA(a, 0, host, sizeof host));
    CHECK(cuMemcpyAtoA(b, 0, a, 0, sizeof host));
    CHECK(cuMemcpyAtoD(dev, b, 0, sizeof host));
    CHECK(cuMemsetD32(dev, 0, 1));   /* the first word changed on the way back */
    CHECK(cuMemcpyDtoA(a, 0, dev, sizeof host));
    CHECK(cuMemcpyAtoH(back, a, 0, sizeof back));
    if (back[0] != 0)
        FAIL("AtoD/DtoA: first word %u", back[0]);
    check_words(back + 1, 10, 9, N - 1, "HtoA/AtoA/AtoD/DtoA/AtoH");
    CHECK(cuMemcpyHtoAAsync(b, 4 * 10, host, 4 * 5, s));
    CHECK(cuMemcpyAtoHAsync(back, b, 4 * 10, 4 * 5, s));
    CHECK(cuStreamSynchronize(s));
    check_words(back, 1, 9, 5, "async HtoA/AtoH");
    CUarray c;
    desc3d_v1 d3 = {.Width = 16, .Height = 4, .Depth = 2, .Format = CU_AD_FORMAT_FLOAT,
                    .NumChannels = 2}, g3;
    CHECK(cuArray3DCreate(&c, &d3));
    CHECK(cuArray3DGetDescriptor(&g3, c));
    if (memcmp(&d3, &g3, sizeof d3))
        FAIL("3D array descriptor %ux%ux%u", g3.Width, g3.Height, g3.Depth);
    CHECK(cuArrayDestroy(a));
    CHECK(cuArrayDestroy(b));
    CHECK(cuArrayDestroy(c));
}

/* The module's global through the v1 ABI, read by a kernel with v1 memory on both sides. */
static void module(dptr32 in, dptr32 out, CUstream s)
{
    CUmodule mod;
    CUfunction f;
    dptr32 g;
    unsigned int gbytes, words[8], back[N];
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&f, mod, "add_words"));
    CHECK(cuModuleGetGlobal(&g, &gbytes, mod, "g_words"));
    if (!g || gbytes != sizeof words)
        FAIL("global at %#x of %u bytes", g, gbytes);
    CHECK(cuMemcpyDtoH(words, g, sizeof words));
    check_words(words, 1, 1, 8, "module global");
    CHECK(cuMemsetD32(g, 100, 1));   /* g_words[0] = 100 */
    CHECK(cuMemsetD32(in, 5, N));
    unsigned long long pout = out, pin = in;
    unsigned int n = N;
    void *params[] = {&pout, &pin, &n};
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, s, params, NULL));
    CHECK(cuMemcpyDtoHAsync(back, out, sizeof back, s));
    CHECK(cuStreamSynchronize(s));
    for (int i = 0; i < N; i++)
        if (back[i] != 5u + (i % 8 ? (unsigned)(i % 8) + 1u : 100u))
            FAIL("kernel: out[%d] = %u", i, back[i]);
    CUtexref t;
    dptr32 bound = 0;
    unsigned int off = 1;
    CHECK(cuModuleGetTexRef(&t, mod, "t_lin"));
    CHECK(cuTexRefSetAddress(&off, t, in, 4 * N));
    CHECK(cuTexRefGetAddress(&bound, t));
    if (off != 0 || bound != in)
        FAIL("texture bound at %#x offset %u, expected %#x", bound, off, in);
    desc_v1 d = {.Width = 16, .Height = 4, .Format = CU_AD_FORMAT_UNSIGNED_INT32,
                 .NumChannels = 1};
    CHECK(cuTexRefSetAddress2D(t, &d, in, 64));
    CHECK(cuParamSetTexRef(f, CU_PARAM_TR_DEFAULT, t));
    CHECK(cuModuleUnload(mod));
}

/* Page-locked memory's device address is given back when the current ABI gives one and it fits
 * in 32 bits (softgpu's v1 page-locked memory lies below 4 GiB; through a node it is the
 * program's own, whose mapping the current ABI decides). */
static void host_pointer(void)
{
    void *h;
    dptr32 d32 = 0;
    CUdeviceptr d;
    CHECK(cuMemAllocHost(&h, 4096));
    CUresult want = cuMemHostGetDevicePointer_v2(&d, h, 0);
    if (want == CUDA_SUCCESS && d > UINT_MAX)
        want = CUDA_ERROR_OUT_OF_MEMORY;
    FAILS(cuMemHostGetDevicePointer(&d32, h, 0), want);
    if (want == CUDA_SUCCESS && d32 != d)
        FAIL("device pointer %#x, expected %#llx", d32, (unsigned long long)d);
    CHECK(cuMemFreeHost(h));
}

static void attach_detach(CUcontext ctx)
{
    CUcontext a = NULL;
    CHECK(cuCtxAttach(&a, 0));
    if (a != ctx)
        FAIL("cuCtxAttach gave another context");
    FAILS(cuCtxAttach(&a, 1), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuCtxDetach(a));   /* drops the attachment: the context lives on */
    CHECK(cuCtxSynchronize());
}

int main(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUstream s;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    queries(dev);
    dptr32 a = alloc32(4 * N), b = alloc32(4 * N);
    linear(a, b, s);
    memsets(a);
    pitched(s);
    box3d(b, s);
    arrays(a, s);
    module(a, b, s);
    host_pointer();
    attach_detach(ctx);
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(b));
    FAILS(cuMemFree(b), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuStreamDestroy(s));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("abi32: OK %d words through 32-bit pointers, 2D/3D copies, arrays, a module global\n",
           N);
    return 0;
}
