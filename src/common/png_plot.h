/*
 * A tiny raster plotter: line charts drawn into an RGB buffer by hand (axes, grid, dashed
 * reference lines, polylines and step lines, text from a 3x5 font) and written as PNG with
 * libpng. Used by bench/isolation (share over time), `tfuse pool plot` and bench/autoscale
 * (a workload's memory and compute over time, src/pool/pool_plot.c).
 *
 * Built as its own library, tfuse_plot, so that nothing else of src/common pulls libpng.
 * Owns: the canvas. May call: libpng, libc.
 */
#ifndef TFUSE_COMMON_PNG_PLOT_H
#define TFUSE_COMMON_PNG_PLOT_H

#include <stdint.h>

struct tf_plot_canvas {
    int width, height;
    uint8_t *rgb;
};

struct tf_plot_panel {
    int x0, y0, x1, y1; /* pixel box of the data area */
    double xmax, ymax;  /* data ranges start at 0 */
};

/* A white canvas; -1 when the size is not positive, too large (over 16384 a side) or memory
 * runs out. */
int tf_plot_init(struct tf_plot_canvas *c, int width, int height);
void tf_plot_free(struct tf_plot_canvas *c);
/* Axes, horizontal grid every ystep, x ticks every xstep, labelled with the value and a unit
 * ("%", "s", "h", "MiB"; one decimal where the step is below 1). */
void tf_plot_frame_units(struct tf_plot_canvas *c, const struct tf_plot_panel *p,
                         double xstep, double ystep, const char *xunit, const char *yunit);
/* tf_plot_frame_units with seconds on x and percent on y (bench/isolation's charts). */
void tf_plot_frame(struct tf_plot_canvas *c, const struct tf_plot_panel *p, double xstep,
                   double ystep);
void tf_plot_hline_dashed(struct tf_plot_canvas *c, const struct tf_plot_panel *p, double y,
                          uint32_t color);
/* A polyline through (x[i], y[i]), two pixels thick. */
void tf_plot_series(struct tf_plot_canvas *c, const struct tf_plot_panel *p, const double *x,
                    const double *y, int n, uint32_t color);
/* A step line: y[i] holds from x[i] until x[i + 1] (a limit that changes at instants). */
void tf_plot_steps(struct tf_plot_canvas *c, const struct tf_plot_panel *p, const double *x,
                   const double *y, int n, uint32_t color);
/* Text in the 3x5 font at scale pixels per dot; lower-case letters without a glyph of their own
 * are drawn as capitals, characters without a glyph as a space. */
void tf_plot_text(struct tf_plot_canvas *c, int x, int y, const char *text, uint32_t color,
                  int scale);
void tf_plot_rect(struct tf_plot_canvas *c, int x0, int y0, int x1, int y1, uint32_t color);
/* 0, or -1 with errno set (the file could not be written; a partial file is removed). */
int tf_plot_write_png(const struct tf_plot_canvas *c, const char *path);

#endif
