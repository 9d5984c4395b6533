/*
 * In-memory inventory of the pool (see pool_inv.h): node table with a name index, pool settings
 * and the (pool, model) candidate groups kept up to date on every node change.
 * Calls pool_map and libc only.
 */
#include "pool_inv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pool_inv_init(struct pool_inv *inv, double default_oversub, enum pool_strategy strategy)
{
    memset(inv, 0, sizeof *inv);
    pool_map_init(&inv->by_name);
    inv->default_oversub = default_oversub >= 1.0 ? default_oversub : 1.0;
    inv->default_strategy = strategy;
}

void pool_inv_free(struct pool_inv *inv)
{
    for (int i = 0; i < inv->nslots; i++)
        free(inv->nodes[i]);
    free(inv->nodes);
    for (int g = 0; g < inv->ngroups; g++)
        free(inv->groups[g].slots);
    free(inv->groups);
    free(inv->pools);
    pool_map_free(&inv->by_name);
    memset(inv, 0, sizeof *inv);
}

struct pool_node *pool_inv_node(const struct pool_inv *inv, const char *name)
{
    return pool_map_get(&inv->by_name, name);
}

struct pool_device *pool_node_device(struct pool_node *n, const char *uuid)
{
    for (int i = 0; i < n->ndev; i++)
        if (strcmp(n->dev[i].uuid, uuid) == 0)
            return &n->dev[i];
    return NULL;
}

static struct pool_group *group_for(struct pool_inv *inv, const char *pool, const char *model,
                                    bool create)
{
    for (int g = 0; g < inv->ngroups; g++)
        if (strcmp(inv->groups[g].pool, pool) == 0 && strcmp(inv->groups[g].model, model) == 0)
            return &inv->groups[g];
    if (!create)
        return NULL;
    if (inv->ngroups == inv->gcap) {
        int cap = inv->gcap ? inv->gcap * 2 : 8;
        struct pool_group *g = realloc(inv->groups, (size_t)cap * sizeof *g);
        if (!g)
            return NULL;
        inv->groups = g;
        inv->gcap = cap;
    }
    struct pool_group *g = &inv->groups[inv->ngroups++];
    memset(g, 0, sizeof *g);
    snprintf(g->pool, sizeof g->pool, "%s", pool);
    snprintf(g->model, sizeof g->model, "%s", model);
    return g;
}

const struct pool_group *pool_inv_group(const struct pool_inv *inv, const char *pool,
                                        const char *model)
{
    return group_for((struct pool_inv *)inv, pool, model, false);
}

static void group_remove_slot(struct pool_inv *inv, int slot)
{
    for (int g = 0; g < inv->ngroups; g++) {
        struct pool_group *grp = &inv->groups[g];
        for (int i = 0; i < grp->count; i++)
            if (grp->slots[i] == slot) {
                grp->slots[i] = grp->slots[--grp->count];
                break;
            }
    }
}

static bool group_add_slot(struct pool_group *g, int slot)
{
    for (int i = 0; i < g->count; i++)
        if (g->slots[i] == slot)
            return true;
    if (g->count == g->cap) {
        int cap = g->cap ? g->cap * 2 : 16;
        int *s = realloc(g->slots, (size_t)cap * sizeof *s);
        if (!s)
            return false;
        g->slots = s;
        g->cap = cap;
    }
    g->slots[g->count++] = slot;
    return true;
}

/* Groups are never removed, so a device can keep its group's index (an int compare in the
 * placement loop instead of a string compare). */
static bool index_node(struct pool_inv *inv, struct pool_node *n)
{
    for (int i = 0; i < n->ndev; i++) {
        struct pool_group *g = group_for(inv, n->pool, n->dev[i].model, true);
        if (!g || !group_add_slot(g, n->slot))
            return false;
        n->dev[i].group = (int)(g - inv->groups);
    }
    return true;
}

/* Moves bookings of old devices onto the new description; fails if one would be lost. */
static int carry_bookings(const struct pool_node *old, struct pool_node *n, char *err,
                          size_t errlen)
{
    for (int i = 0; i < old->ndev; i++) {
        const struct pool_device *od = &old->dev[i];
        if (od->vgpus == 0)
            continue;
        struct pool_device *nd = pool_node_device(n, od->uuid);
        if (!nd) {
            snprintf(err, errlen, "device %s has %d vGPU(s) allocated and cannot disappear",
                     od->uuid, od->vgpus);
            return -1;
        }
        if (nd->memory_bytes < od->vram_booked) {
            snprintf(err, errlen, "device %s: memory_bytes below the %llu bytes allocated",
                     od->uuid, (unsigned long long)od->vram_booked);
            return -1;
        }
        if (strcmp(old->pool, n->pool) != 0) {
            snprintf(err, errlen, "node has allocations and cannot move from pool %s to %s",
                     old->pool, n->pool);
            return -1;
        }
        nd->tflops_booked = od->tflops_booked;
        nd->vram_booked = od->vram_booked;
        nd->vgpus = od->vgpus;
    }
    return 0;
}

static int free_slot(struct pool_inv *inv)
{
    for (int i = 0; i < inv->nslots; i++)
        if (!inv->nodes[i])
            return i;
    if (inv->nslots == inv->cap) {
        int cap = inv->cap ? inv->cap * 2 : 64;
        struct pool_node **t = realloc(inv->nodes, (size_t)cap * sizeof *t);
        if (!t)
            return -1;
        inv->nodes = t;
        inv->cap = cap;
    }
    inv->nodes[inv->nslots] = NULL;
    return inv->nslots++;
}

struct pool_node *pool_inv_put_node(struct pool_inv *inv, const struct pool_node *n, char *err,
                                    size_t errlen)
{
    struct pool_node *old = pool_inv_node(inv, n->name);
    struct pool_node *copy = malloc(sizeof *copy);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *copy = *n;
    for (int i = 0; i < copy->ndev; i++) {
        copy->dev[i].tflops_booked = 0;
        copy->dev[i].vram_booked = 0;
        copy->dev[i].vgpus = 0;
    }
    if (old && carry_bookings(old, copy, err, errlen) != 0) {
        free(copy);
        return NULL;
    }
    int slot = old ? old->slot : free_slot(inv);
    if (slot < 0 || !pool_map_put(&inv->by_name, copy->name, copy)) {
        snprintf(err, errlen, "out of memory");
        free(copy);
        return NULL;
    }
    copy->slot = slot;
    group_remove_slot(inv, slot);
    free(old);
    inv->nodes[slot] = copy;
    if (!old)
        inv->nnodes++;
    if (!index_node(inv, copy)) {
        snprintf(err, errlen, "out of memory");
        pool_inv_remove_node(inv, copy->name);
        return NULL;
    }
    return copy;
}

void pool_inv_remove_node(struct pool_inv *inv, const char *name)
{
    struct pool_node *n = pool_map_del(&inv->by_name, name);
    if (!n)
        return;
    group_remove_slot(inv, n->slot);
    inv->nodes[n->slot] = NULL;
    inv->nnodes--;
    free(n);
}

struct pool_def pool_inv_pool(const struct pool_inv *inv, const char *name)
{
    for (int i = 0; i < inv->npools; i++)
        if (strcmp(inv->pools[i].name, name) == 0)
            return inv->pools[i];
    struct pool_def d = {.oversub = inv->default_oversub, .strategy = inv->default_strategy};
    snprintf(d.name, sizeof d.name, "%s", name);
    return d;
}

bool pool_inv_set_pool(struct pool_inv *inv, const struct pool_def *def)
{
    for (int i = 0; i < inv->npools; i++)
        if (strcmp(inv->pools[i].name, def->name) == 0) {
            inv->pools[i] = *def;
            return true;
        }
    if (inv->npools == inv->pcap) {
        int cap = inv->pcap ? inv->pcap * 2 : 4;
        struct pool_def *p = realloc(inv->pools, (size_t)cap * sizeof *p);
        if (!p)
            return false;
        inv->pools = p;
        inv->pcap = cap;
    }
    inv->pools[inv->npools++] = *def;
    return true;
}

void pool_device_book(struct pool_device *d, double tflops, uint64_t vram)
{
    d->tflops_booked += tflops;
    d->vram_booked += vram;
    d->vgpus++;
}

void pool_device_unbook(struct pool_device *d, double tflops, uint64_t vram)
{
    d->tflops_booked = d->tflops_booked > tflops ? d->tflops_booked - tflops : 0;
    d->vram_booked = d->vram_booked > vram ? d->vram_booked - vram : 0;
    if (d->vgpus > 0)
        d->vgpus--;
    if (d->vgpus == 0) { /* no rounding residue on an empty device */
        d->tflops_booked = 0;
        d->vram_booked = 0;
    }
}
