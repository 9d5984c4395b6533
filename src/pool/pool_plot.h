/*
 * A workload's history as a PNG chart (issue 14): memory used, peak, limit and the
 * recommendation over time in one panel, compute used, limit and recommendation in a second.
 * Drawn by `tfuse pool plot` and bench/autoscale.
 *
 * Owns: the chart's points and layout. May call: pool_recommend (pool_usage.h), tfuse_plot
 * (src/common/png_plot.h), libc, libm.
 */
#ifndef TFUSE_POOL_PLOT_H
#define TFUSE_POOL_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "png_plot.h"
#include "pool_usage.h"

/* The series' colours (0xRRGGBB), named so that tests can find them in the pixels. */
#define POOL_PLOT_USED 0x1f77b4u     /* memory used; compute used */
#define POOL_PLOT_PEAK 0xff7f0eu     /* memory peak */
#define POOL_PLOT_LIMIT 0xd62728u    /* memory limit; compute limit */
#define POOL_PLOT_TARGET 0x2ca02cu   /* the recommendation's target */

/* One column of the chart: the highest of the workload's vGPUs in a stretch of time (compute
 * used: their average). Zero targets: no recommendation yet. Bytes, and shares 0..1. */
struct pool_plot_point {
    int64_t t_ms;
    double mem_used, mem_peak, mem_limit, mem_target;
    double compute_used, compute_limit, compute_target;
};

/* Where the chart puts its panels on a canvas of width x height, and the units of its axes:
 * memory in mem_unit bytes per axis unit (named mem_unit_name), time in t_unit_s seconds. */
struct pool_plot_layout {
    struct tf_plot_panel mem, cpu;
    double mem_unit, t_unit_s;
    const char *mem_unit_name, *t_unit_name;
};

#define POOL_PLOT_MIN_W 320
#define POOL_PLOT_MIN_H 240

/*
 * The chart's points from a history (any order): at most max columns over the samples from
 * from_ms on, each the samples of its stretch of time, and the recommendation pool_recommend
 * (with p) would have made at the end of the column from every sample up to then (those before
 * from_ms too: they are the recommender's memory, not drawn), re-computed at up to 100 columns
 * and held between them. *out (free()) and its count; 0 points for no samples from from_ms.
 * -1 with err on failure.
 */
int pool_plot_points(const struct pool_usage_sample *s, size_t n, int64_t from_ms,
                     const struct pool_reco_params *p, size_t max, struct pool_plot_point **out,
                     size_t *npts, char *err, size_t errlen);

/* The layout pool_plot_draw uses for these points on a width x height canvas. */
void pool_plot_layout(const struct pool_plot_point *pts, size_t n, int width, int height,
                      struct pool_plot_layout *l);

/* Draws the chart (title on top) onto a new canvas; -1 with err when the size is out of
 * [POOL_PLOT_MIN_W, 16384] x [POOL_PLOT_MIN_H, 16384] or memory runs out. */
int pool_plot_draw(const char *title, const struct pool_plot_point *pts, size_t n, int width,
                   int height, struct tf_plot_canvas *c, char *err, size_t errlen);

/* pool_plot_draw, written to path as PNG (replacing it only once written whole). */
int pool_plot_write(const char *path, const char *title, const struct pool_plot_point *pts,
                    size_t n, int width, int height, char *err, size_t errlen);

#endif
