/*
 * A driver-API program for the isolation tests and bench/isolation, run through `tfuse run` on
 * a vGPU. Modes (argv[1]):
 *   meminfo                 print "free F total T devtotal D" (cuMemGetInfo, cuDeviceTotalMem)
 *   nvml                    print "nvml total T free F" (NVML's memory info, our libnvidia-ml)
 *   overlimit BYTES         allocate BYTES (must fail with CUDA_ERROR_OUT_OF_MEMORY), then
 *                           allocate 1 MiB, run a kernel and check its result: "other work ok"
 *   grab CHUNK              print "ready", wait for a byte on stdin, allocate CHUNK-byte blocks
 *                           until refused, print "got N", wait for a second byte
 *   hold BYTES              allocate BYTES, print "held pid PID", sleep until killed
 *   managed BYTES OVER      cuMemAllocManaged BYTES: print "managed F1 F2 F3" (free before, while
 *                           held, after cuMemFree); then OVER bytes must fail with OOM
 *   globals BYTES OVER      load a PTX module with BYTES of .global and .const variables:
 *                           print "globals F1 F2 F3" (free before, loaded, unloaded); then a
 *                           module with OVER bytes of globals must fail with OOM
 *   nvmlusage               hold 16 MiB and spin kernels for 0.6 s: NVML's process list must
 *                           show this process with what it holds, and its utilization must
 *                           be above 0 and at most 100: print "nvml util U procs N held H"
 *   vmm                     the virtual memory API: cuMemCreate 8 MiB allocations until refused
 *                           (exactly what the vGPU has free), map one, run a kernel on it;
 *                           released while mapped it stays charged, unmapped it is refunded:
 *                           print "vmm chunks N free F0 F1 F2 F3"
 *   abi32 BYTES OVER        the CUDA 3.1 ABI (32-bit pointers, found by cuGetProcAddress at
 *                           version 2000): cuMemAlloc BYTES, then cuMemAllocPitch of BYTES in
 *                           rows of 4 KiB: print "abi32 F1 F2 F3 F4 F5" (free before, each held,
 *                           each after its cuMemFree); then OVER bytes must fail with OOM
 *   spin SECONDS ITERS [DEPTH]  launch DEPTH (1) compute-bound kernels (ITERS loop steps per
 *                           thread) and synchronize, repeatedly for SECONDS; print "launches N"
 * Exits 0 when the mode's checks passed.
 * Owns: nothing. May call: the CUDA driver API (our stub through tfuse run), NVML.
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tfuse/nvml.h"

static const char ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .entry spin(.param .u64 out, .param .u32 iters)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<8>;\n"
    "  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  ld.param.u32 %r1, [iters];\n"
    "  mov.u32 %r2, %tid.x;\n"
    "  mov.u32 %r3, 0;\n"
    "  mov.u32 %r4, 0;\n"
    "LOOP:\n"
    "  setp.ge.u32 %p1, %r4, %r1;\n"
    "  @%p1 bra DONE;\n"
    "  mad.lo.u32 %r3, %r3, 1664525, %r2;\n"
    "  add.u32 %r4, %r4, 1;\n"
    "  bra LOOP;\n"
    "DONE:\n"
    "  mul.wide.u32 %rd2, %r2, 4;\n"
    "  cvta.to.global.u64 %rd3, %rd1;\n"
    "  add.u64 %rd3, %rd3, %rd2;\n"
    "  st.global.u32 [%rd3], %r4;\n"
    "  ret;\n"
    "}\n";

#define CHECK(call)                                                                   \
    do {                                                                              \
        CUresult r_ = (call);                                                         \
        if (r_ != CUDA_SUCCESS) {                                                     \
            const char *n_ = NULL;                                                    \
            cuGetErrorName(r_, &n_);                                                  \
            fprintf(stderr, "FAIL %s:%d %s -> %d %s\n", __FILE__, __LINE__, #call,    \
                    (int)r_, n_ ? n_ : "?");                                          \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static CUfunction spin_fn;

static void setup(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&spin_fn, mod, "spin"));
}

/* depth kernels back to back, then one synchronize (several in flight keep the device busy
 * across the round trips, as a real training loop does). */
static void spin_batch(CUdeviceptr out, unsigned iters, int depth)
{
    void *args[] = {&out, &iters};
    for (int i = 0; i < depth; i++)
        CHECK(cuLaunchKernel(spin_fn, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mode_overlimit(unsigned long long bytes)
{
    CUdeviceptr big = 0, small;
    CUresult r = cuMemAlloc(&big, (size_t)bytes);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL allocation over the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("over limit refused\n");
    CHECK(cuMemAlloc(&small, 1u << 20));
    spin_batch(small, 10, 1);
    unsigned got[32];
    CHECK(cuMemcpyDtoH(got, small, sizeof got));
    for (int i = 0; i < 32; i++)
        if (got[i] != 10) {
            fprintf(stderr, "FAIL kernel result %u at %d\n", got[i], i);
            return 1;
        }
    CHECK(cuMemFree(small));
    printf("other work ok\n");
    return 0;
}

/* Attaches first (the context is charged), says "ready", and waits for one byte on stdin so
 * that all racing processes start allocating together; then takes CHUNK blocks until refused,
 * says "got N" and waits for a second byte. */
static int mode_grab(unsigned long long chunk)
{
    unsigned long n = 0;
    CUdeviceptr p;
    CUresult r;
    char go;
    printf("ready\n");
    fflush(stdout);
    if (read(0, &go, 1) != 1)
        return 1;
    while ((r = cuMemAlloc(&p, (size_t)chunk)) == CUDA_SUCCESS)
        n++;
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL grab ended with %d, not OOM\n", (int)r);
        return 1;
    }
    printf("got %lu\n", n);
    fflush(stdout);
    return read(0, &go, 1) == 1 ? 0 : 1;   /* a second byte (or EOF): end */
}

static size_t free_now(void)
{
    size_t freeb, total;
    CHECK(cuMemGetInfo(&freeb, &total));
    return freeb;
}

static int mode_managed(unsigned long long bytes, unsigned long long over)
{
    CUdeviceptr p, q;
    size_t f1 = free_now();
    CHECK(cuMemAllocManaged(&p, (size_t)bytes, CU_MEM_ATTACH_GLOBAL));
    memset((void *)(uintptr_t)p, 7, (size_t)bytes);   /* the program's view of it works */
    size_t f2 = free_now();
    CHECK(cuMemFree(p));
    size_t f3 = free_now();
    printf("managed %zu %zu %zu\n", f1, f2, f3);
    CUresult r = cuMemAllocManaged(&q, (size_t)over, CU_MEM_ATTACH_GLOBAL);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL managed allocation over the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("managed over limit refused, free %zu\n", free_now());
    return 0;
}

/* Captures a stream-ordered allocation of `bytes` and its free into a graph and launches it:
 * the memory the graph uses stays charged; a second capture of `over` bytes must be refused. */
static int mode_graph_mem(unsigned long long bytes, unsigned long long over)
{
    CUstream s;
    CUgraph g, g2;
    CUgraphExec x;
    CUdeviceptr p, q;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    size_t f1 = free_now();
    CHECK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CHECK(cuMemAllocAsync(&p, (size_t)bytes, s));
    CHECK(cuMemsetD8Async(p, 1, (size_t)bytes, s));
    CHECK(cuMemFreeAsync(p, s));
    CHECK(cuStreamEndCapture(s, &g));
    CHECK(cuGraphInstantiate(&x, g, 0));
    CHECK(cuGraphLaunch(x, s));
    CHECK(cuStreamSynchronize(s));
    size_t f2 = free_now();
    printf("graphmem %zu %zu\n", f1, f2);
    CHECK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CUresult r = cuMemAllocAsync(&q, (size_t)over, s);
    cuStreamEndCapture(s, &g2);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL a captured allocation past the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    CUgraph g3;
    CUgraphNode node;
    CUDA_MEM_ALLOC_NODE_PARAMS ap = {0};
    ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    ap.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    ap.bytesize = (size_t)over;
    CHECK(cuGraphCreate(&g3, 0));
    r = cuGraphAddMemAllocNode(&node, g3, NULL, 0, &ap);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL an allocation node past the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("graphmem over limit refused\n");
    return 0;
}

/* Exports 1 MiB of 0x5a bytes as an IPC handle and a recorded interprocess event (each printed
 * in hex on a line), waits for a line on stdin, then checks that the memory's first word reads
 * 0x11111111 (written by a process that opened it). */
static int mode_ipc_export(void)
{
    CUdeviceptr p;
    CUipcMemHandle h;
    CUevent e;
    CUipcEventHandle eh;
    CHECK(cuMemAlloc(&p, 1 << 20));
    CHECK(cuMemsetD8(p, 0x5a, 1 << 20));
    CHECK(cuIpcGetMemHandle(&h, p));
    CHECK(cuEventCreate(&e, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING));
    CHECK(cuEventRecord(e, NULL));
    CHECK(cuIpcGetEventHandle(&eh, e));
    for (size_t i = 0; i < sizeof h.reserved; i++)
        printf("%02x", (unsigned char)h.reserved[i]);
    printf("\n");
    for (size_t i = 0; i < sizeof eh.reserved; i++)
        printf("%02x", (unsigned char)eh.reserved[i]);
    printf("\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 1;
    unsigned first = 0;
    CHECK(cuMemcpyDtoH(&first, p, sizeof first));
    printf("ipc export %s\n", first == 0x11111111u ? "written" : "untouched");
    return 0;
}

/* Opens the handle in hex: "ipc open refused" when the node says CUDA_ERROR_NOT_PERMITTED,
 * else writes 0x11111111 to its first word and says "ipc open ok". */
static int mode_ipc_open(const char *hex)
{
    CUipcMemHandle h;
    for (size_t i = 0; i < sizeof h.reserved; i++) {
        unsigned v = 0;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return 1;
        h.reserved[i] = (char)v;
    }
    CUdeviceptr p;
    CUresult r = cuIpcOpenMemHandle(&p, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
    if (r == CUDA_ERROR_NOT_PERMITTED) {
        printf("ipc open refused\n");
        return 0;
    }
    CHECK(r);
    unsigned char b = 0;
    CHECK(cuMemcpyDtoH(&b, p + 12345, 1));
    CHECK(cuMemsetD32(p, 0x11111111u, 1));
    CHECK(cuCtxSynchronize());
    CHECK(cuIpcCloseMemHandle(p));
    printf("ipc open ok 0x%02x\n", b);
    return 0;
}

/* Opens the event handle in hex: "ipc event refused" when the node says
 * CUDA_ERROR_NOT_PERMITTED, else synchronizes on the exporter's record: "ipc event ok". */
static int mode_ipc_event(const char *hex)
{
    CUipcEventHandle h;
    for (size_t i = 0; i < sizeof h.reserved; i++) {
        unsigned v = 0;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return 1;
        h.reserved[i] = (char)v;
    }
    CUevent e;
    CUresult r = cuIpcOpenEventHandle(&e, h);
    if (r == CUDA_ERROR_NOT_PERMITTED) {
        printf("ipc event refused\n");
        return 0;
    }
    CHECK(r);
    CHECK(cuEventSynchronize(e));
    CHECK(cuEventDestroy(e));
    printf("ipc event ok\n");
    return 0;
}

/* A 2D float4 array of `bytes` (rows of 4 KiB), then a 3D one `over` bytes past the limit. */
static int mode_arrays(unsigned long long bytes, unsigned long long over)
{
    CUDA_ARRAY_DESCRIPTOR d = {.Width = 256, .Height = bytes / 4096,
                               .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4};
    CUarray a, b;
    size_t f1 = free_now();
    CHECK(cuArrayCreate(&a, &d));
    size_t f2 = free_now();
    CHECK(cuArrayDestroy(a));
    size_t f3 = free_now();
    printf("arrays %zu %zu %zu\n", f1, f2, f3);
    CUDA_ARRAY3D_DESCRIPTOR d3 = {.Width = 256, .Height = 256, .Depth = over / (256 * 256 * 16),
                                  .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 4};
    CUresult r = cuArray3DCreate(&b, &d3);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL an array over the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("arrays over limit refused, free %zu\n", free_now());
    return 0;
}

/* The CUDA 3.1 ABI's allocations, charged and refunded like the current ABI's. */
typedef CUresult (*alloc32_fn)(unsigned *dptr, unsigned bytes);
typedef CUresult (*pitch32_fn)(unsigned *dptr, unsigned *pitch, unsigned w, unsigned h,
                               unsigned elem);
typedef CUresult (*free32_fn)(unsigned dptr);

static void *v1(const char *name)
{
    void *fn = NULL;
    CUdriverProcAddressQueryResult q;
    CHECK(cuGetProcAddress(name, &fn, 2000, CU_GET_PROC_ADDRESS_DEFAULT, &q));
    return fn;
}

static int mode_abi32(unsigned long long bytes, unsigned long long over)
{
    alloc32_fn alloc = (alloc32_fn)v1("cuMemAlloc");
    pitch32_fn alloc_pitch = (pitch32_fn)v1("cuMemAllocPitch");
    free32_fn release = (free32_fn)v1("cuMemFree");
    unsigned p, q, pitch;
    size_t f1 = free_now();
    CHECK(alloc(&p, (unsigned)bytes));
    size_t f2 = free_now();
    CHECK(release(p));
    size_t f3 = free_now();
    CHECK(alloc_pitch(&q, &pitch, 4096, (unsigned)(bytes / 4096), 4));
    size_t f4 = free_now();
    CHECK(release(q));
    printf("abi32 %zu %zu %zu %zu %zu\n", f1, f2, f3, f4, free_now());
    CUresult r = alloc(&p, (unsigned)over);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL a 32-bit allocation over the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("abi32 over limit refused, free %zu\n", free_now());
    return 0;
}

/* A module with BYTES of globals: 3/4 in a .global array (with an initialiser elsewhere), the
 * rest as .const, plus a kernel that uses ld.global so the scanner must skip instructions. */
static CUresult load_globals(unsigned long long bytes, CUmodule *mod)
{
    unsigned long long g = bytes / 4 * 3, c = bytes - g;
    char *text = malloc(4096);
    if (!text)
        return CUDA_ERROR_OUT_OF_MEMORY;
    snprintf(text, 4096,
             ".version 7.0\n.target sm_50\n.address_size 64\n"
             "// a comment with .global .b8 fake[999999];\n"
             ".visible .global .align 4 .u32 small[2] = {1, 2};\n"
             ".visible .global .align 8 .b8 big[%llu];\n"
             ".const .align 4 .b8 cbig[%llu];\n"
             ".extern .global .align 4 .u32 elsewhere[1000];\n"
             ".visible .entry touch(.param .u64 out)\n{\n"
             "  .reg .b32 %%r<2>;\n  .reg .b64 %%rd<3>;\n"
             "  ld.param.u64 %%rd1, [out];\n  mov.u64 %%rd2, small;\n"
             "  ld.global.u32 %%r1, [%%rd2+4];\n  cvta.to.global.u64 %%rd1, %%rd1;\n"
             "  st.global.u32 [%%rd1], %%r1;\n  ret;\n}\n",
             g - 8, c);
    CUresult r = cuModuleLoadData(mod, text);
    free(text);
    return r;
}

static int mode_globals(unsigned long long bytes, unsigned long long over)
{
    CUmodule mod, big;
    CUfunction f;
    CUdeviceptr out;
    CHECK(cuMemAlloc(&out, 4));
    size_t f1 = free_now();
    CHECK(load_globals(bytes, &mod));
    size_t f2 = free_now();
    CHECK(cuModuleGetFunction(&f, mod, "touch"));   /* the module works */
    void *args[] = {&out};
    CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
    unsigned got = 0;
    CHECK(cuMemcpyDtoH(&got, out, sizeof got));
    if (got != 2) {
        fprintf(stderr, "FAIL the module's initialised global read %u, not 2\n", got);
        return 1;
    }
    CHECK(cuModuleUnload(mod));
    size_t f3 = free_now();
    printf("globals %zu %zu %zu\n", f1, f2, f3);
    CUresult r = load_globals(over, &big);
    if (r != CUDA_ERROR_OUT_OF_MEMORY) {
        fprintf(stderr, "FAIL a module over the limit answered %d, not OOM\n", (int)r);
        return 1;
    }
    printf("globals over limit refused, free %zu\n", free_now());
    return 0;
}

/* A kernel writes `iters` into out[0..31]; true when it did. */
static int kernel_writes(CUdeviceptr out, unsigned iters)
{
    unsigned got[32];
    spin_batch(out, iters, 1);
    CHECK(cuMemcpyDtoH(got, out, sizeof got));
    for (int i = 0; i < 32; i++)
        if (got[i] != iters)
            return 0;
    return 1;
}

static int mode_vmm(void)
{
    enum { MAX = 512 };
    static CUmemGenericAllocationHandle h[MAX];
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    size_t gran, chunk;
    CHECK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    for (chunk = gran; chunk < (8u << 20); chunk *= 2)
        ;
    size_t f0 = free_now();
    int n = 0;
    CUresult r = CUDA_SUCCESS;
    while (n < MAX && (r = cuMemCreate(&h[n], chunk, &prop, 0)) == CUDA_SUCCESS)
        n++;
    size_t f1 = free_now();
    CUdeviceptr va;
    CHECK(cuMemAddressReserve(&va, chunk, 0, 0, 0));
    CHECK(cuMemMap(va, chunk, 0, h[0], 0));
    CUmemAccessDesc access = {.location = prop.location, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CHECK(cuMemSetAccess(va, chunk, &access, 1));
    int ok = kernel_writes(va, 100);
    for (int i = 0; i < n; i++)
        CHECK(cuMemRelease(h[i]));
    size_t f2 = free_now();   /* h[0] is still mapped: still charged */
    ok &= kernel_writes(va, 200);
    CHECK(cuMemUnmap(va, chunk));
    CHECK(cuMemAddressFree(va, chunk));
    size_t f3 = free_now();
    printf("vmm chunks %d free %zu %zu %zu %zu\n", n, f0, f1, f2, f3);
    return r == CUDA_ERROR_OUT_OF_MEMORY && (size_t)n == f0 / chunk && f1 == f0 - n * chunk &&
                   f2 == f0 - chunk && f3 == f0 && ok
               ? 0
               : 1;
}

static int mode_nvml_usage(void)
{
    nvmlDevice_t d;
    nvmlUtilization_t u;
    nvmlProcessInfo_t procs[4];
    unsigned n = 4;
    CUdeviceptr held;
    CHECK(cuMemAlloc(&held, 16u << 20));
    /* one batch before the window: its wait for the JIT's compile (off the device's clock, and
     * longer than the window on a loaded host, each vGPU compiling into a cache of its own)
     * must not be the window */
    spin_batch(held, 20000, 1);
    if (nvmlInit_v2() != NVML_SUCCESS || nvmlDeviceGetHandleByIndex_v2(0, &d) != NVML_SUCCESS ||
        nvmlDeviceGetUtilizationRates(d, &u) != NVML_SUCCESS) {   /* opens the window */
        fprintf(stderr, "FAIL nvml utilization\n");
        return 1;
    }
    double end = now() + 0.6;
    while (now() < end)
        spin_batch(held, 20000, 2);
    if (nvmlDeviceGetUtilizationRates(d, &u) != NVML_SUCCESS ||
        nvmlDeviceGetComputeRunningProcesses_v3(d, &n, procs) != NVML_SUCCESS) {
        fprintf(stderr, "FAIL nvml usage\n");
        return 1;
    }
    unsigned long long mine = n == 1 && procs[0].pid == (unsigned)getpid()
                                  ? procs[0].usedGpuMemory : 0;
    printf("nvml util %u procs %u held %llu\n", u.gpu, n, mine);
    return u.gpu > 0 && u.gpu <= 100 && mine >= (16u << 20) ? 0 : 1;
}

static int mode_spin(double seconds, unsigned iters, int depth)
{
    CUdeviceptr out;
    CHECK(cuMemAlloc(&out, 32 * sizeof(unsigned)));
    unsigned long n = 0;
    double end = now() + seconds;
    while (now() < end) {
        spin_batch(out, iters, depth);
        n += (unsigned long)depth;
    }
    printf("launches %lu\n", n);
    return 0;
}

/* The views a live resize must change, in one line: cuMemGetInfo, cuDeviceTotalMem, NVML. */
static int print_view(void)
{
    size_t freeb, total, devtotal;
    nvmlDevice_t d;
    nvmlMemory_t m;
    CHECK(cuMemGetInfo(&freeb, &total));
    CHECK(cuDeviceTotalMem(&devtotal, 0));
    if (nvmlDeviceGetHandleByIndex_v2(0, &d) != NVML_SUCCESS ||
        nvmlDeviceGetMemoryInfo(d, &m) != NVML_SUCCESS) {
        fprintf(stderr, "FAIL nvml memory info\n");
        return 1;
    }
    printf("view free %zu total %zu devtotal %zu nvml %llu\n", freeb, total, devtotal,
           (unsigned long long)m.total);
    return 0;
}

/* A program that keeps running while its vGPU is resized: holds `hold` bytes, then obeys
 * stdin, one command a line ("view", "alloc BYTES", "free"), answering each on stdout, until
 * EOF. Allocations made by "alloc" are kept until "free". */
static int mode_watch(unsigned long long hold)
{
    CUdeviceptr keep, extra[64];
    int nextra = 0;
    char line[128];
    if (nvmlInit_v2() != NVML_SUCCESS) {
        fprintf(stderr, "FAIL nvml init\n");
        return 1;
    }
    CHECK(cuMemAlloc(&keep, (size_t)hold));
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof line, stdin)) {
        unsigned long long n;
        if (strncmp(line, "view", 4) == 0 && print_view() != 0)
            return 1;
        if (sscanf(line, "alloc %llu", &n) == 1) {
            CUresult r = nextra < 64 ? cuMemAlloc(&extra[nextra], (size_t)n)
                                     : CUDA_ERROR_OUT_OF_MEMORY;
            nextra += r == CUDA_SUCCESS;
            printf("alloc %llu %s\n", n, r == CUDA_SUCCESS ? "ok"
                                         : r == CUDA_ERROR_OUT_OF_MEMORY ? "oom" : "error");
        }
        if (strncmp(line, "free", 4) == 0) {
            while (nextra > 0)
                CHECK(cuMemFree(extra[--nextra]));
            printf("freed\n");
        }
    }
    CHECK(cuMemFree(keep));
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "meminfo";
    setup();
    if (strcmp(mode, "meminfo") == 0) {
        size_t freeb, total, devtotal;
        CHECK(cuMemGetInfo(&freeb, &total));
        CHECK(cuDeviceTotalMem(&devtotal, 0));
        printf("free %zu total %zu devtotal %zu\n", freeb, total, devtotal);
        return 0;
    }
    if (strcmp(mode, "nvml") == 0) {
        nvmlDevice_t d;
        nvmlMemory_t m;
        if (nvmlInit_v2() != NVML_SUCCESS || nvmlDeviceGetHandleByIndex_v2(0, &d) != NVML_SUCCESS ||
            nvmlDeviceGetMemoryInfo(d, &m) != NVML_SUCCESS) {
            fprintf(stderr, "FAIL nvml memory info\n");
            return 1;
        }
        printf("nvml total %llu free %llu\n", (unsigned long long)m.total,
               (unsigned long long)m.free);
        return 0;
    }
    if (strcmp(mode, "vmm") == 0)
        return mode_vmm();
    if (strcmp(mode, "watch") == 0 && argc > 2)
        return mode_watch(strtoull(argv[2], NULL, 0));
    if (strcmp(mode, "nvmlusage") == 0)
        return mode_nvml_usage();
    if (strcmp(mode, "overlimit") == 0 && argc > 2)
        return mode_overlimit(strtoull(argv[2], NULL, 0));
    if (strcmp(mode, "grab") == 0 && argc > 2)
        return mode_grab(strtoull(argv[2], NULL, 0));
    if (strcmp(mode, "hold") == 0 && argc > 2) {
        CUdeviceptr p;
        CHECK(cuMemAlloc(&p, (size_t)strtoull(argv[2], NULL, 0)));
        printf("held pid %d\n", (int)getpid());
        fflush(stdout);
        for (;;)
            pause();
    }
    if (strcmp(mode, "managed") == 0 && argc > 3)
        return mode_managed(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
    if (strcmp(mode, "graphmem") == 0 && argc > 3)
        return mode_graph_mem(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
    if (strcmp(mode, "ipcexport") == 0)
        return mode_ipc_export();
    if (strcmp(mode, "ipcopen") == 0 && argc > 2)
        return mode_ipc_open(argv[2]);
    if (strcmp(mode, "ipcevent") == 0 && argc > 2)
        return mode_ipc_event(argv[2]);
    if (strcmp(mode, "arrays") == 0 && argc > 3)
        return mode_arrays(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
    if (strcmp(mode, "abi32") == 0 && argc > 3)
        return mode_abi32(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
    if (strcmp(mode, "globals") == 0 && argc > 3)
        return mode_globals(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
    if (strcmp(mode, "spin") == 0 && argc > 3) {
        int depth = argc > 4 ? atoi(argv[4]) : 1;
        return mode_spin(atof(argv[2]), (unsigned)strtoul(argv[3], NULL, 0),
                         depth >= 1 && depth <= 64 ? depth : 1);
    }
    fprintf(stderr, "usage: prog_iso meminfo|nvml|overlimit B|grab CHUNK|hold B|spin S ITERS [DEPTH]\n");
    return 2;
}
