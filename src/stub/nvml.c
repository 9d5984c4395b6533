/*
 * The stub's NVML provider: the session's devices as a tenant sees them, for the NVML front
 * (src/nvml/front.h), built with it as TensorFuse's libnvidia-ml.so.1. It sits on the stub
 * (libcuda.so.1 in the same folder) and shares the program's connection and the stub's device
 * snapshot (struct tfp_device_info, answered through cuDeviceGetName/Uuid/Attribute).
 *
 *   memory        the vGPU's: its limit as total, what it is charged as used (tfuse_mem_info)
 *   utilization   the vGPU's share of the device's time since the previous ask, memory 0
 *                 (tfuse_vgpu_usage); NOT_SUPPORTED for a session without a vGPU (not metered)
 *   processes     this process only, with what it holds on the vGPU: a tenant never learns of
 *                 another tenant's processes; NOT_SUPPORTED without a vGPU
 *   identity      the physical device's name, UUID, PCI ids, compute capability, SM count,
 *                 bus width and compute mode from the snapshot; no serial (not in the snapshot)
 *   clocks        the device's rated clocks (CLOCK_RATE, MEMORY_CLOCK_RATE), not scaled
 *   P-state, temperature, fan, power, energy, PCIe link: NOT_SUPPORTED (not in the snapshot)
 *   peers         cuDeviceGetP2PAttribute between the session's devices; topology SYSTEM (a
 *                 session's devices may sit anywhere); virtualization mode VGPU
 *   driver        "<CUDA major>.<minor>-tfuse" (the session's CUDA driver version)
 * May call: the stub's exported driver API and its two helpers for this library.
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "front.h"

/* Exported by our libcuda.so.1 for this library (not part of NVIDIA's API). */
CUresult tfuse_mem_info(CUdevice dev, size_t *freeBytes, size_t *totalBytes);
CUresult tfuse_vgpu_usage(CUdevice dev, unsigned *gpu_percent, unsigned long long *held);

const nvmlGpuTopologyLevel_t tfn_p_peer_level = NVML_TOPOLOGY_SYSTEM;
const nvmlGpuVirtualizationMode_t tfn_p_virtualization = NVML_GPU_VIRTUALIZATION_MODE_VGPU;

static char driver_version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "unknown-tfuse";

static nvmlReturn_t from_cu(CUresult r)
{
    switch (r) {
    case CUDA_SUCCESS: return NVML_SUCCESS;
    case CUDA_ERROR_INVALID_VALUE: return NVML_ERROR_INVALID_ARGUMENT;
    case CUDA_ERROR_INVALID_DEVICE: return NVML_ERROR_INVALID_ARGUMENT;
    case CUDA_ERROR_NOT_SUPPORTED: return NVML_ERROR_NOT_SUPPORTED;
    case CUDA_ERROR_NO_DEVICE: return NVML_ERROR_DRIVER_NOT_LOADED;
    case CUDA_ERROR_DEVICE_UNAVAILABLE: return NVML_ERROR_GPU_IS_LOST;
    case CUDA_ERROR_OUT_OF_MEMORY: return NVML_ERROR_MEMORY;
    default: return NVML_ERROR_UNKNOWN;
    }
}

nvmlReturn_t tfn_p_open(void)
{
    int v = 0;
    CUresult r = cuInit(0);
    if (r == CUDA_SUCCESS)
        r = cuDriverGetVersion(&v);
    if (r == CUDA_SUCCESS)
        snprintf(driver_version, sizeof driver_version, "%d.%d-tfuse", v / 1000, (v % 1000) / 10);
    return from_cu(r);
}

void tfn_p_close(void) {}

nvmlReturn_t tfn_p_count(unsigned *n)
{
    int count = 0;
    nvmlReturn_t r = from_cu(cuDeviceGetCount(&count));
    *n = r == NVML_SUCCESS && count > 0 ? (unsigned)count : 0;
    return r;
}

/* An attribute of the snapshot, or `otherwise` when the device did not answer it. */
static int attribute(unsigned i, CUdevice_attribute a, int otherwise)
{
    int v = 0;
    return cuDeviceGetAttribute(&v, a, (CUdevice)i) == CUDA_SUCCESS ? v : otherwise;
}

static void fill_attributes(unsigned i, struct tfn_facts *f)
{
    f->pci_domain = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 0);
    f->pci_bus = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 0);
    f->pci_device = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 0);
    f->pci_device_id = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID, 0);
    f->pci_subsystem_id = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_GPU_PCI_SUBSYSTEM_ID, 0);
    f->cc_major = attribute(i, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0);
    f->cc_minor = attribute(i, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0);
    f->sm_count = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0);
    f->mem_bus_width = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, 0);
    f->sm_clock_mhz = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_CLOCK_RATE, 0) / 1000;
    f->mem_clock_mhz = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, 0) / 1000;
    f->ecc_enabled = attribute(i, CU_DEVICE_ATTRIBUTE_ECC_ENABLED, 0);
    f->compute_mode = (nvmlComputeMode_t)attribute(i, CU_DEVICE_ATTRIBUTE_COMPUTE_MODE, 0);
}

nvmlReturn_t tfn_p_facts(unsigned i, struct tfn_facts *f)
{
    CUuuid u;
    CUresult r = cuDeviceGetName(f->name, (int)sizeof f->name, (CUdevice)i);
    if (r == CUDA_SUCCESS)
        r = cuDeviceGetUuid_v2(&u, (CUdevice)i);
    if (r != CUDA_SUCCESS)
        return from_cu(r);
    memcpy(f->uuid, u.bytes, sizeof f->uuid);
    f->serial[0] = 0;
    f->pstate = NVML_PSTATE_UNKNOWN;
    fill_attributes(i, f);
    return NVML_SUCCESS;
}

const char *tfn_p_driver_version(void) { return driver_version; }

nvmlReturn_t tfn_p_cuda_version(int *version)
{
    return from_cu(cuDriverGetVersion(version));
}

nvmlReturn_t tfn_p_memory(unsigned i, unsigned long long *total, unsigned long long *used)
{
    size_t free_b = 0, total_b = 0;
    nvmlReturn_t r = from_cu(tfuse_mem_info((CUdevice)i, &free_b, &total_b));
    if (r == NVML_SUCCESS) {
        *total = total_b;
        *used = free_b < total_b ? total_b - free_b : 0;
    }
    return r;
}

/* The vGPU's share of the device since the previous ask (a window of at least 100 ms, measured
 * by the node's worker from kernel events). Memory bandwidth is not measured: 0. */
nvmlReturn_t tfn_p_utilization(unsigned i, nvmlUtilization_t *u)
{
    unsigned pct = 0;
    unsigned long long held = 0;
    nvmlReturn_t r = from_cu(tfuse_vgpu_usage((CUdevice)i, &pct, &held));
    if (r == NVML_SUCCESS)
        *u = (nvmlUtilization_t){.gpu = pct, .memory = 0};
    return r;
}

nvmlReturn_t tfn_p_processes(unsigned i, nvmlProcessInfo_t *out, unsigned cap, unsigned *n)
{
    unsigned pct = 0;
    unsigned long long held = 0;
    nvmlReturn_t r = from_cu(tfuse_vgpu_usage((CUdevice)i, &pct, &held));
    if (r != NVML_SUCCESS)
        return r;
    *n = held > 0;
    if (*n && cap)
        out[0] = (nvmlProcessInfo_t){.pid = (unsigned)getpid(), .usedGpuMemory = held,
                                     .gpuInstanceId = TFN_NO_MIG,
                                     .computeInstanceId = TFN_NO_MIG};
    return NVML_SUCCESS;
}

/* This process's sample: the vGPU's share of the device (the vGPU's only process we show). */
nvmlReturn_t tfn_p_process_util(unsigned i, nvmlProcessUtilizationSample_t *out, unsigned cap,
                                unsigned *n)
{
    unsigned pct = 0;
    unsigned long long held = 0;
    nvmlReturn_t r = from_cu(tfuse_vgpu_usage((CUdevice)i, &pct, &held));
    if (r != NVML_SUCCESS)
        return r;
    *n = held > 0;
    if (*n && cap)
        out[0] = (nvmlProcessUtilizationSample_t){.pid = (unsigned)getpid(),
                                                  .timeStamp = tfn_now_us(), .smUtil = pct};
    return NVML_SUCCESS;
}

nvmlReturn_t tfn_p_p2p(unsigned a, unsigned b, nvmlGpuP2PCapsIndex_t index,
                       nvmlGpuP2PStatus_t *status)
{
    CUdevice_P2PAttribute attr;
    if (index == NVML_P2P_CAPS_INDEX_READ || index == NVML_P2P_CAPS_INDEX_WRITE)
        attr = CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED;
    else if (index == NVML_P2P_CAPS_INDEX_ATOMICS)
        attr = CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED;
    else {   /* NVLink and the link kind are not known to a session */
        *status = NVML_P2P_STATUS_NOT_SUPPORTED;
        return NVML_SUCCESS;
    }
    int v = 0;
    CUresult r = cuDeviceGetP2PAttribute(&v, attr, (CUdevice)a, (CUdevice)b);
    *status = r == CUDA_SUCCESS && v ? NVML_P2P_STATUS_OK : NVML_P2P_STATUS_NOT_SUPPORTED;
    return NVML_SUCCESS;
}
