/*
 * A string-keyed hash map (key -> pointer) with separate chaining: the inventory's indices
 * (node by name, allocation by id and by idempotency key, quota by tenant). The map copies keys
 * and never owns values. Calls only libc.
 */
#ifndef TFUSE_POOL_MAP_H
#define TFUSE_POOL_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct pool_map_entry;

struct pool_map {
    struct pool_map_entry **buckets;
    size_t nbuckets;
    size_t count;
};

void pool_map_init(struct pool_map *m);
void pool_map_free(struct pool_map *m);
void *pool_map_get(const struct pool_map *m, const char *key);
/* Inserts or replaces; returns false only when out of memory. */
bool pool_map_put(struct pool_map *m, const char *key, void *value);
/* Returns the removed value, NULL when absent. */
void *pool_map_del(struct pool_map *m, const char *key);
/* Calls fn for every entry; fn must not modify the map. */
void pool_map_each(const struct pool_map *m, void (*fn)(const char *key, void *value, void *arg),
                   void *arg);

#endif
