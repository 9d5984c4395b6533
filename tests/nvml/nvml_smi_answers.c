/*
 * nvml_smi's answers: every exported NVML function called once on device 0 (or the system),
 * printed as "name(args): Result value". Values that depend on the moment are printed as
 * checks ("self>=alloc yes"), so the output is stable for one library and configuration.
 * With NVML_SMI_EXCLUSIVE=1 (nobody else uses the device) process counts are printed too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvml_smi.h"

static nvmlDevice_t d;

static void text(const char *name, const char *show)
{
    char buf[128] = "";
    text_q q = (text_q)smi_sym(name);
    nvmlReturn_t r = q ? q(d, buf, sizeof buf) : NVML_ERROR_FUNCTION_NOT_FOUND;
    smi_answer(name, "", r, show ? show : buf);
}

static void system_answers(void)
{
    char buf[128];
    int v = 0;
    unsigned n = 0;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(char *, unsigned), nvmlSystemGetDriverVersion, buf, sizeof buf);
    smi_answer("nvmlSystemGetDriverVersion", "", r, buf);
    CALL(r, nvmlReturn_t (*)(char *, unsigned), nvmlSystemGetNVMLVersion, buf, sizeof buf);
    smi_answer("nvmlSystemGetNVMLVersion", "", r, buf);
    CALL(r, nvmlReturn_t (*)(int *), nvmlSystemGetCudaDriverVersion, &v);
    smi_answer("nvmlSystemGetCudaDriverVersion", "", r, smi_fmt("%d", v));
    CALL(r, nvmlReturn_t (*)(int *), nvmlSystemGetCudaDriverVersion_v2, &v);
    smi_answer("nvmlSystemGetCudaDriverVersion_v2", "", r, smi_fmt("%d", v));
    CALL(r, nvmlReturn_t (*)(unsigned, char *, unsigned), nvmlSystemGetProcessName,
         (unsigned)getpid(), buf, sizeof buf);
    smi_answer("nvmlSystemGetProcessName", "self", r, strstr(buf, "nvml_smi") ? "ours" : buf);
    CALL(r, nvmlReturn_t (*)(unsigned *), nvmlUnitGetCount, &n);
    smi_answer("nvmlUnitGetCount", "", r, smi_fmt("%u", n));
    CALL(r, nvmlReturn_t (*)(unsigned *), nvmlDeviceGetCount_v2, &n);
    smi_answer("nvmlDeviceGetCount_v2", "", r, smi_fmt("%u", n));
    CALL(r, nvmlReturn_t (*)(unsigned *), nvmlDeviceGetCount, &n);
    smi_answer("nvmlDeviceGetCount", "", r, smi_fmt("%u", n));
}

/* Looks device 0 up by `name`(key) and says whether it is the same handle. */
static void lookup(const char *name, const char *key)
{
    nvmlDevice_t found = NULL;
    nvmlReturn_t (*q)(const char *, nvmlDevice_t *) =
        (nvmlReturn_t (*)(const char *, nvmlDevice_t *))smi_sym(name);
    nvmlReturn_t r = q ? q(key, &found) : NVML_ERROR_FUNCTION_NOT_FOUND;
    smi_answer(name, "own", r, found == d ? "same handle" : "OTHER handle");
}

static void handle_answers(void)
{
    char uuid[96] = "", serial[32] = "";
    nvmlPciInfo_t pci;
    nvmlDevice_t h = NULL;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(unsigned, nvmlDevice_t *), nvmlDeviceGetHandleByIndex, 0, &h);
    smi_answer("nvmlDeviceGetHandleByIndex", "0", r, h == d ? "same handle" : "OTHER handle");
    CALL(r, text_q, nvmlDeviceGetUUID, d, uuid, sizeof uuid);
    smi_answer("nvmlDeviceGetUUID", "", r,
               strncmp(uuid, "GPU-", 4) == 0 && strlen(uuid) == 40 ? "GPU-<uuid>" : uuid);
    lookup("nvmlDeviceGetHandleByUUID", uuid);
    CALL(r, text_q, nvmlDeviceGetSerial, d, serial, sizeof serial);
    smi_answer("nvmlDeviceGetSerial", "", r, smi_fmt("%zu digits", strspn(serial, "0123456789")));
    lookup("nvmlDeviceGetHandleBySerial", r == NVML_SUCCESS ? serial : "0");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t *), nvmlDeviceGetPciInfo_v3, d, &pci);
    smi_answer("nvmlDeviceGetPciInfo_v3", "", r,
               smi_fmt("%s %s %08x %08x", pci.busId, pci.busIdLegacy, pci.pciDeviceId,
                       pci.pciSubSystemId));
    lookup("nvmlDeviceGetHandleByPciBusId_v2", pci.busId);
    lookup("nvmlDeviceGetHandleByPciBusId", pci.busIdLegacy);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t *), nvmlDeviceGetPciInfo_v2, d, &pci);
    smi_answer("nvmlDeviceGetPciInfo_v2", "", r, pci.busId);
    tfuse_nvmlPciInfo_v1_t old;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, tfuse_nvmlPciInfo_v1_t *), nvmlDeviceGetPciInfo, d, &old);
    smi_answer("nvmlDeviceGetPciInfo", "", r, old.busId);
}

static void identity_answers(void)
{
    int major = 0, minor = 0;
    char buf[64];
    nvmlReturn_t r;
    ONE(nvmlDeviceGetIndex, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetMinorNumber, unsigned, uint_q, "%u");
    text("nvmlDeviceGetName", NULL);
    ONE(nvmlDeviceGetBrand, nvmlBrandType_t, nvmlReturn_t (*)(nvmlDevice_t, nvmlBrandType_t *), "%d");
    ONE(nvmlDeviceGetArchitecture, unsigned, uint_q, "%u");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, int *, int *), nvmlDeviceGetCudaComputeCapability, d,
         &major, &minor);
    smi_answer("nvmlDeviceGetCudaComputeCapability", "", r, smi_fmt("%d.%d", major, minor));
    ONE(nvmlDeviceGetNumGpuCores, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetMemoryBusWidth, unsigned, uint_q, "%u");
    text("nvmlDeviceGetVbiosVersion", NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlInforomObject_t, char *, unsigned),
         nvmlDeviceGetInforomVersion, d, NVML_INFOROM_OEM, buf, sizeof buf);
    smi_answer("nvmlDeviceGetInforomVersion", "OEM", r, buf);
    text("nvmlDeviceGetInforomImageVersion", NULL);
    text("nvmlDeviceGetBoardPartNumber", NULL);
}

static void mode_answers(void)
{
    unsigned a = 9, b = 9;
    unsigned long long c = 0;
    nvmlEnableState_t e = 9, e2 = 9;
    nvmlReturn_t r;
    ONE(nvmlDeviceGetPersistenceMode, nvmlEnableState_t, enable_q, "%d");
    ONE(nvmlDeviceGetComputeMode, nvmlComputeMode_t, nvmlReturn_t (*)(nvmlDevice_t, nvmlComputeMode_t *), "%d");
    ONE(nvmlDeviceGetDisplayMode, nvmlEnableState_t, enable_q, "%d");
    ONE(nvmlDeviceGetDisplayActive, nvmlEnableState_t, enable_q, "%d");
    ONE(nvmlDeviceGetAccountingMode, nvmlEnableState_t, enable_q, "%d");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned *, unsigned *), nvmlDeviceGetMigMode, d, &a, &b);
    smi_answer("nvmlDeviceGetMigMode", "", r, smi_fmt("%u %u", a, b));
    ONE(nvmlDeviceGetMaxMigDeviceCount, unsigned, uint_q, "%u");
    ONE(nvmlDeviceIsMigDeviceHandle, unsigned, uint_q, "%u");
    ONE(nvmlDeviceGetVirtualizationMode, nvmlGpuVirtualizationMode_t, nvmlReturn_t (*)(nvmlDevice_t, nvmlGpuVirtualizationMode_t *), "%d");
    ONE(nvmlDeviceGetHostVgpuMode, nvmlHostVgpuMode_t, nvmlReturn_t (*)(nvmlDevice_t, nvmlHostVgpuMode_t *), "%d");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlEnableState_t *, nvmlEnableState_t *), nvmlDeviceGetEccMode, d, &e, &e2);
    smi_answer("nvmlDeviceGetEccMode", "", r, smi_fmt("%d %d", e, e2));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlMemoryErrorType_t, nvmlEccCounterType_t, unsigned long long *),
         nvmlDeviceGetTotalEccErrors, d, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &c);
    smi_answer("nvmlDeviceGetTotalEccErrors", "uncorrected,volatile", r, smi_fmt("%llu", c));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlPageRetirementCause_t, unsigned *, unsigned long long *),
         nvmlDeviceGetRetiredPages, d, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, &a, NULL);
    smi_answer("nvmlDeviceGetRetiredPages", "dbe", r, smi_fmt("%u", a));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlPageRetirementCause_t, unsigned *, unsigned long long *, unsigned long long *),
         nvmlDeviceGetRetiredPages_v2, d, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, &a, NULL, NULL);
    smi_answer("nvmlDeviceGetRetiredPages_v2", "dbe", r, smi_fmt("%u", a));
    ONE(nvmlDeviceGetRetiredPagesPendingStatus, nvmlEnableState_t, enable_q, "%d");
}

static void link_answers(void)
{
    unsigned long set[16] = {0};
    unsigned v = 0;
    nvmlGpuTopologyLevel_t lvl = 0;
    nvmlGpuP2PStatus_t st = 0;
    nvmlEnableState_t e;
    nvmlIntNvLinkDeviceType_t t;
    nvmlPciInfo_t pci;
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, unsigned long *), nvmlDeviceGetCpuAffinity, d, 16, set);
    smi_answer("nvmlDeviceGetCpuAffinity", "", r, set[0] & 1 ? "cpu0 in set" : "cpu0 not in set");
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlDevice_t, nvmlGpuTopologyLevel_t *), nvmlDeviceGetTopologyCommonAncestor, d, d, &lvl);
    smi_answer("nvmlDeviceGetTopologyCommonAncestor", "self", r, smi_fmt("%d", lvl));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, nvmlDevice_t, nvmlGpuP2PCapsIndex_t, nvmlGpuP2PStatus_t *), nvmlDeviceGetP2PStatus, d, d, NVML_P2P_CAPS_INDEX_READ, &st);
    smi_answer("nvmlDeviceGetP2PStatus", "self,read", r, smi_fmt("%d", st));
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, nvmlEnableState_t *), nvmlDeviceGetNvLinkState, d, 0, &e);
    smi_answer("nvmlDeviceGetNvLinkState", "0", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, nvmlNvLinkCapability_t, unsigned *), nvmlDeviceGetNvLinkCapability, d, 0, NVML_NVLINK_CAP_P2P_SUPPORTED, &v);
    smi_answer("nvmlDeviceGetNvLinkCapability", "0,p2p", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, nvmlIntNvLinkDeviceType_t *), nvmlDeviceGetNvLinkRemoteDeviceType, d, 0, &t);
    smi_answer("nvmlDeviceGetNvLinkRemoteDeviceType", "0", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, nvmlPciInfo_t *), nvmlDeviceGetNvLinkRemotePciInfo_v2, d, 0, &pci);
    smi_answer("nvmlDeviceGetNvLinkRemotePciInfo_v2", "0", r, NULL);
    CALL(r, nvmlReturn_t (*)(nvmlDevice_t, unsigned, nvmlPciInfo_t *), nvmlDeviceGetNvLinkRemotePciInfo, d, 0, &pci);
    smi_answer("nvmlDeviceGetNvLinkRemotePciInfo", "0", r, NULL);
}

void smi_print_answers(unsigned alloc_mib)
{
    nvmlReturn_t r;
    unsigned long long alloc_bytes = (unsigned long long)alloc_mib << 20;
    printf("answers:\n");
    system_answers();
    CALL(r, nvmlReturn_t (*)(unsigned, nvmlDevice_t *), nvmlDeviceGetHandleByIndex_v2, 0, &d);
    smi_answer("nvmlDeviceGetHandleByIndex_v2", "0", r, NULL);
    if (r != NVML_SUCCESS)
        return;
    handle_answers();
    identity_answers();
    mode_answers();
    link_answers();
    smi_usage_answers(d, alloc_bytes);
    smi_sensor_answers(d);
}
