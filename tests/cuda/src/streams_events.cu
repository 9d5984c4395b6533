// streams_events: two streams, async copies, events with elapsed times, and a cross-stream
// dependency (stream 2 waits on an event recorded in stream 1).
#include "check.h"

__global__ void fill(int *p, int n, int base)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = base + i;
}

__global__ void add_from(int *dst, const int *src, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] += 2 * src[i];
}

int main()
{
    const int n = 1 << 16;
    const size_t bytes = n * sizeof(int);
    cudaStream_t s1, s2;
    cudaEvent_t start, produced, stop;
    int *d1, *d2, *h;

    CHECK(cudaStreamCreate(&s1));
    CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&produced));
    CHECK(cudaEventCreate(&stop));
    CHECK(cudaMalloc(&d1, bytes));
    CHECK(cudaMalloc(&d2, bytes));
    CHECK(cudaMallocHost(&h, bytes));

    CHECK(cudaEventRecord(start, s1));
    fill<<<(n + 255) / 256, 256, 0, s1>>>(d1, n, 1000);
    CHECK_LAUNCH();
    CHECK(cudaEventRecord(produced, s1));
    fill<<<(n + 255) / 256, 256, 0, s2>>>(d2, n, 0);
    CHECK_LAUNCH();
    CHECK(cudaStreamWaitEvent(s2, produced, 0));
    add_from<<<(n + 255) / 256, 256, 0, s2>>>(d2, d1, n);
    CHECK_LAUNCH();
    CHECK(cudaMemcpyAsync(h, d2, bytes, cudaMemcpyDeviceToHost, s2));
    CHECK(cudaEventRecord(stop, s2));
    CHECK(cudaEventSynchronize(stop));
    CHECK(cudaEventQuery(stop));
    CHECK(cudaStreamSynchronize(s1));
    CHECK(cudaStreamQuery(s1));

    for (int i = 0; i < n; i++)
        if (h[i] != i + 2 * (1000 + i))
            FAIL("h[%d] = %d, expected %d", i, h[i], i + 2 * (1000 + i));

    float ms_total = -1, ms_first = -1;
    CHECK(cudaEventElapsedTime(&ms_total, start, stop));
    CHECK(cudaEventElapsedTime(&ms_first, start, produced));
    if (!(ms_total >= 0.0f && ms_total < 60000.0f))
        FAIL("elapsed start->stop = %f ms", ms_total);
    if (!(ms_first >= 0.0f && ms_first <= ms_total + 0.001f))
        FAIL("elapsed start->produced = %f ms, start->stop = %f ms", ms_first, ms_total);

    CHECK(cudaEventDestroy(start));
    CHECK(cudaEventDestroy(produced));
    CHECK(cudaEventDestroy(stop));
    CHECK(cudaStreamDestroy(s1));
    CHECK(cudaStreamDestroy(s2));
    CHECK(cudaFree(d1));
    CHECK(cudaFree(d2));
    CHECK(cudaFreeHost(h));
    printf("streams_events: OK %d elements, 2 streams, 3 events, elapsed times ordered\n", n);
    return 0;
}
