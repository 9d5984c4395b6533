/*
 * The vGPU ledger for the CUDA 3.1 ABIs' allocations (src/proto/calls_legacy.def): cuMemAlloc,
 * cuMemAllocPitch and cuMemFree with 32-bit pointers reach the backend's own v1 entries, so
 * that the device places the memory below 4 GiB; they are charged, settled and refunded
 * exactly as the current ABIs are (enforce.c), under the same per-pointer record, so either
 * ABI's free refunds what either ABI's allocation was charged.
 * May call: enforce.c's charging (enforce_int.h), the backend table's saved originals.
 */
#include "enforce_int.h"

#undef cuMemAlloc
#undef cuMemAllocPitch
#undef cuMemFree

static CUresult w_mem_alloc32(CUdeviceptr_v1 *dptr, unsigned int bytes)
{
    struct tfw_limits *L = lim();
    struct tfw_vgpu *v = tfw_lim_current_vgpu(L);
    CUresult r = tfw_lim_reserve(L, v, bytes);
    if (r != CUDA_SUCCESS)
        return r;
    r = L->orig.cuMemAlloc(dptr, bytes);
    return tfw_lim_settle(L, v, r, dptr ? *dptr : 0, bytes);
}

struct pitch32_args {
    CUdeviceptr_v1 *dptr;
    unsigned int *pitch, width, height, elem;
};

static CUresult pitch32_call(void *args, uint64_t *p, uint64_t *pitch)
{
    struct pitch32_args *a = args;
    CUresult r = lim()->orig.cuMemAllocPitch(a->dptr, a->pitch, a->width, a->height, a->elem);
    if (r == CUDA_SUCCESS) {
        *p = *a->dptr;
        *pitch = *a->pitch;
    }
    return r;
}

static CUresult pitch32_undo(uint64_t p) { return lim()->orig.cuMemFree((CUdeviceptr_v1)p); }

static CUresult w_mem_alloc_pitch32(CUdeviceptr_v1 *dptr, unsigned int *pitch,
                                    unsigned int width, unsigned int height, unsigned int elem)
{
    struct pitch32_args a = {dptr, pitch, width, height, elem};
    if (!dptr || !pitch)
        return CUDA_ERROR_INVALID_VALUE;
    return tfw_lim_alloc_pitched(width, height, &a, pitch32_call, pitch32_undo);
}

static CUresult w_mem_free32(CUdeviceptr_v1 p)
{
    struct tfw_limits *L = lim();
    CUresult r = L->orig.cuMemFree(p);
    if (r == CUDA_SUCCESS)
        tfw_lim_refund(L, (uint64_t)p);
    return r;
}

void tfw_lim_abi32_install(struct tf_backend *be)
{
    TFW_WRAP(be, cuMemAlloc, w_mem_alloc32);
    TFW_WRAP(be, cuMemAllocPitch, w_mem_alloc_pitch32);
    TFW_WRAP(be, cuMemFree, w_mem_free32);
}
