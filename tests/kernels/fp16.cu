// Corpus: half and bfloat16 arithmetic and conversions.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

// out[i] = float(h(a)*h(b) + h(c)); out2[i] = half2 lane-wise sum; back[i] = __half bits.
extern "C" __global__ void half_ops(const float *a, const float *b, const float *c, float *out,
                                    float *out2, unsigned short *bits, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    __half ha = __float2half(a[i]), hb = __float2half(b[i]), hc = __float2half(c[i]);
    __half r = __hfma(ha, hb, hc);
    r = __hadd(r, __hmul(ha, __float2half(0.5f)));
    out[i] = __half2float(r);
    __half2 p = __floats2half2_rn(a[i], b[i]);
    __half2 q = __hadd2(p, __halves2half2(hc, hc));
    out2[i] = __low2float(q) + __high2float(q);
    bits[i] = __half_as_ushort(__float2half_rn(a[i] * 3.0f));
}

extern "C" __global__ void bf16_ops(const float *a, const float *b, float *out,
                                    unsigned short *bits, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    __nv_bfloat16 x = __float2bfloat16(a[i]), y = __float2bfloat16(b[i]);
    __nv_bfloat16 r = __hadd(__hmul(x, y), x);
    out[i] = __bfloat162float(r);
    bits[i] = __bfloat16_as_ushort(__float2bfloat16_rn(b[i]));
}
