/*
 * Older ABIs composed from the current calls, for every driver-shaped library here (the stub,
 * softgpu): CUDA 8's migration hints (cuMemAdvise, cuMemPrefetchAsync), which name a device
 * where CUDA 12.2 takes a location. (The CUDA 3.1 ABIs with 32-bit pointers are abi32.c's.)
 * May call: the library's cuMemAdvise_v2 and cuMemPrefetchAsync_v2.
 */
#include <cuda.h>

#undef cuMemAdvise
#undef cuMemPrefetchAsync
CUresult CUDAAPI cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                             CUdevice device);
CUresult CUDAAPI cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice,
                                    CUstream hStream);

/* ---- CUDA 8's migration hints: CU_DEVICE_CPU is the host ---- */

static CUmemLocation location_of(CUdevice dev)
{
    return dev == CU_DEVICE_CPU ? (CUmemLocation){CU_MEM_LOCATION_TYPE_HOST, 0}
                                : (CUmemLocation){CU_MEM_LOCATION_TYPE_DEVICE, dev};
}

CUresult CUDAAPI cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                             CUdevice device)
{
    return cuMemAdvise_v2(devPtr, count, advice, location_of(device));
}

CUresult CUDAAPI cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice,
                                    CUstream hStream)
{
    return cuMemPrefetchAsync_v2(devPtr, count, location_of(dstDevice), 0, hStream);
}
