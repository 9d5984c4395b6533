/*
 * The module image cache (modcache.c): images a session loaded, kept on disk by SHA-256 so that
 * a later session sends only the hash. The cache is split into scopes, one folder per tenant:
 * a vGPU's sessions use the scope named by a one-way hash of the vGPU's token, sessions without
 * a vGPU (they hold the node's session token, or the node has none) share the scope "node".
 * A session looks only in its own scope, so asking for an image by hash says nothing about
 * what other tenants loaded and never hands out their bytes.
 *
 * An image is written only after the backend loaded it (the driver's own parser is the
 * validation), and only when it fits the bounds: bytes per scope, bytes in all, and files per
 * scope; to make room the least recently used images go first (a cache hit refreshes an image's
 * modification time), the writer's own scope before the others'. Writers of every worker
 * serialize on DIR/.lock (flock).
 *
 * Owns: the cache folder's layout. May call: libc, src/proto (SHA-256), log.h.
 */
#ifndef TFUSE_WORKER_MODCACHE_H
#define TFUSE_WORKER_MODCACHE_H

#include <stddef.h>
#include <stdint.h>

#define TFW_CACHE_SCOPE_MAX 40        /* "v-" + 32 hex digits + NUL, rounded up */
#define TFW_CACHE_FILES_PER_SCOPE 1024
#define TFW_CACHE_NODE_SCOPE "node"

struct tfw_cache {
    const char *dir;                  /* the cache folder; NULL: no cache */
    char scope[TFW_CACHE_SCOPE_MAX];  /* this session's scope folder under dir */
    uint64_t max_total;               /* bytes of images in all scopes (0: nothing cached) */
    uint64_t max_scope;               /* bytes of images in one scope (0: nothing cached) */
};

/* The scope of a vGPU's sessions (token: the vGPU's token), or the node scope (token NULL). */
void tfw_cache_scope_name(const char *token, char out[TFW_CACHE_SCOPE_MAX]);

/* The cached image of this scope with this hash and size (malloc'd with 8 spare zero bytes,
 * verified against the hash), or NULL. */
void *tfw_cache_get(const struct tfw_cache *c, const uint8_t hash[32], uint64_t size);

/* Stores an image the backend loaded and the caller hashed itself, evicting to make room; an
 * image larger than a bound is not stored. No-op when present (its use time is refreshed). */
void tfw_cache_put(const struct tfw_cache *c, const uint8_t hash[32], const void *data,
                   uint64_t size);

/* Removes every vGPU scope folder whose name is not among keep[0..nkeep) (the node calls it
 * with its live vGPUs' scopes after a delete and at start). Returns how many were removed. */
int tfw_cache_sweep(const char *dir, const char (*keep)[TFW_CACHE_SCOPE_MAX], int nkeep);

#endif
