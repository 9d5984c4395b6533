/*
 * A workload's chart (src/pool/pool_plot.c): the columns it makes of a synthetic two-day
 * history (highest memory per column, the recommendation replayed as of each column), and the
 * PNG it writes, read back with libpng: the right size, and the series' colours at the pixels
 * where their known values fall (memory used, peak, limit and recommendation; compute used and
 * limit). Also: an empty history, sizes out of range, an unwritable path leaving the old file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool_plot.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define T0 1700000000000ll
#define STEP_MS (5 * 60000ll)
#define NS (2 * 24 * 12)   /* two days every 5 minutes */

/* Day one holds 1 GiB (peak 1.25), day two 2 GiB (peak 2.25), under a 6 GiB limit; compute
 * 20% of a 50% limit. */
static struct pool_usage_sample *history(void)
{
    struct pool_usage_sample *s = calloc(NS, sizeof *s);
    for (int i = 0; i < NS; i++) {
        uint64_t used = i < NS / 2 ? 1 * GiB : 2 * GiB;
        s[i] = (struct pool_usage_sample){.t_ms = T0 + i * STEP_MS, .mem_used = used,
                                          .mem_peak = used + 256 * MiB, .mem_limit = 6 * GiB,
                                          .compute_used = 0.2, .compute_limit = 0.5};
    }
    return s;
}

static struct pool_reco_params params(void)
{
    struct pool_reco_params p;
    pool_reco_params_default(&p);
    return p;
}

static void columns(void **state)
{
    (void)state;
    struct pool_usage_sample *s = history();
    struct pool_reco_params p = params();
    struct pool_plot_point *pts;
    size_t n;
    char err[256];
    assert_int_equal(pool_plot_points(s, NS, 0, &p, 96, &pts, &n, err, sizeof err), 0);
    assert_int_equal(n, 96);   /* 576 samples, six a column */
    assert_int_equal(pts[0].mem_used, 1 * GiB);
    assert_int_equal(pts[0].mem_peak, 1 * GiB + 256 * MiB);
    assert_int_equal(pts[95].mem_used, 2 * GiB);
    assert_int_equal(pts[95].t_ms, T0 + (NS - 1) * STEP_MS);
    assert_true(pts[10].compute_used > 0.199 && pts[10].compute_used < 0.201);
    /* A day in: every sample so far peaked at 1.25 GiB: the target is that +15%. */
    double want = 1.15 * (double)(1 * GiB + 256 * MiB);
    assert_true(pts[40].mem_target >= want && pts[40].mem_target < want + 1);
    /* At the end the newer, heavier day weighs more (24 h half-life): p95 is 2.25 GiB. */
    assert_true(pts[95].mem_target >= 1.15 * (double)(2 * GiB + 256 * MiB));
    free(pts);
    /* Fewer samples than columns: one column each, out of order in, in order out. */
    struct pool_usage_sample two[2] = {s[5], s[1]};
    assert_int_equal(pool_plot_points(two, 2, 0, &p, 96, &pts, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_true(pts[0].t_ms < pts[1].t_ms);
    free(pts);
    assert_int_equal(pool_plot_points(s, 0, 0, &p, 96, &pts, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(pts);
    /* One column of a down-sampled row standing for 4 samples at 10% and a raw one at 60%:
     * compute averages 20%, memory keeps the highest. */
    struct pool_usage_sample rows[2] = {
        {.t_ms = T0, .mem_used = GiB, .compute_used = 0.1, .count = 4},
        {.t_ms = T0 + STEP_MS, .mem_used = 2 * GiB, .compute_used = 0.6}};
    assert_int_equal(pool_plot_points(rows, 2, 0, &p, 1, &pts, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_float_equal(pts[0].compute_used, 0.2, 1e-9);
    assert_int_equal(pts[0].mem_used, 2 * GiB);
    free(pts);
    /* From the second day on: day one is not drawn, but the recommender remembers it. */
    int64_t day2 = T0 + (NS / 2) * STEP_MS;
    assert_int_equal(pool_plot_points(s, NS, day2, &p, 48, &pts, &n, err, sizeof err), 0);
    assert_int_equal(n, 48);
    assert_true(pts[0].t_ms >= day2);
    assert_int_equal(pts[0].mem_used, 2 * GiB);
    size_t upto = 0;
    while (upto < NS && s[upto].t_ms <= pts[0].t_ms)
        upto++;
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, upto, pts[0].t_ms, &p, &r), 0);
    assert_int_equal(pts[0].mem_target, r.mem_target);
    assert_true(r.samples > NS / 2);   /* day one's samples counted */
    free(pts);
    free(s);
}

struct image {
    png_image img;
    uint8_t *px;
};

static void read_png(const char *path, struct image *im)
{
    memset(im, 0, sizeof *im);
    im->img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&im->img, path));
    im->img.format = PNG_FORMAT_RGB;
    im->px = malloc(PNG_IMAGE_SIZE(im->img));
    assert_non_null(im->px);
    assert_true(png_image_finish_read(&im->img, NULL, im->px, 0, NULL));
}

static uint32_t pixel(const struct image *im, int x, int y)
{
    const uint8_t *p = im->px + ((size_t)y * im->img.width + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Whether colour is within 3 pixels above or below the row where value falls at x. */
static int colour_at(const struct image *im, const struct tf_plot_panel *p, double x,
                     double value, uint32_t colour)
{
    int px = p->x0 + (int)(x / p->xmax * (p->x1 - p->x0) + 0.5);
    int py = p->y1 - (int)(value / p->ymax * (p->y1 - p->y0) + 0.5);
    for (int dy = -3; dy <= 3; dy++)
        if (pixel(im, px, py + dy) == colour)
            return 1;
    return 0;
}

static void written_png(void **state)
{
    (void)state;
    struct pool_usage_sample *s = history();
    struct pool_reco_params p = params();
    struct pool_plot_point *pts;
    size_t n;
    char err[256], path[] = "/tmp/test_pool_plot.XXXXXX";
    assert_int_equal(pool_plot_points(s, NS, 0, &p, 400, &pts, &n, err, sizeof err), 0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pool_plot_write(path, "team-a/llama", pts, n, 900, 640, err, sizeof err), 0);
    struct image im;
    read_png(path, &im);
    assert_int_equal(im.img.width, 900);
    assert_int_equal(im.img.height, 640);
    struct pool_plot_layout l;
    pool_plot_layout(pts, n, 900, 640, &l);
    assert_string_equal(l.mem_unit_name, "GiB");   /* 6 GiB at the top */
    assert_string_equal(l.t_unit_name, "h");
    assert_true(l.mem.ymax >= 6 && l.cpu.ymax >= 50);
    /* Day one at 6 h, day two at 36 h: used, peak and the limit where their values fall. */
    assert_true(colour_at(&im, &l.mem, 6, 1.0, POOL_PLOT_USED));
    assert_true(colour_at(&im, &l.mem, 36, 2.0, POOL_PLOT_USED));
    assert_true(colour_at(&im, &l.mem, 6, 1.25, POOL_PLOT_PEAK));
    assert_true(colour_at(&im, &l.mem, 36, 2.25, POOL_PLOT_PEAK));
    assert_true(colour_at(&im, &l.mem, 20, 6.0, POOL_PLOT_LIMIT));
    assert_false(colour_at(&im, &l.mem, 36, 1.0, POOL_PLOT_USED));   /* it moved up */
    /* The recommendation: 1.25 GiB +15% on day one. */
    assert_true(colour_at(&im, &l.mem, 12, 1.25 * 1.15, POOL_PLOT_TARGET));
    /* Compute in percent: used 20, limit 50; the target is 20% +15%. */
    assert_true(colour_at(&im, &l.cpu, 30, 20, POOL_PLOT_USED));
    assert_true(colour_at(&im, &l.cpu, 30, 50, POOL_PLOT_LIMIT));
    assert_true(colour_at(&im, &l.cpu, 30, 23, POOL_PLOT_TARGET));
    free(im.px);
    png_image_free(&im.img);
    unlink(path);
    free(pts);
    free(s);
}

static void empty_and_bad(void **state)
{
    (void)state;
    char err[256], path[] = "/tmp/test_pool_plot.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old", 3), 3);
    close(fd);
    /* Nothing to show is still a chart (it says so), not an error. */
    assert_int_equal(pool_plot_write(path, "nobody", NULL, 0, 400, 300, err, sizeof err), 0);
    struct image im;
    read_png(path, &im);
    assert_int_equal(im.img.width, 400);
    free(im.px);
    png_image_free(&im.img);
    /* Sizes out of range are refused with the range. */
    assert_int_equal(pool_plot_write(path, "x", NULL, 0, 10, 300, err, sizeof err), -1);
    assert_non_null(strstr(err, "10x300"));
    assert_int_equal(pool_plot_write(path, "x", NULL, 0, 400, 20000, err, sizeof err), -1);
    /* A folder that does not exist: the error names the path. */
    assert_int_equal(pool_plot_write("/nonexistent-dir/x.png", "x", NULL, 0, 400, 300, err,
                                     sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.png"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(columns),
        cmocka_unit_test(written_png),
        cmocka_unit_test(empty_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
