/*
 * The objects a texture or surface resource names (CUDA_RESOURCE_DESC): an array or a mipmapped
 * array must be a handle of the session, linear and pitched memory must lie in one of its
 * allocations, as for any call that names them directly. Without this check a texture object
 * would read another tenant's memory through a guessed address.
 * May call: the session's checks (worker.c).
 */
#include "worker_int.h"

CUresult tfw_check_resource(struct tfw_session *s, const CUDA_RESOURCE_DESC *d)
{
    switch (d->resType) {
    case CU_RESOURCE_TYPE_ARRAY:
        return d->res.array.hArray
                   ? tfw_check_handle(s, TFW_K_ARRAY, (uint64_t)(uintptr_t)d->res.array.hArray)
                   : CUDA_ERROR_INVALID_HANDLE;
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
        return d->res.mipmap.hMipmappedArray
                   ? tfw_check_handle(s, TFW_K_MIPMAP,
                                      (uint64_t)(uintptr_t)d->res.mipmap.hMipmappedArray)
                   : CUDA_ERROR_INVALID_HANDLE;
    case CU_RESOURCE_TYPE_LINEAR:
        return tfw_check_range(s, d->res.linear.devPtr, d->res.linear.sizeInBytes);
    case CU_RESOURCE_TYPE_PITCH2D:
        /* rows of Width elements; the driver checks Width against the pitch */
        return tfw_check_range(s, d->res.pitch2D.devPtr,
                               tfp_span2d(d->res.pitch2D.pitchInBytes, d->res.pitch2D.pitchInBytes,
                                          d->res.pitch2D.height));
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}
