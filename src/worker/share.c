/*
 * What crosses a process boundary as a file descriptor (calls_share.def): external memory and
 * semaphores imported from the program's descriptors, shareable allocation and pool handles,
 * pool pointers, dma-buf ranges. A descriptor from the program arrives under a tag the stub
 * chose (tf_conn_take_fd: an unknown tag finds nothing); one for the program goes back under a
 * tag of ours, before the reply that names it. Only same-host sessions pass descriptors: the
 * stub refuses these calls over TCP before they get here.
 *
 * Every descriptor a session exports is published in its vGPU (ipc.c), and an import of a
 * descriptor that a backend made (tfw_ipc_fd_permitted) is refused unless a process of one of
 * the session's vGPUs exported it: CUDA_ERROR_NOT_PERMITTED, the IPC rule. What is imported is
 * the exporter's memory: recorded (buffers as ranges, allocations and pools as handles), never
 * charged to the importer.
 * May call: src/transport (fd passing), ipc.c, devmap.h, the backend table.
 */
#include <stdlib.h>
#include <unistd.h>

#include "devmap.h"
#include "log.h"
#include "worker_int.h"

/* The program's descriptor sent under tag, checked for imports (-1 and *r set when refused). */
static int take_fd(struct tfw_session *s, uint64_t tag, CUresult *r)
{
    int fd = -1;
    if (tf_conn_take_fd(s->conn, tag, &fd) != TF_OK) {
        *r = CUDA_ERROR_INVALID_VALUE;
        return -1;
    }
    if ((*r = tfw_ipc_fd_permitted(s, fd)) != CUDA_SUCCESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Publishes fd (the backend's export), sends it to the program under a new tag and closes it. */
static CUresult give_fd(struct tfw_session *s, int fd, uint64_t *tag)
{
    static uint64_t next_tag = 1;
    CUresult r = tfw_ipc_publish_fd(s, fd);
    if (r == CUDA_SUCCESS) {
        *tag = next_tag++;
        if (tf_conn_send_fd(s->conn, *tag, fd) != TF_OK)
            r = CUDA_ERROR_NOT_SUPPORTED;
    }
    close(fd);
    return r;
}

/* The backend owns an imported descriptor only after a successful import. */
static CUresult adopted(CUresult r, int fd)
{
    if (r != CUDA_SUCCESS)
        close(fd);
    return r;
}

CUresult tfw_tfi_extmem_import(uint64_t tag, const CUDA_EXTERNAL_MEMORY_HANDLE_DESC *desc,
                               CUexternalMemory *extMem)
{
    struct tfw_session *s = tfw_self;
    CUresult r;
    CUDA_EXTERNAL_MEMORY_HANDLE_DESC d = *desc;
    if ((d.handle.fd = take_fd(s, tag, &r)) < 0)
        return r;
    return adopted(s->be.cuImportExternalMemory(extMem, &d), d.handle.fd);
}

CUresult tfw_tfi_extsem_import(uint64_t tag, const CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC *desc,
                               CUexternalSemaphore *extSem)
{
    struct tfw_session *s = tfw_self;
    CUresult r;
    CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC d = *desc;
    if ((d.handle.fd = take_fd(s, tag, &r)) < 0)
        return r;
    return adopted(s->be.cuImportExternalSemaphore(extSem, &d), d.handle.fd);
}

/* Every semaphore of the array must be the session's. */
static CUresult check_sems(struct tfw_session *s, unsigned count, const uint64_t *sems)
{
    for (unsigned i = 0; i < count; i++)
        if (!sems[i] || tfw_handles_kind(&s->handles, sems[i]) != TFW_K_EXTSEM)
            return CUDA_ERROR_INVALID_HANDLE;
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_extsem_signal(unsigned int count, const uint64_t *sems,
                               const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS *params,
                               CUstream stream)
{
    struct tfw_session *s = tfw_self;
    CUresult r = check_sems(s, count, sems);
    if (r == CUDA_SUCCESS)
        r = s->be.cuSignalExternalSemaphoresAsync((const CUexternalSemaphore *)sems, params,
                                                  count, stream);
    return r;
}

CUresult tfw_tfi_extsem_wait(unsigned int count, const uint64_t *sems,
                             const CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS *params, CUstream stream)
{
    struct tfw_session *s = tfw_self;
    CUresult r = check_sems(s, count, sems);
    if (r == CUDA_SUCCESS)
        r = s->be.cuWaitExternalSemaphoresAsync((const CUexternalSemaphore *)sems, params, count,
                                                stream);
    return r;
}

CUresult tfw_tfi_mem_export_fd(CUmemGenericAllocationHandle handle, unsigned long long flags,
                               uint64_t *tag)
{
    struct tfw_session *s = tfw_self;
    int fd = -1;
    CUresult r = s->be.cuMemExportToShareableHandle(
        &fd, handle, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, flags);
    return r == CUDA_SUCCESS ? give_fd(s, fd, tag) : r;
}

CUresult tfw_tfi_mem_import_fd(uint64_t tag, CUmemGenericAllocationHandle *handle)
{
    struct tfw_session *s = tfw_self;
    CUresult r;
    int fd = take_fd(s, tag, &r);
    if (fd >= 0) {
        r = s->be.cuMemImportFromShareableHandle(handle, (void *)(intptr_t)fd,
                                                 CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
        close(fd); /* the import keeps what it needs, as the driver's does */
    }
    return r;
}

CUresult tfw_tfi_mem_retain(CUdeviceptr addr, CUmemGenericAllocationHandle *handle,
                            unsigned int *known)
{
    struct tfw_session *s = tfw_self;
    CUresult r = s->be.cuMemRetainAllocationHandle(handle, (void *)(uintptr_t)addr);
    *known = r == CUDA_SUCCESS && tfw_handles_kind(&s->handles, *handle) == TFW_K_ALLOC;
    /* The session holds one reference per handle (its one cuMemRelease gives it back): the
     * stub counts the program's retains of a handle it holds and answers their releases. */
    if (*known && s->be.cuMemRelease(*handle) != CUDA_SUCCESS)
        tf_warn("could not drop a retained allocation's extra reference");
    return r;
}

CUresult tfw_tfi_pool_export_fd(CUmemoryPool pool, unsigned long long flags, uint64_t *tag)
{
    struct tfw_session *s = tfw_self;
    int fd = -1;
    CUresult r = s->be.cuMemPoolExportToShareableHandle(
        &fd, pool, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, flags);
    return r == CUDA_SUCCESS ? give_fd(s, fd, tag) : r;
}

CUresult tfw_tfi_pool_import_fd(uint64_t tag, unsigned long long flags, CUmemoryPool *pool)
{
    struct tfw_session *s = tfw_self;
    CUresult r;
    int fd = take_fd(s, tag, &r);
    if (fd < 0)
        return r;
    r = s->be.cuMemPoolImportFromShareableHandle(pool, (void *)(intptr_t)fd,
                                                 CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, flags);
    close(fd);
    return r;
}

CUresult tfw_tfi_pool_import_ptr(CUmemoryPool pool, CUmemPoolPtrExportData shareData,
                                 CUdeviceptr *dptr, uint64_t *size)
{
    struct tfw_session *s = tfw_self;
    CUresult r = s->be.cuMemPoolImportPointer(dptr, pool, &shareData);
    CUdeviceptr base = 0;
    size_t bytes = 0;
    if (r == CUDA_SUCCESS && s->be.cuMemGetAddressRange_v2)
        r = s->be.cuMemGetAddressRange_v2(&base, &bytes, *dptr);
    if (r == CUDA_SUCCESS && base == *dptr) {
        tfw_record_alloc(s, base, bytes); /* the exporter's memory: not charged here */
        *size = bytes;
    } else if (r == CUDA_SUCCESS) {
        r = CUDA_ERROR_INVALID_VALUE;
    }
    return r;
}

CUresult tfw_tfi_range_fd(CUdeviceptr dptr, uint64_t size, unsigned long long flags,
                          uint64_t *tag)
{
    struct tfw_session *s = tfw_self;
    int fd = -1;
    CUresult r = s->be.cuMemGetHandleForAddressRange(&fd, dptr, (size_t)size,
                                                     CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, flags);
    return r == CUDA_SUCCESS ? give_fd(s, fd, tag) : r;
}

/* ---- the backend's device ordinal in an allocation's properties, made the session's ---- */

static PFN_cuMemGetAllocationPropertiesFromHandle_v10020 orig_props;

static CUresult w_props_from_handle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle h)
{
    CUresult r = orig_props(prop, h);
    if (r == CUDA_SUCCESS && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE) {
        CUdevice dev = prop->location.id;
        r = tfw_devmap_to_session(tfw_self, &dev);
        prop->location.id = dev;
    }
    return r;
}

void tfw_share_install(struct tfw_session *s)
{
    orig_props = s->be.cuMemGetAllocationPropertiesFromHandle;
    TFW_WRAP(&s->be, cuMemGetAllocationPropertiesFromHandle, w_props_from_handle);
}
