/*
 * NVML front, what a device is: identity (name, UUID, serial, PCI, architecture), fixed modes
 * (persistence, compute, display, MIG, virtualization, ECC), topology and links. Answers come
 * from the provider's facts (front.h); what no provider knows is NVML_ERROR_NOT_SUPPORTED, as
 * NVIDIA's library answers for a board without the feature.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "front.h"

/* Resolves `device` into `i` and its facts `f`, returning the error when it is not valid. */
#define DEVICE_OR_RETURN(device, i, f)                  \
    unsigned i;                                         \
    do {                                                \
        nvmlReturn_t r_ = tfn_device((device), &i);     \
        if (r_ != NVML_SUCCESS)                         \
            return r_;                                  \
    } while (0);                                        \
    const struct tfn_facts *f = tfn_facts(i);           \
    (void)f

/* For queries of one output: the device's error, INVALID_ARGUMENT for a NULL output. */
#define CHECK_OUT(device, out)                           \
    DEVICE_OR_RETURN(device, i, f);                      \
    if (!(out))                                          \
    return NVML_ERROR_INVALID_ARGUMENT

/* ---- identity ---- */

TFN_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    CHECK_OUT(device, index);
    *index = i;
    return NVML_SUCCESS;
}

/* NVIDIA's minor number names /dev/nvidiaN; ours is the device's index. */
TFN_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    return nvmlDeviceGetIndex(device, minorNumber);
}

TFN_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    DEVICE_OR_RETURN(device, i, f);
    return tfn_copy(name, length, f->name);
}

TFN_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    DEVICE_OR_RETURN(device, i, f);
    char text[NVML_DEVICE_UUID_BUFFER_SIZE];
    tfn_uuid_text(f->uuid, text);
    return tfn_copy(uuid, length, text);
}

TFN_API nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length)
{
    DEVICE_OR_RETURN(device, i, f);
    if (!serial)
        return NVML_ERROR_INVALID_ARGUMENT;
    return f->serial[0] ? tfn_copy(serial, length, f->serial) : NVML_ERROR_NOT_SUPPORTED;
}

/* From the marketing name, as NVIDIA's boards spell it; UNKNOWN for anything else. */
TFN_API nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
    CHECK_OUT(device, type);
    static const struct {
        const char *word;
        nvmlBrandType_t brand;
    } brands[] = {{"GeForce", NVML_BRAND_GEFORCE}, {"TITAN", NVML_BRAND_TITAN},
                  {"Quadro", NVML_BRAND_QUADRO},   {"Tesla", NVML_BRAND_TESLA},
                  {"RTX", NVML_BRAND_NVIDIA_RTX},  {"NVIDIA", NVML_BRAND_NVIDIA}};
    *type = NVML_BRAND_UNKNOWN;
    for (size_t b = 0; b < sizeof brands / sizeof brands[0]; b++)
        if (strstr(f->name, brands[b].word)) {
            *type = brands[b].brand;
            break;
        }
    return NVML_SUCCESS;
}

/* The architecture of a compute capability. */
static nvmlDeviceArchitecture_t architecture(int major, int minor)
{
    switch (major) {
    case 3: return NVML_DEVICE_ARCH_KEPLER;
    case 5: return NVML_DEVICE_ARCH_MAXWELL;
    case 6: return NVML_DEVICE_ARCH_PASCAL;
    case 7: return minor >= 5 ? NVML_DEVICE_ARCH_TURING : NVML_DEVICE_ARCH_VOLTA;
    case 8: return minor == 9 ? NVML_DEVICE_ARCH_ADA : NVML_DEVICE_ARCH_AMPERE;
    case 9: return NVML_DEVICE_ARCH_HOPPER;
    case 10: case 11: case 12: return NVML_DEVICE_ARCH_BLACKWELL;
    default: return NVML_DEVICE_ARCH_UNKNOWN;
    }
}

TFN_API nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    CHECK_OUT(device, arch);
    *arch = architecture(f->cc_major, f->cc_minor);
    return NVML_SUCCESS;
}

static void fill_pci(const struct tfn_facts *f, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof *pci);
    pci->domain = f->pci_domain;
    pci->bus = f->pci_bus;
    pci->device = f->pci_device;
    pci->pciDeviceId = f->pci_device_id;
    pci->pciSubSystemId = f->pci_subsystem_id;
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0",
             f->pci_domain & 0xffffu, f->pci_bus & 0xffu, f->pci_device & 0xffu);
    snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.0", f->pci_domain,
             f->pci_bus & 0xffu, f->pci_device & 0xffu);
}

TFN_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    CHECK_OUT(device, pci);
    fill_pci(f, pci);
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

TFN_API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, tfuse_nvmlPciInfo_v1_t *pci)
{
    CHECK_OUT(device, pci);
    nvmlPciInfo_t now;
    fill_pci(f, &now);
    memset(pci, 0, sizeof *pci);
    memcpy(pci->busId, now.busIdLegacy, sizeof pci->busId);
    pci->domain = now.domain;
    pci->bus = now.bus;
    pci->device = now.device;
    pci->pciDeviceId = now.pciDeviceId;
    pci->pciSubSystemId = now.pciSubSystemId;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major,
                                                        int *minor)
{
    CHECK_OUT(device, major && minor);
    *major = f->cc_major;
    *minor = f->cc_minor;
    return NVML_SUCCESS;
}

/* CUDA cores per SM of a compute capability (0: not known). */
static unsigned cores_per_sm(int major, int minor)
{
    switch (major) {
    case 3: return 192;
    case 5: return 128;
    case 6: return minor == 0 ? 64 : 128;
    case 7: return 64;
    case 8: return minor == 0 ? 64 : 128;
    case 9: case 10: case 11: case 12: return 128;
    default: return 0;
    }
}

TFN_API nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t device, unsigned int *numCores)
{
    CHECK_OUT(device, numCores);
    unsigned per = cores_per_sm(f->cc_major, f->cc_minor);
    if (!per || !f->sm_count)
        return NVML_ERROR_NOT_SUPPORTED;
    *numCores = per * f->sm_count;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t device, unsigned int *busWidth)
{
    CHECK_OUT(device, busWidth);
    if (!f->mem_bus_width)
        return NVML_ERROR_NOT_SUPPORTED;
    *busWidth = f->mem_bus_width;
    return NVML_SUCCESS;
}

/* Board firmware (VBIOS, infoROM) and part numbers are not facts of our devices. */
TFN_API nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t device, char *version,
                                               unsigned int length)
{
    CHECK_OUT(device, version);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetInforomVersion(nvmlDevice_t device, nvmlInforomObject_t object,
                                                 char *version, unsigned int length)
{
    CHECK_OUT(device, version && (unsigned)object < NVML_INFOROM_COUNT);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetInforomImageVersion(nvmlDevice_t device, char *version,
                                                      unsigned int length)
{
    CHECK_OUT(device, version);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetBoardPartNumber(nvmlDevice_t device, char *partNumber,
                                                  unsigned int length)
{
    CHECK_OUT(device, partNumber);
    return NVML_ERROR_NOT_SUPPORTED;
}

/* ---- modes ---- */

/* Persistence mode is a setting of NVIDIA's kernel driver; neither library offers it. */
TFN_API nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t *mode)
{
    CHECK_OUT(device, mode);
    *mode = NVML_FEATURE_DISABLED;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, nvmlComputeMode_t *mode)
{
    CHECK_OUT(device, mode);
    *mode = f->compute_mode;
    return NVML_SUCCESS;
}

/* Compute devices: no display is attached or can be. */
TFN_API nvmlReturn_t nvmlDeviceGetDisplayMode(nvmlDevice_t device, nvmlEnableState_t *display)
{
    CHECK_OUT(device, display);
    *display = NVML_FEATURE_DISABLED;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetDisplayActive(nvmlDevice_t device, nvmlEnableState_t *isActive)
{
    return nvmlDeviceGetDisplayMode(device, isActive);
}

TFN_API nvmlReturn_t nvmlDeviceGetAccountingMode(nvmlDevice_t device, nvmlEnableState_t *mode)
{
    return nvmlDeviceGetDisplayMode(device, mode);   /* disabled: no per-process accounting */
}

TFN_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                          unsigned int *pendingMode)
{
    CHECK_OUT(device, currentMode && pendingMode);
    *currentMode = *pendingMode = NVML_DEVICE_MIG_DISABLE;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    CHECK_OUT(device, count);
    *count = 0;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    return nvmlDeviceGetMaxMigDeviceCount(device, isMigDevice);   /* 0: a whole device */
}

TFN_API nvmlReturn_t nvmlDeviceGetVirtualizationMode(nvmlDevice_t device,
                                                     nvmlGpuVirtualizationMode_t *pVirtualMode)
{
    CHECK_OUT(device, pVirtualMode);
    *pVirtualMode = tfn_p_virtualization;
    return NVML_SUCCESS;
}

/* Only a host running NVIDIA's vGPU manager has a host vGPU mode. */
TFN_API nvmlReturn_t nvmlDeviceGetHostVgpuMode(nvmlDevice_t device,
                                               nvmlHostVgpuMode_t *pHostVgpuMode)
{
    CHECK_OUT(device, pHostVgpuMode);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current,
                                          nvmlEnableState_t *pending)
{
    CHECK_OUT(device, current && pending);
    *current = *pending = f->ecc_enabled ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
    return NVML_SUCCESS;
}

/* Error counters and retired pages are not known to either library. */
TFN_API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device,
                                                 nvmlMemoryErrorType_t errorType,
                                                 nvmlEccCounterType_t counterType,
                                                 unsigned long long *eccCounts)
{
    CHECK_OUT(device, eccCounts && (unsigned)errorType < NVML_MEMORY_ERROR_TYPE_COUNT &&
                          (unsigned)counterType < NVML_ECC_COUNTER_TYPE_COUNT);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetRetiredPages_v2(nvmlDevice_t device,
                                                  nvmlPageRetirementCause_t cause,
                                                  unsigned int *pageCount,
                                                  unsigned long long *addresses,
                                                  unsigned long long *timestamps)
{
    CHECK_OUT(device, pageCount && (unsigned)cause < NVML_PAGE_RETIREMENT_CAUSE_COUNT);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t device,
                                               nvmlPageRetirementCause_t cause,
                                               unsigned int *pageCount,
                                               unsigned long long *addresses)
{
    return nvmlDeviceGetRetiredPages_v2(device, cause, pageCount, addresses, NULL);
}

TFN_API nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device,
                                                            nvmlEnableState_t *isPending)
{
    CHECK_OUT(device, isPending);
    return NVML_ERROR_NOT_SUPPORTED;
}

/* ---- topology and links ---- */

/* The CPUs this process may run on: no device of ours is closer to some CPUs than others. */
TFN_API nvmlReturn_t nvmlDeviceGetCpuAffinity(nvmlDevice_t device, unsigned int cpuSetSize,
                                              unsigned long *cpuSet)
{
    CHECK_OUT(device, cpuSet && cpuSetSize > 0);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return NVML_ERROR_OPERATING_SYSTEM;
    const unsigned bits = 8 * sizeof(unsigned long);
    memset(cpuSet, 0, cpuSetSize * sizeof *cpuSet);
    for (unsigned c = 0; c < CPU_SETSIZE && c / bits < cpuSetSize; c++)
        if (CPU_ISSET(c, &set))
            cpuSet[c / bits] |= 1ul << (c % bits);
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t device1,
                                                         nvmlDevice_t device2,
                                                         nvmlGpuTopologyLevel_t *pathInfo)
{
    unsigned b;
    CHECK_OUT(device1, pathInfo);
    nvmlReturn_t r = tfn_device(device2, &b);
    if (r != NVML_SUCCESS)
        return r;
    *pathInfo = i == b ? NVML_TOPOLOGY_INTERNAL : tfn_p_peer_level;
    return NVML_SUCCESS;
}

TFN_API nvmlReturn_t nvmlDeviceGetP2PStatus(nvmlDevice_t device1, nvmlDevice_t device2,
                                            nvmlGpuP2PCapsIndex_t p2pIndex,
                                            nvmlGpuP2PStatus_t *p2pStatus)
{
    unsigned b;
    CHECK_OUT(device1, p2pStatus && (unsigned)p2pIndex < NVML_P2P_CAPS_INDEX_UNKNOWN);
    nvmlReturn_t r = tfn_device(device2, &b);
    if (r != NVML_SUCCESS)
        return r;
    if (i == b) {   /* a device is not its own peer */
        *p2pStatus = NVML_P2P_STATUS_NOT_SUPPORTED;
        return NVML_SUCCESS;
    }
    return tfn_p_p2p(i, b, p2pIndex, p2pStatus);
}

/* No device of ours has NVLink. */
TFN_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                              nvmlEnableState_t *isActive)
{
    CHECK_OUT(device, isActive && link < NVML_NVLINK_MAX_LINKS);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetNvLinkCapability(nvmlDevice_t device, unsigned int link,
                                                   nvmlNvLinkCapability_t capability,
                                                   unsigned int *capResult)
{
    CHECK_OUT(device, capResult && link < NVML_NVLINK_MAX_LINKS &&
                          (unsigned)capability < NVML_NVLINK_CAP_COUNT);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(nvmlDevice_t device, unsigned int link,
                                                         nvmlIntNvLinkDeviceType_t *type)
{
    CHECK_OUT(device, type && link < NVML_NVLINK_MAX_LINKS);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link,
                                                         nvmlPciInfo_t *pci)
{
    CHECK_OUT(device, pci && link < NVML_NVLINK_MAX_LINKS);
    return NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo(nvmlDevice_t device, unsigned int link,
                                                      nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetNvLinkRemotePciInfo_v2(device, link, pci);
}
