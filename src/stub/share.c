/*
 * The stub's side of what crosses a process boundary as a file descriptor (calls_share.def):
 * external memory and semaphores, shareable allocation and pool handles, pool pointers and
 * dma-buf ranges. An import sends the program's descriptor to the worker (tfs_send_fd) and
 * names it by its tag; an export gets the worker's descriptor back by the tag the reply gives
 * (tfs_take_fd). Descriptors pass between processes of one host only: over TCP these calls are
 * CUDA_ERROR_NOT_SUPPORTED, with a log line that says why (docs/forwarding.md, SAME_HOST).
 * Handle types that are not descriptors (Win32, D3D, NvSci, fabric) are NOT_SUPPORTED too: no
 * such object can reach the node. Also the program's extra retains of allocation handles.
 * May call: conn.c (the connection, fd passing), local.c (device ranges), the generated
 * internal requests (entry.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "stub.h"

/* Why a descriptor call fails over TCP, once per process. */
static CUresult no_fd_passing(const char *call)
{
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        tf_warn("%s: file descriptors cannot cross hosts: the node is reached over TCP, so "
                "external memory, semaphores and shareable handles need a node on this host",
                call);
    return CUDA_ERROR_NOT_SUPPORTED;
}

static CUresult not_a_descriptor(const char *call, int type)
{
    tf_warn("%s: handle type %d is not a file descriptor: only descriptors reach the node", call,
            type);
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* Sends fd; the tag the worker finds it by. */
static CUresult send_fd(const char *call, int fd, uint64_t *tag)
{
    if (fd < 0)
        return CUDA_ERROR_INVALID_HANDLE;
    CUresult r = tfs_send_fd(fd, tag);
    return r == CUDA_ERROR_NOT_SUPPORTED ? no_fd_passing(call) : r;
}

/* Before an export to a descriptor (accepted: of a type that is one): whether the worker's
 * descriptor can come back at all. */
static CUresult can_receive(const char *call, int accepted, int type)
{
    int fd;
    if (!accepted)
        return not_a_descriptor(call, type);
    CUresult r = tfs_take_fd(0, &fd);
    return r == CUDA_ERROR_NOT_SUPPORTED ? no_fd_passing(call) : r;
}

/* ---- external memory and semaphores ---- */

/* An import's descriptor of an accepted type sent; the tag the worker finds it by. */
static CUresult import_fd(const char *call, int accepted, int type, int fd, uint64_t *tag)
{
    return accepted ? send_fd(call, fd, tag) : not_a_descriptor(call, type);
}

/* The driver owns an imported descriptor after a successful import: the worker's now. */
static CUresult owned(CUresult r, int fd)
{
    if (r == CUDA_SUCCESS)
        close(fd);
    return r;
}

CUresult CUDAAPI cuImportExternalMemory(CUexternalMemory *extMem_out,
                                        const CUDA_EXTERNAL_MEMORY_HANDLE_DESC *memHandleDesc)
{
    const CUDA_EXTERNAL_MEMORY_HANDLE_DESC *d = memHandleDesc;
    uint64_t tag;
    if (!extMem_out || !d)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = import_fd("cuImportExternalMemory",
                           d->type == CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD
                               || d->type == CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD,
                           d->type, d->handle.fd, &tag);
    return r ? r : owned(tfi_extmem_import(tag, d, extMem_out), d->handle.fd);
}

CUresult CUDAAPI cuImportExternalSemaphore(CUexternalSemaphore *extSem_out,
                                           const CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC *semHandleDesc)
{
    const CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC *d = semHandleDesc;
    uint64_t tag;
    if (!extSem_out || !d)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = import_fd("cuImportExternalSemaphore",
                           d->type == CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD ||
                           d->type == CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD,
                           d->type, d->handle.fd, &tag);
    return r ? r : owned(tfi_extsem_import(tag, d, extSem_out), d->handle.fd);
}

_Static_assert(sizeof(CUexternalSemaphore) == sizeof(uint64_t), "handles travel as u64");

CUresult CUDAAPI cuSignalExternalSemaphoresAsync(
    const CUexternalSemaphore *extSemArray,
    const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS *paramsArray, unsigned int numExtSems,
    CUstream stream)
{
    if (numExtSems && (!extSemArray || !paramsArray))
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_extsem_signal(numExtSems, (const uint64_t *)extSemArray, paramsArray, stream);
}

CUresult CUDAAPI cuWaitExternalSemaphoresAsync(
    const CUexternalSemaphore *extSemArray, const CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS *paramsArray,
    unsigned int numExtSems, CUstream stream)
{
    if (numExtSems && (!extSemArray || !paramsArray))
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_extsem_wait(numExtSems, (const uint64_t *)extSemArray, paramsArray, stream);
}

/* ---- shareable handles ---- */

/* An export whose descriptor the worker sent back: `request` asked for it and gave the tag. */
static CUresult export_fd(void *out, CUresult request, uint64_t tag)
{
    int fd = -1;
    CUresult r = request == CUDA_SUCCESS ? tfs_take_fd(tag, &fd) : request;
    if (r == CUDA_SUCCESS)
        *(int *)out = fd;
    return r;
}

CUresult CUDAAPI cuMemExportToShareableHandle(void *shareableHandle,
                                              CUmemGenericAllocationHandle handle,
                                              CUmemAllocationHandleType handleType,
                                              unsigned long long flags)
{
    if (!shareableHandle)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = can_receive("cuMemExportToShareableHandle",
                             handleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, handleType);
    uint64_t tag = 0;
    if (r == CUDA_SUCCESS)
        r = tfi_mem_export_fd(handle, flags, &tag);
    return export_fd(shareableHandle, r, tag);
}

CUresult CUDAAPI cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle,
                                                void *osHandle,
                                                CUmemAllocationHandleType shHandleType)
{
    uint64_t tag;
    if (!handle)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = import_fd("cuMemImportFromShareableHandle",       /* the program keeps its fd */
                           shHandleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, shHandleType,
                           (int)(intptr_t)osHandle, &tag);
    return r ? r : tfi_mem_import_fd(tag, handle);
}

CUresult CUDAAPI cuMemPoolExportToShareableHandle(void *handle_out, CUmemoryPool pool,
                                                  CUmemAllocationHandleType handleType,
                                                  unsigned long long flags)
{
    if (!handle_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = can_receive("cuMemPoolExportToShareableHandle",
                             handleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, handleType);
    uint64_t tag = 0;
    if (r == CUDA_SUCCESS)
        r = tfi_pool_export_fd(pool, flags, &tag);
    return export_fd(handle_out, r, tag);
}

CUresult CUDAAPI cuMemPoolImportFromShareableHandle(CUmemoryPool *pool_out, void *handle,
                                                    CUmemAllocationHandleType handleType,
                                                    unsigned long long flags)
{
    uint64_t tag;
    if (!pool_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = import_fd("cuMemPoolImportFromShareableHandle",
                           handleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, handleType,
                           (int)(intptr_t)handle, &tag);
    return r ? r : tfi_pool_import_fd(tag, flags, pool_out);
}

CUresult CUDAAPI cuMemPoolImportPointer(CUdeviceptr *ptr_out, CUmemoryPool pool,
                                        CUmemPoolPtrExportData *shareData)
{
    if (!ptr_out || !shareData)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t size = 0;
    CUresult r = tfi_pool_import_ptr(pool, *shareData, ptr_out, &size);
    if (r == CUDA_SUCCESS)
        tfs_dev_add(*ptr_out, (size_t)size);
    return r;
}

CUresult CUDAAPI cuMemGetHandleForAddressRange(void *handle, CUdeviceptr dptr, size_t size,
                                               CUmemRangeHandleType handleType,
                                               unsigned long long flags)
{
    if (!handle || handleType != CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = can_receive("cuMemGetHandleForAddressRange", 1, handleType);
    uint64_t tag = 0;
    if (r == CUDA_SUCCESS)
        r = tfi_range_fd(dptr, size, flags, &tag);
    return export_fd(handle, r, tag);
}

/* ---- retained allocation handles: the program's extra references, counted here ---- */

static pthread_mutex_t retain_lock = PTHREAD_MUTEX_INITIALIZER;
static struct retained {
    uint64_t handle;
    unsigned long extra;
} *retained;
static size_t nretained, cap_retained;

CUresult CUDAAPI cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr)
{
    if (!handle || !addr)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned int known = 0;
    CUresult r = tfi_mem_retain((CUdeviceptr)(uintptr_t)addr, handle, &known);
    if (r != CUDA_SUCCESS || !known)
        return r;
    pthread_mutex_lock(&retain_lock);
    size_t i = 0;
    while (i < nretained && retained[i].handle != *handle)
        i++;
    if (i == nretained && nretained == cap_retained) {
        size_t cap = cap_retained ? 2 * cap_retained : 16;
        struct retained *v = realloc(retained, cap * sizeof *v);
        if (!v)
            r = CUDA_ERROR_OUT_OF_MEMORY;
        else
            retained = v, cap_retained = cap;
    }
    if (r == CUDA_SUCCESS && i == nretained)
        retained[nretained++] = (struct retained){*handle, 0};
    if (r == CUDA_SUCCESS)
        retained[i].extra++;
    pthread_mutex_unlock(&retain_lock);
    return r;
}

int tfs_share_release(uint64_t h)
{
    int mine = 0;
    pthread_mutex_lock(&retain_lock);
    for (size_t i = 0; i < nretained && !mine; i++) {
        if (retained[i].handle != h)
            continue;
        mine = 1;
        if (--retained[i].extra == 0)
            retained[i] = retained[--nretained];
    }
    pthread_mutex_unlock(&retain_lock);
    return mine;
}
