// Corpus: sm_80 asynchronous global->shared copies (cp.async through the pipeline primitives).
#include <cuda_pipeline.h>

// Each block copies 4 * blockDim.x floats into shared memory with cp.async (16 bytes per
// thread), waits, then writes them back reversed.
extern "C" __global__ void cp_async_reverse(const float *in, float *out)
{
    extern __shared__ float4 stage[];
    const float4 *src = (const float4 *)in + blockIdx.x * blockDim.x;
    __pipeline_memcpy_async(&stage[threadIdx.x], &src[threadIdx.x], sizeof(float4));
    __pipeline_commit();
    __pipeline_wait_prior(0);
    __syncthreads();
    float4 v = stage[blockDim.x - 1 - threadIdx.x];
    ((float4 *)out)[blockIdx.x * blockDim.x + threadIdx.x] = make_float4(v.w, v.z, v.y, v.x);
}
