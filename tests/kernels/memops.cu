// Corpus: 128-bit vector loads/stores (float4), read-only loads (__ldg, ld.global.nc) and
// float atomics (atom/red.add.f32).

extern "C" __global__ void vec4_scale(const float4 *__restrict__ in, float4 *__restrict__ out,
                                      float *total, int n4)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n4)
        return;
    float4 v = __ldg(&in[i]);
    out[i] = make_float4(v.w * 2.0f, v.z * 2.0f, v.y * 2.0f, v.x * 2.0f);
    atomicAdd(total, v.x + v.y + v.z + v.w);
}
