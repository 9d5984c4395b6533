/*
 * The handle translation of a session that migrated (migrate.h): two maps, held -> now (the
 * value the program holds -> the backend's object) and now -> held (for replies).
 *
 * Why stand-ins: after a migration the old objects are destroyed, and the backend may hand
 * out one of their addresses again for a new object. The program still holds that address
 * for the migrated object, so the new object is given a stand-in value the program has never
 * seen (an address no process can have: bit 63 set, which x86-64 and AArch64 user space never
 * use), and translated like the others.
 *
 * Owns: struct tfw_xlate. May call: libc.
 */
#include <stdlib.h>

#include "migrate.h"

#define STANDIN_BASE 0xf1f0000000000000ull

struct map {   /* open addressing, linear probing; key 0 empty, key 1 deleted */
    uint64_t *k, *v;
    size_t cap, used;
};

struct tfw_xlate {
    struct map fwd, rev;
    uint64_t next_standin;
};

static size_t slot(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static size_t find(const struct map *m, uint64_t key)
{
    if (!m->cap || key <= 1)
        return SIZE_MAX;
    for (size_t i = slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->k[i] == key)
            return i;
        if (m->k[i] == 0)
            return SIZE_MAX;
    }
}

static int put(struct map *m, uint64_t key, uint64_t val);

static int grow(struct map *m)
{
    struct map n = {calloc(m->cap ? m->cap * 2 : 64, 8), NULL, m->cap ? m->cap * 2 : 64, 0};
    n.v = calloc(n.cap, 8);
    if (!n.k || !n.v) {
        free(n.k);
        free(n.v);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->k[i] > 1)
            put(&n, m->k[i], m->v[i]);
    free(m->k);
    free(m->v);
    *m = n;
    return 0;
}

static int put(struct map *m, uint64_t key, uint64_t val)
{
    size_t i = find(m, key);
    if (i != SIZE_MAX) {
        m->v[i] = val;
        return 0;
    }
    if ((m->used + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    for (i = slot(key, m->cap); m->k[i] > 1; i = (i + 1) & (m->cap - 1))
        ;
    m->used += m->k[i] == 0;
    m->k[i] = key;
    m->v[i] = val;
    return 0;
}

static void del(struct map *m, uint64_t key)
{
    size_t i = find(m, key);
    if (i != SIZE_MAX)
        m->k[i] = 1;
}

uint64_t tfw_xlate_in(const struct tfw_xlate *x, uint64_t v)
{
    size_t i = find(&x->fwd, v);
    return i == SIZE_MAX ? v : x->fwd.v[i];
}

uint64_t tfw_xlate_out(struct tfw_xlate *x, uint64_t v)
{
    size_t i = find(&x->rev, v);
    if (i != SIZE_MAX)
        return x->rev.v[i];
    if (find(&x->fwd, v) == SIZE_MAX)
        return v;   /* the program holds no other object under this value */
    uint64_t standin = STANDIN_BASE + (x->next_standin += 16);
    if (put(&x->fwd, standin, v) != 0 || put(&x->rev, v, standin) != 0)
        return v;   /* out of memory: the program's next use of it is refused */
    return standin;
}

void tfw_xlate_forget(struct tfw_xlate *x, uint64_t held, uint64_t now)
{
    if (!x)
        return;
    if (held != now)
        del(&x->fwd, held);
    del(&x->rev, now);
}

int tfw_xlate_rebind(struct tfw_xlate **x, uint64_t was, uint64_t now)
{
    if (!*x && !(*x = calloc(1, sizeof **x)))
        return -1;
    size_t i = find(&(*x)->rev, was);
    uint64_t held = i == SIZE_MAX ? was : (*x)->rev.v[i];
    del(&(*x)->rev, was);
    return put(&(*x)->fwd, held, now) == 0 && put(&(*x)->rev, now, held) == 0 ? 0 : -1;
}

void tfw_xlate_free(struct tfw_xlate *x)
{
    if (!x)
        return;
    free(x->fwd.k);
    free(x->fwd.v);
    free(x->rev.k);
    free(x->rev.v);
    free(x);
}
