/*
 * NVML front, what a device is doing: memory (v1, v2, BAR1), utilization (device, video
 * engines, per process) and the process lists (compute, graphics, MPS; the v1, v2 and v3
 * structs). Values come from the provider (front.h): the device's truth in softgpu, the
 * vGPU's view through the stub.
 */
#include <stdlib.h>
#include <string.h>

#include "front.h"

static nvmlReturn_t device_and(nvmlDevice_t device, const void *out, unsigned *i)
{
    nvmlReturn_t r = tfn_device(device, i);
    if (r == NVML_SUCCESS && !out)
        r = NVML_ERROR_INVALID_ARGUMENT;
    return r;
}

/* ---- memory ---- */

TFN_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    unsigned i;
    unsigned long long total = 0, used = 0;
    nvmlReturn_t r = device_and(device, memory, &i);
    if (r == NVML_SUCCESS)
        r = tfn_p_memory(i, &total, &used);
    if (r == NVML_SUCCESS)
        *memory = (nvmlMemory_t){.total = total, .free = total - used, .used = used};
    return r;
}

/* No memory is held back by a driver or firmware of ours: reserved is 0. */
TFN_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    unsigned i;
    unsigned long long total = 0, used = 0;
    nvmlReturn_t r = device_and(device, memory, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (memory->version != nvmlMemory_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if ((r = tfn_p_memory(i, &total, &used)) == NVML_SUCCESS) {
        memory->total = total;
        memory->reserved = 0;
        memory->free = total - used;
        memory->used = used;
    }
    return r;
}

/* BAR1 is a PCIe aperture of NVIDIA's boards: none here. */
TFN_API nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t device, nvmlBAR1Memory_t *bar1Memory)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, bar1Memory, &i);
    return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;
}

/* ---- utilization ---- */

TFN_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                   nvmlUtilization_t *utilization)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, utilization, &i);
    return r != NVML_SUCCESS ? r : tfn_p_utilization(i, utilization);
}

/* No video engines (NVENC, NVDEC) are part of our devices. */
TFN_API nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device,
                                                     unsigned int *utilization,
                                                     unsigned int *samplingPeriodUs)
{
    unsigned i;
    nvmlReturn_t r = device_and(device, utilization && samplingPeriodUs ? utilization : NULL, &i);
    return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;
}

TFN_API nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device,
                                                     unsigned int *utilization,
                                                     unsigned int *samplingPeriodUs)
{
    return nvmlDeviceGetEncoderUtilization(device, utilization, samplingPeriodUs);
}

/* Samples newer than lastSeenTimeStamp, one per compute process; NOT_FOUND when there are
 * none. With a NULL buffer, the number of samples there are (INSUFFICIENT_SIZE). */
TFN_API nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                     nvmlProcessUtilizationSample_t *utilization,
                                                     unsigned int *processSamplesCount,
                                                     unsigned long long lastSeenTimeStamp)
{
    unsigned i, n = 0;
    nvmlReturn_t r = device_and(device, processSamplesCount, &i);
    if (r != NVML_SUCCESS)
        return r;
    unsigned cap = utilization ? *processSamplesCount : 0;
    if ((r = tfn_p_process_util(i, utilization, cap, &n)) != NVML_SUCCESS)
        return r;
    unsigned kept = 0;
    for (unsigned s = 0; s < n && s < cap; s++)
        if (utilization[s].timeStamp > lastSeenTimeStamp)
            utilization[kept++] = utilization[s];
    if (!utilization || n > cap) {
        *processSamplesCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    *processSamplesCount = kept;
    return kept ? NVML_SUCCESS : NVML_ERROR_NOT_FOUND;
}

/* ---- processes ---- */

enum list_kind { COMPUTE, EMPTY };   /* graphics and MPS lists are empty: compute-only devices */

/* The processes of `kind` as nvmlProcessInfo_t, into a buffer the caller frees. */
static nvmlReturn_t list(unsigned i, enum list_kind kind, unsigned cap, nvmlProcessInfo_t **out,
                         unsigned *n)
{
    *out = NULL;
    *n = 0;
    if (kind == EMPTY)
        return NVML_SUCCESS;
    if (cap && !(*out = calloc(cap, sizeof **out)))
        return NVML_ERROR_MEMORY;
    nvmlReturn_t r = tfn_p_processes(i, *out, cap, n);
    if (r != NVML_SUCCESS) {
        free(*out);
        *out = NULL;
    }
    return r;
}

/* The list of `kind`, written as records of `size` bytes by `put` (NVML's counting rules). */
static nvmlReturn_t processes(nvmlDevice_t device, unsigned *count, void *infos, size_t size,
                              void (*put)(void *dst, const nvmlProcessInfo_t *src),
                              enum list_kind kind)
{
    unsigned i, n;
    nvmlProcessInfo_t *all;
    nvmlReturn_t r = device_and(device, count, &i);
    if (r != NVML_SUCCESS)
        return r;
    unsigned cap = infos ? *count : 0;
    if ((r = list(i, kind, cap, &all, &n)) != NVML_SUCCESS)
        return r;
    for (unsigned p = 0; p < n && p < cap; p++)
        put((char *)infos + p * size, &all[p]);
    free(all);
    r = n > cap ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
    *count = n;
    return r;
}

static void put_v1(void *dst, const nvmlProcessInfo_t *src)
{
    *(nvmlProcessInfo_v1_t *)dst = (nvmlProcessInfo_v1_t){src->pid, src->usedGpuMemory};
}

static void put_v2(void *dst, const nvmlProcessInfo_t *src)
{
    *(nvmlProcessInfo_v2_t *)dst = (nvmlProcessInfo_v2_t){src->pid, src->usedGpuMemory,
                                                          src->gpuInstanceId,
                                                          src->computeInstanceId};
}

static void put_v3(void *dst, const nvmlProcessInfo_t *src)
{
    *(nvmlProcessInfo_t *)dst = *src;
}

#define PROCESS_QUERY(name, type, put, kind)                                                  \
    TFN_API nvmlReturn_t name(nvmlDevice_t device, unsigned int *infoCount, type *infos)      \
    {                                                                                         \
        return processes(device, infoCount, infos, sizeof(type), put, kind);                  \
    }

PROCESS_QUERY(nvmlDeviceGetComputeRunningProcesses, nvmlProcessInfo_v1_t, put_v1, COMPUTE)
PROCESS_QUERY(nvmlDeviceGetComputeRunningProcesses_v2, nvmlProcessInfo_v2_t, put_v2, COMPUTE)
PROCESS_QUERY(nvmlDeviceGetComputeRunningProcesses_v3, nvmlProcessInfo_t, put_v3, COMPUTE)
PROCESS_QUERY(nvmlDeviceGetGraphicsRunningProcesses, nvmlProcessInfo_v1_t, put_v1, EMPTY)
PROCESS_QUERY(nvmlDeviceGetGraphicsRunningProcesses_v2, nvmlProcessInfo_v2_t, put_v2, EMPTY)
PROCESS_QUERY(nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlProcessInfo_t, put_v3, EMPTY)
PROCESS_QUERY(nvmlDeviceGetMPSComputeRunningProcesses, nvmlProcessInfo_v1_t, put_v1, EMPTY)
PROCESS_QUERY(nvmlDeviceGetMPSComputeRunningProcesses_v2, nvmlProcessInfo_v2_t, put_v2, EMPTY)
PROCESS_QUERY(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlProcessInfo_t, put_v3, EMPTY)
