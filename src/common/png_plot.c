/*
 * Raster plotting (see png_plot.h): bench/isolation, `tfuse pool plot`, bench/autoscale.
 *
 * Owns: the canvas and its PNG encoding. May call: libpng, libc.
 */
#include "png_plot.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIDE_MAX 16384

int tf_plot_init(struct tf_plot_canvas *c, int width, int height)
{
    c->width = width;
    c->height = height;
    c->rgb = NULL;
    if (width <= 0 || height <= 0 || width > SIDE_MAX || height > SIDE_MAX)
        return -1;
    c->rgb = malloc((size_t)width * height * 3);
    if (!c->rgb)
        return -1;
    memset(c->rgb, 255, (size_t)width * height * 3);
    return 0;
}

void tf_plot_free(struct tf_plot_canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
}

static void put(struct tf_plot_canvas *c, int x, int y, uint32_t color)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    uint8_t *p = c->rgb + ((size_t)y * c->width + x) * 3;
    p[0] = (uint8_t)(color >> 16);
    p[1] = (uint8_t)(color >> 8);
    p[2] = (uint8_t)color;
}

void tf_plot_rect(struct tf_plot_canvas *c, int x0, int y0, int x1, int y1, uint32_t color)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put(c, x, y, color);
}

/* Bresenham, two pixels thick. */
static void line(struct tf_plot_canvas *c, int x0, int y0, int x1, int y1, uint32_t color,
                 int thick)
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

static int px(const struct tf_plot_panel *p, double x)
{
    if (x > p->xmax)
        x = p->xmax;
    if (x < 0)
        x = 0;
    return p->x0 + (int)((x / p->xmax) * (p->x1 - p->x0) + 0.5);
}

static int py(const struct tf_plot_panel *p, double y)
{
    if (y > p->ymax)
        y = p->ymax;
    if (y < 0)
        y = 0;
    return p->y1 - (int)((y / p->ymax) * (p->y1 - p->y0) + 0.5);
}

/* 3x5 glyphs, one row per 3 bits (4: left column). The few lower-case letters here are the
 * ones the bench/isolation charts always drew that way; others fall back to capitals. */
static const struct { char ch; uint8_t rows[5]; } glyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'%', {5, 1, 2, 4, 5}}, {'s', {0, 3, 6, 3, 6}},
    {'/', {1, 1, 2, 4, 4}}, {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}},
    {'D', {6, 5, 5, 5, 6}}, {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'.', {0, 0, 0, 0, 2}},
    {'-', {0, 0, 7, 0, 0}}, {' ', {0, 0, 0, 0, 0}}, {'G', {7, 4, 5, 5, 7}},
    {'H', {5, 5, 7, 5, 5}}, {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 7}}, {'+', {0, 2, 7, 2, 0}},
    {'h', {4, 4, 7, 5, 5}}, {'o', {0, 0, 7, 5, 7}}, {'g', {7, 5, 7, 1, 7}},
    {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}}, {'M', {5, 7, 5, 5, 5}}, {'N', {6, 5, 5, 5, 5}},
    {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}}, {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}},
    {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}}, {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}},
    {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}}, {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
    {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}}, {':', {0, 2, 0, 2, 0}}, {'=', {0, 7, 0, 7, 0}},
    {',', {0, 0, 0, 2, 4}}, {'_', {0, 0, 0, 0, 7}}, {'<', {1, 2, 4, 2, 1}}, {'>', {4, 2, 1, 2, 4}},
    {'*', {0, 5, 2, 5, 0}}, {'\'', {2, 2, 0, 0, 0}},
};

static int glyph_of(char ch)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t g = 0; g < sizeof glyphs / sizeof glyphs[0]; g++)
            if (glyphs[g].ch == ch)
                return (int)g;
        ch = (char)toupper((unsigned char)ch);
    }
    return -1;
}

void tf_plot_text(struct tf_plot_canvas *c, int x, int y, const char *text, uint32_t color,
                  int scale)
{
    for (; *text; text++, x += 4 * scale) {
        int g = glyph_of(*text);
        if (g < 0)
            continue;
        for (int row = 0; row < 5; row++)
            for (int col = 0; col < 3; col++)
                if (glyphs[g].rows[row] & (4 >> col))
                    tf_plot_rect(c, x + col * scale, y + row * scale, x + col * scale + scale - 1,
                              y + row * scale + scale - 1, color);
    }
}

static void label(char *out, size_t len, double v, double step, const char *unit)
{
    snprintf(out, len, step < 1 ? "%.1f%s" : "%.0f%s", v, unit);
}

void tf_plot_frame_units(struct tf_plot_canvas *c, const struct tf_plot_panel *p,
                         double xstep, double ystep, const char *xunit, const char *yunit)
{
    char text[32];
    /* A step that would draw more than a few hundred lines (or none) is a caller's mistake. */
    if (!(ystep > 0) || p->ymax / ystep > 400)
        ystep = p->ymax > 0 ? p->ymax : 1;
    if (!(xstep > 0) || p->xmax / xstep > 400)
        xstep = p->xmax > 0 ? p->xmax : 1;
    for (double y = 0; y <= p->ymax + 1e-9; y += ystep) {
        int yy = py(p, y);
        line(c, p->x0, yy, p->x1, yy, 0xdddddd, 0);
        label(text, sizeof text, y, ystep, yunit);
        tf_plot_text(c, p->x0 - 4 * 2 * (int)strlen(text) - 4, yy - 5, text, 0x444444, 2);
    }
    for (double x = 0; x <= p->xmax + 1e-9; x += xstep) {
        int xx = px(p, x);
        line(c, xx, p->y1, xx, p->y1 + 4, 0x444444, 0);
        label(text, sizeof text, x, xstep, xunit);
        tf_plot_text(c, xx - 4 * (int)strlen(text), p->y1 + 8, text, 0x444444, 2);
    }
    line(c, p->x0, p->y0, p->x0, p->y1, 0x000000, 0);
    line(c, p->x0, p->y1, p->x1, p->y1, 0x000000, 0);
}

void tf_plot_frame(struct tf_plot_canvas *c, const struct tf_plot_panel *p, double xstep,
                   double ystep)
{
    tf_plot_frame_units(c, p, xstep, ystep, "s", "%");
}

void tf_plot_hline_dashed(struct tf_plot_canvas *c, const struct tf_plot_panel *p, double y,
                          uint32_t color)
{
    int yy = py(p, y);
    for (int x = p->x0; x < p->x1; x += 10)
        line(c, x, yy, x + 5 < p->x1 ? x + 5 : p->x1, yy, color, 0);
}

void tf_plot_series(struct tf_plot_canvas *c, const struct tf_plot_panel *p, const double *x,
                    const double *y, int n, uint32_t color)
{
    for (int i = 1; i < n; i++)
        line(c, px(p, x[i - 1]), py(p, y[i - 1]), px(p, x[i]), py(p, y[i]), color, 1);
}

void tf_plot_steps(struct tf_plot_canvas *c, const struct tf_plot_panel *p, const double *x,
                   const double *y, int n, uint32_t color)
{
    for (int i = 1; i < n; i++) {
        line(c, px(p, x[i - 1]), py(p, y[i - 1]), px(p, x[i]), py(p, y[i - 1]), color, 1);
        line(c, px(p, x[i]), py(p, y[i - 1]), px(p, x[i]), py(p, y[i]), color, 1);
    }
}

static int encode(const struct tf_plot_canvas *c, FILE *f)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
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
    return 0;
}

/* Written beside path and renamed over it, so a failed write leaves what was there. */
int tf_plot_write_png(const struct tf_plot_canvas *c, const char *path)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        errno = e;
        return -1;
    }
    int rc = encode(c, f);
    if (rc == 0 && ferror(f))
        rc = -1;
    int e = rc ? EIO : 0;
    if (fclose(f) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        e = errno;
        rc = -1;
    }
    if (rc) {
        unlink(tmp);
        errno = e;
    }
    return rc;
}
