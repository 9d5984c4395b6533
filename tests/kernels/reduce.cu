// Corpus: reductions. reduce_shfl: warp shuffles + shared memory, one partial sum per block.
// reduce_atomic: integer sum and maximum with global atomics (exact, order independent).
#include "kt_device.cuh"

extern "C" __global__ void reduce_shfl(const float *in, float *partial, int n)
{
    __shared__ float warp_sums[32];
    float v = 0.0f;
    for (int i = kt_global_index(); i < n; i += blockDim.x * gridDim.x)
        v += in[i];
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (blockDim.x + 31) / 32 ? warp_sums[lane] : 0.0f;
        for (int off = 16; off > 0; off >>= 1)
            v += __shfl_xor_sync(0xffffffffu, v, off);
        if (lane == 0)
            partial[blockIdx.x] = v;
    }
}

extern "C" __global__ void reduce_atomic(const int *in, int n, int *sum, int *max_out,
                                         unsigned long long *sum64)
{
    int i = kt_global_index();
    if (i >= n)
        return;
    atomicAdd(sum, in[i]);
    atomicMax(max_out, in[i]);
    atomicAdd(sum64, (unsigned long long)(unsigned)in[i]);
}

// The "last block" pattern (threadfence reduction): every block publishes its partial sum,
// fences, takes a ticket; the block that draws the last ticket adds the partials up.
__device__ unsigned int blocks_done;

extern "C" __global__ void reduce_last_block(const int *in, int n, int *partial, int *result)
{
    __shared__ int s[256];
    __shared__ bool is_last;
    int v = 0;
    for (int i = kt_global_index(); i < n; i += blockDim.x * gridDim.x)
        v += in[i];
    int sum = kt_block_sum(s, v);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = sum;
        __threadfence();
        unsigned ticket = atomicInc(&blocks_done, gridDim.x);
        is_last = ticket == gridDim.x - 1;
    }
    __syncthreads();
    if (is_last && threadIdx.x == 0) {
        int total = 0;
        for (int b = 0; b < gridDim.x; b++)
            total += ((volatile int *)partial)[b];
        *result = total;
        blocks_done = 0;
    }
}
