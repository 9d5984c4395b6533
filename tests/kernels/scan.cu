// Corpus: block-level scans (one block of up to 1024 threads scans its slice of the input).
// Inclusive: warp shuffles then a scan of the warp totals. Exclusive: Hillis-Steele in shared
// memory with double buffering.
extern "C" __global__ void scan_inclusive(const int *in, int *out, int n)
{
    __shared__ int warp_tot[32];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int v = i < n ? in[i] : 0;
    for (int off = 1; off < 32; off <<= 1) {
        int up = __shfl_up_sync(0xffffffffu, v, off);
        if (lane >= off)
            v += up;
    }
    if (lane == 31)
        warp_tot[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int t = lane < blockDim.x / 32 ? warp_tot[lane] : 0;
        for (int off = 1; off < 32; off <<= 1) {
            int up = __shfl_up_sync(0xffffffffu, t, off);
            if (lane >= off)
                t += up;
        }
        warp_tot[lane] = t;
    }
    __syncthreads();
    if (warp > 0)
        v += warp_tot[warp - 1];
    if (i < n)
        out[i] = v;
}

extern "C" __global__ void scan_exclusive(const int *in, int *out, int n)
{
    extern __shared__ int buf[]; // 2 * blockDim.x ints
    int tid = threadIdx.x, i = blockIdx.x * blockDim.x + tid;
    int pout = 0, pin = 1; // swapped before each step: the first step reads buffer 0
    buf[tid] = (i < n && tid > 0) ? in[i - 1] : 0;
    __syncthreads();
    for (int off = 1; off < blockDim.x; off <<= 1) {
        pout = 1 - pout;
        pin = 1 - pout;
        int v = buf[pin * blockDim.x + tid];
        if (tid >= off)
            v += buf[pin * blockDim.x + tid - off];
        buf[pout * blockDim.x + tid] = v;
        __syncthreads();
    }
    if (i < n)
        out[i] = buf[pout * blockDim.x + tid];
}
