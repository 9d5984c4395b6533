// threads: a second host thread uses the device (its own stream and buffers) while the main
// thread does the same; both results are checked.
#include "check.h"

__global__ void iota_times(int *p, int n, int k)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = i * k;
}

struct job {
    int k;
    int ok;
};

static void *work(void *arg)
{
    struct job *j = (struct job *)arg;
    const int n = 20000;
    int *d, *h;
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    CHECK(cudaMalloc(&d, n * sizeof(int)));
    CHECK(cudaMallocHost(&h, n * sizeof(int)));
    for (int round = 0; round < 3; round++) {
        iota_times<<<(n + 255) / 256, 256, 0, s>>>(d, n, j->k + round);
        CHECK_LAUNCH();
        CHECK(cudaMemcpyAsync(h, d, n * sizeof(int), cudaMemcpyDeviceToHost, s));
        CHECK(cudaStreamSynchronize(s));
        for (int i = 0; i < n; i++)
            if (h[i] != i * (j->k + round))
                return NULL;
    }
    CHECK(cudaFree(d));
    CHECK(cudaFreeHost(h));
    CHECK(cudaStreamDestroy(s));
    j->ok = 1;
    return NULL;
}

int main()
{
    struct job mine = { 3, 0 }, other = { 7, 0 };
    CHECK(cudaFree(0)); /* the main thread's context exists before the second thread starts */
    run_on_two_threads(work, &mine, &other);
    if (!mine.ok || !other.ok)
        FAIL("main thread %s, second thread %s", mine.ok ? "ok" : "wrong", other.ok ? "ok" : "wrong");
    int dev = -1;
    CHECK(cudaGetDevice(&dev));
    printf("threads: OK 2 host threads on device %d\n", dev);
    return 0;
}
