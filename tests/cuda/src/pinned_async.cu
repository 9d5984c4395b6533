// pinned_async: page-locked host memory (cudaMallocHost, cudaHostRegister) and
// cudaMemcpyAsync in both directions, several chunks in flight on one stream.
#include <vector>
#include "check.h"

__global__ void scale(float *p, int n, float k)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * k + 1.0f;
}

int main()
{
    const int n = 1 << 18, chunks = 4, per = n / chunks;
    const size_t bytes = n * sizeof(float);
    float *h_in, *h_out, *d;
    cudaStream_t s;

    CHECK(cudaMallocHost(&h_in, bytes));
    std::vector<float> registered(n);
    CHECK(cudaHostRegister(registered.data(), bytes, cudaHostRegisterDefault));
    h_out = registered.data();
    CHECK(cudaMalloc(&d, bytes));
    CHECK(cudaStreamCreate(&s));
    for (int i = 0; i < n; i++)
        h_in[i] = (float)(i % 4096);

    for (int c = 0; c < chunks; c++) {
        size_t off = (size_t)c * per;
        CHECK(cudaMemcpyAsync(d + off, h_in + off, per * sizeof(float), cudaMemcpyHostToDevice, s));
        scale<<<(per + 255) / 256, 256, 0, s>>>(d + off, per, 3.0f);
        CHECK_LAUNCH();
        CHECK(cudaMemcpyAsync(h_out + off, d + off, per * sizeof(float), cudaMemcpyDeviceToHost, s));
    }
    CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < n; i++)
        if (h_out[i] != h_in[i] * 3.0f + 1.0f)
            FAIL("out[%d] = %f, expected %f", i, h_out[i], h_in[i] * 3.0f + 1.0f);

    unsigned int flags = 0;
    CHECK(cudaHostGetFlags(&flags, h_in));
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d));
    CHECK(cudaHostUnregister(registered.data()));
    CHECK(cudaFreeHost(h_in));
    printf("pinned_async: OK %d elements in %d chunks\n", n, chunks);
    return 0;
}
