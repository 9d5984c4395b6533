// ptds: built with --default-stream per-thread, so cudart calls the driver's per-thread
// default-stream entry points (_ptds/_ptsz). Two host threads each use "the" default stream;
// each thread's work and copies must stay in its own order. The default stream is the
// per-thread stream, not the legacy one.
#include "check.h"

__global__ void affine(int *p, int n, int a, int b)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * a + b;
}

struct job {
    int seed, ok;
};

static void *work(void *arg)
{
    struct job *j = (struct job *)arg;
    const int n = 30000;
    int *d, *h;
    CHECK(cudaMalloc(&d, n * sizeof(int)));
    CHECK(cudaMallocHost(&h, n * sizeof(int)));
    for (int i = 0; i < n; i++)
        h[i] = i + j->seed;
    CHECK(cudaMemcpyAsync(d, h, n * sizeof(int), cudaMemcpyHostToDevice, cudaStreamPerThread));
    affine<<<(n + 255) / 256, 256>>>(d, n, 3, 1);  /* the per-thread default stream */
    CHECK_LAUNCH();
    affine<<<(n + 255) / 256, 256, 0, cudaStreamPerThread>>>(d, n, 2, -5);
    CHECK_LAUNCH();
    CHECK(cudaMemcpyAsync(h, d, n * sizeof(int), cudaMemcpyDeviceToHost, 0));
    CHECK(cudaStreamSynchronize(cudaStreamPerThread));
    j->ok = 1;
    for (int i = 0; i < n; i++)
        if (h[i] != ((i + j->seed) * 3 + 1) * 2 - 5)
            j->ok = 0;
    CHECK(cudaFree(d));
    CHECK(cudaFreeHost(h));
    return NULL;
}

int main()
{
    struct job a = { 1, 0 }, b = { 100000, 0 };
    CHECK(cudaFree(0));
    unsigned long long per_thread = 0, legacy = 0;   /* two streams, not one under two names */
    CHECK(cudaStreamGetId(0, &per_thread));
    CHECK(cudaStreamGetId(cudaStreamLegacy, &legacy));
    if (per_thread == legacy)
        FAIL("the default stream is the legacy stream (id %llu)", legacy);
    run_on_two_threads(work, &a, &b);
    if (!a.ok || !b.ok)
        FAIL("main thread %s, second thread %s", a.ok ? "ok" : "wrong", b.ok ? "ok" : "wrong");
    printf("ptds: OK 2 host threads on per-thread default streams\n");
    return 0;
}
