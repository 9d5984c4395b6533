/*
 * softgpu: initialisation, versions, devices and attributes, contexts (primary and created,
 * the per-thread stack, limits), error names, and cuGetProcAddress.
 */
#include <pthread.h>

#include "sg_test.h"

static void test_init_and_version(void **state)
{
    (void)state;
    CU_ERR(cuInit(1), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuInit(0));
    int v = 0;
    CU_OK(cuDriverGetVersion(&v));
    assert_int_equal(v, 13000);
    CU_ERR(cuDriverGetVersion(NULL), CUDA_ERROR_INVALID_VALUE);
}

static void test_devices(void **state)
{
    (void)state;
    int n = 0;
    CU_OK(cuDeviceGetCount(&n));
    assert_int_equal(n, 1);
    CUdevice d;
    CU_OK(cuDeviceGet(&d, 0));
    assert_int_equal(d, 0);
    CU_ERR(cuDeviceGet(&d, 1), CUDA_ERROR_INVALID_DEVICE);
    CU_ERR(cuDeviceGet(&d, -1), CUDA_ERROR_INVALID_DEVICE);
    char name[256];
    CU_OK(cuDeviceGetName(name, sizeof name, 0));
    assert_string_equal(name, "softgpu (CPU reference GPU)");
    size_t total = 0;
    CU_OK(cuDeviceTotalMem(&total, 0));
    assert_int_equal(total, 256u << 20); /* SOFTGPU_MEMORY=256MiB from the test environment */
    CUuuid a, b;
    CU_OK(cuDeviceGetUuid(&a, 0));
    CU_OK(cuDeviceGetUuid(&b, 0));
    assert_memory_equal(a.bytes, b.bytes, 16);
    char zero[16] = {0};
    assert_memory_not_equal(a.bytes, zero, 16);
    char bus[32];
    CU_OK(cuDeviceGetPCIBusId(bus, sizeof bus, 0));
    CU_OK(cuDeviceGetByPCIBusId(&d, bus));
    assert_int_equal(d, 0);
    int major, minor;
    CU_OK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
    CU_OK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0));
    assert_int_equal(major * 10 + minor, 80);
}

/* The 111 attributes CUDA 13's cudart queries at init must all succeed. */
static void test_attributes(void **state)
{
    (void)state;
    static const int ids[] = {
        75, 76, 40, 16, 18, 19, 21, 77, 22, 23, 73, 74, 70, 71, 72, 45, 46, 24, 25, 26, 47, 48,
        49, 52, 42, 43, 27, 28, 29, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67,
        68, 31, 32, 33, 34, 50, 35, 41, 37, 38, 108, 39, 30, 51, 8, 97, 81, 12, 82, 10, 11, 1, 2,
        3, 4, 5, 6, 7, 9, 14, 78, 79, 80, 83, 84, 85, 86, 88, 89, 90, 91, 95, 100, 101, 106, 109,
        111, 99, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 125, 129, 130, 131, 133, 134,
        139, 140, 143};
    assert_int_equal(sizeof ids / sizeof ids[0], 111);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int v = -12345;
        if (cuDeviceGetAttribute(&v, (CUdevice_attribute)ids[i], 0) != CUDA_SUCCESS)
            fail_msg("attribute %d failed", ids[i]);
    }
    /* and every id up to the last one in cuda.h */
    for (int id = 1; id < CU_DEVICE_ATTRIBUTE_MAX; id++) {
        int v;
        if (cuDeviceGetAttribute(&v, (CUdevice_attribute)id, 0) != CUDA_SUCCESS)
            fail_msg("attribute %d failed", id);
    }
    int v;
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
    assert_int_equal(v, 8);
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));
    assert_int_equal(v, 32);
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 0));
    assert_int_equal(v, 163 * 1024);
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 0));
    assert_int_equal(v, 1);
    CU_ERR(cuDeviceGetAttribute(&v, (CUdevice_attribute)9999, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 3), CUDA_ERROR_INVALID_DEVICE);
}

static void test_primary_context(void **state)
{
    (void)state;
    unsigned flags;
    int active;
    CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
    assert_int_equal(active, 0);
    /* no current context: calls that need one say so */
    CUdeviceptr p;
    CU_ERR(cuMemAlloc(&p, 16), CUDA_ERROR_INVALID_CONTEXT);
    CUcontext a, b, cur;
    CU_OK(cuDevicePrimaryCtxRetain(&a, 0));
    CU_OK(cuDevicePrimaryCtxRetain(&b, 0));
    assert_ptr_equal(a, b);
    CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
    assert_int_equal(active, 1);
    CU_OK(cuCtxSetCurrent(a));
    CU_OK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(cur, a);
    CUdevice d = -1;
    CU_OK(cuCtxGetDevice_v2(&d, a));
    assert_int_equal(d, 0);
    unsigned ver;
    CU_OK(cuCtxGetApiVersion(a, &ver));
    assert_true(ver >= 3020);
    CU_OK(cuDevicePrimaryCtxRelease(0));
    CU_OK(cuDevicePrimaryCtxRelease(0));
    CU_ERR(cuDevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);
    CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
    assert_int_equal(active, 0);
    CU_OK(cuCtxSetCurrent(NULL));
}

static void *other_thread(void *arg)
{
    CUcontext cur = (CUcontext)1;
    cuCtxGetCurrent(&cur);
    *(CUcontext *)arg = cur;
    return NULL;
}

static void test_created_contexts_and_stack(void **state)
{
    (void)state;
    CUcontext c1, c2, cur, popped;
    CU_OK(cuCtxCreate(&c1, NULL, 0, 0));
    CU_OK(cuCtxCreate(&c2, NULL, CU_CTX_SCHED_BLOCKING_SYNC, 0));
    assert_ptr_not_equal(c1, c2);
    CU_OK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(cur, c2);
    unsigned flags;
    CU_OK(cuCtxGetFlags(&flags));
    assert_int_equal(flags & CU_CTX_SCHED_MASK, CU_CTX_SCHED_BLOCKING_SYNC);
    /* the current context is per thread */
    pthread_t t;
    CUcontext seen;
    pthread_create(&t, NULL, other_thread, &seen);
    pthread_join(t, NULL);
    assert_null(seen);
    CU_OK(cuCtxPopCurrent(&popped));
    assert_ptr_equal(popped, c2);
    CU_OK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(cur, c1);
    CU_OK(cuCtxPushCurrent(c2));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuCtxSynchronize_v2(c1));
    unsigned long long id1, id2;
    CU_OK(cuCtxGetId(c1, &id1));
    CU_OK(cuCtxGetId(c2, &id2));
    assert_true(id1 != id2);
    CU_OK(cuCtxDestroy(c2));
    CU_OK(cuCtxDestroy(c1));
    CU_ERR(cuCtxDestroy(c1), CUDA_ERROR_INVALID_CONTEXT);
    CU_ERR(cuCtxPushCurrent((CUcontext)0x1234), CUDA_ERROR_INVALID_CONTEXT);
    CU_OK(cuCtxGetCurrent(&cur));
    assert_null(cur);
}

static void test_limits(void **state)
{
    (void)state;
    CUcontext c;
    CU_OK(cuCtxCreate(&c, NULL, 0, 0));
    size_t v;
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_PRINTF_FIFO_SIZE));
    assert_true(v > 0);
    CU_OK(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 4096));
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_PRINTF_FIFO_SIZE));
    assert_int_equal(v, 4096);
    CU_OK(cuCtxSetLimit(CU_LIMIT_STACK_SIZE, 2048));
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
    assert_int_equal(v, 2048);
    CU_OK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 1 << 20));
    CU_OK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
    assert_int_equal(v, 1 << 20);
    CU_ERR(cuCtxSetLimit((CUlimit)77, 1), CUDA_ERROR_UNSUPPORTED_LIMIT);
    int lo, hi;
    CU_OK(cuCtxGetStreamPriorityRange(&lo, &hi));
    assert_true(hi < lo);
    CU_OK(cuCtxDestroy(c));
}

static void test_error_names(void **state)
{
    (void)state;
    const char *s;
    CU_OK(cuGetErrorName(CUDA_ERROR_ILLEGAL_ADDRESS, &s));
    assert_string_equal(s, "CUDA_ERROR_ILLEGAL_ADDRESS");
    CU_OK(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s));
    assert_true(strlen(s) > 10);
    CU_OK(cuGetErrorName(CUDA_SUCCESS, &s));
    assert_string_equal(s, "CUDA_SUCCESS");
    CU_ERR(cuGetErrorName((CUresult)123456, &s), CUDA_ERROR_INVALID_VALUE);
    assert_null(s);
}

typedef CUresult (*getproc_v1_fn)(const char *, void **, int, cuuint64_t);

static void test_getproc(void **state)
{
    (void)state;
    void *fn = NULL;
    CUdriverProcAddressQueryResult q;
    CU_OK(cuGetProcAddress("cuMemAlloc", &fn, 13000, 0, &q));
    assert_int_equal(q, CU_GET_PROC_ADDRESS_SUCCESS);
    assert_ptr_equal(fn, (void *)cuMemAlloc_v2);
    /* the requested version picks the ABI */
    CU_OK(cuGetProcAddress("cuCtxSynchronize", &fn, 13000, 0, &q));
    assert_ptr_equal(fn, (void *)cuCtxSynchronize_v2);
    CU_OK(cuGetProcAddress("cuCtxSynchronize", &fn, 12080, 0, &q));
    assert_ptr_equal(fn, (void *)cuCtxSynchronize);
    /* per-thread variants */
    void *legacy, *ptsz;
    CU_OK(cuGetProcAddress("cuLaunchKernel", &legacy, 13000, 0, NULL));
    CU_OK(cuGetProcAddress("cuLaunchKernel", &ptsz, 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, NULL));
    assert_ptr_equal(legacy, (void *)cuLaunchKernel);
    assert_ptr_not_equal(ptsz, legacy);
    /* unknown names and too-old versions */
    CU_ERR(cuGetProcAddress("cuNoSuchThing", &fn, 13000, 0, &q), CUDA_ERROR_NOT_FOUND);
    assert_null(fn);
    assert_int_equal(q, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    CU_ERR(cuGetProcAddress("cuLibraryLoadData", &fn, 11000, 0, &q), CUDA_ERROR_NOT_FOUND);
    assert_int_equal(q, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    CU_ERR(cuGetProcAddress("cuInit", &fn, 13000, 8, &q), CUDA_ERROR_INVALID_VALUE);
    /* the 11.3 ABI has four arguments */
    getproc_v1_fn v1;
    CU_OK(cuGetProcAddress("cuGetProcAddress", (void **)&v1, 11030, 0, NULL));
    CU_OK(v1("cuInit", &fn, 2000, 0));
    assert_ptr_equal(fn, (void *)cuInit);
    /* every name cudart asks for at init with the ABI it expects */
    static const struct { const char *name; int ver; } wanted[] = {
        {"cuInit", 2000}, {"cuDriverGetVersion", 2020}, {"cuGetExportTable", 3000},
        {"cuDeviceGetCount", 2000}, {"cuDeviceGet", 2000}, {"cuDeviceGetName", 2000},
        {"cuDeviceTotalMem", 3020}, {"cuDeviceGetAttribute", 2000}, {"cuDeviceGetUuid", 11040},
        {"cuDevicePrimaryCtxRetain", 7000}, {"cuDevicePrimaryCtxRelease", 11000},
        {"cuDevicePrimaryCtxReset", 11000}, {"cuCtxGetCurrent", 4000}, {"cuCtxSetCurrent", 4000},
        {"cuCtxGetDevice", 13000}, {"cuCtxGetApiVersion", 3020}, {"cuLibraryLoadData", 12000},
        {"cuLibraryGetKernel", 12000}, {"cuLibraryGetGlobal", 12000}, {"cuLibraryUnload", 12000},
        {"cuKernelGetFunction", 12000}, {"cuKernelGetAttribute", 12000},
        {"cuMemAlloc", 3020}, {"cuMemFree", 3020}, {"cuMemcpyHtoD", 3020}, {"cuMemcpyDtoH", 3020},
        {"cuMemcpyHtoDAsync", 3020}, {"cuMemcpyDtoHAsync", 3020}, {"cuMemsetD8", 3020},
        {"cuMemHostAlloc", 3020}, {"cuMemFreeHost", 2000}, {"cuStreamCreate", 2000},
        {"cuStreamDestroy", 4000}, {"cuStreamSynchronize", 2000}, {"cuEventCreate", 2000},
        {"cuEventRecord", 2000}, {"cuEventSynchronize", 2000}, {"cuEventElapsedTime", 12080},
        {"cuEventDestroy", 4000}, {"cuLaunchKernel", 4000}, {"cuLaunchKernelEx", 11060},
        {"cuModuleGetLoadingMode", 11070}, {"cuFuncGetParamInfo", 12040},
        {"cuKernelGetParamInfo", 12040}, {"cuPointerGetAttributes", 7000},
        {"cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags", 7000},
        {"cuMemHostRegister", 6050}, {"cuMemHostUnregister", 4000}, {"cuMemAllocManaged", 6000},
        {"cuMemGetInfo", 3020}, {"cuMemcpy", 4000}, {"cuMemcpyDtoD", 3020},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        if (cuGetProcAddress(wanted[i].name, &fn, wanted[i].ver, 0, NULL) != CUDA_SUCCESS || !fn)
            fail_msg("cuGetProcAddress(%s, %d) failed", wanted[i].name, wanted[i].ver);
}

static void test_export_table(void **state)
{
    (void)state;
    /* CUDART_INTERFACE: slot 2 returns the primary context without retaining it */
    static const CUuuid cudart_interface = {{0x6b, (char)0xd5, (char)0xfb, 0x6c, 0x5b, (char)0xf4,
                                             (char)0xe7, 0x4a, (char)0x89, (char)0x87, (char)0xd9,
                                             0x39, 0x12, (char)0xfd, (char)0x9d, (char)0xf9}};
    const void *table = NULL;
    CU_OK(cuGetExportTable(&table, &cudart_interface));
    assert_non_null(table);
    typedef CUresult (*get_primary_fn)(CUcontext *, CUdevice);
    get_primary_fn get_primary = ((get_primary_fn const *)table)[2];
    CUcontext p = NULL, r = NULL;
    CU_OK(get_primary(&p, 0));
    unsigned flags;
    int active;
    CU_OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
    assert_int_equal(active, 0);
    CU_OK(cuDevicePrimaryCtxRetain(&r, 0));
    assert_ptr_equal(p, r);
    CU_OK(cuDevicePrimaryCtxRelease(0));
    CUuuid unknown = {{1, 2, 3}};
    CU_ERR(cuGetExportTable(&table, &unknown), CUDA_ERROR_INVALID_VALUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_version),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_primary_context),
        cmocka_unit_test(test_created_contexts_and_stack),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_getproc),
        cmocka_unit_test(test_export_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
