/*
 * `tfuse pool plot TENANT/NAME -o FILE.png` (issue 14, docs/autoscale.md): a workload's chart,
 * drawn here (pool_plot.h) from the columns GET /api/v1/workloads/{tenant}/{name}/chart
 * answers (pool_chart.c); and serve's --history store|prometheus:URL, the history source the
 * recommender, auto mode and the chart read.
 *
 * Calls pool_cli.c's client (pool_cli_int.h), pool_plot.h, pool_promsrc_open,
 * pool_svc_set_history, jansson, getopt, libc.
 */
#include "pool_cli_int.h"
#include "pool_plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int pool_cli_history_open(struct pool_svc *svc, const char *spec)
{
    if (!spec || strcmp(spec, "store") == 0)
        return 0;
    if (strncmp(spec, "prometheus:", 11) != 0) {
        fprintf(stderr, "tfuse pool: --history must be store or prometheus:URL, not %s\n", spec);
        return 2;
    }
    struct pool_usage_source src;
    char err[512];
    if (pool_promsrc_open(spec + 11, pool_svc_vgpus_of, svc, &src, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse pool: --history: %s\n", err);
        return 2;
    }
    pool_svc_set_history(svc, &src);
    /* Said without the userinfo: a password must not reach the log. */
    const char *url = spec + 11, *host = strstr(url, "://") + 3;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        printf("tfuse pool: usage history read from Prometheus at %.*s%s\n", (int)(host - url),
               url, at + 1);
    else
        printf("tfuse pool: usage history read from Prometheus at %s\n", url);
    return 0;
}

/* The chart's columns from the answer; NULL after saying what is wrong with it. */
static struct pool_plot_point *points_of(json_t *v, size_t *n)
{
    json_t *arr = json_object_get(v, "points"), *p;
    *n = json_array_size(arr);
    if (!json_is_array(arr) || *n > POOL_CHART_COLUMNS_MAX) {
        fprintf(stderr, "tfuse pool: the pool's chart has no usable points\n");
        return NULL;
    }
    struct pool_plot_point *pts = calloc(*n ? *n : 1, sizeof *pts);
    if (!pts) {
        fprintf(stderr, "tfuse pool: out of memory\n");
        return NULL;
    }
    size_t i;
    json_array_foreach(arr, i, p) {
        pts[i] = (struct pool_plot_point){
            .t_ms = (int64_t)pool_cli_num(p, "t_ms"), .mem_used = pool_cli_num(p, "mem_used"),
            .mem_peak = pool_cli_num(p, "mem_peak"), .mem_limit = pool_cli_num(p, "mem_limit"),
            .mem_target = pool_cli_num(p, "mem_target"),
            .compute_used = pool_cli_num(p, "compute_used"),
            .compute_limit = pool_cli_num(p, "compute_limit"),
            .compute_target = pool_cli_num(p, "compute_target")};
    }
    return pts;
}

static void utc(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, len, "%lld ms", (long long)ms);
}

/* Fetches the chart of workload over the last `hours` and writes it to out. */
static int plot(const struct client *cl, const char *workload, long hours, int w, int h,
                const char *out)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/workloads/%s/chart?hours=%ld&columns=%d", workload,
             hours, w / 2 < POOL_CHART_COLUMNS_MAX ? w / 2 : POOL_CHART_COLUMNS_MAX);
    long status;
    json_t *v = pool_cli_call(cl, "GET", path, NULL, &status);
    if (!v)
        return 1;
    size_t n;
    struct pool_plot_point *pts = points_of(v, &n);
    char from[40], to[40], title[POOL_WORKLOAD_MAX + 100], err[512];
    utc((int64_t)pool_cli_num(v, "from_ms"), from, sizeof from);
    utc((int64_t)pool_cli_num(v, "to_ms"), to, sizeof to);
    snprintf(title, sizeof title, "%s, %s to %s", workload, from, to);
    int rc = pts ? pool_plot_write(out, title, pts, n, w, h, err, sizeof err) : -1;
    if (pts && rc != 0)
        fprintf(stderr, "tfuse pool: %s\n", err);
    if (rc == 0 && cl->json)
        printf("{\"file\": \"%s\", \"points\": %zu}\n", out, n);
    else if (rc == 0)
        printf("wrote %s: %zu columns of %s, %s to %s\n", out, n, workload, from, to);
    free(pts);
    json_decref(v);
    return rc ? 1 : 0;
}

/* A whole number in [lo, hi]; -1 when it is not one. */
static long whole(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *end || end == s || v < lo || v > hi ? -1 : v;
}

int pool_cli_plot_main(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "plot") != 0)
        return -1;
    static const struct option opts[] = {
        CLIENT_OPTS, {"output", required_argument, 0, 'o'}, {"hours", required_argument, 0, 'H'},
        {"width", required_argument, 0, 'W'}, {"height", required_argument, 0, 'G'},
        {0, 0, 0, 0}};
    struct client cl = {0};
    const char *out = NULL;
    long hours = 24, w = 1000, h = 700;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (pool_cli_client_opt(c, &cl))
            continue;
        if (c == 'o')
            out = optarg;
        else if (c == 'H')
            bad |= (hours = whole(optarg, 1, 90 * 24)) < 0;
        else if (c == 'W')
            bad |= (w = whole(optarg, POOL_PLOT_MIN_W, 16384)) < 0;
        else if (c == 'G')
            bad |= (h = whole(optarg, POOL_PLOT_MIN_H, 16384)) < 0;
        else
            bad = 1;
    }
    if (bad || !cl.url || !out || optind + 1 != argc || !strchr(argv[optind], '/'))
        return pool_cli_usage("plot TENANT/NAME -o FILE.png --pool URL [--hours 1..2160] "
                              "[--width 320..16384] [--height 240..16384]");
    return plot(&cl, argv[optind], hours, (int)w, (int)h, out);
}
