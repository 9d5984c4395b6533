/*
 * Shareable handles of VMM physical allocations: cuMemExportToShareableHandle and
 * cuMemImportFromShareableHandle with CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR. softgpu's
 * physical allocations are memfds (vmm.c), so the exported handle is a new descriptor of that
 * file: sent to another process (SCM_RIGHTS, pidfd_getfd) or kept, it imports as a physical
 * allocation whose mappings alias the exporter's bytes, in this process or another. The
 * importer is charged for the allocation's size on its device: the shared device counts an
 * import as memory of its own (the bytes count twice while both processes hold them). Other
 * handle types (fabric, Win32) are CUDA_ERROR_NOT_SUPPORTED, as the device attributes say.
 *
 * Also cuMemGetHandleForAddressRange: CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD gives a memfd that
 * holds the range's pages (ipc.c moves them there), which another process or an external
 * memory import maps. Calls vmm.c, ipc.c and init.c.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "softgpu.h"

CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                      CUmemAllocationHandleType handleType,
                                      unsigned long long flags)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!shareableHandle || flags)
        return CUDA_ERROR_INVALID_VALUE;
    if (handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUmemAllocationProp prop;
    int fd = sg_vmm_phys_dup_fd(handle, &prop);
    if (fd == -1)
        return CUDA_ERROR_INVALID_VALUE;
    if (!(prop.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)) {
        if (fd >= 0)
            close(fd);
        return CUDA_ERROR_INVALID_VALUE; /* not created as shareable */
    }
    if (fd < 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *(int *)shareableHandle = fd;
    return CUDA_SUCCESS;
}

CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle,
                                        CUmemAllocationHandleType shHandleType)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!handle)
        return CUDA_ERROR_INVALID_VALUE;
    if (shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
        return CUDA_ERROR_NOT_SUPPORTED;
    /* the POSIX handle is the descriptor itself, passed as the pointer's value */
    int fd = (int)(intptr_t)osHandle;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0
        || (uint64_t)st.st_size % SG_GRANULARITY)
        return CUDA_ERROR_INVALID_VALUE;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* the caller keeps (and closes) its descriptor */
    if (own < 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUmemAllocationProp prop = {0};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    r = sg_vmm_phys_adopt(own, (uint64_t)st.st_size, &prop, handle);
    if (r)
        close(own);
    return r;
}

CUresult cuMemGetHandleForAddressRange(void *handle, CUdeviceptr dptr, size_t size,
                                       CUmemRangeHandleType handleType, unsigned long long flags)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!handle || !dptr || !size || handleType != CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD
        || (flags & ~(unsigned long long)CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE))
        return CUDA_ERROR_INVALID_VALUE;
    return sg_ipc_range_fd(dptr, size, (int *)handle);
}
