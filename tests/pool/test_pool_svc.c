/*
 * The pool service without HTTP in front (src/pool/pool_svc.c, pool_alloc.c): quotas and their
 * edges, idempotent retries, restart with the store intact (close + reopen), gang rollback when
 * the (fake) node fails the second vGPU, a node going silent, node removal and re-registration,
 * and a live resize re-booked against the GPU's free capacity and the quota (pool_resize.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fake_node.h"
#include "httpc.h"
#include "pool_store.h"
#include "pool_svc.h"

#define GiB (1ull << 30)

static char db_path[256];

static int make_db(void **state)
{
    (void)state;
    snprintf(db_path, sizeof db_path, "/tmp/tfuse-test-pool-svc-%d.db", getpid());
    unlink(db_path);
    return 0;
}

static int remove_db(void **state)
{
    (void)state;
    pool_store_remove_files(db_path);
    return 0;
}

static struct pool_svc *open_svc(bool nodeless, double hb_timeout)
{
    struct pool_config cfg = {.db_path = db_path, .nodeless = nodeless,
                              .heartbeat_timeout_s = hb_timeout, .health_thread = hb_timeout < 5,
                              .node_timeout_ms = 5000};
    char err[256];
    struct pool_svc *svc = pool_svc_open(&cfg, err, sizeof err);
    if (!svc)
        fail_msg("open: %s", err);
    return svc;
}

static void add_node(struct pool_svc *svc, const char *name, const char *address, int ngpu,
                     double tflops)
{
    struct pool_node *n = calloc(1, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    snprintf(n->address, sizeof n->address, "%s", address);
    strcpy(n->pool, "default");
    n->ndev = ngpu;
    for (int i = 0; i < ngpu; i++) {
        snprintf(n->dev[i].uuid, sizeof n->dev[i].uuid, "%s-gpu%d", name, i);
        strcpy(n->dev[i].model, "H100");
        n->dev[i].memory_bytes = 80 * GiB;
        n->dev[i].tflops = tflops;
        n->dev[i].numa = 0;
    }
    struct pool_error e = {0};
    int rc = pool_svc_register_node(svc, n, NULL, NULL, &e);
    free(n);
    if (rc != 201 && rc != 200)
        fail_msg("register %s: %d %s", name, rc, e.message);
}

static struct pool_alloc_req request(const char *tenant, double tflops, uint64_t vram, int gpus,
                                     const char *key)
{
    struct pool_alloc_req r;
    memset(&r, 0, sizeof r);
    snprintf(r.tenant, sizeof r.tenant, "%s", tenant);
    strcpy(r.pool, "default");
    r.gpu_count = gpus;
    r.tflops_request = tflops;
    r.vram_request = r.vram_limit = vram;
    r.strategy = -1;
    r.qos = POOL_QOS_MEDIUM;
    if (key)
        snprintf(r.idempotency_key, sizeof r.idempotency_key, "%s", key);
    return r;
}

/* Allocates; returns the HTTP-like status and copies the id (when there is one). */
static int allocate(struct pool_svc *svc, const struct pool_alloc_req *r, char *id,
                    struct pool_error *e)
{
    json_t *out = NULL;
    memset(e, 0, sizeof *e);
    int rc = pool_svc_allocate(svc, r, &out, e);
    if (out && id)
        snprintf(id, POOL_UUID_MAX, "%s", json_string_value(json_object_get(out, "id")));
    json_decref(out);
    return rc < 0 ? e->status : rc;
}

static double json_num_at(json_t *o, const char *a, const char *b)
{
    return json_number_value(json_object_get(json_object_get(o, a), b));
}

static void quota_edges(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    add_node(svc, "n1", "http://unused:1", 4, 100);
    struct pool_quota q = {.max_tflops = 20, .max_vram = (int64_t)(2 * GiB), .max_vgpus = 3};
    strcpy(q.tenant, "alice");
    struct pool_error e;
    assert_int_equal(pool_svc_set_quota(svc, &q, &e), 0);
    char id1[POOL_UUID_MAX], id2[POOL_UUID_MAX];
    struct pool_alloc_req r = request("alice", 10, GiB, 1, NULL);
    assert_int_equal(allocate(svc, &r, id1, &e), 201);
    assert_int_equal(allocate(svc, &r, id2, &e), 201); /* exactly at both limits */
    assert_int_equal(allocate(svc, &r, NULL, &e), 403);
    assert_int_equal(e.reason, POOL_FAIL_QUOTA);
    assert_non_null(strstr(e.message, "alice"));
    struct pool_alloc_req other = request("bob", 10, GiB, 1, NULL); /* quotas are per tenant */
    assert_int_equal(allocate(svc, &other, NULL, &e), 201);
    assert_int_equal(pool_svc_release(svc, id1, NULL, &e), 0);
    struct pool_alloc_req small = request("alice", 5, GiB / 2, 1, NULL);
    assert_int_equal(allocate(svc, &small, NULL, &e), 201);
    struct pool_alloc_req gang = request("alice", 1, 1, 2, NULL); /* 2 + 2 vGPUs > 3 */
    assert_int_equal(allocate(svc, &gang, NULL, &e), 403);
    json_t *view = pool_svc_quota_json(svc, "alice");
    assert_true(json_num_at(view, "used", "tflops") == 15);
    assert_true(json_num_at(view, "used", "vgpus") == 2);
    json_decref(view);
    /* percent requests are charged in TFLOPs of the card they land on: 10% of 100 = 10 > 5 left */
    struct pool_alloc_req pct = request("alice", 0, GiB / 4, 1, NULL);
    pct.compute_request_pct = 10;
    assert_int_equal(allocate(svc, &pct, NULL, &e), 403);
    pct.compute_request_pct = 5;
    assert_int_equal(allocate(svc, &pct, NULL, &e), 201);
    pool_svc_close(svc);
}

static void idempotent_retries(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    add_node(svc, "n1", "http://unused:1", 1, 100);
    struct pool_error e;
    char id1[POOL_UUID_MAX], id2[POOL_UUID_MAX];
    struct pool_alloc_req r = request("t", 30, GiB, 1, "job-42");
    assert_int_equal(allocate(svc, &r, id1, &e), 201);
    assert_int_equal(allocate(svc, &r, id2, &e), 200); /* replay: same allocation */
    assert_string_equal(id1, id2);
    json_t *all = pool_svc_allocations_json(svc, NULL, false);
    assert_int_equal(json_array_size(json_object_get(all, "allocations")), 1);
    json_decref(all);
    struct pool_alloc_req changed = request("t", 31, GiB, 1, "job-42");
    assert_int_equal(allocate(svc, &changed, NULL, &e), 409);
    assert_int_equal(e.reason, POOL_FAIL_CONFLICT);
    assert_int_equal(pool_svc_release(svc, id1, NULL, &e), 0);
    assert_int_equal(allocate(svc, &r, NULL, &e), 409); /* a released key stays used */
    assert_non_null(strstr(e.message, "released"));
    assert_int_equal(pool_svc_release(svc, id1, NULL, &e), -1);
    assert_int_equal(e.status, 404);
    pool_svc_close(svc);
}

static void restart_keeps_everything(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    add_node(svc, "n1", "http://unused:1", 2, 100);
    add_node(svc, "n2", "http://unused:2", 2, 100);
    struct pool_error e;
    struct pool_quota q = {.max_tflops = 1000, .max_vram = -1, .max_vgpus = 10};
    strcpy(q.tenant, "t");
    assert_int_equal(pool_svc_set_quota(svc, &q, &e), 0);
    struct pool_def d = {.oversub = 1.5, .strategy = POOL_STRATEGY_LOW_LOAD_FIRST};
    strcpy(d.name, "default");
    assert_int_equal(pool_svc_set_pool(svc, &d, &e), 0);
    char ids[3][POOL_UUID_MAX];
    struct pool_alloc_req keyed = request("t", 40, 4 * GiB, 2, "keyed");
    assert_int_equal(allocate(svc, &keyed, ids[0], &e), 201);
    struct pool_alloc_req plain = request("t", 20, GiB, 1, NULL);
    assert_int_equal(allocate(svc, &plain, ids[1], &e), 201);
    assert_int_equal(allocate(svc, &plain, ids[2], &e), 201);
    assert_int_equal(pool_svc_release(svc, ids[2], NULL, &e), 0);
    json_t *before = pool_svc_nodes_json(svc);
    pool_svc_close(svc);

    svc = open_svc(true, 60);
    json_t *after = pool_svc_nodes_json(svc);
    json_t *bn = json_object_get(before, "nodes"), *an = json_object_get(after, "nodes");
    assert_int_equal(json_array_size(an), 2);
    for (size_t i = 0; i < 2; i++) /* same bookings on every device */
        for (size_t k = 0; k < 2; k++) {
            json_t *bd = json_array_get(json_object_get(json_array_get(bn, i), "devices"), k);
            json_t *ad = json_array_get(json_object_get(json_array_get(an, i), "devices"), k);
            assert_true(json_number_value(json_object_get(bd, "allocated_tflops")) ==
                        json_number_value(json_object_get(ad, "allocated_tflops")));
            assert_true(json_equal(json_object_get(bd, "allocated_vram"),
                                   json_object_get(ad, "allocated_vram")));
        }
    json_decref(before);
    json_decref(after);
    json_t *a = pool_svc_allocation_json(svc, ids[0], NULL);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "active");
    /* no strategy in the request: the pool's default (set above) was used */
    assert_string_equal(json_string_value(json_object_get(a, "strategy")), "LowLoadFirst");
    json_decref(a);
    assert_null(pool_svc_allocation_json(svc, ids[2], NULL));
    json_t *qv = pool_svc_quota_json(svc, "t");
    assert_true(json_num_at(qv, "used", "tflops") == 100);
    assert_true(json_number_value(json_object_get(qv, "max_vgpus")) == 10);
    json_decref(qv);
    assert_true(pool_svc_pool(svc, "default").oversub == 1.5);
    char replay[POOL_UUID_MAX];
    assert_int_equal(allocate(svc, &keyed, replay, &e), 200);
    assert_string_equal(replay, ids[0]);
    pool_svc_close(svc);
}

static void gang_rolls_back_when_node_fails(void **state)
{
    (void)state;
    struct fake_gpu gpus[] = {{"fn-gpu0", "H100", 80 * GiB, 100}, {"fn-gpu1", "H100", 80 * GiB, 100}};
    struct fake_node *fn = fake_node_start("fn", gpus, 2);
    assert_non_null(fn);
    struct pool_svc *svc = open_svc(false, 60);
    struct pool_node *n = calloc(1, sizeof *n);
    strcpy(n->name, "fn");
    snprintf(n->address, sizeof n->address, "%s", fake_node_url(fn));
    strcpy(n->pool, "default");
    n->ndev = 2;
    for (int i = 0; i < 2; i++) {
        strcpy(n->dev[i].uuid, gpus[i].uuid);
        strcpy(n->dev[i].model, "H100");
        n->dev[i].memory_bytes = 80 * GiB;
        n->dev[i].tflops = 100;
    }
    struct pool_error e = {0};
    assert_int_equal(pool_svc_register_node(svc, n, NULL, NULL, &e), 201);
    free(n);
    fake_node_fail_create_at(fn, 2);
    struct pool_alloc_req r = request("t", 30, 8 * GiB, 2, "gang-1");
    assert_int_equal(allocate(svc, &r, NULL, &e), 502);
    assert_int_equal(e.reason, POOL_FAIL_NODE_ERROR);
    assert_int_equal(fake_node_creates(fn), 1); /* the first vGPU was made ... */
    assert_int_equal(fake_node_deletes(fn), 1); /* ... and deleted again */
    assert_int_equal(fake_node_live_vgpus(fn), 0);
    json_t *all = pool_svc_allocations_json(svc, NULL, false);
    assert_int_equal(json_array_size(json_object_get(all, "allocations")), 0);
    json_decref(all);
    json_t *node = pool_svc_node_json(svc, "fn");
    for (int i = 0; i < 2; i++)
        assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(json_object_get(node, "devices"), (size_t)i), "vgpus")),
                         0);
    json_decref(node);
    json_t *qv = pool_svc_quota_json(svc, "t");
    assert_true(json_num_at(qv, "used", "vgpus") == 0);
    json_decref(qv);
    char id[POOL_UUID_MAX]; /* the same key works once the node behaves */
    assert_int_equal(allocate(svc, &r, id, &e), 201);
    json_t *a = pool_svc_allocation_json(svc, id, "t"); /* the owner's view: its tokens */
    json_t *d1 = json_array_get(json_object_get(a, "devices"), 1);
    assert_non_null(strstr(json_string_value(json_object_get(d1, "token")), "token-fn-"));
    json_decref(a);
    a = pool_svc_allocation_json(svc, id, NULL); /* the admin's view: no tokens */
    assert_null(json_object_get(json_array_get(json_object_get(a, "devices"), 1), "token"));
    json_decref(a);
    assert_null(pool_svc_allocation_json(svc, id, "other")); /* another tenant: no such thing */
    e.status = 0;
    assert_int_equal(pool_svc_release(svc, id, "other", &e), -1);
    assert_int_equal(e.status, 404);
    assert_int_equal(fake_node_live_vgpus(fn), 2);
    assert_int_equal(fake_node_live_vgpus(fn), 2);
    assert_int_equal(pool_svc_release(svc, id, NULL, &e), 0);
    assert_int_equal(fake_node_live_vgpus(fn), 0);
    pool_svc_close(svc);
    fake_node_stop(fn);
}

static void silent_node_goes_unhealthy(void **state)
{
    (void)state;
    struct fake_gpu gpus[] = {{"quiet-gpu0", "H100", 80 * GiB, 100}};
    struct fake_node *fn = fake_node_start("quiet", gpus, 1);
    struct pool_svc *svc = open_svc(false, 1.0);
    struct pool_node *n = calloc(1, sizeof *n);
    strcpy(n->name, "quiet");
    snprintf(n->address, sizeof n->address, "%s", fake_node_url(fn));
    strcpy(n->pool, "default");
    n->ndev = 1;
    strcpy(n->dev[0].uuid, "quiet-gpu0");
    strcpy(n->dev[0].model, "H100");
    n->dev[0].memory_bytes = 80 * GiB;
    n->dev[0].tflops = 100;
    struct pool_error e = {0};
    assert_int_equal(pool_svc_register_node(svc, n, NULL, NULL, &e), 201);
    char id[POOL_UUID_MAX];
    struct pool_alloc_req r = request("t", 10, GiB, 1, NULL);
    assert_int_equal(allocate(svc, &r, id, &e), 201);
    usleep(2200 * 1000); /* two timeouts without a heartbeat */
    json_t *a = pool_svc_allocation_json(svc, id, NULL);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "lost");
    json_decref(a);
    json_t *nv = pool_svc_node_json(svc, "quiet");
    assert_false(json_is_true(json_object_get(nv, "healthy")));
    json_decref(nv);
    assert_int_equal(allocate(svc, &r, NULL, &e), 409); /* no placement on it */
    assert_int_equal(e.reason, POOL_FAIL_NO_CAPACITY);
    struct pool_heartbeat hb = {.ndev = 1};
    strcpy(hb.dev[0].uuid, "quiet-gpu0");
    hb.dev[0].used_bytes = GiB;
    assert_int_equal(pool_svc_heartbeat(svc, "quiet", &hb, &e), 0);
    a = pool_svc_allocation_json(svc, id, NULL);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "active");
    json_decref(a);
    assert_int_equal(allocate(svc, &r, NULL, &e), 201);
    /* removing the node releases what it carried */
    assert_int_equal(pool_svc_remove_node(svc, "quiet", &e), 0);
    assert_null(pool_svc_allocation_json(svc, id, NULL));
    assert_int_equal(pool_svc_heartbeat(svc, "quiet", &hb, &e), -1);
    assert_int_equal(e.status, 404);
    free(n);
    pool_svc_close(svc);
    fake_node_stop(fn);
}

static void reregistration_cannot_drop_booked_gpu(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    add_node(svc, "n1", "http://unused:1", 2, 100);
    struct pool_error e;
    struct pool_alloc_req r = request("t", 10, GiB, 2, NULL);
    assert_int_equal(allocate(svc, &r, NULL, &e), 201);
    struct pool_node *n = calloc(1, sizeof *n);
    strcpy(n->name, "n1");
    strcpy(n->address, "http://unused:1");
    strcpy(n->pool, "default");
    n->ndev = 1;
    strcpy(n->dev[0].uuid, "n1-gpu0");
    strcpy(n->dev[0].model, "H100");
    n->dev[0].memory_bytes = 80 * GiB;
    n->dev[0].tflops = 100;
    assert_int_equal(pool_svc_register_node(svc, n, NULL, NULL, &e), -1);
    assert_int_equal(e.status, 409);
    free(n);
    pool_svc_close(svc);
    svc = open_svc(true, 60); /* and the store still has both GPUs */
    json_t *nv = pool_svc_node_json(svc, "n1");
    assert_int_equal(json_array_size(json_object_get(nv, "devices")), 2);
    json_decref(nv);
    pool_svc_close(svc);
}

static void sql(const char *stmt)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void pending_allocation_rolled_back_at_start(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    add_node(svc, "n1", "http://unused:1", 1, 100);
    struct pool_error e;
    char id[POOL_UUID_MAX];
    struct pool_alloc_req r = request("t", 50, 4 * GiB, 1, "crashed");
    assert_int_equal(allocate(svc, &r, id, &e), 201);
    pool_svc_close(svc);
    /* as if the pool died while the node was creating the vGPU */
    sql("UPDATE allocations SET status='pending'");
    svc = open_svc(true, 60);
    assert_null(pool_svc_allocation_json(svc, id, NULL));
    json_t *nv = pool_svc_node_json(svc, "n1");
    json_t *d0 = json_array_get(json_object_get(nv, "devices"), 0);
    assert_int_equal(json_integer_value(json_object_get(d0, "vgpus")), 0);
    json_decref(nv);
    assert_int_equal(allocate(svc, &r, NULL, &e), 409); /* its key stays spent */
    pool_svc_close(svc);
}

static void newer_schema_is_refused(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    pool_svc_close(svc);
    sql("PRAGMA user_version=99");
    struct pool_config cfg = {.db_path = db_path, .nodeless = true};
    char err[256];
    assert_null(pool_svc_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
}

static json_int_t booked_vram(struct pool_svc *svc)
{
    json_t *nv = pool_svc_node_json(svc, "n1");
    json_int_t v = json_integer_value(
        json_object_get(json_array_get(json_object_get(nv, "devices"), 0), "allocated_vram"));
    json_decref(nv);
    return v;
}

static int resize(struct pool_svc *svc, const char *id, const char *owner,
                  struct pool_resize_req rq, struct pool_error *e)
{
    json_t *out = NULL;
    memset(e, 0, sizeof *e);
    int rc = pool_svc_resize(svc, id, owner, &rq, &out, e);
    json_decref(out);
    return rc < 0 ? e->status : rc;
}

static void resize_rebooks(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc(true, 60);
    add_node(svc, "n1", "http://unused:1", 1, 100);   /* one GPU of 80 GiB */
    char a[POOL_UUID_MAX], b[POOL_UUID_MAX];
    struct pool_error e;
    struct pool_alloc_req r = request("alice", 10, 40 * GiB, 1, NULL);
    assert_int_equal(allocate(svc, &r, a, &e), 201);
    r = request("alice", 10, 30 * GiB, 1, NULL);
    assert_int_equal(allocate(svc, &r, b, &e), 201);
    struct pool_resize_req grow = {.vram_request = 51 * GiB, .qos = -1};
    assert_int_equal(resize(svc, a, NULL, grow, &e), 409);   /* 30 + 51 > 80 */
    assert_int_equal(e.reason, POOL_FAIL_NO_CAPACITY);
    assert_non_null(strstr(e.message, "no longer fits"));
    assert_true(booked_vram(svc) == (json_int_t)(70 * GiB));   /* nothing changed */
    grow.vram_request = 50 * GiB;
    assert_int_equal(resize(svc, a, NULL, grow, &e), 200);   /* exactly full */
    assert_true(booked_vram(svc) == (json_int_t)(80 * GiB));
    struct pool_resize_req one = {.vram_request = 30 * GiB + 1, .qos = -1};
    assert_int_equal(resize(svc, b, NULL, one, &e), 409);
    assert_int_equal(resize(svc, a, "bob", grow, &e), 404);   /* another tenant's */
    struct pool_resize_req bad = {.vram_limit = GiB, .qos = -1};   /* below the request */
    assert_int_equal(resize(svc, a, "alice", bad, &e), 400);
    struct pool_quota q = {.max_tflops = 30, .max_vram = -1, .max_vgpus = -1};
    strcpy(q.tenant, "alice");
    assert_int_equal(pool_svc_set_quota(svc, &q, &e), 0);
    struct pool_resize_req compute = {.tflops_request = 25, .qos = POOL_QOS_HIGH};
    assert_int_equal(resize(svc, a, "alice", compute, &e), 403);   /* 10 + 25 > 30 */
    compute.tflops_request = 20;
    assert_int_equal(resize(svc, a, "alice", compute, &e), 200);
    pool_svc_close(svc);

    svc = open_svc(true, 60);   /* the resized record is what the store kept */
    json_t *v = pool_svc_allocation_json(svc, a, "alice");
    json_t *d0 = json_array_get(json_object_get(v, "devices"), 0);
    assert_true(json_integer_value(json_object_get(d0, "vram_limit")) == (json_int_t)(50 * GiB));
    assert_true(json_number_value(json_object_get(d0, "tflops_request")) == 20);
    assert_string_equal(json_string_value(json_object_get(v, "qos")), "high");
    json_decref(v);
    assert_true(booked_vram(svc) == (json_int_t)(80 * GiB));
    pool_svc_close(svc);
}

int main(void)
{
    tf_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quota_edges, make_db, remove_db),
        cmocka_unit_test_setup_teardown(idempotent_retries, make_db, remove_db),
        cmocka_unit_test_setup_teardown(restart_keeps_everything, make_db, remove_db),
        cmocka_unit_test_setup_teardown(gang_rolls_back_when_node_fails, make_db, remove_db),
        cmocka_unit_test_setup_teardown(silent_node_goes_unhealthy, make_db, remove_db),
        cmocka_unit_test_setup_teardown(reregistration_cannot_drop_booked_gpu, make_db, remove_db),
        cmocka_unit_test_setup_teardown(pending_allocation_rolled_back_at_start, make_db, remove_db),
        cmocka_unit_test_setup_teardown(newer_schema_is_refused, make_db, remove_db),
        cmocka_unit_test_setup_teardown(resize_rebooks, make_db, remove_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
