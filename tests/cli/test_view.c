/*
 * Unit tests of what `tfuse ps` and `tfuse top` draw (src/cli/view.c): sizes, bars, durations,
 * aligned tables, compute shares derived between snapshots, and whole frames of snapshots with
 * every optional field missing (a node older than them) or out of range.
 * Owns: nothing. May call: src/cli/view.c, jansson, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "view.h"

static void test_size(void **state)
{
    (void)state;
    char s[32];
    view_size(0, s, sizeof s);
    assert_string_equal(s, "0 B");
    view_size(1023, s, sizeof s);
    assert_string_equal(s, "1023 B");
    view_size(512ull << 20, s, sizeof s);
    assert_string_equal(s, "512 MiB");
    view_size(1536ull << 20, s, sizeof s);
    assert_string_equal(s, "1.50 GiB");
    view_size(33554560, s, sizeof s); /* 32 MiB + 128 B */
    assert_string_equal(s, "32.0 MiB");
    view_size(80ull << 30, s, sizeof s);
    assert_string_equal(s, "80 GiB");
    view_size(UINT64_MAX, s, sizeof s);
    assert_string_equal(s, "16384 PiB");
}

static void test_bar(void **state)
{
    (void)state;
    char b[64];
    view_bar(0, 100, 10, b, sizeof b);
    assert_string_equal(b, "[..........]");
    view_bar(50, 100, 10, b, sizeof b);
    assert_string_equal(b, "[#####.....]");
    view_bar(100, 100, 10, b, sizeof b);
    assert_string_equal(b, "[##########]");
    view_bar(0.1, 100, 10, b, sizeof b); /* anything at all shows */
    assert_string_equal(b, "[#.........]");
    view_bar(150, 100, 10, b, sizeof b); /* over the limit */
    assert_string_equal(b, "[#########!]");
    view_bar(101, 100, 10, b, sizeof b); /* a measured share a hair over: noise, no mark */
    assert_string_equal(b, "[##########]");
    view_bar(-1, 100, 10, b, sizeof b); /* unknown: as wide, no fill */
    assert_string_equal(b, "     -      ");
    view_bar(5, 0, 4, b, sizeof b);
    assert_string_equal(b, "  -   ");
    view_bar(5, 10, 4, b, 5); /* too small a buffer: empty, never overrun */
    assert_string_equal(b, "");
}

static void test_duration(void **state)
{
    (void)state;
    char d[16];
    view_duration(45.9, d, sizeof d);
    assert_string_equal(d, "45s");
    view_duration(184, d, sizeof d);
    assert_string_equal(d, "3m04s");
    view_duration(7500, d, sizeof d);
    assert_string_equal(d, "2h05m");
    view_duration(273600, d, sizeof d);
    assert_string_equal(d, "3d04h");
    view_duration(-1, d, sizeof d);
    assert_string_equal(d, "-");
}

static void test_table(void **state)
{
    (void)state;
    static const char *const cols[] = {"ID", ">CALLS", "STATE"};
    struct view_table t;
    struct view_buf b = {0};
    view_table_init(&t, 3, cols);
    const char *r1[] = {"a", "7", "live"}, *r2[] = {"longer-id", "12345", NULL};
    assert_int_equal(view_table_row(&t, r1), 0);
    assert_int_equal(view_table_row(&t, r2), 0);
    view_table_render(&t, &b);
    assert_string_equal(b.data, "ID         CALLS  STATE\n"
                                "a              7  live\n"
                                "longer-id  12345  -\n");
    view_buf_free(&b);
    t.hidden = 1u << 2; /* the last column hidden: no trailing separator */
    view_table_render(&t, &b);
    assert_string_equal(b.data, "ID         CALLS\n"
                                "a              7\n"
                                "longer-id  12345\n");
    view_table_free(&t);
    view_buf_free(&b);
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

/* A node with only the fields the first API had: everything else renders as "-". */
static void test_render_sparse(void **state)
{
    (void)state;
    json_t *snap = load("{\"node\":\"unix:/x\",\"time_unix\":1000,\"version\":null,"
                        "\"devices\":[{\"index\":0,\"uuid\":\"GPU-1\"}],"
                        "\"vgpus\":[{\"id\":\"v1\",\"vram_bytes\":1073741824,\"used_bytes\":"
                        "536870912,\"compute_limit_pct\":null}],\"sessions\":null}");
    struct view_buf b = {0};
    view_render(snap, 200, &b);
    assert_non_null(strstr(b.data, "node unix:/x  version -  devices 1  vgpus 1  sessions -"));
    assert_non_null(strstr(b.data, "[##########..........] 512 MiB / 1 GiB"));
    assert_non_null(strstr(b.data, "- / none")); /* unlimited, nothing measured */
    assert_non_null(strstr(b.data, "(this node does not report sessions)"));
    view_buf_free(&b);
    json_decref(snap);

    /* Wrong types and an empty snapshot: still a frame, never a crash. */
    snap = load("{\"devices\":{},\"vgpus\":[1,\"x\",{\"id\":7,\"used_bytes\":\"big\"}],"
                "\"sessions\":[{}]}");
    view_render(snap, 80, &b);
    assert_non_null(strstr(b.data, "SESSIONS"));
    view_buf_free(&b);
    json_decref(snap);
}

static void test_render_full_and_narrow(void **state)
{
    (void)state;
    json_t *snap = load(
        "{\"node\":\"tcp:h:1\",\"time_unix\":1000,\"version\":{\"version\":\"0.9\"},"
        "\"devices\":[{\"index\":0,\"uuid\":\"GPU-0123456789abcdef-0123\",\"model\":\"H100\","
        "\"memory_bytes\":85899345920,\"tflops_fp16\":989.5,\"memory_limit_sum\":1073741824}],"
        "\"vgpus\":[{\"id\":\"a\",\"device_index\":0,\"vram_bytes\":1073741824,\"used_bytes\":"
        "2147483648,\"peak_bytes\":2147483648,\"qos\":\"high\",\"state\":\"live\","
        "\"compute_used_pct\":19.4,\"compute_request_pct\":10,\"compute_limit_pct\":20,"
        "\"throttled_seconds\":1.25,\"processes\":2,\"launches\":42}],"
        "\"sessions\":[{\"worker_pid\":11,\"client_pid\":10,\"host\":\"local\",\"transport\":"
        "\"unix\",\"vgpu\":\"a\",\"memory_bytes\":1048576,\"calls_total\":5,\"errors_total\":0,"
        "\"launches_total\":3,\"started_unix\":900,\"last_call_unix\":998,\"state\":\"active\"}]}");
    struct view_buf wide = {0}, narrow = {0};
    view_render(snap, 400, &wide);
    assert_non_null(strstr(wide.data, "GPU-0123456789abcdef-0123"));
    assert_non_null(strstr(wide.data, "[###################!] 2 GiB / 1 GiB")); /* over */
    assert_non_null(strstr(wide.data, "19% / 20%"));
    assert_non_null(strstr(wide.data, "1.2s"));  /* throttled */
    assert_non_null(strstr(wide.data, "1m40s")); /* session age */
    assert_non_null(strstr(wide.data, "active"));
    assert_non_null(strstr(wide.data, "version 0.9"));
    view_render(snap, 100, &narrow);
    assert_null(strstr(narrow.data, "GPU-0123456789abcdef-0123")); /* uuid shortened */
    assert_non_null(strstr(narrow.data, "GPU-01234567 "));
    assert_true(narrow.len < wide.len);
    struct view_buf tiny = {0};
    view_render(snap, 80, &tiny); /* compact: secondary columns go, the bars stay */
    assert_null(strstr(tiny.data, "THROTTLED"));
    assert_null(strstr(tiny.data, "H100"));
    assert_non_null(strstr(tiny.data, "19% / 20%"));
    assert_non_null(strstr(tiny.data, "!]"));
    view_buf_free(&tiny);
    view_buf_free(&wide);
    view_buf_free(&narrow);
    json_decref(snap);
}

/* A Slurm step's vGPU shows its JOB.STEP; the column is hidden on a node without any. */
static void test_render_slurm(void **state)
{
    (void)state;
    json_t *snap = load("{\"devices\":[],\"vgpus\":[{\"id\":\"s\",\"slurm_job\":"
                        "\"42\",\"slurm_step\":\"0\"},{\"id\":\"mine\"}],\"sessions\":[]}");
    struct view_buf b = {0};
    view_render(snap, 300, &b);
    assert_non_null(strstr(b.data, "SLURM"));
    assert_non_null(strstr(b.data, "42.0"));
    view_buf_free(&b);
    json_decref(snap);
    snap = load("{\"devices\":[],\"vgpus\":[{\"id\":\"mine\"}],\"sessions\":[]}");
    view_render(snap, 300, &b);
    assert_null(strstr(b.data, "SLURM"));
    view_buf_free(&b);
    json_decref(snap);
}

static void test_derive_compute(void **state)
{
    (void)state;
    json_t *prev = load("{\"time_unix\":100.0,\"vgpus\":[{\"id\":\"a\",\"busy_ns\":1000000000},"
                        "{\"id\":\"b\",\"busy_ns\":0}]}");
    json_t *cur = load("{\"time_unix\":102.0,\"vgpus\":[{\"id\":\"a\",\"busy_ns\":1500000000},"
                       "{\"id\":\"b\",\"busy_ns\":9000000000},{\"id\":\"new\",\"busy_ns\":5},"
                       "{\"id\":\"m\",\"busy_ns\":1,\"compute_used_pct\":33.0}]}");
    view_derive_compute(cur, prev);
    json_t *v = json_object_get(cur, "vgpus");
    assert_float_equal(json_number_value(json_object_get(json_array_get(v, 0),
                                                         "compute_used_pct")), 25.0, 1e-9);
    assert_float_equal(json_number_value(json_object_get(json_array_get(v, 1),
                                                         "compute_used_pct")), 100.0, 1e-9);
    assert_null(json_object_get(json_array_get(v, 2), "compute_used_pct")); /* no history */
    assert_float_equal(json_number_value(json_object_get(json_array_get(v, 3),
                                                         "compute_used_pct")), 33.0, 1e-9);
    view_derive_compute(cur, NULL); /* first refresh: nothing to compare */
    json_decref(prev);
    json_decref(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_bar),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_render_sparse),
        cmocka_unit_test(test_render_full_and_narrow),
        cmocka_unit_test(test_render_slurm),
        cmocka_unit_test(test_derive_compute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
