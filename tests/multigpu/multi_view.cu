// multi_view: a cudart program on several vGPUs (tfuse run --gpus N): it must see exactly as
// many devices as limits given (argv), each device's cudaMemGetInfo total = its vGPU's limit and
// totalGlobalMem the same, an allocation past a device's free memory refused with
// cudaErrorMemoryAllocation while half of it succeeds, a kernel on each device, and device N
// invalid. Prints "device I total T free F" per device and "ok".
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void fill(unsigned *out, unsigned value)
{
    out[threadIdx.x] = value + threadIdx.x;
}

#define EXPECT(cond, ...)                                   \
    do {                                                    \
        if (!(cond)) {                                      \
            printf("FAIL line %d: ", __LINE__);             \
            printf(__VA_ARGS__);                            \
            printf("\n");                                   \
            return 1;                                       \
        }                                                   \
    } while (0)

int main(int argc, char **argv)
{
    int n = argc - 1, count = -1;
    cudaError_t e0 = cudaGetDeviceCount(&count);
    EXPECT(e0 == cudaSuccess, "cudaGetDeviceCount: %s", cudaGetErrorName(e0));
    EXPECT(count == n, "%d devices, expected %d", count, n);
    EXPECT(cudaSetDevice(n) == cudaErrorInvalidDevice, "device %d accepted", n);
    unsigned *out[16];
    for (int i = 0; i < n; i++) {
        size_t limit = strtoull(argv[i + 1], nullptr, 0), freeb = 0, total = 0;
        EXPECT(cudaSetDevice(i) == cudaSuccess, "cudaSetDevice(%d)", i);
        EXPECT(cudaMalloc(&out[i], 32 * sizeof(unsigned)) == cudaSuccess, "cudaMalloc %d", i);
        EXPECT(cudaMemGetInfo(&freeb, &total) == cudaSuccess, "cudaMemGetInfo %d", i);
        printf("device %d total %zu free %zu\n", i, total, freeb);
        cudaDeviceProp prop;
        EXPECT(cudaGetDeviceProperties(&prop, i) == cudaSuccess, "properties %d", i);
        EXPECT(total == limit && prop.totalGlobalMem == limit, "device %d total %zu prop %zu, "
               "limit %zu", i, total, prop.totalGlobalMem, limit);
        void *p = nullptr;
        cudaError_t e = cudaMalloc(&p, freeb + (1u << 20));
        EXPECT(e == cudaErrorMemoryAllocation, "device %d over limit: %s", i, cudaGetErrorName(e));
        cudaGetLastError();
        EXPECT(cudaMalloc(&p, freeb / 2) == cudaSuccess, "device %d: half of free refused", i);
        fill<<<1, 32>>>(out[i], 1000u * (i + 1));
        EXPECT(cudaGetLastError() == cudaSuccess, "launch on device %d", i);
    }
    for (int i = 0; i < n; i++) {
        unsigned got[32];
        EXPECT(cudaSetDevice(i) == cudaSuccess, "cudaSetDevice(%d)", i);
        EXPECT(cudaMemcpy(got, out[i], sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess,
               "copy back %d", i);
        for (unsigned t = 0; t < 32; t++)
            EXPECT(got[t] == 1000u * (i + 1) + t, "device %d wrote %u at %u", i, got[t], t);
    }
    printf("ok\n");
    return 0;
}
