// callbacks: host functions queued on a stream (cudaLaunchHostFunc, cudaStreamAddCallback)
// run in order, after the work queued before them, and before the work queued after them.
#include "check.h"

__global__ void produce(int *p, int n, int k)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = i * k;
}

struct state {
    const int *host;     /* page-locked, written by the copy queued before the host function */
    int n;
    int order[4];
    int next;
    int saw_correct_data;
};

static void CUDART_CB check_data(void *arg)
{
    struct state *st = (struct state *)arg;
    int ok = 1;
    for (int i = 0; i < st->n; i++)
        ok &= st->host[i] == i * 5;
    st->saw_correct_data = ok;
    st->order[st->next++] = 1;
}

static void CUDART_CB second(cudaStream_t, cudaError_t status, void *arg)
{
    struct state *st = (struct state *)arg;
    st->order[st->next++] = status == cudaSuccess ? 2 : -2;
}

static void CUDART_CB third(void *arg)
{
    struct state *st = (struct state *)arg;
    st->order[st->next++] = 3;
}

int main()
{
    const int n = 8192;
    int *d, *h;
    cudaStream_t s;
    struct state st = {};
    CHECK(cudaStreamCreate(&s));
    CHECK(cudaMalloc(&d, n * sizeof(int)));
    CHECK(cudaMallocHost(&h, n * sizeof(int)));
    st.host = h;
    st.n = n;

    produce<<<n / 256, 256, 0, s>>>(d, n, 5);
    CHECK_LAUNCH();
    CHECK(cudaMemcpyAsync(h, d, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    CHECK(cudaLaunchHostFunc(s, check_data, &st));
    CHECK(cudaStreamAddCallback(s, second, &st, 0));
    produce<<<n / 256, 256, 0, s>>>(d, n, 9);
    CHECK_LAUNCH();
    CHECK(cudaLaunchHostFunc(s, third, &st));
    CHECK(cudaStreamSynchronize(s));

    if (st.next != 3 || st.order[0] != 1 || st.order[1] != 2 || st.order[2] != 3)
        FAIL("host functions ran %d times, order %d %d %d", st.next, st.order[0], st.order[1],
             st.order[2]);
    if (!st.saw_correct_data)
        FAIL("the host function ran before the copy queued ahead of it had finished");
    CHECK(cudaMemcpy(h, d, n * sizeof(int), cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; i++)
        if (h[i] != i * 9)
            FAIL("final p[%d] = %d", i, h[i]);
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d));
    CHECK(cudaFreeHost(h));
    printf("callbacks: OK 3 host functions in stream order\n");
    return 0;
}
