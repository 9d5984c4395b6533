/*
 * softgpu's NVML subset (include/tfuse/nvml.h), built as libtfuse-softgpu-nvml.so and
 * lib/softgpu/libnvidia-ml.so.1. It reports the devices the driver library would create
 * (same environment, same UUIDs and PCI ids) and reads per-process memory and busy time from
 * the usage files the driver processes publish (shm_stats.h). Calls config.c and shm_map.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TFUSE_NVML_NO_VERSION_MACROS
#include "tfuse/nvml.h"

#include "config.h"
#include "shm_stats.h"

#define SG_NVML_DRIVER_VERSION "13.0.0-softgpu"
#define SG_NVML_CUDA_VERSION 13000

struct nvmlDevice_st {
    int index;
};

static pthread_mutex_t nvml_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count;
static struct sg_config cfg;
static struct nvmlDevice_st devices[SG_MAX_DEVICES];
static struct sg_shm_file *files[SG_MAX_DEVICES];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    pthread_mutex_lock(&nvml_lock);
    if (init_count++ == 0) {
        sg_config_load(&cfg, NULL);
        for (int i = 0; i < SG_MAX_DEVICES; i++)
            devices[i].index = i;
    }
    pthread_mutex_unlock(&nvml_lock);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&nvml_lock);
    nvmlReturn_t r = init_count > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
    if (init_count > 0)
        init_count--;
    pthread_mutex_unlock(&nvml_lock);
    return r;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_OPERATING_SYSTEM: return "Operating System Error";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No Data";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument Version Mismatch";
    case NVML_ERROR_NOT_READY: return "Not Ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    default: return "Unknown Error";
    }
}

static int initialized(void)
{
    pthread_mutex_lock(&nvml_lock);
    int ok = init_count > 0;
    pthread_mutex_unlock(&nvml_lock);
    return ok;
}

static nvmlReturn_t device_index(nvmlDevice_t d, int *index)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!d || d < devices || d >= devices + cfg.ndev)
        return NVML_ERROR_INVALID_ARGUMENT;
    *index = d->index;
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src)
{
    if (!dst)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, SG_NVML_DRIVER_VERSION);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    if (!cudaDriverVersion)
        return NVML_ERROR_INVALID_ARGUMENT;
    *cudaDriverVersion = SG_NVML_CUDA_VERSION;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = (unsigned)cfg.ndev;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!device || index >= (unsigned)cfg.ndev)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

static void uuid_string(int index, char out[64])
{
    unsigned char u[16];
    sg_device_uuid(u, index);
    snprintf(out, 64,
             "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (!uuid || !device)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < cfg.ndev; i++) {
        char s[64];
        uuid_string(i, s);
        if (!strcmp(s, uuid)) {
            *device = &devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    if (r)
        return r;
    if (!index)
        return NVML_ERROR_INVALID_ARGUMENT;
    *index = (unsigned)i;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    return r ? r : copy_string(name, length, "softgpu (CPU reference GPU)");
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    if (r)
        return r;
    char s[64];
    uuid_string(i, s);
    return copy_string(uuid, length, s);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    if (r)
        return r;
    if (!pci)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    pci->domain = 0;
    pci->bus = (unsigned)(SG_PCI_BUS_BASE + i);
    pci->device = 0;
    pci->pciDeviceId = 0x20b010deu;     /* same ids the driver reports as attributes */
    pci->pciSubSystemId = 0x134f10deu;
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.0", 0, pci->bus, 0);
    snprintf(pci->busId, sizeof pci->busId, "%08x:%02x:%02x.0", 0, pci->bus, 0);
    return NVML_SUCCESS;
}

/* The usage file of a device, mapped on first use; NULL while no process has created it. */
static struct sg_shm_file *usage(int index)
{
    pthread_mutex_lock(&nvml_lock);
    if (!files[index])
        files[index] = sg_shm_map(index, 0);
    struct sg_shm_file *f = files[index];
    pthread_mutex_unlock(&nvml_lock);
    return f;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    if (r)
        return r;
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    uint64_t used = 0;
    struct sg_shm_file *f = usage(i);
    for (int s = 0; f && s < SG_SHM_SLOTS; s++)
        if (sg_shm_pid_alive(atomic_load(&f->slots[s].pid)))
            used += atomic_load(&f->slots[s].bytes);
    memory->total = cfg.mem_bytes;
    memory->used = used < cfg.mem_bytes ? used : cfg.mem_bytes;
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    if (r)
        return r;
    if (!utilization)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned gpu = 0, mem = 0;
    uint64_t now = now_ns();
    struct sg_shm_file *f = usage(i);
    for (int s = 0; f && s < SG_SHM_SLOTS; s++) {
        if (!sg_shm_pid_alive(atomic_load(&f->slots[s].pid)))
            continue;
        gpu += sg_shm_slot_util(&f->slots[s], now, 0);
        mem += sg_shm_slot_util(&f->slots[s], now, 1);
    }
    utilization->gpu = gpu > 100 ? 100 : gpu;
    utilization->memory = mem > 100 ? 100 : mem;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos)
{
    int i;
    nvmlReturn_t r = device_index(device, &i);
    if (r)
        return r;
    if (!infoCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned n = 0;
    struct sg_shm_file *f = usage(i);
    for (int s = 0; f && s < SG_SHM_SLOTS; s++) {
        int32_t pid = atomic_load(&f->slots[s].pid);
        if (!sg_shm_pid_alive(pid))
            continue;
        if (infos && n < *infoCount) {
            infos[n].pid = (unsigned)pid;
            infos[n].usedGpuMemory = atomic_load(&f->slots[s].bytes);
            infos[n].gpuInstanceId = 0xFFFFFFFFu;  /* no MIG */
            infos[n].computeInstanceId = 0xFFFFFFFFu;
        }
        n++;
    }
    r = n > *infoCount || (n && !infos) ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
    *infoCount = n;
    return r;
}
