/*
 * Context-local storage (see cls.h): a chained hash table under a reader-writer lock, with a
 * one-entry per-thread cache in front of it. Calls only libc and pthreads.
 *
 * cudart calls get at the start of nearly every runtime API call, always with the same key and
 * mostly the same context, while put/delete happen a handful of times per process. So every
 * mutation bumps a global generation counter (under the write lock) and a thread's cached
 * (ctx, key, value, generation) answers get with one atomic load as long as nothing changed.
 */
#include "cls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct cls_entry {
    struct cls_entry *next;
    CUcontext ctx;
    void *key;
    void *value;
    cls_dtor_fn dtor;
};

#define CLS_MIN_BUCKETS 64

static pthread_rwlock_t cls_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cls_entry **cls_buckets;
static size_t cls_nbuckets;
static size_t cls_count;
/* Starts at 1 so that a zeroed per-thread cache never matches. */
static _Atomic uint64_t cls_generation = 1;

struct cls_cache {
    CUcontext ctx;
    void *key;
    void *value;
    uint64_t generation;
};
static __thread struct cls_cache cls_tcache;

static size_t cls_hash(CUcontext ctx, void *key, size_t nbuckets)
{
    uint64_t h = (uint64_t)(uintptr_t)ctx * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)key + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= h >> 29;
    return (size_t)(h & (nbuckets - 1));
}

/* Callers hold the lock (read or write). */
static struct cls_entry **cls_find_slot(CUcontext ctx, void *key)
{
    if (cls_nbuckets == 0)
        return NULL;
    struct cls_entry **slot = &cls_buckets[cls_hash(ctx, key, cls_nbuckets)];
    while (*slot && ((*slot)->ctx != ctx || (*slot)->key != key))
        slot = &(*slot)->next;
    return slot;
}

/* Callers hold the write lock. Keeps the load factor at most 1; a failed grow is harmless
 * (chains just get longer), so it reports nothing. */
static void cls_maybe_grow(void)
{
    if (cls_count < cls_nbuckets)
        return;
    size_t n = cls_nbuckets ? cls_nbuckets * 2 : CLS_MIN_BUCKETS;
    struct cls_entry **fresh = calloc(n, sizeof(*fresh));
    if (!fresh)
        return;
    for (size_t i = 0; i < cls_nbuckets; i++) {
        struct cls_entry *e = cls_buckets[i];
        while (e) {
            struct cls_entry *next = e->next;
            size_t b = cls_hash(e->ctx, e->key, n);
            e->next = fresh[b];
            fresh[b] = e;
            e = next;
        }
    }
    free(cls_buckets);
    cls_buckets = fresh;
    cls_nbuckets = n;
}

static void cls_bump_generation(void)
{
    atomic_fetch_add_explicit(&cls_generation, 1, memory_order_release);
}

CUresult cls_put(CUcontext ctx, void *key, void *value, cls_dtor_fn dtor)
{
    CUresult rc = CUDA_SUCCESS;

    pthread_rwlock_wrlock(&cls_lock);
    cls_maybe_grow();
    struct cls_entry **slot = cls_find_slot(ctx, key);
    if (!slot) {
        rc = CUDA_ERROR_OUT_OF_MEMORY; /* the very first table allocation failed */
    } else if (*slot) {
        (*slot)->value = value;
        (*slot)->dtor = dtor;
    } else {
        struct cls_entry *e = malloc(sizeof(*e));
        if (!e) {
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        } else {
            *e = (struct cls_entry){ .next = NULL, .ctx = ctx, .key = key, .value = value,
                                     .dtor = dtor };
            *slot = e;
            cls_count++;
        }
    }
    if (rc == CUDA_SUCCESS)
        cls_bump_generation();
    pthread_rwlock_unlock(&cls_lock);
    return rc;
}

CUresult cls_delete(CUcontext ctx, void *key)
{
    struct cls_entry *gone = NULL;

    pthread_rwlock_wrlock(&cls_lock);
    struct cls_entry **slot = cls_find_slot(ctx, key);
    if (slot && *slot) {
        gone = *slot;
        *slot = gone->next;
        cls_count--;
        cls_bump_generation();
    }
    pthread_rwlock_unlock(&cls_lock);
    free(gone);
    return gone ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cls_get(void **value, CUcontext ctx, void *key)
{
    struct cls_cache *c = &cls_tcache;

    if (c->ctx == ctx && c->key == key &&
        c->generation == atomic_load_explicit(&cls_generation, memory_order_acquire)) {
        *value = c->value;
        return CUDA_SUCCESS;
    }

    CUresult rc = CUDA_ERROR_INVALID_HANDLE;
    pthread_rwlock_rdlock(&cls_lock);
    struct cls_entry **slot = cls_find_slot(ctx, key);
    if (slot && *slot) {
        *value = (*slot)->value;
        /* The generation cannot move while we hold the read lock, so it dates this value. */
        *c = (struct cls_cache){ .ctx = ctx, .key = key, .value = *value,
                                 .generation = atomic_load_explicit(&cls_generation,
                                                                    memory_order_relaxed) };
        rc = CUDA_SUCCESS;
    }
    pthread_rwlock_unlock(&cls_lock);
    return rc;
}

size_t cls_context_destroyed(CUcontext ctx)
{
    struct cls_entry *removed = NULL;
    size_t n = 0;

    pthread_rwlock_wrlock(&cls_lock);
    for (size_t i = 0; i < cls_nbuckets; i++) {
        struct cls_entry **slot = &cls_buckets[i];
        while (*slot) {
            struct cls_entry *e = *slot;
            if (e->ctx != ctx) {
                slot = &e->next;
                continue;
            }
            *slot = e->next;
            e->next = removed;
            removed = e;
            n++;
        }
    }
    cls_count -= n;
    if (n)
        cls_bump_generation();
    pthread_rwlock_unlock(&cls_lock);

    while (removed) {
        struct cls_entry *e = removed;
        removed = e->next;
        if (e->dtor)
            e->dtor(e->ctx, e->key, e->value);
        free(e);
    }
    return n;
}

size_t cls_size(void)
{
    pthread_rwlock_rdlock(&cls_lock);
    size_t n = cls_count;
    pthread_rwlock_unlock(&cls_lock);
    return n;
}
