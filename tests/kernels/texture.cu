// Texture and surface objects: fetches through every geometry (1D, 2D, 3D, layered, cubemap),
// integer fetches from linear memory, explicit-level fetches from mipmaps, gathers (tld4), and
// surface loads and stores with each boundary mode. Each kernel reads coordinates from an
// array and writes what the texture unit returned, so the host checks every address mode,
// filter, read mode and normalized-coordinate setting against its own reference
// (cases_texture.c).
#include "kt_device.cuh"

extern "C" __global__ void tex_1d(cudaTextureObject_t t, const float *x, float4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = tex1D<float4>(t, x[i]);
}

extern "C" __global__ void tex_2d(cudaTextureObject_t t, const float2 *c, float4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = tex2D<float4>(t, c[i].x, c[i].y);
}

extern "C" __global__ void tex_2d_uint(cudaTextureObject_t t, const float2 *c, uint4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = tex2D<uint4>(t, c[i].x, c[i].y);
}

extern "C" __global__ void tex_3d(cudaTextureObject_t t, const float4 *c, float4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = tex3D<float4>(t, c[i].x, c[i].y, c[i].z);
}

extern "C" __global__ void tex_layered(cudaTextureObject_t t1, cudaTextureObject_t t2,
                                       const float4 *c, float4 *out1, float4 *out2, int n)
{
    int i = kt_global_index();
    if (i < n) {
        int layer = (int)c[i].w;
        out1[i] = tex1DLayered<float4>(t1, c[i].x, layer);
        out2[i] = tex2DLayered<float4>(t2, c[i].x, c[i].y, layer);
    }
}

extern "C" __global__ void tex_cube(cudaTextureObject_t t, const float4 *dir, float4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = texCubemap<float4>(t, dir[i].x, dir[i].y, dir[i].z);
}

extern "C" __global__ void tex_gather(cudaTextureObject_t t, const float2 *c, float4 *out, int n)
{
    int i = kt_global_index();
    if (i < n) {
        out[4 * i + 0] = tex2Dgather<float4>(t, c[i].x, c[i].y, 0);
        out[4 * i + 1] = tex2Dgather<float4>(t, c[i].x, c[i].y, 1);
        out[4 * i + 2] = tex2Dgather<float4>(t, c[i].x, c[i].y, 2);
        out[4 * i + 3] = tex2Dgather<float4>(t, c[i].x, c[i].y, 3);
    }
}

extern "C" __global__ void tex_fetch_linear(cudaTextureObject_t t, const int *idx, int4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = tex1Dfetch<int4>(t, idx[i]);
}

extern "C" __global__ void tex_lod(cudaTextureObject_t t, const float4 *c, float4 *out, int n)
{
    int i = kt_global_index();
    if (i < n)
        out[i] = tex2DLod<float4>(t, c[i].x, c[i].y, c[i].z);
}

// Every element of a w x h float surface becomes 2 * v + 1 in another.
extern "C" __global__ void surf_scale(cudaSurfaceObject_t in, cudaSurfaceObject_t out, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
    if (x < w && y < h) {
        float v = surf2Dread<float>(in, x * 4, y);
        surf2Dwrite(2.0f * v + 1.0f, out, x * 4, y);
    }
}

// Loads at arbitrary (possibly outside) byte coordinates with the zero and clamp modes.
extern "C" __global__ void surf_bounds(cudaSurfaceObject_t s, const int2 *xy, uchar4 *zero,
                                       uchar4 *clamp, int n)
{
    int i = kt_global_index();
    if (i < n) {
        zero[i] = surf2Dread<uchar4>(s, xy[i].x, xy[i].y, cudaBoundaryModeZero);
        clamp[i] = surf2Dread<uchar4>(s, xy[i].x, xy[i].y, cudaBoundaryModeClamp);
    }
}

// Writes (x + 10 y + 100 z) into a 3D int surface and layer-tagged values into a layered one.
extern "C" __global__ void surf_3d_layered(cudaSurfaceObject_t s3, cudaSurfaceObject_t sl, int w,
                                           int h)
{
    int x = threadIdx.x, y = blockIdx.x, z = blockIdx.y;
    if (x < w && y < h) {
        surf3Dwrite(x + 10 * y + 100 * z, s3, x * 4, y, z);
        surf2DLayeredwrite(make_short2((short)x, (short)(y - z)), sl, x * 4, y, z);
    }
}

// An out-of-range store in trap mode: the launch fails.
extern "C" __global__ void surf_trap(cudaSurfaceObject_t s, int x)
{
    surf2Dwrite(1.0f, s, x, 0);
}
