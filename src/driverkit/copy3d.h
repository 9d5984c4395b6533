/*
 * A peer 3D copy (CUDA_MEMCPY3D_PEER) as the 3D copy it describes, its contexts set aside: for
 * every driver-shaped library here (the stub, softgpu), whose peer copies are 3D copies in one
 * address space.
 */
#ifndef TFUSE_DRIVERKIT_COPY3D_H
#define TFUSE_DRIVERKIT_COPY3D_H

#include <cuda.h>

static inline CUDA_MEMCPY3D dk_copy3d_of_peer(const CUDA_MEMCPY3D_PEER *p)
{
    return (CUDA_MEMCPY3D){
        .srcXInBytes = p->srcXInBytes, .srcY = p->srcY, .srcZ = p->srcZ, .srcLOD = p->srcLOD,
        .srcMemoryType = p->srcMemoryType, .srcHost = p->srcHost, .srcDevice = p->srcDevice,
        .srcArray = p->srcArray, .srcPitch = p->srcPitch, .srcHeight = p->srcHeight,
        .dstXInBytes = p->dstXInBytes, .dstY = p->dstY, .dstZ = p->dstZ, .dstLOD = p->dstLOD,
        .dstMemoryType = p->dstMemoryType, .dstHost = p->dstHost, .dstDevice = p->dstDevice,
        .dstArray = p->dstArray, .dstPitch = p->dstPitch, .dstHeight = p->dstHeight,
        .WidthInBytes = p->WidthInBytes, .Height = p->Height, .Depth = p->Depth};
}

#endif
