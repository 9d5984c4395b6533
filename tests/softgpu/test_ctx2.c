/*
 * softgpu: the rest of the context and device surface (execution affinity, shared-memory
 * configuration, context-wide event record/wait, cuCtxAttach/Detach, cuDeviceGetProperties,
 * texture and atomic capability queries, async notifications, cluster occupancy), green
 * contexts and SM resources, and which contexts a stream belongs to (cuStreamGetCtx, _v2,
 * cuStreamGetGreenCtx).
 */
#include <time.h>

#include "sg_test.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* deprecated calls are tested */

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev); /* cuda.h names _v4 */

static void exec_affinity_and_shared_config(void **state)
{
    (void)state;
    int v = -1;
    CU_OK(cuDeviceGetExecAffinitySupport(&v, CU_EXEC_AFFINITY_TYPE_SM_COUNT, 0));
    assert_int_equal(v, 0);
    CUexecAffinityParam p;
    CU_ERR(cuCtxGetExecAffinity(&p, CU_EXEC_AFFINITY_TYPE_SM_COUNT), CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY);
    CUsharedconfig cfg;
    CU_OK(cuCtxSetSharedMemConfig(CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE));
    CU_OK(cuCtxGetSharedMemConfig(&cfg));
    assert_int_equal(cfg, CU_SHARED_MEM_CONFIG_FOUR_BYTE_BANK_SIZE);
    CU_ERR(cuCtxSetSharedMemConfig((CUsharedconfig)7), CUDA_ERROR_INVALID_VALUE);
}

static void device_queries(void **state)
{
    (void)state;
    CUdevprop prop;
    CU_OK(cuDeviceGetProperties(&prop, 0));
    assert_int_equal(prop.maxThreadsPerBlock, 1024);
    assert_int_equal(prop.SIMDWidth, 32);
    assert_int_equal(prop.maxGridSize[1], 65535);
    size_t w = 0;
    CU_OK(cuDeviceGetTexture1DLinearMaxWidth(&w, CU_AD_FORMAT_FLOAT, 4, 0));
    assert_true(w > 0);
    CU_ERR(cuDeviceGetTexture1DLinearMaxWidth(&w, CU_AD_FORMAT_FLOAT, 3, 0), CUDA_ERROR_INVALID_VALUE);
    CUatomicOperation ops[] = {CU_ATOMIC_OPERATION_INTEGER_ADD, CU_ATOMIC_OPERATION_FLOAT_MIN,
                               CU_ATOMIC_OPERATION_CAS};
    unsigned caps[3];
    CU_OK(cuDeviceGetHostAtomicCapabilities(caps, ops, 3, 0));
    assert_true(caps[0] & CU_ATOMIC_CAPABILITY_SCALAR_64);
    assert_int_equal(caps[1], 0);
    assert_true(caps[2] & CU_ATOMIC_CAPABILITY_SCALAR_32);
    int count = 0;
    CU_OK(cuDeviceGetCount(&count));
    if (count > 1)
        CU_OK(cuDeviceGetP2PAtomicCapabilities(caps, ops, 3, 0, 1));
    CU_ERR(cuDeviceGetP2PAtomicCapabilities(caps, ops, 3, 0, 0), CUDA_ERROR_INVALID_DEVICE);
    char nvsci[64];
    CU_ERR(cuDeviceGetNvSciSyncAttributes(nvsci, 0, 0), CUDA_ERROR_NOT_SUPPORTED);
    CU_ERR(cuFlushGPUDirectRDMAWrites(CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TARGET_CURRENT_CTX,
                                      CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_OWNER),
           CUDA_ERROR_NOT_SUPPORTED);
}

static void notify(CUasyncNotificationInfo *info, void *user, CUasyncCallbackHandle h)
{
    (void)info, (void)user, (void)h;
}

static void async_notifications(void **state)
{
    (void)state;
    CUasyncCallbackHandle h;
    CU_OK(cuDeviceRegisterAsyncNotification(0, notify, NULL, &h));
    CU_OK(cuDeviceUnregisterAsyncNotification(0, h));
    CU_ERR(cuDeviceUnregisterAsyncNotification(0, h), CUDA_ERROR_INVALID_VALUE);
}

static void attach_detach(void **state)
{
    (void)state;
    CUcontext c, a;
    CU_OK(cuCtxCreate_v2(&c, 0, 0));
    CU_OK(cuCtxAttach(&a, 0));
    assert_ptr_equal(a, c);
    CU_ERR(cuCtxAttach(&a, 1), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuCtxDetach(c));          /* drops the attach */
    unsigned long long id;
    CU_OK(cuCtxGetId(c, &id));      /* still alive */
    CU_OK(cuCtxDetach(c));          /* the creator's reference: destroyed */
    CU_ERR(cuCtxGetId(c, &id), CUDA_ERROR_INVALID_CONTEXT);
}

/* An event recorded for the whole context completes after work on every stream. */
static void host_sleep(void *p)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    *(volatile int *)p = 1;
}

static void ctx_record_and_wait_event(void **state)
{
    (void)state;
    CUcontext ctx;
    CU_OK(cuCtxGetCurrent(&ctx));
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    static volatile int done;
    done = 0;
    CU_OK(cuLaunchHostFunc(s, host_sleep, (void *)&done));
    CUevent e;
    CU_OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    CU_OK(cuCtxRecordEvent(ctx, e));
    CU_OK(cuEventSynchronize(e));
    assert_int_equal(done, 1);
    /* every stream of the context waits for an event recorded later */
    CUstream s2;
    CU_OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    done = 0;
    CU_OK(cuLaunchHostFunc(s2, host_sleep, (void *)&done));
    CU_OK(cuEventRecord(e, s2));
    CU_OK(cuCtxWaitEvent(ctx, e));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(done, 1);
    CU_OK(cuEventDestroy(e));
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuStreamDestroy(s2));
}

static void cluster_occupancy_not_supported(void **state)
{
    (void)state;
    static const char ptx[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                              ".visible .entry k()\n{\n  ret;\n}\n";
    CUmodule m;
    CUfunction f;
    CU_OK(cuModuleLoadData(&m, ptx));
    CU_OK(cuModuleGetFunction(&f, m, "k"));
    CUlaunchConfig cfg = {0};
    cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = 32;
    cfg.blockDimY = cfg.blockDimZ = 1;
    int n;
    CU_ERR(cuOccupancyMaxPotentialClusterSize(&n, f, &cfg), CUDA_ERROR_NOT_SUPPORTED);
    CU_ERR(cuOccupancyMaxActiveClusters(&n, f, &cfg), CUDA_ERROR_NOT_SUPPORTED);
    CU_OK(cuFuncSetSharedMemConfig(f, CU_SHARED_MEM_CONFIG_DEFAULT_BANK_SIZE));
    CUDA_LAUNCH_PARAMS lp = {f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL};
    CU_OK(cuLaunchCooperativeKernelMultiDevice(&lp, 1, 0));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuModuleUnload(m));
}

static void green_contexts(void **state)
{
    (void)state;
    CUdevResource dev_res, groups[8], rest;
    CU_OK(cuDeviceGetDevResource(0, &dev_res, CU_DEV_RESOURCE_TYPE_SM));
    int sms = 0;
    CU_OK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
    assert_int_equal(dev_res.sm.smCount, sms);
    unsigned n = 0;
    CU_OK(cuDevSmResourceSplitByCount(NULL, &n, &dev_res, NULL, 0, 1)); /* 1 rounds up to 2 */
    assert_int_equal(n, sms / 2);
    n = 1;
    CU_OK(cuDevSmResourceSplitByCount(groups, &n, &dev_res, &rest, 0, 2));
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].sm.smCount, 2);
    assert_int_equal(rest.sm.smCount, sms - 2);
    CUdevResourceDesc desc;
    CU_OK(cuDevResourceGenerateDesc(&desc, groups, 1));
    CUgreenCtx g;
    CU_OK(cuGreenCtxCreate(&g, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM));
    CUdevResource got;
    CU_OK(cuGreenCtxGetDevResource(g, &got, CU_DEV_RESOURCE_TYPE_SM));
    assert_int_equal(got.sm.smCount, 2);
    CUcontext gc, primary;
    CU_OK(cuCtxFromGreenCtx(&gc, g));
    CU_OK(cuCtxGetDevResource(gc, &got, CU_DEV_RESOURCE_TYPE_SM));
    assert_int_equal(got.sm.smCount, 2);
    unsigned long long id1, id2;
    CU_OK(cuGreenCtxGetId(g, &id1));
    CUstream s;
    CU_ERR(cuGreenCtxStreamCreate(&s, g, 0, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuGreenCtxStreamCreate(&s, g, CU_STREAM_NON_BLOCKING, 0));
    CUgreenCtx back;
    CU_OK(cuStreamGetGreenCtx(s, &back));
    assert_ptr_equal(back, g);
    CUcontext sc;
    CU_OK(cuStreamGetCtx_v2(s, &sc, &back));
    CU_OK(cuDevicePrimaryCtxRetain(&primary, 0));
    assert_ptr_equal(sc, primary);
    assert_ptr_equal(back, g);
    CU_OK(cuDevicePrimaryCtxRelease(0));
    CUevent e;
    CU_OK(cuCtxPushCurrent(gc));
    CU_OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    CU_OK(cuCtxPopCurrent(&gc));
    CU_OK(cuGreenCtxRecordEvent(g, e));
    CU_OK(cuGreenCtxWaitEvent(g, e));
    CU_OK(cuEventSynchronize(e));
    CU_OK(cuEventDestroy(e));
    CU_OK(cuStreamDestroy(s));
    /* a regular stream: its own context, no green context */
    CUstream plain;
    CU_OK(cuStreamCreate(&plain, 0));
    CU_OK(cuStreamGetCtx_v2(plain, &sc, &back));
    assert_null(back);
    CU_OK(cuStreamGetCtx(plain, &sc));
    CU_OK(cuStreamDestroy(plain));
    CU_OK(cuGreenCtxDestroy(g));
    CU_ERR(cuGreenCtxGetId(g, &id2), CUDA_ERROR_INVALID_HANDLE);
    n = 1;
    CU_ERR(cuDevSmResourceSplitByCount(groups, &n, &dev_res, NULL, 0, (unsigned)sms + 2),
           CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exec_affinity_and_shared_config, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(device_queries, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(async_notifications, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(attach_detach, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(ctx_record_and_wait_event, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(cluster_occupancy_not_supported, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(green_contexts, sg_setup_primary, sg_teardown_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
