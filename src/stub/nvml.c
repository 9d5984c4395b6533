/*
 * TensorFuse's libnvidia-ml.so.1: the NVML subset that nvidia-smi-style callers and frameworks
 * ask, answered for the device the session sees. It sits on the stub (libcuda.so.1 in the same
 * folder), so it shares the program's connection and the stub's cached device snapshot; memory
 * is what the session's worker reports (tfi_mem_info). Utilization and process lists are not
 * known to a session: NVML_ERROR_NOT_SUPPORTED.
 * May call: the stub's exported driver API, tfi_mem_info (through the driver's exported entry).
 */
#include <cuda.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tfuse/nvml.h"

#define NVML_EXPORT __attribute__((visibility("default")))
#define MAX_DEVICES 64

struct nvmlDevice_st {
    unsigned index;
};

static struct nvmlDevice_st devices[MAX_DEVICES];
static int initialized;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Exported by our libcuda.so.1 for this library (not part of NVIDIA's API). */
CUresult tfuse_mem_info(CUdevice dev, size_t *freeBytes, size_t *totalBytes);
CUresult tfuse_vgpu_usage(CUdevice dev, unsigned *gpu_percent, unsigned long long *held);

static nvmlReturn_t from_cu(CUresult r)
{
    switch (r) {
    case CUDA_SUCCESS: return NVML_SUCCESS;
    case CUDA_ERROR_INVALID_VALUE: return NVML_ERROR_INVALID_ARGUMENT;
    case CUDA_ERROR_INVALID_DEVICE: return NVML_ERROR_INVALID_ARGUMENT;
    case CUDA_ERROR_NOT_SUPPORTED: return NVML_ERROR_NOT_SUPPORTED;
    case CUDA_ERROR_NO_DEVICE: return NVML_ERROR_DRIVER_NOT_LOADED;
    case CUDA_ERROR_DEVICE_UNAVAILABLE: return NVML_ERROR_GPU_IS_LOST;
    default: return NVML_ERROR_UNKNOWN;
    }
}

static int device_index(nvmlDevice_t d, unsigned *index)
{
    if (!d || d < devices || d >= devices + MAX_DEVICES)
        return 0;
    *index = (unsigned)(d - devices);
    return 1;
}

NVML_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    CUresult r = cuInit(0);
    if (r == CUDA_SUCCESS) {
        pthread_mutex_lock(&lock);
        initialized++;
        pthread_mutex_unlock(&lock);
    }
    return from_cu(r);
}

NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    return nvmlInit_v2();
}

NVML_EXPORT nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&lock);
    int was = initialized;
    if (initialized)
        initialized--;
    pthread_mutex_unlock(&lock);
    return was ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
}

NVML_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

#define NEED_INIT() do { if (!initialized) return NVML_ERROR_UNINITIALIZED; } while (0)

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    if (!cudaDriverVersion)
        return NVML_ERROR_INVALID_ARGUMENT;
    return from_cu(cuDriverGetVersion(cudaDriverVersion));
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    int v = 0;
    NEED_INIT();
    if (!version)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(cuDriverGetVersion(&v));
    if (r != NVML_SUCCESS)
        return r;
    if ((unsigned)snprintf(version, length, "tfuse-%d.%d", v / 1000, (v % 1000) / 10) >= length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    int n = 0;
    NEED_INIT();
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(cuDeviceGetCount(&n));
    if (r == NVML_SUCCESS)
        *deviceCount = (unsigned)(n > MAX_DEVICES ? MAX_DEVICES : n);
    return r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    unsigned n = 0;
    nvmlReturn_t r = nvmlDeviceGetCount_v2(&n);
    if (r != NVML_SUCCESS)
        return r;
    if (!device || index >= n)
        return NVML_ERROR_INVALID_ARGUMENT;
    devices[index].index = index;
    *device = &devices[index];
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    NEED_INIT();
    return index && device_index(device, index) ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    unsigned i;
    char buf[256];
    NEED_INIT();
    if (!name || !device_index(device, &i))
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(cuDeviceGetName(buf, sizeof buf, (CUdevice)i));
    if (r == NVML_SUCCESS && (unsigned)snprintf(name, length, "%s", buf) >= length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    return r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    unsigned i;
    CUuuid u;
    NEED_INIT();
    if (!uuid || !device_index(device, &i))
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(cuDeviceGetUuid_v2(&u, (CUdevice)i));
    if (r != NVML_SUCCESS)
        return r;
    const unsigned char *b = (const unsigned char *)u.bytes;
    int n = snprintf(uuid, length,
                     "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                     b[12], b[13], b[14], b[15]);
    return n < 0 || (unsigned)n >= length ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    unsigned i;
    size_t free_b = 0, total_b = 0;
    NEED_INIT();
    if (!memory || !device_index(device, &i))
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(tfuse_mem_info((CUdevice)i, &free_b, &total_b));
    if (r == NVML_SUCCESS) {
        memory->total = total_b;
        memory->free = free_b;
        memory->used = total_b - free_b;
    }
    return r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    unsigned i;
    int dom = 0, bus = 0, dev = 0;
    NEED_INIT();
    if (!pci || !device_index(device, &i))
        return NVML_ERROR_INVALID_ARGUMENT;
    CUresult r = cuDeviceGetAttribute(&dom, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, (CUdevice)i);
    if (r == CUDA_SUCCESS)
        r = cuDeviceGetAttribute(&bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, (CUdevice)i);
    if (r == CUDA_SUCCESS)
        r = cuDeviceGetAttribute(&dev, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, (CUdevice)i);
    if (r != CUDA_SUCCESS)
        return from_cu(r);
    memset(pci, 0, sizeof *pci);
    pci->domain = (unsigned)dom;
    pci->bus = (unsigned)bus;
    pci->device = (unsigned)dev;
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.0", dom & 0xffff, bus, dev);
    snprintf(pci->busId, sizeof pci->busId, "%08x:%02x:%02x.0", (unsigned)dom, bus, dev);
    return NVML_SUCCESS;
}

/* The session's vGPU, as NVML reports a device: `gpu` is the percent of the device's time the
 * vGPU's kernels ran since the previous ask (measured by the node's worker from kernel events;
 * other tenants of the device are not visible). Memory-bandwidth use is not measured: `memory`
 * is 0. A session without a vGPU is not metered: NOT_SUPPORTED. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                       nvmlUtilization_t *utilization)
{
    unsigned i, pct = 0;
    unsigned long long held = 0;
    NEED_INIT();
    if (!utilization || !device_index(device, &i))
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(tfuse_vgpu_usage((CUdevice)i, &pct, &held));
    if (r == NVML_SUCCESS)
        *utilization = (nvmlUtilization_t){.gpu = pct, .memory = 0};
    return r;
}

/* The processes of this session that hold memory on the device: this process (other tenants'
 * processes are not the session's to see). */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                                 unsigned int *infoCount,
                                                                 nvmlProcessInfo_t *infos)
{
    unsigned i, pct = 0;
    unsigned long long held = 0;
    NEED_INIT();
    if (!infoCount || !device_index(device, &i))
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = from_cu(tfuse_vgpu_usage((CUdevice)i, &pct, &held));
    if (r != NVML_SUCCESS)
        return r;
    unsigned n = held > 0;
    if (*infoCount < n || (n && !infos)) {
        *infoCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    *infoCount = n;
    if (n)
        infos[0] = (nvmlProcessInfo_t){.pid = (unsigned)getpid(), .usedGpuMemory = held,
                                       .gpuInstanceId = ~0u, .computeInstanceId = ~0u};
    return NVML_SUCCESS;
}
