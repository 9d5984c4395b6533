/*
 * `tfuse pool` commands (see tfuse_pool.h):
 *   serve --listen HOST:PORT --db PATH [--heartbeat-timeout S] [--oversub R] [--strategy S]
 *         [--ready-file PATH] [--node-token TOKEN]
 *   nodes | allocations [--tenant T] | quota get TENANT | quota set TENANT [--tflops X]
 *         [--vram SIZE] [--vgpus N] | allocate ... | release ID | settings NAME [--oversub R]
 *         [--strategy S]                                            (all: --pool URL [--json])
 * Operator commands are thin HTTP clients of the API in docs/pool-api.md. Calls pool_svc,
 * pool_http, src/common/httpc.h, jansson, getopt and the log.
 */
#include "tfuse_pool.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpc.h"
#include "log.h"
#include "pool_http.h"
#include "pool_nodeclient.h"
#include "pool_svc.h"

static const char usage_text[] =
    "usage: tfuse pool serve --listen HOST:PORT --db PATH [--heartbeat-timeout S] [--oversub R]\n"
    "                        [--strategy CompactFirst|LowLoadFirst|NodeCompactGPULowLoad]\n"
    "                        [--ready-file PATH] [--node-token TOKEN (else $TFUSE_NODE_TOKEN)]\n"
    "       tfuse pool nodes --pool URL [--json]\n"
    "       tfuse pool allocations --pool URL [--tenant T] [--json]\n"
    "       tfuse pool quota get TENANT --pool URL [--json]\n"
    "       tfuse pool quota set TENANT --pool URL [--tflops X] [--vram SIZE] [--vgpus N] [--json]\n"
    "       tfuse pool allocate --pool URL --tenant T --vram SIZE (--tflops X | --compute-pct P)\n"
    "                        [--tflops-limit X | --compute-limit-pct P] [--vram-limit SIZE]\n"
    "                        [--gpus N] [--model M] [--pool-name NAME] [--qos Q] [--priority N]\n"
    "                        [--strategy S] [--label KEY=VALUE]... [--key IDEMPOTENCY_KEY] [--json]\n"
    "       tfuse pool release ID --pool URL\n"
    "       tfuse pool settings NAME --pool URL [--oversub R] [--strategy S] [--json]\n"
    "SIZE: bytes, or a number with K, M, G, T (powers of 1024; KiB/MiB/GiB/TiB accepted).\n";

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "tfuse pool: %s\n", msg);
    fputs(usage_text, stderr);
    return 2;
}

/* Parses "8GiB", "512M", "1073741824". Returns -1 on anything else or on overflow. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 'K': case 'k': mult = 1024.0; break;
        case 'M': case 'm': mult = 1024.0 * 1024; break;
        case 'G': case 'g': mult = 1024.0 * 1024 * 1024; break;
        case 'T': case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
        default: return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end)
            return -1;
    }
    v *= mult;
    if (v >= 1.8e19)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* ---- serve ------------------------------------------------------------------------------- */

static int split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= hostlen)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    if (!host[0])
        strcpy(host, "0.0.0.0");
    *port = (uint16_t)p;
    return 0;
}

/* Tells whoever started us (tests, scripts) where we listen, once we do. */
static void write_ready_file(const char *path, const char *host, unsigned port)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "http://%s:%u\n", host, port);
        fclose(f);
    }
}

/* Reads serve's options into cfg; 0, or usage()'s exit status after saying what is wrong. */
static int serve_options(int argc, char **argv, struct pool_config *cfg, const char **listen,
                         const char **ready)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"db", required_argument, 0, 'd'},
        {"heartbeat-timeout", required_argument, 0, 'h'}, {"oversub", required_argument, 0, 'o'},
        {"strategy", required_argument, 0, 's'}, {"ready-file", required_argument, 0, 'r'},
        {"node-token", required_argument, 0, 'n'}, {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': *listen = optarg; break;
        case 'd': cfg->db_path = optarg; break;
        case 'h':
            cfg->heartbeat_timeout_s = strtod(optarg, &end);
            if (*end || !(cfg->heartbeat_timeout_s > 0 && cfg->heartbeat_timeout_s <= 86400))
                return usage("--heartbeat-timeout must be seconds in (0, 86400]");
            break;
        case 'o':
            cfg->oversub = strtod(optarg, &end);
            if (*end || !(cfg->oversub >= 1 && cfg->oversub <= 100))
                return usage("--oversub must be a ratio in [1, 100]");
            break;
        case 's': {
            int s = pool_strategy_parse(optarg);
            if (s < 0)
                return usage("unknown --strategy");
            cfg->strategy = (enum pool_strategy)s;
            break;
        }
        case 'r': *ready = optarg; break;
        case 'n': pool_node_set_token(optarg); break;   /* else TFUSE_NODE_TOKEN */
        default: return usage(NULL);
        }
    }
    return 0;
}

static int serve(int argc, char **argv)
{
    struct pool_config cfg = {.heartbeat_timeout_s = 15, .oversub = 1, .health_thread = true,
                              .sync = POOL_SYNC_FULL};
    const char *listen = NULL, *ready = NULL;
    int rc = serve_options(argc, argv, &cfg, &listen, &ready);
    if (rc)
        return rc;
    char host[256];
    uint16_t port;
    if (!listen || !cfg.db_path || split_listen(listen, host, sizeof host, &port))
        return usage("serve needs --listen HOST:PORT and --db PATH");

    /* Block the stop signals before any thread exists, so only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    tf_http_global_init();
    char err[512];
    struct pool_svc *svc = pool_svc_open(&cfg, err, sizeof err);
    if (!svc) {
        tf_error("pool: %s", err);
        return 1;
    }
    struct pool_http *http = pool_http_start(svc, host, port, err, sizeof err);
    if (!http) {
        tf_error("pool: %s", err);
        pool_svc_close(svc);
        return 1;
    }
    printf("tfuse pool: listening on http://%s:%u (db %s)\n", host, pool_http_port(http),
           cfg.db_path);
    fflush(stdout);
    if (ready)
        write_ready_file(ready, host, pool_http_port(http));
    int sig;
    sigwait(&stop, &sig);
    tf_info("pool: signal %d, stopping", sig);
    pool_http_stop(http);
    pool_svc_close(svc);
    tf_http_global_cleanup();
    return 0;
}

/* ---- operator commands ------------------------------------------------------------------- */

struct client {
    const char *url;
    bool json;
};

/* Performs a request and parses the JSON answer; prints the error and returns NULL when it
 * failed. *status receives the HTTP status. */
static json_t *call(const struct client *cl, const char *method, const char *path, json_t *body,
                    long *status)
{
    char url[1024], err[512];
    snprintf(url, sizeof url, "%s%s", cl->url, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tf_http_response r;
    int rc = tf_http_request(method, url, text, 30000, NULL, &r, err, sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "tfuse pool: %s %s: %s\n", method, url, err);
        return NULL;
    }
    *status = r.status;
    json_t *v = r.len ? json_loadb(r.body, r.len, 0, NULL) : json_object();
    if (r.status >= 400 || !v) {
        const char *msg = json_string_value(json_object_get(v, "message"));
        fprintf(stderr, "tfuse pool: HTTP %ld: %s\n", r.status, msg ? msg : r.body);
        json_decref(v);
        v = NULL;
    }
    free(r.body);
    return v;
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s)
        puts(s);
    free(s);
}

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void print_nodes(json_t *v)
{
    printf("%-20s %-8s %-10s %-14s %5s %12s %14s\n", "NODE", "HEALTH", "POOL", "MODEL", "GPUS",
           "TFLOPS(used)", "VRAM GiB(used)");
    size_t i, k;
    json_t *n, *d;
    json_array_foreach(json_object_get(v, "nodes"), i, n) {
        double cap = 0, used = 0, mem = 0, mused = 0;
        char model[80] = "-";
        json_array_foreach(json_object_get(n, "devices"), k, d) {
            cap += num(d, "capacity_tflops");
            used += num(d, "allocated_tflops");
            mem += num(d, "memory_bytes");
            mused += num(d, "allocated_vram");
            if (k == 0)
                snprintf(model, sizeof model, "%s", str(d, "model"));
            else if (strcmp(model, str(d, "model")) != 0 && !strchr(model, '+'))
                strncat(model, "+", sizeof model - strlen(model) - 1); /* mixed models */
        }
        printf("%-20s %-8s %-10s %-14s %5zu %5.0f(%5.1f) %7.1f(%5.1f)\n", str(n, "name"),
               json_is_true(json_object_get(n, "healthy")) ? "healthy" : "LOST", str(n, "pool"),
               model, json_array_size(json_object_get(n, "devices")), cap, used,
               mem / (1 << 30), mused / (1 << 30));
    }
}

static void print_alloc_line(json_t *a)
{
    json_t *devs = json_object_get(a, "devices"), *d0 = json_array_get(devs, 0);
    printf("%-28s %-10s %-16s %-8s %4zu %8.2f %9.2f %s\n", str(a, "id"), str(a, "tenant"),
           str(a, "node"), str(a, "status"), json_array_size(devs),
           num(d0, "tflops_request") * (double)json_array_size(devs),
           num(d0, "vram_request") / (1 << 30), str(d0, "connect"));
}

static void print_allocs(json_t *v)
{
    printf("%-28s %-10s %-16s %-8s %4s %8s %9s %s\n", "ID", "TENANT", "NODE", "STATUS", "GPUS",
           "TFLOPS", "VRAM GiB", "CONNECT");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(v, "allocations"), i, a)
        print_alloc_line(a);
}

static const char *limit_str(json_t *q, const char *k, char *buf, size_t len)
{
    json_t *v = json_object_get(q, k);
    if (!v || json_is_null(v))
        return "unlimited";
    snprintf(buf, len, "%.17g", json_number_value(v));
    return buf;
}

static void print_quota(json_t *q)
{
    json_t *used = json_object_get(q, "used");
    char b[64];
    printf("tenant %s\n", str(q, "tenant"));
    printf("  tflops  used %-16.6g limit %s\n", num(used, "tflops"),
           limit_str(q, "max_tflops", b, sizeof b));
    printf("  vram    used %-16.0f limit %s\n", num(used, "vram"),
           limit_str(q, "max_vram", b, sizeof b));
    printf("  vgpus   used %-16.0f limit %s\n", num(used, "vgpus"),
           limit_str(q, "max_vgpus", b, sizeof b));
}

/* Options every operator command takes; returns the getopt result for the others. */
#define CLIENT_OPTS {"pool", required_argument, 0, 'P'}, {"json", no_argument, 0, 'J'}

static bool client_opt(int c, struct client *cl)
{
    if (c == 'P')
        cl->url = optarg;
    else if (c == 'J')
        cl->json = true;
    return c == 'P' || c == 'J';
}

static int finish_view(const struct client *cl, json_t *v, void (*print)(json_t *))
{
    if (!v)
        return 1;
    if (cl->json)
        print_json(v);
    else
        print(v);
    json_decref(v);
    return 0;
}

static int cmd_list(int argc, char **argv, bool nodes)
{
    static const struct option opts[] = {CLIENT_OPTS, {"tenant", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    struct client cl = {0};
    const char *tenant = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!client_opt(c, &cl)) {
            if (c == 't' && !nodes)
                tenant = optarg;
            else
                return usage(NULL);
        }
    if (!cl.url)
        return usage("--pool URL is required");
    char path[256];
    snprintf(path, sizeof path, nodes ? "/api/v1/nodes" : "/api/v1/allocations%s%s",
             tenant ? "?tenant=" : "", tenant ? tenant : "");
    long status;
    return finish_view(&cl, call(&cl, "GET", path, NULL, &status),
                       nodes ? print_nodes : print_allocs);
}

static int cmd_quota(int argc, char **argv)
{
    static const struct option opts[] = {CLIENT_OPTS, {"tflops", required_argument, 0, 't'},
                                         {"vram", required_argument, 0, 'v'},
                                         {"vgpus", required_argument, 0, 'g'}, {0, 0, 0, 0}};
    struct client cl = {0};
    json_t *limits = json_object();
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t v;
        char *end;
        if (client_opt(c, &cl))
            continue;
        if (c == 't') {
            double t = strtod(optarg, &end);
            bad |= *end || !(t >= 0);
            json_object_set_new(limits, "max_tflops", json_real(t));
        } else if (c == 'v' || c == 'g') {
            bad |= c == 'v' ? parse_size(optarg, &v) : (v = strtoull(optarg, &end, 10), *end != 0);
            json_object_set_new(limits, c == 'v' ? "max_vram" : "max_vgpus",
                                json_integer((json_int_t)v));
        } else {
            bad = 1;
        }
    }
    const char *verb = optind < argc ? argv[optind] : NULL;
    const char *tenant = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool set = verb && strcmp(verb, "set") == 0;
    if (bad || !cl.url || !tenant || optind + 2 != argc || !(set || strcmp(verb, "get") == 0)) {
        json_decref(limits);
        return usage("quota get|set TENANT --pool URL [limits]");
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/quotas/%s", tenant);
    long status;
    json_t *v = call(&cl, set ? "PUT" : "GET", path, set ? limits : NULL, &status);
    json_decref(limits);
    return finish_view(&cl, v, print_quota);
}

static int cmd_release(int argc, char **argv)
{
    static const struct option opts[] = {CLIENT_OPTS, {0, 0, 0, 0}};
    struct client cl = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!client_opt(c, &cl))
            return usage(NULL);
    if (!cl.url || optind + 1 != argc)
        return usage("release ID --pool URL");
    char path[256];
    snprintf(path, sizeof path, "/api/v1/allocations/%s", argv[optind]);
    long status;
    json_t *v = call(&cl, "DELETE", path, NULL, &status);
    if (!v)
        return 1;
    json_decref(v);
    if (!cl.json)
        printf("released %s\n", argv[optind]);
    return 0;
}

/* Adds one allocate option to the request body; returns -1 on a malformed value. */
static int alloc_opt(json_t *req, json_t *labels, int c, const char *arg)
{
    static const char *const num_keys[] = {['t'] = "tflops_request", ['T'] = "tflops_limit",
                                           ['c'] = "compute_request_pct",
                                           ['C'] = "compute_limit_pct"};
    static const char *const str_keys[] = {['n'] = "tenant", ['m'] = "model", ['p'] = "pool",
                                           ['q'] = "qos", ['s'] = "strategy",
                                           ['k'] = "idempotency_key"};
    char *end;
    uint64_t bytes;
    switch (c) {
    case 't': case 'T': case 'c': case 'C': {
        double v = strtod(arg, &end);
        if (*end || end == arg)
            return -1;
        return json_object_set_new(req, num_keys[c], json_real(v));
    }
    case 'n': case 'm': case 'p': case 'q': case 's': case 'k':
        return json_object_set_new(req, str_keys[c], json_string(arg));
    case 'v': case 'V':
        if (parse_size(arg, &bytes))
            return -1;
        return json_object_set_new(req, c == 'v' ? "vram_request" : "vram_limit",
                                   json_integer((json_int_t)bytes));
    case 'g': case 'r': {
        long v = strtol(arg, &end, 10);
        if (*end || end == arg)
            return -1;
        return json_object_set_new(req, c == 'g' ? "gpu_count" : "priority", json_integer(v));
    }
    case 'l': {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
            return -1;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
        return json_object_set_new(labels, key, json_string(eq + 1));
    }
    default:
        return -1;
    }
}

static int cmd_allocate(int argc, char **argv)
{
    static const struct option opts[] = {
        CLIENT_OPTS, {"tenant", required_argument, 0, 'n'}, {"tflops", required_argument, 0, 't'},
        {"tflops-limit", required_argument, 0, 'T'}, {"compute-pct", required_argument, 0, 'c'},
        {"compute-limit-pct", required_argument, 0, 'C'}, {"vram", required_argument, 0, 'v'},
        {"vram-limit", required_argument, 0, 'V'}, {"gpus", required_argument, 0, 'g'},
        {"model", required_argument, 0, 'm'}, {"pool-name", required_argument, 0, 'p'},
        {"qos", required_argument, 0, 'q'}, {"priority", required_argument, 0, 'r'},
        {"strategy", required_argument, 0, 's'}, {"label", required_argument, 0, 'l'},
        {"key", required_argument, 0, 'k'}, {0, 0, 0, 0}};
    struct client cl = {0};
    json_t *req = json_object(), *labels = json_object();
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!client_opt(c, &cl) && alloc_opt(req, labels, c, optarg) != 0)
            bad = 1;
    if (json_object_size(labels))
        json_object_set(req, "labels", labels);
    json_decref(labels);
    if (bad || !cl.url || optind != argc) {
        json_decref(req);
        return usage("allocate: bad or missing options");
    }
    long status;
    json_t *v = call(&cl, "POST", "/api/v1/allocations", req, &status);
    json_decref(req);
    if (v && !cl.json) {
        print_alloc_line(v);
        json_decref(v);
        return 0;
    }
    return finish_view(&cl, v, print_json);
}

static void print_pool(json_t *p)
{
    printf("pool %s: oversubscription %.2fx, strategy %s\n", str(p, "name"),
           num(p, "oversub_ratio"), str(p, "strategy"));
}

/* Shows a named pool's settings, or changes them when --oversub/--strategy are given. */
static int cmd_settings(int argc, char **argv)
{
    static const struct option opts[] = {CLIENT_OPTS, {"oversub", required_argument, 0, 'o'},
                                         {"strategy", required_argument, 0, 's'}, {0, 0, 0, 0}};
    struct client cl = {0};
    json_t *body = json_object();
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        if (client_opt(c, &cl))
            continue;
        if (c == 'o') {
            double r = strtod(optarg, &end);
            bad |= *end != 0 || end == optarg;
            json_object_set_new(body, "oversub_ratio", json_real(r));
        } else if (c == 's') {
            json_object_set_new(body, "strategy", json_string(optarg));
        } else {
            bad = 1;
        }
    }
    if (bad || !cl.url || optind + 1 != argc) {
        json_decref(body);
        return usage("settings NAME --pool URL [--oversub R] [--strategy S]");
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/pools/%s", argv[optind]);
    long status;
    bool set = json_object_size(body) > 0;
    json_t *v = call(&cl, set ? "PUT" : "GET", path, set ? body : NULL, &status);
    json_decref(body);
    return finish_view(&cl, v, print_pool);
}

int tfuse_pool_main(int argc, char **argv)
{
    tf_log_init("pool", TF_LOG_INFO);
    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    optind = 0; /* full getopt re-initialisation: the CLI may call us more than once */
    argc--;
    argv++;
    if (strcmp(cmd, "serve") == 0)
        return serve(argc, argv);
    if (strcmp(cmd, "nodes") == 0 || strcmp(cmd, "allocations") == 0)
        return cmd_list(argc, argv, strcmp(cmd, "nodes") == 0);
    if (strcmp(cmd, "quota") == 0)
        return cmd_quota(argc, argv);
    if (strcmp(cmd, "allocate") == 0)
        return cmd_allocate(argc, argv);
    if (strcmp(cmd, "release") == 0)
        return cmd_release(argc, argv);
    if (strcmp(cmd, "settings") == 0)
        return cmd_settings(argc, argv);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    return usage("unknown command");
}
