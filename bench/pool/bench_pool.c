/*
 * bench_pool: the pool manager at cluster scale. 10,000 GPUs on 1,250 nodes of four models,
 * 100,000 mixed allocate/release operations per strategy, directly against the library
 * (placement + quota + booking + a SQLite WAL transaction with synchronous=NORMAL per write; no
 * node calls). Reports p50/p99 allocation latency and, per strategy, the share of free TFLOPs
 * stranded at the end (on GPUs that cannot take a typical request: 25% of the card and 16 GiB).
 * Then a smaller run of the same requests through the HTTP API, for the ratio HTTP / library.
 * Writes $TFUSE_BENCH_DIR/pool.json (default build/bench next to build/bin).
 *
 * Owns: this benchmark. May call: src/pool (including its service internals), bench/common.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "pool_http.h"
#include "httpc.h"
#include "pool_place.h"
#include "pool_store.h"
#include "pool_svc.h"
#include "pool_svc_int.h" /* the bench times placement alone on the live inventory */

#define BENCH_ADMIN "bench-admin-credential"
#define NODES 1250
#define GPUS_PER_NODE 8
#define DEFAULT_OPS 100000
#define DEFAULT_HTTP_OPS 2000
/* TFUSE_BENCH_POOL_OPS overrides the operation count (quick runs, sanitizer builds). */
static int OPS = DEFAULT_OPS, HTTP_OPS = DEFAULT_HTTP_OPS;
#define GiB (1ull << 30)

static const struct {
    const char *model;
    uint64_t mem;
    double tflops;
} models[] = {{"H100", 80 * GiB, 989}, {"A100", 80 * GiB, 312}, {"L40S", 48 * GiB, 362},
              {"L4", 24 * GiB, 121}};
#define NMODELS 4

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct pool_svc *build_cluster(const char *db, enum pool_strategy s)
{
    pool_store_remove_files(db);
    struct pool_config cfg = {.db_path = db, .nodeless = true, .strategy = s,
                              .admin_token = BENCH_ADMIN,
                              .heartbeat_timeout_s = 3600, .sync = POOL_SYNC_NORMAL};
    char err[256];
    struct pool_svc *svc = pool_svc_open(&cfg, err, sizeof err);
    if (!svc) {
        fprintf(stderr, "bench_pool: %s\n", err);
        exit(1);
    }
    struct pool_node *n = calloc(1, sizeof *n);
    for (int i = 0; i < NODES; i++) {
        memset(n, 0, sizeof *n);
        int m = i % 10 < 4 ? 0 : i % 10 < 7 ? 1 : i % 10 < 9 ? 2 : 3; /* 40/30/20/10 % */
        snprintf(n->name, sizeof n->name, "node-%04d", i);
        snprintf(n->address, sizeof n->address, "http://10.%d.%d.%d:7070", i >> 16,
                 (i >> 8) & 255, i & 255);
        strcpy(n->pool, "default");
        n->ndev = GPUS_PER_NODE;
        for (int g = 0; g < GPUS_PER_NODE; g++) {
            snprintf(n->dev[g].uuid, sizeof n->dev[g].uuid, "GPU-%04d-%d", i, g);
            strcpy(n->dev[g].model, models[m].model);
            n->dev[g].memory_bytes = models[m].mem;
            n->dev[g].tflops = models[m].tflops;
            n->dev[g].numa = g / 4;
        }
        struct pool_error e;
        if (pool_svc_register_node(svc, n, NULL, NULL, &e) < 0) {
            fprintf(stderr, "bench_pool: register: %s\n", e.message);
            exit(1);
        }
    }
    free(n);
    return svc;
}

/* A request from the workload mix: mostly fractional single GPUs, some gangs. */
static void make_request(struct pool_alloc_req *r)
{
    static const double pct[] = {10, 25, 25, 50, 50, 100};
    static const int vram_gib[] = {4, 8, 8, 16, 16, 24, 40};
    memset(r, 0, sizeof *r);
    snprintf(r->tenant, sizeof r->tenant, "tenant-%d", (int)(rnd() % 16));
    strcpy(r->pool, "default");
    uint64_t g = rnd() % 100;
    r->gpu_count = g < 90 ? 1 : g < 96 ? 2 : g < 99 ? 4 : 8;
    r->compute_request_pct = r->gpu_count > 1 ? 100 : pct[rnd() % 6];
    r->vram_request = r->vram_limit = (uint64_t)vram_gib[rnd() % 7] * GiB;
    if (rnd() % 2)
        strcpy(r->model, models[rnd() % NMODELS].model);
    r->strategy = -1;
    r->qos = (enum pool_qos)(rnd() % POOL_QOS_COUNT);
}

/* Free TFLOPs on GPUs that cannot take a typical request, as a share of all free TFLOPs. */
static double stranded_share(struct pool_svc *svc, double *free_share)
{
    json_t *nodes = pool_svc_nodes_json(svc);
    double free_all = 0, stranded = 0, cap_all = 0;
    size_t i, k;
    json_t *n, *d;
    json_array_foreach(json_object_get(nodes, "nodes"), i, n)
        json_array_foreach(json_object_get(n, "devices"), k, d) {
            double rated = json_number_value(json_object_get(d, "tflops_fp16"));
            double cap = json_number_value(json_object_get(d, "capacity_tflops"));
            double used = json_number_value(json_object_get(d, "allocated_tflops"));
            double mem = json_number_value(json_object_get(d, "memory_bytes"));
            double vused = json_number_value(json_object_get(d, "allocated_vram"));
            double free_t = cap - used, free_v = mem - vused;
            cap_all += cap;
            free_all += free_t;
            if (free_t + 1e-9 < 0.25 * rated || free_v < 16.0 * GiB)
                stranded += free_t;
        }
    json_decref(nodes);
    *free_share = cap_all > 0 ? free_all / cap_all : 0;
    return free_all > 0 ? stranded / free_all : 0;
}

struct result {
    double cpu_p50, cpu_p99; /* thread CPU time: what the work costs without preemption */
    double p50, p99, rel_p50, rel_p99, place_p50, place_p99, stranded, free_share, ops_per_s;
    int ok, refused, releases;
};

struct live {
    char (*ids)[POOL_UUID_MAX];
    double *tflops;                    /* booked by each live allocation */
    int n;
    double booked, capacity;
};

#define TARGET_UTILISATION 0.80

/* Placement alone (no booking, no store) on the same inventory, for the breakdown. */
static double time_placement(struct pool_svc *svc, const struct pool_alloc_req *req)
{
    struct pool_placement p;
    pthread_mutex_lock(&svc->lock);
    struct pool_def def = pool_inv_pool(&svc->inv, req->pool);
    double t0 = pool_now();
    pool_place(&svc->inv, req, def.strategy, &p);
    double dt = pool_now() - t0;
    pthread_mutex_unlock(&svc->lock);
    return dt;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double booked_tflops(json_t *alloc)
{
    double t = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(alloc, "devices"), i, d)
        t += json_number_value(json_object_get(d, "tflops_request"));
    return t;
}

/* Mixed operations holding the pool near TARGET_UTILISATION of its TFLOPs: allocations are
 * likelier below the target, releases above it, so every strategy ends in a comparable state. */
static void run_ops(struct pool_svc *svc, int ops, double *lat, double *rel_lat, double *place,
                    double *cpu, struct result *r, struct live *live)
{
    double t_start = pool_now();
    int nlat = 0, nrel = 0;
    for (int op = 0; op < ops; op++) {
        bool below = live->booked < TARGET_UTILISATION * live->capacity;
        bool allocate = live->n == 0 || rnd() % 100 < (below ? 75u : 25u);
        struct pool_error e;
        if (allocate) {
            struct pool_alloc_req req;
            make_request(&req);
            place[nlat] = time_placement(svc, &req);
            json_t *out = NULL;
            double t0 = pool_now(), c0 = cpu_now();
            int rc = pool_svc_allocate(svc, &req, &out, &e);
            double dt = pool_now() - t0, dc = cpu_now() - c0;
            if (rc == 201) {
                cpu[nlat] = dc;
                lat[nlat++] = dt;
                live->tflops[live->n] = booked_tflops(out);
                live->booked += live->tflops[live->n];
                snprintf(live->ids[live->n++], POOL_UUID_MAX, "%s",
                         json_string_value(json_object_get(out, "id")));
                r->ok++;
            } else {
                r->refused++;
            }
            json_decref(out);
        } else {
            int victim = (int)(rnd() % (uint64_t)live->n);
            double t0 = pool_now();
            if (pool_svc_release(svc, live->ids[victim], NULL, &e) != 0) {
                fprintf(stderr, "bench_pool: release: %s\n", e.message);
                exit(1);
            }
            rel_lat[nrel++] = pool_now() - t0;
            live->booked -= live->tflops[victim];
            live->n--;
            memcpy(live->ids[victim], live->ids[live->n], POOL_UUID_MAX);
            live->tflops[victim] = live->tflops[live->n];
            r->releases++;
        }
    }
    r->ops_per_s = ops / (pool_now() - t_start);
    r->cpu_p50 = bench_percentile(cpu, nlat, 50) * 1e3;
    r->cpu_p99 = bench_percentile(cpu, nlat, 99) * 1e3;
    r->place_p50 = bench_percentile(place, nlat, 50) * 1e3;
    r->place_p99 = bench_percentile(place, nlat, 99) * 1e3;
    r->p50 = bench_percentile(lat, nlat, 50) * 1e3;
    r->p99 = bench_percentile(lat, nlat, 99) * 1e3;
    r->rel_p50 = bench_percentile(rel_lat, nrel, 50) * 1e3;
    r->rel_p99 = bench_percentile(rel_lat, nrel, 99) * 1e3;
}

/* The same workload through the HTTP API (client-observed latency, one connection per call). */
static void run_http(struct result *r)
{
    const struct tf_http_opts admin = {.bearer = BENCH_ADMIN}; /* every route authenticates */
    const char *db = "/tmp/tfuse-bench-pool-http.db";
    struct pool_svc *svc = build_cluster(db, POOL_STRATEGY_COMPACT_FIRST);
    char err[256], base[64];
    struct pool_http *h = pool_http_start(svc, "127.0.0.1", 0, err, sizeof err);
    if (!h) {
        fprintf(stderr, "bench_pool: %s\n", err);
        exit(1);
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%u", pool_http_port(h));
    double *lat = malloc(HTTP_OPS * sizeof *lat);
    char (*ids)[POOL_UUID_MAX] = malloc((size_t)HTTP_OPS * POOL_UUID_MAX);
    int n = 0, nlat = 0;
    for (int op = 0; op < HTTP_OPS; op++) {
        char url[256];
        struct tf_http_response resp;
        if (n == 0 || rnd() % 100 < 60) {
            struct pool_alloc_req q;
            make_request(&q);
            char body[512];
            snprintf(body, sizeof body,
                     "{\"tenant\":\"%s\",\"gpu_count\":%d,\"compute_request_pct\":%g,"
                     "\"vram_request\":%llu%s%s%s}",
                     q.tenant, q.gpu_count, q.compute_request_pct,
                     (unsigned long long)q.vram_request, q.model[0] ? ",\"model\":\"" : "",
                     q.model, q.model[0] ? "\"" : "");
            snprintf(url, sizeof url, "%s/api/v1/allocations", base);
            double t0 = pool_now();
            if (tf_http_request("POST", url, body, 10000, &admin, &resp, err, sizeof err)) {
                fprintf(stderr, "bench_pool: %s\n", err);
                exit(1);
            }
            double dt = pool_now() - t0;
            if (resp.status == 201) {
                json_t *v = json_loadb(resp.body, resp.len, 0, NULL);
                snprintf(ids[n++], POOL_UUID_MAX, "%s", json_string_value(json_object_get(v, "id")));
                json_decref(v);
                lat[nlat++] = dt;
                r->ok++;
            } else {
                r->refused++;
            }
            free(resp.body);
        } else {
            int victim = (int)(rnd() % (uint64_t)n);
            snprintf(url, sizeof url, "%s/api/v1/allocations/%s", base, ids[victim]);
            if (tf_http_request("DELETE", url, NULL, 10000, &admin, &resp, err, sizeof err) == 0)
                free(resp.body);
            memcpy(ids[victim], ids[--n], POOL_UUID_MAX);
            r->releases++;
        }
    }
    r->p50 = bench_percentile(lat, nlat, 50) * 1e3;
    r->p99 = bench_percentile(lat, nlat, 99) * 1e3;
    free(lat);
    free(ids);
    pool_http_stop(h);
    pool_svc_close(svc);
    pool_store_remove_files(db);
}

/* Sample buffers: one strategy's (refilled per strategy) and all strategies' pooled. */
struct samples {
    double *lat, *rel, *place, *cpu;   /* OPS each */
    double *all, *cpu_all;             /* OPS * POOL_STRATEGY_COUNT each */
    int nall, ncpu;
};

/* The same workload against a fresh cluster placed by strategy s; adds its allocation
 * latencies to the pooled samples. */
static void run_strategy(enum pool_strategy s, double capacity, struct samples *sm,
                         struct live *live, struct result *r)
{
    const char *db = "/tmp/tfuse-bench-pool.db";
    rng_state = 0x9e3779b97f4a7c15ull; /* the same workload for every strategy */
    struct pool_svc *svc = build_cluster(db, s);
    memset(r, 0, sizeof *r);
    live->n = 0;
    live->booked = 0;
    live->capacity = capacity;
    run_ops(svc, OPS, sm->lat, sm->rel, sm->place, sm->cpu, r, live);
    memcpy(sm->cpu_all + sm->ncpu, sm->cpu, (size_t)r->ok * sizeof *sm->cpu);
    sm->ncpu += r->ok;
    memcpy(sm->all + sm->nall, sm->lat, (size_t)r->ok * sizeof *sm->lat);
    sm->nall += r->ok;
    r->stranded = stranded_share(svc, &r->free_share);
    pool_svc_close(svc);
    pool_store_remove_files(db);
}

static double cluster_capacity(void)
{
    double capacity = 0;
    for (int i = 0; i < NODES; i++) {
        int m = i % 10 < 4 ? 0 : i % 10 < 7 ? 1 : i % 10 < 9 ? 2 : 3;
        capacity += GPUS_PER_NODE * models[m].tflops;
    }
    return capacity;
}

static void print_strategy_header(void)
{
    printf("pool: %d GPUs on %d nodes (H100/A100/L40S/L4), %d allocate/release ops per strategy,\n"
           "library path: placement + quota + booking + SQLite WAL (synchronous=NORMAL)\n\n",
           NODES * GPUS_PER_NODE, NODES, OPS);
    printf("%-22s %8s %9s %9s %9s %9s %9s %9s %9s %6s %6s %6s %9s\n", "strategy", "ops/s",
           "place p50", "place p99", "alloc p50", "alloc p99", "cpu p99", "rel p50", "rel p99",
           "ok", "refused", "free%", "stranded%");
}

static void print_strategy_row(const char *name, const struct result *r)
{
    printf("%-22s %8.0f %7.3fms %7.3fms %7.3fms %7.3fms %7.3fms %7.3fms %7.3fms %6d %6d %5.1f%% "
           "%8.1f%%\n", name, r->ops_per_s, r->place_p50, r->place_p99, r->p50, r->p99,
           r->cpu_p99, r->rel_p50, r->rel_p99, r->ok, r->refused, 100 * r->free_share,
           100 * r->stranded);
}

static json_t *strategy_json(const struct result *r)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:f}",
                     "cpu_p50_ms", r->cpu_p50, "cpu_p99_ms", r->cpu_p99,
                     "placement_p50_ms", r->place_p50, "placement_p99_ms", r->place_p99,
                     "p50_ms", r->p50, "p99_ms", r->p99, "release_p50_ms", r->rel_p50,
                     "release_p99_ms", r->rel_p99, "ops_per_s", r->ops_per_s,
                     "allocations", r->ok, "refused", r->refused, "releases", r->releases,
                     "free_share", r->free_share, "stranded_share", r->stranded);
}

/* Library latency (all strategies pooled) against the same requests through the HTTP API. */
static void print_library_vs_http(double p50, double p99, double cpu_p50, double cpu_p99,
                                  const struct result *http)
{
    printf("\n%-34s %9s %9s %s\n", "path", "p50", "p99", "ratio p50 vs library");
    printf("%-34s %8.3fms %8.3fms %6.2fx\n", "library (all strategies)", p50, p99, 1.0);
    char http_label[64];
    snprintf(http_label, sizeof http_label, "HTTP (CompactFirst, %d ops)", HTTP_OPS);
    printf("%-34s %8.3fms %8.3fms %6.2fx\n", http_label, http->p50, http->p99,
           p50 > 0 ? http->p50 / p50 : 0);
    printf("%-34s %8.3fms %8.3fms   (thread CPU time, excludes preemption)\n",
           "library, CPU time", cpu_p50, cpu_p99);
}

/* Writes (and releases) the report; 0, or -1 after saying why. */
static int write_json(json_t *out)
{
    char path[PATH_MAX + 32];
    bench_output_path(path, sizeof path, "pool.json");
    int rc = json_dump_file(out, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(out);
    if (rc != 0) {
        fprintf(stderr, "bench_pool: cannot write %s\n", path);
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows per strategy when piped */
    const char *ops_env = getenv("TFUSE_BENCH_POOL_OPS");
    if (ops_env && atoi(ops_env) > 0) {
        OPS = atoi(ops_env);
        HTTP_OPS = OPS < DEFAULT_HTTP_OPS ? OPS : DEFAULT_HTTP_OPS;
    }
    tf_http_global_init();
    struct samples sm = {
        .lat = malloc(OPS * sizeof(double)), .rel = malloc(OPS * sizeof(double)),
        .place = malloc(OPS * sizeof(double)), .cpu = malloc(OPS * sizeof(double)),
        .all = malloc(OPS * POOL_STRATEGY_COUNT * sizeof(double)),
        .cpu_all = malloc(OPS * POOL_STRATEGY_COUNT * sizeof(double)),
    };
    double load_before = bench_loadavg();
    struct live live = {malloc((size_t)OPS * POOL_UUID_MAX), malloc(OPS * sizeof(double)), 0, 0, 0};
    double capacity = cluster_capacity();
    struct result res[POOL_STRATEGY_COUNT];
    json_t *strategies = json_object();
    print_strategy_header();
    for (int s = 0; s < POOL_STRATEGY_COUNT; s++) {
        run_strategy((enum pool_strategy)s, capacity, &sm, &live, &res[s]);
        const char *name = pool_strategy_name((enum pool_strategy)s);
        print_strategy_row(name, &res[s]);
        json_object_set_new(strategies, name, strategy_json(&res[s]));
    }
    double p50 = bench_percentile(sm.all, sm.nall, 50) * 1e3;
    double p99 = bench_percentile(sm.all, sm.nall, 99) * 1e3;
    double cpu_p50 = bench_percentile(sm.cpu_all, sm.ncpu, 50) * 1e3;
    double cpu_p99 = bench_percentile(sm.cpu_all, sm.ncpu, 99) * 1e3;
    double load_after = bench_loadavg();
    struct result http = {0};
    rng_state = 0x9e3779b97f4a7c15ull;
    run_http(&http);
    print_library_vs_http(p50, p99, cpu_p50, cpu_p99, &http);
    printf("\nload average %.1f before, %.1f after on %ld CPUs (wall-clock tails include "
           "preemption)\n", load_before, load_after, sysconf(_SC_NPROCESSORS_ONLN));
    printf("aim: p99 < 1 ms per placement: wall %s, CPU time %s\n", p99 < 1.0 ? "met" : "NOT met",
           cpu_p99 < 1.0 ? "met" : "NOT met");

    json_t *out = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:{s:i, s:f, s:f, s:f}}",
                            "bench", "pool", "gpus", NODES * GPUS_PER_NODE, "nodes", NODES,
                            "ops_per_strategy", OPS, "p50_ms", p50, "p99_ms", p99, "cpu_p50_ms",
                            cpu_p50, "cpu_p99_ms", cpu_p99, "loadavg_before", load_before,
                            "loadavg_after", load_after, "strategies",
                            strategies, "http", "ops", HTTP_OPS, "p50_ms", http.p50, "p99_ms",
                            http.p99, "ratio_p50_vs_library", p50 > 0 ? http.p50 / p50 : 0);
    if (write_json(out) != 0)
        return 1;
    free(sm.lat);
    free(sm.rel);
    free(sm.all);
    free(live.ids);
    free(live.tflops);
    free(sm.place);
    free(sm.cpu);
    free(sm.cpu_all);
    return 0;
}
