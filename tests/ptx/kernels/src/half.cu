// f16 / bf16 arithmetic and conversions; compiled to ../half.ptx.
#include <cuda_fp16.h>
#include <cuda_bf16.h>
extern "C" __global__ void halfops(const float *in, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = in[i], y = in[(i + 1) % n];
    __half a = __float2half(x), b = __float2half(y);
    __nv_bfloat16 c = __float2bfloat16(x), d = __float2bfloat16(y);
    __half2 p = __halves2half2(a, b), q = __halves2half2(b, a);
    __half2 r = __hfma2(p, q, p);
    float *o = out + i * 8;
    o[0] = __half2float(__hadd(a, b));
    o[1] = __half2float(__hmul(a, b));
    o[2] = __bfloat162float(__hadd(c, d));
    o[3] = __bfloat162float(__hmul(c, d));
    o[4] = __low2float(r);
    o[5] = __high2float(r);
    o[6] = __half2float(__hmax(a, b)) + (__hlt(a, b) ? 1000.0f : 0.0f);
    o[7] = __bfloat162float(__hfma(c, d, c));
}

// packed half atomics and comparisons
extern "C" __global__ void half_atomics(__half2 *h2, __nv_bfloat162 *b2, float *cmp)
{
    atomicAdd(h2, __halves2half2(__float2half(1.0f), __float2half(0.5f)));
    atomicAdd(b2, __floats2bfloat162_rn(2.0f, 0.25f));
    __half2 x = __halves2half2(__float2half(threadIdx.x * 1.0f), __float2half(3.0f));
    __half2 y = __halves2half2(__float2half(5.0f), __float2half(threadIdx.x * 1.0f));
    __half2 lt = __hlt2(x, y);
    cmp[threadIdx.x] = __low2float(lt) * 10 + __high2float(lt) + (__hbgt2(x, y) ? 100.0f : 0.0f);
}
