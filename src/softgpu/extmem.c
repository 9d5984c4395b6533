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

#define EXT_MAX_BATCH 4096u /* semaphores in one call or node */

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

/* A signal or a wait of n semaphores, queued on a stream or held by a graph node (the node
 * getters hand out sems and params). One allocation: the struct, n handles, n parameters. */
typedef CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS sem_params;
_Static_assert(sizeof(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS)
                   == sizeof(CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS)
               && offsetof(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS, params.fence.value)
                      == offsetof(CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS, params.fence.value)
               && offsetof(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS, flags)
                      == offsetof(CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS, flags),
               "signal and wait parameters share one layout where softgpu reads them");

struct extsem_work {
    struct sg_work base;
    unsigned n;
    sem_params *params;               /* after sems[n] */
    CUexternalSemaphore sems[];
};

static size_t extsem_work_bytes(unsigned n)
{
    return sizeof(struct extsem_work) + n * (sizeof(CUexternalSemaphore) + sizeof(sem_params));
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static void signal_one(struct sg_extsem *s, uint64_t value)
{
    if (s->counter) {
        atomic_store(s->counter, value);
        return;
    }
    uint64_t one = 1;
    while (write(s->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* Blocks the stream until the signal: the eventfd's count is taken (back to zero), or the
 * timeline's counter reaches the value. Another process signals, so this polls the counter. */
static CUresult wait_one(struct sg_extsem *s, uint64_t value)
{
    unsigned pause = 20;
    if (s->counter) {
        while (atomic_load(s->counter) < value) {
            sleep_us(pause);
            pause = pause < 2000 ? pause * 2 : pause;
        }
        return CUDA_SUCCESS;
    }
    for (;;) {
        struct pollfd p = {s->fd, POLLIN, 0};
        uint64_t count;
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            return CUDA_ERROR_UNKNOWN;
        if (read(s->fd, &count, sizeof count) == (ssize_t)sizeof count)
            return CUDA_SUCCESS;
        if (errno != EAGAIN && errno != EINTR)
            return CUDA_ERROR_UNKNOWN;
    }
}

/* The semaphores in order, as the driver does them. */
static CUresult extsem_exec(struct sg_ctx *c, struct sg_stream *st, struct sg_work *w)
{
    (void)c, (void)st;
    struct extsem_work *x = (struct extsem_work *)w;
    CUresult r = CUDA_SUCCESS;
    for (unsigned i = 0; i < x->n && !r; i++) {
        struct sg_extsem *s = (struct sg_extsem *)x->sems[i];
        if (w->kind == SG_W_EXT_SIGNAL)
            signal_one(s, x->params[i].params.fence.value);
        else
            r = wait_one(s, x->params[i].params.fence.value);
    }
    return r;
}

static void extsem_work_destroy(struct sg_work *w)
{
    struct extsem_work *x = (struct extsem_work *)w;
    for (unsigned i = 0; i < x->n; i++)
        extsem_release((struct sg_extsem *)x->sems[i]);
    free(w);
}

/* Every copy holds its own reference on each semaphore, which outlives the handle. */
static struct sg_work *extsem_work_clone(const struct sg_work *w)
{
    const struct extsem_work *x = (const struct extsem_work *)w;
    struct extsem_work *n = (struct extsem_work *)sg_work_dup(w, extsem_work_bytes(x->n));
    if (!n)
        return NULL;
    n->params = (sem_params *)(n->sems + n->n);
    for (unsigned i = 0; i < n->n; i++)
        atomic_fetch_add(&((struct sg_extsem *)n->sems[i])->refs, 1);
    return &n->base;
}

CUresult sg_extsem_work_new(const CUexternalSemaphore *sems, const void *params, unsigned n,
                            int signal, struct sg_work **out)
{
    *out = NULL;
    if (!n || !sems || !params || n > EXT_MAX_BATCH)
        return CUDA_ERROR_INVALID_VALUE;
    const sem_params *p = params;
    for (unsigned i = 0; i < n; i++) {
        if (!sg_handle_is(sems[i], SG_K_EXTSEM))
            return CUDA_ERROR_INVALID_HANDLE;
        if (p[i].flags & ~(unsigned)(CUDA_EXTERNAL_SEMAPHORE_SIGNAL_SKIP_NVSCIBUF_MEMSYNC
                                     | CUDA_EXTERNAL_SEMAPHORE_WAIT_SKIP_NVSCIBUF_MEMSYNC))
            return CUDA_ERROR_INVALID_VALUE;
    }
    struct extsem_work *w = sg_work_new(extsem_work_bytes(n),
                                        signal ? SG_W_EXT_SIGNAL : SG_W_EXT_WAIT, extsem_exec,
                                        extsem_work_clone, extsem_work_destroy);
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    w->n = n;
    w->params = (sem_params *)(w->sems + n);
    memcpy(w->sems, sems, n * sizeof *sems);
    memcpy(w->params, params, n * sizeof *p);
    for (unsigned i = 0; i < n; i++)
        atomic_fetch_add(&((struct sg_extsem *)sems[i])->refs, 1);
    *out = &w->base;
    return CUDA_SUCCESS;
}

void sg_extsem_work_describe(const struct sg_work *w, CUexternalSemaphore **sems,
                             const void **params, unsigned *n)
{
    struct extsem_work *x = (struct extsem_work *)w;
    *sems = x->sems;
    *params = x->params;
    *n = x->n;
}

/* One work item for the whole call, so that a capture makes one node of it. */
static CUresult ext_submit(const CUexternalSemaphore *sems, const void *params, unsigned n,
                           CUstream stream, int signal)
{
    CUresult r = sg_check_init();
    if (r || !n)
        return r;
    struct sg_work *w;
    struct sg_stream *s;
    if ((r = sg_extsem_work_new(sems, params, n, signal, &w)) != CUDA_SUCCESS)
        return r;
    if ((r = sg_stream_resolve(stream, &s)) != CUDA_SUCCESS) {
        sg_work_free(w);
        return r;
    }
    return sg_stream_submit(s, w);
}

CUresult cuSignalExternalSemaphoresAsync(const CUexternalSemaphore *extSemArray,
                                         const CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS *paramsArray,
                                         unsigned int numExtSems, CUstream stream)
{
    return ext_submit(extSemArray, paramsArray, numExtSems, stream, 1);
}

CUresult cuWaitExternalSemaphoresAsync(const CUexternalSemaphore *extSemArray,
                                       const CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS *paramsArray,
                                       unsigned int numExtSems, CUstream stream)
{
    return ext_submit(extSemArray, paramsArray, numExtSems, stream, 0);
}
