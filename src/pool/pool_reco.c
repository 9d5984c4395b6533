/*
 * The recommender (pool_usage.h, pool_recommend): from a workload's history and a clock the
 * caller passes, what memory and compute its vGPUs should have, in the manner of Kubernetes'
 * Vertical Pod Autoscaler: weights that halve every half-life, a target at a high weighted
 * percentile plus a margin, a lower and an upper bound, the pool's minimum and maximum, a bump
 * after out-of-memory refusals, compute raised when the workload was held back most of the
 * time (its measured share is then capped by its limit and says little about its demand).
 *
 * Auto mode's rules (pool_auto_decide) keep that recommendation as the long-term bound and
 * follow the recent use inside it, the way reactive autoscalers do: live resize is instant, so
 * a limit may track the last half hour's peak and grow the minute the use presses on it.
 *
 * Owns: pool_recommend, pool_reco_params_default, pool_auto_decide, pool_auto_history,
 * pool_auto_policy_default (auto mode's rules). Pure
 * functions: no clock, no I/O, no globals. May call: libc, libm.
 */
#include "pool_usage.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)
/* An OOM refusal older than this many half-lives no longer bumps the target. */
#define OOM_MEMORY_HALF_LIVES 2.0
/* "Most of the time": the weighted share of samples held back for over half their interval. */
#define THROTTLED_MOST 0.5
/* How far above its target a limit may sit before it counts as oversized. */
#define UPPER_FACTOR 1.5

void pool_reco_params_default(struct pool_reco_params *p)
{
    *p = (struct pool_reco_params){.mem_percentile = 0.95, .mem_margin = 0.15,
                                   .compute_percentile = 0.90, .compute_margin = 0.15,
                                   .half_life_s = 24 * 3600.0, .oom_bump = 0.2,
                                   .mem_min = 64ull << 20, .mem_max = 0,
                                   .compute_min = 0.01, .compute_max = 1.0};
}

struct wv {
    double v, w;
};

static int by_value(const void *a, const void *b)
{
    double x = ((const struct wv *)a)->v, y = ((const struct wv *)b)->v;
    return x < y ? -1 : x > y;
}

/* The smallest value whose cumulative weight reaches p of the total; sorts x. */
static double wpercentile(struct wv *x, size_t n, double total, double p)
{
    qsort(x, n, sizeof *x, by_value);
    double need = p * total * (1 - 1e-12), cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += x[i].w;
        if (cum >= need)
            return x[i].v;
    }
    return n ? x[n - 1].v : 0;
}

static double clampd(double v, double lo, double hi)
{
    if (hi > 0 && v > hi)
        v = hi;
    return v < lo ? lo : v;
}

static uint64_t clamp_mem(double v, const struct pool_reco_params *p)
{
    double hi = p->mem_max ? (double)p->mem_max : 0;
    v = clampd(ceil(v), (double)p->mem_min, hi);
    return v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
}

/* Appends to out->why, cut at its size (the reasons are for people; the numbers are exact). */
__attribute__((format(printf, 3, 4)))
static void why_add(struct pool_reco *out, size_t *wl, const char *fmt, ...)
{
    if (*wl >= sizeof out->why - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out->why + *wl, sizeof out->why - *wl, fmt, ap);
    va_end(ap);
    if (k > 0)
        *wl += (size_t)k < sizeof out->why - *wl ? (size_t)k : sizeof out->why - 1 - *wl;
}

struct tally {
    double total, throttled_w, oom_limit;
    uint32_t ooms;
    int64_t newest_t;
    double newest_climit;
};

static void recommend_memory(struct wv *x, size_t m, const struct tally *t,
                             const struct pool_reco_params *p, struct pool_reco *out,
                             size_t *wl)
{
    double pk = wpercentile(x, m, t->total, p->mem_percentile);
    double target = pk * (1 + p->mem_margin);
    why_add(out, wl, "memory: p%.0f peak %.1f MiB +%.0f%%", p->mem_percentile * 100,
            pk / MIB, p->mem_margin * 100);
    if (t->ooms && t->oom_limit * (1 + p->oom_bump) > target) {
        target = t->oom_limit * (1 + p->oom_bump);
        why_add(out, wl, ", %u OOM refusal(s) at a %.1f MiB limit: +%.0f%%", t->ooms,
                t->oom_limit / MIB, p->oom_bump * 100);
    }
    out->mem_target = clamp_mem(target, p);
    if (t->ooms)
        out->mem_oom_floor = clamp_mem(t->oom_limit * (1 + p->oom_bump), p);
    /* A limit the workload was refused at is too small whatever the percentile says. */
    out->mem_lower = clamp_mem(target > pk * (1 + p->mem_margin) ? target : pk, p);
    out->mem_upper = clamp_mem(target * UPPER_FACTOR, p);
    if (out->mem_lower > out->mem_target)
        out->mem_lower = out->mem_target;
}

static void recommend_compute(struct wv *x, size_t m, const struct tally *t,
                              const struct pool_reco_params *p, struct pool_reco *out,
                              size_t *wl)
{
    double hi = p->compute_max > 0 ? p->compute_max : 1.0;
    double pc = wpercentile(x, m, t->total, p->compute_percentile);
    double target = pc * (1 + p->compute_margin);
    why_add(out, wl, "; compute: p%.0f used %.3f +%.0f%%", p->compute_percentile * 100,
            pc, p->compute_margin * 100);
    double share = t->throttled_w / t->total;
    if (share > THROTTLED_MOST && t->newest_climit > 0 &&
        t->newest_climit * UPPER_FACTOR > target) {
        target = t->newest_climit * UPPER_FACTOR;
        why_add(out, wl, ", throttled %.0f%% of the time: limit %.3f raised by half",
                share * 100, t->newest_climit);
    }
    out->compute_target = clampd(target, p->compute_min, hi);
    /* Held back most of the time, the limit it had is too small: it is below the bound. */
    out->compute_lower = clampd(target > pc * (1 + p->compute_margin) ? target : pc,
                                p->compute_min, hi);
    out->compute_upper = clampd(out->compute_target * UPPER_FACTOR, p->compute_min, hi);
    if (out->compute_lower > out->compute_target)
        out->compute_lower = out->compute_target;
}

static uint64_t whole_mib(double v)
{
    return (uint64_t)(ceil(v / MIB) * MIB);
}

/* What memory limit auto mode wants (0: none): the target when the limit left the bounds,
 * but always at least the use plus headroom (capped by mem_max, never below the use). */
static uint64_t want_memory(const struct pool_reco *r, const struct pool_auto_policy *pol,
                            const struct pool_auto_state *st, char *why, size_t len)
{
    size_t wl = strlen(why);
    double floor = 0;
    if (st->used_known) {
        floor = (double)st->mem_used * (1 + pol->mem_headroom);
        if (pol->mem_max && floor > (double)pol->mem_max)
            floor = (double)pol->mem_max;
        if (floor < (double)st->mem_used)
            floor = (double)st->mem_used;
    }
    bool tight = st->used_known && (double)st->mem_limit < floor;
    if (!tight && st->mem_limit >= r->mem_lower && st->mem_limit <= r->mem_upper)
        return 0;
    uint64_t want = r->mem_target;
    if (want < st->mem_limit && !st->used_known) {
        snprintf(why + wl, len - wl, "; memory not lowered: usage unknown");
        return 0;
    }
    if ((double)want < floor) {
        want = whole_mib(floor);
        snprintf(why + wl, len - wl, "; %.1f MiB in use, +%.0f%% headroom",
                 (double)st->mem_used / MIB, pol->mem_headroom * 100);
    }
    return want != st->mem_limit ? want : 0;
}

#define DAY_MS (24 * 3600 * 1000ll)

void pool_auto_policy_default(struct pool_auto_policy *pol)
{
    *pol = (struct pool_auto_policy){.mem_headroom = 0.15, .window_ms = 30 * 60000,
                                     .lookahead_ms = 15 * 60000, .seasonal_days = 7,
                                     .grow_at = 0.9, .grow_factor = 1.5};
}

void pool_auto_history(const struct pool_usage_sample *s, size_t n, int64_t now_ms,
                       const struct pool_auto_policy *pol, struct pool_auto_state *st)
{
    st->recent_peak = st->seasonal_peak = st->refused_limit = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].t_ms > now_ms)
            continue;
        uint64_t peak = s[i].mem_peak > s[i].mem_used ? s[i].mem_peak : s[i].mem_used;
        int64_t age = now_ms - s[i].t_ms;
        if (age <= pol->window_ms && peak > st->recent_peak)
            st->recent_peak = peak;
        /* A refusal at the limit auto mode set last (or since): that limit is too small. */
        if (age <= pol->window_ms && s[i].oom_refusals && s[i].t_ms > st->last_change_ms &&
            s[i].mem_limit > st->refused_limit)
            st->refused_limit = s[i].mem_limit;
        /* The same time of day k days ago, and the look-ahead after it. */
        int64_t k = age / DAY_MS + (age % DAY_MS ? 1 : 0), off = k * DAY_MS - age;
        if (pol->lookahead_ms > 0 && k >= 1 && k <= pol->seasonal_days &&
            off <= pol->lookahead_ms && peak > st->seasonal_peak)
            st->seasonal_peak = peak;
    }
}

static double fmax3(double a, double b, double c)
{
    return fmax(a, fmax(b, c));
}

/* The working target (window_ms > 0): what the recent and daily peaks need, grown at once
 * under pressure or after a refusal, never below the use plus headroom; 0 when unchanged. */
static uint64_t want_working(const struct pool_reco *r, const struct pool_auto_policy *pol,
                             const struct pool_auto_state *st, char *why, size_t len)
{
    size_t wl = strlen(why);
    double m = pol->mem_headroom, used = st->used_known ? (double)st->mem_used : 0;
    double base = fmax3((double)st->recent_peak, (double)st->seasonal_peak, used);
    double want = base * (1 + m);
    const char *how = "recent peak";
    if (st->seasonal_peak > st->recent_peak && (double)st->seasonal_peak > used)
        how = "daily pattern's peak";
    if (r->mem_upper && want > (double)r->mem_upper) {
        want = (double)r->mem_upper;
        how = "long-horizon upper bound";
    }
    if ((double)r->mem_oom_floor > want) {
        want = (double)r->mem_oom_floor;
        how = "OOM bump";
    }
    bool pressed = st->used_known && used > pol->grow_at * (double)st->mem_limit;
    bool refused = (st->refused_limit && st->refused_limit >= st->mem_limit) ||
                   st->refused_bytes;
    if ((pressed || refused) && used * pol->grow_factor > want) {
        want = used * pol->grow_factor;   /* before the next pass, not after a refusal */
        how = refused ? "refused: use grown" : "use near the limit: grown";
    }
    /* The node said how large the refused allocation was: cover it with the margin. */
    if (st->refused_bytes && (used + (double)st->refused_bytes) * (1 + m) > want) {
        want = (used + (double)st->refused_bytes) * (1 + m);
        how = "refused allocation covered";
    }
    if (used * (1 + m) > want) {
        want = used * (1 + m);
        how = "use + headroom";
    }
    want = fmax(want, (double)pol->mem_min);
    if (pol->mem_max && want > (double)pol->mem_max)
        want = fmax((double)pol->mem_max, used);
    uint64_t w = whole_mib(want);
    if (w < st->mem_limit && !st->used_known) {
        snprintf(why + wl, len - wl, "; memory not lowered: usage unknown");
        return 0;
    }
    snprintf(why + wl, len - wl, "; working target %.1f MiB (%s, %.1f MiB in use)",
             (double)w / MIB, how, used / MIB);
    return w != st->mem_limit ? w : 0;
}

bool pool_auto_decide(const struct pool_reco *r, const struct pool_auto_policy *pol,
                      const struct pool_auto_state *st, int64_t now_ms,
                      struct pool_auto_decision *d)
{
    memset(d, 0, sizeof *d);
    d->compute_limit = -1;
    snprintf(d->why, sizeof d->why, "%s", r->why);
    d->mem_limit = pol->window_ms > 0 ? want_working(r, pol, st, d->why, sizeof d->why)
                                      : want_memory(r, pol, st, d->why, sizeof d->why);
    if (st->compute_limit >= 0 && (st->compute_limit < r->compute_lower - 1e-9 ||
                                   st->compute_limit > r->compute_upper + 1e-9))
        d->compute_limit = r->compute_target;
    /* Raising waits only grow_cooldown_ms (a refused or throttled workload pays now);
     * lowering waits cooldown_ms. A part that must wait is left out and said so. */
    int64_t since = st->last_change_ms == INT64_MIN ? INT64_MAX : now_ms - st->last_change_ms;
    bool mem_up = d->mem_limit > st->mem_limit, cpu_up = d->compute_limit > st->compute_limit;
    if (d->mem_limit && since < (mem_up ? pol->grow_cooldown_ms : pol->cooldown_ms)) {
        d->mem_limit = 0;
        d->cooling = true;
    }
    if (d->compute_limit >= 0 && since < (cpu_up ? pol->grow_cooldown_ms : pol->cooldown_ms)) {
        d->compute_limit = -1;
        d->cooling = true;
    }
    d->change = d->mem_limit || d->compute_limit >= 0;
    return d->change;
}

int pool_recommend(const struct pool_usage_sample *s, size_t n, int64_t now_ms,
                   const struct pool_reco_params *p, struct pool_reco *out)
{
    memset(out, 0, sizeof *out);
    struct wv *mem = n ? malloc(n * sizeof *mem) : NULL, *cpu = n ? malloc(n * sizeof *cpu) : NULL;
    if (n && (!mem || !cpu)) {
        free(mem);
        free(cpu);
        snprintf(out->why, sizeof out->why, "out of memory");
        return -1;
    }
    struct tally t = {.newest_t = INT64_MIN};
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        /* Later than now, or numbers no source should send (a NaN would break the sort). */
        if (s[i].t_ms > now_ms || !isfinite(s[i].compute_used) ||
            !isfinite(s[i].throttled_frac))
            continue;
        double age_s = (double)(now_ms - s[i].t_ms) / 1000.0;
        double w = p->half_life_s > 0 ? exp2(-age_s / p->half_life_s) : 1.0;
        w *= s[i].count > 1 ? (double)s[i].count : 1.0;   /* a down-sampled row */
        if (!(w > 0))
            continue;   /* too old to count at all (underflow) */
        uint64_t peak = s[i].mem_peak > s[i].mem_used ? s[i].mem_peak : s[i].mem_used;
        mem[m] = (struct wv){(double)peak, w};
        cpu[m] = (struct wv){s[i].compute_used, w};
        t.total += w;
        if (s[i].throttled_frac > 0.5)
            t.throttled_w += w;
        if (s[i].oom_refusals &&
            (p->half_life_s <= 0 || age_s <= OOM_MEMORY_HALF_LIVES * p->half_life_s)) {
            t.ooms += s[i].oom_refusals;
            if ((double)s[i].mem_limit > t.oom_limit)
                t.oom_limit = (double)s[i].mem_limit;
        }
        if (s[i].t_ms >= t.newest_t) {
            t.newest_t = s[i].t_ms;
            t.newest_climit = s[i].compute_limit;
        }
        m++;
    }
    int rc = -1;
    if (m == 0) {
        snprintf(out->why, sizeof out->why, "no usage samples yet");
    } else {
        size_t wl = 0;
        out->samples = m;
        recommend_memory(mem, m, &t, p, out, &wl);
        recommend_compute(cpu, m, &t, p, out, &wl);
        rc = 0;
    }
    free(mem);
    free(cpu);
    return rc;
}
