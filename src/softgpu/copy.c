/*
 * Copies and memsets: synchronous and asynchronous, 1D, 2D and 3D, host<->device,
 * device<->device, unified (cuMemcpy) and peer. Every copy is a rectangular copy work item
 * (width x height x depth with pitches), validated against the address space when it is made
 * and again when it runs (memory may be freed in between): a bad device pointer is
 * CUDA_ERROR_INVALID_VALUE, never a fault. Synchronous forms drain their stream, then copy on
 * the calling thread. Calls stream.c, memory.c and context.c.
 */
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "softgpu.h"

#define SG_LOW_ADDR 65536u /* nothing valid lives in the first 64 KiB */

struct rect {
    uint64_t addr;       /* first byte of the rectangle */
    size_t pitch, slice; /* bytes between rows, between planes */
    int is_device;       /* checked against the address space */
};

struct copy_work {
    struct sg_work base;
    struct rect dst, src;
    size_t width, height, depth;
    void *staging;       /* a snapshot of a pageable source, taken when the call was made */
    size_t staging_len;
};

/* Bytes from the first to one past the last byte the rectangle touches. */
static int rect_extent(const struct rect *r, size_t width, size_t height, size_t depth,
                       uint64_t *extent)
{
    if (!width || !height || !depth) {
        *extent = 0;
        return 0;
    }
    unsigned __int128 e = (unsigned __int128)(depth - 1) * r->slice
                          + (unsigned __int128)(height - 1) * r->pitch + width;
    if (e > UINT64_MAX || r->addr + (uint64_t)e < r->addr)
        return -1;
    *extent = (uint64_t)e;
    return 0;
}

static int rect_ok(const struct rect *r, size_t width, size_t height, size_t depth)
{
    uint64_t extent;
    if (rect_extent(r, width, height, depth, &extent) != 0)
        return 0;
    if (!extent)
        return 1;
    if (r->addr < SG_LOW_ADDR)
        return 0;
    return !r->is_device || sg_mem_ok(r->addr, extent);
}

/* When a copy is made: accessible now, or in a graph allocation that exists when it runs. */
static int rect_ok_when_made(const struct rect *r, size_t width, size_t height, size_t depth)
{
    uint64_t extent;
    if (rect_ok(r, width, height, depth))
        return 1;
    return r->is_device && rect_extent(r, width, height, depth, &extent) == 0
           && sg_graph_mem_covers(r->addr, extent);
}

static CUresult copy_run(const struct copy_work *c)
{
    if (!rect_ok(&c->dst, c->width, c->height, c->depth)
        || !rect_ok(&c->src, c->width, c->height, c->depth))
        return CUDA_ERROR_INVALID_VALUE;
    int contiguous = c->dst.pitch == c->width && c->src.pitch == c->width
                     && c->dst.slice == c->width * c->height
                     && c->src.slice == c->width * c->height;
    if (contiguous) {
        memmove((void *)(uintptr_t)c->dst.addr, (const void *)(uintptr_t)c->src.addr,
                c->width * c->height * c->depth);
        return CUDA_SUCCESS;
    }
    for (size_t z = 0; z < c->depth; z++)
        for (size_t y = 0; y < c->height; y++)
            memmove((void *)(uintptr_t)(c->dst.addr + z * c->dst.slice + y * c->dst.pitch),
                    (const void *)(uintptr_t)(c->src.addr + z * c->src.slice + y * c->src.pitch),
                    c->width);
    return CUDA_SUCCESS;
}

static CUresult copy_exec(struct sg_ctx *ctx, struct sg_stream *s, struct sg_work *w)
{
    (void)s;
    uint64_t t0 = sg_now_ns();
    CUresult r = copy_run((struct copy_work *)w);
    sg_shm_note_busy(ctx->dev->ordinal, sg_now_ns() - t0, 1);
    return r;
}

static void copy_destroy(struct sg_work *w)
{
    free(((struct copy_work *)w)->staging);
    free(w);
}

static struct sg_work *copy_clone(const struct sg_work *w)
{
    const struct copy_work *c = (const struct copy_work *)w;
    struct copy_work *n = malloc(sizeof *n);
    if (!n)
        return NULL;
    *n = *c;
    if (c->staging) {
        n->staging = malloc(c->staging_len);
        if (!n->staging) {
            free(n);
            return NULL;
        }
        memcpy(n->staging, c->staging, c->staging_len);
        n->src.addr = (uint64_t)(uintptr_t)n->staging;
    }
    return &n->base;
}

void sg_copy_work_describe(const struct sg_work *w, CUDA_MEMCPY3D *out)
{
    const struct copy_work *c = (const struct copy_work *)w;
    memset(out, 0, sizeof *out);
    out->srcMemoryType = c->src.is_device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
    out->srcDevice = c->src.addr;
    out->srcHost = (const void *)(uintptr_t)c->src.addr;
    out->srcPitch = c->src.pitch;
    out->srcHeight = c->src.pitch ? c->src.slice / c->src.pitch : 0;
    out->dstMemoryType = c->dst.is_device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
    out->dstDevice = c->dst.addr;
    out->dstHost = (void *)(uintptr_t)c->dst.addr;
    out->dstPitch = c->dst.pitch;
    out->dstHeight = c->dst.pitch ? c->dst.slice / c->dst.pitch : 0;
    out->WidthInBytes = c->width;
    out->Height = c->height;
    out->Depth = c->depth;
}

static struct copy_work *copy_new(void)
{
    return sg_work_new(sizeof(struct copy_work), SG_W_COPY, copy_exec, copy_clone, copy_destroy);
}

/* A unified address is "device" when it lies in softgpu's range, its 32-bit window or
 * registered memory. */
static int is_device_addr(uint64_t a)
{
    uint64_t base, size;
    unsigned flags;
    return (a >= sg.as.base && a < sg.as.limit) || (a >= sg.as.low_base && a < sg.as.low_limit)
           || sg_mem_registered_find(a, &base, &size, &flags) == 0;
}

struct sg_work *sg_copy_work_new(uint64_t dst, uint64_t src, size_t bytes)
{
    struct copy_work *w = copy_new();
    if (!w)
        return NULL;
    w->dst = (struct rect){dst, bytes, bytes, is_device_addr(dst)};
    w->src = (struct rect){src, bytes, bytes, is_device_addr(src)};
    w->width = bytes;
    w->height = w->depth = 1;
    return &w->base;
}

static CUresult side_from(CUmemorytype type, const void *host, CUdeviceptr dev, CUarray array,
                          size_t x, size_t y, size_t z, size_t pitch, size_t height,
                          size_t width, struct rect *out)
{
    if (type == CU_MEMORYTYPE_ARRAY) { /* array.h: linear device memory underneath */
        out->is_device = 1;
        return sg_array_locate(array, x, y, z, &out->addr, &out->pitch, &out->slice);
    }
    uint64_t base;
    switch (type) {
    case CU_MEMORYTYPE_HOST: base = (uint64_t)(uintptr_t)host; break;
    case CU_MEMORYTYPE_DEVICE: base = dev; break;
    case CU_MEMORYTYPE_UNIFIED: base = dev; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    if (!pitch)
        pitch = width;
    if (pitch < width)
        return CUDA_ERROR_INVALID_VALUE;
    out->pitch = pitch;
    out->slice = pitch * (height ? height : 1);
    out->addr = base + x + y * pitch + z * out->slice;
    out->is_device = type == CU_MEMORYTYPE_DEVICE || is_device_addr(base);
    return CUDA_SUCCESS;
}

static CUresult copy3d_new(const CUDA_MEMCPY3D *p, struct sg_work **out)
{
    if (!p || p->reserved0 || p->reserved1 || p->srcLOD || p->dstLOD)
        return CUDA_ERROR_INVALID_VALUE;
    size_t depth = p->Depth ? p->Depth : 1;
    if (depth > 1 && ((p->srcMemoryType != CU_MEMORYTYPE_ARRAY && p->srcHeight < p->Height) ||
                      (p->dstMemoryType != CU_MEMORYTYPE_ARRAY && p->dstHeight < p->Height)))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult fits = sg_array_copy_check(p);
    if (fits)
        return fits;
    struct copy_work *w = copy_new();
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = side_from(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcXInBytes,
                           p->srcY, p->srcZ, p->srcPitch, p->srcHeight, p->WidthInBytes, &w->src);
    if (!r)
        r = side_from(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstXInBytes,
                      p->dstY, p->dstZ, p->dstPitch, p->dstHeight, p->WidthInBytes, &w->dst);
    w->width = p->WidthInBytes;
    w->height = p->Height ? p->Height : 1;
    w->depth = depth;
    if (!r && (!rect_ok_when_made(&w->src, w->width, w->height, w->depth)
               || !rect_ok_when_made(&w->dst, w->width, w->height, w->depth)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r) {
        free(w);
        return r;
    }
    *out = &w->base;
    return CUDA_SUCCESS;
}

CUresult sg_copy3d_work_new(const CUDA_MEMCPY3D *p, struct sg_work **out) { return copy3d_new(p, out); }

static void memcpy3d_from_2d(const CUDA_MEMCPY2D *p, CUDA_MEMCPY3D *q)
{
    memset(q, 0, sizeof *q);
    q->srcXInBytes = p->srcXInBytes;
    q->srcY = p->srcY;
    q->srcMemoryType = p->srcMemoryType;
    q->srcHost = p->srcHost;
    q->srcDevice = p->srcDevice;
    q->srcArray = p->srcArray;
    q->srcPitch = p->srcPitch;
    q->dstXInBytes = p->dstXInBytes;
    q->dstY = p->dstY;
    q->dstMemoryType = p->dstMemoryType;
    q->dstHost = p->dstHost;
    q->dstDevice = p->dstDevice;
    q->dstArray = p->dstArray;
    q->dstPitch = p->dstPitch;
    q->WidthInBytes = p->WidthInBytes;
    q->Height = p->Height;
    q->Depth = 1;
}

/* ---- running copies ------------------------------------------------------------------------- */

/* Synchronous: ordered after the stream's work, done on the calling thread. */
static CUresult run_sync(struct sg_work *w)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(NULL, &s);
    if (!r)
        r = sg_stream_drain(s);
    if (!r) {
        r = w->exec(s->ctx, s, w);
        sg_ctx_flush_print(s->ctx);
    }
    sg_work_free(w);
    return r;
}

/* Pageable host memory follows the driver's rules for asynchronous copies: a pageable
 * source is snapshotted before the call returns (the caller may reuse it at once), and a copy
 * into pageable memory completes before the call returns. */
static CUresult run_async(struct sg_work *w, CUstream h)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(h, &s);
    if (r) {
        sg_work_free(w);
        return r;
    }
    struct copy_work *c = w->kind == SG_W_COPY ? (struct copy_work *)w : NULL;
    if (c && !s->capture && !c->dst.is_device) {
        r = sg_stream_drain(s);
        if (!r)
            r = w->exec(s->ctx, s, w);
        sg_work_free(w);
        return r;
    }
    uint64_t extent;
    if (c && !c->src.is_device && rect_extent(&c->src, c->width, c->height, c->depth, &extent) == 0
        && extent) {
        c->staging = malloc(extent);
        if (!c->staging) {
            sg_work_free(w);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        memcpy(c->staging, (const void *)(uintptr_t)c->src.addr, extent);
        c->staging_len = extent;
        c->src.addr = (uint64_t)(uintptr_t)c->staging;
    }
    return sg_stream_submit(s, w);
}

/* Validates a 1D copy up front so that the caller gets the error, not the stream. */
static CUresult linear(uint64_t dst, int dst_dev, uint64_t src, int src_dev, size_t n,
                       struct sg_work **out)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (n && (dst < SG_LOW_ADDR || src < SG_LOW_ADDR))
        return CUDA_ERROR_INVALID_VALUE;
    if ((dst_dev && !sg_mem_ok(dst, n) && !sg_graph_mem_covers(dst, n))
        || (src_dev && !sg_mem_ok(src, n) && !sg_graph_mem_covers(src, n)))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_work *w = sg_copy_work_new(dst, src, n);
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    /* the sides the caller named as device are checked again when the copy runs */
    struct copy_work *cw = (struct copy_work *)w;
    cw->dst.is_device |= dst_dev;
    cw->src.is_device |= src_dev;
    *out = w;
    return CUDA_SUCCESS;
}

#define HOST(p) ((uint64_t)(uintptr_t)(p))

#define SYNC_LINEAR(dst, dd, src, sd, n)                       \
    do {                                                       \
        struct sg_work *w;                                     \
        CUresult r = linear(dst, dd, src, sd, n, &w);          \
        return r ? r : run_sync(w);                            \
    } while (0)

#define ASYNC_LINEAR(dst, dd, src, sd, n, stream)              \
    do {                                                       \
        struct sg_work *w;                                     \
        CUresult r = linear(dst, dd, src, sd, n, &w);          \
        return r ? r : run_async(w, stream);                   \
    } while (0)

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { SYNC_LINEAR(dst, 1, HOST(src), 0, n); }
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) { SYNC_LINEAR(HOST(dst), 0, src, 1, n); }
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { SYNC_LINEAR(dst, 1, src, 1, n); }
CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) { SYNC_LINEAR(dst, 0, src, 0, n); }

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
    ASYNC_LINEAR(dst, 1, HOST(src), 0, n, s);
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
    ASYNC_LINEAR(HOST(dst), 0, src, 1, n, s);
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
    ASYNC_LINEAR(dst, 1, src, 1, n, s);
}
CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
    ASYNC_LINEAR(dst, 0, src, 0, n, s);
}

static CUresult peer_check(CUcontext a, CUcontext b)
{
    struct sg_ctx *ca, *cb;
    CUresult r = sg_ctx_resolve(a, &ca);
    if (!r)
        r = sg_ctx_resolve(b, &cb);
    if (!r && (!a || !b))
        r = CUDA_ERROR_INVALID_CONTEXT;
    return r;
}

CUresult cuMemcpyPeer(CUdeviceptr dst, CUcontext dstCtx, CUdeviceptr src, CUcontext srcCtx, size_t n)
{
    CUresult r = peer_check(dstCtx, srcCtx);
    if (r)
        return r;
    SYNC_LINEAR(dst, 1, src, 1, n);
}

CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dstCtx, CUdeviceptr src, CUcontext srcCtx,
                           size_t n, CUstream s)
{
    CUresult r = peer_check(dstCtx, srcCtx);
    if (r)
        return r;
    ASYNC_LINEAR(dst, 1, src, 1, n, s);
}

static CUresult copy3d(const CUDA_MEMCPY3D *p, int async, CUstream stream)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    struct sg_work *w;
    r = copy3d_new(p, &w);
    if (r)
        return r;
    return async ? run_async(w, stream) : run_sync(w);
}

static CUresult copy2d(const CUDA_MEMCPY2D *p, int async, CUstream stream)
{
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_MEMCPY3D q;
    memcpy3d_from_2d(p, &q);
    return copy3d(&q, async, stream);
}

CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *p) { return copy2d(p, 0, NULL); }
CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *p) { return copy2d(p, 0, NULL); }
CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *p, CUstream s) { return copy2d(p, 1, s); }
CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *p) { return copy3d(p, 0, NULL); }
CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *p, CUstream s) { return copy3d(p, 1, s); }

/* ---- memset ---------------------------------------------------------------------------------- */

struct memset_work {
    struct sg_work base;
    uint64_t dst;
    size_t pitch;
    unsigned value, elem;
    size_t width, height; /* width in elements */
};

static CUresult memset_exec(struct sg_ctx *ctx, struct sg_stream *s, struct sg_work *w)
{
    (void)ctx, (void)s;
    struct memset_work *m = (struct memset_work *)w;
    if (!m->width || !m->height)
        return CUDA_SUCCESS;
    uint64_t extent = (m->height - 1) * m->pitch + m->width * m->elem;
    if (!sg_mem_ok(m->dst, extent))
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t y = 0; y < m->height; y++) {
        uint8_t *row = (uint8_t *)(uintptr_t)(m->dst + y * m->pitch);
        if (m->elem == 1) {
            memset(row, (int)m->value, m->width);
        } else if (m->elem == 2) {
            uint16_t v = (uint16_t)m->value;
            for (size_t i = 0; i < m->width; i++)
                memcpy(row + 2 * i, &v, 2);
        } else {
            uint32_t v = m->value;
            for (size_t i = 0; i < m->width; i++)
                memcpy(row + 4 * i, &v, 4);
        }
    }
    return CUDA_SUCCESS;
}

static struct sg_work *memset_clone(const struct sg_work *w)
{
    return sg_work_dup(w, sizeof(struct memset_work));
}

struct sg_work *sg_memset_work_new(uint64_t dst, size_t pitch, unsigned value, unsigned elem,
                                   size_t width, size_t height)
{
    struct memset_work *w = sg_work_new(sizeof *w, SG_W_MEMSET, memset_exec, memset_clone, NULL);
    if (!w)
        return NULL;
    w->dst = dst;
    w->pitch = pitch;
    w->value = value;
    w->elem = elem;
    w->width = width;
    w->height = height;
    return &w->base;
}

void sg_memset_work_describe(const struct sg_work *w, CUDA_MEMSET_NODE_PARAMS *out)
{
    const struct memset_work *m = (const struct memset_work *)w;
    *out = (CUDA_MEMSET_NODE_PARAMS){.dst = m->dst, .pitch = m->pitch, .value = m->value,
                                     .elementSize = m->elem, .width = m->width, .height = m->height};
}

static CUresult memset_make(uint64_t dst, size_t pitch, unsigned value, unsigned elem, size_t width,
                            size_t height, struct sg_work **out)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (dst % elem)
        return CUDA_ERROR_INVALID_VALUE;
    if (height > 1 && pitch < width * elem)
        return CUDA_ERROR_INVALID_VALUE;
    if (width && height) {
        if (width > SIZE_MAX / elem || (height > 1 && height - 1 > SIZE_MAX / pitch))
            return CUDA_ERROR_INVALID_VALUE;
        uint64_t extent = (height - 1) * pitch + width * elem;
        if (!sg_mem_ok(dst, extent) && !sg_graph_mem_covers(dst, extent))
            return CUDA_ERROR_INVALID_VALUE;
    }
    *out = sg_memset_work_new(dst, pitch, value, elem, width, height);
    return *out ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

#define MEMSET_SYNC(dst, pitch, v, elem, w, h)                        \
    do {                                                              \
        struct sg_work *work;                                         \
        CUresult r = memset_make(dst, pitch, v, elem, w, h, &work);   \
        return r ? r : run_sync(work);                                \
    } while (0)
#define MEMSET_ASYNC(dst, pitch, v, elem, w, h, s)                    \
    do {                                                              \
        struct sg_work *work;                                         \
        CUresult r = memset_make(dst, pitch, v, elem, w, h, &work);   \
        return r ? r : run_async(work, s);                            \
    } while (0)

CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { MEMSET_SYNC(d, n, v, 1, n, 1); }
CUresult cuMemsetD16_v2(CUdeviceptr d, unsigned short v, size_t n) { MEMSET_SYNC(d, n * 2, v, 2, n, 1); }
CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) { MEMSET_SYNC(d, n * 4, v, 4, n, 1); }
CUresult cuMemsetD2D8_v2(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h)
{
    MEMSET_SYNC(d, pitch, v, 1, w, h);
}
CUresult cuMemsetD2D16_v2(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h)
{
    MEMSET_SYNC(d, pitch, v, 2, w, h);
}
CUresult cuMemsetD2D32_v2(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h)
{
    MEMSET_SYNC(d, pitch, v, 4, w, h);
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s)
{
    MEMSET_ASYNC(d, n, v, 1, n, 1, s);
}
CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short v, size_t n, CUstream s)
{
    MEMSET_ASYNC(d, n * 2, v, 2, n, 1, s);
}
CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s)
{
    MEMSET_ASYNC(d, n * 4, v, 4, n, 1, s);
}
CUresult cuMemsetD2D8Async(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h, CUstream s)
{
    MEMSET_ASYNC(d, pitch, v, 1, w, h, s);
}
CUresult cuMemsetD2D16Async(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h,
                            CUstream s)
{
    MEMSET_ASYNC(d, pitch, v, 2, w, h, s);
}
CUresult cuMemsetD2D32Async(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h,
                            CUstream s)
{
    MEMSET_ASYNC(d, pitch, v, 4, w, h, s);
}
