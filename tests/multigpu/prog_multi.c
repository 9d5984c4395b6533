/*
 * A driver-API program for the multi-GPU tests (tfuse run --gpus N), built by cc so that the
 * test runs without nvcc. Modes (argv[1]):
 *   check OVERHEAD LIMIT0 LIMIT1 ...   the session must see exactly as many devices as limits
 *        given (NVML too), device N invalid, each device's total memory = its limit (NVML's
 *        memory info too: total LIMITi, free LIMITi - OVERHEAD), cuMemGetInfo in a
 *        context of device i = that vGPU's view (total LIMITi, free LIMITi - OVERHEAD), an
 *        allocation of all that is free succeeds and one byte more is CUDA_ERROR_OUT_OF_MEMORY
 *        on each device independently of the others, cuCtxGetDevice names the device, a kernel
 *        runs on each and its results are checked, each allocation's DEVICE_ORDINAL pointer
 *        attribute names its device; with two devices or more, devices 0 and 1
 *        are peers, enabling peer access works, device N is no peer, memory pools take the
 *        session's device numbers (device N refused). Prints "device I total T
 *        free F", "peers ok" and "ok".
 *   hold BYTES0 BYTES1 ...             allocate BYTESi on device i, print "held pid PID", sleep
 *                                      until killed
 * Exits 0 when the mode's checks passed.
 * Owns: nothing. May call: the CUDA driver API (our stub through tfuse run).
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfuse/nvml.h"

#define MAX_DEV 16

static const char ptx[] =
    ".version 7.0\n"
    ".target sm_50\n"
    ".address_size 64\n"
    ".visible .entry fill(.param .u64 out, .param .u32 value)\n"
    "{\n"
    "  .reg .b32 %r<4>;\n"
    "  .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  ld.param.u32 %r1, [value];\n"
    "  mov.u32 %r2, %tid.x;\n"
    "  add.u32 %r3, %r1, %r2;\n"
    "  mul.wide.u32 %rd2, %r2, 4;\n"
    "  cvta.to.global.u64 %rd3, %rd1;\n"
    "  add.u64 %rd3, %rd3, %rd2;\n"
    "  st.global.u32 [%rd3], %r3;\n"
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

#define EXPECT(cond, ...)                                                             \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "FAIL line %d: ", __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

struct dev {
    CUcontext ctx;
    CUfunction fill;
    CUdeviceptr out;        /* 32 words the kernel writes */
    CUdeviceptr all;        /* everything that was free */
};

static void open_device(int i, struct dev *d)
{
    CUdevice dev;
    CUmodule mod;
    CHECK(cuDeviceGet(&dev, i));
    CHECK(cuDevicePrimaryCtxRetain(&d->ctx, dev));
    CHECK(cuCtxSetCurrent(d->ctx));
    CHECK(cuModuleLoadData(&mod, ptx));
    CHECK(cuModuleGetFunction(&d->fill, mod, "fill"));
}

static void check_devices(int n, unsigned long long overhead, const unsigned long long *limit)
{
    int count = -1;
    CHECK(cuDeviceGetCount(&count));
    EXPECT(count == n, "cuDeviceGetCount = %d, expected %d", count, n);
    CUdevice dev;
    EXPECT(cuDeviceGet(&dev, n) == CUDA_ERROR_INVALID_DEVICE, "device %d is not invalid", n);
    int v;
    EXPECT(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, n) ==
               CUDA_ERROR_INVALID_DEVICE, "an attribute of device %d answered", n);
    unsigned nvml_count = 0;
    EXPECT(nvmlInit_v2() == NVML_SUCCESS && nvmlDeviceGetCount_v2(&nvml_count) == NVML_SUCCESS,
           "NVML init");
    EXPECT(nvml_count == (unsigned)n, "NVML counts %u devices, expected %d", nvml_count, n);
    CUuuid uuid[MAX_DEV];
    for (int i = 0; i < n; i++) {
        size_t total = 0;
        CHECK(cuDeviceGet(&dev, i));
        CHECK(cuDeviceTotalMem(&total, dev));
        EXPECT(total == limit[i], "device %d total %zu, expected its vGPU's limit %llu", i, total,
               limit[i]);
        CHECK(cuDeviceGetUuid(&uuid[i], dev));
        for (int j = 0; j < i; j++)
            EXPECT(memcmp(&uuid[i], &uuid[j], sizeof uuid[i]) != 0,
                   "devices %d and %d have one uuid: not distinct physical devices", j, i);
        char name[128];
        CHECK(cuDeviceGetName(name, sizeof name, dev));
        nvmlDevice_t nd;
        nvmlMemory_t mem;
        EXPECT(nvmlDeviceGetHandleByIndex_v2((unsigned)i, &nd) == NVML_SUCCESS &&
                   nvmlDeviceGetMemoryInfo(nd, &mem) == NVML_SUCCESS, "NVML memory of %d", i);
        EXPECT(mem.total == limit[i] && mem.free == limit[i] - overhead, "NVML device %d: total "
               "%llu free %llu, expected %llu and %llu", i, (unsigned long long)mem.total,
               (unsigned long long)mem.free, limit[i], limit[i] - overhead);
    }
}

/* Device i's memory view, then all of its free memory allocated and one byte more refused. */
static void fill_device(int i, struct dev *d, unsigned long long overhead,
                        unsigned long long limit)
{
    CHECK(cuCtxSetCurrent(d->ctx));
    CUdevice cur = -1;
    CHECK(cuCtxGetDevice(&cur));
    EXPECT(cur == i, "the context of device %d says it is on device %d", i, (int)cur);
    size_t freeb = 0, total = 0;
    CHECK(cuMemGetInfo(&freeb, &total));
    printf("device %d total %zu free %zu\n", i, total, freeb);
    EXPECT(total == limit, "device %d: cuMemGetInfo total %zu, expected %llu", i, total, limit);
    EXPECT(freeb == limit - overhead - 128, "device %d: free %zu, expected %llu", i, freeb,
           limit - overhead - 128);
    CHECK(cuMemAlloc(&d->all, freeb));
    CUdeviceptr extra;
    CUresult r = cuMemAlloc(&extra, 1);
    EXPECT(r == CUDA_ERROR_OUT_OF_MEMORY, "device %d: one byte past the limit answered %d", i,
           (int)r);
    CHECK(cuMemGetInfo(&freeb, &total));
    EXPECT(freeb == 0, "device %d full, yet free %zu", i, freeb);
}

/* Peer access between the session's devices as softgpu reports it (any two distinct devices),
 * with the session's ordinals: N is invalid. */
static void check_peers(int n, struct dev *d)
{
    int can = -1, v = -1;
    CHECK(cuDeviceCanAccessPeer(&can, 0, 1));
    EXPECT(can == 1, "device 0 cannot access device 1 (%d)", can);
    CHECK(cuDeviceCanAccessPeer(&can, 1, 1));
    EXPECT(can == 0, "device 1 is its own peer (%d)", can);
    EXPECT(cuDeviceCanAccessPeer(&can, 0, n) == CUDA_ERROR_INVALID_DEVICE,
           "peer device %d accepted", n);
    CHECK(cuDeviceGetP2PAttribute(&v, CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED, 1, 0));
    EXPECT(v == 1, "P2P access attribute %d", v);
    CHECK(cuCtxSetCurrent(d[0].ctx));
    CHECK(cuCtxEnablePeerAccess(d[1].ctx, 0));
    CHECK(cuCtxDisablePeerAccess(d[1].ctx));
    /* Memory locations inside structures name the session's devices too. */
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = 1;
    CUmemoryPool pool;
    CHECK(cuMemPoolCreate(&pool, &props));
    CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CHECK(cuMemPoolSetAccess(pool, &acc, 1));
    CUmemAccess_flags flags = CU_MEM_ACCESS_FLAGS_PROT_NONE;
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CHECK(cuMemPoolGetAccess(&flags, pool, &loc));
    EXPECT(flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE, "pool access flags %d", (int)flags);
    acc.location.id = n;
    EXPECT(cuMemPoolSetAccess(pool, &acc, 1) == CUDA_ERROR_INVALID_DEVICE,
           "pool access for device %d accepted", n);
    CHECK(cuMemPoolDestroy(pool));
    printf("peers ok\n");
}

static int mode_check(int n, unsigned long long overhead, const unsigned long long *limit)
{
    struct dev d[MAX_DEV];
    CHECK(cuInit(0));
    check_devices(n, overhead, limit);
    for (int i = 0; i < n; i++) {
        open_device(i, &d[i]);
        CHECK(cuMemAlloc(&d[i].out, 128));
    }
    /* Device N exists on the node (2 devices, one vGPU) but not in the session. */
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = n;
    CUmemoryPool bad;
    EXPECT(cuMemPoolCreate(&bad, &props) == CUDA_ERROR_INVALID_DEVICE,
           "a pool on device %d created", n);
    if (n >= 2)
        check_peers(n, d);
    /* Filling one device leaves the others' views untouched: checked as each is filled. */
    for (int i = 0; i < n; i++)
        fill_device(i, &d[i], overhead, limit[i]);
    for (int i = 0; i < n; i++) {
        CHECK(cuCtxSetCurrent(d[i].ctx));
        unsigned value = 1000u * (unsigned)(i + 1);
        void *args[] = {&d[i].out, &value};
        CHECK(cuLaunchKernel(d[i].fill, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
    }
    for (int i = 0; i < n; i++) {
        CHECK(cuCtxSetCurrent(d[i].ctx));
        CHECK(cuCtxSynchronize());
        unsigned got[32];
        CHECK(cuMemcpyDtoH(got, d[i].out, sizeof got));
        for (unsigned t = 0; t < 32; t++)
            EXPECT(got[t] == 1000u * (unsigned)(i + 1) + t, "device %d kernel wrote %u at %u", i,
                   got[t], t);
        int ordinal = -1;
        CHECK(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d[i].out));
        EXPECT(ordinal == i, "an allocation of device %d says it is on device %d", i, ordinal);
        CHECK(cuMemFree(d[i].all));
        size_t freeb = 0, total = 0;
        CHECK(cuMemGetInfo(&freeb, &total));
        EXPECT(freeb == limit[i] - overhead - 128, "device %d after the free: free %zu", i,
               freeb);
    }
    printf("ok\n");
    return 0;
}

static int mode_hold(int n, const unsigned long long *bytes)
{
    CHECK(cuInit(0));
    for (int i = 0; i < n; i++) {
        struct dev d;
        CUdeviceptr p;
        open_device(i, &d);
        CHECK(cuMemAlloc(&p, (size_t)bytes[i]));
    }
    printf("held pid %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    unsigned long long v[MAX_DEV];
    int first = argc > 1 && strcmp(argv[1], "check") == 0 ? 3 : 2;
    int n = argc - first;
    if (argc < 3 || n < 1 || n > MAX_DEV) {
        fprintf(stderr, "usage: prog_multi check OVERHEAD LIMIT... | hold BYTES...\n");
        return 2;
    }
    for (int i = 0; i < n; i++)
        v[i] = strtoull(argv[first + i], NULL, 0);
    if (strcmp(argv[1], "check") == 0)
        return mode_check(n, strtoull(argv[2], NULL, 0), v);
    if (strcmp(argv[1], "hold") == 0)
        return mode_hold(n, v);
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
