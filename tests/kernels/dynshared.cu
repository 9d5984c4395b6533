// Corpus: dynamic shared memory. Each block reverses its slice; the slice size is blockDim.x
// and the shared buffer is sized at launch.
extern "C" __global__ void dyn_shared_reverse(const int *in, int *out, int n)
{
    extern __shared__ int s[];
    int base = blockIdx.x * blockDim.x, t = threadIdx.x;
    if (base + t < n)
        s[t] = in[base + t];
    __syncthreads();
    int src = blockDim.x - 1 - t;
    if (base + src < n && base + t < n)
        out[base + t] = s[src];
}
