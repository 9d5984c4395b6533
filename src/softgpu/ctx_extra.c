/*
 * The rest of the context and device surface: execution affinity, shared-memory bank
 * configuration, context-wide event record/wait, the deprecated cuCtxAttach/cuCtxDetach and
 * cuDeviceGetProperties, texture and atomic capability queries, NvSci, GPUDirect RDMA flushes,
 * the cluster occupancy queries, cuLibraryGetUnifiedFunction and
 * the old cuCtxCreate ABI. Each answer agrees with the attributes device.c reports (an sm_80 GPU
 * without MPS, clusters, NvSci or GPUDirect RDMA). Calls the public entry points of context.c,
 * device.c, event.c, stream.c and module.c.
 */
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

/* ---- execution affinity (MPS only: CU_DEVICE_ATTRIBUTE_MPS_ENABLED is 0) -------------------- */

CUresult cuDeviceGetExecAffinitySupport(int *pi, CUexecAffinityType type, CUdevice dev)
{
    CUresult r = sg_device_arg(dev, pi != NULL);
    if (r)
        return r;
    if (type != CU_EXEC_AFFINITY_TYPE_SM_COUNT)
        return CUDA_ERROR_INVALID_VALUE;
    *pi = 0;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetExecAffinity(CUexecAffinityParam *pExecAffinity, CUexecAffinityType type)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!pExecAffinity || type != CU_EXEC_AFFINITY_TYPE_SM_COUNT)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY; /* no affinity without MPS */
}

/* ---- shared-memory banks: fixed at four bytes since Volta; setting them changes nothing ---- */

static int sharedconfig_ok(CUsharedconfig config)
{
    return config == CU_SHARED_MEM_CONFIG_DEFAULT_BANK_SIZE
           || config == CU_SHARED_MEM_CONFIG_FOUR_BYTE_BANK_SIZE
           || config == CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE;
}

CUresult cuCtxGetSharedMemConfig(CUsharedconfig *pConfig)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!pConfig)
        return CUDA_ERROR_INVALID_VALUE;
    *pConfig = CU_SHARED_MEM_CONFIG_FOUR_BYTE_BANK_SIZE;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetSharedMemConfig(CUsharedconfig config)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    return sharedconfig_ok(config) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig config)
{
    struct sg_func *f;
    CUresult r = sg_func_resolve(hfunc, &f);
    if (r)
        return r;
    return sharedconfig_ok(config) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- context-wide event record and wait ---------------------------------------------------- */

/* The context's streams, referenced; *n of them. NULL when there are none or out of memory. */
static struct sg_stream **ctx_streams(struct sg_ctx *c, size_t *n)
{
    struct sg_stream **list = NULL;
    size_t cap = 0;
    *n = 0;
    pthread_mutex_lock(&c->lock);
    for (struct sg_stream *s = c->streams; s; s = s->next_in_ctx) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            struct sg_stream **nl = realloc(list, cap * sizeof *nl);
            if (!nl)
                break;
            list = nl;
        }
        sg_stream_retain(s);
        list[(*n)++] = s;
    }
    pthread_mutex_unlock(&c->lock);
    return list;
}

static void release_streams(struct sg_stream **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sg_stream_release(list[i]);
    free(list);
}

/* Makes `to` wait for everything submitted to `from` so far. */
static CUresult stream_after_stream(CUstream to, CUstream from)
{
    CUevent e;
    CUresult r = cuEventCreate(&e, CU_EVENT_DISABLE_TIMING);
    if (r)
        return r;
    r = cuEventRecord(e, from);
    if (!r)
        r = cuStreamWaitEvent(to, e, 0);
    cuEventDestroy_v2(e);
    return r;
}

/* Runs fn with hCtx current on this thread. */
static CUresult with_ctx(CUcontext hCtx, CUevent ev, CUresult (*fn)(struct sg_ctx *, CUevent))
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_resolve(hCtx, &c);
    if (r)
        return r;
    if (!sg_handle_is(ev, SG_K_EVENT))
        return CUDA_ERROR_INVALID_HANDLE;
    if (((struct sg_event *)ev)->ctx != c)
        return CUDA_ERROR_INVALID_CONTEXT;
    r = cuCtxPushCurrent_v2((CUcontext)c);
    if (r)
        return r;
    r = fn(c, ev);
    CUcontext popped;
    cuCtxPopCurrent_v2(&popped);
    return r;
}

static CUresult record_all(struct sg_ctx *c, CUevent ev)
{
    size_t n;
    struct sg_stream **list = ctx_streams(c, &n);
    CUresult r = CUDA_SUCCESS;
    for (size_t i = 0; i < n && !r; i++)
        r = stream_after_stream(CU_STREAM_LEGACY, (CUstream)list[i]);
    release_streams(list, n);
    return r ? r : cuEventRecord(ev, CU_STREAM_LEGACY);
}

static CUresult wait_all(struct sg_ctx *c, CUevent ev)
{
    size_t n;
    struct sg_stream **list = ctx_streams(c, &n);
    CUresult r = cuStreamWaitEvent(CU_STREAM_LEGACY, ev, 0);
    for (size_t i = 0; i < n && !r; i++)
        r = cuStreamWaitEvent((CUstream)list[i], ev, 0);
    release_streams(list, n);
    return r;
}

/* The event completes once all work submitted to the context so far has: the legacy stream
 * waits for every other stream of the context, then records the event. */
CUresult cuCtxRecordEvent(CUcontext hCtx, CUevent hEvent) { return with_ctx(hCtx, hEvent, record_all); }

/* Every stream of the context (legacy included) waits for the event. */
CUresult cuCtxWaitEvent(CUcontext hCtx, CUevent hEvent) { return with_ctx(hCtx, hEvent, wait_all); }

/* ---- cuCtxAttach / cuCtxDetach: a usage count on top of the context's own life ------------- */

struct attach_count {
    struct sg_ctx *ctx;
    unsigned generation;
    int count;
};
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static struct attach_count attaches[64];

/* attach_lock held: the entry of c (created when make), NULL when none. */
static struct attach_count *attach_entry(struct sg_ctx *c, int make)
{
    struct attach_count *free_slot = NULL;
    for (size_t i = 0; i < sizeof attaches / sizeof *attaches; i++) {
        struct attach_count *a = &attaches[i];
        if (a->ctx == c && a->generation == c->generation && a->count > 0)
            return a;
        if (!free_slot && a->count == 0)
            free_slot = a;
    }
    if (!make || !free_slot)
        return NULL;
    *free_slot = (struct attach_count){c, c->generation, 0};
    return free_slot;
}

CUresult cuCtxAttach(CUcontext *pctx, unsigned int flags)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!pctx || flags)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&attach_lock);
    struct attach_count *a = attach_entry(c, 1);
    if (a)
        a->count++;
    pthread_mutex_unlock(&attach_lock);
    if (!a)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *pctx = (CUcontext)c;
    return CUDA_SUCCESS;
}

/* Drops one cuCtxAttach; the creator's own reference destroys the context. */
CUresult cuCtxDetach(CUcontext ctx)
{
    struct sg_ctx *c, *cur;
    CUresult r = sg_ctx_resolve(ctx, &c);
    if (!r)
        r = sg_ctx_get(&cur);
    if (r)
        return r;
    if (!ctx || c != cur)
        return CUDA_ERROR_INVALID_CONTEXT; /* must be current */
    pthread_mutex_lock(&attach_lock);
    struct attach_count *a = attach_entry(c, 0);
    if (a)
        a->count--;
    pthread_mutex_unlock(&attach_lock);
    return a ? CUDA_SUCCESS : cuCtxDestroy_v2(ctx);
}

/* ---- the old cuCtxCreate ABI (same arguments as _v2) ----------------------------------------- */

#undef cuCtxCreate
CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
    return cuCtxCreate_v2(pctx, flags, dev);
}

/* ---- device queries ------------------------------------------------------------------------- */

static int attr(CUdevice_attribute a, CUdevice dev)
{
    int v = 0;
    cuDeviceGetAttribute(&v, a, dev);
    return v;
}

CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice dev)
{
    CUresult r = sg_device_arg(dev, prop != NULL);
    if (r)
        return r;
    prop->maxThreadsPerBlock = attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, dev);
    for (int i = 0; i < 3; i++) {
        prop->maxThreadsDim[i] = attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X + i, dev);
        prop->maxGridSize[i] = attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X + i, dev);
    }
    prop->sharedMemPerBlock = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, dev);
    prop->totalConstantMemory = attr(CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, dev);
    prop->SIMDWidth = attr(CU_DEVICE_ATTRIBUTE_WARP_SIZE, dev);
    prop->memPitch = attr(CU_DEVICE_ATTRIBUTE_MAX_PITCH, dev);
    prop->regsPerBlock = attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, dev);
    prop->clockRate = attr(CU_DEVICE_ATTRIBUTE_CLOCK_RATE, dev);
    prop->textureAlign = attr(CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT, dev);
    return CUDA_SUCCESS;
}

static int array_format_ok(CUarray_format f)
{
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_UNSIGNED_INT32: case CU_AD_FORMAT_SIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_HALF: case CU_AD_FORMAT_FLOAT:
        return 1;
    default:
        return 0;
    }
}

CUresult cuDeviceGetTexture1DLinearMaxWidth(size_t *maxWidthInElements, CUarray_format format,
                                            unsigned numChannels, CUdevice dev)
{
    CUresult r = sg_device_arg(dev, maxWidthInElements != NULL);
    if (r)
        return r;
    if (!array_format_ok(format) || (numChannels != 1 && numChannels != 2 && numChannels != 4))
        return CUDA_ERROR_INVALID_VALUE;
    *maxWidthInElements = (size_t)attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH, dev);
    return CUDA_SUCCESS;
}

/* What an sm_80 does natively for one operation; host and peer atomics are the same CPU
 * atomics on the same memory in softgpu, so all three queries share it. */
static unsigned atomic_caps(CUatomicOperation op)
{
    const unsigned ints = CU_ATOMIC_CAPABILITY_SIGNED | CU_ATOMIC_CAPABILITY_UNSIGNED
                          | CU_ATOMIC_CAPABILITY_REDUCTION | CU_ATOMIC_CAPABILITY_SCALAR_32
                          | CU_ATOMIC_CAPABILITY_SCALAR_64;
    switch (op) {
    case CU_ATOMIC_OPERATION_INTEGER_ADD: case CU_ATOMIC_OPERATION_INTEGER_MIN:
    case CU_ATOMIC_OPERATION_INTEGER_MAX: case CU_ATOMIC_OPERATION_AND:
    case CU_ATOMIC_OPERATION_OR: case CU_ATOMIC_OPERATION_XOR:
        return ints;
    case CU_ATOMIC_OPERATION_INTEGER_INCREMENT: case CU_ATOMIC_OPERATION_INTEGER_DECREMENT:
        return CU_ATOMIC_CAPABILITY_UNSIGNED | CU_ATOMIC_CAPABILITY_REDUCTION
               | CU_ATOMIC_CAPABILITY_SCALAR_32;
    case CU_ATOMIC_OPERATION_EXCHANGE: case CU_ATOMIC_OPERATION_CAS:
        return CU_ATOMIC_CAPABILITY_SCALAR_32 | CU_ATOMIC_CAPABILITY_SCALAR_64;
    case CU_ATOMIC_OPERATION_FLOAT_ADD:
        return CU_ATOMIC_CAPABILITY_REDUCTION | CU_ATOMIC_CAPABILITY_SCALAR_32
               | CU_ATOMIC_CAPABILITY_SCALAR_64;
    default:
        return 0; /* float min/max: not native before sm_90 */
    }
}

static CUresult fill_atomic_caps(unsigned *caps, const CUatomicOperation *ops, unsigned count)
{
    if (count && (!caps || !ops))
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < count; i++) {
        if ((int)ops[i] < 0 || ops[i] >= CU_ATOMIC_OPERATION_MAX)
            return CUDA_ERROR_INVALID_VALUE;
        caps[i] = atomic_caps(ops[i]);
    }
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetHostAtomicCapabilities(unsigned int *capabilities,
                                           const CUatomicOperation *operations, unsigned int count,
                                           CUdevice dev)
{
    CUresult r = sg_device_arg(dev, 1);
    return r ? r : fill_atomic_caps(capabilities, operations, count);
}

CUresult cuDeviceGetP2PAtomicCapabilities(unsigned int *capabilities,
                                          const CUatomicOperation *operations, unsigned int count,
                                          CUdevice srcDevice, CUdevice dstDevice)
{
    CUresult r = sg_device_arg(srcDevice, 1);
    if (!r)
        r = sg_device_check(dstDevice);
    if (r)
        return r;
    if (srcDevice == dstDevice)
        return CUDA_ERROR_INVALID_DEVICE;
    return fill_atomic_caps(capabilities, operations, count);
}

CUresult cuDeviceGetNvSciSyncAttributes(void *nvSciSyncAttrList, CUdevice dev, int flags)
{
    CUresult r = sg_device_arg(dev, nvSciSyncAttrList != NULL);
    (void)flags;
    return r ? r : CUDA_ERROR_NOT_SUPPORTED; /* no NvSci on this platform */
}

CUresult cuFlushGPUDirectRDMAWrites(CUflushGPUDirectRDMAWritesTarget target,
                                   CUflushGPUDirectRDMAWritesScope scope)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (target != CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TARGET_CURRENT_CTX
        || (scope != CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_OWNER
            && scope != CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_ALL_DEVICES))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_NOT_SUPPORTED; /* GPU_DIRECT_RDMA_FLUSH_WRITES_OPTIONS is 0 */
}

/* ---- clusters: CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH is 0 (sm_80) ------------------------------ */

static CUresult cluster_query(CUfunction func, const CUlaunchConfig *config, const int *out)
{
    struct sg_func *f;
    if (!out || !config)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_func_resolve(func, &f);
    return r ? r : CUDA_ERROR_NOT_SUPPORTED; /* no thread-block clusters before sm_90 */
}

CUresult cuOccupancyMaxPotentialClusterSize(int *clusterSize, CUfunction func,
                                            const CUlaunchConfig *config)
{
    return cluster_query(func, config, clusterSize);
}

CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func,
                                      const CUlaunchConfig *config)
{
    return cluster_query(func, config, numClusters);
}

/* ---- libraries: unified (host-and-device) functions need HMM, which softgpu's PTX never
 * declares, so no symbol is one. ------------------------------------------------------------- */

CUresult cuLibraryGetUnifiedFunction(void **fptr, CUlibrary library, const char *symbol)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!fptr || !symbol)
        return CUDA_ERROR_INVALID_VALUE;
    if (!sg_handle_is(library, SG_K_LIBRARY))
        return CUDA_ERROR_INVALID_HANDLE;
    return CUDA_ERROR_NOT_FOUND;
}

/* ---- cooperative launches on several devices: one device is one cooperative launch -------- */

CUresult cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS *launchParamsList,
                                              unsigned int numDevices, unsigned int flags)
{
    if (numDevices > 1)
        return CUDA_ERROR_NOT_SUPPORTED; /* no grid sync across devices (MULTI_DEVICE_LAUNCH 0) */
    if (!launchParamsList || !numDevices
        || (flags & ~(unsigned)(CUDA_COOPERATIVE_LAUNCH_MULTI_DEVICE_NO_PRE_LAUNCH_SYNC
                                | CUDA_COOPERATIVE_LAUNCH_MULTI_DEVICE_NO_POST_LAUNCH_SYNC)))
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < numDevices; i++) {
        const CUDA_LAUNCH_PARAMS *p = &launchParamsList[i];
        CUresult r = cuLaunchCooperativeKernel(p->function, p->gridDimX, p->gridDimY, p->gridDimZ,
                                               p->blockDimX, p->blockDimY, p->blockDimZ,
                                               p->sharedMemBytes, p->hStream, p->kernelParams);
        if (r)
            return r;
    }
    return CUDA_SUCCESS;
}
