/*
 * `tfuse pool` commands of issue 14 (docs/autoscale.md): recommendations, mode, events and
 * autoscale, thin HTTP clients of GET /api/v1/recommendations, PUT
 * /api/v1/workloads/{tenant}/{name}/mode, GET /api/v1/events and POST /api/v1/autoscale; and
 * serve's options of the usage history and auto mode. Calls pool_cli.c's client
 * (pool_cli_int.h), pool_reco_params_default, jansson, getopt and libc.
 */
#include "pool_cli_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB (1024.0 * 1024.0)

static struct pool_reco_params serve_reco;
static bool serve_reco_set;

static struct pool_reco_params *reco_of(struct pool_config *cfg)
{
    if (!serve_reco_set) {
        pool_reco_params_default(&serve_reco);
        serve_reco_set = true;
    }
    cfg->reco = &serve_reco;
    return &serve_reco;
}

/* Seconds in (0, max]; 2 after saying why not. */
static int seconds(const char *arg, double max, double *out, const char *name)
{
    char *end;
    double v = strtod(arg, &end);
    if (*end || end == arg || !(v > 0 && v <= max)) {
        fprintf(stderr, "tfuse pool: --%s must be seconds in (0, %.0f]\n", name, max);
        return 2;
    }
    *out = v;
    return 0;
}

int pool_cli_auto_serve_opt(int c, const char *arg, struct pool_config *cfg)
{
    uint64_t size;
    switch (c - POOL_CLI_AUTO_OPT) {
    case 0: return seconds(arg, 86400, &cfg->usage_period_s, "usage-period");
    case 1: return seconds(arg, 86400, &cfg->autoscale_period_s, "autoscale-period");
    case 2: return seconds(arg, 30 * 86400.0, &cfg->cooldown_s, "cooldown");
    case 3: return seconds(arg, 365 * 86400.0, &reco_of(cfg)->half_life_s, "half-life");
    case 4:
    case 5:
        if (pool_cli_parse_size(arg, &size) != 0 || size == 0) {
            fprintf(stderr, "tfuse pool: --reco-%s-vram must be a size above 0\n",
                    c - POOL_CLI_AUTO_OPT == 4 ? "min" : "max");
            return 2;
        }
        if (c - POOL_CLI_AUTO_OPT == 4)
            reco_of(cfg)->mem_min = size;
        else
            reco_of(cfg)->mem_max = size;
        return 0;
    case 6: cfg->test_clock = true; return 0;
    case 7: return seconds(arg, 30 * 86400.0, &cfg->grow_cooldown_s, "grow-cooldown");
    case 8: return seconds(arg, 86400, &cfg->auto_window_s, "auto-window");
    case 9: return seconds(arg, 86400, &cfg->auto_lookahead_s, "auto-lookahead");
    default: return -1;
    }
}

#define num pool_cli_num
#define str pool_cli_str

static void print_recos(json_t *v)
{
    printf("%-32s %-9s %7s %11s %11s %11s %7s %7s\n", "WORKLOAD", "MODE", "SAMPLES",
           "MEM MiB", "(lower", "upper)", "COMPUTE", "(upper)");
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(v, "recommendations"), i, o) {
        json_t *m = json_object_get(o, "memory"), *c = json_object_get(o, "compute");
        printf("%-32s %-9s %7lld", str(o, "workload"), str(o, "mode"),
               (long long)json_integer_value(json_object_get(o, "samples")));
        if (m)
            printf(" %11.1f %11.1f %11.1f %7.3f %7.3f\n", num(m, "target") / MIB,
                   num(m, "lower") / MIB, num(m, "upper") / MIB, num(c, "target"),
                   num(c, "upper"));
        else
            printf("   -\n");
        printf("    why: %s\n", str(o, "why"));
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(o, "allocations"), k, a) {
            printf("    %s: limit %.1f MiB", str(a, "id"), num(a, "vram_limit") / MIB);
            if (json_object_get(a, "mem_used"))
                printf(", in use %.1f MiB", num(a, "mem_used") / MIB);
            if (json_object_get(a, "compute_limit"))
                printf(", compute %.3f", num(a, "compute_limit"));
            putchar('\n');
        }
    }
}

static void print_time(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s", buf);
}

static void print_events(json_t *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(v, "events"), i, e) {
        print_time((int64_t)json_integer_value(json_object_get(e, "t_ms")));
        char *from = json_dumps(json_object_get(e, "from"), JSON_COMPACT | JSON_ENCODE_ANY);
        char *to = json_dumps(json_object_get(e, "to"), JSON_COMPACT | JSON_ENCODE_ANY);
        printf(" %-14s %-28s %s by %s: %s -> %s\n    why: %s\n", str(e, "action"),
               str(e, "workload"), str(e, "allocation"), str(e, "who"), from ? from : "-",
               to ? to : "-", str(e, "why"));
        free(from);
        free(to);
    }
}

static void print_workload(json_t *v)
{
    printf("%s: mode %s\n", str(v, "workload"), str(v, "mode"));
}

static void print_changes(json_t *v)
{
    size_t n = json_array_size(json_object_get(v, "changes"));
    printf("%zu change(s)\n", n);
    json_t *wrapped = json_pack("{s:O}", "events", json_object_get(v, "changes"));
    print_events(wrapped);
    json_decref(wrapped);
}

static int cmd_mode(struct client *cl, int argc, char **argv, json_t *body)
{
    if (optind + 2 != argc || !strchr(argv[optind], '/'))
        return pool_cli_usage("mode TENANT/NAME off|recommend|auto --pool URL");
    json_object_set_new(body, "mode", json_string(argv[optind + 1]));
    char path[512];
    snprintf(path, sizeof path, "/api/v1/workloads/%s/mode", argv[optind]);
    long status;
    return pool_cli_finish_view(cl, pool_cli_call(cl, "PUT", path, body, &status),
                                print_workload);
}

int pool_cli_auto_main(const char *cmd, int argc, char **argv)
{
    bool recos = strcmp(cmd, "recommendations") == 0, mode = strcmp(cmd, "mode") == 0;
    bool events = strcmp(cmd, "events") == 0, pass = strcmp(cmd, "autoscale") == 0;
    if (!recos && !mode && !events && !pass)
        return -1;
    static const struct option opts[] = {
        CLIENT_OPTS, {"workload", required_argument, 0, 'w'},
        {"limit", required_argument, 0, 'n'}, {"min-vram", required_argument, 0, 'm'},
        {"max-vram", required_argument, 0, 'M'}, {0, 0, 0, 0}};
    struct client cl = {0};
    const char *workload = NULL, *limit = NULL;
    json_t *body = json_object();
    int c, bad = 0;
    uint64_t size;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (pool_cli_client_opt(c, &cl))
            continue;
        if (c == 'w' && events)
            workload = optarg;
        else if (c == 'n' && events)
            limit = optarg;
        else if ((c == 'm' || c == 'M') && mode && pool_cli_parse_size(optarg, &size) == 0)
            json_object_set_new(body, c == 'm' ? "min_vram" : "max_vram",
                                json_integer((json_int_t)size));
        else
            bad = 1;
    }
    int rc;
    if (bad || !cl.url) {
        rc = pool_cli_usage("bad or missing options (--pool URL is required)");
    } else if (mode) {
        rc = cmd_mode(&cl, argc, argv, body);
    } else if (optind != argc) {
        rc = pool_cli_usage("unexpected arguments");
    } else {
        char path[512];
        long status;
        snprintf(path, sizeof path, "/api/v1/%s%s%s%s%s", recos ? "recommendations"
                 : pass ? "autoscale" : "events", workload || limit ? "?" : "",
                 workload ? "workload=" : "", workload ? workload : "",
                 limit ? (workload ? "&limit=" : "limit=") : "");
        if (limit)
            strncat(path, limit, sizeof path - strlen(path) - 1);
        json_t *v = pool_cli_call(&cl, pass ? "POST" : "GET", path, NULL, &status);
        rc = pool_cli_finish_view(&cl, v, recos ? print_recos : pass ? print_changes
                                                                      : print_events);
    }
    json_decref(body);
    return rc;
}
