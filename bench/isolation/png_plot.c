/*
 * Raster plotting for bench/isolation (see png_plot.h).
 *
 * Owns: the canvas and its PNG encoding. May call: libpng.
 */
#include "png_plot.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plot_init(struct plot_canvas *c, int width, int height)
{
    c->width = width;
    c->height = height;
    c->rgb = malloc((size_t)width * height * 3);
    if (!c->rgb)
        return -1;
    memset(c->rgb, 255, (size_t)width * height * 3);
    return 0;
}

void plot_free(struct plot_canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
}

static void put(struct plot_canvas *c, int x, int y, uint32_t color)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    uint8_t *p = c->rgb + ((size_t)y * c->width + x) * 3;
    p[0] = (uint8_t)(color >> 16);
    p[1] = (uint8_t)(color >> 8);
    p[2] = (uint8_t)color;
}

void plot_rect(struct plot_canvas *c, int x0, int y0, int x1, int y1, uint32_t color)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put(c, x, y, color);
}

/* Bresenham, two pixels thick. */
static void line(struct plot_canvas *c, int x0, int y0, int x1, int y1, uint32_t color, int thick)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        put(c, x0, y0, color);
        if (thick) {
            put(c, x0 + 1, y0, color);
            put(c, x0, y0 + 1, color);
        }
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

static int px(const struct plot_panel *p, double x)
{
    return p->x0 + (int)((x / p->xmax) * (p->x1 - p->x0) + 0.5);
}

static int py(const struct plot_panel *p, double y)
{
    if (y > p->ymax)
        y = p->ymax;
    if (y < 0)
        y = 0;
    return p->y1 - (int)((y / p->ymax) * (p->y1 - p->y0) + 0.5);
}

/* 3x5 glyphs, one row per 3 bits, for the characters the labels use. */
static const struct { char ch; uint8_t rows[5]; } glyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'%', {5, 1, 2, 4, 5}}, {'s', {0, 3, 6, 3, 6}},
    {'/', {1, 1, 2, 4, 4}}, {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}},
    {'D', {6, 5, 5, 5, 6}}, {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'.', {0, 0, 0, 0, 2}},
    {'-', {0, 0, 7, 0, 0}}, {' ', {0, 0, 0, 0, 0}}, {'G', {7, 4, 5, 5, 7}},
    {'H', {5, 5, 7, 5, 5}}, {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 7}}, {'+', {0, 2, 7, 2, 0}},
    {'h', {4, 4, 7, 5, 5}}, {'o', {0, 0, 7, 5, 7}}, {'g', {7, 5, 7, 1, 7}},
};

void plot_text(struct plot_canvas *c, int x, int y, const char *text, uint32_t color, int scale)
{
    for (; *text; text++, x += 4 * scale) {
        for (size_t g = 0; g < sizeof glyphs / sizeof glyphs[0]; g++) {
            if (glyphs[g].ch != *text)
                continue;
            for (int row = 0; row < 5; row++)
                for (int col = 0; col < 3; col++)
                    if (glyphs[g].rows[row] & (4 >> col))
                        plot_rect(c, x + col * scale, y + row * scale, x + col * scale + scale - 1,
                                  y + row * scale + scale - 1, color);
        }
    }
}

void plot_frame(struct plot_canvas *c, const struct plot_panel *p, double xstep, double ystep)
{
    char label[16];
    for (double y = 0; y <= p->ymax + 1e-9; y += ystep) {
        int yy = py(p, y);
        line(c, p->x0, yy, p->x1, yy, 0xdddddd, 0);
        snprintf(label, sizeof label, "%.0f%%", y);
        plot_text(c, p->x0 - 4 * 2 * (int)strlen(label) - 4, yy - 5, label, 0x444444, 2);
    }
    for (double x = 0; x <= p->xmax + 1e-9; x += xstep) {
        int xx = px(p, x);
        line(c, xx, p->y1, xx, p->y1 + 4, 0x444444, 0);
        snprintf(label, sizeof label, "%.0fs", x);
        plot_text(c, xx - 4 * (int)strlen(label), p->y1 + 8, label, 0x444444, 2);
    }
    line(c, p->x0, p->y0, p->x0, p->y1, 0x000000, 0);
    line(c, p->x0, p->y1, p->x1, p->y1, 0x000000, 0);
}

void plot_hline_dashed(struct plot_canvas *c, const struct plot_panel *p, double y, uint32_t color)
{
    int yy = py(p, y);
    for (int x = p->x0; x < p->x1; x += 10)
        line(c, x, yy, x + 5 < p->x1 ? x + 5 : p->x1, yy, color, 0);
}

void plot_series(struct plot_canvas *c, const struct plot_panel *p, const double *x, const double *y,
                 int n, uint32_t color)
{
    for (int i = 1; i < n; i++)
        line(c, px(p, x[i - 1]), py(p, y[i - 1]), px(p, x[i]), py(p, y[i]), color, 1);
}

int plot_write_png(const struct plot_canvas *c, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->height; y++)
        png_write_row(png, c->rgb + (size_t)y * c->width * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0 ? 0 : -1;
}
