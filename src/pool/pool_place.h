/*
 * Placement: where an allocation request goes. Pure functions over the in-memory inventory (no
 * locking, no I/O), so strategies are unit-tested on crafted inventories and cost
 * O(candidate devices): only nodes indexed under the request's (pool, model) are visited.
 *
 *   CompactFirst           fill the fullest GPUs that still fit (best fit): keeps whole GPUs free
 *   LowLoadFirst           the least loaded GPUs (worst fit): spreads load, least interference
 *   NodeCompactGPULowLoad  the fullest node that fits, and on it the least loaded GPUs
 *
 * Filters applied to every candidate: pool, model, node labels, node health, vGPU slots,
 * free VRAM, free TFLOPs (capacity x the pool's oversubscription ratio), and the node when
 * the request names one (a scheduler's choice). A gang (gpu_count > 1)
 * takes distinct GPUs of one model on one node. Calls pool_inv only.
 */
#ifndef TFUSE_POOL_PLACE_H
#define TFUSE_POOL_PLACE_H

#include "pool_inv.h"

struct pool_placement {
    int slot;                          /* node slot in the inventory */
    int ndev;
    int dev[POOL_MAX_GANG];            /* device indices on that node */
    double tflops[POOL_MAX_GANG];      /* the request translated for each device */
    double tflops_limit[POOL_MAX_GANG];
};

/* The TFLOPs a request asks of one device (percent requests scale with the card). */
double pool_req_tflops(const struct pool_alloc_req *req, const struct pool_device *d);
double pool_req_tflops_limit(const struct pool_alloc_req *req, const struct pool_device *d);

/* True when the device can take one more vGPU of (tflops, vram) under the ratio. */
bool pool_device_fits(const struct pool_device *d, double oversub, double tflops, uint64_t vram);

/* Load of a device in 0..1: the larger of its booked compute and memory shares. */
double pool_device_load(const struct pool_device *d, double oversub);

/* Chooses devices for req with strategy s. Returns 0 and fills out, or -1 when nothing fits. */
int pool_place(const struct pool_inv *inv, const struct pool_alloc_req *req, enum pool_strategy s,
               struct pool_placement *out);

/* Why one node can or cannot take a request (a dry run's answer, per node). */
enum pool_verdict { POOL_VERDICT_OK, POOL_VERDICT_OTHER_POOL, POOL_VERDICT_UNHEALTHY,
                    POOL_VERDICT_LABELS, POOL_VERDICT_MODEL, POOL_VERDICT_CAPACITY };

/* Places req on node n alone with the filters and strategy pool_place applies: OK with out
 * and *score (the strategy's preference in 0..1, higher first), or why not. */
enum pool_verdict pool_place_on_node(const struct pool_inv *inv, const struct pool_node *n,
                                     const struct pool_alloc_req *req, enum pool_strategy s,
                                     struct pool_placement *out, double *score);

#endif
