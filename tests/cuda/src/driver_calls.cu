// driver_calls: driver functions that real libraries call beyond launches and copies, through
// the runtime and the driver API: the profiler controls, the occupancy search with a
// block-size-to-shared-memory callback (checked against a search of our own), memory pool
// attributes (release threshold, reserved and used memory, reuse flags), pools and access by
// location (CUDA 13), stream queries and attributes, the per-thread default stream of the
// _ptsz entry points, stream memory operations (write a value on one stream, wait for it on
// another), 16- and 32-bit 2D memsets on a stream, device lookup by PCI bus id, context and
// function queries, names of functions and kernels, the listings of modules and libraries, the
// launch API from before CUDA 4.0, older ABIs composed from newer ones, green contexts, batched
// copies, tensor maps and the driver's log.
#include <cstring>
#include <unistd.h>
#define CUDA_ENABLE_DEPRECATED   // the pre-4.0 launch API is under test
#include <cuda.h>
#include <cuda_profiler_api.h>
#include "check.h"
#include "cu_check.h"

__global__ void smem_kernel(int *out)
{
    extern __shared__ int buf[];
    buf[threadIdx.x] = threadIdx.x;
    __syncthreads();
    if (threadIdx.x == 0)
        out[blockIdx.x] = buf[blockDim.x - 1];
}

__global__ void add_one(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += 1;
}

static int callback_calls;
static size_t smem_for(int block) { callback_calls++; return (size_t)block * 2 * sizeof(int); }

static void check_occupancy(CUfunction f)
{
    int min_grid = 0, block = 0, sms = 0;
    CU(cuOccupancyMaxPotentialBlockSize(&min_grid, &block, f, smem_for, 0, 0));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    // our own search, through the runtime's per-size occupancy
    int best = 0, best_block = 0, best_blocks = 0;
    for (int b = 1024; b > 0; b -= 32) {
        int n = 0;
        CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, smem_kernel, b, smem_for(b)));
        if (n * b > best)
            best = n * b, best_block = b, best_blocks = n;
    }
    if (!callback_calls || block != best_block || min_grid != best_blocks * sms)
        FAIL("occupancy: block %d grid %d (callback called %d times), expected %d and %d", block,
             min_grid, callback_calls, best_block, best_blocks * sms);
}

static void check_pool(void)
{
    cudaMemPool_t pool;
    CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
    cuuint64_t threshold = ~0ull, got = 0;
    CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &got));
    if (got != threshold)
        FAIL("release threshold read back as %llu", (unsigned long long)got);
    void *p;
    CHECK(cudaMallocAsync(&p, 1 << 20, 0));
    cuuint64_t used = 0, reserved = 0;
    CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
    if (used < (1 << 20))
        FAIL("pool in use %llu bytes after a 1 MiB allocation", (unsigned long long)used);
    CHECK(cudaFreeAsync(p, 0));
    CHECK(cudaStreamSynchronize(0));
    CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
    CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
    if (reserved < (1 << 20) || used != 0)
        FAIL("after the free: reserved %llu used %llu", (unsigned long long)reserved,
             (unsigned long long)used);
    int reuse = 0;
    CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolReuseAllowOpportunistic, &reuse));
    reuse = 1;
    CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolReuseAllowOpportunistic, &reuse));
    if (reuse != 0)
        FAIL("reuse flag read back as %d", reuse);
}

// CUDA 13's pools by location, a stream's device, and a virtual-memory mapping's access.
static void check_locations(void)
{
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CUmemoryPool by_loc, cur, by_dev;
    CU(cuMemGetDefaultMemPool(&by_loc, &loc, CU_MEM_ALLOCATION_TYPE_PINNED));
    CU(cuDeviceGetDefaultMemPool(&by_dev, 0));
    if (by_loc != by_dev)
        FAIL("the default pool by location is not the device's default pool");
    CU(cuMemSetMemPool(&loc, CU_MEM_ALLOCATION_TYPE_PINNED, by_loc));
    CU(cuMemGetMemPool(&cur, &loc, CU_MEM_ALLOCATION_TYPE_PINNED));
    if (cur != by_loc)
        FAIL("the current pool is not the one just set");
    CUdevice dev = -1;
    CU(cuStreamGetDevice(NULL, &dev));
    if (dev != 0)
        FAIL("the default stream is on device %d", dev);
    CUmemAllocationProp prop = {};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location = loc;
    size_t gran = 0;
    CU(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    CUmemGenericAllocationHandle h;
    CUdeviceptr va;
    CU(cuMemCreate(&h, gran, &prop, 0));
    CU(cuMemAddressReserve(&va, gran, 0, 0, 0));
    CU(cuMemMap(va, gran, 0, h, 0));
    CUmemAccessDesc acc = {loc, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CU(cuMemSetAccess(va, gran, &acc, 1));
    unsigned long long flags = 0;
    CU(cuMemGetAccess(&flags, &loc, va));
    if (flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
        FAIL("access of a read-write mapping reads %llu", flags);
    CU(cuMemUnmap(va, gran));
    CU(cuMemRelease(h));
    CU(cuMemAddressFree(va, gran));
}

static void check_streams(void)
{
    cudaStream_t a, b;
    CHECK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
    CHECK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
    unsigned long long ida = 0, idb = 0;
    CHECK(cudaStreamGetId(a, &ida));
    CHECK(cudaStreamGetId(b, &idb));
    if (ida == idb)
        FAIL("two streams share the id %llu", ida);
    CUcontext ctx, sctx;
    CU(cuCtxGetCurrent(&ctx));
    CU(cuStreamGetCtx((CUstream)a, &sctx));
    if (ctx != sctx)
        FAIL("the stream's context is not the current one");
    // the per-thread variant's NULL stream is the per-thread stream, not the legacy one
    typedef CUresult (*get_id_fn)(CUstream, unsigned long long *);
    void *pt_fn = NULL;
    CU(cuGetProcAddress("cuStreamGetId", &pt_fn, 12000,
                        CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, NULL));
    unsigned long long pt_id = 0, legacy_id = 0, pt_named = 0;
    CU(((get_id_fn)pt_fn)(NULL, &pt_id));
    CU(cuStreamGetId(NULL, &legacy_id));
    CU(cuStreamGetId(CU_STREAM_PER_THREAD, &pt_named));
    if (pt_id == legacy_id || pt_id != pt_named)
        FAIL("per-thread NULL stream %llu, legacy %llu, CU_STREAM_PER_THREAD %llu", pt_id,
             legacy_id, pt_named);
    unsigned long long ctx_id = 0;
    CU(cuCtxGetId(ctx, &ctx_id));
    cudaLaunchAttributeValue v = {}, w = {};
    v.priority = 0;
    CHECK(cudaStreamSetAttribute(a, cudaLaunchAttributePriority, &v));
    CHECK(cudaStreamGetAttribute(a, cudaLaunchAttributePriority, &w));
    // stream b waits for a word that stream a writes
    int *flag;
    CHECK(cudaMalloc(&flag, 2 * sizeof(int)));
    CHECK(cudaMemset(flag, 0, 2 * sizeof(int)));
    CU(cuStreamWaitValue32((CUstream)b, (CUdeviceptr)flag, 7, CU_STREAM_WAIT_VALUE_EQ));
    CU(cuStreamWriteValue32((CUstream)b, (CUdeviceptr)(flag + 1), 9, 0));
    CU(cuStreamWriteValue32((CUstream)a, (CUdeviceptr)flag, 7, 0));
    CHECK(cudaStreamSynchronize(b));
    int host[2];
    CHECK(cudaMemcpy(host, flag, sizeof host, cudaMemcpyDeviceToHost));
    if (host[0] != 7 || host[1] != 9)
        FAIL("stream memory operations: %d %d", host[0], host[1]);
    // the same as one batch: write both words, then wait for the first
    CUstreamBatchMemOpParams ops[3] = {};
    ops[0].writeValue.operation = CU_STREAM_MEM_OP_WRITE_VALUE_32;
    ops[0].writeValue.address = (CUdeviceptr)flag, ops[0].writeValue.value = 5;
    ops[1].writeValue.operation = CU_STREAM_MEM_OP_WRITE_VALUE_32;
    ops[1].writeValue.address = (CUdeviceptr)(flag + 1), ops[1].writeValue.value = 6;
    ops[2].waitValue.operation = CU_STREAM_MEM_OP_WAIT_VALUE_32;
    ops[2].waitValue.address = (CUdeviceptr)flag, ops[2].waitValue.value = 5;
    ops[2].waitValue.flags = CU_STREAM_WAIT_VALUE_EQ;
    CU(cuStreamBatchMemOp((CUstream)a, 3, ops, 0));
    CU(cuStreamSynchronize((CUstream)a));
    CHECK(cudaMemcpy(host, flag, sizeof host, cudaMemcpyDeviceToHost));
    if (host[0] != 5 || host[1] != 6)
        FAIL("batched stream memory operations: %d %d", host[0], host[1]);
    ops[0].writeValue.address = 16;   /* nobody's memory */
    if (cuStreamBatchMemOp((CUstream)a, 1, ops, 0) == CUDA_SUCCESS &&
        cuStreamSynchronize((CUstream)a) == CUDA_SUCCESS)
        FAIL("a batched write to address 16 was accepted");
    CHECK(cudaFree(flag));
    CHECK(cudaStreamDestroy(a));
    CHECK(cudaStreamDestroy(b));
}

static void check_memset2d(void)
{
    enum { WIDTH = 13, HEIGHT = 6 };
    size_t pitch;
    unsigned *d;
    CHECK(cudaMallocPitch(&d, &pitch, WIDTH * 4, HEIGHT));
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    CU(cuMemsetD2D32Async((CUdeviceptr)d, pitch, 0xA5A5A5A5u, WIDTH, HEIGHT, (CUstream)s));
    CU(cuMemsetD2D16Async((CUdeviceptr)d, pitch, 0x1234, 3, HEIGHT, (CUstream)s));
    static unsigned h[HEIGHT][WIDTH];
    CHECK(cudaMemcpy2DAsync(h, sizeof h[0], d, pitch, WIDTH * 4, HEIGHT, cudaMemcpyDeviceToHost, s));
    CHECK(cudaStreamSynchronize(s));
    for (int y = 0; y < HEIGHT; y++)
        for (int x = 0; x < WIDTH; x++) {
            unsigned want = x == 0 ? 0x12341234u : x == 1 ? 0xA5A51234u : 0xA5A5A5A5u;
            if (h[y][x] != want)
                FAIL("2D memset (%d,%d): %08x, expected %08x", x, y, h[y][x], want);
        }
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(d));
}

static int named(const char *name, const char *want) { return name && strstr(name, want); }

// Names of functions and kernels, and the listings of a module and a library (each listed one
// usable in a later call).
static void check_names(CUfunction f, CUmodule mod, unsigned nfuncs)
{
    const char *name = NULL;
    CU(cuFuncGetName(&name, f));
    if (!named(name, "smem_kernel"))
        FAIL("cuFuncGetName: %s", name ? name : "(null)");
    CUfunction fns[16];
    unsigned n = nfuncs < 16 ? nfuncs : 16, found = 0;
    CU(cuModuleEnumerateFunctions(fns, n, mod));
    for (unsigned i = 0; i < n; i++) {
        CU(cuFuncGetName(&name, fns[i]));
        int regs = 0;
        CU(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fns[i]));
        found += named(name, "add_one") || named(name, "smem_kernel");
    }
    if (found < 2)
        FAIL("the module's listing misses our kernels (%u of %u found)", found, n);
    cudaKernel_t k;
    CHECK(cudaGetKernel(&k, smem_kernel));
    CUlibrary lib;
    CU(cuKernelGetLibrary(&lib, (CUkernel)k));
    unsigned nk = 0;
    CU(cuLibraryGetKernelCount(&nk, lib));
    CUkernel ks[16];
    CU(cuLibraryEnumerateKernels(ks, nk < 16 ? nk : 16, lib));
    CU(cuKernelGetName(&name, ks[0]));
    if (!nk || !name || !*name)
        FAIL("library listing: %u kernels, first named %s", nk, name ? name : "(null)");
}

// Older ABIs and compositions: device properties, the thread's capture mode, a peer 3D copy,
// pointer attributes, and a CUDA 10 kernel node (asked for by version through cuGetProcAddress).
static void check_compat(CUfunction add)
{
    CUdevprop prop;
    int mt = 0;
    CU(cuDeviceGetProperties(&prop, 0));
    CU(cuDeviceGetAttribute(&mt, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 0));
    if (prop.maxThreadsPerBlock != mt || prop.SIMDWidth != 32)
        FAIL("device properties: %d threads per block, warp %d", prop.maxThreadsPerBlock,
             prop.SIMDWidth);
    CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
    CU(cuThreadExchangeStreamCaptureMode(&mode));
    CUstreamCaptureMode back = mode;
    CU(cuThreadExchangeStreamCaptureMode(&back));
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL || back != CU_STREAM_CAPTURE_MODE_RELAXED)
        FAIL("capture mode exchange: %d then %d", (int)mode, (int)back);

    enum { W = 64, H = 8 };
    int *a, *b, h[H][W / 4];
    CHECK(cudaMalloc(&a, W * H));
    CHECK(cudaMalloc(&b, W * H));
    CHECK(cudaMemset(a, 0x3c, W * H));
    CHECK(cudaMemset(b, 0, W * H));
    int one = 1;
    CU(cuPointerSetAttribute(&one, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, (CUdeviceptr)a));
    CUcontext ctx;
    CU(cuCtxGetCurrent(&ctx));
    CUDA_MEMCPY3D_PEER p = {};
    p.srcMemoryType = p.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    p.srcDevice = (CUdeviceptr)a, p.dstDevice = (CUdeviceptr)b;
    p.srcContext = p.dstContext = ctx;
    p.srcPitch = p.dstPitch = W, p.srcHeight = p.dstHeight = H;
    p.WidthInBytes = W, p.Height = H, p.Depth = 1;
    CU(cuMemcpy3DPeer(&p));
    CHECK(cudaMemcpy(h, b, sizeof h, cudaMemcpyDeviceToHost));
    if (h[H - 1][W / 4 - 1] != 0x3c3c3c3c)
        FAIL("peer 3D copy: %08x", h[H - 1][W / 4 - 1]);

    typedef CUresult (*add_v1_fn)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,
                                  const CUDA_KERNEL_NODE_PARAMS_v1 *);
    void *fn = NULL;
    CU(cuGetProcAddress("cuGraphAddKernelNode", &fn, 10000, CU_GET_PROC_ADDRESS_DEFAULT, NULL));
    CUgraph g;
    CU(cuGraphCreate(&g, 0));
    int n = W * H / 4;
    void *args[] = {&a, &n};
    CUDA_KERNEL_NODE_PARAMS_v1 kp = {};
    kp.func = add, kp.gridDimX = 1, kp.gridDimY = kp.gridDimZ = 1;
    kp.blockDimX = 128, kp.blockDimY = kp.blockDimZ = 1, kp.kernelParams = args;
    CUgraphNode node;
    CU(((add_v1_fn)fn)(&node, g, NULL, 0, &kp));
    CUgraphExec x;
    CU(cuGraphInstantiate(&x, g, 0));
    CU(cuGraphLaunch(x, NULL));
    CHECK(cudaMemcpy(h, a, sizeof h, cudaMemcpyDeviceToHost));
    if (h[0][0] != 0x3c3c3c3d || h[H - 1][W / 4 - 1] != 0x3c3c3c3d)
        FAIL("a CUDA 10 kernel node: %08x %08x", h[0][0], h[H - 1][W / 4 - 1]);
    CU(cuGraphExecDestroy(x));
    CU(cuGraphDestroy(g));
    CHECK(cudaFree(a));
    CHECK(cudaFree(b));
}

// A green context on part of the device's SMs: a kernel (context-independent: a CUkernel) runs
// on one of its streams.
static void check_green(void)
{
    cudaKernel_t k;
    CHECK(cudaGetKernel(&k, add_one));
    CUfunction add = (CUfunction)k;
    CUdevResource sms, groups[64], rest;
    CU(cuDeviceGetDevResource(0, &sms, CU_DEV_RESOURCE_TYPE_SM));
    unsigned n = 0;
    CU(cuDevSmResourceSplitByCount(NULL, &n, &sms, NULL, 0, 2));
    if (n < 1 || n > 64 || sms.sm.smCount < 2)
        FAIL("SM split: %u groups of %u SMs", n, sms.sm.smCount);
    CU(cuDevSmResourceSplitByCount(groups, &n, &sms, &rest, 0, 2));
    CUdevResourceDesc desc;
    CU(cuDevResourceGenerateDesc(&desc, groups, 1));
    CUgreenCtx green;
    CU(cuGreenCtxCreate(&green, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM));
    CUdevResource got;
    CU(cuGreenCtxGetDevResource(green, &got, CU_DEV_RESOURCE_TYPE_SM));
    if (got.sm.smCount != groups[0].sm.smCount)
        FAIL("the green context has %u SMs, asked for %u", got.sm.smCount, groups[0].sm.smCount);
    CUcontext ctx;
    CU(cuCtxFromGreenCtx(&ctx, green));
    CUstream st;
    CU(cuGreenCtxStreamCreate(&st, green, CU_STREAM_NON_BLOCKING, 0));
    CUgreenCtx of_stream = NULL;
    CU(cuStreamGetGreenCtx(st, &of_stream));
    if (of_stream != green)
        FAIL("the stream's green context is not the one it was made in");
    unsigned long long id = 0;
    CU(cuGreenCtxGetId(green, &id));
    CU(cuCtxPushCurrent(ctx));
    int *d, h[64];
    CU(cuMemAlloc((CUdeviceptr *)&d, sizeof h));
    CU(cuMemsetD32Async((CUdeviceptr)d, 41, 64, st));
    int n64 = 64;
    void *args[] = {&d, &n64};
    CU(cuLaunchKernel(add, 1, 1, 1, 64, 1, 1, 0, st, args, NULL));
    CU(cuMemcpyDtoHAsync(h, (CUdeviceptr)d, sizeof h, st));
    CU(cuStreamSynchronize(st));
    if (h[0] != 42 || h[63] != 42)
        FAIL("a kernel on a green context's stream: %d %d", h[0], h[63]);
    CU(cuMemFree((CUdeviceptr)d));
    CUcontext popped;
    CU(cuCtxPopCurrent(&popped));
    CU(cuStreamDestroy(st));
    CU(cuGreenCtxDestroy(green));
}

// A batch of copies: host to device, device to device, device to host, in order on a stream.
static void check_copy_batch(void)
{
    enum { N = 1000 };
    static int in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i * 7;
    int *a, *b;
    CHECK(cudaMalloc(&a, sizeof in));
    CHECK(cudaMalloc(&b, sizeof in));
    CUdeviceptr dsts[3] = {(CUdeviceptr)a, (CUdeviceptr)b, (CUdeviceptr)out};
    CUdeviceptr srcs[3] = {(CUdeviceptr)in, (CUdeviceptr)a, (CUdeviceptr)b};
    size_t sizes[3] = {sizeof in, sizeof in, sizeof in}, idx = 0;
    CUmemcpyAttributes attr = {};
    attr.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CU(cuMemcpyBatchAsync(dsts, srcs, sizes, 3, &attr, &idx, 1, s));
    CU(cuStreamSynchronize(s));
    for (int i = 0; i < N; i++)
        if (out[i] != i * 7)
            FAIL("batched copies: element %d is %d", i, out[i]);
    attr.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_INVALID;
    if (cuMemcpyBatchAsync(dsts, srcs, sizes, 3, &attr, &idx, 1, s) != CUDA_ERROR_INVALID_VALUE)
        FAIL("a batch with an invalid access order was accepted");
    CU(cuStreamDestroy(s));
    CHECK(cudaFree(a));
    CHECK(cudaFree(b));
}

// Tensor maps: a tiled map over a device allocation, its address replaced; a rank past 5 and a
// misaligned address refused.
static void check_tensor_maps(void)
{
    float *d;
    CHECK(cudaMalloc(&d, 64 * 32 * sizeof(float) + 64));
    alignas(64) CUtensorMap map;
    cuuint64_t dim[2] = {64, 32}, stride[1] = {64 * sizeof(float)};
    cuuint32_t box[2] = {32, 8}, estride[2] = {1, 1};
    CU(cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, d, dim, stride, box, estride,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                              CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
    CU(cuTensorMapReplaceAddress(&map, d + 16));
    cuuint64_t dim6[6] = {1, 1, 1, 1, 1, 1}, stride6[5] = {16, 16, 16, 16, 16};
    cuuint32_t box6[6] = {4, 1, 1, 1, 1, 1}, es6[6] = {1, 1, 1, 1, 1, 1};
    if (cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 6, d, dim6, stride6, box6,
                               es6, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                               CU_TENSOR_MAP_L2_PROMOTION_NONE,
                               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_ERROR_INVALID_VALUE)
        FAIL("a tensor map of rank 6 was encoded");
    if (cuTensorMapReplaceAddress(&map, (char *)d + 4) != CUDA_ERROR_INVALID_VALUE)
        FAIL("a misaligned tensor address was accepted");
    CHECK(cudaFree(d));
}

static void on_log(void *data, CUlogLevel level, char *message, size_t length)
{
    (void)level, (void)length;
    if (strstr(message, "cuCheckpointProcessGetState"))
        (*(int *)data)++;
}

// The driver's log: a refused call is logged once, seen by a callback and in a dump that starts
// at an iterator taken before it.
static void check_logs(void)
{
    int seen = 0;
    CUlogsCallbackHandle h;
    CU(cuLogsRegisterCallback(on_log, &seen, &h));
    CUlogIterator it;
    CU(cuLogsCurrent(&it, 0));
    // a function both libraries refuse (process checkpoints)
    CUprocessState state;
    if (cuCheckpointProcessGetState(getpid(), &state) == CUDA_SUCCESS)
        FAIL("a process checkpoint state was answered");
    char buf[4096];
    size_t size = sizeof buf;
    CU(cuLogsDumpToMemory(&it, buf, &size, 0));
    if (seen != 1 || !strstr(buf, "cuCheckpointProcessGetState") || size != strlen(buf))
        FAIL("the log: callback saw %d, dump of %zu bytes: %s", seen, size, buf);
    size = sizeof buf;
    CU(cuLogsDumpToMemory(&it, buf, &size, 0));
    if (size != 0)
        FAIL("the iterator did not move past what was dumped: %s", buf);
    CU(cuLogsUnregisterCallback(h));
}

static void check_legacy_launch(CUfunction f)
{
    enum { N = 100 };
    int *d, h[N];
    CHECK(cudaMalloc(&d, N * sizeof(int)));
    CHECK(cudaMemset(d, 0, N * sizeof(int)));
    CU(cuFuncSetBlockShape(f, 64, 1, 1));
    CU(cuFuncSetSharedSize(f, 0));
    CU(cuParamSetv(f, 0, &d, sizeof d));
    CU(cuParamSeti(f, sizeof d, N));
    CU(cuParamSetSize(f, sizeof d + sizeof(int)));
    CU(cuLaunchGrid(f, 2, 1));
    CU(cuLaunch(f));
    CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++)
        if (h[i] != (i < 64 ? 2 : 1))
            FAIL("pre-4.0 launches: element %d is %d", i, h[i]);
    CHECK(cudaFree(d));
}

int main()
{
    CHECK(cudaFree(0));
    CHECK(cudaProfilerStart());
    CHECK(cudaProfilerStop());
    CUfunction f, g;
    CHECK(cudaGetFuncBySymbol((cudaFunction_t *)&f, (const void *)smem_kernel));
    CHECK(cudaGetFuncBySymbol((cudaFunction_t *)&g, (const void *)add_one));
    check_occupancy(f);
    CUmodule mod;
    CU(cuFuncGetModule(&mod, f));
    unsigned nfuncs = 0;
    CU(cuModuleGetFunctionCount(&nfuncs, mod));
    if (nfuncs < 2)
        FAIL("the module of smem_kernel has %u functions", nfuncs);
    check_names(f, mod, nfuncs);
    char bus[32];
    CU(cuDeviceGetPCIBusId(bus, sizeof bus, 0));
    CUdevice dev = -1;
    CU(cuDeviceGetByPCIBusId(&dev, bus));
    if (dev != 0)
        FAIL("device of bus id %s is %d", bus, dev);
    check_pool();
    check_locations();
    check_streams();
    check_memset2d();
    check_legacy_launch(g);
    check_compat(g);
    check_green();
    check_copy_batch();
    check_tensor_maps();
    check_logs();
    printf("driver_calls: OK profiler, occupancy callback, pool attributes, streams, memsets, "
           "pre-4.0 launches\n");
    return 0;
}
