/*
 * Managed and mapped page-locked memory for same-host sessions: the client passes a memfd
 * (tf_conn_send_fd) and the worker maps it at the very address the client uses, then registers
 * it with the backend as device-mapped host memory. Kernels (in the worker's backend) and the
 * program then share the bytes; with unified addressing the device address is the host address.
 * A mapping never replaces anything of the worker's (MAP_FIXED_NOREPLACE): a clash is refused
 * and the stub reports NOT_SUPPORTED; mapped page-locked memory (not managed) then goes elsewhere
 * and its device address differs from the program's. A mapping's range in s->hostmaps keeps as
 * its parent the worker's address of it with its kind in bit 0 (0 mapped page-locked, 1
 * managed; graph.c answers migration hints on managed). Over TCP, mirror.c makes the mapping
 * itself (a twin of the program's memory) and installs it here the same way.
 * May call: src/transport (fd passing), the backend table.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "enforce.h"
#include "log.h"
#include "worker_int.h"

#define USER_TOP (1ull << 47)

CUresult tfw_tfi_map_host(uint64_t tag, uint64_t addr, uint64_t bytes, unsigned int kind,
                          CUdeviceptr *dptr)
{
    struct tfw_session *s = tfw_self;
    int fd = -1;
    if (tf_conn_take_fd(s->conn, tag, &fd) != TF_OK)
        return CUDA_ERROR_INVALID_VALUE;
    if (kind > 1 || bytes == 0 || (addr & 4095) || addr == 0 || addr >= USER_TOP ||
        bytes > USER_TOP - addr || !s->be.cuMemHostRegister_v2 ||
        !s->be.cuMemHostGetDevicePointer_v2) {
        close(fd);
        return !s->be.cuMemHostRegister_v2 ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    }
    /* Managed memory is device memory to the tenant: charged to its vGPU before it exists. */
    uint64_t charge = kind == 1 ? bytes : 0;
    CUresult r = tfw_limits_reserve(s, charge);
    if (r != CUDA_SUCCESS) {
        close(fd);
        return r;
    }
    void *p = mmap((void *)(uintptr_t)addr, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    if (p != MAP_FAILED && (uint64_t)(uintptr_t)p != addr) {
        munmap(p, bytes);
        p = MAP_FAILED;
    }
    /* Mapped page-locked memory may live elsewhere here when the program's address is taken
     * in the worker: its device address (cuMemHostGetDevicePointer) is then not its host one. */
    if (p == MAP_FAILED && kind == 0)
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        tfw_limits_release(s, charge);
        tf_debug("cannot map client memory at 0x%llx: %s", (unsigned long long)addr,
                 strerror(errno));
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return tfw_hostmap_install(s, p, addr, bytes, kind, dptr);
}

CUresult tfw_hostmap_install(struct tfw_session *s, void *p, uint64_t addr, uint64_t bytes,
                             unsigned kind, CUdeviceptr *dptr)
{
    uint64_t charge = kind == 1 ? bytes : 0;   /* reserved by the caller */
    CUresult r = s->be.cuMemHostRegister_v2(p, bytes, CU_MEMHOSTREGISTER_DEVICEMAP |
                                                          CU_MEMHOSTREGISTER_PORTABLE);
    if (r == CUDA_SUCCESS)
        r = s->be.cuMemHostGetDevicePointer_v2(dptr, p, 0);
    if (r == CUDA_SUCCESS && kind == 1 && *dptr != addr)
        r = CUDA_ERROR_NOT_SUPPORTED;   /* managed memory needs one address for both */
    /* the range's parent: where the memory is here, with the kind in its low bit (page aligned) */
    if (r == CUDA_SUCCESS &&
        tf_ranges_add_child(&s->hostmaps, addr, bytes, (uint64_t)(uintptr_t)p | kind) != 0)
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r != CUDA_SUCCESS) {
        if (s->be.cuMemHostUnregister)
            s->be.cuMemHostUnregister(p);
        munmap(p, bytes);
        tfw_limits_release(s, charge);
        return r;
    }
    tfw_limits_remember(s, addr, charge);
    tfw_record_alloc(s, *dptr, bytes);
    if (*dptr != addr && (uint64_t)(uintptr_t)p == addr)
        tfw_record_alloc(s, addr, bytes);
    return CUDA_SUCCESS;
}

CUresult tfw_release_hostmap(struct tfw_session *s, uint64_t addr)
{
    if (!addr || !tf_ranges_is_base(&s->hostmaps, addr))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t bytes = 0, here = addr;
    for (size_t i = 0; i < s->hostmaps.n; i++)
        if (s->hostmaps.v[i].base == addr) {
            bytes = s->hostmaps.v[i].size;
            here = s->hostmaps.v[i].parent & ~(uint64_t)1;
        }
    CUdeviceptr dptr = 0;
    if (s->be.cuMemHostGetDevicePointer_v2 &&
        s->be.cuMemHostGetDevicePointer_v2(&dptr, (void *)(uintptr_t)here, 0) == CUDA_SUCCESS &&
        dptr != addr)
        tf_ranges_del(&s->allocs, dptr);
    if (s->be.cuMemHostUnregister)
        s->be.cuMemHostUnregister((void *)(uintptr_t)here);
    munmap((void *)(uintptr_t)here, bytes);
    tfw_limits_refund(s, addr);   /* managed memory's charge; nothing for page-locked */
    tfw_mirror_forget(addr);      /* a twin of the program's memory (mirror.c) */
    tfw_advice_forget(addr, bytes);   /* what the hints said of it */
    tf_ranges_del(&s->hostmaps, addr);
    tf_ranges_del(&s->allocs, addr);
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_unmap_host(uint64_t addr)
{
    return tfw_release_hostmap(tfw_self, addr);
}
