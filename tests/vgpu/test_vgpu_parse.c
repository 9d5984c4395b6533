/*
 * Tests of vGPU quantity parsing (src/vgpu/vgpu_parse.c): sizes, percents, TFLOPs, QoS names,
 * and the clear rejection of everything else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vgpu_parse.h"

static void test_sizes(void **state)
{
    struct { const char *text; uint64_t bytes; } ok[] = {
        {"2GiB", 2ull << 30}, {"512MiB", 512ull << 20}, {"512mib", 512ull << 20},
        {"1.5GiB", 3ull << 29}, {"4096", 4096}, {"17B", 17}, {"1G", 1ull << 30},
        {"100k", 102400}, {"1GB", 1000000000ull}, {"2TiB", 2ull << 40}, {"3KiB", 3072},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        char err[128] = "";
        assert_int_equal(vgpu_parse_size(ok[i].text, &v, err, sizeof err), 0);
        assert_true(v == ok[i].bytes);
    }
}

static void test_bad_sizes(void **state)
{
    const char *bad[] = {"", "GiB", "-1GiB", "2 GiB", "2XB", "0", "0GiB", "1.5B", "1e3",
                         "0x10", "inf", "99999999999999999999TiB", "2GiB ", ".", "1..2M"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        char err[160] = "";
        assert_int_equal(vgpu_parse_size(bad[i], &v, err, sizeof err), -1);
        assert_true(err[0] != 0);
        assert_true(v == 7); /* untouched on error */
    }
    char err[160];
    assert_int_equal(vgpu_parse_size(NULL, NULL, err, sizeof err), -1);
    vgpu_parse_size("2QB", &(uint64_t){0}, err, sizeof err);
    assert_non_null(strstr(err, "unknown unit"));
}

static void test_percents(void **state)
{
    uint32_t bp = 0;
    char err[160];
    assert_int_equal(vgpu_parse_percent("30%", &bp, err, sizeof err), 0);
    assert_int_equal(bp, 3000);
    assert_int_equal(vgpu_parse_percent("30.5%", &bp, err, sizeof err), 0);
    assert_int_equal(bp, 3050);
    assert_int_equal(vgpu_parse_percent("0.3", &bp, err, sizeof err), 0);
    assert_int_equal(bp, 3000);
    assert_int_equal(vgpu_parse_percent("100%", &bp, err, sizeof err), 0);
    assert_int_equal(bp, 10000);
    const char *bad[] = {"", "0%", "101%", "1.5", "30 %", "%", "abc", "-5%", "0.00001%", "30%%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(vgpu_parse_percent(bad[i], &bp, err, sizeof err), -1);
        assert_true(err[0] != 0);
    }
}

static void test_tflops(void **state)
{
    uint32_t bp = 0;
    char err[160];
    assert_int_equal(vgpu_parse_compute("10TFLOPs", 40.0, &bp, err, sizeof err), 0);
    assert_int_equal(bp, 2500);
    assert_int_equal(vgpu_parse_compute("12.5tf", 50.0, &bp, err, sizeof err), 0);
    assert_int_equal(bp, 2500);
    assert_int_equal(vgpu_parse_compute("40%", 0, &bp, err, sizeof err), 0);
    assert_int_equal(bp, 4000);
    assert_int_equal(vgpu_parse_compute("10TFLOPs", 0, &bp, err, sizeof err), -1);
    assert_non_null(strstr(err, "no rating"));
    assert_int_equal(vgpu_parse_compute("80TFLOPs", 40.0, &bp, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than"));
}

static void test_qos_and_format(void **state)
{
    assert_int_equal(vgpu_qos_parse("low"), VGPU_QOS_LOW);
    assert_int_equal(vgpu_qos_parse("Medium"), VGPU_QOS_MEDIUM);
    assert_int_equal(vgpu_qos_parse("HIGH"), VGPU_QOS_HIGH);
    assert_int_equal(vgpu_qos_parse("critical"), VGPU_QOS_CRITICAL);
    assert_int_equal(vgpu_qos_parse("urgent"), -1);
    assert_int_equal(vgpu_qos_parse(NULL), -1);
    assert_string_equal(vgpu_qos_name(VGPU_QOS_HIGH), "high");
    assert_string_equal(vgpu_qos_name(42), "unknown");
    char out[32];
    vgpu_format_size(2ull << 30, out, sizeof out);
    assert_string_equal(out, "2GiB");
    vgpu_format_size(1536ull << 20, out, sizeof out);
    assert_string_equal(out, "1536MiB");
    vgpu_format_size(17, out, sizeof out);
    assert_string_equal(out, "17B");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),    cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_percents), cmocka_unit_test(test_tflops),
        cmocka_unit_test(test_qos_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
