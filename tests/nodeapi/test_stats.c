/*
 * Unit tests of the session statistics: the worker's writing side (src/worker/stats.c: call
 * classes, latency buckets, counters) and the node's table (src/node/sessions.c: claim, reap,
 * folding an ended session into its vGPU's totals, the sessions' JSON), and the metrics
 * rendering of those totals (src/node/metrics.c) checked with promparse.c.
 *
 * Owns: nothing. May call: cmocka, the node and worker libraries, src/vgpu.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "metrics.h"
#include "promparse.h"
#include "sessions.h"
#include "stats.h"

static void test_classes(void **state)
{
    (void)state;
    assert_int_equal(tfw_call_class(TFP_ID_cuMemcpyHtoD_v2), TFW_CLASS_COPY);
    assert_int_equal(tfw_call_class(TFP_ID_cuLaunchKernel), TFW_CLASS_LAUNCH);
    assert_true(tfw_call_is_launch(TFP_ID_cuLaunchKernel));
    assert_int_equal(tfw_call_class(TFP_ID_cuMemAlloc_v2), TFW_CLASS_MEMORY);
    assert_int_equal(tfw_call_class(TFP_ID_cuCtxSynchronize), TFW_CLASS_SYNC);
    assert_int_equal(tfw_call_class(TFP_ID_cuModuleLoadData), TFW_CLASS_MODULE);
    assert_int_equal(tfw_call_class(TFP_CALL_COUNT + 5), TFW_CLASS_OTHER);
    for (int c = 0; c < TFW_CLASS_COUNT; c++)
        assert_non_null(tfw_call_class_name(c));
    for (int b = 1; b < TFW_STATS_BUCKETS; b++)
        assert_true(tfw_stats_bucket_le[b] > tfw_stats_bucket_le[b - 1]);
}

/* A vGPU region with one vGPU, as the node has. */
static struct vgpu_region *one_vgpu(int *slot)
{
    struct vgpu_device_desc dev = {.index = 0, .uuid = "GPU-test", .memory = 1ull << 30};
    struct vgpu_region *r;
    char err[256];
    assert_int_equal(vgpu_region_create(NULL, &dev, 4, &r, err, sizeof err), 0);
    struct vgpu_spec spec = {.id = "t\"a", .mem_limit = 64 << 20, .qos = VGPU_QOS_HIGH};
    *slot = vgpu_create(r, &spec, err, sizeof err);
    assert_true(*slot >= 0);
    return r;
}

static void test_session_counts_and_fold(void **state)
{
    (void)state;
    struct node_sessions t;
    char err[256];
    assert_int_equal(node_sessions_init(&t, 4, err, sizeof err), 0);
    int slot;
    struct node_vgpus *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->ndev = 1;
    v->regions[0] = one_vgpu(&slot);
    snprintf(v->dev[0].uuid, sizeof v->dev[0].uuid, "GPU-test");
    pthread_mutex_init(&v->lock, NULL);

    /* The node claims an entry; this process plays the worker. */
    struct tfw_stats *e = node_sessions_claim(&t);
    assert_non_null(e);
    node_sessions_forked(&t, e, getpid());
    assert_int_equal(node_sessions_count(&t), 0);   /* not past the handshake yet */
    struct tf_conn_info info = {.is_unix = 1, .peer_pid = 4321};
    tfw_stats_open(e, &info, v->regions[0], slot);
    assert_int_equal(node_sessions_count(&t), 1);
    uint64_t t0 = tfw_stats_now();
    assert_true(t0 > 0);
    tfw_stats_call(TFP_ID_cuLaunchKernel, 0, t0);
    tfw_stats_call(TFP_ID_cuLaunchKernel, 0, t0);
    tfw_stats_call(TFP_ID_cuMemAlloc_v2, 2, t0);      /* an error */
    tfw_stats_call(TFP_ID_cuCtxSynchronize, 0, t0 - 200000000000ull); /* ticks: > 10 s */
    tfw_stats_bytes(100, 7);
    assert_int_equal(e->calls_total, 4);
    assert_int_equal(e->errors_total, 1);
    assert_int_equal(e->launches_total, 2);
    assert_int_equal(e->calls[TFP_ID_cuLaunchKernel], 2);
    assert_int_equal(e->hist[TFW_CLASS_SYNC][TFW_STATS_BUCKETS], 1);
    assert_int_equal(e->bytes_in, 100);
    assert_int_equal(node_sessions_count_vgpu(&t, 0, "t\"a", v->regions[0]->slots[slot].generation),
                     1);

    json_t *j;
    assert_int_equal(node_sessions_list(&t, v, &j), 200);
    json_t *s = json_array_get(json_object_get(j, "sessions"), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "client_pid")), 4321);
    assert_string_equal(json_string_value(json_object_get(s, "vgpu")), "t\"a");
    assert_string_equal(json_string_value(json_object_get(s, "device")), "GPU-test");
    assert_string_equal(json_string_value(json_object_get(s, "transport")), "unix");
    assert_string_equal(json_string_value(json_object_get(s, "state")), "active");
    json_decref(j);
    char id[32];
    snprintf(id, sizeof id, "%d", (int)getpid());
    assert_int_equal(node_sessions_get(&t, v, id, &j), 200);
    json_decref(j);
    assert_int_equal(node_sessions_get(&t, v, "0", &j), 404);
    json_decref(j);

    /* Metrics while the session runs, then after it ended: the vGPU's counters stay. */
    struct node_api api;
    memset(&api, 0, sizeof api);
    api.vgpus = v;
    api.sessions = &t;
    node_api_set_token(&api, NULL);
    char *m1 = node_metrics_render(&api);
    assert_non_null(m1);
    tfw_stats_close();
    assert_string_equal(node_session_state(e, tfw_stats_now()), "closing");
    node_sessions_reap(&t, getpid());
    assert_int_equal(node_sessions_count(&t), 0);
    assert_int_equal(t.ended, 1);
    char *m2 = node_metrics_render(&api);
    assert_non_null(m2);
    struct prom_doc d1, d2;
    char perr[512];
    assert_int_equal(prom_parse(m1, &d1, perr, sizeof perr), 0);
    if (prom_parse(m2, &d2, perr, sizeof perr) != 0)
        fail_msg("%s", perr);
    const char *lab = "vgpu=\"t\\\"a\"";   /* the label value escaped as the format wants */
    assert_true(strstr(m2, lab) != NULL);
    assert_true(prom_sum(&d1, "tfuse_vgpu_calls_total", NULL) == 4);
    assert_true(prom_sum(&d2, "tfuse_vgpu_calls_total", NULL) == 4);
    assert_true(prom_sum(&d2, "tfuse_vgpu_launches_total", NULL) == 2);
    assert_true(prom_sum(&d2, "tfuse_vgpu_errors_total", NULL) == 1);
    assert_true(prom_sum(&d1, "tfuse_session_calls_total", NULL) == 4);
    assert_true(prom_sum(&d2, "tfuse_session_calls_total", NULL) == -1);   /* gone */
    assert_true(prom_sum(&d2, "tfuse_call_duration_seconds_count", NULL) == 4);
    assert_true(prom_sum(&d2, "tfuse_node_sessions_total", NULL) == 1);
    assert_true(prom_sum(&d2, "tfuse_node_sessions_active", NULL) == 0);
    prom_free(&d1);
    prom_free(&d2);
    free(m1);
    free(m2);

    /* A full table: claim says so instead of handing out an entry twice. */
    struct tfw_stats *all[4];
    for (int i = 0; i < 4; i++)
        assert_non_null(all[i] = node_sessions_claim(&t));
    assert_null(node_sessions_claim(&t));
    node_sessions_forked(&t, all[0], -1);   /* a failed fork gives it back */
    assert_non_null(node_sessions_claim(&t));

    vgpu_region_close(v->regions[0]);
    pthread_mutex_destroy(&v->lock);
    free(v);
    node_sessions_destroy(&t);
    node_api_stop(&api);   /* no listener: frees the token strings */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_session_counts_and_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
