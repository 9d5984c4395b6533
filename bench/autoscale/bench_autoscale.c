/*
 * bench_autoscale (issue 14): a simulated day of three workloads with changing demand, replayed
 * fast on a clock the bench moves, with static requests sized for each workload's peak against
 * the pool's auto mode, in one run. Memory reserved (each allocation's vram_request integrated
 * over the day, GiB-hours) and out-of-memory refusals (minutes whose demand passed the limit)
 * for each, per workload and in all; build/bench/autoscale.json and a chart per workload and
 * configuration (autoscale-WORKLOAD-Hh.png).
 *
 * Auto mode is the pool's own, not a model of it: an in-process nodeless pool (the store,
 * down-sampling, pool_recommend, auto mode's bounds, cool-down and never-below-usage, the live
 * resize's booking) fed what a node would report each minute (pool_svc_usage_observe) and
 * asked for a pass every simulated minute (pool_svc_autoscale, the default period). Before the
 * measured day the pool saw a week of the same workloads in recommend mode at their static
 * sizes; auto mode is switched on when the day starts. Each configuration (the recommender's
 * half-life, auto mode's window and daily look-ahead, or the long-horizon rule alone) is a
 * pool of its own; the static arm needs no pool (its limit never moves).
 *
 *   bench_autoscale [--quick] [--history-days N]
 * --quick: two days of history and one configuration (ctest's bench_autoscale_quick).
 *
 * Owns: this benchmark. May call: src/pool (pool_svc.h, pool_store.h, pool_plot.h),
 * bench/common, jansson, libc, libm.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "pool_plot.h"
#include "pool_store.h"
#include "pool_svc.h"

#define GiB (1024.0 * 1024.0 * 1024.0)
#define MIN_MS 60000ll
#define DAY_MIN 1440
#define PASS_EVERY_MIN 1             /* the pool's default --autoscale-period: 60 s */
#define T_DAY 1767225600000ll        /* the measured day starts 2026-01-01 00:00 UTC */
#define NODE_TFLOPS 100.0
#define NWL 3
#define AIM_SAVING_PCT 40.0
/* A second static arm: the peak with the margin the recommender itself keeps (15%). */
#define STATIC_MARGIN 1.15

static int64_t clock_now;

static int64_t bench_clock(void *arg)
{
    (void)arg;
    return clock_now;
}

/* ---- demand ------------------------------------------------------------------------------ */

/* Deterministic noise in [-1, 1] for (workload, day, minute): both arms see the same day. */
static double noise(int w, int day, int minute)
{
    uint64_t x = (uint64_t)(w + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(day + 1000) << 20 ^
                 (uint64_t)minute;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (double)(x >> 11) / (double)(1ull << 52) - 1.0;
}

struct demand {
    double mem, compute;   /* bytes wanted; share of the device wanted */
};

/* An inference service: 2 GiB of weights and a KV cache that follows the traffic, quiet at
 * night (4% of the peak), busiest mid-afternoon. */
static struct demand inference(int day, int m)
{
    double h = m / 60.0, traffic = 0.04;
    if (h >= 7 && h <= 22)
        traffic = fmax(0.04, pow(sin(M_PI * (h - 7) / 15), 2));
    traffic *= 1 + 0.04 * noise(0, day, m);
    return (struct demand){(2 + 22 * traffic) * GiB, 0.05 + 0.55 * traffic};
}

/* A nightly batch job: 01:00 to 05:00 it loads its data over 20 minutes to 14 GiB and
 * computes; the rest of the day it holds its 0.5 GiB and idles. */
static struct demand batch(int day, int m)
{
    double h = m / 60.0;
    if (h >= 1 && h < 5)
        return (struct demand){(0.5 + 13.5 * fmin(1, (h - 1) * 3)) * GiB,
                               0.7 + 0.05 * noise(1, day, m)};
    return (struct demand){0.5 * GiB, 0.01};
}

/* An embedding index that grows by 1.5 GiB a day from 6 GiB (at the measured day's start). */
static struct demand growing(int day, int m)
{
    double gib = (6 + 1.5 * (day + m / (double)DAY_MIN)) * (1 + 0.02 * noise(2, day, m));
    return (struct demand){fmax(gib, 0.5) * GiB, 0.15 + 0.05 * noise(2, day, m + 7)};
}

static const struct {
    const char *name;
    struct demand (*fn)(int day, int minute);
} wls[NWL] = {{"inference", inference}, {"batch", batch}, {"growing", growing}};

/* ---- one configuration of the pool ------------------------------------------------------- */

struct arm {
    double reserved_gib_h, refusals, resizes;
    double peak_gib, static_gib;
};

struct config {
    const char *tag, *label;   /* in file names; in the table */
    double half_life_h, cooldown_s;
    double window_s, lookahead_s;   /* pool_config's auto_window_s, auto_lookahead_s */
    struct arm wl[NWL], total;
    char db[256];
};

struct sim {
    struct pool_svc *svc;
    char id[NWL][POOL_UUID_MAX];
    uint64_t static_vram[NWL], vram[NWL];
    double static_compute[NWL], compute_limit[NWL];   /* shares of the device */
    struct pool_vgpu_usage u[NWL];
};

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench_autoscale: %s: %s\n", what, why);
    return -1;
}

static int add_node(struct pool_svc *svc)
{
    struct pool_node *n = calloc(1, sizeof *n);
    if (!n)
        return fail("node", "out of memory");
    snprintf(n->name, sizeof n->name, "sim-node");
    snprintf(n->address, sizeof n->address, "http://unused:1");
    snprintf(n->pool, sizeof n->pool, "default");
    n->ndev = NWL;   /* a GPU each: their compute limits would not fit one together */
    for (int i = 0; i < NWL; i++) {
        snprintf(n->dev[i].uuid, sizeof n->dev[i].uuid, "sim-gpu%d", i);
        snprintf(n->dev[i].model, sizeof n->dev[i].model, "H100");
        n->dev[i].memory_bytes = (uint64_t)(80 * GiB);
        n->dev[i].tflops = NODE_TFLOPS;
    }
    struct pool_error e = {0};
    int rc = pool_svc_register_node(svc, n, NULL, NULL, &e);
    free(n);
    return rc == 200 || rc == 201 ? 0 : fail("register", e.message);
}

static int allocate(struct sim *s, int w)
{
    struct pool_alloc_req r;
    memset(&r, 0, sizeof r);
    snprintf(r.tenant, sizeof r.tenant, "bench");
    snprintf(r.workload, sizeof r.workload, "%s", wls[w].name);
    snprintf(r.pool, sizeof r.pool, "default");
    r.gpu_count = 1;
    r.compute_request_pct = r.compute_limit_pct = 100 * s->static_compute[w];
    r.vram_request = r.vram_limit = s->static_vram[w];
    r.strategy = -1;
    r.qos = POOL_QOS_MEDIUM;
    json_t *out = NULL;
    struct pool_error e = {0};
    if (pool_svc_allocate(s->svc, &r, &out, &e) != 201)
        return fail("allocate", e.message);
    snprintf(s->id[w], sizeof s->id[w], "%s", json_string_value(json_object_get(out, "id")));
    json_decref(out);
    s->vram[w] = s->static_vram[w];   /* each configuration starts from the static sizes */
    s->compute_limit[w] = s->static_compute[w];
    return 0;
}

/* The allocation's booked memory and compute limit now (auto mode may have moved them). */
static void read_limits(struct sim *s, int w)
{
    json_t *a = pool_svc_allocation_json(s->svc, s->id[w], NULL);
    json_t *d = json_array_get(json_object_get(a, "devices"), 0);
    s->vram[w] = (uint64_t)json_integer_value(json_object_get(d, "vram_request"));
    s->compute_limit[w] = json_number_value(json_object_get(d, "tflops_limit")) / NODE_TFLOPS;
    json_decref(a);
}

/* The week before: one sample a minute at the static sizes, in recommend mode. */
static int record_history(struct sim *s, int days)
{
    for (int w = 0; w < NWL; w++) {
        char name[POOL_WORKLOAD_MAX];
        snprintf(name, sizeof name, "bench/%s", wls[w].name);
        for (int day = -days; day < 0; day++) {
            for (int m = 0; m < DAY_MIN; m++) {
                struct demand d = wls[w].fn(day, m);
                double used = fmin(d.mem, (double)s->static_vram[w]);
                double cu = fmin(d.compute, s->compute_limit[w]);
                struct pool_usage_sample x = {
                    .t_ms = T_DAY + ((int64_t)day * DAY_MIN + m) * MIN_MS,
                    .mem_used = (uint64_t)used, .mem_peak = (uint64_t)used,
                    .mem_limit = s->static_vram[w], .compute_used = cu,
                    .compute_limit = s->compute_limit[w],
                    .throttled_frac = d.compute > cu ? 1 - cu / d.compute : 0};
                struct pool_error e = {0};
                if (pool_svc_usage_record(s->svc, name, &x, &e) != 0)
                    return fail("history", e.message);
            }
        }
    }
    return 0;
}

/* What the node would report of workload w's vGPU at minute m of the day. */
static void observe(struct sim *s, struct config *c, int w, int m)
{
    struct demand d = wls[w].fn(0, m);
    struct pool_vgpu_usage *u = &s->u[w];
    double limit = (double)s->vram[w], used = fmin(d.mem, limit);
    if (d.mem > limit) {   /* refused: the node reports it, and its largest refused size */
        u->oom_refusals++;
        c->wl[w].refusals++;
        if (d.mem - used > (double)u->oom_largest)
            u->oom_largest = (uint64_t)(d.mem - used);
    }
    double cu = fmin(d.compute, s->compute_limit[w]);
    u->mem_used = (uint64_t)used;
    u->mem_peak = u->mem_used > u->mem_peak ? u->mem_used : u->mem_peak;
    u->mem_limit = s->vram[w];
    u->compute_limit = s->compute_limit[w];
    u->busy_ns += (uint64_t)(cu * 60e9);
    u->throttled_ns += d.compute > cu ? (uint64_t)((1 - cu / d.compute) * 60e9) : 0;
    u->launches += (uint64_t)(cu * 6000);
    pool_svc_usage_observe(s->svc, s->id[w], 0, u);
}

static int set_auto(struct sim *s, int w)
{
    char name[POOL_WORKLOAD_MAX];
    snprintf(name, sizeof name, "bench/%s", wls[w].name);
    struct pool_mode_req m = {.mode = POOL_MODE_AUTO};
    struct pool_error e = {0};
    return pool_svc_set_mode(s->svc, name, NULL, &m, "bench", &e) ? fail("mode", e.message) : 0;
}

/* The measured day: a report a minute, a pass every PASS_EVERY_MIN, reservations summed. */
static int run_day(struct sim *s, struct config *c, int minutes)
{
    for (int w = 0; w < NWL; w++)
        if (set_auto(s, w) != 0)
            return -1;
    for (int m = 0; m < minutes; m++) {
        clock_now = T_DAY + m * MIN_MS;
        for (int w = 0; w < NWL; w++) {
            observe(s, c, w, m);
            c->wl[w].reserved_gib_h += (double)s->vram[w] / GiB / 60.0;
        }
        if (m % PASS_EVERY_MIN == PASS_EVERY_MIN - 1) {
            json_t *v = pool_svc_autoscale(s->svc);
            json_t *ch = json_object_get(v, "changes");
            size_t i;
            json_t *ev;
            json_array_foreach(ch, i, ev) {
                const char *a = json_string_value(json_object_get(ev, "action"));
                for (int w = 0; a && !strcmp(a, "resize") && w < NWL; w++)
                    if (!strcmp(json_string_value(json_object_get(ev, "allocation")), s->id[w]))
                        c->wl[w].resizes++;
            }
            json_decref(v);
            for (int w = 0; w < NWL; w++)
                read_limits(s, w);
        }
    }
    clock_now = T_DAY + minutes * MIN_MS;
    return 0;
}

/* ---- the arms ---------------------------------------------------------------------------- */

/* Static requests: each workload's peak of the day (to the MiB above), all day; compute at
 * its highest share (to the 5% above). Their refusals are counted the same way as auto's. */
static void static_arm(struct sim *s, struct config *st, int minutes)
{
    for (int w = 0; w < NWL; w++) {
        double peak = 0, cpu = 0;
        for (int m = 0; m < minutes; m++) {
            struct demand d = wls[w].fn(0, m);
            peak = fmax(peak, d.mem);
            cpu = fmax(cpu, d.compute);
        }
        s->static_vram[w] = (uint64_t)ceil(peak / (1 << 20)) << 20;
        s->static_compute[w] = fmin(1, ceil(cpu * 20) / 20);
        for (int m = 0; m < minutes; m++)
            st->wl[w].refusals += wls[w].fn(0, m).mem > (double)s->static_vram[w];
        st->wl[w].reserved_gib_h = (double)s->static_vram[w] / GiB * minutes / 60.0;
        st->wl[w].peak_gib = st->wl[w].static_gib = (double)s->static_vram[w] / GiB;
    }
}

static struct pool_reco_params params_of(const struct config *c)
{
    struct pool_reco_params p;
    pool_reco_params_default(&p);
    p.half_life_s = c->half_life_h * 3600;
    return p;
}

/* A chart of each workload over the day before and the measured day (pool_plot.h). */
static int write_plots(struct sim *s, const struct config *c, int minutes)
{
    struct pool_usage_source src = pool_svc_store_source(s->svc);
    struct pool_reco_params p = params_of(c);
    for (int w = 0; w < NWL; w++) {
        char name[POOL_WORKLOAD_MAX], file[64], path[4096], err[512], title[POOL_WORKLOAD_MAX + 64];
        snprintf(name, sizeof name, "bench/%s", wls[w].name);
        struct pool_usage_sample *x;
        struct pool_plot_point *pts;
        size_t n, np;
        if (src.query(src.ctx, name, T_DAY - 7 * DAY_MIN * MIN_MS, T_DAY + minutes * MIN_MS, &x, &n,
                      err, sizeof err) != 0)
            return fail("history", err);
        int rc = pool_plot_points(x, n, T_DAY - DAY_MIN * MIN_MS, &p, 600, &pts, &np, err,
                                  sizeof err);
        free(x);
        if (rc != 0)
            return fail("plot", err);
        snprintf(file, sizeof file, "autoscale-%s-%s.png", wls[w].name, c->tag);
        bench_output_path(path, sizeof path, file);
        snprintf(title, sizeof title, "%s: static, then auto (%s)", name, c->label);
        rc = pool_plot_write(path, title, pts, np, 1000, 700, err, sizeof err);
        free(pts);
        if (rc != 0)
            return fail("plot", err);
        printf("chart: %s\n", path);
    }
    return 0;
}

/* One pool with config c: a week of history, then the measured day in auto mode. */
static int auto_arm(struct sim *s, struct config *c, int history_days, int minutes)
{
    struct pool_reco_params p = params_of(c);
    snprintf(c->db, sizeof c->db, "/tmp/bench-autoscale-%d-%s.db", (int)getpid(), c->tag);
    pool_store_remove_files(c->db);
    struct pool_config cfg = {.db_path = c->db, .nodeless = true, .heartbeat_timeout_s = 60,
                              .usage_period_s = 60, .autoscale_period_s = -1,
                              .cooldown_s = c->cooldown_s, .auto_window_s = c->window_s,
                              .auto_lookahead_s = c->lookahead_s, .reco = &p,
                              .clock_ms = bench_clock};
    char err[512];
    clock_now = T_DAY - (int64_t)history_days * DAY_MIN * MIN_MS;
    s->svc = pool_svc_open(&cfg, err, sizeof err);
    if (!s->svc)
        return fail("pool", err);
    memset(s->u, 0, sizeof s->u);
    int rc = add_node(s->svc);
    for (int w = 0; rc == 0 && w < NWL; w++) {
        c->wl[w].static_gib = (double)s->static_vram[w] / GiB;
        rc = allocate(s, w);
    }
    if (rc == 0)
        rc = record_history(s, history_days);
    if (rc == 0)
        rc = run_day(s, c, minutes);
    if (rc == 0)
        rc = write_plots(s, c, minutes);
    pool_svc_close(s->svc);
    pool_store_remove_files(c->db);
    return rc;
}

static void sum(struct config *c)
{
    memset(&c->total, 0, sizeof c->total);
    for (int w = 0; w < NWL; w++) {
        c->total.reserved_gib_h += c->wl[w].reserved_gib_h;
        c->total.refusals += c->wl[w].refusals;
        c->total.resizes += c->wl[w].resizes;
        c->total.peak_gib += c->wl[w].peak_gib;
    }
}

/* ---- output ------------------------------------------------------------------------------ */

static double saving(const struct arm *st, const struct arm *au)
{
    double v = st->reserved_gib_h > 0 ? 100 * (1 - au->reserved_gib_h / st->reserved_gib_h) : 0;
    return fabs(v) < 0.05 ? 0 : v;   /* no "-0.0%" */
}

static void print_table(const struct config *st, const struct config *cs, int n)
{
    printf("\n%-10s %9s %9s | %-28s %9s %8s %8s %7s\n", "workload", "peak GiB", "static",
           "auto", "GiB-h", "saving", "refusals", "resizes");
    for (int k = 0; k < n; k++) {
        for (int w = 0; w <= NWL; w++) {
            const struct arm *a = w < NWL ? &cs[k].wl[w] : &cs[k].total;
            const struct arm *s = w < NWL ? &st->wl[w] : &st->total;
            printf("%-10s %9.2f %9.1f | %-28s %9.1f %7.1f%% %4.0f/%-3.0f %7.0f\n",
                   w < NWL ? wls[w].name : "all", s->peak_gib, s->reserved_gib_h,
                   cs[k].label, a->reserved_gib_h, saving(s, a), a->refusals, s->refusals,
                   a->resizes);
        }
    }
    printf("(static: each workload's peak of the day, all day; refusals auto/static: minutes "
           "whose demand passed the limit)\n");
}

static json_t *arm_json(const struct arm *s, const struct arm *a)
{
    return json_pack("{s:f, s:f, s:f, s:i, s:i, s:i, s:i}", "static_gib_h", s->reserved_gib_h,
                     "auto_gib_h", a->reserved_gib_h, "saving_pct", saving(s, a),
                     "static_refusals", (int)s->refusals, "auto_refusals", (int)a->refusals,
                     "extra_refusals", (int)fmax(0, a->refusals - s->refusals),
                     "resizes", (int)a->resizes);
}

static int write_json(const struct config *st, const struct config *cs, int n, int minutes,
                      int history_days, int best)
{
    json_t *configs = json_array();
    for (int k = 0; k < n; k++) {
        json_t *wl = json_object();
        for (int w = 0; w < NWL; w++) {
            json_t *o = arm_json(&st->wl[w], &cs[k].wl[w]);
            json_object_set_new(o, "peak_gib", json_real(st->wl[w].peak_gib));
            json_object_set_new(wl, wls[w].name, o);
        }
        struct arm margin = {.reserved_gib_h = st->total.reserved_gib_h * STATIC_MARGIN};
        json_array_append_new(configs, json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:o, s:o, s:f}",
                                                 "config", cs[k].tag, "label", cs[k].label,
                                                 "window_s", cs[k].window_s, "lookahead_s",
                                                 cs[k].lookahead_s, "half_life_h",
                                                 cs[k].half_life_h, "cooldown_s",
                                                 cs[k].cooldown_s, "workloads", wl, "total",
                                                 arm_json(&st->total, &cs[k].total),
                                                 "saving_vs_margin_pct",
                                                 saving(&margin, &cs[k].total)));
    }
    json_t *best_o = best >= 0 ? json_string(cs[best].tag) : json_null();
    json_t *root = json_pack(
        "{s:s, s:i, s:i, s:i, s:s, s:o, s:{s:f, s:s, s:o, s:b}, s:f}", "bench", "autoscale",
        "simulated_minutes", minutes, "history_days", history_days, "pass_every_min",
        PASS_EVERY_MIN, "static", "each workload's peak of the day, all day", "configs", configs,
        "aim", "saving_pct", AIM_SAVING_PCT, "refusals", "none the static arm did not have",
        "best_config", best_o, "met",
        best >= 0 && saving(&st->total, &cs[best].total) >= AIM_SAVING_PCT, "loadavg",
        bench_loadavg());
    char path[4096];
    bench_output_path(path, sizeof path, "autoscale.json");
    int rc = root ? json_dump_file(root, path, JSON_INDENT(2)) : -1;
    json_decref(root);
    if (rc != 0)
        return fail(path, "cannot write the results");
    printf("results: %s\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    bool quick = false;
    int history_days = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
            history_days = 2;
        } else if (!strcmp(argv[i], "--history-days") && i + 1 < argc) {
            history_days = atoi(argv[++i]);
            if (history_days < 1 || history_days > 60)
                return fail("--history-days", "expected 1 to 60"), 2;
        } else {
            fprintf(stderr, "usage: bench_autoscale [--quick] [--history-days N]\n");
            return 2;
        }
    }
    /* The pool's defaults first (the quick run's only one); window and look-ahead 0: the
     * pool's defaults (30 and 15 min), < 0: none; window < 0 is the long-horizon rule alone
     * (auto mode before the working target). */
    static struct config configs[] = {
        {.tag = "24h", .label = "default (half-life 24 h)", .half_life_h = 24,
         .cooldown_s = 900, .window_s = 0, .lookahead_s = 0},
        {.tag = "24h-w15", .label = "24 h, 15 min window", .half_life_h = 24,
         .cooldown_s = 900, .window_s = 900, .lookahead_s = 0},
        {.tag = "24h-noday", .label = "24 h, no daily look-ahead", .half_life_h = 24,
         .cooldown_s = 900, .window_s = 0, .lookahead_s = -1},
        {.tag = "24h-long", .label = "24 h, long-horizon rule", .half_life_h = 24,
         .cooldown_s = 900, .window_s = -1, .lookahead_s = -1},
        {.tag = "4h", .label = "half-life 4 h", .half_life_h = 4,
         .cooldown_s = 900, .window_s = 0, .lookahead_s = 0},
        {.tag = "1h", .label = "half-life 1 h", .half_life_h = 1,
         .cooldown_s = 900, .window_s = 0, .lookahead_s = 0}};
    int n = quick ? 1 : (int)(sizeof configs / sizeof configs[0]), minutes = DAY_MIN, best = -1;
    struct config st = {0};
    struct sim s = {0};
    static_arm(&s, &st, minutes);
    sum(&st);
    printf("bench_autoscale: %d workloads, %d simulated minutes after %d days of history, a pass "
           "every %d min (load %.2f)\n", NWL, minutes, history_days, PASS_EVERY_MIN,
           bench_loadavg());
    for (int k = 0; k < n; k++) {
        if (auto_arm(&s, &configs[k], history_days, minutes) != 0)
            return 1;
        sum(&configs[k]);
        /* The best: the most saved among those with no refusal the static arm did not have. */
        if (configs[k].total.refusals <= st.total.refusals &&
            (best < 0 || configs[k].total.reserved_gib_h < configs[best].total.reserved_gib_h))
            best = k;
    }
    print_table(&st, configs, n);
    struct arm margin = {.reserved_gib_h = st.total.reserved_gib_h * STATIC_MARGIN};
    printf("against static requests at the peak +%.0f%% (%.1f GiB-h):", 100 * (STATIC_MARGIN - 1),
           margin.reserved_gib_h);
    for (int k = 0; k < n; k++)
        printf(" %s %.1f%%%s", configs[k].tag, saving(&margin, &configs[k].total),
               k + 1 < n ? "," : " less\n");
    if (best >= 0)
        printf("best without extra refusals: %s, %.1f%% less memory reserved "
               "(aim: %.0f%%)\n", configs[best].label,
               saving(&st.total, &configs[best].total), AIM_SAVING_PCT);
    else
        printf("every configuration had refusals the static requests did not have\n");
    return write_json(&st, configs, n, minutes, history_days, best) ? 1 : 0;
}
