/*
 * Prometheus text exposition of the node (see metrics.h, docs/metrics.md). Two phases so that
 * no lock is held inside another: the vGPUs are copied under the vGPU lock, then the session
 * table is read under its own lock; the text is written from those copies.
 *
 * May call: vgpus.h, sessions.h, api.h, libc.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "owner.h"
#include "vgpus_freeze.h"
#include "vgpu_mem.h"
#include "transport.h"
#include "tfuse/version.h"

struct buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped (the exposition format's rule). */
static const char *esc(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; s && *s && o + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return out;
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- snapshots ---- */

struct vgpu_snap {
    int dev, slot;
    uint64_t generation;
    char id[VGPU_ID_MAX], qos[16];
    char owner_labels[2 * NODE_OWNER_MAX + 40];   /* ",slurm_job=..,slurm_step=.." or "" */
    uint64_t used, limit, peak, denied, busy_ns, throttled_ns;
    double request, limit_share, used_share;
    int unlimited, sessions;
    struct node_sessions_fold sum;   /* ended + live sessions of this vGPU */
};

/* Slots of a region (the node makes VGPU_MAX_SLOTS; never read past a smaller one). */
static int slots_of(const struct vgpu_region *r)
{
    return r->hdr->nslots < VGPU_MAX_SLOTS ? (int)r->hdr->nslots : VGPU_MAX_SLOTS;
}

/* The labels a vGPU's owner adds to its series: a Slurm job step's ids (docs/slurm.md), whose
 * characters need no escaping (node_owner_slurm admits none that would). */
static void owner_labels(const char *owner, char *out, size_t len)
{
    char job[NODE_OWNER_MAX], step[NODE_OWNER_MAX];
    out[0] = '\0';
    if (node_owner_slurm(owner, job, sizeof job, step, sizeof step))
        snprintf(out, len, ",slurm_job=\"%s\",slurm_step=\"%s\"", job, step);
}

static int snap_vgpus(struct node_vgpus *v, struct vgpu_snap **out)
{
    int n = 0;
    pthread_mutex_lock(&v->lock);
    for (int d = 0; d < v->ndev; d++)
        for (int i = 0; i < slots_of(v->regions[d]); i++) {
            uint32_t st = atomic_load(&v->regions[d]->slots[i].state);
            n += st == VGPU_SLOT_LIVE || st == VGPU_SLOT_DELETED;
        }
    struct vgpu_snap *g = calloc(n ? (size_t)n : 1, sizeof *g);
    int k = 0;
    for (int d = 0; g && d < v->ndev; d++)
        for (int i = 0; i < slots_of(v->regions[d]) && k < n; i++) {
            struct vgpu_slot *s = &v->regions[d]->slots[i];
            uint32_t st = atomic_load(&s->state);
            if (st != VGPU_SLOT_LIVE && st != VGPU_SLOT_DELETED)
                continue;
            struct vgpu_snap *x = &g[k++];
            x->dev = d;
            x->slot = i;
            x->generation = s->generation;
            snprintf(x->id, sizeof x->id, "%s", s->id);
            snprintf(x->qos, sizeof x->qos, "%s", vgpu_qos_name((int)s->qos));
            owner_labels(v->owner[d][i], x->owner_labels, sizeof x->owner_labels);
            x->used = vgpu_mem_used(s);
            x->limit = s->mem_limit;
            x->peak = atomic_load(&s->mem_peak);
            x->denied = atomic_load(&s->mem_denied);
            x->busy_ns = atomic_load(&s->busy_ns);
            x->throttled_ns = atomic_load(&s->throttled_ns);
            x->unlimited = (int)s->compute_unlimited;
            x->request = s->request_bp / 10000.0;
            x->limit_share = s->limit_bp / 10000.0;
            x->used_share = node_vgpus_used_share_locked(v, d, i);
        }
    pthread_mutex_unlock(&v->lock);
    *out = g;
    return g ? k : -1;
}

static void add_live(struct node_sessions_fold *f, struct tfw_stats *e)
{
    for (int c = 0; c < TFP_CALL_COUNT; c++)
        f->calls[c] += atomic_load_explicit(&e->calls[c], memory_order_relaxed);
    f->calls_total += atomic_load_explicit(&e->calls_total, memory_order_relaxed);
    f->errors_total += atomic_load_explicit(&e->errors_total, memory_order_relaxed);
    f->launches_total += atomic_load_explicit(&e->launches_total, memory_order_relaxed);
    f->bytes_in += atomic_load_explicit(&e->bytes_in, memory_order_relaxed);
    f->bytes_out += atomic_load_explicit(&e->bytes_out, memory_order_relaxed);
}

static struct vgpu_snap *snap_of(struct vgpu_snap *g, int n, const struct tfw_stats *e)
{
    for (int k = 0; k < n; k++)
        if (g[k].dev == e->device && g[k].slot == e->slot &&
            g[k].generation == e->vgpu_generation)
            return &g[k];
    return NULL;
}

/* ---- families ---- */

static void node_families(struct buf *b, struct node_api *a, int active, uint64_t total)
{
    char e1[128];
    family(b, "tfuse_build_info", "gauge", "Build of the node: version, protocol, backend.");
    put(b, "tfuse_build_info{version=\"%s\",protocol=\"%u\",backend=\"%s\"} 1\n",
        TFUSE_VERSION_STRING, (unsigned)TFUSE_PROTOCOL_VERSION, esc(a->backend, e1, sizeof e1));
    family(b, "tfuse_node_draining", "gauge", "1 while the node drains (no new sessions).");
    put(b, "tfuse_node_draining %d\n", atomic_load(&a->draining));
    family(b, "tfuse_node_sessions_active", "gauge", "Sessions being served now.");
    put(b, "tfuse_node_sessions_active %d\n", active);
    family(b, "tfuse_node_sessions_total", "counter", "Sessions served since the node started.");
    put(b, "tfuse_node_sessions_total %llu\n", (unsigned long long)total);
}

static void device_families(struct buf *b, struct node_vgpus *v, struct vgpu_snap *g, int n)
{
    char uuid[128], model[256];
    static const char *const names[6][3] = {
        {"tfuse_device_memory_total_bytes", "gauge", "Memory of the device."},
        {"tfuse_device_memory_used_bytes", "gauge", "Memory held by the device's vGPUs."},
        {"tfuse_device_memory_limit_sum_bytes", "gauge",
         "Sum of the memory limits of the device's vGPUs."},
        {"tfuse_device_utilization_ratio", "gauge",
         "Busy share of the device over about the last second, from its vGPUs' kernel time."},
        {"tfuse_device_warm_workers", "gauge",
         "Warm workers of the device: started, a context made, no session yet."},
        {"tfuse_device_warm_bytes", "gauge",
         "Memory charged to the node for the warm workers' contexts (not to any vGPU)."},
    };
    for (int f = 0; f < 6; f++) {
        family(b, names[f][0], names[f][1], names[f][2]);
        for (int d = 0; d < v->ndev; d++) {
            uint64_t used = 0;
            double util = 0;
            for (int k = 0; k < n; k++)
                if (g[k].dev == d)
                    used += g[k].used, util += g[k].used_share;
            put(b, "%s{device=\"%s\",model=\"%s\"} ", names[f][0],
                esc(v->dev[d].uuid, uuid, sizeof uuid), esc(v->dev[d].name, model, sizeof model));
            if (f == 0)
                put(b, "%llu\n", (unsigned long long)v->dev[d].memory);
            else if (f == 1)
                put(b, "%llu\n", (unsigned long long)used);
            else if (f == 2)
                put(b, "%llu\n",
                    (unsigned long long)atomic_load(&v->regions[d]->hdr->mem_limit_sum));
            else if (f == 3)
                put(b, "%.6f\n", util > 1 ? 1.0 : util);
            else if (f == 4)
                put(b, "%d\n", atomic_load(&v->warm_workers[d]));
            else
                put(b, "%llu\n", (unsigned long long)atomic_load(&v->warm_bytes[d]));
        }
    }
}

/* One value of a vGPU family; what = index into the table of vgpu_families. */
static int vgpu_value(const struct vgpu_snap *x, int what, char *out, size_t len)
{
    switch (what) {
    case 0: return snprintf(out, len, "%llu", (unsigned long long)x->used);
    case 1: return snprintf(out, len, "%llu", (unsigned long long)x->limit);
    case 2: return snprintf(out, len, "%llu", (unsigned long long)x->peak);
    case 3: return snprintf(out, len, "%llu", (unsigned long long)x->denied);
    case 4: return x->unlimited ? 0 : snprintf(out, len, "%.4f", x->request);
    case 5: return x->unlimited ? 0 : snprintf(out, len, "%.4f", x->limit_share);
    case 6: return snprintf(out, len, "%.6f", x->used_share);
    case 7: return snprintf(out, len, "%.9f", (double)x->throttled_ns / 1e9);
    case 8: return snprintf(out, len, "%.9f", (double)x->busy_ns / 1e9);
    case 9: return snprintf(out, len, "%llu", (unsigned long long)x->sum.launches_total);
    case 10: return snprintf(out, len, "%llu", (unsigned long long)x->sum.errors_total);
    case 11: return snprintf(out, len, "%d", x->sessions);
    default: return 0;
    }
}

static void vgpu_families(struct buf *b, struct node_vgpus *v, struct vgpu_snap *g, int n)
{
    static const char *const fams[][3] = {
        {"tfuse_vgpu_memory_used_bytes", "gauge", "Memory the vGPU's processes hold."},
        {"tfuse_vgpu_memory_limit_bytes", "gauge", "The vGPU's memory limit."},
        {"tfuse_vgpu_memory_peak_bytes", "gauge", "Highest memory use of the vGPU."},
        {"tfuse_vgpu_memory_denied_total", "counter",
         "Allocations refused because they would pass the vGPU's memory limit."},
        {"tfuse_vgpu_compute_request_ratio", "gauge",
         "Guaranteed share of the device (absent for an unlimited vGPU)."},
        {"tfuse_vgpu_compute_limit_ratio", "gauge",
         "Maximum share of the device (absent for an unlimited vGPU)."},
        {"tfuse_vgpu_compute_used_ratio", "gauge",
         "Share of the device the vGPU used over about the last second."},
        {"tfuse_vgpu_throttled_seconds_total", "counter",
         "Time launches of the vGPU waited for compute tokens (summed over processes)."},
        {"tfuse_vgpu_busy_seconds_total", "counter", "Device time of the vGPU's kernels."},
        {"tfuse_vgpu_launches_total", "counter", "Kernel and graph launches of the vGPU."},
        {"tfuse_vgpu_errors_total", "counter", "Calls of the vGPU's sessions that failed."},
        {"tfuse_vgpu_sessions", "gauge", "Sessions attached to the vGPU now."},
    };
    char id[160], dev[128], qos[32], val[64];
    for (int f = 0; f < (int)(sizeof fams / sizeof fams[0]); f++) {
        family(b, fams[f][0], fams[f][1], fams[f][2]);
        for (int k = 0; k < n; k++)
            if (vgpu_value(&g[k], f, val, sizeof val) > 0)
                put(b, "%s{vgpu=\"%s\",device=\"%s\",qos=\"%s\"%s} %s\n", fams[f][0],
                    esc(g[k].id, id, sizeof id), esc(v->dev[g[k].dev].uuid, dev, sizeof dev),
                    esc(g[k].qos, qos, sizeof qos), g[k].owner_labels, val);
    }
    family(b, "tfuse_vgpu_calls_total", "counter",
           "Calls of the vGPU's sessions by CUDA call (calls made at least once).");
    for (int k = 0; k < n; k++)
        for (int c = 0; c < TFP_CALL_COUNT; c++)
            if (g[k].sum.calls[c])
                put(b, "tfuse_vgpu_calls_total{vgpu=\"%s\",device=\"%s\",qos=\"%s\"%s,"
                    "call=\"%s\"} %llu\n", esc(g[k].id, id, sizeof id),
                    esc(v->dev[g[k].dev].uuid, dev, sizeof dev), esc(g[k].qos, qos, sizeof qos),
                    g[k].owner_labels, tfp_call_name((uint32_t)c),
                    (unsigned long long)g[k].sum.calls[c]);
    family(b, "tfuse_vgpu_transfer_bytes_total", "counter",
           "Bulk bytes the vGPU's sessions moved, by direction (in: to the worker).");
    for (int k = 0; k < n; k++)
        for (int dir = 0; dir < 2; dir++)
            put(b, "tfuse_vgpu_transfer_bytes_total{vgpu=\"%s\",device=\"%s\",qos=\"%s\"%s,"
                "direction=\"%s\"} %llu\n", esc(g[k].id, id, sizeof id),
                esc(v->dev[g[k].dev].uuid, dev, sizeof dev), esc(g[k].qos, qos, sizeof qos),
                g[k].owner_labels, dir ? "out" : "in",
                (unsigned long long)(dir ? g[k].sum.bytes_out : g[k].sum.bytes_in));
}

static void session_families(struct buf *b, struct node_sessions *t, struct node_vgpus *v)
{
    char vg[160];
    family(b, "tfuse_session_memory_bytes", "gauge", "Memory a session holds on its vGPU.");
    for (int i = 0; i < t->cap; i++) {
        struct tfw_stats *e = &t->table[i];
        if (node_session_listed(e))
            put(b, "tfuse_session_memory_bytes{session=\"%d\",vgpu=\"%s\"} %llu\n",
                (int)atomic_load(&e->worker_pid), esc(e->vgpu, vg, sizeof vg),
                (unsigned long long)node_session_memory(e, v));
    }
    family(b, "tfuse_session_calls_total", "counter", "Calls a session made.");
    for (int i = 0; i < t->cap; i++) {
        struct tfw_stats *e = &t->table[i];
        if (node_session_listed(e))
            put(b, "tfuse_session_calls_total{session=\"%d\",vgpu=\"%s\"} %llu\n",
                (int)atomic_load(&e->worker_pid), esc(e->vgpu, vg, sizeof vg),
                (unsigned long long)atomic_load(&e->calls_total));
    }
}

static void histogram(struct buf *b, uint64_t h[TFW_CLASS_COUNT][TFW_STATS_BUCKETS + 1],
                      const uint64_t sum_ns[TFW_CLASS_COUNT])
{
    family(b, "tfuse_call_duration_seconds", "histogram",
           "Time the worker took to execute a call, by call class.");
    for (int c = 0; c < TFW_CLASS_COUNT; c++) {
        const char *cls = tfw_call_class_name(c);
        uint64_t cum = 0;
        for (int k = 0; k <= TFW_STATS_BUCKETS; k++) {
            cum += h[c][k];
            if (k < TFW_STATS_BUCKETS)
                put(b, "tfuse_call_duration_seconds_bucket{class=\"%s\",le=\"%g\"} %llu\n", cls,
                    tfw_stats_bucket_le[k], (unsigned long long)cum);
            else
                put(b, "tfuse_call_duration_seconds_bucket{class=\"%s\",le=\"+Inf\"} %llu\n",
                    cls, (unsigned long long)cum);
        }
        put(b, "tfuse_call_duration_seconds_sum{class=\"%s\"} %.9f\n", cls,
            (double)sum_ns[c] / 1e9);
        put(b, "tfuse_call_duration_seconds_count{class=\"%s\"} %llu\n", cls,
            (unsigned long long)cum);
    }
}

/* Under the session lock: totals per vGPU, the histogram, the per-session families. */
static void sessions_part(struct buf *b, struct node_sessions *t, struct node_vgpus *v,
                          struct vgpu_snap *g, int n, int *active, uint64_t *total,
                          struct buf *per_session)
{
    static uint64_t h[TFW_CLASS_COUNT][TFW_STATS_BUCKETS + 1], sum_ns[TFW_CLASS_COUNT];
    (void)b;
    pthread_mutex_lock(&t->lock);   /* also guards the static scratch above */
    memcpy(h, t->hist, sizeof h);
    memcpy(sum_ns, t->hist_sum_ns, sizeof sum_ns);
    for (int k = 0; k < n; k++) {
        const struct node_sessions_fold *f =
            &t->vgpu_fold[g[k].dev * VGPU_MAX_SLOTS + g[k].slot];
        if (f->generation == g[k].generation)
            g[k].sum = *f;
    }
    *active = 0;
    for (int i = 0; i < t->cap; i++) {
        struct tfw_stats *e = &t->table[i];
        if (!node_session_listed(e))
            continue;
        ++*active;
        struct vgpu_snap *x = snap_of(g, n, e);
        if (x) {
            add_live(&x->sum, e);
            x->sessions++;
        }
        for (int c = 0; c < TFW_CLASS_COUNT; c++) {
            for (int k = 0; k <= TFW_STATS_BUCKETS; k++)
                h[c][k] += atomic_load_explicit(&e->hist[c][k], memory_order_relaxed);
            sum_ns[c] += tfw_stats_ticks_to_ns(
                atomic_load_explicit(&e->hist_sum_ticks[c], memory_order_relaxed));
        }
    }
    *total = t->ended + (uint64_t)*active;
    session_families(per_session, t, v);
    histogram(per_session, h, sum_ns);
    pthread_mutex_unlock(&t->lock);
}

char *node_metrics_render(struct node_api *a)
{
    struct buf b = {.cap = 16384}, tail = {.cap = 16384};
    b.p = malloc(b.cap);
    tail.p = malloc(tail.cap);
    struct vgpu_snap *g = NULL;
    int n = b.p && tail.p ? snap_vgpus(a->vgpus, &g) : -1;
    if (n < 0) {
        free(b.p);
        free(tail.p);
        return NULL;
    }
    b.p[0] = tail.p[0] = '\0';
    int active = 0;
    uint64_t total = 0;
    if (a->sessions && a->sessions->table) {
        sessions_part(&b, a->sessions, a->vgpus, g, n, &active, &total, &tail);
    } else {
        static uint64_t zero_h[TFW_CLASS_COUNT][TFW_STATS_BUCKETS + 1];
        static const uint64_t zero_sum[TFW_CLASS_COUNT];
        histogram(&tail, zero_h, zero_sum);
    }
    node_families(&b, a, active, total);
    device_families(&b, a->vgpus, g, n);
    vgpu_families(&b, a->vgpus, g, n);
    char *fz = a->freeze ? node_freeze_metrics(a->freeze) : NULL;   /* vgpus_freeze.h */
    put(&b, "%s%s", fz ? fz : "", tail.p);
    free(fz);
    free(tail.p);
    free(g);
    if (b.failed || tail.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
