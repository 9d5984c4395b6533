/*
 * A tiny raster plotter for bench/isolation: line charts of share over time, drawn into an RGB
 * buffer by hand (axes, grid, dashed reference lines, polylines, digits from a 3x5 font) and
 * written as PNG with libpng.
 *
 * Owns: the canvas. May call: libpng.
 */
#ifndef TFUSE_BENCH_PNG_PLOT_H
#define TFUSE_BENCH_PNG_PLOT_H

#include <stdint.h>

struct plot_canvas {
    int width, height;
    uint8_t *rgb;
};

struct plot_panel {
    int x0, y0, x1, y1; /* pixel box of the data area */
    double xmax, ymax;  /* data ranges start at 0 */
};

int plot_init(struct plot_canvas *c, int width, int height);
void plot_free(struct plot_canvas *c);
/* Axes, horizontal grid every ystep, x ticks every xstep, with numeric labels. */
void plot_frame(struct plot_canvas *c, const struct plot_panel *p, double xstep, double ystep);
void plot_hline_dashed(struct plot_canvas *c, const struct plot_panel *p, double y, uint32_t color);
void plot_series(struct plot_canvas *c, const struct plot_panel *p, const double *x, const double *y,
                 int n, uint32_t color);
void plot_text(struct plot_canvas *c, int x, int y, const char *text, uint32_t color, int scale);
void plot_rect(struct plot_canvas *c, int x0, int y0, int x1, int y1, uint32_t color);
int plot_write_png(const struct plot_canvas *c, const char *path);

#endif
