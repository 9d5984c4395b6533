/*
 * Internals of the pool's usage history (pool_usage.c) and autoscaler (pool_autoscale.c),
 * shared by those two files, pool_svc.c (open/close), pool_metrics.c, the heartbeat and
 * pool_chart.c (which reads the history source in use). What
 * a report of a vGPU turns into (an accumulator per vGPU, a sample per period), the history
 * source in use, the autoscaler's thread and counters. Nothing else includes this.
 */
#ifndef TFUSE_POOL_AUTO_INT_H
#define TFUSE_POOL_AUTO_INT_H

#include <pthread.h>
#include <stdio.h>

#include "pool_map.h"
#include "pool_svc.h"
#include "pool_usage.h"

/* One vGPU's reports since its last sample (in memory: a restart starts a new interval). */
struct pool_usage_acc {
    char workload[POOL_WORKLOAD_MAX];
    char vgpu[POOL_UUID_MAX];
    int64_t start_ms, seen_ms;      /* the interval's start, the last report */
    struct pool_vgpu_usage last;    /* the counters at the last report */
    uint64_t used_max, peak_max;    /* in this interval */
    uint64_t d_busy, d_thr, d_launches, d_oom;
    /* The last refusal seen (the counter grew): when, and the node's largest refused
     * allocation then (0: not reported), which auto mode's jump covers. */
    int64_t refused_ms;
    uint64_t refused_bytes;
};

struct pool_auto {
    struct pool_map accs;           /* "<alloc id>#<dev>" -> struct pool_usage_acc (owned) */
    struct pool_usage_source history;   /* query NULL: the store */
    struct pool_reco_params reco;
    int64_t offset_ms;              /* the test clock's */
    int64_t last_compact_ms;
    uint64_t samples, resizes, resize_failures;
    json_t *recos;                  /* the last pass's recommendations, for /metrics */
    pthread_mutex_t pass_lock;      /* one pass at a time (background and on demand) */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    pthread_t thread;
    bool running, stop;
};

/* Open after the store, close before it (pool_svc.c). */
int pool_auto_open(struct pool_svc *svc, char *err, size_t errlen);
void pool_auto_close(struct pool_svc *svc);
/* The background pass of auto mode (pool_autoscale.c). */
int pool_auto_start(struct pool_svc *svc);
void pool_auto_stop(struct pool_svc *svc);

/* Lock held: the "usage" of a heartbeat of node `node`. */
void pool_usage_heartbeat_locked(struct pool_svc *svc, const char *node,
                                 const struct pool_heartbeat *hb);
/* Lock held: down-samples and bounds the history when due (every few minutes). */
void pool_usage_compact_locked(struct pool_svc *svc, int64_t now_ms, bool force);
/* Lock held: forgets accumulators not reported for a while (their vGPU is gone). */
void pool_usage_sweep_locked(struct pool_svc *svc, int64_t now_ms);
/* Lock held: the memory in use now by vGPU dev of allocation id, as last reported within
 * a few periods; false when unknown. */
bool pool_usage_current_locked(struct pool_svc *svc, const char *id, int dev, uint64_t *used);
/* Lock held: the largest allocation refused (node's figure, bytes; 0 unknown) if a refusal
 * was reported after after_ms, else 0. */
uint64_t pool_usage_refused_locked(struct pool_svc *svc, const char *id, int dev,
                                   int64_t after_ms);
/* Lock held: the recommendation gauges and autoscaler counters (pool_metrics.c). */
void pool_auto_metrics_locked(struct pool_svc *svc, FILE *f);

#endif
