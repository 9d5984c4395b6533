/*
 * The pool over HTTP, end to end with fake nodes (TEST DOUBLEs, fake_node.c): malformed and
 * hostile requests answered 4xx with a message; 16 concurrent clients allocating and releasing
 * never double-book a device; /metrics parsed and checked against what the test did; and a real
 * process restart (build/bin/tfuse-pool killed with SIGKILL and started again on the same db).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/test_timeouts.h"
#include "fake_node.h"
#include "pool_http.h"
#include "httpc.h"
#include "pool_store.h"
#include "pool_svc.h"

#define GiB (1ull << 30)
#define ADMIN "test-admin-credential"
#define JOIN "test-join-token"

struct env {
    char db[256];
    struct pool_svc *svc;
    struct pool_http *http;
    char url[64];
    struct fake_node *nodes[2];
};

static struct fake_node *start_node(const char *name, int ngpu)
{
    struct fake_gpu gpus[8];
    static char uuids[2][8][32];
    int which = name[strlen(name) - 1] == '1';
    for (int i = 0; i < ngpu; i++) {
        snprintf(uuids[which][i], sizeof uuids[which][i], "%s-gpu%d", name, i);
        gpus[i] = (struct fake_gpu){uuids[which][i], "H100", 80 * GiB, 100};
    }
    return fake_node_start(name, gpus, ngpu);
}

static int setup(void **state)
{
    struct env *env = calloc(1, sizeof *env);
    snprintf(env->db, sizeof env->db, "/tmp/tfuse-test-pool-http-%d.db", getpid());
    pool_store_remove_files(env->db);
    struct pool_config cfg = {.db_path = env->db, .heartbeat_timeout_s = 60, .health_thread = true,
                              .admin_token = ADMIN, .join_token = JOIN};
    char err[256];
    env->svc = pool_svc_open(&cfg, err, sizeof err);
    assert_non_null(env->svc);
    env->http = pool_http_start(env->svc, "127.0.0.1", 0, err, sizeof err);
    assert_non_null(env->http);
    snprintf(env->url, sizeof env->url, "http://127.0.0.1:%u", pool_http_port(env->http));
    env->nodes[0] = start_node("node0", 4);
    env->nodes[1] = start_node("node1", 4);
    fake_node_set_join_token(env->nodes[0], JOIN);
    fake_node_set_join_token(env->nodes[1], JOIN);
    assert_int_equal(fake_node_register(env->nodes[0], env->url, NULL, "zone=a"), 201);
    assert_int_equal(fake_node_register(env->nodes[1], env->url, NULL, "zone=b"), 201);
    assert_int_equal(fake_node_heartbeat(env->nodes[0], env->url), 204);
    *state = env;
    return 0;
}

static int teardown(void **state)
{
    struct env *env = *state;
    pool_http_stop(env->http);
    pool_svc_close(env->svc);
    fake_node_stop(env->nodes[0]);
    fake_node_stop(env->nodes[1]);
    pool_store_remove_files(env->db);
    free(env);
    return 0;
}

/* One request as the admin; returns the parsed body (NULL when empty or not JSON) and the
 * status. */
static json_t *http(const char *base, const char *method, const char *path, const char *body,
                    long *status)
{
    char url[1100], err[256];
    if ((size_t)snprintf(url, sizeof url, "%s%s", base, path) >= sizeof url)
        fail_msg("url too long: %s%s", base, path);
    struct tf_http_response r;
    struct tf_http_opts o = {.bearer = ADMIN};
    if (tf_http_request(method, url, body, 10000, &o, &r, err, sizeof err)) {
        *status = -1;
        return NULL;
    }
    *status = r.status;
    json_t *v = json_loadb(r.body, r.len, 0, NULL);
    free(r.body);
    return v;
}

/* A heartbeat carries every vGPU's usage (up to 16 x 64 entries, ~250 KiB): the heartbeat
 * route takes up to 1 MiB, every other route still 64 KiB. */
static void heartbeat_with_every_vgpus_usage_fits(void **state)
{
    struct env *env = *state;
    size_t cap = 2 * 1024 * 1024, len = 0;
    char *body = malloc(cap);
    len += (size_t)snprintf(body + len, cap - len, "{\"usage\":[");
    for (int i = 0; i < 1024; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"vgpu\":\"vgpu-%d\",\"mem_used\":1073741824,"
                                "\"mem_peak\":2147483648,\"mem_limit\":4294967296,"
                                "\"busy_ns\":123456789012,\"throttled_ns\":123456789,"
                                "\"launches\":1234567,\"oom_refusals\":12,"
                                "\"oom_largest\":536870912,"
                                "\"compute_limit\":0.25}", i ? "," : "", i);
    len += (size_t)snprintf(body + len, cap - len, "]}");
    assert_true(len > POOL_BODY_MAX);
    char url[256], err[256];
    snprintf(url, sizeof url, "%s/api/v1/nodes/node0/heartbeat", env->url);
    struct tf_http_response r;
    struct tf_http_opts o = {.bearer = fake_node_credential(env->nodes[0])};
    assert_int_equal(tf_http_request("POST", url, body, 10000, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 204);
    free(r.body);
    long status;
    json_decref(http(env->url, "POST", "/api/v1/allocations", body, &status));
    assert_int_equal(status, 413);
    while (len < POOL_HEARTBEAT_BODY_MAX + 16)   /* past the heartbeat's own limit */
        body[len++] = ' ';
    body[len] = '\0';
    assert_int_equal(tf_http_request("POST", url, body, 10000, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 413);
    free(r.body);
    free(body);
}

static void hostile_requests_get_4xx_with_message(void **state)
{
    struct env *env = *state;
    char *huge = malloc(200 * 1024);
    memset(huge, ' ', 200 * 1024 - 1);
    huge[0] = '{';
    huge[200 * 1024 - 3] = '}';
    huge[200 * 1024 - 1] = '\0';
    static const char ok_fields[] = "\"tenant\":\"t\",\"vram_request\":1024,\"tflops_request\":1";
    char buf[8][256];
    snprintf(buf[0], sizeof buf[0], "{%s,\"surprise\":true}", ok_fields);
    snprintf(buf[1], sizeof buf[1], "{%s,\"gpu_count\":-1}", ok_fields);
    snprintf(buf[2], sizeof buf[2], "{%s,\"gpu_count\":99999999999999999999999}", ok_fields);
    snprintf(buf[3], sizeof buf[3], "{%s,\"tenant\":\"t\"}", ok_fields);
    snprintf(buf[4], sizeof buf[4], "{%s,\"qos\":\"urgent\"}", ok_fields);
    snprintf(buf[5], sizeof buf[5], "{%s,\"vram_limit\":1}", ok_fields);
    snprintf(buf[6], sizeof buf[6], "{%s,\"compute_request_pct\":50}", ok_fields);
    struct {
        const char *method, *path, *body;
        long status;
    } cases[] = {
        {"POST", "/api/v1/allocations", "{not json", 400},
        {"POST", "/api/v1/allocations", "", 400},
        {"POST", "/api/v1/allocations", "[1,2,3]", 400},
        {"POST", "/api/v1/allocations", huge, 413},
        {"POST", "/api/v1/allocations", buf[0], 400},
        {"POST", "/api/v1/allocations", buf[1], 400},
        {"POST", "/api/v1/allocations", buf[2], 400},
        {"POST", "/api/v1/allocations", buf[3], 400},   /* duplicate key */
        {"POST", "/api/v1/allocations", buf[4], 400},
        {"POST", "/api/v1/allocations", buf[5], 400},   /* limit below request */
        {"POST", "/api/v1/allocations", buf[6], 400},   /* both compute forms */
        {"POST", "/api/v1/allocations", "{\"tenant\":\"t\",\"vram_request\":1e400,\"tflops_request\":1}", 400},
        {"POST", "/api/v1/allocations", "{\"tenant\":\"t\",\"vram_request\":1.5,\"tflops_request\":1}", 400},
        {"POST", "/api/v1/allocations", "{\"tenant\":\"t\",\"vram_request\":1,\"tflops_request\":-3}", 400},
        {"POST", "/api/v1/allocations", "{\"tenant\":\"a b\",\"vram_request\":1,\"tflops_request\":1}", 400},
        {"POST", "/api/v1/allocations", "{\"tenant\":\"t\\u0000x\",\"vram_request\":1,\"tflops_request\":1}", 400},
        {"POST", "/api/v1/nodes", "{\"name\":\"x\",\"address\":\"file:///etc/passwd\",\"devices\":[]}", 400},
        {"POST", "/api/v1/nodes", "{\"name\":\"x\",\"address\":\"http://h:1\",\"devices\":[{\"uuid\":\"g\",\"model\":\"m\",\"memory_bytes\":-5,\"tflops_fp16\":1}]}", 400},
        {"POST", "/api/v1/nodes/ghost/heartbeat", "{}", 403},   /* only a node heartbeats */
        {"PUT", "/api/v1/quotas/t", "{\"max_tflops\":-1}", 400},
        {"PUT", "/api/v1/pools/default", "{\"oversub_ratio\":0.5}", 400},
        {"DELETE", "/api/v1/allocations/nope", NULL, 404},
        {"GET", "/api/v1/allocations/bad%20id", NULL, 400},
        {"GET", "/api/v1/nothing", NULL, 404},
        {"PATCH", "/api/v1/allocations", NULL, 405},
        {"GET", "/etc/passwd", NULL, 404},
        {"GET", "/api/v1/nodes/ghost/vgpus", NULL, 404},
        {"PUT", "/api/v1/quotas/t123456789012345678901234567890123456789012345678901234567890123456789",
         "{}", 400},
        {"PUT", "/api/v1/pools/p123456789012345678901234567890123456789012345678901234567890123456789",
         "{}", 400},
        {"POST", "/api/v1/nodes/node0/vgpus", "{}", 405},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long status;
        json_t *v = http(env->url, cases[i].method, cases[i].path, cases[i].body, &status);
        if (status != cases[i].status)
            fail_msg("case %zu (%s %s): status %ld, expected %ld", i, cases[i].method,
                     cases[i].path, status, cases[i].status);
        const char *msg = json_string_value(json_object_get(v, "message"));
        if (!msg || !msg[0])
            fail_msg("case %zu: no message", i);
        json_decref(v);
    }
    free(huge);
    long status; /* and the pool still works, with nothing half-applied */
    json_t *v = http(env->url, "GET", "/api/v1/allocations", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(v, "allocations")), 0);
    json_decref(v);
    v = http(env->url, "GET", "/api/v1/quotas", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(v, "quotas")), 0);
    json_decref(v);
}

/* A chunked upload has no Content-Length to refuse up front: the pool must drain it and still
 * answer 413. Sent over a raw socket because the client library always declares a length. */
static void chunked_huge_body_is_refused(void **state)
{
    struct env *env = *state;
    int port = atoi(strrchr(env->url, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *head = "POST /api/v1/allocations HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer " ADMIN "\r\n"
                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    assert_true(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
    char chunk[8192 + 16];
    memset(chunk, 'a', sizeof chunk);
    int n = snprintf(chunk, 16, "2000\r\n");
    chunk[n] = 'a';
    memcpy(chunk + n + 8192, "\r\n", 2);
    for (int i = 0; i < 16; i++) /* 128 KiB */
        assert_true(write(fd, chunk, (size_t)n + 8192 + 2) > 0);
    assert_true(write(fd, "0\r\n\r\n", 5) == 5);
    char resp[512] = "";
    ssize_t got = read(fd, resp, sizeof resp - 1);
    close(fd);
    assert_true(got > 12);
    assert_non_null(strstr(resp, " 413 "));
    long status; /* still serving */
    json_decref(http(env->url, "GET", "/healthz", NULL, &status));
    assert_int_equal(status, 200);
}

struct worker {
    const char *url;
    unsigned seed;
    int ok, refused, kept;
    char kept_ids[64][POOL_UUID_MAX];
};

static void *client_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 30; i++) {
        char body[256];
        int gpus = rand_r(&w->seed) % 4 == 0 ? 2 : 1;
        snprintf(body, sizeof body,
                 "{\"tenant\":\"t%u\",\"vram_request\":%llu,\"tflops_request\":%d,"
                 "\"gpu_count\":%d,\"strategy\":\"%s\"}",
                 w->seed % 4, (unsigned long long)(4 + rand_r(&w->seed) % 16) * GiB,
                 2 + rand_r(&w->seed) % 10, gpus,
                 (const char *[]){"CompactFirst", "LowLoadFirst", "NodeCompactGPULowLoad"}[i % 3]);
        long status;
        json_t *v = http(w->url, "POST", "/api/v1/allocations", body, &status);
        if (status == 201) {
            w->ok++;
            const char *id = json_string_value(json_object_get(v, "id"));
            if (rand_r(&w->seed) % 4 == 0 && w->kept < 64) {
                snprintf(w->kept_ids[w->kept++], POOL_UUID_MAX, "%s", id);
            } else {
                char path[128];
                snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
                json_decref(http(w->url, "DELETE", path, NULL, &status));
                if (status != 204)
                    w->ok = -1000;
            }
        } else if (status == 409) {
            w->refused++;
        } else {
            w->ok = -1000; /* anything else is a failure of the test */
        }
        json_decref(v);
    }
    return NULL;
}

static void concurrent_clients_never_double_book(void **state)
{
    struct env *env = *state;
    enum { NTHREADS = 16 };
    struct worker w[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].url = env->url;
        w[i].seed = (unsigned)i * 7919u + 1;
        pthread_create(&t[i], NULL, client_main, &w[i]);
    }
    int ok = 0, kept = 0, refused = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        assert_true(w[i].ok >= 0);
        ok += w[i].ok;
        kept += w[i].kept;
        refused += w[i].refused;
    }
    if (ok < 100 || refused == 0)
        fail_msg("%d allocations, %d refused: the test did not exercise a full pool", ok, refused);
    assert_false(fake_node_overbooked(env->nodes[0]));
    assert_false(fake_node_overbooked(env->nodes[1]));
    long status;
    json_t *nodes = http(env->url, "GET", "/api/v1/nodes", NULL, &status);
    size_t i, k;
    json_t *n, *d;
    int vgpus = 0;
    json_array_foreach(json_object_get(nodes, "nodes"), i, n)
        json_array_foreach(json_object_get(n, "devices"), k, d) {
            assert_true(json_number_value(json_object_get(d, "allocated_vram")) <=
                        json_number_value(json_object_get(d, "memory_bytes")));
            assert_true(json_number_value(json_object_get(d, "allocated_tflops")) <=
                        json_number_value(json_object_get(d, "capacity_tflops")) + 1e-6);
            vgpus += (int)json_integer_value(json_object_get(d, "vgpus"));
        }
    json_decref(nodes);
    int live = fake_node_live_vgpus(env->nodes[0]) + fake_node_live_vgpus(env->nodes[1]);
    assert_int_equal(vgpus, live); /* the pool's books match the nodes' */
    json_t *allocs = http(env->url, "GET", "/api/v1/allocations", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(allocs, "allocations")), kept);
    json_decref(allocs);
    for (int n = 0; n < 2; n++) { /* the reconciliation list matches each node exactly */
        char path[64];
        snprintf(path, sizeof path, "/api/v1/nodes/node%d/vgpus", n);
        json_t *v = http(env->url, "GET", path, NULL, &status);
        assert_int_equal(status, 200);
        assert_int_equal(json_array_size(json_object_get(v, "vgpus")),
                         fake_node_live_vgpus(env->nodes[n]));
        assert_int_equal(json_array_size(json_object_get(v, "creating")), 0);
        json_decref(v);
    }
}

/* The value of one exposition line "name{labels} value"; -1 when missing. */
static double metric(const char *text, const char *series)
{
    const char *p = text;
    size_t n = strlen(series);
    while ((p = strstr(p, series))) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

static void metrics_reflect_activity(void **state)
{
    struct env *env = *state;
    long status;
    int ok = 0;
    for (int i = 0; i < 5; i++) {
        json_decref(http(env->url, "POST", "/api/v1/allocations",
                         "{\"tenant\":\"m\",\"vram_request\":1073741824,\"tflops_request\":10,"
                         "\"strategy\":\"LowLoadFirst\"}",
                         &status));
        ok += status == 201;
    }
    assert_int_equal(ok, 5);
    json_decref(http(env->url, "POST", "/api/v1/allocations", "{bad", &status));
    json_decref(http(env->url, "POST", "/api/v1/allocations",
                     "{\"tenant\":\"m\",\"vram_request\":1,\"tflops_request\":10,\"model\":\"B200\"}",
                     &status));
    assert_int_equal(status, 409);
    char url[128], err[128];
    snprintf(url, sizeof url, "%s/metrics", env->url);
    struct tf_http_response r;
    struct tf_http_opts o = {.bearer = ADMIN};
    assert_int_equal(tf_http_request("GET", url, NULL, 5000, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 200);
    const char *t = r.body;
    assert_true(metric(t, "tfuse_pool_placements_total{strategy=\"LowLoadFirst\"}") == 5);
    assert_true(metric(t, "tfuse_pool_placements_total{strategy=\"CompactFirst\"}") == 0);
    assert_true(metric(t, "tfuse_pool_allocation_failures_total{reason=\"invalid\"}") == 1);
    assert_true(metric(t, "tfuse_pool_allocation_failures_total{reason=\"no_capacity\"}") == 1);
    assert_true(metric(t, "tfuse_pool_allocated_tflops{pool=\"default\",model=\"H100\"}") == 50);
    assert_true(metric(t, "tfuse_pool_capacity_tflops{pool=\"default\",model=\"H100\"}") == 800);
    assert_true(metric(t, "tfuse_pool_available_tflops{pool=\"default\",model=\"H100\"}") == 750);
    assert_true(metric(t, "tfuse_pool_allocation_latency_seconds_count") == 5);
    assert_true(metric(t, "tfuse_pool_allocation_latency_seconds_bucket{le=\"+Inf\"}") == 5);
    assert_true(metric(t, "tfuse_pool_nodes{health=\"healthy\"}") == 2);
    assert_true(metric(t, "tfuse_pool_allocations{status=\"active\"}") == 5);
    free(r.body);
}

/* Starts build/bin/tfuse-pool serve on db; returns its pid and fills url. */
static pid_t spawn_pool(const char *db, char *url, size_t len)
{
    char ready[300];
    snprintf(ready, sizeof ready, "%s.url", db);
    unlink(ready);
    pid_t pid = fork();
    if (pid == 0) {
        char admin[300], join[300];
        snprintf(admin, sizeof admin, "%s.admin", db);
        snprintf(join, sizeof join, "%s.join", db);
        execl(TFUSE_POOL_BIN, "tfuse-pool", "serve", "--listen", "127.0.0.1:0", "--db", db,
              "--ready-file", ready, "--admin-token-file", admin, "--join-token-file", join,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < tt_scaled_n(200); i++) { /* up to 10 s */
        FILE *f = fopen(ready, "r");
        if (f) {
            bool got = fgets(url, (int)len, f) != NULL;
            fclose(f);
            if (got && strchr(url, '\n')) {
                *strchr(url, '\n') = '\0';
                return pid;
            }
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("tfuse-pool did not start");
    return -1;
}

/* Runs the CLI binary as the admin (the credential file given to spawn_pool) and returns its
 * stdout (malloc'd). */
static char *run_cli(const char *db, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s --token-file %s.admin", TFUSE_POOL_BIN, args, db);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, 65536);
    size_t n = fread(out, 1, 65535, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

static void process_restart_keeps_state(void **state)
{
    (void)state;
    char db[256], url[128];
    snprintf(db, sizeof db, "/tmp/tfuse-test-pool-restart-%d.db", getpid());
    pool_store_remove_files(db);
    char cred_file[300];
    snprintf(cred_file, sizeof cred_file, "%s.admin", db);
    FILE *cf = fopen(cred_file, "w");
    assert_non_null(cf);
    fputs(ADMIN "\n", cf);
    fclose(cf);
    snprintf(cred_file, sizeof cred_file, "%s.join", db);
    cf = fopen(cred_file, "w");
    fputs(JOIN "\n", cf);
    fclose(cf);
    struct fake_node *fn = start_node("node1", 2);
    fake_node_set_join_token(fn, JOIN);
    pid_t pid = spawn_pool(db, url, sizeof url);
    assert_int_equal(fake_node_register(fn, url, NULL, NULL), 201);
    long status;
    const char *body = "{\"tenant\":\"r\",\"vram_request\":2147483648,\"tflops_request\":25,"
                       "\"gpu_count\":2,\"idempotency_key\":\"restart-1\"}";
    json_t *a = http(url, "POST", "/api/v1/allocations", body, &status);
    assert_int_equal(status, 201);
    char id[POOL_UUID_MAX];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(a, "id")));
    json_decref(a);
    json_decref(http(url, "PUT", "/api/v1/quotas/r", "{\"max_vgpus\":8}", &status));
    assert_int_equal(status, 200);

    kill(pid, SIGKILL); /* a crash, not a clean stop: committed state must survive */
    waitpid(pid, NULL, 0);
    pid = spawn_pool(db, url, sizeof url);

    char path[512];
    snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
    a = http(url, "GET", path, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "active");
    assert_int_equal(json_array_size(json_object_get(a, "devices")), 2);
    json_decref(a);
    a = http(url, "POST", "/api/v1/allocations", body, &status); /* the retry finds it */
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(a, "id")), id);
    json_decref(a);
    a = http(url, "GET", "/api/v1/quotas/r", NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(a, "max_vgpus")), 8);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "used"), "vgpus")), 2);
    json_decref(a);

    char args[512];
    snprintf(args, sizeof args, "allocations --pool %s --json", url);
    char *out = run_cli(db, args);
    assert_non_null(strstr(out, id));
    free(out);
    snprintf(args, sizeof args, "nodes --pool %s", url);
    out = run_cli(db, args);
    assert_non_null(strstr(out, "node1"));
    assert_non_null(strstr(out, "healthy"));
    free(out);
    snprintf(args, sizeof args, "settings default --pool %s --oversub 2 --strategy LowLoadFirst", url);
    out = run_cli(db, args);
    assert_non_null(strstr(out, "oversubscription 2.00x, strategy LowLoadFirst"));
    free(out);
    snprintf(args, sizeof args, "release %s --pool %s", id, url);
    free(run_cli(db, args));
    assert_int_equal(fake_node_live_vgpus(fn), 0);

    kill(pid, SIGTERM);
    int wstatus;
    waitpid(pid, &wstatus, 0);
    assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    fake_node_stop(fn);
    pool_store_remove_files(db);
    snprintf(path, sizeof path, "%s.url", db);
    unlink(path);
    snprintf(path, sizeof path, "%s.admin", db);
    unlink(path);
    snprintf(path, sizeof path, "%s.join", db);
    unlink(path);
}

int main(void)
{
    tf_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hostile_requests_get_4xx_with_message, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_with_every_vgpus_usage_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(chunked_huge_body_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_clients_never_double_book, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_reflect_activity, setup, teardown),
        cmocka_unit_test(process_restart_keeps_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
