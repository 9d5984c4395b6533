// vram_view: what a cudart program sees of its vGPU's memory: cudaMemGetInfo's total and free,
// cudaDeviceProp.totalGlobalMem, and an allocation larger than the free memory refused.
#include <cstdio>
#include <cuda_runtime.h>

int main()
{
    size_t freeb = 0, total = 0;
    if (cudaFree(0) != cudaSuccess || cudaMemGetInfo(&freeb, &total) != cudaSuccess) {
        printf("FAIL cudaMemGetInfo\n");
        return 1;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        printf("FAIL cudaGetDeviceProperties\n");
        return 1;
    }
    printf("total %zu\nfree %zu\nprop %zu\n", total, freeb, prop.totalGlobalMem);
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, freeb + (1u << 20));
    printf("over limit: %s\n", e == cudaErrorMemoryAllocation ? "out of memory" : cudaGetErrorName(e));
    if (cudaMalloc(&p, freeb / 2) != cudaSuccess) {
        printf("FAIL half of free refused\n");
        return 1;
    }
    return prop.totalGlobalMem == total ? 0 : 1;
}
