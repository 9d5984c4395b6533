/*
 * Per-tenant quotas: limits on total TFLOPs, VRAM and vGPU count, with the tenant's current usage
 * (the sum of its live allocations' requests). The pool service checks and charges them inside
 * the same critical section that books devices, so two concurrent requests cannot both slip
 * under a limit. A tenant without limits is tracked for usage only. Calls pool_map and libc.
 */
#ifndef TFUSE_POOL_QUOTA_H
#define TFUSE_POOL_QUOTA_H

#include "pool_map.h"
#include "pool_model.h"

struct pool_quotas {
    struct pool_map by_tenant;         /* tenant -> struct pool_quota (owned) */
};

void pool_quotas_init(struct pool_quotas *qs);
void pool_quotas_free(struct pool_quotas *qs);

/* The tenant's entry; with create, a new unlimited entry is made when absent (NULL on OOM). */
struct pool_quota *pool_quota_get(struct pool_quotas *qs, const char *tenant, bool create);

/* Replaces the limits (usage is kept). */
bool pool_quota_set_limits(struct pool_quotas *qs, const struct pool_quota *limits);

/* 0 when (tflops, vram, vgpus) more fits the limits; -1 with the reason in err otherwise. */
int pool_quota_check(const struct pool_quota *q, double tflops, uint64_t vram, int64_t vgpus,
                     char *err, size_t errlen);
void pool_quota_charge(struct pool_quota *q, double tflops, uint64_t vram, int64_t vgpus);
void pool_quota_refund(struct pool_quota *q, double tflops, uint64_t vram, int64_t vgpus);

/* Calls fn for every tenant known (with limits or usage). */
void pool_quotas_each(struct pool_quotas *qs, void (*fn)(const struct pool_quota *q, void *arg),
                      void *arg);

#endif
