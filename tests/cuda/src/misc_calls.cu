// misc_calls: the small driver families of calls_misc.def, through the driver API.
//  - graphics interop: no driver function registers a resource, so every resource is unknown
//    (INVALID_HANDLE), zero resources map and unmap, NULL outputs and bad flags are INVALID_VALUE;
//  - core-dump attributes: the defaults, a round trip of each kind (bool, flags, path) globally
//    and per context, the linked pairs (TRIGGER_HOST / SKIP_ABORT, LIGHTWEIGHT / its flags), the
//    size query; and a kernel's illegal address writing the dump at the path asked for (%p);
//  - asynchronous notifications: register and unregister; an allocation over the device's
//    memory calls the callback with the bytes over budget when the device itself refuses it
//    (softgpu directly; through a node only a vGPU's limit does: the isolation case notify);
//  - cluster occupancy: softgpu reports compute capability 8.0, without thread-block clusters,
//    and answers CUDA_ERROR_NOT_SUPPORTED for a valid query, INVALID_VALUE without a config.
#include <cstring>
#include <unistd.h>
#include <cuda.h>
#include "check.h"
#include "cu_check.h"

static const char ptx[] =
    ".version 7.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry poke(.param .u64 p)\n{\n .reg .b64 %rd<2>;\n .reg .b32 %r<2>;\n"
    " ld.param.u64 %rd1, [p];\n mov.u32 %r1, 7;\n st.global.u32 [%rd1], %r1;\n ret;\n}\n";

static void check_graphics(void)
{
    CUgraphicsResource res = (CUgraphicsResource)0x1234, none = NULL;
    CUdeviceptr p = 0;
    size_t size = 0;
    CUarray arr;
    CUmipmappedArray mip;
    EXPECT_CU(cuGraphicsMapResources(0, NULL, 0), CUDA_SUCCESS);
    EXPECT_CU(cuGraphicsUnmapResources(0, NULL, 0), CUDA_SUCCESS);
    EXPECT_CU(cuGraphicsMapResources(1, NULL, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuGraphicsMapResources(1, &res, 0), CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsUnmapResources(1, &none, 0), CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsUnregisterResource(res), CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsResourceGetMappedPointer(&p, &size, res), CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsResourceGetMappedPointer(NULL, &size, res), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuGraphicsSubResourceGetMappedArray(&arr, res, 0, 0), CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsResourceGetMappedMipmappedArray(&mip, res), CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsResourceSetMapFlags(res, CU_GRAPHICS_MAP_RESOURCE_FLAGS_READ_ONLY),
              CUDA_ERROR_INVALID_HANDLE);
    EXPECT_CU(cuGraphicsResourceSetMapFlags(res, 77), CUDA_ERROR_INVALID_VALUE);
    printf("graphics: every resource unknown\n");
}

static bool get_bool(CUcoredumpSettings a, bool global)
{
    bool v = false;
    size_t n = sizeof v;
    CU(global ? cuCoredumpGetAttributeGlobal(a, &v, &n) : cuCoredumpGetAttribute(a, &v, &n));
    return v;
}

static void set_bool(CUcoredumpSettings a, bool v, bool global)
{
    size_t n = sizeof v;
    CU(global ? cuCoredumpSetAttributeGlobal(a, &v, &n) : cuCoredumpSetAttribute(a, &v, &n));
}

static void check_coredump_settings(void)
{
    if (get_bool(CU_COREDUMP_ENABLE_ON_EXCEPTION, true)
        || !get_bool(CU_COREDUMP_TRIGGER_HOST, true) || get_bool(CU_COREDUMP_LIGHTWEIGHT, true)
        || get_bool(CU_COREDUMP_ENABLE_USER_TRIGGER, true))
        FAIL("core-dump defaults");
    char file[1024];
    size_t n = 0;
    CU(cuCoredumpGetAttributeGlobal(CU_COREDUMP_FILE, NULL, &n));
    if (n < 12 || n > sizeof file)
        FAIL("core-dump file size %zu", n);
    CU(cuCoredumpGetAttributeGlobal(CU_COREDUMP_FILE, file, &n));
    if (strncmp(file, "core.cuda.", 10))
        FAIL("default core-dump file %s", file);
    n = 4;
    EXPECT_CU(cuCoredumpGetAttributeGlobal(CU_COREDUMP_FILE, file, &n), CUDA_ERROR_INVALID_VALUE);
    // the linked pairs
    set_bool(CU_COREDUMP_TRIGGER_HOST, false, true);
    int flags = 0;
    n = sizeof flags;
    CU(cuCoredumpGetAttributeGlobal(CU_COREDUMP_GENERATION_FLAGS, &flags, &n));
    if (flags != CU_COREDUMP_SKIP_ABORT)
        FAIL("TRIGGER_HOST false gave flags 0x%x", flags);
    flags |= CU_COREDUMP_LIGHTWEIGHT_FLAGS;
    CU(cuCoredumpSetAttributeGlobal(CU_COREDUMP_GENERATION_FLAGS, &flags, &n));
    if (!get_bool(CU_COREDUMP_LIGHTWEIGHT, true) || get_bool(CU_COREDUMP_TRIGGER_HOST, true))
        FAIL("flags did not read back as LIGHTWEIGHT without TRIGGER_HOST");
    set_bool(CU_COREDUMP_LIGHTWEIGHT, false, true);
    // per context: overrides the process's value there, not the process's
    set_bool(CU_COREDUMP_ENABLE_ON_EXCEPTION, true, false);
    if (!get_bool(CU_COREDUMP_ENABLE_ON_EXCEPTION, false)
        || get_bool(CU_COREDUMP_ENABLE_ON_EXCEPTION, true))
        FAIL("per-context ENABLE_ON_EXCEPTION");
    bool on = true;
    n = sizeof on;
    EXPECT_CU(cuCoredumpSetAttribute(CU_COREDUMP_ENABLE_USER_TRIGGER, &on, &n),
              CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuCoredumpGetAttribute(CU_COREDUMP_MAX, &on, &n), CUDA_ERROR_INVALID_VALUE);
    snprintf(file, sizeof file, "/tmp/tfuse-misc-core.%%p");
    n = strlen(file) + 1;
    CU(cuCoredumpSetAttribute(CU_COREDUMP_FILE, file, &n));
    char back[1024];
    n = sizeof back;
    CU(cuCoredumpGetAttribute(CU_COREDUMP_FILE, back, &n));
    if (strcmp(back, file) || n != strlen(file) + 1)
        FAIL("file read back as %s", back);
    // a destroyed context's settings go with it: a new context starts from the process's, and
    // more contexts than the library keeps settings for can each have their own in turn
    CUdevice dev;
    CU(cuCtxGetDevice(&dev));
    for (int round = 0; round < 100; round++) {
        CUcontext fresh, popped;
        CU(cuCtxCreate(&fresh, NULL, 0, dev));
        if (get_bool(CU_COREDUMP_ENABLE_ON_EXCEPTION, false))
            FAIL("a new context (round %d) has a destroyed one's setting", round);
        set_bool(CU_COREDUMP_ENABLE_ON_EXCEPTION, true, false);
        CU(cuCtxPopCurrent(&popped));
        CU(cuCtxDestroy(fresh));
    }
    printf("coredump: attributes round trip\n");
}

static int notified;
static unsigned long long over_bytes;
static void on_notify(CUasyncNotificationInfo *info, void *user, CUasyncCallbackHandle h)
{
    if (info->type == CU_ASYNC_NOTIFICATION_TYPE_OVER_BUDGET && user == &notified && h) {
        over_bytes = info->info.overBudget.bytesOverBudget;
        __atomic_add_fetch(&notified, 1, __ATOMIC_SEQ_CST);
    }
}

static void check_notifications(void)
{
    CUasyncCallbackHandle h = NULL;
    EXPECT_CU(cuDeviceRegisterAsyncNotification(0, NULL, NULL, &h), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuDeviceRegisterAsyncNotification(99, on_notify, &notified, &h),
              CUDA_ERROR_INVALID_DEVICE);
    CU(cuDeviceRegisterAsyncNotification(0, on_notify, &notified, &h));
    size_t free_b = 0, total = 0;
    CU(cuMemGetInfo(&free_b, &total));
    CUdeviceptr p = 0;
    const size_t over = (size_t)16 << 20;
    EXPECT_CU(cuMemAlloc(&p, free_b + over), CUDA_ERROR_OUT_OF_MEMORY);
    for (int i = 0; i < 200 && !__atomic_load_n(&notified, __ATOMIC_SEQ_CST); i++)
        usleep(10000);
    // the device refused it (softgpu directly): exactly the bytes past its memory
    if (notified && over_bytes != over)
        FAIL("over budget by %llu bytes, expected %zu", over_bytes, over);
    if (getenv("MISC_CALLS_EXPECT_NOTIFY") && !notified)
        FAIL("no over-budget notification");
    CU(cuDeviceUnregisterAsyncNotification(0, h));
    EXPECT_CU(cuDeviceUnregisterAsyncNotification(0, h), CUDA_ERROR_INVALID_VALUE);
    int before = notified;
    EXPECT_CU(cuMemAlloc(&p, free_b + over), CUDA_ERROR_OUT_OF_MEMORY);
    usleep(100000);
    if (notified != before)
        FAIL("a callback ran after it was unregistered");
    printf("notifications: registered, unregistered\n");
}

static void check_clusters(CUfunction f)
{
    CUlaunchAttribute attr;
    attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attr.value.clusterDim.x = 2;
    attr.value.clusterDim.y = attr.value.clusterDim.z = 1;
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = 8;
    cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = 128;
    cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    int v = -1;
    EXPECT_CU(cuOccupancyMaxActiveClusters(&v, f, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuOccupancyMaxActiveClusters(&v, f, &cfg), CUDA_ERROR_NOT_SUPPORTED);
    EXPECT_CU(cuOccupancyMaxPotentialClusterSize(&v, f, &cfg), CUDA_ERROR_NOT_SUPPORTED);
    EXPECT_CU(cuOccupancyMaxPotentialClusterSize(&v, NULL, &cfg), CUDA_ERROR_INVALID_HANDLE);
    printf("clusters: none on compute capability 8.0\n");
}

// The exception comes last: it leaves the context unusable, as on a GPU.
static void check_fault_dump(CUfunction f)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/tfuse-misc-core.%d", (int)getpid());
    unlink(path);
    CUdeviceptr bad = 0x10;
    void *args[] = {&bad};
    CU(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    FILE *fp = fopen(path, "r");
    if (!fp)
        FAIL("no core dump at %s", path);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    unlink(path);
    text[n] = '\0';
    if (strncmp(text, "TFUSE-CUDA-COREDUMP 1\n", 22) || !strstr(text, "generation-flags: 0x10\n")
        || !strstr(text, "error: CUDA_ERROR_ILLEGAL_ADDRESS\n") || !strstr(text, "kernel: poke\n")
        || !strstr(text, "block: 32 1 1\n") || !strstr(text, "address: 0x10\n"))
        FAIL("core dump:\n%s", text);
    printf("coredump: written on an illegal address\n");
}

int main()
{
    CU(cuInit(0));
    CUcontext ctx;
    CU(cuDevicePrimaryCtxRetain(&ctx, 0));
    CU(cuCtxSetCurrent(ctx));
    CUmodule mod;
    CUfunction f;
    CU(cuModuleLoadData(&mod, ptx));
    CU(cuModuleGetFunction(&f, mod, "poke"));
    check_graphics();
    check_coredump_settings();
    check_notifications();
    check_clusters(f);
    check_fault_dump(f);
    printf("misc_calls: OK\n");
    return 0;
}
