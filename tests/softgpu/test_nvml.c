/*
 * softgpu's libnvidia-ml (src/nvml front + src/softgpu/nvml.c): every exported function's
 * answer. Identity agrees with the driver (UUID, PCI ids, attributes); memory, processes and
 * utilization follow what this test does through the driver; sensors softgpu does not have
 * are NVML_ERROR_NOT_SUPPORTED; a second device (SOFTGPU_DEVICES=2) is a peer.
 */
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sg_test.h"
#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"

#define NV_OK(call) assert_int_equal((int)(call), NVML_SUCCESS)
#define NV_ERR(call, expected) assert_int_equal((int)(call), (int)(expected))
#define NS NVML_ERROR_NOT_SUPPORTED
#define BAD NVML_ERROR_INVALID_ARGUMENT

/* spins for p_n iterations of a dependent add chain; the volatile store in the loop keeps
 * the JIT from folding the loop into its closed form */
static const char ptx[] =
    ".version 8.0\n.target sm_80\n.address_size 64\n"
    ".visible .entry spin(.param .u64 p_out, .param .u32 p_n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n  .reg .b32 %r<6>;\n  .reg .b64 %rd<3>;\n"
    "  ld.param.u64 %rd1, [p_out];\n  ld.param.u32 %r1, [p_n];\n"
    "  mov.u32 %r2, 0;\n  mov.u32 %r3, 0;\n  cvta.to.global.u64 %rd2, %rd1;\n"
    "LOOP:\n  setp.ge.u32 %p1, %r3, %r1;\n  @%p1 bra END;\n"
    "  add.s32 %r2, %r2, %r3;\n  st.volatile.global.u32 [%rd2], %r2;\n"
    "  add.s32 %r3, %r3, 1;\n  bra LOOP;\n"
    "END:\n  st.global.u32 [%rd2], %r2;\n  ret;\n}\n";

static nvmlDevice_t dev0(void)
{
    nvmlDevice_t d;
    NV_OK(nvmlDeviceGetHandleByIndex_v2(0, &d));
    return d;
}

static int attr(CUdevice_attribute a)
{
    int v = 0;
    CU_OK(cuDeviceGetAttribute(&v, a, 0));
    return v;
}

static void test_nvml_init_and_system(void **state)
{
    (void)state;
    unsigned n = 0;
    NV_ERR(nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
    /* reference counted across every init entry point */
    NV_OK(nvmlInit());
    NV_OK(nvmlInitWithFlags(0));
    NV_OK(nvmlInit_v2());
    NV_OK(nvmlShutdown());
    NV_OK(nvmlShutdown());
    NV_OK(nvmlDeviceGetCount_v2(&n));
    NV_OK(nvmlShutdown());
    NV_ERR(nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    NV_OK(nvmlInit_v2());   /* held until the last test */
    CU_OK(cuInit(0));

    char ver[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
    NV_OK(nvmlSystemGetDriverVersion(ver, sizeof ver));
    assert_string_equal(ver, "13.0.0-softgpu");
    NV_ERR(nvmlSystemGetDriverVersion(ver, 4), NVML_ERROR_INSUFFICIENT_SIZE);
    NV_OK(nvmlSystemGetNVMLVersion(ver, sizeof ver));
    assert_string_equal(ver, "13.13.0.0-softgpu");
    int cuda = 0, driver = 0;
    CU_OK(cuDriverGetVersion(&driver));
    NV_OK(nvmlSystemGetCudaDriverVersion(&cuda));
    assert_int_equal(cuda, driver);
    NV_OK(nvmlSystemGetCudaDriverVersion_v2(&cuda));
    assert_int_equal(cuda, driver);
    NV_ERR(nvmlSystemGetCudaDriverVersion(NULL), BAD);
    char name[256];
    NV_OK(nvmlSystemGetProcessName((unsigned)getpid(), name, sizeof name));
    assert_non_null(strstr(name, "softgpu_nvml"));
    NV_ERR(nvmlSystemGetProcessName(0x7ffffff0u, name, sizeof name), NVML_ERROR_NOT_FOUND);
    NV_OK(nvmlUnitGetCount(&n));
    assert_int_equal(n, 0);
    assert_string_equal(nvmlErrorString(NVML_SUCCESS), "Success");
    assert_string_equal(nvmlErrorString(NVML_ERROR_NOT_FOUND), "Not Found");
    assert_string_equal(nvmlErrorString(NVML_ERROR_NOT_SUPPORTED), "Not Supported");
    assert_string_equal(nvmlErrorString(NVML_ERROR_ARGUMENT_VERSION_MISMATCH),
                        "Argument Version Mismatch");
    assert_string_equal(nvmlErrorString((nvmlReturn_t)12345), "Unknown Error");
}

static void test_nvml_handles(void **state)
{
    (void)state;
    unsigned count = 0;
    NV_OK(nvmlDeviceGetCount_v2(&count));
    assert_int_equal(count, 1);
    NV_OK(nvmlDeviceGetCount(&count));
    assert_int_equal(count, 1);
    nvmlDevice_t dev = dev0(), other;
    NV_ERR(nvmlDeviceGetHandleByIndex_v2(1, &other), BAD);
    NV_OK(nvmlDeviceGetHandleByIndex(0, &other));
    assert_ptr_equal(other, dev);
    /* the UUID is the driver's, in NVML's text form */
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE], expect[64];
    NV_OK(nvmlDeviceGetUUID(dev, uuid, sizeof uuid));
    CUuuid u;
    CU_OK(cuDeviceGetUuid(&u, 0));
    const unsigned char *b = (const unsigned char *)u.bytes;
    snprintf(expect, sizeof expect,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    assert_string_equal(uuid, expect);
    NV_ERR(nvmlDeviceGetUUID(dev, uuid, 10), NVML_ERROR_INSUFFICIENT_SIZE);
    NV_OK(nvmlDeviceGetHandleByUUID(uuid, &other));
    assert_ptr_equal(other, dev);
    NV_ERR(nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000", &other),
           NVML_ERROR_NOT_FOUND);
    NV_ERR(nvmlDeviceGetHandleByUUID(NULL, &other), BAD);
    /* the serial: the UUID's first bytes in decimal, and found by it */
    char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE];
    NV_OK(nvmlDeviceGetSerial(dev, serial, sizeof serial));
    assert_int_equal(strspn(serial, "0123456789"), 15);
    NV_OK(nvmlDeviceGetHandleBySerial(serial, &other));
    assert_ptr_equal(other, dev);
    NV_ERR(nvmlDeviceGetHandleBySerial("1", &other), NVML_ERROR_NOT_FOUND);
    /* by PCI bus id: the driver's form, the short form, NVML's own */
    char bus[32];
    CU_OK(cuDeviceGetPCIBusId(bus, sizeof bus, 0));
    NV_OK(nvmlDeviceGetHandleByPciBusId_v2(bus, &other));
    assert_ptr_equal(other, dev);
    NV_OK(nvmlDeviceGetHandleByPciBusId(bus, &other));
    assert_ptr_equal(other, dev);
    snprintf(bus, sizeof bus, "%02x:00.0", (unsigned)attr(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID));
    NV_OK(nvmlDeviceGetHandleByPciBusId_v2(bus, &other));
    NV_ERR(nvmlDeviceGetHandleByPciBusId_v2("0000:ee:00.0", &other), NVML_ERROR_NOT_FOUND);
    NV_ERR(nvmlDeviceGetHandleByPciBusId_v2("not a bus id", &other), BAD);
    NV_ERR(nvmlDeviceGetHandleByPciBusId_v2("0000:41:00.1", &other), BAD);
    unsigned index = 9;
    NV_OK(nvmlDeviceGetIndex(dev, &index));
    assert_int_equal(index, 0);
    NV_OK(nvmlDeviceGetMinorNumber(dev, &index));
    assert_int_equal(index, 0);
    /* a pointer that is not a handle */
    NV_ERR(nvmlDeviceGetIndex((nvmlDevice_t)&count, &index), BAD);
    NV_ERR(nvmlDeviceGetIndex(NULL, &index), BAD);
    NV_ERR(nvmlDeviceGetIndex(dev, NULL), BAD);
}

static void test_nvml_identity(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    NV_OK(nvmlDeviceGetName(dev, name, sizeof name));
    assert_string_equal(name, "softgpu (CPU reference GPU)");
    NV_ERR(nvmlDeviceGetName(dev, name, 4), NVML_ERROR_INSUFFICIENT_SIZE);
    NV_ERR(nvmlDeviceGetName(dev, NULL, 4), BAD);
    nvmlBrandType_t brand;
    NV_OK(nvmlDeviceGetBrand(dev, &brand));
    assert_int_equal(brand, NVML_BRAND_UNKNOWN);
    nvmlDeviceArchitecture_t arch;
    NV_OK(nvmlDeviceGetArchitecture(dev, &arch));
    assert_int_equal(arch, NVML_DEVICE_ARCH_AMPERE);
    int major = 0, minor = 0;
    NV_OK(nvmlDeviceGetCudaComputeCapability(dev, &major, &minor));
    assert_int_equal(major, attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR));
    assert_int_equal(minor, attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
    unsigned v = 0;
    NV_OK(nvmlDeviceGetNumGpuCores(dev, &v));
    assert_int_equal(v, 64 * attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
    NV_OK(nvmlDeviceGetMemoryBusWidth(dev, &v));
    assert_int_equal(v, attr(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH));
    /* PCI: the driver's ids, NVML's two text forms and the legacy struct */
    nvmlPciInfo_t pci, pci2;
    NV_OK(nvmlDeviceGetPciInfo_v3(dev, &pci));
    assert_int_equal(pci.domain, attr(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID));
    assert_int_equal(pci.bus, attr(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID));
    assert_int_equal(pci.device, attr(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID));
    assert_int_equal(pci.pciDeviceId, (unsigned)attr(CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID));
    assert_int_equal(pci.pciSubSystemId, (unsigned)attr(CU_DEVICE_ATTRIBUTE_GPU_PCI_SUBSYSTEM_ID));
    char expect[32];
    snprintf(expect, sizeof expect, "%08X:%02X:00.0", 0u, pci.bus);
    assert_string_equal(pci.busId, expect);
    snprintf(expect, sizeof expect, "%04X:%02X:00.0", 0u, pci.bus);
    assert_string_equal(pci.busIdLegacy, expect);
    NV_OK(nvmlDeviceGetPciInfo_v2(dev, &pci2));
    assert_memory_equal(&pci, &pci2, sizeof pci);
    tfuse_nvmlPciInfo_v1_t old;
    NV_OK(nvmlDeviceGetPciInfo(dev, &old));
    assert_string_equal(old.busId, expect);
    assert_int_equal(old.bus, pci.bus);
    assert_int_equal(old.pciDeviceId, pci.pciDeviceId);
    NV_ERR(nvmlDeviceGetPciInfo_v3(dev, NULL), BAD);
    /* no board firmware or part number */
    char text[96];
    NV_ERR(nvmlDeviceGetVbiosVersion(dev, text, sizeof text), NS);
    NV_ERR(nvmlDeviceGetInforomVersion(dev, NVML_INFOROM_OEM, text, sizeof text), NS);
    NV_ERR(nvmlDeviceGetInforomVersion(dev, NVML_INFOROM_COUNT, text, sizeof text), BAD);
    NV_ERR(nvmlDeviceGetInforomImageVersion(dev, text, sizeof text), NS);
    NV_ERR(nvmlDeviceGetBoardPartNumber(dev, text, sizeof text), NS);
}

static void test_nvml_modes_and_links(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    nvmlEnableState_t e = NVML_FEATURE_ENABLED, p = NVML_FEATURE_ENABLED;
    NV_OK(nvmlDeviceGetPersistenceMode(dev, &e));
    assert_int_equal(e, NVML_FEATURE_DISABLED);
    nvmlComputeMode_t cm;
    NV_OK(nvmlDeviceGetComputeMode(dev, &cm));
    assert_int_equal(cm, attr(CU_DEVICE_ATTRIBUTE_COMPUTE_MODE));
    e = NVML_FEATURE_ENABLED;
    NV_OK(nvmlDeviceGetDisplayMode(dev, &e));
    assert_int_equal(e, NVML_FEATURE_DISABLED);
    e = NVML_FEATURE_ENABLED;
    NV_OK(nvmlDeviceGetDisplayActive(dev, &e));
    assert_int_equal(e, NVML_FEATURE_DISABLED);
    e = NVML_FEATURE_ENABLED;
    NV_OK(nvmlDeviceGetAccountingMode(dev, &e));
    assert_int_equal(e, NVML_FEATURE_DISABLED);
    unsigned cur = 1, pend = 1, n = 1;
    NV_OK(nvmlDeviceGetMigMode(dev, &cur, &pend));
    assert_true(cur == NVML_DEVICE_MIG_DISABLE && pend == NVML_DEVICE_MIG_DISABLE);
    NV_OK(nvmlDeviceGetMaxMigDeviceCount(dev, &n));
    assert_int_equal(n, 0);
    n = 1;
    NV_OK(nvmlDeviceIsMigDeviceHandle(dev, &n));
    assert_int_equal(n, 0);
    nvmlGpuVirtualizationMode_t vm;
    NV_OK(nvmlDeviceGetVirtualizationMode(dev, &vm));
    assert_int_equal(vm, NVML_GPU_VIRTUALIZATION_MODE_NONE);
    nvmlHostVgpuMode_t hm;
    NV_ERR(nvmlDeviceGetHostVgpuMode(dev, &hm), NS);
    /* ECC as the driver says (off); no error counters or retired pages */
    NV_OK(nvmlDeviceGetEccMode(dev, &e, &p));
    assert_int_equal(e, attr(CU_DEVICE_ATTRIBUTE_ECC_ENABLED) ? NVML_FEATURE_ENABLED
                                                              : NVML_FEATURE_DISABLED);
    assert_int_equal(p, e);
    unsigned long long c;
    NV_ERR(nvmlDeviceGetTotalEccErrors(dev, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC,
                                       &c), NS);
    NV_ERR(nvmlDeviceGetTotalEccErrors(dev, NVML_MEMORY_ERROR_TYPE_COUNT, NVML_VOLATILE_ECC, &c),
           BAD);
    NV_ERR(nvmlDeviceGetRetiredPages(dev, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, &n,
                                     NULL), NS);
    NV_ERR(nvmlDeviceGetRetiredPages_v2(dev, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, &n,
                                        NULL, NULL), NS);
    NV_ERR(nvmlDeviceGetRetiredPagesPendingStatus(dev, &e), NS);
    /* the CPUs this process may use */
    unsigned long set[4] = {0};
    NV_OK(nvmlDeviceGetCpuAffinity(dev, 4, set));
    cpu_set_t mine;
    assert_int_equal(sched_getaffinity(0, sizeof mine, &mine), 0);
    for (unsigned cpu = 0; cpu < 64; cpu++)
        assert_int_equal(!!(set[0] >> cpu & 1), !!CPU_ISSET(cpu, &mine));
    NV_ERR(nvmlDeviceGetCpuAffinity(dev, 0, set), BAD);
    /* one device: its own ancestor, not its own peer, no NVLink */
    nvmlGpuTopologyLevel_t lvl;
    NV_OK(nvmlDeviceGetTopologyCommonAncestor(dev, dev, &lvl));
    assert_int_equal(lvl, NVML_TOPOLOGY_INTERNAL);
    nvmlGpuP2PStatus_t st;
    NV_OK(nvmlDeviceGetP2PStatus(dev, dev, NVML_P2P_CAPS_INDEX_READ, &st));
    assert_int_equal(st, NVML_P2P_STATUS_NOT_SUPPORTED);
    NV_ERR(nvmlDeviceGetP2PStatus(dev, dev, NVML_P2P_CAPS_INDEX_UNKNOWN, &st), BAD);
    NV_ERR(nvmlDeviceGetNvLinkState(dev, 0, &e), NS);
    NV_ERR(nvmlDeviceGetNvLinkState(dev, NVML_NVLINK_MAX_LINKS, &e), BAD);
    NV_ERR(nvmlDeviceGetNvLinkCapability(dev, 0, NVML_NVLINK_CAP_P2P_SUPPORTED, &n), NS);
    nvmlIntNvLinkDeviceType_t t;
    NV_ERR(nvmlDeviceGetNvLinkRemoteDeviceType(dev, 0, &t), NS);
    nvmlPciInfo_t pci;
    NV_ERR(nvmlDeviceGetNvLinkRemotePciInfo_v2(dev, 0, &pci), NS);
    NV_ERR(nvmlDeviceGetNvLinkRemotePciInfo(dev, 0, &pci), NS);
}

/* This process's entry in a v3 list of n, or NULL. */
static const nvmlProcessInfo_t *mine(const nvmlProcessInfo_t *infos, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (infos[i].pid == (unsigned)getpid())
            return &infos[i];
    return NULL;
}

static void check_lists_hold(nvmlDevice_t dev, unsigned long long at_least)
{
    unsigned n = 0;
    NV_ERR(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, NULL), NVML_ERROR_INSUFFICIENT_SIZE);
    assert_true(n >= 1);
    static nvmlProcessInfo_t v3[256];
    n = 256;
    NV_OK(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, v3));
    const nvmlProcessInfo_t *me = mine(v3, n);
    assert_non_null(me);
    assert_true(me->usedGpuMemory >= at_least);
    assert_true(me->gpuInstanceId == 0xFFFFFFFFu && me->computeInstanceId == 0xFFFFFFFFu);
    static nvmlProcessInfo_v2_t v2[256];
    n = 256;
    NV_OK(nvmlDeviceGetComputeRunningProcesses_v2(dev, &n, v2));
    static nvmlProcessInfo_v1_t v1[256];
    unsigned n1 = 256, found = 0;
    NV_OK(nvmlDeviceGetComputeRunningProcesses(dev, &n1, v1));
    for (unsigned i = 0; i < n1; i++)
        found |= v1[i].pid == (unsigned)getpid() && v1[i].usedGpuMemory >= at_least;
    assert_true(found);
    n1 = 0;
    NV_ERR(nvmlDeviceGetComputeRunningProcesses(dev, &n1, v1), NVML_ERROR_INSUFFICIENT_SIZE);
    assert_true(n1 >= 1);
    /* compute-only devices: no graphics, no MPS server */
    n = 5;
    NV_OK(nvmlDeviceGetGraphicsRunningProcesses_v3(dev, &n, v3));
    assert_int_equal(n, 0);
    n = 5;
    NV_OK(nvmlDeviceGetGraphicsRunningProcesses_v2(dev, &n, v2));
    NV_OK(nvmlDeviceGetGraphicsRunningProcesses(dev, &n, v1));
    NV_OK(nvmlDeviceGetMPSComputeRunningProcesses_v3(dev, &n, v3));
    NV_OK(nvmlDeviceGetMPSComputeRunningProcesses_v2(dev, &n, v2));
    NV_OK(nvmlDeviceGetMPSComputeRunningProcesses(dev, &n, v1));
    assert_int_equal(n, 0);
    NV_ERR(nvmlDeviceGetMPSComputeRunningProcesses_v3(dev, NULL, v3), BAD);
}

static void test_nvml_memory_and_processes(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    CUcontext c;
    CU_OK(cuCtxCreate(&c, NULL, 0, 0));
    CUdeviceptr p;
    CU_OK(cuMemAlloc(&p, 32 << 20));
    nvmlMemory_t mem;
    NV_OK(nvmlDeviceGetMemoryInfo(dev, &mem));
    assert_int_equal(mem.total, 256u << 20);
    assert_true(mem.used >= (32u << 20));
    assert_int_equal(mem.free + mem.used, mem.total);
    assert_int_equal(nvmlMemory_v2, 0x02000028u);
    nvmlMemory_v2_t m2 = {.version = 1};
    NV_ERR(nvmlDeviceGetMemoryInfo_v2(dev, &m2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    m2.version = nvmlMemory_v2;
    NV_OK(nvmlDeviceGetMemoryInfo_v2(dev, &m2));
    assert_int_equal(m2.total, mem.total);
    assert_int_equal(m2.reserved, 0);
    assert_true(m2.used >= (32u << 20));
    assert_int_equal(m2.free + m2.used, m2.total);
    nvmlBAR1Memory_t bar1;
    NV_ERR(nvmlDeviceGetBAR1MemoryInfo(dev, &bar1), NS);
    check_lists_hold(dev, 32u << 20);
    unsigned u, period;
    NV_ERR(nvmlDeviceGetEncoderUtilization(dev, &u, &period), NS);
    NV_ERR(nvmlDeviceGetDecoderUtilization(dev, &u, &period), NS);
    NV_ERR(nvmlDeviceGetEncoderUtilization(dev, &u, NULL), BAD);
    CU_OK(cuMemFree(p));
    static nvmlProcessInfo_t infos[256];
    unsigned n = 256;
    NV_OK(nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, infos));
    const nvmlProcessInfo_t *me = mine(infos, n);
    assert_true(!me || me->usedGpuMemory < (32u << 20));
    CU_OK(cuCtxDestroy(c));
}

/* This process's sample, or -1 when there is none. */
static int my_sm_util(nvmlDevice_t dev)
{
    static nvmlProcessUtilizationSample_t s[256];
    unsigned n = 256;
    if (nvmlDeviceGetProcessUtilization(dev, s, &n, 0) != NVML_SUCCESS)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (s[i].pid == (unsigned)getpid()) {
            assert_true(s[i].smUtil <= 100 && s[i].memUtil <= 100 && s[i].timeStamp > 0);
            return (int)s[i].smUtil;
        }
    return -1;
}

static void test_nvml_utilization(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    CUcontext c;
    CU_OK(cuCtxCreate(&c, NULL, 0, 0));
    CUmodule m;
    CU_OK(cuModuleLoadData(&m, ptx));
    CUfunction f;
    CU_OK(cuModuleGetFunction(&f, m, "spin"));
    CUdeviceptr out;
    CU_OK(cuMemAlloc(&out, 4));
    /* keep the device busy for a while: kernels of a few milliseconds and up, four times
     * longer each round the sample still reads idle (the JIT runs them far faster than the
     * interpreter) */
    unsigned iters = 200000, util = 0;
    int proc = 0;
    void *params[] = {&out, &iters};
    for (int round = 0; round < 40 && (util == 0 || proc <= 0); round++) {
        CU_OK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
        CU_OK(cuCtxSynchronize());
        nvmlUtilization_t u;
        NV_OK(nvmlDeviceGetUtilizationRates(dev, &u));
        assert_true(u.gpu <= 100 && u.memory <= 100);
        util = u.gpu;
        proc = my_sm_util(dev);
        if ((util == 0 || proc <= 0) && iters < (1u << 28))
            iters *= 4;
    }
    assert_true(util > 0);
    assert_true(proc > 0);
    unsigned n = 0;
    NV_ERR(nvmlDeviceGetProcessUtilization(dev, NULL, &n, 0), NVML_ERROR_INSUFFICIENT_SIZE);
    assert_true(n >= 1);
    nvmlProcessUtilizationSample_t s[256];
    n = 256;   /* nothing newer than a time stamp in the future */
    NV_ERR(nvmlDeviceGetProcessUtilization(dev, s, &n, ~0ull), NVML_ERROR_NOT_FOUND);
    CU_OK(cuMemFree(out));
    CU_OK(cuModuleUnload(m));
    CU_OK(cuCtxDestroy(c));
}

static void test_nvml_clocks(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    unsigned sm = (unsigned)attr(CU_DEVICE_ATTRIBUTE_CLOCK_RATE) / 1000;
    unsigned mem = (unsigned)attr(CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE) / 1000;
    nvmlReturn_t (*const per_type[])(nvmlDevice_t, nvmlClockType_t, unsigned *) = {
        nvmlDeviceGetClockInfo, nvmlDeviceGetMaxClockInfo, nvmlDeviceGetApplicationsClock,
        nvmlDeviceGetDefaultApplicationsClock, nvmlDeviceGetMaxCustomerBoostClock};
    for (size_t k = 0; k < sizeof per_type / sizeof per_type[0]; k++) {
        unsigned v = 0;
        NV_OK(per_type[k](dev, NVML_CLOCK_GRAPHICS, &v));
        assert_int_equal(v, sm);
        NV_OK(per_type[k](dev, NVML_CLOCK_SM, &v));
        assert_int_equal(v, sm);
        NV_OK(per_type[k](dev, NVML_CLOCK_MEM, &v));
        assert_int_equal(v, mem);
        NV_ERR(per_type[k](dev, NVML_CLOCK_VIDEO, &v), NS);
        NV_ERR(per_type[k](dev, NVML_CLOCK_COUNT, &v), BAD);
    }
    for (int id = 0; id < NVML_CLOCK_ID_COUNT; id++) {
        unsigned v = 0;
        NV_OK(nvmlDeviceGetClock(dev, NVML_CLOCK_SM, (nvmlClockId_t)id, &v));
        assert_int_equal(v, sm);
    }
    unsigned v;
    NV_ERR(nvmlDeviceGetClock(dev, NVML_CLOCK_SM, NVML_CLOCK_ID_COUNT, &v), BAD);
    nvmlReturn_t (*const reasons[])(nvmlDevice_t, unsigned long long *) = {
        nvmlDeviceGetCurrentClocksThrottleReasons, nvmlDeviceGetCurrentClocksEventReasons,
        nvmlDeviceGetSupportedClocksThrottleReasons, nvmlDeviceGetSupportedClocksEventReasons};
    for (size_t k = 0; k < sizeof reasons / sizeof reasons[0]; k++) {
        unsigned long long r = 1;
        NV_OK(reasons[k](dev, &r));
        assert_int_equal(r, nvmlClocksThrottleReasonNone);
    }
    nvmlPstates_t ps = NVML_PSTATE_UNKNOWN;
    NV_OK(nvmlDeviceGetPerformanceState(dev, &ps));
    assert_int_equal(ps, NVML_PSTATE_0);
    NV_OK(nvmlDeviceGetPowerState(dev, &ps));
    assert_int_equal(ps, NVML_PSTATE_0);
}

static void test_nvml_sensors(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    unsigned v, w;
    unsigned long long e;
    nvmlEnableState_t mode;
    NV_ERR(nvmlDeviceGetTemperature(dev, NVML_TEMPERATURE_GPU, &v), NS);
    NV_ERR(nvmlDeviceGetTemperature(dev, NVML_TEMPERATURE_COUNT, &v), BAD);
    NV_ERR(nvmlDeviceGetTemperatureThreshold(dev, NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, &v), NS);
    NV_OK(nvmlDeviceGetNumFans(dev, &v));
    assert_int_equal(v, 0);
    NV_ERR(nvmlDeviceGetFanSpeed(dev, &v), NS);
    NV_ERR(nvmlDeviceGetFanSpeed_v2(dev, 0, &v), NS);
    NV_ERR(nvmlDeviceGetPowerUsage(dev, &v), NS);
    NV_ERR(nvmlDeviceGetPowerUsage(dev, NULL), BAD);
    NV_ERR(nvmlDeviceGetPowerManagementMode(dev, &mode), NS);
    NV_ERR(nvmlDeviceGetPowerManagementLimit(dev, &v), NS);
    NV_ERR(nvmlDeviceGetPowerManagementDefaultLimit(dev, &v), NS);
    NV_ERR(nvmlDeviceGetPowerManagementLimitConstraints(dev, &v, &w), NS);
    NV_ERR(nvmlDeviceGetEnforcedPowerLimit(dev, &v), NS);
    NV_ERR(nvmlDeviceGetTotalEnergyConsumption(dev, &e), NS);
    NV_ERR(nvmlDeviceGetCurrPcieLinkGeneration(dev, &v), NS);
    NV_ERR(nvmlDeviceGetCurrPcieLinkWidth(dev, &v), NS);
    NV_ERR(nvmlDeviceGetMaxPcieLinkGeneration(dev, &v), NS);
    NV_ERR(nvmlDeviceGetGpuMaxPcieLinkGeneration(dev, &v), NS);
    NV_ERR(nvmlDeviceGetMaxPcieLinkWidth(dev, &v), NS);
    NV_ERR(nvmlDeviceGetPcieThroughput(dev, NVML_PCIE_UTIL_TX_BYTES, &v), NS);
    NV_ERR(nvmlDeviceGetPcieThroughput(dev, NVML_PCIE_UTIL_COUNT, &v), BAD);
    NV_ERR(nvmlDeviceGetPcieReplayCounter(dev, &v), NS);
}

static void test_nvml_events_and_fields(void **state)
{
    (void)state;
    nvmlDevice_t dev = dev0();
    unsigned long long types = 1;
    NV_OK(nvmlDeviceGetSupportedEventTypes(dev, &types));
    assert_int_equal(types, nvmlEventTypeNone);
    nvmlEventSet_t set;
    NV_OK(nvmlEventSetCreate(&set));
    NV_ERR(nvmlDeviceRegisterEvents(dev, nvmlEventTypeXidCriticalError, set), NS);
    NV_OK(nvmlDeviceRegisterEvents(dev, nvmlEventTypeNone, set));
    nvmlEventData_t data;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    NV_ERR(nvmlEventSetWait_v2(set, &data, 30), NVML_ERROR_TIMEOUT);
    NV_ERR(nvmlEventSetWait(set, &data, 0), NVML_ERROR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 29.0);   /* waited, no busy loop for a caller */
    NV_ERR(nvmlEventSetWait_v2(NULL, &data, 0), BAD);
    NV_OK(nvmlEventSetFree(set));
    nvmlFieldValue_t f[5] = {{.fieldId = NVML_FI_DEV_ECC_CURRENT},
                             {.fieldId = NVML_FI_DEV_ECC_PENDING},
                             {.fieldId = NVML_FI_DEV_NVLINK_LINK_COUNT},
                             {.fieldId = NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION},
                             {.fieldId = 9999}};
    NV_OK(nvmlDeviceGetFieldValues(dev, 5, f));
    for (int k = 0; k < 3; k++) {
        NV_OK(f[k].nvmlReturn);
        assert_int_equal(f[k].valueType, NVML_VALUE_TYPE_UNSIGNED_INT);
        assert_int_equal(f[k].value.uiVal, 0);
        assert_true(f[k].timestamp > 1600000000000000ll);
    }
    NV_ERR(f[3].nvmlReturn, NS);
    NV_ERR(f[4].nvmlReturn, NS);
    NV_ERR(nvmlDeviceGetFieldValues(dev, 1, NULL), BAD);
}

/* Two devices: distinct identities, peers through host memory, no NVLink. */
static void test_nvml_two_devices(void **state)
{
    (void)state;
    NV_OK(nvmlShutdown());
    setenv("SOFTGPU_DEVICES", "2", 1);
    NV_OK(nvmlInit_v2());
    unsigned n = 0;
    NV_OK(nvmlDeviceGetCount_v2(&n));
    assert_int_equal(n, 2);
    nvmlDevice_t a, b, found;
    NV_OK(nvmlDeviceGetHandleByIndex_v2(0, &a));
    NV_OK(nvmlDeviceGetHandleByIndex_v2(1, &b));
    char ua[96], ub[96], sa[32], sb[32];
    NV_OK(nvmlDeviceGetUUID(a, ua, sizeof ua));
    NV_OK(nvmlDeviceGetUUID(b, ub, sizeof ub));
    assert_string_not_equal(ua, ub);
    NV_OK(nvmlDeviceGetHandleByUUID(ub, &found));
    assert_ptr_equal(found, b);
    NV_OK(nvmlDeviceGetSerial(a, sa, sizeof sa));
    NV_OK(nvmlDeviceGetSerial(b, sb, sizeof sb));
    assert_string_not_equal(sa, sb);
    nvmlPciInfo_t pb;
    NV_OK(nvmlDeviceGetPciInfo_v3(b, &pb));
    NV_OK(nvmlDeviceGetHandleByPciBusId_v2(pb.busId, &found));
    assert_ptr_equal(found, b);
    nvmlGpuTopologyLevel_t lvl;
    NV_OK(nvmlDeviceGetTopologyCommonAncestor(a, b, &lvl));
    assert_int_equal(lvl, NVML_TOPOLOGY_NODE);
    static const struct {
        nvmlGpuP2PCapsIndex_t index;
        nvmlGpuP2PStatus_t status;
    } p2p[] = {{NVML_P2P_CAPS_INDEX_READ, NVML_P2P_STATUS_OK},
               {NVML_P2P_CAPS_INDEX_WRITE, NVML_P2P_STATUS_OK},
               {NVML_P2P_CAPS_INDEX_ATOMICS, NVML_P2P_STATUS_OK},
               {NVML_P2P_CAPS_INDEX_NVLINK, NVML_P2P_STATUS_NOT_SUPPORTED},
               {NVML_P2P_CAPS_INDEX_PCI, NVML_P2P_STATUS_NOT_SUPPORTED}};
    for (size_t k = 0; k < sizeof p2p / sizeof p2p[0]; k++) {
        nvmlGpuP2PStatus_t st = NVML_P2P_STATUS_UNKNOWN;
        NV_OK(nvmlDeviceGetP2PStatus(a, b, p2p[k].index, &st));
        assert_int_equal(st, p2p[k].status);
    }
    NV_OK(nvmlShutdown());
    unsetenv("SOFTGPU_DEVICES");
    /* after the last shutdown, every query is refused */
    char name[64];
    unsigned v;
    nvmlMemory_t m;
    nvmlEventSet_t set;
    NV_ERR(nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlDeviceGetName(a, name, sizeof name), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlDeviceGetMemoryInfo(a, &m), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlDeviceGetClockInfo(a, NVML_CLOCK_SM, &v), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlDeviceGetTemperature(a, NVML_TEMPERATURE_GPU, &v), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlEventSetCreate(&set), NVML_ERROR_UNINITIALIZED);
    NV_ERR(nvmlSystemGetDriverVersion(name, sizeof name), NVML_ERROR_UNINITIALIZED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvml_init_and_system),
        cmocka_unit_test(test_nvml_handles),
        cmocka_unit_test(test_nvml_identity),
        cmocka_unit_test(test_nvml_modes_and_links),
        cmocka_unit_test(test_nvml_memory_and_processes),
        cmocka_unit_test(test_nvml_utilization),
        cmocka_unit_test(test_nvml_clocks),
        cmocka_unit_test(test_nvml_sensors),
        cmocka_unit_test(test_nvml_events_and_fields),
        cmocka_unit_test(test_nvml_two_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
