/*
 * An NVML client run through `tfuse run`: it must find TensorFuse's libnvidia-ml.so.1 and see
 * the session's device (name, UUID, memory, PCI id), and memory used must grow by what the
 * program allocates through the driver API. Prints one line per check, exits 0 when all hold.
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>

#include "tfuse/nvml.h"

int main(void)
{
    unsigned n = 0;
    nvmlDevice_t d;
    char name[96], uuid[96];
    nvmlMemory_t m0, m1;
    nvmlPciInfo_t pci;
    int ok = nvmlInit_v2() == NVML_SUCCESS && nvmlDeviceGetCount_v2(&n) == NVML_SUCCESS && n >= 1 &&
             nvmlDeviceGetHandleByIndex_v2(0, &d) == NVML_SUCCESS &&
             nvmlDeviceGetName(d, name, sizeof name) == NVML_SUCCESS &&
             nvmlDeviceGetUUID(d, uuid, sizeof uuid) == NVML_SUCCESS &&
             nvmlDeviceGetPciInfo_v3(d, &pci) == NVML_SUCCESS &&
             nvmlDeviceGetMemoryInfo(d, &m0) == NVML_SUCCESS;
    printf("nvml devices %u name '%s' uuid %.8s...: %s\n", n, ok ? name : "?", ok ? uuid : "?",
           ok ? "ok" : "WRONG");
    if (!ok)
        return 1;
    CUcontext ctx;
    CUdeviceptr p;
    size_t bytes = 64u << 20;
    if (cuDevicePrimaryCtxRetain(&ctx, 0) != CUDA_SUCCESS || cuCtxSetCurrent(ctx) != CUDA_SUCCESS ||
        cuMemAlloc(&p, bytes) != CUDA_SUCCESS)
        return 1;
    ok = nvmlDeviceGetMemoryInfo(d, &m1) == NVML_SUCCESS && m1.total == m0.total &&
         m1.used >= m0.used + bytes && strncmp(uuid, "GPU-", 4) == 0;
    printf("nvml memory used grows with allocations: %s\n", ok ? "ok" : "WRONG");
    printf("nvml utilization: %s\n",
           nvmlDeviceGetUtilizationRates(d, &(nvmlUtilization_t){0, 0}) == NVML_ERROR_NOT_SUPPORTED
               ? "not supported without a vGPU (as documented)" : "unexpected");
    nvmlShutdown();
    return ok ? 0 : 1;
}
