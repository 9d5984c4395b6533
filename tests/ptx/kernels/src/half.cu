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
