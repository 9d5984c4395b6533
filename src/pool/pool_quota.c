/*
 * Tenant quota bookkeeping (see pool_quota.h). Comparisons allow a tiny epsilon on TFLOPs so that
 * sums of fractional requests that exactly reach a limit are accepted. Calls pool_map and libc.
 */
#include "pool_quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-9

void pool_quotas_init(struct pool_quotas *qs)
{
    pool_map_init(&qs->by_tenant);
}

static void free_one(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void pool_quotas_free(struct pool_quotas *qs)
{
    pool_map_each(&qs->by_tenant, free_one, NULL);
    pool_map_free(&qs->by_tenant);
}

struct pool_quota *pool_quota_get(struct pool_quotas *qs, const char *tenant, bool create)
{
    struct pool_quota *q = pool_map_get(&qs->by_tenant, tenant);
    if (q || !create)
        return q;
    q = calloc(1, sizeof *q);
    if (!q || !pool_copy_name(q->tenant, sizeof q->tenant, tenant)) {
        free(q);
        return NULL;
    }
    q->max_tflops = -1;
    q->max_vram = -1;
    q->max_vgpus = -1;
    if (!pool_map_put(&qs->by_tenant, q->tenant, q)) {
        free(q);
        return NULL;
    }
    return q;
}

bool pool_quota_set_limits(struct pool_quotas *qs, const struct pool_quota *limits)
{
    struct pool_quota *q = pool_quota_get(qs, limits->tenant, true);
    if (!q)
        return false;
    q->max_tflops = limits->max_tflops;
    q->max_vram = limits->max_vram;
    q->max_vgpus = limits->max_vgpus;
    return true;
}

int pool_quota_check(const struct pool_quota *q, double tflops, uint64_t vram, int64_t vgpus,
                     char *err, size_t errlen)
{
    if (!q)
        return 0;
    if (q->max_tflops >= 0 && q->used_tflops + tflops > q->max_tflops + EPS) {
        snprintf(err, errlen, "tenant %s: %.3f TFLOPs in use + %.3f requested exceeds quota %.3f",
                 q->tenant, q->used_tflops, tflops, q->max_tflops);
        return -1;
    }
    if (q->max_vram >= 0 && (vram > (uint64_t)q->max_vram ||
                             q->used_vram > (uint64_t)q->max_vram - vram)) {
        snprintf(err, errlen, "tenant %s: %llu bytes of VRAM in use + %llu requested exceeds quota %lld",
                 q->tenant, (unsigned long long)q->used_vram, (unsigned long long)vram,
                 (long long)q->max_vram);
        return -1;
    }
    if (q->max_vgpus >= 0 && q->used_vgpus + vgpus > q->max_vgpus) {
        snprintf(err, errlen, "tenant %s: %lld vGPUs in use + %lld requested exceeds quota %lld",
                 q->tenant, (long long)q->used_vgpus, (long long)vgpus, (long long)q->max_vgpus);
        return -1;
    }
    return 0;
}

void pool_quota_charge(struct pool_quota *q, double tflops, uint64_t vram, int64_t vgpus)
{
    q->used_tflops += tflops;
    q->used_vram += vram;
    q->used_vgpus += vgpus;
}

void pool_quota_refund(struct pool_quota *q, double tflops, uint64_t vram, int64_t vgpus)
{
    q->used_tflops = q->used_tflops > tflops ? q->used_tflops - tflops : 0;
    q->used_vram = q->used_vram > vram ? q->used_vram - vram : 0;
    q->used_vgpus = q->used_vgpus > vgpus ? q->used_vgpus - vgpus : 0;
    if (q->used_vgpus == 0) { /* no rounding residue once the tenant holds nothing */
        q->used_tflops = 0;
        q->used_vram = 0;
    }
}

struct each_arg {
    void (*fn)(const struct pool_quota *q, void *arg);
    void *arg;
};

static void each_one(const char *key, void *value, void *arg)
{
    (void)key;
    struct each_arg *e = arg;
    e->fn(value, e->arg);
}

void pool_quotas_each(struct pool_quotas *qs, void (*fn)(const struct pool_quota *q, void *arg),
                      void *arg)
{
    struct each_arg e = {fn, arg};
    pool_map_each(&qs->by_tenant, each_one, &e);
}
