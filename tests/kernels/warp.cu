// Corpus: warp-level primitives. Votes and ballots on per-thread predicates, and the four
// shuffle variants.
extern "C" __global__ void warp_vote(const int *in, unsigned *ballots, int *votes, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = i < n ? in[i] : 0;
    unsigned b = __ballot_sync(0xffffffffu, v > 0);
    int any = __any_sync(0xffffffffu, v > 100);
    int all = __all_sync(0xffffffffu, v >= 0);
    unsigned active = 0;
    if (v & 1) // a divergent region: only odd values are active
        active = __activemask();
    if (i < n) {
        ballots[i] = b;
        votes[i] = any | (all << 1) | (__popc(b) << 2);
        ballots[n + i] = active;
    }
}

extern "C" __global__ void shfl_variants(const int *in, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    int lane = threadIdx.x & 31;
    int a = __shfl_sync(0xffffffffu, v, (lane * 7) & 31);
    int b = __shfl_up_sync(0xffffffffu, v, 3);
    int c = __shfl_down_sync(0xffffffffu, v, 5);
    int d = __shfl_xor_sync(0xffffffffu, v, 9);
    int e = __shfl_sync(0xffffffffu, v, lane + 1, 8); // width 8 sub-warps
    int f = __shfl_down_sync(0xffffffffu, v, 2, 16);
    if (i < n) {
        out[6 * i + 0] = a;
        out[6 * i + 1] = b;
        out[6 * i + 2] = c;
        out[6 * i + 3] = d;
        out[6 * i + 4] = e;
        out[6 * i + 5] = f;
    }
}

// Block-wide votes: bar.red.popc / .and / .or through __syncthreads_count/and/or.
extern "C" __global__ void block_vote(const int *in, int *out)
{
    int v = in[blockIdx.x * blockDim.x + threadIdx.x];
    int count = __syncthreads_count(v > 0);
    int all = __syncthreads_and(v >= 0);
    int any = __syncthreads_or(v > 100);
    if (threadIdx.x == 0)
        out[blockIdx.x] = count | (all << 16) | (any << 17);
}
