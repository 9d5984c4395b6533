// An ordinary CUDA runtime program (static cudart, the nvcc default). The softgpu_cudart_app
// test runs it unchanged with softgpu first on LD_LIBRARY_PATH as libcuda.so.1.
#include <cstdio>

__constant__ float c_scale = 2.0f;
__device__ float g_bias;

__global__ void saxpy(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = c_scale * x[i] + y[i] + g_bias;
    if (i == 0)
        printf("device says hello from block %d\n", blockIdx.x);
}

#define CHECK(call)                                                                     \
    do {                                                                                \
        cudaError_t e_ = (call);                                                        \
        if (e_ != cudaSuccess) {                                                        \
            printf("FAIL %s: %s\n", #call, cudaGetErrorString(e_));                     \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

int main()
{
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("devices=%d name=%s cc=%d.%d sms=%d\n", count, prop.name, prop.major, prop.minor,
           prop.multiProcessorCount);
    const int n = 1000;
    float hx[n], hy[n];
    for (int i = 0; i < n; i++) {
        hx[i] = (float)i;
        hy[i] = 1.0f;
    }
    float *dx, *dy;
    CHECK(cudaMalloc(&dx, n * sizeof(float)));
    CHECK(cudaMalloc(&dy, n * sizeof(float)));
    CHECK(cudaMemcpy(dx, hx, sizeof hx, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dy, hy, sizeof hy, cudaMemcpyHostToDevice));
    float bias = 0.5f;
    CHECK(cudaMemcpyToSymbol(g_bias, &bias, sizeof bias));
    cudaStream_t s;
    cudaEvent_t a, b;
    CHECK(cudaStreamCreate(&s));
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    CHECK(cudaEventRecord(a, s));
    saxpy<<<(n + 255) / 256, 256, 0, s>>>(dx, dy, n);
    CHECK(cudaGetLastError());
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaStreamSynchronize(s));
    float ms = -1;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    CHECK(cudaMemcpy(hy, dy, sizeof hy, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (hy[i] != 2.0f * i + 1.5f)
            bad++;
    cudaFuncAttributes fa;
    CHECK(cudaFuncGetAttributes(&fa, saxpy));
    int blocks = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, saxpy, 256, 0));
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
    CHECK(cudaDeviceSynchronize());
    printf("y[10]=%.1f mismatches=%d maxThreads=%d blocksPerSM=%d elapsed_ok=%d\n", hy[10], bad,
           fa.maxThreadsPerBlock, blocks, ms >= 0.0f);
    printf(bad == 0 ? "cudart app ok\n" : "cudart app FAILED\n");
    return bad != 0;
}
