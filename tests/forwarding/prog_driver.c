/*
 * A driver-API CUDA program with embedded PTX, run by the forwarding tests through
 * `tfuse run`: device queries, a context, allocations, copies both ways, a module from PTX,
 * kernel launches with a parameter layout learnt from the worker, streams, events, memsets,
 * asynchronous copies from page-locked memory, memory info. It checks every result on the host
 * and prints one line per step; it exits 0 only when all of them are right.
 * Modes (argv[1]): "all" (default), "loop N" (launch/sync N times then sleep: for fault tests),
 * "hold BYTES" (allocate, print "held 0xPTR", then wait to be killed), "meminfo" (print free
 * bytes), "probe 0xPTR" (try to read another session's device pointer: must be refused),
 * "fault" (a kernel writes through a bad pointer: the sticky error stays in this session).
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .entry vadd(.param .u64 a, .param .u64 b, .param .u64 c, .param .u32 n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .f32 %f<4>;\n"
    "  .reg .b32 %r<6>;\n"
    "  .reg .b64 %rd<11>;\n"
    "  ld.param.u64 %rd1, [a];\n"
    "  ld.param.u64 %rd2, [b];\n"
    "  ld.param.u64 %rd3, [c];\n"
    "  ld.param.u32 %r2, [n];\n"
    "  mov.u32 %r3, %ctaid.x;\n"
    "  mov.u32 %r4, %ntid.x;\n"
    "  mov.u32 %r5, %tid.x;\n"
    "  mad.lo.s32 %r1, %r3, %r4, %r5;\n"
    "  setp.ge.s32 %p1, %r1, %r2;\n"
    "  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd4, %rd1;\n"
    "  cvta.to.global.u64 %rd5, %rd2;\n"
    "  cvta.to.global.u64 %rd6, %rd3;\n"
    "  mul.wide.s32 %rd7, %r1, 4;\n"
    "  add.s64 %rd8, %rd4, %rd7;\n"
    "  add.s64 %rd9, %rd5, %rd7;\n"
    "  add.s64 %rd10, %rd6, %rd7;\n"
    "  ld.global.f32 %f1, [%rd8];\n"
    "  ld.global.f32 %f2, [%rd9];\n"
    "  add.f32 %f3, %f1, %f2;\n"
    "  st.global.f32 [%rd10], %f3;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n"
    ".visible .entry empty()\n"
    "{\n"
    "  ret;\n"
    "}\n";

static int failures;

#define CHECK(call)                                                                           \
    do {                                                                                      \
        CUresult r_ = (call);                                                                 \
        if (r_ != CUDA_SUCCESS) {                                                             \
            const char *name_ = NULL;                                                         \
            cuGetErrorName(r_, &name_);                                                       \
            printf("FAIL %s:%d %s -> %d %s\n", __FILE__, __LINE__, #call, (int)r_,             \
                   name_ ? name_ : "?");                                                      \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static void expect(int ok, const char *what)
{
    printf("%s: %s\n", what, ok ? "ok" : "WRONG");
    if (!ok)
        failures++;
}

struct env {
    CUcontext ctx;
    CUmodule mod;
    CUfunction vadd, empty;
};

static void setup(struct env *e)
{
    CUdevice dev;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&e->ctx, NULL, 0, dev));
    CHECK(cuModuleLoadData(&e->mod, ptx));
    CHECK(cuModuleGetFunction(&e->vadd, e->mod, "vadd"));
    CHECK(cuModuleGetFunction(&e->empty, e->mod, "empty"));
}

static void launch_vadd(struct env *e, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c, int n,
                        CUstream s)
{
    void *args[] = {&a, &b, &c, &n};
    CHECK(cuLaunchKernel(e->vadd, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, s, args, NULL));
}

static void test_devices(void)
{
    int version = 0, count = 0, major = 0;
    char name[256];
    size_t total = 0;
    CUdevice dev;
    CHECK(cuDriverGetVersion(&version));
    CHECK(cuDeviceGetCount(&count));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDeviceGetName(name, sizeof name, dev));
    CHECK(cuDeviceTotalMem(&total, dev));
    CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    expect(version >= 12000 && count >= 1 && total > 0 && major > 0 && name[0], "device queries");
    expect(cuDeviceGet(&dev, count) == CUDA_ERROR_INVALID_DEVICE, "bad ordinal refused");
}

static void test_vadd(struct env *e, int n)
{
    size_t bytes = (size_t)n * sizeof(float);
    float *ha = malloc(bytes), *hb = malloc(bytes), *hc = malloc(bytes);
    for (int i = 0; i < n; i++) {
        ha[i] = (float)i;
        hb[i] = 2.0f * (float)i;
    }
    CUdeviceptr a, b, c;
    CHECK(cuMemAlloc(&a, bytes));
    CHECK(cuMemAlloc(&b, bytes));
    CHECK(cuMemAlloc(&c, bytes));
    CHECK(cuMemcpyHtoD(a, ha, bytes));
    CHECK(cuMemcpyHtoD(b, hb, bytes));
    launch_vadd(e, a, b, c, n, NULL);
    CHECK(cuCtxSynchronize());
    CHECK(cuMemcpyDtoH(hc, c, bytes));
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= hc[i] == 3.0f * (float)i;
    expect(ok, "vadd");
    /* memset + copy back */
    CHECK(cuMemsetD32(c, 0x3f800000u, (size_t)n));   /* 1.0f */
    CHECK(cuMemcpyDtoH(hc, c, bytes));
    ok = 1;
    for (int i = 0; i < n; i++)
        ok &= hc[i] == 1.0f;
    expect(ok, "memset");
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(b));
    CHECK(cuMemFree(c));
    free(ha);
    free(hb);
    free(hc);
}

static void test_streams(struct env *e, int n)
{
    size_t bytes = (size_t)n * sizeof(float);
    float *ha, *hc;
    CHECK(cuMemAllocHost((void **)&ha, bytes));
    CHECK(cuMemAllocHost((void **)&hc, bytes));
    for (int i = 0; i < n; i++)
        ha[i] = (float)(i % 100);
    CUdeviceptr a, c;
    CHECK(cuMemAlloc(&a, bytes));
    CHECK(cuMemAlloc(&c, bytes));
    CUstream s;
    CUevent start, stop;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CHECK(cuEventCreate(&start, CU_EVENT_DEFAULT));
    CHECK(cuEventCreate(&stop, CU_EVENT_DEFAULT));
    CHECK(cuEventRecord(start, s));
    CHECK(cuMemcpyHtoDAsync(a, ha, bytes, s));
    launch_vadd(e, a, a, c, n, s);
    CHECK(cuMemcpyDtoHAsync(hc, c, bytes, s));
    CHECK(cuEventRecord(stop, s));
    CHECK(cuStreamSynchronize(s));
    CHECK(cuEventSynchronize(stop));
    float ms = -1;
    CHECK(cuEventElapsedTime(&ms, start, stop));
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= hc[i] == 2.0f * (float)(i % 100);
    expect(ok, "stream pipeline from page-locked memory");
    expect(ms >= 0.0f, "event elapsed time");
    CHECK(cuEventDestroy(start));
    CHECK(cuEventDestroy(stop));
    CHECK(cuStreamDestroy(s));
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(c));
    CHECK(cuMemFreeHost(ha));
    CHECK(cuMemFreeHost(hc));
}

static void test_refusals(struct env *e)
{
    CUdeviceptr a;
    char buf[64];
    CHECK(cuMemAlloc(&a, 64));
    /* outside the allocation, and a pointer the session never had */
    expect(cuMemcpyHtoD(a + 32, buf, 64) == CUDA_ERROR_INVALID_VALUE, "copy past allocation refused");
    expect(cuMemcpyDtoH(buf, (CUdeviceptr)0x1000, 8) == CUDA_ERROR_INVALID_VALUE, "foreign pointer refused");
    expect(cuStreamSynchronize((CUstream)(uintptr_t)0xdead0000) == CUDA_ERROR_INVALID_HANDLE, "foreign stream refused");
    expect(cuMemFree(a + 8) == CUDA_ERROR_INVALID_VALUE, "free of interior pointer refused");
    CHECK(cuMemFree(a));
    size_t free_b = 0, total_b = 0;
    CHECK(cuMemGetInfo(&free_b, &total_b));
    expect(free_b > 0 && free_b <= total_b, "memory info");
}

/* Managed memory: the host writes, a kernel adds in place, the host reads. Same host only:
 * over TCP the stub answers CUDA_ERROR_NOT_SUPPORTED, which is reported, not failed. */
static void test_managed(struct env *e, int n)
{
    size_t bytes = (size_t)n * sizeof(float);
    CUdeviceptr m;
    CUresult r = cuMemAllocManaged(&m, 2 * bytes, CU_MEM_ATTACH_GLOBAL);
    if (r == CUDA_ERROR_NOT_SUPPORTED) {
        printf("managed: not supported on this connection\n");
        return;
    }
    CHECK(r);
    float *h = (float *)(uintptr_t)m;
    for (int i = 0; i < 2 * n; i++)
        h[i] = (float)i;
    launch_vadd(e, m, m + bytes, m, n, NULL);   /* first half += second half */
    CHECK(cuCtxSynchronize());
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= h[i] == (float)i + (float)(i + n);
    unsigned is_managed = 0;
    CHECK(cuPointerGetAttribute(&is_managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, m));
    expect(ok && is_managed, "managed");
    CHECK(cuMemFree(m));
}

/* A fork child inherits the parent's connection but must not use it (two processes would
 * interleave frames on one session): its calls fail as CUDA fails in a forked child, and the
 * parent's session goes on untouched. */
static void test_fork_child(struct env *e)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        CUdeviceptr p;
        int refused = cuCtxSynchronize() == CUDA_ERROR_NOT_INITIALIZED &&
                      cuMemAlloc(&p, 256) == CUDA_ERROR_NOT_INITIALIZED;
        _exit(refused ? 0 : 1);
    }
    int status = -1;
    expect(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
               WEXITSTATUS(status) == 0, "fork child refused");
    CHECK(cuLaunchKernel(e->empty, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
    expect(cuCtxSynchronize() == CUDA_SUCCESS, "parent session after fork");
}

/* Pipelined launches are all executed, in order: c += a, `count` times, then one sync. */
static void test_launch_rate(struct env *e, int count)
{
    enum { N = 256 };
    float ones[N], out[N];
    for (int i = 0; i < N; i++)
        ones[i] = 1.0f;
    CUdeviceptr a, c;
    CHECK(cuMemAlloc(&a, sizeof ones));
    CHECK(cuMemAlloc(&c, sizeof ones));
    CHECK(cuMemcpyHtoD(a, ones, sizeof ones));
    CHECK(cuMemsetD32(c, 0, N));
    for (int i = 0; i < count; i++) {
        CHECK(cuLaunchKernel(e->empty, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
        launch_vadd(e, a, c, c, N, NULL);
    }
    CHECK(cuCtxSynchronize());
    CHECK(cuMemcpyDtoH(out, c, sizeof out));
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= out[i] == (float)count;
    expect(ok, "pipelined launches");
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(c));
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    struct env e;
    setvbuf(stdout, NULL, _IOLBF, 0);
    setup(&e);
    if (strcmp(mode, "hold") == 0) {
        CUdeviceptr p;
        size_t bytes = argc > 2 ? strtoull(argv[2], NULL, 0) : (64u << 20);
        CHECK(cuMemAlloc(&p, bytes));
        CHECK(cuMemsetD8(p, 1, bytes));
        printf("held 0x%llx\n", (unsigned long long)p);
        for (;;) {   /* keep the session busy until killed */
            CHECK(cuLaunchKernel(e.empty, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
            CHECK(cuCtxSynchronize());
            usleep(1000);
        }
    }
    if (strcmp(mode, "probe") == 0 && argc > 2) {
        char buf[16];
        CUdeviceptr foreign = (CUdeviceptr)strtoull(argv[2], NULL, 0);
        CUresult r = cuMemcpyDtoH(buf, foreign, sizeof buf);
        CUresult w = cuMemsetD8(foreign, 0, sizeof buf);
        printf("probe read %d write %d\n", (int)r, (int)w);
        return r == CUDA_ERROR_INVALID_VALUE && w == CUDA_ERROR_INVALID_VALUE ? 0 : 1;
    }
    if (strcmp(mode, "fault") == 0) {
        CUdeviceptr c;
        CHECK(cuMemAlloc(&c, 4096));
        launch_vadd(&e, c, c, (CUdeviceptr)0x1000, 1, NULL);   /* stores to address 0x1000 */
        CUresult sync = cuCtxSynchronize();
        CUdeviceptr more;
        CUresult after = cuMemAlloc(&more, 4096);
        printf("fault: synchronize %d, next call %d\n", (int)sync, (int)after);
        return sync == CUDA_ERROR_ILLEGAL_ADDRESS && after == CUDA_ERROR_ILLEGAL_ADDRESS ? 0 : 1;
    }
    if (strcmp(mode, "meminfo") == 0) {
        size_t free_b = 0, total_b = 0;
        CHECK(cuMemGetInfo(&free_b, &total_b));
        printf("free %zu total %zu\n", free_b, total_b);
        return 0;
    }
    if (strcmp(mode, "loop") == 0) {
        /* Sync calls forever: the fault test kills the node and times the failure. It waits
         * for the line below, so it never kills a node the program has not reached yet. */
        CHECK(cuCtxSynchronize());
        printf("looping\n");
        fflush(stdout);
        for (;;) {
            CUresult r = cuCtxSynchronize();
            if (r != CUDA_SUCCESS) {
                printf("sync failed: %d\n", (int)r);
                return 3;
            }
            usleep(2000);
        }
    }
    test_devices();
    test_vadd(&e, 1000);
    test_streams(&e, 4096);
    test_refusals(&e);
    test_managed(&e, 1000);
    test_launch_rate(&e, 200);
    test_fork_child(&e);
    CHECK(cuModuleUnload(e.mod));
    int regs = 0;   /* the worker forgot the module's functions with it */
    expect(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, e.vadd) == CUDA_ERROR_INVALID_HANDLE,
           "function of an unloaded module refused");
    CHECK(cuCtxDestroy(e.ctx));
    printf("%s\n", failures ? "prog_driver: FAILED" : "prog_driver: OK");
    return failures ? 1 : 0;
}
