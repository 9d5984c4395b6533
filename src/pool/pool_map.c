/*
 * String-keyed hash map with separate chaining and doubling (see pool_map.h). FNV-1a hashing:
 * keys are short names chosen by operators and clients, and the map is behind the pool's lock,
 * so hash flooding only costs the attacker's own requests' latency; chains stay short because the
 * table grows at load factor 1. Calls only libc.
 */
#include "pool_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pool_map_entry {
    struct pool_map_entry *next;
    uint64_t hash;
    void *value;
    char key[];
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void pool_map_init(struct pool_map *m)
{
    memset(m, 0, sizeof *m);
}

void pool_map_free(struct pool_map *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct pool_map_entry *e = m->buckets[i];
        while (e) {
            struct pool_map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

static struct pool_map_entry **find_slot(const struct pool_map *m, const char *key, uint64_t h)
{
    if (!m->nbuckets)
        return NULL;
    struct pool_map_entry **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && !((*p)->hash == h && strcmp((*p)->key, key) == 0))
        p = &(*p)->next;
    return p;
}

void *pool_map_get(const struct pool_map *m, const char *key)
{
    struct pool_map_entry **p = find_slot(m, key, hash_key(key));
    return p && *p ? (*p)->value : NULL;
}

static bool grow(struct pool_map *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    struct pool_map_entry **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct pool_map_entry *e = m->buckets[i];
        while (e) {
            struct pool_map_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return true;
}

bool pool_map_put(struct pool_map *m, const char *key, void *value)
{
    if (m->count >= m->nbuckets && !grow(m))
        return false;
    uint64_t h = hash_key(key);
    struct pool_map_entry **p = find_slot(m, key, h);
    if (*p) {
        (*p)->value = value;
        return true;
    }
    size_t len = strlen(key);
    struct pool_map_entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return false;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, len + 1);
    *p = e;
    m->count++;
    return true;
}

void *pool_map_del(struct pool_map *m, const char *key)
{
    struct pool_map_entry **p = find_slot(m, key, hash_key(key));
    if (!p || !*p)
        return NULL;
    struct pool_map_entry *e = *p;
    void *v = e->value;
    *p = e->next;
    free(e);
    m->count--;
    return v;
}

void pool_map_each(const struct pool_map *m, void (*fn)(const char *key, void *value, void *arg),
                   void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct pool_map_entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, arg);
}
