// Shared memory, barriers, shared atomics, dynamic shared; compiled to ../shared.ptx.
extern "C" __global__ void reduce(const float *in, float *out, int n)
{
    __shared__ float s[256];
    int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < n ? in[i] : 0.0f;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (t < k) s[t] += s[t + k];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

extern "C" __global__ void histo(const unsigned char *in, unsigned *bins, int n)
{
    __shared__ unsigned h[16];
    if (threadIdx.x < 16) h[threadIdx.x] = 0;
    __syncthreads();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        atomicAdd(&h[in[i] & 15], 1u);
    __syncthreads();
    if (threadIdx.x < 16) atomicAdd(&bins[threadIdx.x], h[threadIdx.x]);
}

extern "C" __global__ void dynrev(int *data)
{
    extern __shared__ int d[];
    int t = threadIdx.x, n = blockDim.x;
    d[t] = data[blockIdx.x * n + t];
    __syncthreads();
    data[blockIdx.x * n + t] = d[n - 1 - t];
}

extern "C" __global__ void syncops(int *out)
{
    int t = threadIdx.x;
    int c = __syncthreads_count(t % 3 == 0);
    int a = __syncthreads_and(t < 1000);
    int o = __syncthreads_or(t == 5);
    out[t] = c * 100 + a * 10 + o;
}
