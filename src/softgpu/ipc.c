/*
 * CUDA IPC memory: cuIpcGetMemHandle, cuIpcOpenMemHandle (both ABIs), cuIpcCloseMemHandle;
 * device memory backed by a file (external memory, dma-buf ranges).
 *
 * Memory. softgpu's device memory is the process's own anonymous memory, so exporting an
 * allocation first moves its pages into a memfd: the current bytes are copied into the file
 * and the file is mapped MAP_SHARED over the allocation, at the same address (the context is
 * synchronised first; work launched by other threads during the export is the caller's race).
 * The handle names that file by the exporter's pid and descriptor number, with a random id
 * that is also in the memfd's name; the importer opens /proc/<pid>/fd/<fd> (same user, as
 * CUDA IPC requires), checks the name, and maps the file into a region of its own device range
 * (kind SG_R_IPC: device memory, not charged to the importer). Both sides then see the same
 * bytes. The exporter must stay alive while the handle is opened, as with CUDA. Opening a
 * handle in the process that made it is CUDA_ERROR_INVALID_CONTEXT, as NVIDIA's driver
 * answers. When either side's region is released (free, close, context teardown), memory.c
 * calls sg_ipc_region_released and the shared pages are replaced by private zero pages.
 *
 * Events are ipc_event.c's. The same machinery maps external memory (extmem.c: a file at an
 * offset, region kind SG_R_EXTERNAL) and gives dma-buf descriptors of device ranges
 * (cuMemGetHandleForAddressRange: the range's pages move into a memfd of their own; a later IPC
 * export of the whole allocation moves them again, after which the dma-buf no longer aliases).
 *
 * Calls memory.c and context.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "softgpu.h"

#define IPC_MAGIC 0x50494753u /* "SGIP" */

/* The 64 bytes of a CUipcMemHandle. */
struct ipc_wire {
    uint32_t magic;
    int32_t pid;
    int32_t fd;
    uint32_t pad;
    uint64_t id;
    uint64_t bytes;
};
_Static_assert(sizeof(struct ipc_wire) <= CU_IPC_HANDLE_SIZE, "IPC handle too small");

/* A region whose pages are a shared memfd: exported here (fd open) or imported (fd closed). */
struct shared_region {
    uint64_t start, bytes, id;
    int fd;
    int imported;
    struct shared_region *next;
};

static pthread_mutex_t ipc_lock = PTHREAD_MUTEX_INITIALIZER;  /* a leaf: see memory.c */
static struct shared_region *shared;
static _Atomic int nshared;

static void memfd_name(char *buf, size_t len, uint64_t id)
{
    snprintf(buf, len, "softgpu-ipc-%016llx", (unsigned long long)id);
}

static uint64_t random_id(void)
{
    uint64_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &id, sizeof id) != (ssize_t)sizeof id)
        id = sg_now_ns() ^ ((uint64_t)getpid() << 32);
    if (fd >= 0)
        close(fd);
    return id | 1;
}

/* ipc_lock held. */
static struct shared_region *find_shared(uint64_t start)
{
    for (struct shared_region *s = shared; s; s = s->next)
        if (s->start == start)
            return s;
    return NULL;
}

static void add_shared(struct shared_region *s)
{
    pthread_mutex_lock(&ipc_lock);
    s->next = shared;
    shared = s;
    atomic_fetch_add(&nshared, 1);
    pthread_mutex_unlock(&ipc_lock);
}

void sg_ipc_region_released(uint64_t start, uint64_t bytes)
{
    if (atomic_load(&nshared) == 0)
        return;
    pthread_mutex_lock(&ipc_lock);
    for (struct shared_region **pp = &shared; *pp;) {
        struct shared_region *s = *pp;
        /* the region itself, or a dma-buf range inside it */
        if (s->start < start || s->start >= start + bytes) {
            pp = &s->next;
            continue;
        }
        /* private zero pages again: the next allocation here must not alias the file */
        mmap((void *)(uintptr_t)s->start, s->bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
        if (s->fd >= 0)
            close(s->fd);
        *pp = s->next;
        free(s);
        atomic_fetch_sub(&nshared, 1);
    }
    pthread_mutex_unlock(&ipc_lock);
}

/* Moves the pages of [start, start+bytes) into a new memfd mapped at the same address. */
static CUresult share_pages(uint64_t start, uint64_t bytes, struct shared_region *out)
{
    int fd = sg_ipc_memfd(bytes, &out->id);
    if (fd < 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    const char *src = (const char *)(uintptr_t)start;
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = pwrite(fd, src + done, bytes - done, (off_t)done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done != bytes || mmap((void *)(uintptr_t)start, bytes, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        close(fd);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    out->start = start;
    out->bytes = bytes;
    out->fd = fd;
    return CUDA_SUCCESS;
}

/* The exported record of the allocation at start, exporting it now if needed. */
static CUresult export_region(const struct sg_region *reg, struct shared_region *copy)
{
    uint64_t bytes = reg->span - SG_PAGE_SIZE;
    pthread_mutex_lock(&ipc_lock);
    struct shared_region *s = find_shared(reg->start);
    if (s)
        *copy = *s;
    pthread_mutex_unlock(&ipc_lock);
    if (s)
        return CUDA_SUCCESS;
    sg_ctx_synchronize(reg->ctx); /* no kernel of ours writes while the pages move */
    s = calloc(1, sizeof *s);
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = share_pages(reg->start, bytes, s);
    if (r) {
        free(s);
        return r;
    }
    *copy = *s;
    add_shared(s);
    return CUDA_SUCCESS;
}

CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    struct sg_region reg;
    if (!pHandle || sg_mem_find(dptr, &reg) != 0 || reg.kind != SG_R_DEVICE)
        return CUDA_ERROR_INVALID_VALUE; /* cuMemAlloc'd memory only, as documented */
    struct shared_region s;
    r = export_region(&reg, &s);
    if (r)
        return r;
    struct ipc_wire w = {IPC_MAGIC, (int32_t)getpid(), s.fd, 0, s.id, s.bytes};
    memset(pHandle, 0, sizeof *pHandle);
    memcpy(pHandle->reserved, &w, sizeof w);
    return CUDA_SUCCESS;
}

/* Opens the memfd descriptor `fd` of process `pid` and checks that it is the one named for
 * `id` and holds at least `bytes` (ipc_event.c opens events' pages the same way). */
CUresult sg_ipc_open_peer(int pid, int fd, uint64_t id, uint64_t bytes, int *fd_out)
{
    char path[64], link[128], want[64], expect[96];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) {
        sg_log(SG_LOG_ERROR, "IPC: exporting process %d is gone or not ours", pid);
        return CUDA_ERROR_INVALID_HANDLE;
    }
    link[n] = 0;
    memfd_name(want, sizeof want, id);
    snprintf(expect, sizeof expect, "/memfd:%s (deleted)", want);
    if (strcmp(link, expect) != 0)
        return CUDA_ERROR_INVALID_HANDLE; /* freed since, descriptor reused */
    int own = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (own < 0 || fstat(own, &st) != 0 || (uint64_t)st.st_size < bytes) {
        if (own >= 0)
            close(own);
        return CUDA_ERROR_MAP_FAILED;
    }
    *fd_out = own;
    return CUDA_SUCCESS;
}

/* A new memfd of `bytes` named for a fresh random id (in *id). -1 when out of memory. */
int sg_ipc_memfd(uint64_t bytes, uint64_t *id)
{
    char name[64];
    *id = random_id();
    memfd_name(name, sizeof name, *id);
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, (off_t)bytes) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Places [offset, offset+bytes) of the file at a new region of ctx; its pages are the file's
 * until the region is freed. */
static CUresult map_fd(struct sg_ctx *c, int fd, uint64_t offset, uint64_t bytes,
                       enum sg_region_kind kind, uint64_t id, uint64_t *out)
{
    uint64_t addr;
    CUresult r = sg_mem_alloc(c, bytes, SG_PAGE_SIZE, kind, 0, &addr);
    if (r)
        return r;
    uint64_t len = (bytes + SG_PAGE_SIZE - 1) / SG_PAGE_SIZE * SG_PAGE_SIZE;
    struct shared_region *s = calloc(1, sizeof *s);
    if (!s || mmap((void *)(uintptr_t)addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                   fd, (off_t)offset) == MAP_FAILED) {
        free(s);
        sg_mem_free(addr, kind);
        return CUDA_ERROR_MAP_FAILED;
    }
    *s = (struct shared_region){addr, len, id, -1, 1, NULL};
    add_shared(s);
    *out = addr;
    return CUDA_SUCCESS;
}

static CUresult map_imported(struct sg_ctx *c, int fd, const struct ipc_wire *w, uint64_t *out)
{
    return map_fd(c, fd, 0, w->bytes, SG_R_IPC, w->id, out);
}

/* External memory (extmem.c): device memory freed by cuMemFree that is not the device's. */
CUresult sg_ipc_map_fd(struct sg_ctx *c, int fd, uint64_t offset, uint64_t bytes, uint64_t *out)
{
    return map_fd(c, fd, offset, bytes, SG_R_EXTERNAL, 0, out);
}

/* cuMemGetHandleForAddressRange: the range's pages move into a memfd of their own (as an IPC
 * export moves an allocation's), and the caller gets a descriptor of it. */
CUresult sg_ipc_range_fd(uint64_t dptr, uint64_t size, int *fd_out)
{
    struct sg_region reg;
    if (dptr % SG_PAGE_SIZE || size % SG_PAGE_SIZE || sg_mem_find(dptr, &reg) != 0
        || reg.kind != SG_R_DEVICE || size > reg.start + reg.size - dptr)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&ipc_lock);
    int fd = -1, inside = 0;
    for (struct shared_region *s = shared; s; s = s->next) {
        if (s->start == dptr && s->bytes == size && s->fd >= 0)
            fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
        else if (s->start < dptr + size && dptr < s->start + s->bytes)
            inside = 1;
    }
    pthread_mutex_unlock(&ipc_lock);
    if (fd >= 0 || inside) {
        *fd_out = fd;
        return fd >= 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; /* overlaps another export */
    }
    sg_ctx_synchronize(reg.ctx); /* no kernel of ours writes while the pages move */
    struct shared_region *s = calloc(1, sizeof *s);
    CUresult r = s ? share_pages(dptr, size, s) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r) {
        free(s);
        return r;
    }
    fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
    add_shared(s); /* kept (and released with the allocation) even if the dup failed */
    *fd_out = fd;
    return fd >= 0 ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!pdptr || (Flags & ~(unsigned)CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS))
        return CUDA_ERROR_INVALID_VALUE;
    struct ipc_wire w;
    memcpy(&w, handle.reserved, sizeof w);
    if (w.magic != IPC_MAGIC || !w.bytes || w.bytes % SG_PAGE_SIZE)
        return CUDA_ERROR_INVALID_HANDLE;
    if (w.pid == (int32_t)getpid())
        return CUDA_ERROR_INVALID_CONTEXT; /* the driver's answer for a handle of this process */
    int fd;
    r = sg_ipc_open_peer(w.pid, w.fd, w.id, w.bytes, &fd);
    if (r)
        return r;
    uint64_t addr;
    r = map_imported(c, fd, &w, &addr);
    close(fd); /* the mapping keeps the file */
    if (!r)
        *pdptr = addr;
    return r;
}

/* The 4.1 ABI: the same arguments. */
#undef cuIpcOpenMemHandle
CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags);
CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int Flags)
{
    return cuIpcOpenMemHandle_v2(pdptr, handle, Flags);
}

CUresult cuIpcCloseMemHandle(CUdeviceptr dptr)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    struct sg_region reg;
    if (sg_mem_find(dptr, &reg) != 0 || reg.kind != SG_R_IPC || reg.start != dptr)
        return CUDA_ERROR_INVALID_VALUE;
    sg_ctx_synchronize(reg.ctx);
    return sg_mem_free(dptr, SG_R_IPC); /* memory.c unmaps through sg_ipc_region_released */
}
