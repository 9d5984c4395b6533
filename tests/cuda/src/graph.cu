// graph: a CUDA graph captured from a stream (two kernels and a copy), instantiated once and
// replayed several times; each replay's effect is checked.
#include "check.h"

__global__ void add_one(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += 1;
}

__global__ void twice(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] *= 2;
}

int main()
{
    const int n = 4096, replays = 5;
    int *d, *h;
    cudaStream_t s;
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CHECK(cudaStreamCreate(&s));
    CHECK(cudaMalloc(&d, n * sizeof(int)));
    CHECK(cudaMallocHost(&h, n * sizeof(int)));
    for (int i = 0; i < n; i++)
        h[i] = i;
    CHECK(cudaMemcpy(d, h, n * sizeof(int), cudaMemcpyHostToDevice));

    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    add_one<<<n / 256, 256, 0, s>>>(d, n);
    twice<<<n / 256, 256, 0, s>>>(d, n);
    CHECK(cudaMemcpyAsync(h, d, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    CHECK(cudaStreamEndCapture(s, &g));

    size_t nodes = 0;
    CHECK(cudaGraphGetNodes(g, NULL, &nodes));
    if (nodes != 3)
        FAIL("captured %zu nodes, expected 3", nodes);
    CHECK(cudaGraphInstantiate(&ge, g, 0));

    for (int r = 1; r <= replays; r++) {
        CHECK(cudaGraphLaunch(ge, s));
        CHECK(cudaStreamSynchronize(s));
        for (int i = 0; i < n; i++) {
            long long want = i;
            for (int k = 0; k < r; k++)
                want = (want + 1) * 2;
            if (h[i] != want)
                FAIL("replay %d: p[%d] = %d, expected %lld", r, i, h[i], want);
        }
    }
    CHECK(cudaGraphExecDestroy(ge));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d));
    CHECK(cudaFreeHost(h));
    printf("graph: OK %zu nodes captured, %d replays\n", nodes, replays);
    return 0;
}
