/*
 * Host copies larger than one frame: cuMemcpyHtoD/DtoH and their Async forms. A request or a
 * reply carries at most the session's frame bound (1 GiB by default, negotiated at the
 * handshake; TFUSE_FRAME_MAX_MB lowers it, conn.c), so a larger copy whose bytes travel with the
 * call goes as several calls of the generated entry (entry.c's tfs_whole_*), each a piece of
 * half the bound: a 2 GiB copy is four calls. Half, so that a piece's request or reply (the
 * arguments, device printf output ahead of a DtoH's bytes) always fits.
 * Semantics: the pieces are issued in order on the same stream, so an asynchronous copy stays
 * one ordered copy on its stream and a synchronous one is complete when the last piece returns.
 * A copy the stub can tell runs past its device allocation is refused whole, before any piece,
 * as the driver refuses it; otherwise the first failing piece's error is the call's and the
 * pieces after it are not sent.
 * May call: entry.c's generated copies, conn.c (the frame bound), local.c (allocations).
 */
#include <stdint.h>

#include "log.h"
#include "stub.h"

/* The piece size for a copy of n bytes, or 0 when it goes whole. */
static size_t piece_for(size_t n, CUdeviceptr d)
{
    if (n <= (1u << 20))
        return 0;   /* far below any bound the session accepts: no question asked */
    uint64_t bound = tfs_frame_bound();
    if (bound == 0 || n <= bound / 2)
        return 0;   /* whole: no session (the entry says why), or it fits */
    if (tfs_dev_buffer_id(d) && !tfs_dev_contains(d, n))
        return 0;   /* past its allocation: the whole copy is refused by the worker */
    size_t piece = (size_t)(bound / 2) & ~(size_t)4095;
    tf_debug("a copy of %zu bytes goes in pieces of %zu (frame bound %llu)", n, piece,
             (unsigned long long)bound);
    return piece ? piece : 4096;
}

/* One piece: host memory at h, device memory at d (the direction is the function's). */
typedef CUresult (*piece_fn)(uint8_t *h, CUdeviceptr d, size_t n, CUstream s);

static CUresult in_pieces(piece_fn f, uint8_t *h, CUdeviceptr d, size_t n, size_t piece,
                          CUstream s)
{
    CUresult r = CUDA_SUCCESS;
    for (size_t off = 0; r == CUDA_SUCCESS && off < n; off += piece)
        r = f(h + off, d + off, n - off < piece ? n - off : piece, s);
    return r;
}

static CUresult htod(uint8_t *h, CUdeviceptr d, size_t n, CUstream s)
{
    (void)s;
    return tfs_whole_cuMemcpyHtoD_v2(d, h, n);
}

static CUresult dtoh(uint8_t *h, CUdeviceptr d, size_t n, CUstream s)
{
    (void)s;
    return tfs_whole_cuMemcpyDtoH_v2(h, d, n);
}

static CUresult htod_async(uint8_t *h, CUdeviceptr d, size_t n, CUstream s)
{
    return tfs_whole_cuMemcpyHtoDAsync_v2(d, h, n, s);
}

static CUresult dtoh_async(uint8_t *h, CUdeviceptr d, size_t n, CUstream s)
{
    return tfs_whole_cuMemcpyDtoHAsync_v2(h, d, n, s);
}

/* The program's source is const: the pieces only read it (htod, htod_async). */
CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    size_t piece = srcHost ? piece_for(ByteCount, dstDevice) : 0;
    return piece ? in_pieces(htod, (uint8_t *)(uintptr_t)srcHost, dstDevice, ByteCount, piece, 0)
                 : tfs_whole_cuMemcpyHtoD_v2(dstDevice, srcHost, ByteCount);
}

CUresult CUDAAPI cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    size_t piece = dstHost ? piece_for(ByteCount, srcDevice) : 0;
    return piece ? in_pieces(dtoh, dstHost, srcDevice, ByteCount, piece, 0)
                 : tfs_whole_cuMemcpyDtoH_v2(dstHost, srcDevice, ByteCount);
}

CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost,
                                      size_t ByteCount, CUstream hStream)
{
    size_t piece = srcHost ? piece_for(ByteCount, dstDevice) : 0;
    return piece ? in_pieces(htod_async, (uint8_t *)(uintptr_t)srcHost, dstDevice, ByteCount,
                             piece, hStream)
                 : tfs_whole_cuMemcpyHtoDAsync_v2(dstDevice, srcHost, ByteCount, hStream);
}

CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                      CUstream hStream)
{
    size_t piece = dstHost ? piece_for(ByteCount, srcDevice) : 0;
    return piece ? in_pieces(dtoh_async, dstHost, srcDevice, ByteCount, piece, hStream)
                 : tfs_whole_cuMemcpyDtoHAsync_v2(dstHost, srcDevice, ByteCount, hStream);
}
