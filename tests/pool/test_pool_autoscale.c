/*
 * Usage history and auto mode of the pool service without HTTP (src/pool/pool_usage.c,
 * pool_autoscale.c), on a nodeless pool and a clock the test moves (cfg.clock_ms: nothing
 * sleeps): reports of a vGPU become one sample per period with the interval's peak and share;
 * down-sampling keeps peaks and weights; auto mode resizes within the workload's bounds, never
 * below the memory in use, not again within the cool-down, records who/when/from/to/why, and
 * keeps all of it across a restart; compute is raised when throttled; off and recommend
 * change nothing; a tenant neither sees nor changes another's workload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool_store.h"
#include "pool_svc.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define MIN_MS 60000ll
#define HOUR_MS (60 * MIN_MS)

static char db_path[256];
static int64_t clock_now = 1700000000000ll;   /* the test's clock, ms */

static int64_t test_clock(void *arg)
{
    (void)arg;
    return clock_now;
}

static int make_db(void **state)
{
    (void)state;
    snprintf(db_path, sizeof db_path, "/tmp/tfuse-test-pool-auto-%d.db", getpid());
    pool_store_remove_files(db_path);
    return 0;
}

static int remove_db(void **state)
{
    (void)state;
    pool_store_remove_files(db_path);
    return 0;
}

static struct pool_svc *open_svc(void)
{
    struct pool_reco_params p;
    pool_reco_params_default(&p);
    p.half_life_s = 3600;
    struct pool_config cfg = {.db_path = db_path, .nodeless = true, .heartbeat_timeout_s = 60,
                              .usage_period_s = 60, .cooldown_s = 600, .reco = &p,
                              .clock_ms = test_clock};
    char err[256];
    struct pool_svc *svc = pool_svc_open(&cfg, err, sizeof err);
    if (!svc)
        fail_msg("open: %s", err);
    return svc;
}

static void add_node(struct pool_svc *svc)
{
    struct pool_node *n = calloc(1, sizeof *n);
    strcpy(n->name, "n1");
    strcpy(n->address, "http://unused:1");
    strcpy(n->pool, "default");
    n->ndev = 1;
    strcpy(n->dev[0].uuid, "n1-gpu0");
    strcpy(n->dev[0].model, "H100");
    n->dev[0].memory_bytes = 80 * GiB;
    n->dev[0].tflops = 100;
    struct pool_error e = {0};
    int rc = pool_svc_register_node(svc, n, NULL, NULL, &e);
    free(n);
    if (rc != 201 && rc != 200)
        fail_msg("register: %d %s", rc, e.message);
}

/* An allocation of tenant's workload (1 GPU, compute_pct of it); its id into id. */
static void allocate(struct pool_svc *svc, const char *tenant, const char *workload,
                     uint64_t vram, double compute_pct, char *id)
{
    struct pool_alloc_req r;
    memset(&r, 0, sizeof r);
    snprintf(r.tenant, sizeof r.tenant, "%s", tenant);
    snprintf(r.workload, sizeof r.workload, "%s", workload);
    strcpy(r.pool, "default");
    r.gpu_count = 1;
    r.compute_request_pct = r.compute_limit_pct = compute_pct;
    r.vram_request = r.vram_limit = vram;
    r.strategy = -1;
    r.qos = POOL_QOS_MEDIUM;
    json_t *out = NULL;
    struct pool_error e = {0};
    if (pool_svc_allocate(svc, &r, &out, &e) != 201)
        fail_msg("allocate: %s", e.message);
    snprintf(id, POOL_UUID_MAX, "%s", json_string_value(json_object_get(out, "id")));
    json_decref(out);
}

/* n samples one minute apart ending now: peak `peak`, share `used` of a `limit` limit. */
static void history(struct pool_svc *svc, const char *w, int n, uint64_t peak, double used,
                    double limit, double throttled)
{
    struct pool_error e;
    for (int i = 0; i < n; i++) {
        struct pool_usage_sample s = {.t_ms = clock_now - (n - 1 - i) * MIN_MS,
                                      .mem_used = peak / 2, .mem_peak = peak,
                                      .mem_limit = GiB, .compute_used = used,
                                      .compute_limit = limit, .throttled_frac = throttled};
        assert_int_equal(pool_svc_usage_record(svc, w, &s, &e), 0);
    }
}

static json_t *alloc_dev0(struct pool_svc *svc, const char *id)
{
    json_t *v = pool_svc_allocation_json(svc, id, NULL);
    json_t *d = json_incref(json_array_get(json_object_get(v, "devices"), 0));
    json_decref(v);
    return d;
}

static uint64_t vram_limit(struct pool_svc *svc, const char *id)
{
    json_t *d = alloc_dev0(svc, id);
    uint64_t v = (uint64_t)json_integer_value(json_object_get(d, "vram_limit"));
    json_decref(d);
    return v;
}

static size_t changes(struct pool_svc *svc)
{
    json_t *v = pool_svc_autoscale(svc);
    size_t n = json_array_size(json_object_get(v, "changes"));
    json_decref(v);
    return n;
}

static int set_mode(struct pool_svc *svc, const char *w, const char *owner,
                    enum pool_wl_mode mode, uint64_t min, uint64_t max)
{
    struct pool_mode_req m = {.mode = mode, .min_vram = min, .max_vram = max};
    struct pool_error e = {0};
    return pool_svc_set_mode(svc, w, owner, &m, owner ? owner : "admin", &e) ? e.status : 0;
}

/* Reports of one vGPU every 20 s: the sample at each minute holds the interval's peak (the
 * node's peak moved, or the most seen in use), the share of device time and of time held back,
 * launches and refusals as differences of the counters. */
static void reports_become_samples(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc();
    add_node(svc);
    char id[POOL_UUID_MAX];
    allocate(svc, "acme", "web", GiB, 50, id);
    struct pool_vgpu_usage u = {.mem_used = 100 * MiB, .mem_peak = 100 * MiB,
                                .mem_limit = GiB, .compute_limit = 0.5};
    assert_int_equal(pool_svc_usage_observe(svc, id, 0, &u), 0);   /* primes the counters */
    for (int k = 1; k <= 3; k++) {
        clock_now += 20000;
        u.busy_ns += 6000000000ull;       /* 6 s of device time every 20 s: 0.3 */
        u.throttled_ns += 2000000000ull;  /* 2 s held back: 0.1 */
        u.launches += 100;
        u.mem_used = k == 2 ? 300 * MiB : 150 * MiB;
        if (k == 2)
            u.mem_peak = 400 * MiB;
        u.oom_refusals += k == 3;
        assert_int_equal(pool_svc_usage_observe(svc, id, 0, &u), 0);
    }
    assert_int_equal(pool_svc_usage_observe(svc, "alloc-none", 0, &u), -1);
    struct pool_usage_source src = pool_svc_store_source(svc);
    struct pool_usage_sample *s;
    size_t n;
    char err[128];
    assert_int_equal(src.query(src.ctx, "acme/web", 0, clock_now + 1, &s, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].t_ms, clock_now);
    assert_int_equal(s[0].mem_peak, 400 * MiB);
    assert_int_equal(s[0].mem_used, 150 * MiB);
    assert_float_equal(s[0].compute_used, 0.3, 1e-9);
    assert_float_equal(s[0].throttled_frac, 0.1, 1e-9);
    assert_float_equal(s[0].compute_limit, 0.5, 1e-9);
    assert_int_equal(s[0].launches, 300);
    assert_int_equal(s[0].oom_refusals, 1);
    free(s);
    char ids[4][80];   /* a nodeless pool's vGPUs have no ids: none to resolve */
    assert_int_equal(pool_svc_vgpus_of(svc, "acme/web", 0, clock_now + 1, ids, 4), 0);
    pool_svc_close(svc);
}

/* Eight hours of one sample a minute: the raw tier keeps the last six hours; the two hours
 * before become 24 five-minute rows that keep the peak and stand for 5 samples each. */
static void history_down_sampled(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc();
    add_node(svc);
    char id[POOL_UUID_MAX];
    allocate(svc, "acme", "batch", GiB, 50, id);
    clock_now = clock_now / (5 * MIN_MS) * (5 * MIN_MS);   /* buckets line up with the hour */
    history(svc, "acme/batch", 8 * 60, 100 * MiB, 0.2, 0.5, 0);
    struct pool_error e;
    struct pool_usage_sample spike = {.t_ms = clock_now - 7 * HOUR_MS, .mem_peak = 900 * MiB,
                                      .compute_used = 0.2};
    assert_int_equal(pool_svc_usage_record(svc, "acme/batch", &spike, &e), 0);
    json_decref(pool_svc_autoscale(svc));   /* a pass down-samples when due */
    struct pool_usage_source src = pool_svc_store_source(svc);
    struct pool_usage_sample *s;
    size_t n, raw = 0, total = 0;
    uint64_t peak = 0;
    char err[128];
    assert_int_equal(src.query(src.ctx, "acme/batch", 0, clock_now + 1, &s, &n, err,
                               sizeof err), 0);
    for (size_t i = 0; i < n; i++) {
        raw += s[i].count <= 1;
        total += s[i].count ? s[i].count : 1;
        if (s[i].mem_peak > peak)
            peak = s[i].mem_peak;
    }
    free(s);
    assert_int_equal(total, 8 * 60 + 1);   /* every sample still counted */
    assert_true(raw >= 6 * 60 - 1 && raw <= 6 * 60 + 1);
    assert_true(n < raw + 30);
    assert_int_equal(peak, 900 * MiB);     /* the spike survives in its bucket */
    pool_svc_close(svc);
}

/* Off and recommend change nothing; auto shrinks a 4 GiB slice whose peaks are 200 MiB, but
 * only once the memory in use is known and never below it plus headroom; a per-workload
 * maximum bounds what an OOM bump asks and a cut waits the cool-down, across a restart (mode,
 * events and the last change are in the store); a raise waits only the grow cool-down. Every
 * change is an event: who, when, from, to, why. */
static void auto_mode_applies_within_bounds(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc();
    add_node(svc);
    char id[POOL_UUID_MAX];
    allocate(svc, "acme", "api", 4 * GiB, 50, id);
    history(svc, "acme/api", 120, 200 * MiB, 0.4, 0.5, 0);
    assert_int_equal(changes(svc), 0);   /* recommend: the default */
    assert_int_equal(set_mode(svc, "acme/api", NULL, POOL_MODE_OFF, 0, 0), 0);
    assert_int_equal(changes(svc), 0);
    assert_int_equal(set_mode(svc, "acme/api", "acme", POOL_MODE_AUTO, 0, 0), 0);
    assert_int_equal(changes(svc), 0);   /* usage not reported yet: memory not lowered */
    assert_int_equal(vram_limit(svc, id), 4 * GiB);

    struct pool_vgpu_usage u = {.mem_used = 700 * MiB, .mem_peak = 700 * MiB,
                                .mem_limit = 4 * GiB, .compute_limit = 0.5};
    assert_int_equal(pool_svc_usage_observe(svc, id, 0, &u), 0);
    assert_int_equal(changes(svc), 1);
    assert_int_equal(vram_limit(svc, id), 805 * MiB);   /* target 230 MiB; 700 in use +15% */
    json_t *ev = pool_svc_events_json(svc, NULL, "acme/api", 10);
    json_t *e0 = json_array_get(json_object_get(ev, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "action")), "resize");
    assert_string_equal(json_string_value(json_object_get(e0, "who")), "autoscaler");
    assert_true(json_integer_value(json_object_get(json_object_get(e0, "from"), "vram_limit")) ==
                (json_int_t)(4 * GiB));
    assert_true(json_integer_value(json_object_get(json_object_get(e0, "to"), "vram_limit")) ==
                (json_int_t)(805 * MiB));
    assert_non_null(strstr(json_string_value(json_object_get(e0, "why")), "in use"));
    assert_true(json_integer_value(json_object_get(e0, "t_ms")) == clock_now);
    json_decref(ev);

    /* An OOM refusal at the 805 MiB limit asks for 966 MiB, but the workload's maximum is
     * 800 MiB: a cut, which the cool-down (600 s) holds back until it has passed. */
    assert_int_equal(set_mode(svc, "acme/api", NULL, POOL_MODE_AUTO, 0, 800 * MiB), 0);
    clock_now += 60000;
    struct pool_usage_sample oom = {.t_ms = clock_now, .mem_peak = 700 * MiB,
                                    .mem_used = 700 * MiB, .mem_limit = 805 * MiB,
                                    .compute_used = 0.4, .compute_limit = 0.5, .oom_refusals = 1};
    struct pool_error e;
    assert_int_equal(pool_svc_usage_record(svc, "acme/api", &oom, &e), 0);
    assert_int_equal(pool_svc_usage_observe(svc, id, 0, &u), 0);
    assert_int_equal(changes(svc), 0);
    pool_svc_close(svc);

    svc = open_svc();   /* restart: mode, events and the last change are in the store */
    clock_now += 540000;   /* 10 minutes after the change */
    assert_int_equal(pool_svc_usage_observe(svc, id, 0, &u), 0);
    assert_int_equal(changes(svc), 1);
    assert_int_equal(vram_limit(svc, id), 800 * MiB);
    json_t *w = pool_svc_workload_json(svc, "acme/api", "acme");
    assert_string_equal(json_string_value(json_object_get(w, "mode")), "auto");
    json_decref(w);

    /* Without the maximum the bump asks for 966 MiB: a raise, one minute later is enough. */
    assert_int_equal(set_mode(svc, "acme/api", NULL, POOL_MODE_AUTO, 0, 0), 0);
    assert_int_equal(changes(svc), 0);
    clock_now += 60000;
    assert_int_equal(pool_svc_usage_observe(svc, id, 0, &u), 0);
    assert_int_equal(changes(svc), 1);
    assert_int_equal(vram_limit(svc, id), 966 * MiB);
    ev = pool_svc_events_json(svc, "acme", NULL, 100);
    /* newest first: resize, mode, resize, mode (max), resize, mode (auto), mode (off) */
    assert_int_equal(json_array_size(json_object_get(ev, "events")), 7);
    json_decref(ev);
    pool_svc_close(svc);
}

/* A minute later, the node reports `used` (its peak never falls); then a pass: its changes. */
static size_t minute(struct pool_svc *svc, const char *id, struct pool_vgpu_usage *u,
                     uint64_t used)
{
    clock_now += MIN_MS;
    u->mem_used = used;
    u->mem_peak = used > u->mem_peak ? used : u->mem_peak;
    assert_int_equal(pool_svc_usage_observe(svc, id, 0, u), 0);
    return changes(svc);
}

/* Auto mode's working target through the pool: a 4 GiB slice using 300 MiB goes to the last
 * 30 minutes' peak + 15% (345 MiB), grows the minute the use passes 90% of it (to 1.5 x the
 * use: 480 MiB), is cut back after the cool-down (10 min) to the window's peak + 15% (368 MiB)
 * and, once that peak has left the window, to the use + 15% (115 MiB); a refused allocation
 * of 200 MiB (the node's oom_largest) is covered at the next pass: 345 MiB. */
static void auto_mode_follows_the_use(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc();
    add_node(svc);
    char id[POOL_UUID_MAX];
    allocate(svc, "acme", "job", 4 * GiB, 50, id);
    assert_int_equal(set_mode(svc, "acme/job", NULL, POOL_MODE_AUTO, 0, 0), 0);
    struct pool_vgpu_usage u = {.mem_limit = 4 * GiB, .compute_limit = 0.5};
    assert_int_equal(minute(svc, id, &u, 300 * MiB), 0);   /* no sample yet: nothing */
    assert_int_equal(minute(svc, id, &u, 300 * MiB), 1);
    assert_int_equal(vram_limit(svc, id), 345 * MiB);
    assert_int_equal(minute(svc, id, &u, 320 * MiB), 1);   /* 93% of the limit */
    assert_int_equal(vram_limit(svc, id), 480 * MiB);
    int64_t raised = clock_now;
    size_t n = 0;
    while (clock_now - raised < 10 * MIN_MS) {               /* the cut waits 600 s */
        n = minute(svc, id, &u, 100 * MiB);
        if (clock_now - raised < 10 * MIN_MS)
            assert_int_equal(n, 0);
    }
    assert_int_equal(n, 1);
    assert_int_equal(vram_limit(svc, id), 368 * MiB);
    for (int k = 0; k < 30; k++)
        minute(svc, id, &u, 100 * MiB);
    assert_int_equal(vram_limit(svc, id), 115 * MiB);
    u.mem_limit = 115 * MiB;      /* a 200 MiB allocation refused: the next pass covers it */
    u.oom_refusals = 1;
    u.oom_largest = 200 * MiB;
    assert_int_equal(minute(svc, id, &u, 100 * MiB), 1);
    assert_int_equal(vram_limit(svc, id), 345 * MiB);   /* (100 + 200) MiB + 15% */
    json_t *ev = pool_svc_events_json(svc, NULL, "acme/job", 1);
    json_t *e0 = json_array_get(json_object_get(ev, "events"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(e0, "why")), "working target"));
    assert_non_null(strstr(json_string_value(json_object_get(e0, "why")), "refused allocation"));
    json_decref(ev);
    assert_int_equal(minute(svc, id, &u, 100 * MiB), 0);   /* covered once, not again */
    pool_svc_close(svc);
}

/* Held back nearly all the time at a 20% limit: auto raises compute to 30% (the limit by
 * half); memory, inside its bounds, stays. */
static void compute_raised_when_throttled(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc();
    add_node(svc);
    char id[POOL_UUID_MAX];
    allocate(svc, "acme", "train", 300 * MiB, 20, id);
    history(svc, "acme/train", 60, 250 * MiB, 0.2, 0.2, 0.9);
    assert_int_equal(set_mode(svc, "acme/train", NULL, POOL_MODE_AUTO, 0, 0), 0);
    assert_int_equal(changes(svc), 1);
    json_t *d = alloc_dev0(svc, id);
    assert_float_equal(json_number_value(json_object_get(d, "tflops_limit")), 30, 1e-6);
    assert_true(json_integer_value(json_object_get(d, "vram_limit")) == (json_int_t)(300 * MiB));
    json_decref(d);
    pool_svc_close(svc);
}

/* Tenant bob sees none of acme's workloads, events or recommendations and cannot set their
 * mode; the admin sees both. */
static void tenants_see_their_own(void **state)
{
    (void)state;
    struct pool_svc *svc = open_svc();
    add_node(svc);
    char a[POOL_UUID_MAX], b[POOL_UUID_MAX];
    allocate(svc, "acme", "web", GiB, 10, a);
    allocate(svc, "bob", "web", GiB, 10, b);
    history(svc, "acme/web", 10, 100 * MiB, 0.1, 0.1, 0);
    assert_int_equal(set_mode(svc, "acme/web", "acme", POOL_MODE_OFF, 0, 0), 0);
    assert_int_equal(set_mode(svc, "acme/web", "bob", POOL_MODE_AUTO, 0, 0), 404);
    assert_int_equal(set_mode(svc, "no-slash", NULL, POOL_MODE_AUTO, 0, 0), 400);
    assert_null(pool_svc_workload_json(svc, "acme/web", "bob"));
    json_t *r = pool_svc_recommendations_json(svc, "bob");
    json_t *list = json_object_get(r, "recommendations");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "workload")),
                        "bob/web");
    json_decref(r);
    r = pool_svc_recommendations_json(svc, NULL);
    assert_int_equal(json_array_size(json_object_get(r, "recommendations")), 2);
    json_decref(r);
    json_t *ev = pool_svc_events_json(svc, "bob", NULL, 10);
    assert_int_equal(json_array_size(json_object_get(ev, "events")), 0);
    json_decref(ev);
    ev = pool_svc_events_json(svc, "acme", NULL, 10);
    assert_int_equal(json_array_size(json_object_get(ev, "events")), 1);
    json_decref(ev);
    pool_svc_close(svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reports_become_samples, make_db, remove_db),
        cmocka_unit_test_setup_teardown(history_down_sampled, make_db, remove_db),
        cmocka_unit_test_setup_teardown(auto_mode_applies_within_bounds, make_db, remove_db),
        cmocka_unit_test_setup_teardown(auto_mode_follows_the_use, make_db, remove_db),
        cmocka_unit_test_setup_teardown(compute_raised_when_throttled, make_db, remove_db),
        cmocka_unit_test_setup_teardown(tenants_see_their_own, make_db, remove_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
