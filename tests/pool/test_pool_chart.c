/*
 * A workload's chart through the pool (issue 14): pool_svc_chart_json over the store's history
 * (columns of the window, the recommendation replayed with the samples before it too), GET
 * /api/v1/workloads/{tenant}/{name}/chart (tenant-scoped, bad arguments refused), `tfuse pool
 * plot` writing the PNG (read back: the size, the usage and limit where they fall; nothing
 * written for another tenant's workload), and serve's --history values. A nodeless pool on a
 * clock the test sets: nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credfile.h"
#include "httpc.h"
#include "pool_cli_int.h"
#include "pool_http.h"
#include "pool_plot.h"
#include "pool_store.h"
#include "pool_svc.h"
#include "tfuse_pool.h"

#define GiB (1ull << 30)
#define MIN_MS 60000ll
#define ADMIN "chart-test-admin-credential"

static int64_t clock_now = 1700000000000ll;

static int64_t test_clock(void *arg)
{
    (void)arg;
    return clock_now;
}

struct env {
    char db[256], url[64], acme[TF_CRED_MAX], other[TF_CRED_MAX], tokfile[256], png[256];
    struct pool_reco_params p;
    struct pool_svc *svc;
    struct pool_http *http;
};

/* Two hours of acme/web a minute apart: 1 GiB used, 1.5 GiB peak, a 4 GiB limit. */
static void record(struct env *v)
{
    struct pool_error e;
    for (int i = 0; i <= 120; i++) {
        struct pool_usage_sample s = {.t_ms = clock_now - (120 - i) * MIN_MS, .mem_used = GiB,
                                      .mem_peak = 3 * GiB / 2, .mem_limit = 4 * GiB,
                                      .compute_used = 0.2, .compute_limit = 0.5};
        assert_int_equal(pool_svc_usage_record(v->svc, "acme/web", &s, &e), 0);
        s.mem_peak = 8 * GiB;
        assert_int_equal(pool_svc_usage_record(v->svc, "other/x", &s, &e), 0);
    }
}

static int setup(void **state)
{
    struct env *v = calloc(1, sizeof *v);
    snprintf(v->db, sizeof v->db, "/tmp/tfuse-test-chart-%d.db", getpid());
    snprintf(v->tokfile, sizeof v->tokfile, "/tmp/tfuse-test-chart-%d.token", getpid());
    snprintf(v->png, sizeof v->png, "/tmp/tfuse-test-chart-%d.png", getpid());
    pool_store_remove_files(v->db);
    pool_reco_params_default(&v->p);
    v->p.half_life_s = 3600;
    struct pool_config cfg = {.db_path = v->db, .nodeless = true, .heartbeat_timeout_s = 60,
                              .admin_token = ADMIN, .reco = &v->p, .clock_ms = test_clock,
                              .autoscale_period_s = -1};
    char err[256];
    v->svc = pool_svc_open(&cfg, err, sizeof err);
    assert_non_null(v->svc);
    v->http = pool_http_start(v->svc, "127.0.0.1", 0, err, sizeof err);
    assert_non_null(v->http);
    snprintf(v->url, sizeof v->url, "http://127.0.0.1:%u", pool_http_port(v->http));
    struct pool_error e = {0};
    assert_int_equal(pool_svc_create_tenant(v->svc, "acme", NULL, v->acme, &e), 0);
    assert_int_equal(pool_svc_create_tenant(v->svc, "other", NULL, v->other, &e), 0);
    record(v);
    *state = v;
    return 0;
}

static int teardown(void **state)
{
    struct env *v = *state;
    pool_http_stop(v->http);
    pool_svc_close(v->svc);
    pool_store_remove_files(v->db);
    unlink(v->tokfile);
    unlink(v->png);
    free(v);
    return 0;
}

static void view(void **state)
{
    struct env *v = *state;
    struct pool_error e = {0};
    json_t *o = pool_svc_chart_json(v->svc, "acme/web", NULL, clock_now - 60 * MIN_MS,
                                    clock_now + 1, 30, &e);
    assert_non_null(o);
    json_t *pts = json_object_get(o, "points");
    assert_int_equal(json_array_size(pts), 30);
    json_t *p0 = json_array_get(pts, 0);
    assert_true(json_integer_value(json_object_get(p0, "t_ms")) >= clock_now - 60 * MIN_MS);
    assert_int_equal(json_integer_value(json_object_get(p0, "mem_used")), GiB);
    assert_int_equal(json_integer_value(json_object_get(p0, "mem_limit")), 4 * GiB);
    /* The recommendation at the first column counts the hour before the window too. */
    struct pool_usage_source src = pool_svc_store_source(v->svc);
    struct pool_usage_sample *s;
    size_t n;
    char err[128];
    int64_t t0 = json_integer_value(json_object_get(p0, "t_ms"));
    assert_int_equal(src.query(src.ctx, "acme/web", 0, t0 + 1, &s, &n, err, sizeof err), 0);
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, n, t0, &v->p, &r), 0);
    assert_true(n > 60);
    free(s);
    assert_int_equal(json_integer_value(json_object_get(p0, "mem_target")), r.mem_target);
    json_decref(o);
    /* Another tenant's workload is absent; bad windows and column counts are refused. */
    assert_null(pool_svc_chart_json(v->svc, "acme/web", "other", 0, clock_now, 30, &e));
    assert_int_equal(e.status, 404);
    assert_null(pool_svc_chart_json(v->svc, "acme/web", NULL, clock_now, clock_now, 30, &e));
    assert_int_equal(e.status, 400);
    assert_null(pool_svc_chart_json(v->svc, "acme/web", NULL, 0, clock_now, 0, &e));
    assert_int_equal(e.status, 400);
    /* A workload without history: a chart without points. */
    o = pool_svc_chart_json(v->svc, "acme/none", "acme", 0, clock_now, 30, &e);
    assert_int_equal(json_array_size(json_object_get(o, "points")), 0);
    json_decref(o);
}

static long get(struct env *v, const char *token, const char *path)
{
    char url[512], err[256];
    snprintf(url, sizeof url, "%s%s", v->url, path);
    struct tf_http_opts o = {.bearer = token};
    struct tf_http_response r;
    assert_int_equal(tf_http_request("GET", url, NULL, 20000, &o, &r, err, sizeof err), 0);
    free(r.body);
    return r.status;
}

static void route(void **state)
{
    struct env *v = *state;
    assert_int_equal(get(v, v->acme, "/api/v1/workloads/acme/web/chart?hours=1&columns=50"),
                     200);
    assert_int_equal(get(v, ADMIN, "/api/v1/workloads/other/x/chart"), 200);
    assert_int_equal(get(v, v->other, "/api/v1/workloads/acme/web/chart"), 404);
    assert_int_equal(get(v, NULL, "/api/v1/workloads/acme/web/chart"), 401);
    assert_int_equal(get(v, v->acme, "/api/v1/workloads/acme/web/chart?from_ms=x"), 400);
    assert_int_equal(get(v, v->acme, "/api/v1/workloads/acme/web/chart?columns=0"), 400);
}

static uint32_t pixel(const uint8_t *px, int w, int x, int y)
{
    const uint8_t *p = px + ((size_t)y * (size_t)w + (size_t)x) * 3;
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Whether colour is within 3 rows of where value falls in panel p, halfway across. */
static int near(const uint8_t *px, int w, const struct tf_plot_panel *p, double value,
                uint32_t colour)
{
    int x = (p->x0 + p->x1) / 2, y = p->y1 - (int)(value / p->ymax * (p->y1 - p->y0) + 0.5);
    for (int dy = -3; dy <= 3; dy++)
        if (pixel(px, w, x, y + dy) == colour)
            return 1;
    return 0;
}

static int run_cli(struct env *v, const char *workload, const char *token)
{
    unlink(v->tokfile);
    int fd = open(v->tokfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    assert_non_null(f);
    fputs(token, f);
    fclose(f);
    char *argv[] = {"tfuse-pool", "plot", (char *)workload, "-o", v->png, "--pool", v->url,
                    "--token-file", v->tokfile, "--hours", "2", "--width", "640", "--height",
                    "480", NULL};
    return tfuse_pool_main(15, argv);
}

static void cli_plot(void **state)
{
    struct env *v = *state;
    unlink(v->png);
    assert_int_equal(run_cli(v, "acme/web", v->other), 1);   /* not its workload */
    assert_int_equal(access(v->png, F_OK), -1);
    assert_int_equal(run_cli(v, "acme/web", v->acme), 0);
    png_image img = {.version = PNG_IMAGE_VERSION};
    assert_true(png_image_begin_read_from_file(&img, v->png));
    img.format = PNG_FORMAT_RGB;
    assert_int_equal(img.width, 640);
    assert_int_equal(img.height, 480);
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    /* The same columns the CLI asked for (2 hours, 320 columns), for the layout. */
    struct pool_error e = {0};
    json_t *o = pool_svc_chart_json(v->svc, "acme/web", "acme", clock_now - 120 * MIN_MS,
                                    clock_now, 320, &e);
    size_t n = json_array_size(json_object_get(o, "points"));
    struct pool_plot_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(json_object_get(o, "points"), i);
        pts[i] = (struct pool_plot_point){
            .t_ms = json_integer_value(json_object_get(p, "t_ms")),
            .mem_used = (double)json_integer_value(json_object_get(p, "mem_used")),
            .mem_limit = (double)json_integer_value(json_object_get(p, "mem_limit")),
            .mem_peak = (double)json_integer_value(json_object_get(p, "mem_peak")),
            .mem_target = (double)json_integer_value(json_object_get(p, "mem_target")),
            .compute_limit = 0.5};
    }
    struct pool_plot_layout l;
    pool_plot_layout(pts, n, 640, 480, &l);
    assert_string_equal(l.mem_unit_name, "GiB");
    assert_true(near(px, 640, &l.mem, 1, POOL_PLOT_USED));
    assert_true(near(px, 640, &l.mem, 1.5, POOL_PLOT_PEAK));
    assert_true(near(px, 640, &l.mem, 4, POOL_PLOT_LIMIT));
    assert_true(near(px, 640, &l.cpu, 50, POOL_PLOT_LIMIT));
    free(pts);
    json_decref(o);
    free(px);
    png_image_free(&img);
    /* Usage errors: no output, no TENANT/NAME. */
    char *bad1[] = {"tfuse-pool", "plot", "acme/web", "--pool", v->url, NULL};
    assert_int_equal(tfuse_pool_main(5, bad1), 2);
    char *bad2[] = {"tfuse-pool", "plot", "web", "-o", v->png, "--pool", v->url, NULL};
    assert_int_equal(tfuse_pool_main(7, bad2), 2);
}

static void history_flag(void **state)
{
    struct env *v = *state;
    assert_int_equal(pool_cli_history_open(v->svc, NULL), 0);
    assert_int_equal(pool_cli_history_open(v->svc, "store"), 0);
    assert_int_equal(pool_cli_history_open(v->svc, "graphite:http://x"), 2);
    assert_int_equal(pool_cli_history_open(v->svc, "prometheus:ftp://x"), 2);
    /* A nodeless pool's vGPUs have no ids: Prometheus is never asked, the chart is empty. */
    assert_int_equal(pool_cli_history_open(v->svc, "prometheus:http://127.0.0.1:1"), 0);
    struct pool_error e = {0};
    json_t *o = pool_svc_chart_json(v->svc, "acme/web", NULL, 0, clock_now + 1, 30, &e);
    assert_non_null(o);
    assert_int_equal(json_array_size(json_object_get(o, "points")), 0);
    json_decref(o);
    pool_svc_set_history(v->svc, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(view),
        cmocka_unit_test(route),
        cmocka_unit_test(cli_plot),
        cmocka_unit_test(history_flag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
