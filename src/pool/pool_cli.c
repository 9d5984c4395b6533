/*
 * `tfuse pool` commands (see tfuse_pool.h):
 *   serve --listen HOST:PORT --db PATH [--heartbeat-timeout S] [--oversub R] [--strategy S]
 *         [--ready-file PATH] [--admin-token-file F] [--join-token-file F]
 *         [--node-token TOKEN | --node-token-file F] [--tls-cert F --tls-key F] [--ca-file F]
 *   nodes | allocations [--tenant T] | quota get TENANT | quota set TENANT [--tflops X]
 *         [--vram SIZE] [--vgpus N] | allocate ... | release ID | resize ID ... | settings NAME
 *         [--oversub R] [--strategy S] | tenant create|rotate|delete NAME | tenant list
 *         (all: --pool URL [--token-file F, else $TFUSE_POOL_TOKEN] [--json]
 *          [--ca-file F, else $TFUSE_CA_FILE, else the system store: https is verified])
 * serve lives in pool_cli_serve.c. Operator commands are thin HTTP clients of the API in
 * docs/pool-api.md. Calls pool_svc, pool_http, src/common/httpc.h, src/common/credfile.h,
 * jansson, getopt and the log.
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
#include "pool_cli_int.h"
#include "pool_http.h"
#include "pool_nodeclient.h"
#include "pool_svc.h"
#include "credfile.h"
#include "pemfile.h"

static const char usage_text[] =
    "usage: tfuse pool serve --listen HOST:PORT --db PATH [--heartbeat-timeout S] [--oversub R]\n"
    "                        [--strategy CompactFirst|LowLoadFirst|NodeCompactGPULowLoad]\n"
    "                        [--ready-file PATH] [--admin-token-file F] [--join-token-file F]\n"
    "                        [--node-token-file F | --node-token T (else $TFUSE_NODE_TOKEN)]\n"
    "                        [--tls-cert FILE --tls-key FILE] [--ca-file FILE]\n"
    "       tfuse pool nodes --pool URL [--json]\n"
    "       tfuse pool allocations --pool URL [--tenant T] [--json]\n"
    "       tfuse pool quota get TENANT --pool URL [--json]\n"
    "       tfuse pool quota set TENANT --pool URL [--tflops X] [--vram SIZE] [--vgpus N] [--json]\n"
    "       tfuse pool allocate --pool URL --tenant T --vram SIZE (--tflops X | --compute-pct P)\n"
    "                        [--tflops-limit X | --compute-limit-pct P] [--vram-limit SIZE]\n"
    "                        [--gpus N] [--model M] [--pool-name NAME] [--qos Q] [--priority N]\n"
    "                        [--strategy S] [--label KEY=VALUE]... [--key IDEMPOTENCY_KEY] [--json]\n"
    "                        [--workload NAME]   (its usage history's name: docs/autoscale.md)\n"
    "       tfuse pool release ID --pool URL\n"
    "       tfuse pool resize ID --pool URL [--vram SIZE] [--vram-limit SIZE] [--tflops X]\n"
    "                        [--tflops-limit X | --compute-pct P] [--compute-limit-pct P]\n"
    "                        [--qos Q] [--json]   (live: the programs keep running)\n"
    "       tfuse pool settings NAME --pool URL [--oversub R] [--strategy S] [--json]\n"
    "       tfuse pool tenant create NAME --pool URL [--tflops X] [--vram SIZE] [--vgpus N]\n"
    "                        [--token-out FILE] [--json]\n"
    "       tfuse pool tenant rotate NAME --pool URL [--token-out FILE] [--json]\n"
    "       tfuse pool tenant delete NAME --pool URL | tfuse pool tenant list --pool URL\n"
    "       tfuse pool recommendations --pool URL [--json]\n"
    "       tfuse pool mode TENANT/NAME off|recommend|auto --pool URL [--min-vram SIZE]\n"
    "                        [--max-vram SIZE] [--json]\n"
    "       tfuse pool events --pool URL [--workload TENANT/NAME] [--limit N] [--json]\n"
    "       tfuse pool autoscale --pool URL [--json]   (one pass of auto mode now)\n"
    "       tfuse pool plot TENANT/NAME -o FILE.png --pool URL [--hours H] [--width W]\n"
    "                        [--height H]   (usage, limit and recommendation over time)\n"
    "serve's history and auto mode (docs/autoscale.md): [--history store|prometheus:URL]\n"
    "       [--usage-period S] [--autoscale-period S]\n"
    "       [--cooldown S] [--grow-cooldown S] [--half-life S] [--reco-min-vram SIZE]\n"
    "       [--reco-max-vram SIZE] [--auto-window S] [--auto-lookahead S]\n"
    "serve's credentials default to PATH.admin-token and PATH.join-token, made 0600 when absent.\n"
    "Every command but serve presents the credential in --token-file F (else $TFUSE_POOL_TOKEN):\n"
    "the admin's (serve writes it to PATH.admin-token) or a tenant's (tenant create prints it).\n"
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

bool pool_cli_set_ca_file(const char *path)
{
    char err[600];
    if (tf_http_set_ca_file(path, err, sizeof err) == 0)
        return true;
    tf_error("--ca-file: %s", err);
    return false;
}

/* ---- operator commands ------------------------------------------------------------------- */

/* The caller's credential: --token-file, else $TFUSE_POOL_TOKEN; NULL after saying why. */
static const char *credential(const struct client *cl, char *buf)
{
    char err[600];
    bool loose;
    if (!cl->token_file)
        return getenv("TFUSE_POOL_TOKEN");
    int rc = tf_cred_read(cl->token_file, buf, TF_CRED_MAX, &loose, err, sizeof err);
    if (rc <= 0) {
        fprintf(stderr, "tfuse pool: --token-file: %s\n", rc == 0 ? "no such file" : err);
        return NULL;
    }
    if (loose)
        fprintf(stderr, "tfuse pool: warning: %s can be read by other users (chmod 600 it)\n",
                cl->token_file);
    return buf;
}

/* Performs a request and parses the JSON answer; prints the error and returns NULL when it
 * failed. *status receives the HTTP status. */
static json_t *call(const struct client *cl, const char *method, const char *path, json_t *body,
                    long *status)
{
    char url[1024], err[512], token[TF_CRED_MAX];
    snprintf(url, sizeof url, "%s%s", cl->url, path);
    const char *bearer = credential(cl, token);
    if (cl->token_file && !bearer)
        return NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tf_http_response r;
    struct tf_http_opts o = {.bearer = bearer};
    int rc = tf_http_request(method, url, text, 30000, &o, &r, err, sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "tfuse pool: %s %s: %s\n", method, url, err);
        return NULL;
    }
    *status = r.status;
    json_t *v = r.len ? json_loadb(r.body, r.len, 0, NULL) : json_object();
    if (r.status >= 400 || !v) {
        const char *msg = json_string_value(json_object_get(v, "message"));
        fprintf(stderr, "tfuse pool: HTTP %ld: %s%s\n", r.status, msg ? msg : r.body,
                r.status == 401 ? " (pass --token-file F or set TFUSE_POOL_TOKEN)" : "");
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
static bool client_opt(int c, struct client *cl)
{
    if (c == 'P')
        cl->url = optarg;
    else if (c == 'J')
        cl->json = true;
    else if (c == 'F')
        cl->token_file = optarg;
    else if (c == 'X' && !pool_cli_set_ca_file(optarg))
        exit(2);   /* a CA file that cannot be used is never passed over for the system store */
    return c == 'P' || c == 'J' || c == 'F' || c == 'X';
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

/* One quota limit option (--tflops t, --vram v, --vgpus g) into limits; -1 when malformed or
 * not a limit. */
static int limit_opt(int c, json_t *limits)
{
    uint64_t v;
    char *end;
    if (c == 't') {
        double t = strtod(optarg, &end);
        json_object_set_new(limits, "max_tflops", json_real(t));
        return *end || !(t >= 0) ? -1 : 0;
    }
    if (c != 'v' && c != 'g')
        return -1;
    int bad = c == 'v' ? parse_size(optarg, &v) : (v = strtoull(optarg, &end, 10), *end != 0);
    json_object_set_new(limits, c == 'v' ? "max_vram" : "max_vgpus", json_integer((json_int_t)v));
    return bad ? -1 : 0;
}

static int cmd_quota(int argc, char **argv)
{
    static const struct option opts[] = {CLIENT_OPTS, {"tflops", required_argument, 0, 't'},
                                         {"vram", required_argument, 0, 'v'},
                                         {"vgpus", required_argument, 0, 'g'}, {0, 0, 0, 0}};
    struct client cl = {0};
    json_t *limits = json_object();
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!client_opt(c, &cl))
            bad |= limit_opt(c, limits) != 0;
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
                                           ['k'] = "idempotency_key", ['w'] = "workload"};
    char *end;
    uint64_t bytes;
    switch (c) {
    case 't': case 'T': case 'c': case 'C': {
        double v = strtod(arg, &end);
        if (*end || end == arg)
            return -1;
        return json_object_set_new(req, num_keys[c], json_real(v));
    }
    case 'n': case 'm': case 'p': case 'q': case 's': case 'k': case 'w':
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
        {"key", required_argument, 0, 'k'}, {"workload", required_argument, 0, 'w'},
        {0, 0, 0, 0}};
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

/* PATCH /api/v1/allocations/ID with allocate's compute, memory and QoS options. */
static int cmd_resize(int argc, char **argv)
{
    static const struct option opts[] = {
        CLIENT_OPTS, {"tflops", required_argument, 0, 't'},
        {"tflops-limit", required_argument, 0, 'T'}, {"compute-pct", required_argument, 0, 'c'},
        {"compute-limit-pct", required_argument, 0, 'C'}, {"vram", required_argument, 0, 'v'},
        {"vram-limit", required_argument, 0, 'V'}, {"qos", required_argument, 0, 'q'},
        {0, 0, 0, 0}};
    struct client cl = {0};
    json_t *req = json_object();
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!client_opt(c, &cl) && alloc_opt(req, NULL, c, optarg) != 0)
            bad = 1;
    if (bad || !cl.url || optind + 1 != argc || !json_object_size(req)) {
        json_decref(req);
        return usage("resize ID --pool URL and at least one of --vram, --vram-limit, --tflops, "
                     "--tflops-limit, --compute-pct, --compute-limit-pct, --qos");
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/allocations/%s", argv[optind]);
    long status;
    json_t *v = call(&cl, "PATCH", path, req, &status);
    json_decref(req);
    return finish_view(&cl, v, print_alloc_line);
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

/* Shows a tenant's new token once: into --token-out (0600), else on stdout. */
static int show_token(const struct client *cl, json_t *v, const char *out_file)
{
    const char *name = str(v, "name"), *token = json_string_value(json_object_get(v, "token"));
    char err[600];
    if (!token) {
        fprintf(stderr, "tfuse pool: the answer holds no token\n");
        return 1;
    }
    if (out_file && tf_cred_write(out_file, token, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse pool: %s (the token is lost: rotate it)\n", err);
        return 1;
    }
    if (out_file)
        json_object_del(v, "token");
    if (cl->json)
        print_json(v);
    else if (out_file)
        printf("tenant %s: its token is in %s (mode 0600)\n", name, out_file);
    else
        printf("tenant %s: its token (shown once, keep it secret):\n%s\n", name, token);
    return 0;
}

static void print_tenants(json_t *v)
{
    size_t i;
    json_t *t;
    printf("%-32s %s\n", "TENANT", "CREATED");
    json_array_foreach(json_object_get(v, "tenants"), i, t)
        printf("%-32s %.0f\n", str(t, "name"), num(t, "created_unix"));
}

/* tenant create|rotate|delete NAME, tenant list: the admin's credential management. */
static int cmd_tenant(int argc, char **argv)
{
    static const struct option opts[] = {CLIENT_OPTS, {"tflops", required_argument, 0, 't'},
                                         {"vram", required_argument, 0, 'v'},
                                         {"vgpus", required_argument, 0, 'g'},
                                         {"token-out", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    struct client cl = {0};
    json_t *limits = json_object();
    const char *out_file = NULL;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (client_opt(c, &cl))
            continue;
        if (c == 'o')
            out_file = optarg;
        else
            bad |= limit_opt(c, limits) != 0;
    }
    const char *verb = optind < argc ? argv[optind] : "";
    const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool list = strcmp(verb, "list") == 0, create = strcmp(verb, "create") == 0;
    bool rotate = strcmp(verb, "rotate") == 0, del = strcmp(verb, "delete") == 0;
    bool args_ok = list ? optind + 1 == argc : name && optind + 2 == argc;
    if (bad || !cl.url || !args_ok || !(list || create || rotate || del) ||
        (!create && json_object_size(limits)) || (out_file && !create && !rotate)) {
        json_decref(limits);
        return usage("tenant create|rotate|delete NAME --pool URL, or tenant list --pool URL");
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/tenants%s%s%s", name ? "/" : "", name ? name : "",
             rotate ? "/token" : "");
    long status;
    const char *method = list ? "GET" : del ? "DELETE" : "POST";
    json_t *v = call(&cl, method, path, create && json_object_size(limits) ? limits : NULL,
                     &status);
    json_decref(limits);
    if (!v)
        return 1;
    int rc = 0;
    if (list)
        return finish_view(&cl, v, print_tenants);
    if (del && !cl.json)
        printf("tenant %s deleted\n", name);
    else if (!del)
        rc = show_token(&cl, v, out_file);
    json_decref(v);
    return rc;
}

/* For the commands of pool_cli_auto.c (pool_cli_int.h). */
int pool_cli_usage(const char *msg)
{
    return usage(msg);
}

int pool_cli_parse_size(const char *s, uint64_t *out)
{
    return parse_size(s, out);
}

bool pool_cli_client_opt(int c, struct client *cl)
{
    return client_opt(c, cl);
}

json_t *pool_cli_call(const struct client *cl, const char *method, const char *path,
                      json_t *body, long *status)
{
    return call(cl, method, path, body, status);
}

int pool_cli_finish_view(const struct client *cl, json_t *v, void (*print)(json_t *))
{
    return finish_view(cl, v, print);
}

double pool_cli_num(json_t *o, const char *k)
{
    return num(o, k);
}

const char *pool_cli_str(json_t *o, const char *k)
{
    return str(o, k);
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
        return pool_cli_serve(argc, argv);
    if (strcmp(cmd, "nodes") == 0 || strcmp(cmd, "allocations") == 0)
        return cmd_list(argc, argv, strcmp(cmd, "nodes") == 0);
    if (strcmp(cmd, "quota") == 0)
        return cmd_quota(argc, argv);
    if (strcmp(cmd, "allocate") == 0)
        return cmd_allocate(argc, argv);
    if (strcmp(cmd, "release") == 0)
        return cmd_release(argc, argv);
    if (strcmp(cmd, "resize") == 0)
        return cmd_resize(argc, argv);
    if (strcmp(cmd, "settings") == 0)
        return cmd_settings(argc, argv);
    if (strcmp(cmd, "tenant") == 0)
        return cmd_tenant(argc, argv);
    int rc = pool_cli_auto_main(cmd, argc, argv);   /* recommendations, mode, events, ... */
    if (rc < 0)
        rc = pool_cli_plot_main(cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    return usage("unknown command");
}
