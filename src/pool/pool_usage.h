/*
 * Usage history and recommendations of the pool (issue 14): the sample a workload's history is
 * made of, the interface of a history source (the pool's own SQLite store, pool_usage.c, or a
 * Prometheus server, pool_promsrc.c), and the recommender (pool_reco.c), a pure function of a
 * history and a clock the caller passes.
 *
 * A workload is what outlives its vGPUs: "<tenant>/<name>", name being the "workload" an
 * allocation was given, else the model it asked for ("any" when none). The tenant is always
 * part of it, so two tenants' workloads never mix and a tenant sees only its own. Every vGPU of
 * an allocation adds its samples to its allocation's workload.
 *
 * This header calls nothing; pool_reco.c (pool_recommend, pool_auto_decide) calls only libc
 * and libm.
 */
#ifndef TFUSE_POOL_USAGE_H
#define TFUSE_POOL_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_WORKLOAD_MAX 160   /* workload name, with the NUL */

struct pool_usage_sample {
    int64_t t_ms;               /* sample time, ms since the epoch */
    uint64_t mem_used, mem_peak, mem_limit;   /* bytes */
    double compute_used;        /* share of the device used in the interval, 0..1 */
    double compute_limit;       /* the vGPU's compute limit then, 0..1 */
    double throttled_frac;      /* fraction of the interval the vGPU was held back */
    uint64_t launches;          /* in the interval */
    uint32_t oom_refusals;      /* allocations refused by the memory limit, in the interval */
    /* How many raw samples this one stands for (a down-sampled row of the store: its means
     * and maxima); 0 or 1: one. The recommender weighs a sample by it. */
    uint32_t count;
};

/* Where a workload's history comes from: the pool's own store, or Prometheus.
 * query: the samples of `workload` with from_ms <= t_ms < to_ms, oldest first, in an array the
 * caller frees with free() (*out NULL and *n 0 when there are none). 0 on success; -1 with a
 * message in err on failure. close: frees ctx (may be NULL). */
struct pool_usage_source {
    int (*query)(void *ctx, const char *workload, int64_t from_ms, int64_t to_ms,
                 struct pool_usage_sample **out, size_t *n, char *err, size_t errlen);
    void (*close)(void *ctx);
    void *ctx;
};

/* Percentiles in 0..1 (0.95: the 95th); margins are fractions added on top (0.15: +15%);
 * half_life_s: a sample that old weighs half of one taken now; oom_bump: the memory target is
 * at least (1 + oom_bump) times the limit in force when an allocation was refused;
 * mem_min/mem_max and compute_min/compute_max: the pool's bounds on any recommendation
 * (mem_max 0: no upper bound). */
struct pool_reco_params { double mem_percentile, mem_margin, compute_percentile,
                          compute_margin, half_life_s, oom_bump;
                          uint64_t mem_min, mem_max; double compute_min, compute_max; };

/* target: what to set; lower/upper: a limit inside them needs no change (VPA's bounds). */
struct pool_reco { uint64_t mem_target, mem_lower, mem_upper;
                   double compute_target, compute_lower, compute_upper;
                   uint64_t mem_oom_floor;   /* the OOM bump's limit in force, else 0 */
                   size_t samples; char why[256]; };

/* The defaults: p95 memory peak +15%, p90 compute used +15%, half-life 24 h, OOM bump 20%,
 * memory 64 MiB .. unbounded, compute 0.01 .. 1. */
void pool_reco_params_default(struct pool_reco_params *p);

/* Recommends from n samples (any order) as of now_ms (samples after now_ms are ignored).
 * 0 on success; -1 when there is no usable sample (out->why says so, targets 0). */
int pool_recommend(const struct pool_usage_sample *s, size_t n, int64_t now_ms,
                   const struct pool_reco_params *p, struct pool_reco *out);

/* Auto mode's decision for one allocation (pool_reco.c, pure; pool_autoscale.c applies it and
 * benches replay it): given the recommendation, the policy, the limits in force, the memory
 * in use now, what the recent history says (pool_auto_history) and when auto mode last changed
 * it, whether and to what its limits change.
 *
 * Memory, with window_ms > 0 (the pool's default): a working target that follows the use, the
 * highest peak of the last window_ms and of the coming lookahead_ms on each of the last
 * seasonal_days days (a daily job is met before it starts) plus mem_headroom, capped by the
 * long-horizon recommendation's mem_upper; never below the limit a recent refusal bumped
 * (mem_oom_floor); at once to the use times grow_factor when the use passed grow_at of the
 * limit or an allocation was refused since the last change, and to cover the use plus the
 * refused allocation (refused_bytes) with mem_headroom; never below the use plus
 * mem_headroom; within [mem_min, mem_max] (never below the use itself); whole MiB; never
 * lowered while the use is unknown. With window_ms 0, the long-horizon rule alone: the
 * target when the limit left [mem_lower, mem_upper] or leaves less than mem_headroom above
 * the use, never below the use plus mem_headroom.
 * Compute changes when it left [compute_lower, compute_upper]. A raise waits grow_cooldown_ms
 * after the last change, a cut cooldown_ms (the part that waits is left out and cooling set). */
struct pool_auto_policy {
    int64_t cooldown_ms, grow_cooldown_ms;
    double mem_headroom;            /* fraction kept free above the use (0.15: +15%) */
    uint64_t mem_min, mem_max;      /* bytes; mem_max 0: none */
    int64_t window_ms;              /* the recent peak's window; 0: long-horizon rule only */
    int64_t lookahead_ms;           /* the daily pattern's look-ahead (0: none) */
    int seasonal_days;              /* ... over this many past days */
    double grow_at, grow_factor;    /* use / limit that grows at once; use x factor then */
};
/* The defaults: 30 min window, 15 min look-ahead over 7 days, grow at 90% to 1.5 x the use
 * (the cool-downs and bounds are the caller's: zero). */
void pool_auto_policy_default(struct pool_auto_policy *pol);
struct pool_auto_state {
    uint64_t mem_limit, mem_used;   /* bytes; mem_used counts when used_known */
    bool used_known;
    double compute_limit;           /* share of the device; < 0: unknown (left alone) */
    int64_t last_change_ms;         /* INT64_MIN: never changed by auto mode */
    /* From pool_auto_history: the highest peak in the window, in the daily look-ahead, and
     * the highest limit an allocation was refused at since the last change (0: none). */
    uint64_t recent_peak, seasonal_peak, refused_limit;
    /* The largest allocation refused since the last change, as the node reported it (0: none
     * or not reported): the jump covers the use plus it, plus mem_headroom. */
    uint64_t refused_bytes;
};
struct pool_auto_decision {
    bool change, cooling;
    uint64_t mem_limit;             /* 0: as it is */
    double compute_limit;           /* < 0: as it is */
    char why[384];
};
/* Fills st's recent_peak, seasonal_peak and refused_limit from the workload's samples (any
 * order; those after now_ms ignored) with pol's windows; st->last_change_ms must be set. */
void pool_auto_history(const struct pool_usage_sample *s, size_t n, int64_t now_ms,
                       const struct pool_auto_policy *pol, struct pool_auto_state *st);
/* Returns d->change. */
bool pool_auto_decide(const struct pool_reco *r, const struct pool_auto_policy *pol,
                      const struct pool_auto_state *st, int64_t now_ms,
                      struct pool_auto_decision *d);

/* The Prometheus source (pool_promsrc.c): url is the server's base, e.g. http://host:9090.
 * `vgpus_of` resolves a workload to the vGPU ids it had in [from_ms, to_ms) (the pool's
 * store knows them; the node's /metrics label series only by vgpu): it returns how many ids it
 * wrote to ids (at most max), or -1. */
typedef int (*pool_usage_vgpus_fn)(void *arg, const char *workload, int64_t from_ms,
                                   int64_t to_ms, char (*ids)[80], size_t max);
int pool_promsrc_open(const char *url, pool_usage_vgpus_fn vgpus_of, void *arg,
                      struct pool_usage_source *out, char *err, size_t errlen);

#endif
