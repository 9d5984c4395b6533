/*
 * Host memory and the calls built on other entries, in the stub (calls.def TF_LOCAL entries):
 * page-locked, registered, mapped and managed memory, pointer attributes, unified and 2D copies
 * (row by row), host functions on streams, and a graph's node count.
 *
 * cuMemHostAlloc / cuMemAllocHost memory is the program's own memory. On the same host (shm
 * transport) it is a shared region the worker maps too, so a copy from or to it moves the bytes
 * once, in place; over TCP it is ordinary page-aligned memory whose bytes travel with the copy.
 * cuMemHostRegister'ed memory stays the program's pageable memory (copies carry its bytes);
 * with DEVICEMAP its pages move in place onto a memfd that the worker maps too (same host only).
 * Mapped page-locked memory (CU_MEMHOSTALLOC_DEVICEMAP) and managed memory are a memfd the
 * worker maps at the same address and registers with its backend (same host). Over TCP mapped
 * memory (allocated or registered) is mirrored instead (mirror.c: a twin in the worker, bytes
 * exchanged at launches and synchronizations, bounded in size); managed memory answers
 * CUDA_ERROR_NOT_SUPPORTED. Pointer attributes come from the stub's records.
 * May call: conn.c, entry.c, mirror.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "stub.h"

struct host_block {
    void *p;
    size_t size;
    uint64_t region;     /* 0: plain memory */
    unsigned flags;      /* as given to cuMemHostAlloc */
    int fd;              /* >= 0: a memfd the worker maps at the same address */
    CUdeviceptr dptr;    /* the device's address of it (mapped memory) */
    int managed;
    int mirrored;        /* mapped memory with a twin in the worker (mirror.c: TCP) */
    struct host_block *next;
};

static struct host_block *blocks;
static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- memory the worker maps at the same address ---- */

/* A fresh shared mapping at an address picked in a range that processes rarely use, so that
 * the worker can map it at the same address (MAP_FIXED_NOREPLACE on both sides). */
static void *shared_map(size_t bytes, int *fd_out)
{
    static uint64_t counter;
    int fd = memfd_create("tfuse-host", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)bytes) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL + __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0xbf58476d1ce4e5b9ULL;
        uint64_t hint = 0x500000000000ull + ((x >> 20) % 0x100000ull) * (1ull << 24);
        void *p = mmap((void *)(uintptr_t)hint, bytes, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
        if (p != MAP_FAILED && (uint64_t)(uintptr_t)p == hint) {
            *fd_out = fd;
            return p;
        }
        if (p != MAP_FAILED)
            munmap(p, bytes);
    }
    close(fd);
    return NULL;
}

/* Maps b (already shared_map'ed) in the worker; kind 0 mapped host memory, 1 managed. */
static CUresult share_with_worker(struct host_block *b, unsigned kind)
{
    uint64_t tag = 0;
    CUresult r = tfs_send_fd(b->fd, &tag);
    if (r == CUDA_SUCCESS)
        r = tfi_map_host(tag, (uint64_t)(uintptr_t)b->p, b->size, kind, &b->dptr);
    return r;
}

static void release_shared(struct host_block *b)
{
    munmap(b->p, b->size);
    close(b->fd);
}

static void add_block(struct host_block *b)
{
    pthread_mutex_lock(&blocks_lock);
    b->next = blocks;
    blocks = b;
    pthread_mutex_unlock(&blocks_lock);
}

/* The block containing [p, p+len), or NULL; with unlink, removed from the list (p its start). */
static struct host_block *find_block(const void *p, size_t len, int unlink)
{
    pthread_mutex_lock(&blocks_lock);
    struct host_block **at = &blocks;
    while (*at && !((const char *)p >= (char *)(*at)->p &&
                    (const char *)p + len <= (char *)(*at)->p + (*at)->size))
        at = &(*at)->next;
    struct host_block *b = *at;
    if (b && unlink) {
        if (b->p == p)
            *at = b->next;
        else
            b = NULL;
    }
    pthread_mutex_unlock(&blocks_lock);
    return b;
}

/* Mapped memory a kernel reaches: the worker maps it (same host) or makes a twin (mirror.c). */
static int is_mapped(const struct host_block *b)
{
    return b->fd >= 0 || b->mirrored;
}

static CUresult mapped_alloc(void **pp, size_t bytesize, unsigned int Flags)
{
    struct host_block *b = calloc(1, sizeof *b);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    b->size = bytesize;
    b->flags = Flags;
    b->mirrored = tfs_mirror_wanted();
    b->p = shared_map(bytesize, &b->fd);
    CUresult r = !b->p       ? CUDA_ERROR_OUT_OF_MEMORY
                 : b->mirrored ? tfs_mirror_add(b->p, bytesize, &b->dptr)
                               : share_with_worker(b, 0);
    if (r != CUDA_SUCCESS) {
        if (b->p)
            release_shared(b);
        free(b);
        if (r == CUDA_ERROR_NOT_SUPPORTED)
            tfs_unsupported("mapped page-locked memory over this connection");
        return r;
    }
    add_block(b);
    *pp = b->p;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    if (!pp || bytesize == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (Flags & CU_MEMHOSTALLOC_DEVICEMAP)
        return mapped_alloc(pp, bytesize, Flags);
    struct host_block *b = calloc(1, sizeof *b);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    b->size = bytesize;
    b->flags = Flags;
    b->fd = -1;
    b->p = tfs_region_alloc(bytesize, &b->region);
    if (!b->p) {
        b->region = 0;
        if (posix_memalign(&b->p, 4096, bytesize) != 0) {
            free(b);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    pthread_mutex_lock(&blocks_lock);
    b->next = blocks;
    blocks = b;
    pthread_mutex_unlock(&blocks_lock);
    *pp = b->p;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocHost_v2(void **pp, size_t bytesize)
{
    return cuMemHostAlloc(pp, bytesize, 0);
}

CUresult CUDAAPI cuMemFreeHost(void *p)
{
    pthread_mutex_lock(&blocks_lock);
    struct host_block **at = &blocks;
    while (*at && (*at)->p != p)
        at = &(*at)->next;
    struct host_block *b = *at;
    if (b)
        *at = b->next;
    pthread_mutex_unlock(&blocks_lock);
    if (!b)
        return CUDA_ERROR_INVALID_VALUE;
    if (b->region || b->fd >= 0)
        cuCtxSynchronize();   /* pipelined work may still use it: drain first, as cudaFreeHost does */
    if (b->region) {
        tfs_region_free(b->region);
    } else if (b->fd >= 0) {
        if (b->mirrored)
            tfs_mirror_del(b->p);
        else
            tfi_unmap_host((uint64_t)(uintptr_t)b->p);
        release_shared(b);
    } else {
        free(b->p);
    }
    free(b);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
    if (!pdptr || Flags)
        return CUDA_ERROR_INVALID_VALUE;
    struct host_block *b = find_block(p, 1, 0);
    if (!b || !is_mapped(b))
        return CUDA_ERROR_INVALID_VALUE;
    *pdptr = b->dptr + (CUdeviceptr)((char *)p - (char *)b->p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
    if (!dptr || bytesize == 0 || (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST))
        return CUDA_ERROR_INVALID_VALUE;
    struct host_block *b = calloc(1, sizeof *b);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    b->size = bytesize;
    b->managed = 1;
    b->p = shared_map(bytesize, &b->fd);
    CUresult r = b->p ? share_with_worker(b, 1) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r != CUDA_SUCCESS) {
        if (b->p)
            release_shared(b);
        free(b);
        if (r == CUDA_ERROR_NOT_SUPPORTED)
            tfs_unsupported("managed memory over this connection");
        return r;
    }
    add_block(b);
    *dptr = b->dptr;
    tfs_dev_add(b->dptr, bytesize);
    return CUDA_SUCCESS;
}

void tfs_managed_forget(CUdeviceptr p)
{
    struct host_block *b = find_block((void *)(uintptr_t)p, 1, 1);
    if (b) {   /* the worker released its side with the cuMemFree */
        release_shared(b);
        free(b);
    }
}

/* ---- pointer attributes, from what the stub knows of the session's memory ---- */

static CUresult pointer_attribute(void *data, CUpointer_attribute attr, CUdeviceptr ptr, int strict)
{
    const struct host_block *b = find_block((void *)(uintptr_t)ptr, 1, 0);
    int device = tfs_dev_contains(ptr, 1) && !(b && b->managed);
    int managed = b && b->managed;
    int host = b && !b->managed;
    if (strict && !device && !managed && !host)
        return CUDA_ERROR_INVALID_VALUE;
    switch (attr) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
        *(CUcontext *)data = device || managed || host ? tfs_current_ctx() : NULL;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned *)data = device || managed ? CU_MEMORYTYPE_DEVICE : host ? CU_MEMORYTYPE_HOST : 0;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
        if (strict && host && !is_mapped(b))
            return CUDA_ERROR_INVALID_VALUE;
        *(CUdeviceptr *)data =
            host ? (is_mapped(b) ? b->dptr + (ptr - (CUdeviceptr)(uintptr_t)b->p) : 0)
                 : device || managed ? ptr : 0;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (strict && device)
            return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = host || managed ? (void *)(uintptr_t)ptr : NULL;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
        *(unsigned *)data = (unsigned)managed;   /* a bool in cuda.h's table, 4 bytes written */
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        *(int *)data = tfs_dev_ordinal(ptr);       /* the device of its context */
        return device || managed || host || !strict ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID: /* cuFFT asks for it of its work areas */
        if (!device && !managed)
            break;
        *(unsigned long long *)data = tfs_dev_buffer_id(ptr);
        return CUDA_SUCCESS;
    default:
        break;
    }
    tfs_unsupported("cuPointerGetAttribute for this attribute");
    return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult CUDAAPI cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    if (!data)
        return CUDA_ERROR_INVALID_VALUE;
    return pointer_attribute(data, attribute, ptr, 1);
}

CUresult CUDAAPI cuPointerGetAttributes(unsigned int numAttributes,
                                        CUpointer_attribute *attributes, void **data,
                                        CUdeviceptr ptr)
{
    if (!attributes || !data)
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < numAttributes; i++) {
        if (!data[i])
            return CUDA_ERROR_INVALID_VALUE;
        CUresult r = pointer_attribute(data[i], attributes[i], ptr, 0);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
    if (!pFlags)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&blocks_lock);
    struct host_block *b = blocks;
    while (b && !((char *)p >= (char *)b->p && (char *)p < (char *)b->p + b->size))
        b = b->next;
    if (b)
        *pFlags = b->flags;
    pthread_mutex_unlock(&blocks_lock);
    return b ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ---- registered host memory ---- */

struct registered {
    void *p;
    size_t size;
    struct host_block *mapped;   /* DEVICEMAP: the pages, now a memfd the worker maps too */
    struct registered *next;
};
static struct registered *registered;

/* Puts the pages of [p, p+bytes) on a memfd in place (same addresses, same bytes) so that the
 * worker can map them too. Another thread writing to these pages while they move could lose
 * its write: registration is expected before the memory is in use, as with cudaHostRegister. */
static struct host_block *move_to_memfd(void *p, size_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(page - 1);
    size_t len = ((uintptr_t)p + bytes - base + (size_t)page - 1) & ~((size_t)page - 1);
    struct host_block *b = calloc(1, sizeof *b);
    int fd = memfd_create("tfuse-registered", MFD_CLOEXEC);
    /* The pages' bytes go through the kernel (a raw pwrite): the rest of the pages may be memory
     * the program's allocator keeps to itself, which a sanitizer would not let us read. */
    if (!b || fd < 0 || ftruncate(fd, (off_t)len) != 0 ||
        syscall(SYS_pwrite64, fd, (void *)base, len, (off_t)0) != (long)len ||
        mmap((void *)base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
            MAP_FAILED) {
        if (fd >= 0)
            close(fd);
        free(b);
        return NULL;
    }
    *b = (struct host_block){.p = (void *)base, .size = len, .fd = fd,
                             .flags = CU_MEMHOSTALLOC_DEVICEMAP};
    return b;
}

/* Gives the pages back to private memory with their bytes (read back from the memfd by the
 * kernel, as they went in), and forgets the memfd. b itself may lie in those pages (the heap):
 * its fields are read before they are unmapped, and it is freed once they are back. */
static void move_back_from_memfd(struct host_block *b)
{
    void *p = b->p;
    size_t size = b->size;
    int fd = b->fd;
    if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
            MAP_FAILED ||
        syscall(SYS_pread64, fd, p, size, (off_t)0) != (long)size)
        tf_warn("cuMemHostUnregister: the pages of %p could not be made private again", p);
    close(fd);
    free(b);
}

/* DEVICEMAP registration on the same host: the worker maps the pages at the same address and
 * registers them with its driver, so kernels reach them through cuMemHostGetDevicePointer. */
/* Over TCP: the program's range itself is mirrored (its exact bytes: the rest of its pages may
 * be the allocator's). */
static CUresult register_mirrored(void *p, size_t bytesize, struct registered *r)
{
    struct host_block *b = calloc(1, sizeof *b);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *b = (struct host_block){.p = p, .size = bytesize, .fd = -1, .mirrored = 1,
                             .flags = CU_MEMHOSTALLOC_DEVICEMAP};
    CUresult res = tfs_mirror_add(p, bytesize, &b->dptr);
    if (res != CUDA_SUCCESS) {
        free(b);
        return res;
    }
    r->mapped = b;
    add_block(b);
    return CUDA_SUCCESS;
}

static CUresult register_mapped(void *p, size_t bytesize, struct registered *r)
{
    if (tfs_mirror_wanted())
        return register_mirrored(p, bytesize, r);
    struct host_block *b = move_to_memfd(p, bytesize);
    if (!b)
        return CUDA_ERROR_INVALID_VALUE;   /* a range with unmapped pages, as the driver says */
    CUresult res = share_with_worker(b, 0);
    if (res != CUDA_SUCCESS) {
        move_back_from_memfd(b);
        if (res == CUDA_ERROR_NOT_SUPPORTED)
            tfs_unsupported("cuMemHostRegister with DEVICEMAP over this connection");
        return res;
    }
    r->mapped = b;
    add_block(b);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
    if (!p || bytesize == 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (Flags & CU_MEMHOSTREGISTER_IOMEMORY) {
        tfs_unsupported("cuMemHostRegister of I/O memory");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    struct registered *r = calloc(1, sizeof *r);
    if (!r)
        return CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&blocks_lock);
    for (struct registered *q = registered; q; q = q->next)
        if ((char *)p < (char *)q->p + q->size && (char *)q->p < (char *)p + bytesize) {
            pthread_mutex_unlock(&blocks_lock);
            free(r);
            return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
        }
    *r = (struct registered){.p = p, .size = bytesize, .next = registered};
    registered = r;
    pthread_mutex_unlock(&blocks_lock);
    CUresult res = Flags & CU_MEMHOSTREGISTER_DEVICEMAP ? register_mapped(p, bytesize, r)
                                                        : CUDA_SUCCESS;
    if (res != CUDA_SUCCESS)
        cuMemHostUnregister(p);
    return res;
}

CUresult CUDAAPI cuMemHostUnregister(void *p)
{
    pthread_mutex_lock(&blocks_lock);
    struct registered **at = &registered;
    while (*at && (*at)->p != p)
        at = &(*at)->next;
    struct registered *r = *at;
    if (r)
        *at = r->next;
    pthread_mutex_unlock(&blocks_lock);
    if (r && r->mapped && find_block(r->mapped->p, 1, 1)) {
        cuCtxSynchronize();   /* pipelined work may still use it (and its writes come back) */
        if (r->mapped->mirrored) {
            tfs_mirror_del(r->mapped->p);
            free(r->mapped);
        } else {
            tfi_unmap_host((uint64_t)(uintptr_t)r->mapped->p);
            move_back_from_memfd(r->mapped);
        }
    }
    free(r);
    return r ? CUDA_SUCCESS : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

/* ---- unified copies: the side of each pointer is known from the session's allocations ---- */

CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    int dst_dev = tfs_dev_contains(dst, ByteCount), src_dev = tfs_dev_contains(src, ByteCount);
    if (dst_dev && src_dev)
        return cuMemcpyDtoD_v2(dst, src, ByteCount);
    if (dst_dev)
        return cuMemcpyHtoD_v2(dst, (const void *)(uintptr_t)src, ByteCount);
    if (src_dev)
        return cuMemcpyDtoH_v2((void *)(uintptr_t)dst, src, ByteCount);
    if (ByteCount)
        memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, ByteCount);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    int dst_dev = tfs_dev_contains(dst, ByteCount), src_dev = tfs_dev_contains(src, ByteCount);
    if (dst_dev && src_dev)
        return cuMemcpyDtoDAsync_v2(dst, src, ByteCount, hStream);
    if (dst_dev)
        return cuMemcpyHtoDAsync_v2(dst, (const void *)(uintptr_t)src, ByteCount, hStream);
    if (src_dev)
        return cuMemcpyDtoHAsync_v2((void *)(uintptr_t)dst, src, ByteCount, hStream);
    /* host to host is ordered after the stream's work, as the driver would */
    CUresult r = cuStreamSynchronize(hStream);
    if (r == CUDA_SUCCESS && ByteCount)
        memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, ByteCount);
    return r;
}

/* ---- 2D copies, row by row ---- */

static CUresult copy_row(const CUDA_MEMCPY2D *c, size_t row, CUstream s, int async)
{
    size_t so = c->srcY * c->srcPitch + c->srcXInBytes + row * c->srcPitch;
    size_t dso = c->dstY * c->dstPitch + c->dstXInBytes + row * c->dstPitch;
    size_t n = c->WidthInBytes;
    int src_dev = c->srcMemoryType == CU_MEMORYTYPE_DEVICE ||
                  (c->srcMemoryType == CU_MEMORYTYPE_UNIFIED && tfs_dev_contains(c->srcDevice, 1));
    int dst_dev = c->dstMemoryType == CU_MEMORYTYPE_DEVICE ||
                  (c->dstMemoryType == CU_MEMORYTYPE_UNIFIED && tfs_dev_contains(c->dstDevice, 1));
    CUdeviceptr sd = (c->srcMemoryType == CU_MEMORYTYPE_HOST ? (CUdeviceptr)(uintptr_t)c->srcHost
                                                             : c->srcDevice) + so;
    CUdeviceptr dd = (c->dstMemoryType == CU_MEMORYTYPE_HOST ? (CUdeviceptr)(uintptr_t)c->dstHost
                                                             : c->dstDevice) + dso;
    if (src_dev && dst_dev)
        return async ? cuMemcpyDtoDAsync_v2(dd, sd, n, s) : cuMemcpyDtoD_v2(dd, sd, n);
    if (dst_dev)
        return async ? cuMemcpyHtoDAsync_v2(dd, (const void *)(uintptr_t)sd, n, s)
                     : cuMemcpyHtoD_v2(dd, (const void *)(uintptr_t)sd, n);
    if (src_dev)
        return async ? cuMemcpyDtoHAsync_v2((void *)(uintptr_t)dd, sd, n, s)
                     : cuMemcpyDtoH_v2((void *)(uintptr_t)dd, sd, n);
    memmove((void *)(uintptr_t)dd, (const void *)(uintptr_t)sd, n);
    return CUDA_SUCCESS;
}

static CUresult copy_2d(const CUDA_MEMCPY2D *c, CUstream s, int async)
{
    if (!c)
        return CUDA_ERROR_INVALID_VALUE;
    if (c->srcMemoryType == CU_MEMORYTYPE_ARRAY || c->dstMemoryType == CU_MEMORYTYPE_ARRAY)
        return tfs_copy_array_2d(c, async ? s : NULL);
    if ((c->Height > 1 && (c->srcPitch < c->WidthInBytes || c->dstPitch < c->WidthInBytes)))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t row = 0; row < c->Height; row++) {
        CUresult r = copy_row(c, row, s, async);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy)
{
    return copy_2d(pCopy, NULL, 0);
}

CUresult CUDAAPI cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy)
{
    return copy_2d(pCopy, NULL, 0);
}

CUresult CUDAAPI cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
    return copy_2d(pCopy, hStream, 1);
}

/* ---- host functions on streams ---- */

/* The function must run after everything queued on the stream before it and before anything
 * queued after it: the stub waits for the stream, then runs it in the calling thread. (The call
 * therefore returns after the function has run, which CUDA allows but does not require.) */
CUresult CUDAAPI cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
    if (!fn)
        return CUDA_ERROR_INVALID_VALUE;
    /* captured into a graph, it becomes a host node that runs through the callback channel */
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    if (cuStreamIsCapturing(hStream, &capture) == CUDA_SUCCESS &&
        capture == CU_STREAM_CAPTURE_STATUS_ACTIVE)
        return tfs_capture_host_func(hStream, fn, userData);
    CUresult r = cuStreamSynchronize(hStream);
    if (r == CUDA_SUCCESS)
        fn(userData);
    return r;
}

CUresult CUDAAPI cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
                                     unsigned int flags)
{
    if (!callback || flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult status = cuStreamSynchronize(hStream);
    if (status == CUDA_ERROR_DEVICE_UNAVAILABLE || status == CUDA_ERROR_INVALID_HANDLE)
        return status;
    callback(hStream, status, userData);   /* the callback learns the stream's error */
    return CUDA_SUCCESS;
}

/* ---- graphs: the number of nodes here, the nodes themselves in graph.c ---- */

CUresult CUDAAPI cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
    if (!numNodes)
        return CUDA_ERROR_INVALID_VALUE;
    if (nodes)
        return tfs_graph_nodes(hGraph, nodes, numNodes);
    return tfi_graph_node_count(hGraph, numNodes);
}
