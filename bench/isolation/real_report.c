/*
 * bench_isolation's real mode, reported: the printed table (each tenant's GPU-time share and
 * throughput share against its limit, the program alone beside them, kernel-rate ratios against
 * the limits' ratios), build/bench/isolation.json and isolation.png (GPU-time share over time).
 *
 * Owns: real mode's output. May call: libc, jansson, tfuse_plot (src/common/png_plot.h),
 * bench/common.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "png_plot.h"
#include "real.h"

#define TPUT_AIM_POINTS 2.0 /* the aims: a throughput share within 2 points */
#define RATIO_AIM_PCT 5.0   /* and a 25/75 kernel-rate ratio within 5% of 3.0 */

void iso_print_header(unsigned iters, double seconds)
{
    printf("bench_isolation (real tenants): softgpu device of one SM pinned to a host CPU, tfuse\n"
           "  node with vGPUs, each tenant a `tfuse run` of prog_iso spinning %u-step kernels, 4\n"
           "  per sync; %g s of tenant phases per scenario. GPU time: the node's measured\n"
           "  busy_ns.\n"
           "  Throughput: the tenant's kernels/s against the same program alone on the device (a\n"
           "  whole-device session, no limiter), measured in alone phases between the tenant\n"
           "  phases (tenants stopped meanwhile), [lowest, highest] of the rounds. Work: the\n"
           "  tenant's kernels/s against all the scenario's tenants' (same time, same host load),\n"
           "  scaled to the sum of their limits. Load average now %.1f.\n\n",
           iters, seconds, bench_loadavg());
    printf("%-13s %-3s %6s %9s %6s %9s %11s %6s %15s %6s %6s\n", "scenario", "", "limit%",
           "GPU-time%", "error", "kernels/s", "throughput%", "error", "rounds", "work%", "error");
}

/* A tenant's kernel rate against the first tenant's, and the same ratio of their limits. */
static double rate_ratio(const struct rscenario *sc, int i, double *limits)
{
    *limits = sc->t[i].limit_pct / sc->t[0].limit_pct;
    return sc->t[0].rate > 0 ? sc->t[i].rate / sc->t[0].rate : 0;
}

void iso_print_scenario(const struct rscenario *sc)
{
    for (int i = 0; i < sc->n; i++) {
        const struct tenant *t = &sc->t[i];
        printf("%-13s %-3s %6.1f %9.2f %+6.2f %9.1f %11.2f %+6.2f  [%5.1f, %5.1f] %6.2f %+6.2f\n",
               sc->name, t->name, t->limit_pct, t->share, t->share - t->limit_pct, t->rate,
               t->tput, t->tput - t->limit_pct, t->tput_lo, t->tput_hi, t->work,
               t->work - t->limit_pct);
    }
    printf("%-13s alone %.1f kernels/s (%d phases, %.1f to %.1f%s); the SM had %.1f%% of a "
           "CPU while it had work (alone %.1f%%)\n%-13s MAE: GPU time %.2f, throughput %.2f\n",
           "", sc->alone, sc->rounds, sc->alone_lo, sc->alone_hi,
           sc->hogs ? ", beside the hogs" : "", 100 * sc->cpu_tenants, 100 * sc->cpu_alone, "",
           sc->mae, sc->tput_mae);
    printf("%-13s kernel rates against %s's:", "", sc->t[0].name);
    for (int i = 1; i < sc->n; i++) {
        double limits, r = rate_ratio(sc, i, &limits);
        printf("%s %s %.2f (limits %.2f, %+.1f%%)", i > 1 ? "," : "", sc->t[i].name, r, limits,
               100.0 * (r / limits - 1));
    }
    printf("\n");
}

void iso_print_summary(const struct rscenario *rs, int nrs)
{
    int n = 0, missed = 0, wmissed = 0;
    double gpu = 0, tput = 0, work = 0;
    for (int k = 0; k < nrs; k++) {
        if (rs[k].hogs || !rs[k].alone)
            continue;
        for (int i = 0; i < rs[k].n; i++, n++) {
            const struct tenant *t = &rs[k].t[i];
            gpu += fabs(t->share - t->limit_pct);
            tput += fabs(t->tput - t->limit_pct);
            work += fabs(t->work - t->limit_pct);
            missed += fabs(t->tput - t->limit_pct) > TPUT_AIM_POINTS;
            wmissed += fabs(t->work - t->limit_pct) > TPUT_AIM_POINTS;
        }
    }
    if (n)
        printf("without hogs: MAE GPU time %.2f, throughput %.2f, work %.2f points; more than "
               "%.0f points from the limit: throughput %d, work %d of %d tenants (aim: none)\n",
               gpu / n, tput / n, work / n, TPUT_AIM_POINTS, missed, wmissed, n);
    for (int k = 0; k < nrs; k++) {
        if (strcmp(rs[k].name, "25/75") != 0 || !rs[k].alone)
            continue;
        double limits, r = rate_ratio(&rs[k], 1, &limits);
        printf("25/75 kernel-rate ratio %.3f against %.1f: %+.1f%% (aim: within %.0f%%)\n", r,
               limits, 100.0 * (r / limits - 1), RATIO_AIM_PCT);
    }
    printf("\n");
}

static int write_png(const struct rscenario *const *rs, int nrs, double seconds,
                     const char *path)
{
    static const uint32_t colors[MAXT] = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd};
    struct tf_plot_canvas c;
    if (tf_plot_init(&c, 1000, 20 + 350 * nrs) != 0)
        return -1;
    for (int k = 0; k < nrs; k++) {
        struct tf_plot_panel p = {.x0 = 90, .x1 = 960, .y0 = 40 + k * 350, .y1 = 300 + k * 350,
                               .xmax = seconds, .ymax = 100};
        tf_plot_frame(&c, &p, seconds >= 10 ? 5 : 1, 20);
        tf_plot_text(&c, p.x0, p.y0 - 25, rs[k]->name, 0x000000, 3);
        for (int i = 0; i < rs[k]->n; i++) {
            char legend[32];
            snprintf(legend, sizeof legend, "%s %.0f%%", rs[k]->t[i].name, rs[k]->t[i].limit_pct);
            int lx = p.x1 - 150 * (rs[k]->n - i);
            tf_plot_rect(&c, lx, p.y0 - 22, lx + 20, p.y0 - 12, colors[i]);
            tf_plot_text(&c, lx + 28, p.y0 - 25, legend, 0x000000, 3);
            tf_plot_hline_dashed(&c, &p, rs[k]->t[i].limit_pct, colors[i]);
            tf_plot_series(&c, &p, rs[k]->at, rs[k]->t[i].series, rs[k]->nsamples, colors[i]);
        }
    }
    int rc = tf_plot_write_png(&c, path);
    tf_plot_free(&c);
    return rc;
}

static json_t *tenant_json(const struct rscenario *sc, int i)
{
    const struct tenant *t = &sc->t[i];
    json_t *series = json_array();
    for (int j = 0; j < sc->nsamples; j++)
        json_array_append_new(series, json_real(t->series[j]));
    return json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "name", t->name,
                     "limit_pct", t->limit_pct, "share_pct", t->share, "launches_per_s", t->rate,
                     "alone_launches_per_s", sc->alone, "throughput_share_pct", t->tput,
                     "throughput_rounds_lo_pct", t->tput_lo, "throughput_rounds_hi_pct",
                     t->tput_hi,
                     "work_share_pct", t->work, "series_pct", series);
}

static json_t *scenario_json(const struct rscenario *sc)
{
    json_t *ts = json_array(), *ratios = json_array();
    for (int i = 0; i < sc->n; i++)
        json_array_append_new(ts, tenant_json(sc, i));
    for (int i = 1; i < sc->n; i++) {
        char of[16];
        double limits, r = rate_ratio(sc, i, &limits);
        snprintf(of, sizeof of, "%s/%s", sc->t[i].name, sc->t[0].name);
        json_array_append_new(ratios, json_pack("{s:s, s:f, s:f, s:f}", "of", of, "measured", r,
                                                "limits", limits, "error_pct",
                                                100.0 * (r / limits - 1)));
    }
    return json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o}",
                     "name", sc->name, "rounds", sc->rounds, "hogs", sc->hogs, "mae_points", sc->mae, "throughput_mae_points",
                     sc->tput_mae, "alone_launches_per_s", sc->alone, "alone_lowest",
                     sc->alone_lo, "alone_highest", sc->alone_hi, "sm_cpu_share_tenants",
                     sc->cpu_tenants, "sm_cpu_share_alone", sc->cpu_alone, "sample_s", 0.5,
                     "kernel_rate_ratios", ratios, "tenants", ts);
}

int iso_write_outputs(const struct rscenario *rs, int nrs, double seconds, unsigned iters,
                      int hogs, double direct, double limited)
{
    json_t *scs = json_array();
    double mae = 0, tput = 0;
    int n = 0;
    for (int k = 0; k < nrs; k++) {
        if (!rs[k].alone)
            continue;   /* not run (the hog scenario with --hog 0) */
        json_array_append_new(scs, scenario_json(&rs[k]));
        for (int i = 0; i < rs[k].n && !rs[k].hogs; i++, n++) {
            mae += fabs(rs[k].t[i].share - rs[k].t[i].limit_pct);
            tput += fabs(rs[k].t[i].tput - rs[k].t[i].limit_pct);
        }
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:f, s:i, s:i, s:f, s:o, s:f, s:f, s:{s:f, s:f, s:f, s:f}}", "bench",
        "isolation", "kernels",
        "real: prog_iso spin through tfuse run, stub, worker and softgpu; GPU-time shares from "
        "the node's measured busy_ns, throughput shares from its launch counts against the "
        "program alone", "seconds", seconds, "spin_iters", (int)iters, "hogs", hogs,
        "loadavg", bench_loadavg(), "scenarios", scs, "mae_points", n ? mae / n : 0,
        "throughput_mae_points", n ? tput / n : 0, "unlimited_overhead",
        "direct_launches_per_s", direct, "limiter_launches_per_s", limited, "ratio",
        direct > 0 ? limited / direct : 0, "cost_pct", direct > 0 ? 100.0 * (1 - limited / direct)
                                                                  : 0);
    char path[PATH_MAX];
    bench_output_path(path, sizeof path, "isolation.json");
    int rc = json_dump_file(j, path, JSON_INDENT(2));
    json_decref(j);
    bench_output_path(path, sizeof path, "isolation.png");
    const struct rscenario *shown[16];
    int nshown = 0;
    for (int k = 0; k < nrs && nshown < 16; k++)
        if (rs[k].alone)
            shown[nshown++] = &rs[k];
    if (write_png(shown, nshown, seconds, path) != 0)
        rc = -1;
    if (rc == 0)
        printf("wrote isolation.json and isolation.png\n");
    return rc;
}
