/*
 * Prometheus text exposition of the pool (GET /metrics): capacity, allocated and available
 * TFLOPs/VRAM per pool and model, node and allocation counts, the allocation latency histogram,
 * placements by strategy and failures by reason. Computed from the live inventory at scrape
 * time under the service lock. Calls pool_inv, pool_map, stdio (open_memstream), pthreads.
 */
#include "pool_svc_int.h"
#include "pool_auto_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double pool_latency_bounds[POOL_LAT_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void pool_metrics_observe(struct pool_metrics_state *m, double seconds)
{
    for (int i = 0; i < POOL_LAT_BUCKETS; i++)
        if (seconds <= pool_latency_bounds[i]) {
            m->lat_bucket[i]++;
            break;
        }
    m->lat_count++;
    m->lat_sum += seconds;
}

struct group_totals {
    double cap_tflops, alloc_tflops, avail_tflops;
    double cap_vram, alloc_vram, avail_vram;
    int gpus_healthy, gpus_unhealthy, vgpus;
};

static void sum_group(const struct pool_inv *inv, const struct pool_group *g, struct group_totals *t)
{
    double oversub = pool_inv_pool(inv, g->pool).oversub;
    memset(t, 0, sizeof *t);
    for (int i = 0; i < g->count; i++) {
        const struct pool_node *n = inv->nodes[g->slots[i]];
        for (int k = 0; n && k < n->ndev; k++) {
            const struct pool_device *d = &n->dev[k];
            if (strcmp(d->model, g->model) != 0)
                continue;
            double cap = pool_device_capacity(d, oversub);
            t->cap_tflops += cap;
            t->alloc_tflops += d->tflops_booked;
            t->cap_vram += (double)d->memory_bytes;
            t->alloc_vram += (double)d->vram_booked;
            t->vgpus += d->vgpus;
            if (n->healthy) {
                t->gpus_healthy++;
                t->avail_tflops += cap > d->tflops_booked ? cap - d->tflops_booked : 0;
                t->avail_vram += (double)(d->memory_bytes - d->vram_booked);
            } else {
                t->gpus_unhealthy++;
            }
        }
    }
}

static void gauge_header(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void render_groups(FILE *f, const struct pool_inv *inv)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } gauges[] = {
        {"tfuse_pool_capacity_tflops", "TFLOPs capacity (oversubscription applied)",
         offsetof(struct group_totals, cap_tflops)},
        {"tfuse_pool_allocated_tflops", "TFLOPs booked by allocations",
         offsetof(struct group_totals, alloc_tflops)},
        {"tfuse_pool_available_tflops", "TFLOPs free on healthy nodes",
         offsetof(struct group_totals, avail_tflops)},
        {"tfuse_pool_capacity_vram_bytes", "GPU memory", offsetof(struct group_totals, cap_vram)},
        {"tfuse_pool_allocated_vram_bytes", "GPU memory booked by allocations",
         offsetof(struct group_totals, alloc_vram)},
        {"tfuse_pool_available_vram_bytes", "GPU memory free on healthy nodes",
         offsetof(struct group_totals, avail_vram)},
    };
    struct group_totals *t = calloc((size_t)inv->ngroups + 1, sizeof *t);
    if (!t)
        return;
    for (int g = 0; g < inv->ngroups; g++)
        sum_group(inv, &inv->groups[g], &t[g]);
    for (size_t k = 0; k < sizeof gauges / sizeof *gauges; k++) {
        gauge_header(f, gauges[k].name, gauges[k].help);
        for (int g = 0; g < inv->ngroups; g++)
            fprintf(f, "%s{pool=\"%s\",model=\"%s\"} %.17g\n", gauges[k].name, inv->groups[g].pool,
                    inv->groups[g].model, *(double *)((char *)&t[g] + gauges[k].off));
    }
    gauge_header(f, "tfuse_pool_gpus", "Physical GPUs by node health");
    for (int g = 0; g < inv->ngroups; g++)
        fprintf(f,
                "tfuse_pool_gpus{pool=\"%s\",model=\"%s\",health=\"healthy\"} %d\n"
                "tfuse_pool_gpus{pool=\"%s\",model=\"%s\",health=\"unhealthy\"} %d\n",
                inv->groups[g].pool, inv->groups[g].model, t[g].gpus_healthy, inv->groups[g].pool,
                inv->groups[g].model, t[g].gpus_unhealthy);
    gauge_header(f, "tfuse_pool_vgpus", "vGPUs booked");
    for (int g = 0; g < inv->ngroups; g++)
        fprintf(f, "tfuse_pool_vgpus{pool=\"%s\",model=\"%s\"} %d\n", inv->groups[g].pool,
                inv->groups[g].model, t[g].vgpus);
    free(t);
}

struct alloc_counts {
    const struct pool_svc *svc;
    int active, pending, lost;
};

static void count_alloc(const char *key, void *value, void *arg)
{
    (void)key;
    struct alloc_counts *c = arg;
    const struct pool_alloc *a = value;
    const struct pool_node *n = pool_inv_node(&c->svc->inv, a->node);
    if (a->status == POOL_ALLOC_PENDING)
        c->pending++;
    else if (!n || !n->healthy)
        c->lost++;
    else
        c->active++;
}

static void render_counts(FILE *f, const struct pool_svc *svc)
{
    int healthy = 0, unhealthy = 0;
    for (int i = 0; i < svc->inv.nslots; i++)
        if (svc->inv.nodes[i])
            svc->inv.nodes[i]->healthy ? healthy++ : unhealthy++;
    gauge_header(f, "tfuse_pool_nodes", "Registered nodes by health");
    fprintf(f, "tfuse_pool_nodes{health=\"healthy\"} %d\ntfuse_pool_nodes{health=\"unhealthy\"} %d\n",
            healthy, unhealthy);
    struct alloc_counts c = {.svc = svc};
    pool_map_each(&svc->allocs, count_alloc, &c);
    gauge_header(f, "tfuse_pool_allocations", "Allocations by reported status");
    fprintf(f,
            "tfuse_pool_allocations{status=\"active\"} %d\n"
            "tfuse_pool_allocations{status=\"pending\"} %d\n"
            "tfuse_pool_allocations{status=\"lost\"} %d\n",
            c.active, c.pending, c.lost);
}

static void render_counters(FILE *f, const struct pool_metrics_state *m)
{
    fprintf(f, "# HELP tfuse_pool_allocation_latency_seconds Time to serve a successful "
               "allocation (placement, booking, store, node calls)\n"
               "# TYPE tfuse_pool_allocation_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < POOL_LAT_BUCKETS; i++) {
        cum += m->lat_bucket[i];
        fprintf(f, "tfuse_pool_allocation_latency_seconds_bucket{le=\"%g\"} %llu\n",
                pool_latency_bounds[i], (unsigned long long)cum);
    }
    fprintf(f,
            "tfuse_pool_allocation_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
            "tfuse_pool_allocation_latency_seconds_sum %.9g\n"
            "tfuse_pool_allocation_latency_seconds_count %llu\n",
            (unsigned long long)m->lat_count, m->lat_sum, (unsigned long long)m->lat_count);
    fprintf(f, "# HELP tfuse_pool_placements_total Successful allocations by strategy\n"
               "# TYPE tfuse_pool_placements_total counter\n");
    for (int s = 0; s < POOL_STRATEGY_COUNT; s++)
        fprintf(f, "tfuse_pool_placements_total{strategy=\"%s\"} %llu\n",
                pool_strategy_name((enum pool_strategy)s), (unsigned long long)m->placements[s]);
    fprintf(f, "# HELP tfuse_pool_allocation_failures_total Failed allocations by reason\n"
               "# TYPE tfuse_pool_allocation_failures_total counter\n");
    for (int r = 0; r < POOL_FAIL_COUNT; r++)
        fprintf(f, "tfuse_pool_allocation_failures_total{reason=\"%s\"} %llu\n",
                pool_fail_reason_name((enum pool_fail_reason)r), (unsigned long long)m->failures[r]);
}

char *pool_svc_metrics(struct pool_svc *svc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    pthread_mutex_lock(&svc->lock);
    render_groups(f, &svc->inv);
    render_counts(f, svc);
    render_counters(f, &svc->metrics);
    pool_auto_metrics_locked(svc, f);
    pthread_mutex_unlock(&svc->lock);
    fclose(f);
    return text;
}
