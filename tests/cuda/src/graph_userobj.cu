// graph_userobj: what a graph holds of the program's own process (same host: the functions run in
// the program). A user object moved into a graph and held by its executable graph and by a
// launch in flight is destroyed once, by the program's destructor, only after the launch's work
// and after both graph and executable graph are gone; references of the program and of a second
// graph come and go without destroying it; a handle that is no user object is refused. Host
// nodes read back as the program's function and argument, changed in the graph and in the
// executable graph. A memcpy node from page-locked memory reads back the program's pointer and
// copies from another buffer once changed.
#include <cstring>
#include <unistd.h>
#include <cuda.h>
#include "cu_check.h"

enum { N = 64 };

struct trace {
    int work_done, a_calls, b_calls;
};

static volatile int destroyed, destroyed_after_work;

static void CUDA_CB note_a(void *arg)
{
    struct trace *t = (struct trace *)arg;
    t->a_calls++;
    t->work_done = 1;
}

static void CUDA_CB note_b(void *arg)
{
    ((struct trace *)arg)->b_calls++;
}

static void CUDA_CB destroy(void *arg)
{
    destroyed_after_work = ((struct trace *)arg)->work_done;
    destroyed++;
}

static void wait_destroyed(int want)
{
    for (int i = 0; i < 500 && destroyed < want; i++)
        usleep(10000);
    usleep(50000);   // and no second time
    if (destroyed != want)
        FAIL("the destructor ran %d times, expected %d", destroyed, want);
}

static void user_objects(CUstream s)
{
    struct trace t = {};
    CUuserObject o;
    CU(cuUserObjectCreate(&o, &t, destroy, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC));
    CU(cuUserObjectRetain(o, 2));
    CU(cuUserObjectRelease(o, 2));
    EXPECT_CU(cuUserObjectRetain((CUuserObject)&t, 1), CUDA_ERROR_INVALID_VALUE);
    CUgraph g, other;
    CU(cuGraphCreate(&g, 0));
    CU(cuGraphCreate(&other, 0));
    CU(cuGraphRetainUserObject(other, o, 1, 0));
    CU(cuGraphReleaseUserObject(other, o, 1));
    CU(cuGraphDestroy(other));
    CUgraphNode h;
    CUDA_HOST_NODE_PARAMS hp = {note_a, &t};
    CU(cuGraphAddHostNode(&h, g, NULL, 0, &hp));
    CU(cuGraphRetainUserObject(g, o, 1, CU_GRAPH_USER_OBJECT_MOVE));   // our reference
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    CU(cuGraphDestroy(g));
    if (destroyed)
        FAIL("destroyed while its executable graph holds it");
    CU(cuGraphLaunch(x, s));
    CU(cuGraphExecDestroy(x));           // the launch still holds it
    CU(cuStreamSynchronize(s));
    wait_destroyed(1);
    if (!destroyed_after_work || t.a_calls != 1)
        FAIL("destroyed before the launch's work (host node ran %d times)", t.a_calls);
}

static void host_nodes(CUstream s)
{
    struct trace t = {};
    CUgraph g;
    CUgraphNode h;
    CU(cuGraphCreate(&g, 0));
    CUDA_HOST_NODE_PARAMS hp = {note_a, &t}, got;
    CU(cuGraphAddHostNode(&h, g, NULL, 0, &hp));
    CU(cuGraphHostNodeGetParams(h, &got));
    if (got.fn != note_a || got.userData != &t)
        FAIL("host node read back as another function");
    hp.fn = note_b;
    CU(cuGraphHostNodeSetParams(h, &hp));
    CU(cuGraphHostNodeGetParams(h, &got));
    if (got.fn != note_b)
        FAIL("host node change not read back");
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    CU(cuGraphLaunch(x, s));
    CU(cuStreamSynchronize(s));
    hp.fn = note_a;
    CU(cuGraphExecHostNodeSetParams(x, h, &hp));
    CU(cuGraphLaunch(x, s));
    CU(cuStreamSynchronize(s));
    CU(cuGraphHostNodeGetParams(h, &got));
    if (t.a_calls != 1 || t.b_calls != 1 || got.fn != note_b)
        FAIL("host nodes ran a %d and b %d times", t.a_calls, t.b_calls);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));
}

static void pinned_copies(CUstream s)
{
    int *one, *two, back[N];
    CUdeviceptr d;
    CU(cuMemAllocHost((void **)&one, N * sizeof(int)));
    CU(cuMemAllocHost((void **)&two, N * sizeof(int)));
    CU(cuMemAlloc(&d, N * sizeof(int)));
    for (int i = 0; i < N; i++)
        one[i] = i, two[i] = 1000 + i;
    CUDA_MEMCPY3D c, got;
    memset(&c, 0, sizeof c);
    c.srcMemoryType = CU_MEMORYTYPE_HOST, c.srcHost = one;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE, c.dstDevice = d;
    c.WidthInBytes = N * sizeof(int), c.Height = c.Depth = 1;
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CUgraph g;
    CUgraphNode n;
    CU(cuGraphCreate(&g, 0));
    CU(cuGraphAddMemcpyNode(&n, g, NULL, 0, &c, ctx));
    CU(cuGraphMemcpyNodeGetParams(n, &got));
    if (got.srcMemoryType != CU_MEMORYTYPE_HOST || got.srcHost != one || got.dstDevice != d)
        FAIL("memcpy node read back another host pointer");
    c.srcHost = two;
    CU(cuGraphMemcpyNodeSetParams(n, &c));
    CU(cuGraphMemcpyNodeGetParams(n, &got));
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    CU(cuGraphLaunch(x, s));
    CU(cuStreamSynchronize(s));
    CU(cuMemcpyDtoH(back, d, sizeof back));
    if (got.srcHost != two || back[0] != 1000 || back[N - 1] != 1000 + N - 1)
        FAIL("changed memcpy node copied %d", back[0]);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));
    CU(cuMemFree(d));
    CU(cuMemFreeHost(one));
    CU(cuMemFreeHost(two));
}

int main()
{
    CHECK(cudaFree(0));
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    user_objects(s);
    host_nodes(s);
    pinned_copies(s);
    CU(cuStreamDestroy(s));
    printf("graph_userobj: OK destructor once after the work, graph and executable graph; host "
           "and pinned memcpy nodes read back and changed\n");
    return 0;
}
