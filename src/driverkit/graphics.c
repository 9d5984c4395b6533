/*
 * Graphics interop (cuGraphics*) for a driver-shaped library of ours: the stub (answered in the
 * program's process, calls.def TF_LOCAL) and softgpu both compile this file.
 *
 * Why every resource is invalid: a CUgraphicsResource exists only once a graphics API's object
 * has been registered (cuGraphicsGLRegisterBuffer, cuGraphicsEGLRegisterImage,
 * cuGraphicsVDPAURegisterVideoSurface, ...). The CUDA 13 driver's export list
 * (lib64/stubs/libcuda.so, hence driver_api.def) contains no registering function at all, so
 * through this surface no program can ever hold a valid resource. What remains is the driver's
 * own argument checking, answered here once:
 *   - mapping or unmapping zero resources does nothing and succeeds; a count with a NULL array
 *     is CUDA_ERROR_INVALID_VALUE;
 *   - a NULL output pointer is CUDA_ERROR_INVALID_VALUE, flags other than cuda.h's
 *     CU_GRAPHICS_MAP_RESOURCE_FLAGS_* are CUDA_ERROR_INVALID_VALUE;
 *   - any resource (NULL included) is unknown: CUDA_ERROR_INVALID_HANDLE, as cuda.h documents
 *     for an invalid resource.
 * The per-thread variants (_ptsz) reach these through surface_gen.h. The stream is not looked
 * at: no resource ever reaches the point where the driver would use it.
 * Calls nothing.
 */
#include <cuda.h>

/* No resource is ever registered (see above), so none is valid. */
static CUresult unknown_resource(CUgraphicsResource resource)
{
    (void)resource;
    return CUDA_ERROR_INVALID_HANDLE;
}

static CUresult map_or_unmap(unsigned int count, const CUgraphicsResource *resources)
{
    if (count == 0)
        return CUDA_SUCCESS;
    if (!resources)
        return CUDA_ERROR_INVALID_VALUE;
    return unknown_resource(resources[0]);
}

CUresult CUDAAPI cuGraphicsMapResources(unsigned int count, CUgraphicsResource *resources,
                                        CUstream hStream)
{
    (void)hStream;
    return map_or_unmap(count, resources);
}

CUresult CUDAAPI cuGraphicsUnmapResources(unsigned int count, CUgraphicsResource *resources,
                                          CUstream hStream)
{
    (void)hStream;
    return map_or_unmap(count, resources);
}

CUresult CUDAAPI cuGraphicsUnregisterResource(CUgraphicsResource resource)
{
    return unknown_resource(resource);
}

CUresult CUDAAPI cuGraphicsResourceGetMappedPointer_v2(CUdeviceptr *pDevPtr, size_t *pSize,
                                                       CUgraphicsResource resource)
{
    if (!pDevPtr || !pSize)
        return CUDA_ERROR_INVALID_VALUE;
    return unknown_resource(resource);
}

/* The CUDA 3.0 ABI (32-bit pointer and size): the same answer, nothing to narrow. */
CUresult CUDAAPI dk_graphics_mapped_pointer_v1(unsigned int *pDevPtr, unsigned int *pSize,
                                               CUgraphicsResource resource)
    __asm__("cuGraphicsResourceGetMappedPointer");
CUresult CUDAAPI dk_graphics_mapped_pointer_v1(unsigned int *pDevPtr, unsigned int *pSize,
                                               CUgraphicsResource resource)
{
    if (!pDevPtr || !pSize)
        return CUDA_ERROR_INVALID_VALUE;
    return unknown_resource(resource);
}

CUresult CUDAAPI cuGraphicsResourceGetMappedMipmappedArray(CUmipmappedArray *pMipmappedArray,
                                                           CUgraphicsResource resource)
{
    if (!pMipmappedArray)
        return CUDA_ERROR_INVALID_VALUE;
    return unknown_resource(resource);
}

CUresult CUDAAPI cuGraphicsSubResourceGetMappedArray(CUarray *pArray, CUgraphicsResource resource,
                                                     unsigned int arrayIndex,
                                                     unsigned int mipLevel)
{
    (void)arrayIndex;
    (void)mipLevel;
    if (!pArray)
        return CUDA_ERROR_INVALID_VALUE;
    return unknown_resource(resource);
}

CUresult CUDAAPI cuGraphicsResourceSetMapFlags_v2(CUgraphicsResource resource, unsigned int flags)
{
    if (flags > CU_GRAPHICS_MAP_RESOURCE_FLAGS_WRITE_DISCARD)
        return CUDA_ERROR_INVALID_VALUE;
    return unknown_resource(resource);
}

/* The CUDA 3.0 ABI has the same signature and meaning. */
CUresult CUDAAPI dk_graphics_set_map_flags_v1(CUgraphicsResource resource, unsigned int flags)
    __asm__("cuGraphicsResourceSetMapFlags");
CUresult CUDAAPI dk_graphics_set_map_flags_v1(CUgraphicsResource resource, unsigned int flags)
{
    return cuGraphicsResourceSetMapFlags_v2(resource, flags);
}
