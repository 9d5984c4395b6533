// SIMD video intrinsics, cp.async and the device heap; compiled to ../extra.ptx.
#include <cuda_pipeline.h>
extern "C" __global__ void simd(const unsigned *x, const unsigned *y, unsigned *out)
{
    int t = threadIdx.x;
    unsigned a = x[t], b = y[t];
    unsigned *o = out + t * 8;
    o[0] = __vabsdiffu4(a, b);
    o[1] = __vadd4(a, b);
    o[2] = __vsub2(a, b);
    o[3] = __vmaxu4(a, b);
    o[4] = __vmins2(a, b);
    o[5] = __vavgu4(a, b);
    o[6] = __vsadu4(a, b);
    o[7] = __vaddss2(a, b);
}

extern "C" __global__ void async_copy(const int4 *in, int4 *out)
{
    __shared__ int4 s[64];
    __pipeline_memcpy_async(&s[threadIdx.x], &in[threadIdx.x], sizeof(int4));
    __pipeline_commit();
    __pipeline_wait_prior(0);
    __syncthreads();
    out[threadIdx.x] = s[63 - threadIdx.x];
}

extern "C" __global__ void heap(int *out)
{
    int n = threadIdx.x + 1;
    int *p = (int *)malloc(n * sizeof(int));
    if (!p) { out[threadIdx.x] = -1; return; }
    for (int i = 0; i < n; i++) p[i] = i;
    int s = 0;
    for (int i = 0; i < n; i++) s += p[i];
    free(p);
    out[threadIdx.x] = s;
}
