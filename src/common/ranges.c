/*
 * Sorted byte ranges (see ranges.h).
 * May call: libc only.
 */
#include "ranges.h"

#include <stdlib.h>
#include <string.h>

/* Index of the last range with base <= addr, or -1. */
static long floor_index(const struct tf_ranges *r, uint64_t addr)
{
    long lo = 0, hi = (long)r->n - 1, best = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (r->v[mid].base <= addr) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

int tf_ranges_add(struct tf_ranges *r, uint64_t base, uint64_t size)
{
    return tf_ranges_add_child(r, base, size, 0);
}

int tf_ranges_add_child(struct tf_ranges *r, uint64_t base, uint64_t size, uint64_t parent)
{
    if (size == 0)
        size = 1;
    static _Atomic uint64_t next_id;
    long i = floor_index(r, base);
    if (i >= 0 && r->v[i].base == base) {
        r->v[i].size = size;
        r->v[i].parent = parent;
        r->v[i].id = ++next_id;
        return 0;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct tf_range *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -1;
        r->v = v;
        r->cap = cap;
    }
    size_t at = (size_t)(i + 1);
    memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof *r->v);
    r->v[at] = (struct tf_range){base, size, parent, ++next_id};
    r->n++;
    return 0;
}

int tf_ranges_contains(const struct tf_ranges *r, uint64_t addr, uint64_t len)
{
    long i = floor_index(r, addr);
    if (i < 0)
        return 0;
    uint64_t end = r->v[i].base + r->v[i].size;
    return addr < end && len <= end - addr;
}

const struct tf_range *tf_ranges_find(const struct tf_ranges *r, uint64_t addr)
{
    long i = floor_index(r, addr);
    return i >= 0 && addr - r->v[i].base < r->v[i].size ? &r->v[i] : NULL;
}

int tf_ranges_is_base(const struct tf_ranges *r, uint64_t base)
{
    long i = floor_index(r, base);
    return i >= 0 && r->v[i].base == base;
}

void tf_ranges_del(struct tf_ranges *r, uint64_t base)
{
    long i = floor_index(r, base);
    if (i < 0 || r->v[i].base != base)
        return;
    memmove(&r->v[i], &r->v[i + 1], (r->n - (size_t)i - 1) * sizeof *r->v);
    r->n--;
}

void tf_ranges_free(struct tf_ranges *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}
