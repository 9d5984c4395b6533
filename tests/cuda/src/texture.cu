// texture: CUDA arrays, texture and surface objects end to end. A 2D float array filled with
// cudaMemcpy2DToArray from pitched host memory is read through texture objects (point
// sampling with clamp and wrap on unnormalized and normalized coordinates, linear filtering
// at texel centres and half-way between them) and written through a surface object into a
// second array, read back with cudaMemcpy2DFromArray; a 3D uchar4 array goes through
// cudaMemcpy3D both ways; cudaArrayGetInfo reports the descriptor. Every value is checked
// against the CPU.
#include <cmath>
#include <cstring>
#include "check.h"

enum { W = 37, H = 19 };                  // odd sizes: no accidental alignment
enum { VX = 9, VY = 5, VZ = 4 };          // the 3D array

static float texel(int x, int y) { return (float)(x * 3 + y * 1000); }

__global__ void sample(cudaTextureObject_t t, const float2 *at, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = tex2D<float>(t, at[i].x, at[i].y);
}

__global__ void negate_into(cudaTextureObject_t t, cudaSurfaceObject_t s)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
    if (x < W)
        surf2Dwrite(-tex2D<float>(t, x + 0.5f, y + 0.5f), s, x * (int)sizeof(float), y);
}

static int wrap(int v, int n) { return ((v % n) + n) % n; }
static int clampi(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

static cudaTextureObject_t make_tex(cudaArray_t a, cudaTextureAddressMode mode,
                                    cudaTextureFilterMode filter, int normalized)
{
    cudaResourceDesc res = {};
    res.resType = cudaResourceTypeArray;
    res.res.array.array = a;
    cudaTextureDesc td = {};
    td.addressMode[0] = td.addressMode[1] = mode;
    td.filterMode = filter;
    td.readMode = cudaReadModeElementType;
    td.normalizedCoords = normalized;
    cudaTextureObject_t t;
    CHECK(cudaCreateTextureObject(&t, &res, &td, NULL));
    return t;
}

// Samples n coordinates through t; returns the results in out.
static void run_samples(cudaTextureObject_t t, const float2 *at, float *out, int n)
{
    float2 *dat;
    float *dout;
    CHECK(cudaMalloc(&dat, n * sizeof(float2)));
    CHECK(cudaMalloc(&dout, n * sizeof(float)));
    CHECK(cudaMemcpy(dat, at, n * sizeof(float2), cudaMemcpyHostToDevice));
    sample<<<1, 64>>>(t, dat, dout, n);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(out, dout, n * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaFree(dat));
    CHECK(cudaFree(dout));
}

static void check_point(cudaArray_t a)
{
    float2 at[8] = {{0.5f, 0.5f}, {3.5f, 7.5f}, {W + 4.5f, 2.5f}, {-3.5f, 1.5f},
                    {10.5f, H + 6.5f}, {W - 0.5f, H - 0.5f}, {-0.5f, -8.5f}, {20.2f, 9.9f}};
    float out[8];
    cudaTextureAddressMode modes[2] = {cudaAddressModeClamp, cudaAddressModeWrap};
    for (int m = 0; m < 2; m++) {
        // wrap needs normalized coordinates: the same points divided by the size
        float2 nat[8];
        for (int i = 0; i < 8; i++)
            nat[i] = m ? make_float2(at[i].x / W, at[i].y / H) : at[i];
        cudaTextureObject_t t = make_tex(a, modes[m], cudaFilterModePoint, m);
        run_samples(t, nat, out, 8);
        for (int i = 0; i < 8; i++) {
            int x = (int)floorf(at[i].x), y = (int)floorf(at[i].y);
            x = m ? wrap(x, W) : clampi(x, W);
            y = m ? wrap(y, H) : clampi(y, H);
            if (out[i] != texel(x, y))
                FAIL("point sampling (%s) at (%g,%g): %g, expected %g", m ? "wrap" : "clamp",
                     at[i].x, at[i].y, out[i], texel(x, y));
        }
        CHECK(cudaDestroyTextureObject(t));
    }
}

static void check_linear(cudaArray_t a)
{
    // texel centres give the texel; half-way between two gives their mean (the texel values are
    // exact in the hardware's 8-bit interpolation weights too: 0, 1/2 and 1)
    float2 at[4] = {{4.5f, 3.5f}, {5.0f, 3.5f}, {4.5f, 4.0f}, {5.0f, 4.0f}};
    float want[4] = {texel(4, 3), (texel(4, 3) + texel(5, 3)) / 2, (texel(4, 3) + texel(4, 4)) / 2,
                     (texel(4, 3) + texel(5, 3) + texel(4, 4) + texel(5, 4)) / 4};
    float out[4];
    cudaTextureObject_t t = make_tex(a, cudaAddressModeClamp, cudaFilterModeLinear, 0);
    run_samples(t, at, out, 4);
    for (int i = 0; i < 4; i++)
        if (fabsf(out[i] - want[i]) > 1e-3f * fabsf(want[i]) + 1e-3f)
            FAIL("linear filtering at (%g,%g): %g, expected %g", at[i].x, at[i].y, out[i], want[i]);
    CHECK(cudaDestroyTextureObject(t));
}

static void check_surface(cudaArray_t a, const cudaChannelFormatDesc *fmt)
{
    cudaArray_t b;
    CHECK(cudaMallocArray(&b, fmt, W, H, cudaArraySurfaceLoadStore));
    cudaResourceDesc res = {};
    res.resType = cudaResourceTypeArray;
    res.res.array.array = b;
    cudaSurfaceObject_t s;
    CHECK(cudaCreateSurfaceObject(&s, &res));
    cudaTextureObject_t t = make_tex(a, cudaAddressModeClamp, cudaFilterModePoint, 0);
    negate_into<<<dim3(1, H), 64>>>(t, s);
    CHECK_LAUNCH();
    static float back[H][W + 3];   // a pitched host destination, the padding left alone
    memset(back, 0x7f, sizeof back);
    CHECK(cudaMemcpy2DFromArray(back, sizeof back[0], b, 0, 0, W * sizeof(float), H,
                                cudaMemcpyDeviceToHost));
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++)
            if (back[y][x] != -texel(x, y))
                FAIL("surface write (%d,%d): %g, expected %g", x, y, back[y][x], -texel(x, y));
        unsigned pad;
        memcpy(&pad, &back[y][W], sizeof pad);
        if (pad != 0x7f7f7f7fu)
            FAIL("row %d: the copy wrote past its width", y);
    }
    CHECK(cudaDestroySurfaceObject(s));
    CHECK(cudaDestroyTextureObject(t));
    CHECK(cudaFreeArray(b));
}

static void check_3d(void)
{
    cudaChannelFormatDesc fmt = cudaCreateChannelDesc<uchar4>();
    cudaArray_t a;
    CHECK(cudaMalloc3DArray(&a, &fmt, make_cudaExtent(VX, VY, VZ)));
    static uchar4 in[VZ][VY][VX], out[VZ][VY][VX];
    for (int z = 0; z < VZ; z++)
        for (int y = 0; y < VY; y++)
            for (int x = 0; x < VX; x++)
                in[z][y][x] = make_uchar4(x, y, z, x ^ y ^ z);
    cudaMemcpy3DParms p = {};
    p.srcPtr = make_cudaPitchedPtr(in, VX * sizeof(uchar4), VX, VY);
    p.dstArray = a;
    p.extent = make_cudaExtent(VX, VY, VZ);
    p.kind = cudaMemcpyHostToDevice;
    CHECK(cudaMemcpy3D(&p));
    cudaMemcpy3DParms q = {};
    q.srcArray = a;
    q.dstPtr = make_cudaPitchedPtr(out, VX * sizeof(uchar4), VX, VY);
    q.extent = p.extent;
    q.kind = cudaMemcpyDeviceToHost;
    CHECK(cudaMemcpy3D(&q));
    if (memcmp(in, out, sizeof in))
        FAIL("3D array round trip differs");
    cudaChannelFormatDesc got;
    cudaExtent ext;
    unsigned flags;
    CHECK(cudaArrayGetInfo(&got, &ext, &flags, a));
    if (got.x != 8 || got.w != 8 || ext.width != VX || ext.height != VY || ext.depth != VZ)
        FAIL("cudaArrayGetInfo: %dx%dx%d, %d bits", (int)ext.width, (int)ext.height,
             (int)ext.depth, got.x);
    CHECK(cudaFreeArray(a));
}

int main()
{
    cudaChannelFormatDesc fmt = cudaCreateChannelDesc<float>();
    cudaArray_t a;
    CHECK(cudaMallocArray(&a, &fmt, W, H));
    static float host[H][W + 5];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            host[y][x] = texel(x, y);
    CHECK(cudaMemcpy2DToArray(a, 0, 0, host, sizeof host[0], W * sizeof(float), H,
                              cudaMemcpyHostToDevice));
    check_point(a);
    check_linear(a);
    check_surface(a, &fmt);
    check_3d();
    CHECK(cudaFreeArray(a));
    printf("texture: OK %dx%d float array (point clamp/wrap, linear, surface), %dx%dx%d uchar4 3D\n",
           W, H, VX, VY, VZ);
    return 0;
}
