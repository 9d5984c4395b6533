// Device-side helpers shared by the kernel corpus (the .cu files in this folder): the global
// thread index, a shared-memory block sum, and a row store for kernels that write several
// results per thread. They live here so each kernel keeps only what it is testing.
//
// May call: CUDA device built-ins only (no library headers), so that including it adds nothing
// to a kernel's PTX but the code actually used.
#pragma once

// The thread's index in a one-dimensional grid.
__device__ __forceinline__ int kt_global_index()
{
    return blockIdx.x * blockDim.x + threadIdx.x;
}

// Tree sum of every thread's v in shared memory s (one slot per thread; blockDim.x a power of
// two). Returns the block's total in every thread, after a barrier.
template <typename T> __device__ __forceinline__ T kt_block_sum(T *s, T v)
{
    s[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half)
            s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    return s[0];
}

// Stores N results of thread i at out[N * i + k] (k in order), for kernels that compute a row.
template <typename T, int N>
__device__ __forceinline__ void kt_store_row(T *out, int i, const T (&vals)[N])
{
    T *o = out + N * i;
    for (int k = 0; k < N; k++)
        o[k] = vals[k];
}
