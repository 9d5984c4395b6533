/*
 * External memory and semaphores: cuImportExternalMemory, cuExternalMemoryGetMappedBuffer,
 * cuExternalMemoryGetMappedMipmappedArray, cuDestroyExternalMemory, cuImportExternalSemaphore,
 * cuSignalExternalSemaphoresAsync, cuWaitExternalSemaphoresAsync, cuDestroyExternalSemaphore.
 *
 * softgpu has no Vulkan or D3D next to it, so it defines what the file-descriptor handle types
 * are here:
 *   memory  OPAQUE_FD and DMABUF_FD: any descriptor that mmap accepts with MAP_SHARED (a memfd,
 *           a regular file, a dma-buf that cuMemGetHandleForAddressRange gave), at least `size`
 *           bytes long. A mapped buffer is the file mapped into the device range (ipc.c), so
 *           kernels and every other holder of the file see the same bytes; its offset must be a
 *           multiple of the 4 KiB page (mmap's rule). A mapped mipmapped array is a COPY of the
 *           file's bytes made when it is mapped (softgpu arrays keep their own storage, array.c):
 *           level after level from the offset, each level's rows tightly packed; later writes to
 *           the file are not seen by the array.
 *   semaphores  OPAQUE_FD: an eventfd (binary: signal writes 1, wait reads the count back to
 *           zero, blocking until it is non-zero). TIMELINE_SEMAPHORE_FD: a file (memfd) of at
 *           least 8 bytes whose first 8 bytes are the 64-bit counter: signal stores the value,
 *           wait blocks until the counter is >= the value; another process maps the same file.
 * Both are stream-ordered: a wait blocks its stream's later work until the signal. Import takes
 * the descriptor (closed by destroy, as the driver owns it after a successful import). Other
 * handle types are CUDA_ERROR_NOT_SUPPORTED (logged), what the driver answers for a handle type
 * the platform lacks. Calls ipc.c (fd mapping), stream.c, the array entry points.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "softgpu.h"

struct sg_extmem {
    int fd;
    uint64_t size;
};

struct sg_extsem {
    CUexternalSemaphoreHandleType type;
    int fd;
    _Atomic uint64_t *counter;   /* timeline: the file's first 8 bytes, mapped */
    _Atomic int refs;            /* the handle and each queued signal or wait */
};

static void extsem_release(struct sg_extsem *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->counter)
        munmap((void *)s->counter, sizeof *s->counter);
    close(s->fd);
    free(s);
}

/* ---- memory ------------------------------------------------------------------------------ */

CUresult cuImportExternalMemory(CUexternalMemory *extMem_out,
                                const CUDA_EXTERNAL_MEMORY_HANDLE_DESC *memHandleDesc)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    const CUDA_EXTERNAL_MEMORY_HANDLE_DESC *d = memHandleDesc;
    if (!extMem_out || !d || !d->size || (d->flags & ~(unsigned)CUDA_EXTERNAL_MEMORY_DEDICATED))
        return CUDA_ERROR_INVALID_VALUE;
    if (d->type != CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD
        && d->type != CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD) {
        sg_log(SG_LOG_WARN, "cuImportExternalMemory: handle type %d needs a graphics API softgpu "
               "lacks (only file descriptors)", (int)d->type);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    struct stat st;
    if (d->handle.fd < 0 || fstat(d->handle.fd, &st) != 0)
        return CUDA_ERROR_INVALID_HANDLE;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < d->size)
        return CUDA_ERROR_INVALID_VALUE; /* the file is smaller than what the caller maps */
    void *probe = mmap(NULL, SG_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->handle.fd, 0);
    if (probe == MAP_FAILED)
        return CUDA_ERROR_INVALID_HANDLE; /* not memory this process can map */
    munmap(probe, SG_PAGE_SIZE);
    struct sg_extmem *m = calloc(1, sizeof *m);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->fd = d->handle.fd; /* ours from now on */
    m->size = d->size;
    sg_handle_add(m, SG_K_EXTMEM);
    *extMem_out = (CUexternalMemory)m;
    return CUDA_SUCCESS;
}

static CUresult extmem_lookup(CUexternalMemory h, struct sg_extmem **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_EXTMEM, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult cuExternalMemoryGetMappedBuffer(CUdeviceptr *devPtr, CUexternalMemory extMem,
                                         const CUDA_EXTERNAL_MEMORY_BUFFER_DESC *bufferDesc)
{
    struct sg_extmem *m;
    CUresult r = extmem_lookup(extMem, &m);
    if (r)
        return r;
    const CUDA_EXTERNAL_MEMORY_BUFFER_DESC *b = bufferDesc;
    if (!devPtr || !b || b->flags || !b->size || b->offset > m->size
        || b->size > m->size - b->offset || b->offset % SG_PAGE_SIZE)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    if ((r = sg_ctx_get(&c)))
        return r;
    uint64_t addr;
    r = sg_ipc_map_fd(c, m->fd, b->offset, b->size, &addr);
    if (!r)
        *devPtr = addr;
    return r;
}

/* Copies level after level of the file (rows tightly packed) into the levels of a new array. */
static CUresult fill_levels(CUmipmappedArray h, const char *src, uint64_t avail)
{
    struct sg_mipmap *mm;
    CUresult r = sg_mipmap_get(h, &mm);
    uint64_t used = 0;
    for (unsigned l = 0; !r && l < mm->nlevels; l++) {
        const struct sg_array *a = mm->levels[l];
        uint64_t row = (uint64_t)a->width * a->fmt.elem_bytes;
        uint64_t bytes = row * a->height * a->depth;
        if (bytes > avail - used)
            return CUDA_ERROR_INVALID_VALUE; /* the levels do not fit in the memory */
        CUDA_MEMCPY3D cp = {0};
        cp.srcMemoryType = CU_MEMORYTYPE_HOST;
        cp.srcHost = src + used;
        cp.srcPitch = row;
        cp.srcHeight = a->height;
        cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
        cp.dstArray = (CUarray)a;
        cp.WidthInBytes = row;
        cp.Height = a->height;
        cp.Depth = a->depth;
        r = cuMemcpy3D_v2(&cp);
        used += bytes;
    }
    return r;
}

CUresult cuExternalMemoryGetMappedMipmappedArray(CUmipmappedArray *mipmap, CUexternalMemory extMem,
    const CUDA_EXTERNAL_MEMORY_MIPMAPPED_ARRAY_DESC *mipmapDesc)
{
    struct sg_extmem *m;
    CUresult r = extmem_lookup(extMem, &m);
    if (r)
        return r;
    const CUDA_EXTERNAL_MEMORY_MIPMAPPED_ARRAY_DESC *d = mipmapDesc;
    if (!mipmap || !d || !d->numLevels || d->offset >= m->size)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t start = d->offset / SG_PAGE_SIZE * SG_PAGE_SIZE, len = m->size - start;
    char *map = mmap(NULL, len, PROT_READ, MAP_SHARED, m->fd, (off_t)start);
    if (map == MAP_FAILED)
        return CUDA_ERROR_MAP_FAILED;
    CUmipmappedArray mm;
    r = cuMipmappedArrayCreate(&mm, &d->arrayDesc, d->numLevels);
    if (!r) {
        r = fill_levels(mm, map + (d->offset - start), m->size - d->offset);
        if (r)
            cuMipmappedArrayDestroy(mm);
        else
            *mipmap = mm;
    }
    munmap(map, len);
    return r;
}

CUresult cuDestroyExternalMemory(CUexternalMemory extMem)
{
    struct sg_extmem *m;
    CUresult r = extmem_lookup(extMem, &m);
    if (r)
        return r;
    sg_handle_del(m);
    close(m->fd); /* mapped buffers keep their own mappings, freed by cuMemFree */
    free(m);
    return CUDA_SUCCESS;
}

/* ---- semaphores ------------------------------------------------------------------------- */

static int is_eventfd(int fd)
{
    char path[64], link[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
        return 0;
    link[n] = 0;
    return strcmp(link, "anon_inode:[eventfd]") == 0;
}

CUresult cuImportExternalSemaphore(CUexternalSemaphore *extSem_out,
                                   const CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC *semHandleDesc)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    const CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC *d = semHandleDesc;
    if (!extSem_out || !d || d->flags)
        return CUDA_ERROR_INVALID_VALUE;
    if (d->type != CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD
        && d->type != CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD) {
        sg_log(SG_LOG_WARN, "cuImportExternalSemaphore: handle type %d needs an API softgpu "
               "lacks (only eventfds and timeline memfds)", (int)d->type);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    int fd = d->handle.fd;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_extsem *s = calloc(1, sizeof *s);
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (d->type == CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD && !is_eventfd(fd)) {
        free(s);
        return CUDA_ERROR_INVALID_HANDLE; /* a binary semaphore is an eventfd here */
    }
    if (d->type == CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD) {
        void *p = S_ISREG(st.st_mode) && st.st_size >= 8
                      ? mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
        if (p == MAP_FAILED) {
            free(s);
            return CUDA_ERROR_INVALID_HANDLE; /* a timeline is a file of >= 8 bytes here */
        }
        s->counter = p;
    }
    s->type = d->type;
    s->fd = fd;
    atomic_store(&s->refs, 1);
    sg_handle_add(s, SG_K_EXTSEM);
    *extSem_out = (CUexternalSemaphore)s;
    return CUDA_SUCCESS;
}

CUresult cuDestroyExternalSemaphore(CUexternalSemaphore extSem)
{
    void *p;
    CUresult r = sg_handle_get(extSem, SG_K_EXTSEM, CUDA_ERROR_INVALID_HANDLE, &p);
    if (r)
        return r;
    sg_handle_del(p);
    extsem_release(p); /* queued signals and waits hold their own references */
    return CUDA_SUCCESS;
}

/* A signal or a wait queued on a stream. */
struct extsem_work {
    struct sg_work base;
    struct sg_extsem *sem;
    uint64_t value;
};

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static CUresult signal_exec(struct sg_ctx *c, struct sg_stream *st, struct sg_work *w)
{
    (void)c, (void)st;
    struct extsem_work *x = (struct extsem_work *)w;
    if (x->sem->counter) {
        atomic_store(x->sem->counter, x->value);
        return CUDA_SUCCESS;
    }
    uint64_t one = 1;
    while (write(x->sem->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    return CUDA_SUCCESS;
}

/* Blocks the stream until the signal: the eventfd's count is taken (back to zero), or the
 * timeline's counter reaches the value. Another process signals, so this polls the counter. */
static CUresult wait_exec(struct sg_ctx *c, struct sg_stream *st, struct sg_work *w)
{
    (void)c, (void)st;
    struct extsem_work *x = (struct extsem_work *)w;
    unsigned pause = 20;
    if (x->sem->counter) {
        while (atomic_load(x->sem->counter) < x->value) {
            sleep_us(pause);
            pause = pause < 2000 ? pause * 2 : pause;
        }
        return CUDA_SUCCESS;
    }
    for (;;) {
        struct pollfd p = {x->sem->fd, POLLIN, 0};
        uint64_t count;
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            return CUDA_ERROR_UNKNOWN;
        if (read(x->sem->fd, &count, sizeof count) == (ssize_t)sizeof count)
            return CUDA_SUCCESS;
        if (errno != EAGAIN && errno != EINTR)
            return CUDA_ERROR_UNKNOWN;
    }
}

static void extsem_work_destroy(struct sg_work *w)
{
    extsem_release(((struct extsem_work *)w)->sem);
    free(w);
}

static struct sg_work *extsem_work_clone(const struct sg_work *w)
{
    struct extsem_work *n = (struct extsem_work *)sg_work_dup(w, sizeof *n);
    if (n)
        atomic_fetch_add(&n->sem->refs, 1);
    return n ? &n->base : NULL;
}

struct sg_work *sg_work_extsem_new(CUexternalSemaphore h, int signal, uint64_t value)
{
    if (!sg_handle_is(h, SG_K_EXTSEM))
        return NULL;
    struct extsem_work *w = sg_work_new(sizeof *w, signal ? SG_W_EXT_SIGNAL : SG_W_EXT_WAIT,
                                        signal ? signal_exec : wait_exec, extsem_work_clone,
                                        extsem_work_destroy);
    if (!w)
        return NULL;
    w->sem = (struct sg_extsem *)h;
    atomic_fetch_add(&w->sem->refs, 1);
    w->value = value;
    return &w->base;
}

/* Checks every semaphore first, then queues one work item per semaphore, in order. */
static CUresult ext_submit(const CUexternalSemaphore *sems, const uint64_t *values,
                           const unsigned *flags, unsigned n, CUstream stream, int signal)
{
    if (!sems || !values || !n)
        return n ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    for (unsigned i = 0; i < n; i++) {
        if (!sg_handle_is(sems[i], SG_K_EXTSEM))
            return CUDA_ERROR_INVALID_HANDLE;
        if (flags[i] & ~(unsigned)(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_SKIP_NVSCIBUF_MEMSYNC
                                   | CUDA_EXTERNAL_SEMAPHORE_WAIT_SKIP_NVSCIBUF_MEMSYNC))
            return CUDA_ERROR_INVALID_VALUE;
    }
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(stream, &s);
    for (unsigned i = 0; i < n && !r; i++) {
        struct sg_work *w = sg_work_extsem_new(sems[i], signal, values[i]);
        r = w ? sg_stream_submit(s, w) : CUDA_ERROR_OUT_OF_MEMORY;
    }
    return r;
}

#define EXT_MAX_BATCH 4096u

/* The fence values and flags of n signal or wait parameters (the two structs place them alike
 * but are different types: read through offsets), then ext_submit. */
static CUresult ext_params(const CUexternalSemaphore *sems, const void *params, size_t stride,
                           size_t value_at, size_t flags_at, unsigned n, CUstream stream,
                           int signal)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (n > EXT_MAX_BATCH || (n && !params))
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t *v = malloc(sizeof *v * (n ? n : 1));
    unsigned *f = malloc(sizeof *f * (n ? n : 1));
    for (unsigned i = 0; v && f && i < n; i++) {
        const char *p = (const char *)params + i * stride;
        memcpy(&v[i], p + value_at, sizeof v[i]);
        memcpy(&f[i], p + flags_at, sizeof f[i]);
    }
    r = v && f ? ext_submit(sems, v, f, n, stream, signal) : CUDA_ERROR_OUT_OF_MEMORY;
    free(v);
    free(f);
    return r;
}

CUresult cuSignalExternalSemaphoresAsync(const CUexternalSemaphore *extSemArray,
                                         const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS *paramsArray,
                                         unsigned int numExtSems, CUstream stream)
{
    typedef CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS P;
    return ext_params(extSemArray, paramsArray, sizeof(P), offsetof(P, params.fence.value),
                      offsetof(P, flags), numExtSems, stream, 1);
}

CUresult cuWaitExternalSemaphoresAsync(const CUexternalSemaphore *extSemArray,
                                       const CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS *paramsArray,
                                       unsigned int numExtSems, CUstream stream)
{
    typedef CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS P;
    return ext_params(extSemArray, paramsArray, sizeof(P), offsetof(P, params.fence.value),
                      offsetof(P, flags), numExtSems, stream, 0);
}
