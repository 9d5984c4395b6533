// An unmodified CUDA runtime program that builds graphs with host nodes, a memory allocation
// node, a conditional WHILE node whose body kernel counts and sets the condition with
// cudaGraphSetConditional, and updates an executable graph with cudaGraphExecUpdate.
// Run on softgpu by the test softgpu_cudart_graph.
#include <cstdio>
#include <cuda_runtime.h>

#define CHECK(x)                                                                          \
    do {                                                                                  \
        cudaError_t e_ = (x);                                                             \
        if (e_ != cudaSuccess) {                                                          \
            printf("FAILED %s: %s\n", #x, cudaGetErrorString(e_));                       \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

__global__ void fill(int *p, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v;
}

__global__ void count_up(cudaGraphConditionalHandle h, int *counter, int limit)
{
    int c = ++*counter;
    cudaGraphSetConditional(h, c < limit ? 1 : 0);
}

static int host_seen[4];
static int host_n;
static void CUDART_CB record(void *arg) { host_seen[host_n++] = *(int *)arg; }

int main()
{
    const int n = 1024;
    int tags[2] = {1, 2};
    // host nodes in order around a kernel writing to a graph allocation
    cudaGraph_t g;
    CHECK(cudaGraphCreate(&g, 0));
    cudaMemAllocNodeParams ap = {};
    ap.poolProps.allocType = cudaMemAllocationTypePinned;
    ap.poolProps.location.type = cudaMemLocationTypeDevice;
    ap.poolProps.location.id = 0;
    ap.bytesize = n * sizeof(int);
    cudaGraphNode_t alloc, h1, k, h2;
    CHECK(cudaGraphAddMemAllocNode(&alloc, g, nullptr, 0, &ap));
    int *buf = (int *)ap.dptr;
    cudaHostNodeParams hp = {record, &tags[0]};
    CHECK(cudaGraphAddHostNode(&h1, g, &alloc, 1, &hp));
    int v = 5, cnt = n;
    void *args[] = {&buf, &cnt, &v};
    cudaKernelNodeParams kp = {};
    kp.func = (void *)fill;
    kp.gridDim = dim3(n / 256);
    kp.blockDim = dim3(256);
    kp.kernelParams = args;
    CHECK(cudaGraphAddKernelNode(&k, g, &h1, 1, &kp));
    hp.userData = &tags[1];
    CHECK(cudaGraphAddHostNode(&h2, g, &k, 1, &hp));
    cudaGraphExec_t x;
    CHECK(cudaGraphInstantiate(&x, g, 0));
    CHECK(cudaGraphLaunch(x, 0));
    CHECK(cudaStreamSynchronize(0));
    int out[n];
    CHECK(cudaMemcpy(out, buf, sizeof out, cudaMemcpyDeviceToHost));
    printf("host nodes %d,%d buf[1023]=%d\n", host_seen[0], host_seen[1], out[n - 1]);
    // cudaGraphExecUpdate: the same topology with another value
    cudaGraph_t g2;
    CHECK(cudaGraphCreate(&g2, 0));
    v = 9;
    cudaGraphNode_t k2;
    CHECK(cudaGraphAddKernelNode(&k2, g2, nullptr, 0, &kp));
    cudaGraphExec_t x2;
    CHECK(cudaGraphInstantiate(&x2, g2, 0));
    v = 11;
    cudaGraph_t g3;
    CHECK(cudaGraphCreate(&g3, 0));
    cudaGraphNode_t k3;
    CHECK(cudaGraphAddKernelNode(&k3, g3, nullptr, 0, &kp));
    cudaGraphExecUpdateResultInfo info;
    CHECK(cudaGraphExecUpdate(x2, g3, &info));
    CHECK(cudaGraphLaunch(x2, 0));
    CHECK(cudaMemcpy(out, buf, sizeof out, cudaMemcpyDeviceToHost));
    printf("updated buf[0]=%d result=%d\n", out[0], (int)info.result);
    CHECK(cudaFree(buf));
    // a conditional WHILE loop counted in a kernel
    int *counter;
    CHECK(cudaMalloc(&counter, sizeof(int)));
    CHECK(cudaMemset(counter, 0, sizeof(int)));
    cudaGraph_t cg;
    CHECK(cudaGraphCreate(&cg, 0));
    cudaGraphConditionalHandle handle;
    CHECK(cudaGraphConditionalHandleCreate(&handle, cg, 1, cudaGraphCondAssignDefault));
    cudaGraphNodeParams cp = {};
    cp.type = cudaGraphNodeTypeConditional;
    cp.conditional.handle = handle;
    cp.conditional.type = cudaGraphCondTypeWhile;
    cp.conditional.size = 1;
    cudaGraphNode_t cnode;
    CHECK(cudaGraphAddNode(&cnode, cg, nullptr, nullptr, 0, &cp));
    cudaGraph_t body = cp.conditional.phGraph_out[0];
    int limit = 7;
    void *cargs[] = {&handle, &counter, &limit};
    cudaKernelNodeParams ckp = {};
    ckp.func = (void *)count_up;
    ckp.gridDim = dim3(1);
    ckp.blockDim = dim3(1);
    ckp.kernelParams = cargs;
    cudaGraphNode_t bk;
    CHECK(cudaGraphAddKernelNode(&bk, body, nullptr, 0, &ckp));
    cudaGraphExec_t cx;
    CHECK(cudaGraphInstantiate(&cx, cg, 0));
    CHECK(cudaGraphLaunch(cx, 0));
    int c = 0;
    CHECK(cudaMemcpy(&c, counter, sizeof c, cudaMemcpyDeviceToHost));
    printf("while loop count=%d\n", c);
    CHECK(cudaGraphExecDestroy(cx));
    CHECK(cudaGraphExecDestroy(x));
    CHECK(cudaGraphExecDestroy(x2));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaGraphDestroy(g2));
    CHECK(cudaGraphDestroy(g3));
    CHECK(cudaGraphDestroy(cg));
    CHECK(cudaFree(counter));
    bool ok = host_seen[0] == 1 && host_seen[1] == 2 && c == 7;
    printf("cudart graph %s\n", ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
