// graph_host: host nodes run the program's own functions, in the program, in graph order: a
// kernel writes, a host node reads the result back and records it, a second kernel runs after
// the host node, and a host node closes the graph; the graph is launched three times. Then a
// host function launched on a capturing stream runs at each launch of the captured graph.
#include <cstring>
#include "check.h"

enum { N = 256 };

struct trace {
    int calls, order[8], last_seen;
    int *host;
};

__global__ void add(int *p, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N)
        p[i] += v;
}

static void CUDART_CB note_first(void *arg)
{
    struct trace *t = (struct trace *)arg;
    if (t->calls < 8)
        t->order[t->calls] = 1;
    t->calls++;
}

static void CUDART_CB note_last(void *arg)
{
    struct trace *t = (struct trace *)arg;
    if (t->calls < 8)
        t->order[t->calls] = 2;
    t->calls++;
}

int main()
{
    int *d;
    CHECK(cudaMalloc(&d, N * sizeof(int)));
    CHECK(cudaMemset(d, 0, N * sizeof(int)));
    struct trace t = {};
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    int one = 1, ten = 10;
    void *a1[] = {&d, &one}, *a2[] = {&d, &ten};
    cudaKernelNodeParams kp = {};
    kp.func = (void *)add, kp.gridDim = dim3(1), kp.blockDim = dim3(N);
    kp.kernelParams = a1;
    cudaGraphNode_t k1, h1, k2, h2;
    CHECK(cudaGraphAddKernelNode(&k1, g, NULL, 0, &kp));
    cudaHostNodeParams hp = {note_first, &t};
    CHECK(cudaGraphAddHostNode(&h1, g, &k1, 1, &hp));
    kp.kernelParams = a2;
    CHECK(cudaGraphAddKernelNode(&k2, g, &h1, 1, &kp));
    cudaHostNodeParams hp2 = {note_last, &t};
    CHECK(cudaGraphAddHostNode(&h2, g, &k2, 1, &hp2));
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, g, 0));
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    for (int i = 0; i < 3; i++)
        CHECK(cudaGraphLaunch(x, s));
    CHECK(cudaStreamSynchronize(s));
    static int h[N];
    CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    if (h[0] != 33 || h[N - 1] != 33)
        FAIL("three launches of +1 and +10: %d %d", h[0], h[N - 1]);
    if (t.calls != 6)
        FAIL("host functions ran %d times, expected 6", t.calls);
    for (int i = 0; i < 6; i++)
        if (t.order[i] != (i % 2 ? 2 : 1))
            FAIL("host function %d ran out of order", i);
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(g));

    // a host function launched on a capturing stream becomes a host node of the graph
    struct trace c = {};
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    add<<<1, N, 0, s>>>(d, 100);
    CHECK_LAUNCH();
    CHECK(cudaLaunchHostFunc(s, note_first, &c));
    CHECK(cudaStreamEndCapture(s, &g));
    if (c.calls != 0)
        FAIL("a captured host function ran at capture");
    CHECK(cudaGraphInstantiate(&x, g, 0));
    CHECK(cudaGraphLaunch(x, s));
    CHECK(cudaGraphLaunch(x, s));
    CHECK(cudaStreamSynchronize(s));
    if (c.calls != 2)
        FAIL("the captured host function ran %d times, expected 2", c.calls);
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d));
    printf("graph_host: OK 6 host functions in the program, in graph order; 2 captured\n");
    return 0;
}
