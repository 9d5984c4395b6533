/*
 * The in-memory inventory: nodes (by slot and by name), named pools (oversubscription ratio and
 * default strategy), the (pool, model) -> nodes index that makes placement cost O(candidates),
 * and the booking of TFLOPs/VRAM/vGPU slots on devices. Not thread-safe: the pool service holds
 * its writer lock around every call. Calls pool_map and libc only.
 */
#ifndef TFUSE_POOL_INV_H
#define TFUSE_POOL_INV_H

#include "pool_map.h"
#include "pool_model.h"

/* Nodes of one pool that carry at least one device of one model. */
struct pool_group {
    char pool[POOL_NAME_MAX];
    char model[POOL_NAME_MAX];
    int *slots;
    int count, cap;
};

struct pool_inv {
    struct pool_node **nodes;        /* by slot; NULL for a free slot */
    int nslots, cap;
    int nnodes;
    struct pool_map by_name;
    struct pool_group *groups;
    int ngroups, gcap;
    struct pool_def *pools;
    int npools, pcap;
    double default_oversub;
    enum pool_strategy default_strategy;
};

void pool_inv_init(struct pool_inv *inv, double default_oversub, enum pool_strategy strategy);
void pool_inv_free(struct pool_inv *inv);

struct pool_node *pool_inv_node(const struct pool_inv *inv, const char *name);
struct pool_device *pool_node_device(struct pool_node *n, const char *uuid);

/* Adds a node or replaces the one of the same name. Bookings move over to devices of the same
 * uuid; a device that carries bookings may not disappear nor shrink below its booking
 * (returns -1 with a message in err; the inventory is unchanged). Returns the stored node. */
struct pool_node *pool_inv_put_node(struct pool_inv *inv, const struct pool_node *n, char *err,
                                    size_t errlen);
/* Removes the node (its bookings go with it: the caller releases its allocations first). */
void pool_inv_remove_node(struct pool_inv *inv, const char *name);

/* The pool's settings; a pool nobody configured gets the defaults. */
struct pool_def pool_inv_pool(const struct pool_inv *inv, const char *name);
bool pool_inv_set_pool(struct pool_inv *inv, const struct pool_def *def);

const struct pool_group *pool_inv_group(const struct pool_inv *inv, const char *pool,
                                        const char *model);

/* Compute capacity of a device with the pool's oversubscription applied. */
static inline double pool_device_capacity(const struct pool_device *d, double oversub)
{
    return d->tflops * oversub;
}

/* Books or returns a vGPU on a device. Unbooking never drives a counter negative. */
void pool_device_book(struct pool_device *d, double tflops, uint64_t vram);
void pool_device_unbook(struct pool_device *d, double tflops, uint64_t vram);

#endif
