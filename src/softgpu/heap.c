/*
 * The device heap behind device-side malloc()/free(): one per context, a single region of
 * device memory (inside softgpu's address space, so kernels read and write it like any other
 * allocation) of CU_LIMIT_MALLOC_HEAP_SIZE bytes. It is created when the first kernel that
 * uses malloc is launched (or at a kernel's first malloc, for calls the parser cannot see);
 * from then on the limit is fixed, as on hardware. Blocks are carved from the region by a
 * first-fit allocator whose bookkeeping lives in host memory, so a kernel that scribbles over
 * its heap cannot corrupt the allocator. Pool threads call it concurrently: one mutex per heap.
 * Calls memory.c (the region) and nothing else.
 */
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

#define HEAP_ALIGN 16u /* what device malloc guarantees */

/* [off, off + size) of the heap; the array of them is sorted by off and covers the heap. */
struct heap_block {
    uint64_t off, size;
    int used;
};

struct sg_heap {
    pthread_mutex_t lock;
    uint64_t base, size;
    struct heap_block *blocks;
    size_t nblocks, cap;
};

/* Guards ctx->heap creation and CU_LIMIT_MALLOC_HEAP_SIZE changes (rare: one lock for all). */
static pthread_mutex_t heap_create_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sg_heap *heap_new(struct sg_ctx *ctx, uint64_t size)
{
    struct sg_heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->cap = 64;
    h->blocks = malloc(h->cap * sizeof *h->blocks);
    if (!h->blocks || sg_mem_alloc(ctx, size, SG_PAGE_SIZE, SG_R_DEVICE, 0, &h->base)) {
        free(h->blocks);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->size = size;
    h->blocks[0] = (struct heap_block){0, size, 0};
    h->nblocks = 1;
    return h;
}

CUresult sg_heap_ensure(struct sg_ctx *ctx)
{
    CUresult r = CUDA_SUCCESS;
    pthread_mutex_lock(&heap_create_lock);
    if (!ctx->heap) {
        uint64_t size = ctx->limits[CU_LIMIT_MALLOC_HEAP_SIZE];
        size = (size + HEAP_ALIGN - 1) / HEAP_ALIGN * HEAP_ALIGN;
        struct sg_heap *h = heap_new(ctx, size);
        __atomic_store_n(&ctx->heap, h, __ATOMIC_RELEASE);
        if (!h) {
            sg_log(SG_LOG_WARN, "cannot allocate a %llu-byte device heap",
                   (unsigned long long)size);
            r = CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    pthread_mutex_unlock(&heap_create_lock);
    return r;
}

CUresult sg_heap_set_limit(struct sg_ctx *ctx, size_t bytes)
{
    pthread_mutex_lock(&heap_create_lock);
    /* the heap a malloc-using kernel has seen cannot move or shrink under its pointers */
    CUresult r = ctx->heap ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    if (!r)
        ctx->limits[CU_LIMIT_MALLOC_HEAP_SIZE] = bytes;
    pthread_mutex_unlock(&heap_create_lock);
    return r;
}

void sg_heap_destroy(struct sg_ctx *ctx)
{
    pthread_mutex_lock(&heap_create_lock);
    struct sg_heap *h = ctx->heap;
    __atomic_store_n(&ctx->heap, NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&heap_create_lock);
    if (!h)
        return;
    sg_mem_free(h->base, SG_R_DEVICE);
    pthread_mutex_destroy(&h->lock);
    free(h->blocks);
    free(h);
}

/* Makes room for one more block entry at index i (shifting the rest up). */
static int blocks_insert(struct sg_heap *h, size_t i, struct heap_block b)
{
    if (h->nblocks == h->cap) {
        struct heap_block *n = realloc(h->blocks, 2 * h->cap * sizeof *n);
        if (!n)
            return -1;
        h->blocks = n;
        h->cap *= 2;
    }
    memmove(&h->blocks[i + 1], &h->blocks[i], (h->nblocks - i) * sizeof *h->blocks);
    h->blocks[i] = b;
    h->nblocks++;
    return 0;
}

static void blocks_remove(struct sg_heap *h, size_t i)
{
    memmove(&h->blocks[i], &h->blocks[i + 1], (h->nblocks - i - 1) * sizeof *h->blocks);
    h->nblocks--;
}

static uint64_t heap_take(struct sg_heap *h, uint64_t size)
{
    for (size_t i = 0; i < h->nblocks; i++) {
        struct heap_block *b = &h->blocks[i];
        if (b->used || b->size < size)
            continue;
        if (b->size > size) {
            struct heap_block rest = {b->off + size, b->size - size, 0};
            if (blocks_insert(h, i + 1, rest))
                return 0; /* no host memory for the bookkeeping: as good as exhausted */
            b = &h->blocks[i];
            b->size = size;
        }
        b->used = 1;
        return h->base + b->off;
    }
    return 0;
}

/* heap_alloc hook of struct ptx_launch (opaque: the context). 0 when exhausted. */
uint64_t sg_heap_alloc(void *opaque, uint64_t size)
{
    struct sg_ctx *ctx = opaque;
    if (size == 0 || size > ((uint64_t)1 << 40))
        return 0;
    if (!__atomic_load_n(&ctx->heap, __ATOMIC_ACQUIRE) && sg_heap_ensure(ctx))
        return 0;
    struct sg_heap *h = __atomic_load_n(&ctx->heap, __ATOMIC_ACQUIRE);
    size = (size + HEAP_ALIGN - 1) / HEAP_ALIGN * HEAP_ALIGN;
    pthread_mutex_lock(&h->lock);
    uint64_t p = heap_take(h, size);
    pthread_mutex_unlock(&h->lock);
    return p;
}

/* Index of the used block starting at off, or nblocks when there is none. */
static size_t heap_find(const struct sg_heap *h, uint64_t off)
{
    size_t lo = 0, hi = h->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->blocks[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->nblocks && h->blocks[lo].off == off && h->blocks[lo].used ? lo : h->nblocks;
}

/* heap_free hook of struct ptx_launch. A pointer malloc did not return (or a double free) is
 * undefined behaviour on hardware; here it is reported and ignored. */
void sg_heap_free(void *opaque, uint64_t addr)
{
    struct sg_heap *h = __atomic_load_n(&((struct sg_ctx *)opaque)->heap, __ATOMIC_ACQUIRE);
    int freed = 0;
    if (h && addr >= h->base) {
        pthread_mutex_lock(&h->lock);
        size_t i = heap_find(h, addr - h->base);
        if (i < h->nblocks) {
            h->blocks[i].used = 0;
            if (i + 1 < h->nblocks && !h->blocks[i + 1].used) {
                h->blocks[i].size += h->blocks[i + 1].size;
                blocks_remove(h, i + 1);
            }
            if (i > 0 && !h->blocks[i - 1].used) {
                h->blocks[i - 1].size += h->blocks[i].size;
                blocks_remove(h, i);
            }
            freed = 1;
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (!freed)
        sg_log(SG_LOG_WARN, "device free(0x%llx): not a live device-heap allocation",
               (unsigned long long)addr);
}
