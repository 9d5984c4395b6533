/*
 * The session's handle set (see session.h); its allocation ranges are src/common/ranges.c.
 * May call: libc, src/common/ranges.h.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#define TFW_TOMBSTONE UINT64_MAX

static size_t slot_of(uint64_t key, size_t cap)
{
    /* Handles are pointers: their low bits are alignment, so mix before masking. */
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int handles_grow(struct tfw_handles *h)
{
    size_t cap = h->cap ? h->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint8_t *kinds = calloc(cap, 1);
    uint64_t *parents = calloc(cap, sizeof *parents);
    if (!keys || !kinds || !parents) {
        free(keys);
        free(kinds);
        free(parents);
        return -1;
    }
    for (size_t i = 0; i < h->cap; i++) {
        uint64_t k = h->keys[i];
        if (k == 0 || k == TFW_TOMBSTONE)
            continue;
        size_t j = slot_of(k, cap);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = k;
        kinds[j] = h->kinds[i];
        parents[j] = h->parents[i];
    }
    free(h->keys);
    free(h->kinds);
    free(h->parents);
    h->keys = keys;
    h->kinds = kinds;
    h->parents = parents;
    h->cap = cap;
    h->used = h->live;
    return 0;
}

static size_t find_slot(const struct tfw_handles *h, uint64_t key)
{
    size_t i = slot_of(key, h->cap);
    while (h->keys[i]) {
        if (h->keys[i] == key)
            return i;
        i = (i + 1) & (h->cap - 1);
    }
    return SIZE_MAX;
}

int tfw_handles_add(struct tfw_handles *h, uint64_t key, enum tfw_kind kind)
{
    return tfw_handles_add_child(h, key, kind, 0);
}

int tfw_handles_add_child(struct tfw_handles *h, uint64_t key, enum tfw_kind kind, uint64_t parent)
{
    if (key == 0 || key == TFW_TOMBSTONE)
        return -1;
    if (h->cap && find_slot(h, key) != SIZE_MAX) {
        size_t i = find_slot(h, key);
        h->kinds[i] = (uint8_t)kind;
        h->parents[i] = parent;
        return 0;
    }
    if ((h->used + 1) * 4 >= h->cap * 3 && handles_grow(h) != 0)
        return -1;
    size_t i = slot_of(key, h->cap);
    while (h->keys[i] && h->keys[i] != TFW_TOMBSTONE)
        i = (i + 1) & (h->cap - 1);
    if (h->keys[i] == 0)
        h->used++;
    h->keys[i] = key;
    h->kinds[i] = (uint8_t)kind;
    h->parents[i] = parent;
    h->live++;
    return 0;
}

enum tfw_kind tfw_handles_kind(const struct tfw_handles *h, uint64_t key)
{
    if (!h->cap || key == 0 || key == TFW_TOMBSTONE)
        return TFW_K_NONE;
    size_t i = find_slot(h, key);
    return i == SIZE_MAX ? TFW_K_NONE : (enum tfw_kind)h->kinds[i];
}

uint64_t tfw_handles_parent(const struct tfw_handles *h, uint64_t key)
{
    if (!h->cap || key == 0 || key == TFW_TOMBSTONE)
        return 0;
    size_t i = find_slot(h, key);
    return i == SIZE_MAX ? 0 : h->parents[i];
}

void tfw_handles_del(struct tfw_handles *h, uint64_t key)
{
    if (!h->cap || key == 0 || key == TFW_TOMBSTONE)
        return;
    size_t i = find_slot(h, key);
    if (i == SIZE_MAX)
        return;
    h->keys[i] = TFW_TOMBSTONE;
    h->kinds[i] = TFW_K_NONE;
    h->live--;
}

void tfw_handles_del_tree(struct tfw_handles *h, uint64_t key, struct tf_ranges *r)
{
    tfw_handles_del(h, key);
    if (r) {   /* module globals */
        size_t j = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->v[i].parent != key)
                r->v[j++] = r->v[i];
        r->n = j;
    }
    for (size_t i = 0; i < h->cap; i++) {
        uint64_t k = h->keys[i];
        if (k == 0 || k == TFW_TOMBSTONE || h->parents[i] != key)
            continue;
        if (h->kinds[i] == TFW_K_NODE)
            tfw_handles_del(h, k);           /* a graph's nodes have no children: no rescan */
        else
            tfw_handles_del_tree(h, k, r);   /* depth: library -> module -> function */
    }
}

void tfw_handles_free(struct tfw_handles *h)
{
    free(h->keys);
    free(h->kinds);
    free(h->parents);
    memset(h, 0, sizeof *h);
}
