/*
 * softgpu's NVML subset: it sees the devices the driver creates (same UUID and PCI ids), the
 * memory and the process that this test allocates through the driver, and utilization while
 * a kernel keeps the device busy.
 */
#include <unistd.h>

#include "sg_test.h"
#include "tfuse/nvml.h"

/* spins for p_n iterations of a dependent add chain */
static const char ptx[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry spin(.param .u64 p_out, .param .u32 p_n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<3>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u32 %r1, [p_n];\n"
    "  mov.u32 %r2, 0;\n  mov.u32 %r3, 0;\n"
    "LOOP:\n  setp.ge.u32 %p1, %r3, %r1;\n  @%p1 bra END;\n"
    "  add.s32 %r2, %r2, %r3;\n  add.s32 %r3, %r3, 1;\n  bra LOOP;\n"
    "END:\n  cvta.to.global.u64 %rd2, %rd1;\n  st.global.u32 [%rd2], %r2;\n  ret;\n}\n";

static void test_nvml_devices(void **state)
{
    (void)state;
    assert_int_equal(nvmlDeviceGetCount_v2(&(unsigned){0}), NVML_ERROR_UNINITIALIZED);
    assert_int_equal(nvmlInit_v2(), NVML_SUCCESS);
    unsigned count = 0;
    assert_int_equal(nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);
    assert_int_equal(count, 1);
    nvmlDevice_t dev;
    assert_int_equal(nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);
    assert_int_equal(nvmlDeviceGetHandleByIndex_v2(1, &dev), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    assert_int_equal(nvmlDeviceGetName(dev, name, sizeof name), NVML_SUCCESS);
    assert_string_equal(name, "softgpu (CPU reference GPU)");
    assert_int_equal(nvmlDeviceGetName(dev, name, 4), NVML_ERROR_INSUFFICIENT_SIZE);
    /* the UUID is the driver's, in NVML's text form */
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    assert_int_equal(nvmlDeviceGetUUID(dev, uuid, sizeof uuid), NVML_SUCCESS);
    CUuuid u;
    CU_OK(cuInit(0));
    CU_OK(cuDeviceGetUuid(&u, 0));
    char expect[64];
    const unsigned char *b = (const unsigned char *)u.bytes;
    snprintf(expect, sizeof expect,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    assert_string_equal(uuid, expect);
    nvmlDevice_t again;
    assert_int_equal(nvmlDeviceGetHandleByUUID(uuid, &again), NVML_SUCCESS);
    assert_ptr_equal(again, dev);
    nvmlPciInfo_t pci;
    assert_int_equal(nvmlDeviceGetPciInfo_v3(dev, &pci), NVML_SUCCESS);
    int bus;
    CU_OK(cuDeviceGetAttribute(&bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 0));
    assert_int_equal(pci.bus, (unsigned)bus);
    char ver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
    assert_int_equal(nvmlSystemGetDriverVersion(ver, sizeof ver), NVML_SUCCESS);
    assert_true(strlen(ver) > 0);
    assert_string_equal(nvmlErrorString(NVML_ERROR_NOT_FOUND), "Not Found");
    assert_int_equal(nvmlDeviceGetName((nvmlDevice_t)&count, name, sizeof name),
                     NVML_ERROR_INVALID_ARGUMENT);
}

/* NVML's handle of device 0 and a new CUDA context on it (current), as a process would have. */
static void open_device_and_context(nvmlDevice_t *dev, CUcontext *c)
{
    assert_int_equal(nvmlDeviceGetHandleByIndex_v2(0, dev), NVML_SUCCESS);
    CU_OK(cuCtxCreate(c, NULL, 0, 0));
}

static void test_nvml_memory_and_processes(void **state)
{
    (void)state;
    nvmlDevice_t dev;
    CUcontext c;
    open_device_and_context(&dev, &c);
    CUdeviceptr p;
    CU_OK(cuMemAlloc(&p, 32 << 20));
    nvmlMemory_t mem;
    assert_int_equal(nvmlDeviceGetMemoryInfo(dev, &mem), NVML_SUCCESS);
    assert_int_equal(mem.total, 256u << 20);
    assert_true(mem.used >= (32u << 20));
    assert_int_equal(mem.free + mem.used, mem.total);
    unsigned n = 0;
    nvmlReturn_t r = nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, NULL);
    assert_true(r == NVML_ERROR_INSUFFICIENT_SIZE && n >= 1);
    nvmlProcessInfo_t infos[256];
    n = 256;
    assert_int_equal(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, infos), NVML_SUCCESS);
    int found = 0;
    for (unsigned i = 0; i < n; i++)
        if (infos[i].pid == (unsigned)getpid()) {
            found = 1;
            assert_true(infos[i].usedGpuMemory >= (32u << 20));
        }
    assert_true(found);
    CU_OK(cuMemFree(p));
    n = 256;
    assert_int_equal(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, infos), NVML_SUCCESS);
    for (unsigned i = 0; i < n; i++)
        if (infos[i].pid == (unsigned)getpid())
            assert_true(infos[i].usedGpuMemory < (32u << 20));
    CU_OK(cuCtxDestroy(c));
}

static void test_nvml_utilization(void **state)
{
    (void)state;
    nvmlDevice_t dev;
    CUcontext c;
    open_device_and_context(&dev, &c);
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx));
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, m, "spin"));
    CUdeviceptr out;
    CU_OK(cuMemAlloc(&out, 4));
    /* keep the device busy for a while: several kernels of a few tens of milliseconds */
    unsigned iters = 200000;
    void *params[] = {&out, &iters};
    unsigned util = 0;
    for (int round = 0; round < 40 && util == 0; round++) {
        CU_OK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
        CU_OK(cuCtxSynchronize());
        nvmlUtilization_t u;
        assert_int_equal(nvmlDeviceGetUtilizationRates(dev, &u), NVML_SUCCESS);
        assert_true(u.gpu <= 100 && u.memory <= 100);
        util = u.gpu;
    }
    assert_true(util > 0);
    CU_OK(cuMemFree(out));
    CU_OK(cuModuleUnload(m));
    CU_OK(cuCtxDestroy(c));
    assert_int_equal(nvmlShutdown(), NVML_SUCCESS);
    assert_int_equal(nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvml_devices),
        cmocka_unit_test(test_nvml_memory_and_processes),
        cmocka_unit_test(test_nvml_utilization),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
