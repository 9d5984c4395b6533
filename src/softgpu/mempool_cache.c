/*
 * The memory pools' cache of freed blocks and their used/reserved accounting. A block freed by
 * cuMemFreeAsync stays reserved by its pool (still an allocation in memory.c's table, still
 * counted as device memory) while the pool reserves no more than its release threshold; later
 * stream-ordered allocations of the same size take it back instead of asking memory.c:
 *   - always when allocated in the stream that freed it (stream order makes that safe);
 *   - from another stream when CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC or
 *     CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES is set (a block is cached only once its
 *     free has executed, so both conditions hold). FOLLOW_EVENT_DEPENDENCIES alone never
 *     grants reuse: softgpu does not track which events a stream has waited on.
 * Blocks above the threshold are released when the free executes (NVIDIA's driver waits for
 * the next synchronisation; the totals it reports afterwards are the same).
 *
 * One lock for all pools, a leaf: memory.c calls sg_mempool_note_free under its region lock, so
 * this file never calls memory.c while holding it. Calls memory.c.
 */
#include <stdlib.h>

#include "softgpu.h"

struct cached_block {
    struct sg_mempool *pool;
    uint64_t addr, bytes;
    struct sg_ctx *ctx;
    unsigned long long stream_id;
    int releasing;              /* taken out of service; memory.c will report its release */
    struct cached_block *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached_block *cache;   /* newest first */

static void raise_high(_Atomic uint64_t *high, uint64_t value)
{
    uint64_t h = atomic_load(high);
    while (value > h && !atomic_compare_exchange_weak(high, &h, value))
        ;
}

void sg_pool_note_alloc(struct sg_mempool *p, uint64_t bytes, int fresh)
{
    raise_high(&p->used_high, atomic_fetch_add(&p->used, bytes) + bytes);
    if (fresh)
        raise_high(&p->reserved_high, atomic_fetch_add(&p->reserved, bytes) + bytes);
}

/* cache_lock held: unlinks and frees the entry *pp. */
static void unlink_block(struct cached_block **pp)
{
    struct cached_block *b = *pp;
    *pp = b->next;
    free(b);
}

void sg_mempool_note_free(struct sg_mempool *p, uint64_t addr, uint64_t bytes)
{
    int was_cached = 0;
    pthread_mutex_lock(&cache_lock);
    for (struct cached_block **pp = &cache; *pp; pp = &(*pp)->next)
        if ((*pp)->addr == addr && (*pp)->pool == p) {
            unlink_block(pp);
            was_cached = 1;
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    if (!was_cached)
        atomic_fetch_sub(&p->used, bytes);
    atomic_fetch_sub(&p->reserved, bytes);
}

static int reusable_by(const struct cached_block *b, const struct sg_mempool *p,
                       const struct sg_stream *s, uint64_t bytes)
{
    if (b->pool != p || b->releasing || b->bytes != bytes || b->ctx != s->ctx)
        return 0;
    return b->stream_id == s->id || p->reuse_flags[CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC - 1]
           || p->reuse_flags[CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES - 1];
}

uint64_t sg_pool_cache_take(struct sg_mempool *p, struct sg_stream *s, uint64_t bytes)
{
    uint64_t addr = 0;
    pthread_mutex_lock(&cache_lock);
    for (struct cached_block **pp = &cache; *pp; pp = &(*pp)->next)
        if (reusable_by(*pp, p, s, bytes)) {
            addr = (*pp)->addr;
            unlink_block(pp);
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    if (addr)
        sg_pool_note_alloc(p, bytes, 0);
    return addr;
}

/* Marks the oldest cached blocks of p for release until p reserves at most keep bytes;
 * returns them (still linked, marked) in out[], at most max. */
static size_t pick_for_release(struct sg_mempool *p, uint64_t keep, uint64_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&cache_lock);
    uint64_t reserved = atomic_load(&p->reserved);
    while (reserved > keep && n < max) {
        struct cached_block *oldest = NULL;   /* the list is newest first */
        for (struct cached_block *b = cache; b; b = b->next)
            if (b->pool == p && !b->releasing)
                oldest = b;
        if (!oldest)
            break;
        oldest->releasing = 1;
        reserved -= oldest->bytes;
        out[n++] = oldest->addr;
    }
    pthread_mutex_unlock(&cache_lock);
    return n;
}

void sg_pool_cache_trim(struct sg_mempool *p, uint64_t keep)
{
    uint64_t addrs[64];
    size_t n;
    do {
        n = pick_for_release(p, keep, addrs, 64);
        for (size_t i = 0; i < n; i++)
            sg_mem_free(addrs[i], SG_R_DEVICE); /* memory.c calls sg_mempool_note_free */
    } while (n == 64);
}

void sg_pool_cache_put(struct sg_mempool *p, uint64_t addr, struct sg_stream *s)
{
    struct sg_region reg;
    struct cached_block *b = calloc(1, sizeof *b);
    if (!b || sg_mem_find(addr, &reg) != 0 || reg.start != addr) {
        free(b);
        sg_mem_free(addr, SG_R_DEVICE);
        return;
    }
    *b = (struct cached_block){p, addr, reg.span - SG_PAGE_SIZE, reg.ctx, s ? s->id : 0, 0, NULL};
    atomic_fetch_sub(&p->used, b->bytes);
    pthread_mutex_lock(&cache_lock);
    b->next = cache;
    cache = b;
    pthread_mutex_unlock(&cache_lock);
    if (atomic_load(&p->reserved) > p->release_threshold)
        sg_pool_cache_trim(p, p->release_threshold);
}
