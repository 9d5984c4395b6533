/*
 * A workload's chart (see pool_plot.h): the history cut into columns, the recommendation
 * replayed at the end of each (as the recommender would have seen it then), and the two panels
 * drawn with tfuse_plot.
 *
 * Owns: the columns, the layout and the drawing. May call: pool_recommend, tfuse_plot, libc,
 * libm.
 */
#include "pool_plot.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * MIB)
#define REPLAYS 100          /* recommendations computed per chart; held between them */
#define TEXT 0x000000u

static int by_time(const void *a, const void *b)
{
    int64_t x = ((const struct pool_usage_sample *)a)->t_ms;
    int64_t y = ((const struct pool_usage_sample *)b)->t_ms;
    return x < y ? -1 : x > y;
}

static double dmax(double a, double b)
{
    return a > b ? a : b;
}

/* Folds sample s into column c, whose samples so far weigh *w (a down-sampled row of the
 * store weighs the samples it stands for). */
static void fold(struct pool_plot_point *c, double *w, const struct pool_usage_sample *s)
{
    double used = (double)s->mem_used, peak = dmax((double)s->mem_peak, used);
    double cu = isfinite(s->compute_used) ? s->compute_used : 0, sw = s->count > 1 ? s->count : 1;
    *w += sw;
    if (*w == sw) {
        *c = (struct pool_plot_point){.t_ms = s->t_ms, .mem_used = used, .mem_peak = peak,
                                      .mem_limit = (double)s->mem_limit, .compute_used = cu,
                                      .compute_limit = s->compute_limit};
        return;
    }
    c->t_ms = s->t_ms;   /* samples come in time order: the column ends at its last */
    c->mem_used = dmax(c->mem_used, used);
    c->mem_peak = dmax(c->mem_peak, peak);
    c->mem_limit = dmax(c->mem_limit, (double)s->mem_limit);
    c->compute_used += (cu - c->compute_used) * sw / *w;   /* running weighted mean */
    c->compute_limit = dmax(c->compute_limit, s->compute_limit);
}

/* Sets each point's targets from pool_recommend over the sorted samples up to its time. */
static void replay(const struct pool_usage_sample *s, size_t n, const struct pool_reco_params *p,
                   struct pool_plot_point *pts, size_t npts)
{
    size_t stride = npts > REPLAYS ? (npts + REPLAYS - 1) / REPLAYS : 1, upto = 0;
    struct pool_reco r = {0};
    int have = 0;
    for (size_t k = 0; k < npts; k++) {
        if (k % stride == 0 || k == npts - 1) {
            while (upto < n && s[upto].t_ms <= pts[k].t_ms)
                upto++;
            have = pool_recommend(s, upto, pts[k].t_ms, p, &r) == 0;
        }
        if (have) {
            pts[k].mem_target = (double)r.mem_target;
            pts[k].compute_target = r.compute_target;
        }
    }
}

int pool_plot_points(const struct pool_usage_sample *s, size_t n, int64_t from_ms,
                     const struct pool_reco_params *p, size_t max, struct pool_plot_point **out,
                     size_t *npts, char *err, size_t errlen)
{
    *out = NULL;
    *npts = 0;
    struct pool_usage_sample *srt = n ? malloc(n * sizeof *srt) : NULL;
    if (n && !srt)
        return snprintf(err, errlen, "out of memory for %zu samples", n), -1;
    if (n) {
        memcpy(srt, s, n * sizeof *srt);
        qsort(srt, n, sizeof *srt, by_time);
    }
    size_t first = 0;   /* the first sample drawn */
    while (first < n && srt[first].t_ms < from_ms)
        first++;
    size_t shown = n - first, cols = max < shown ? max : shown;
    struct pool_plot_point *pts = cols ? calloc(cols, sizeof *pts) : NULL;
    double *weight = cols ? calloc(cols, sizeof *weight) : NULL;
    if (cols && (!pts || !weight)) {
        free(srt);
        free(pts);
        free(weight);
        return snprintf(err, errlen, "out of memory for %zu samples", n), -1;
    }
    double span = shown ? (double)(srt[n - 1].t_ms - srt[first].t_ms) + 1.0 : 1;
    for (size_t i = first; i < n; i++) {
        size_t b = (size_t)((double)(srt[i].t_ms - srt[first].t_ms) / span * (double)cols);
        b = b < cols ? b : cols - 1;
        fold(&pts[b], &weight[b], &srt[i]);
    }
    size_t m = 0;
    for (size_t b = 0; b < cols; b++)   /* a stretch without samples has no column */
        if (weight[b] > 0)
            pts[m++] = pts[b];
    replay(srt, n, p, pts, m);
    free(srt);
    free(weight);
    if (m == 0) {
        free(pts);
        pts = NULL;
    }
    *out = pts;
    *npts = m;
    return 0;
}

/* A round step (1, 2 or 5 times a power of ten) that cuts v into about five. */
static double nice_step(double v)
{
    double raw = v / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static double nice_max(double v)
{
    if (!(v > 0))
        return 1;
    double step = nice_step(v);
    return ceil(v / step - 1e-9) * step;
}

void pool_plot_layout(const struct pool_plot_point *pts, size_t n, int width, int height,
                      struct pool_plot_layout *l)
{
    double mem = 0, cpu = 0;
    for (size_t i = 0; i < n; i++) {
        mem = dmax(mem, dmax(dmax(pts[i].mem_used, pts[i].mem_peak),
                             dmax(pts[i].mem_limit, pts[i].mem_target)));
        cpu = dmax(cpu, dmax(pts[i].compute_used,
                             dmax(pts[i].compute_limit, pts[i].compute_target)));
    }
    double span_s = n ? (double)(pts[n - 1].t_ms - pts[0].t_ms) / 1000.0 : 0;
    l->mem_unit = mem >= 4 * GIB ? GIB : MIB;
    l->mem_unit_name = mem >= 4 * GIB ? "GiB" : "MiB";
    l->t_unit_s = span_s >= 3 * 3600 ? 3600 : span_s >= 180 ? 60 : 1;
    l->t_unit_name = span_s >= 3 * 3600 ? "h" : span_s >= 180 ? "m" : "s";
    const int top = 40, legend = 28, xlab = 34, left = 110, right = 30;
    int panels = height - top - 2 * legend - 2 * xlab, hmem = panels * 3 / 5;
    double xmax = span_s / l->t_unit_s;
    l->mem = (struct tf_plot_panel){.x0 = left, .x1 = width - right, .y0 = top + legend,
                                    .y1 = top + legend + hmem, .xmax = xmax > 0 ? xmax : 1,
                                    .ymax = nice_max(mem * 1.05 / l->mem_unit)};
    double cpct = cpu * 100 * 1.05;
    l->cpu = (struct tf_plot_panel){.x0 = left, .x1 = width - right,
                                    .y0 = l->mem.y1 + xlab + legend, .y1 = height - xlab,
                                    .xmax = l->mem.xmax,
                                    .ymax = cpct >= 100 ? 100 : nice_max(cpct < 1 ? 1 : cpct)};
}

/* One legend entry per series, right-aligned above the panel. */
static void legend(struct tf_plot_canvas *c, const struct tf_plot_panel *p, const char *title,
                   const char *const *names, const uint32_t *colors, int k)
{
    tf_plot_text(c, p->x0, p->y0 - 22, title, TEXT, 3);
    int x = p->x1;
    for (int i = k - 1; i >= 0; i--) {
        x -= 34 + 12 * (int)strlen(names[i]);
        tf_plot_rect(c, x, p->y0 - 19, x + 20, p->y0 - 11, colors[i]);
        tf_plot_text(c, x + 26, p->y0 - 22, names[i], TEXT, 3);
    }
}

/* The x, and the y of one field scaled by unit, of every point; a lone point is drawn across
 * the whole panel. Returns how many to draw from first (points without a target skipped). */
static int column(const struct pool_plot_point *pts, size_t n, size_t off, int skip_zero,
                  double unit, const struct pool_plot_layout *l, double *x, double *y,
                  int *first)
{
    *first = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)(pts[i].t_ms - pts[0].t_ms) / 1000.0 / l->t_unit_s;
        y[i] = *(const double *)((const char *)&pts[i] + off) / unit;
        if (skip_zero && y[i] <= 0 && *first == (int)i)
            (*first)++;
    }
    if (n == 1) {
        x[1] = l->mem.xmax;
        y[1] = y[0];
        return 2;
    }
    return (int)n;
}

struct series {
    size_t off;
    uint32_t color;
    int steps, skip_zero;   /* a step line; leading zeros are "no recommendation yet" */
};

static void panel(struct tf_plot_canvas *c, const struct tf_plot_panel *p,
                  const struct pool_plot_point *pts, size_t n, const struct pool_plot_layout *l,
                  const struct series *ss, int k, double unit, double *x, double *y)
{
    for (int i = 0; i < k; i++) {
        int first, m = column(pts, n, ss[i].off, ss[i].skip_zero, unit, l, x, y, &first);
        if (first >= m)
            continue;
        if (ss[i].steps)
            tf_plot_steps(c, p, x + first, y + first, m - first, ss[i].color);
        else
            tf_plot_series(c, p, x + first, y + first, m - first, ss[i].color);
    }
}

#define OFF(f) offsetof(struct pool_plot_point, f)

static void draw_panels(struct tf_plot_canvas *c, const struct pool_plot_point *pts, size_t n,
                        const struct pool_plot_layout *l, double *x, double *y)
{
    char title[64];
    static const char *const mem_names[] = {"USED", "PEAK", "LIMIT", "RECOMMENDED"};
    static const uint32_t mem_colors[] = {POOL_PLOT_USED, POOL_PLOT_PEAK, POOL_PLOT_LIMIT,
                                          POOL_PLOT_TARGET};
    snprintf(title, sizeof title, "MEMORY (%s)", l->mem_unit_name);
    tf_plot_frame_units(c, &l->mem, nice_step(l->mem.xmax), nice_step(l->mem.ymax),
                        l->t_unit_name, "");
    legend(c, &l->mem, title, mem_names, mem_colors, 4);
    /* Drawn under what is used, so that usage stays visible where it meets its limit. */
    static const struct series mem[] = {{OFF(mem_limit), POOL_PLOT_LIMIT, 1, 0},
                                        {OFF(mem_target), POOL_PLOT_TARGET, 1, 1},
                                        {OFF(mem_peak), POOL_PLOT_PEAK, 0, 0},
                                        {OFF(mem_used), POOL_PLOT_USED, 0, 0}};
    panel(c, &l->mem, pts, n, l, mem, 4, l->mem_unit, x, y);

    static const char *const cpu_names[] = {"USED", "LIMIT", "RECOMMENDED"};
    static const uint32_t cpu_colors[] = {POOL_PLOT_USED, POOL_PLOT_LIMIT, POOL_PLOT_TARGET};
    tf_plot_frame_units(c, &l->cpu, nice_step(l->cpu.xmax), nice_step(l->cpu.ymax),
                        l->t_unit_name, "%");
    legend(c, &l->cpu, "COMPUTE", cpu_names, cpu_colors, 3);
    static const struct series cpu[] = {{OFF(compute_limit), POOL_PLOT_LIMIT, 1, 0},
                                        {OFF(compute_target), POOL_PLOT_TARGET, 1, 1},
                                        {OFF(compute_used), POOL_PLOT_USED, 0, 0}};
    panel(c, &l->cpu, pts, n, l, cpu, 3, 0.01, x, y);
}

int pool_plot_draw(const char *title, const struct pool_plot_point *pts, size_t n, int width,
                   int height, struct tf_plot_canvas *c, char *err, size_t errlen)
{
    c->rgb = NULL;
    if (width < POOL_PLOT_MIN_W || height < POOL_PLOT_MIN_H || width > 16384 || height > 16384) {
        snprintf(err, errlen, "a chart of %dx%d pixels: the size must be within %dx%d and "
                 "16384x16384", width, height, POOL_PLOT_MIN_W, POOL_PLOT_MIN_H);
        return -1;
    }
    double *x = malloc((n + 2) * sizeof *x), *y = malloc((n + 2) * sizeof *y);
    if (!x || !y || tf_plot_init(c, width, height) != 0) {
        free(x);
        free(y);
        snprintf(err, errlen, "out of memory for a %dx%d chart", width, height);
        return -1;
    }
    struct pool_plot_layout l;
    pool_plot_layout(pts, n, width, height, &l);
    char upper[POOL_WORKLOAD_MAX + 64];   /* in capitals: the font's few small letters look odd */
    size_t k = 0;
    for (; title && title[k] && k < sizeof upper - 1; k++)
        upper[k] = (char)toupper((unsigned char)title[k]);
    upper[k] = '\0';
    tf_plot_text(c, l.mem.x0, 8, upper, TEXT, 3);
    if (n == 0)
        tf_plot_text(c, l.mem.x0, l.mem.y0 + 20, "NO SAMPLES IN THIS TIME", TEXT, 3);
    draw_panels(c, pts, n, &l, x, y);
    free(x);
    free(y);
    return 0;
}

int pool_plot_write(const char *path, const char *title, const struct pool_plot_point *pts,
                    size_t n, int width, int height, char *err, size_t errlen)
{
    struct tf_plot_canvas c;
    if (pool_plot_draw(title, pts, n, width, height, &c, err, errlen) != 0)
        return -1;
    int rc = tf_plot_write_png(&c, path);
    if (rc != 0)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    tf_plot_free(&c);
    return rc;
}
