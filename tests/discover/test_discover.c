/*
 * Tests of device discovery (src/node/discover.c) and the TFLOPs table (src/node/tflops.c).
 * softgpu's NVML (build/lib/libtfuse-softgpu-nvml.so, found next to this executable's
 * folder) stands in for a machine's GPUs; NVIDIA's library is pointed at a path that does
 * not exist so that results do not depend on the machine that runs the tests.
 * With --refuse-own, runs only the test that needs build/lib/softgpu on LD_LIBRARY_PATH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discover.h"

#define MISSING_LIB "/nonexistent/tfuse-test/libnvidia-ml.so.1"

static int reset_env(void **state)
{
    (void)state;
    setenv("TFUSE_NVIDIA_NVML_LIB", MISSING_LIB, 1);
    unsetenv("TFUSE_SOFTGPU_NVML_LIB");
    setenv("SOFTGPU_DEVICES", "2", 1);
    unsetenv("SOFTGPU_SMS");
    unsetenv("SOFTGPU_MEMORY");
    return 0;
}

static void test_parse_mode(void **state)
{
    (void)state;
    enum tfd_mode m;
    char err[128];
    assert_int_equal(tfd_parse_mode("auto", &m, err, sizeof err), 0);
    assert_int_equal(m, TFD_MODE_AUTO);
    assert_int_equal(tfd_parse_mode("nvidia", &m, err, sizeof err), 0);
    assert_int_equal(m, TFD_MODE_NVIDIA);
    assert_int_equal(tfd_parse_mode("soft", &m, err, sizeof err), 0);
    assert_int_equal(m, TFD_MODE_SOFT);
    assert_int_equal(tfd_parse_mode("softgpu", &m, err, sizeof err), 0);
    assert_int_equal(m, TFD_MODE_SOFT);
    assert_int_equal(tfd_parse_mode("cuda", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "'cuda'"));
    assert_int_equal(tfd_parse_mode(NULL, &m, err, sizeof err), -1);
    assert_int_equal(tfd_parse_mode("", &m, err, sizeof err), -1);
    assert_string_equal(tfd_mode_name(TFD_MODE_SOFT), "soft");
}

/* Names exactly as nvmlDeviceGetName / nvidia-smi print them, with datasheet dense FP16. */
static void test_tflops_exact_nvml_names(void **state)
{
    (void)state;
    static const struct { const char *name; double tflops; } cases[] = {
        {"NVIDIA A100-SXM4-80GB", 312.0},  {"NVIDIA A100-SXM4-40GB", 312.0},
        {"NVIDIA A100-PCIE-40GB", 312.0},  {"NVIDIA A100 80GB PCIe", 312.0},
        {"NVIDIA H100 80GB HBM3", 989.5},  {"NVIDIA H100 PCIe", 756.5},
        {"NVIDIA H100 NVL", 835.5},        {"NVIDIA H200", 989.5},
        {"NVIDIA B200", 2250.0},           {"NVIDIA L40S", 362.05},
        {"NVIDIA L40", 181.05},            {"NVIDIA L4", 121.0},
        {"NVIDIA A10", 125.0},             {"NVIDIA A30", 165.0},
        {"Tesla T4", 65.0},                {"Tesla V100-SXM2-32GB", 125.0},
        {"Tesla V100-PCIE-16GB", 112.0},   {"NVIDIA GeForce RTX 4090", 165.2},
        {"NVIDIA GeForce RTX 3090", 71.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = tfd_tflops_lookup(cases[i].name);
        if (got != cases[i].tflops)
            fail_msg("%s: got %.2f, want %.2f", cases[i].name, got, cases[i].tflops);
    }
}

static void test_tflops_loose_and_unknown(void **state)
{
    (void)state;
    /* Without the brand prefix or in another case, as other tools print them. */
    assert_true(tfd_tflops_lookup("A100-SXM4-80GB") == 312.0);
    assert_true(tfd_tflops_lookup("nvidia l4") == 121.0);
    assert_true(tfd_tflops_lookup("RTX 4090") == 165.2);
    assert_true(tfd_tflops_lookup("T4") == 65.0);
    /* Prefixes of other models must not match: L4 is not L40 nor L40S. */
    assert_true(tfd_tflops_lookup("NVIDIA L4") != tfd_tflops_lookup("NVIDIA L40"));
    assert_true(tfd_tflops_lookup("NVIDIA L40") != tfd_tflops_lookup("NVIDIA L40S"));
    assert_true(tfd_tflops_lookup("NVIDIA A10") != tfd_tflops_lookup("NVIDIA A100-SXM4-80GB"));
    /* Unknown, empty and missing names rate 0 rather than a guess. */
    assert_true(tfd_tflops_lookup("NVIDIA Z9000") == 0.0);
    assert_true(tfd_tflops_lookup("NVIDIA A100") == 0.0);
    assert_true(tfd_tflops_lookup("") == 0.0);
    assert_true(tfd_tflops_lookup(NULL) == 0.0);
    assert_true(tfd_tflops_lookup(TFD_SOFTGPU_NAME) == 0.0);
}

/* Every row finds itself, names are unique, ratings are plausible. */
static void test_tflops_table_consistent(void **state)
{
    (void)state;
    size_t rows = 0;
    double t;
    for (const char *name; (name = tfd_tflops_row(rows, &t)) != NULL; rows++) {
        assert_true(t > 10.0 && t < 10000.0);
        assert_true(tfd_tflops_lookup(name) == t);
        for (size_t j = 0; j < rows; j++)
            assert_string_not_equal(tfd_tflops_row(j, NULL), name);
    }
    assert_true(rows >= 20);
    assert_null(tfd_tflops_row(rows, &t));
}

static void test_softgpu_rating(void **state)
{
    (void)state;
    assert_true(tfd_softgpu_tflops(108) == 312.0);
    assert_true(tfd_softgpu_tflops(54) == 156.0);
    assert_true(tfd_softgpu_tflops(0) == 0.0);
    assert_true(tfd_softgpu_tflops(-3) == 0.0);
}

static void check_softgpu_device(const struct tfd_device *d, unsigned index, uint64_t mem)
{
    assert_int_equal(d->index, index);
    assert_string_equal(d->name, TFD_SOFTGPU_NAME);
    assert_int_equal(strncmp(d->uuid, "GPU-", 4), 0);
    assert_int_equal(strlen(d->uuid), 40);
    char bus[TFD_PCI_LEN];
    snprintf(bus, sizeof bus, "00000000:%02x:00.0", 0x41 + index);
    assert_string_equal(d->pci_bus_id, bus);
    assert_true(d->memory_total == mem);
    assert_int_equal(d->rating, TFD_RATING_SOFTGPU);
}

/* No NVIDIA library: auto falls back to softgpu and finds its two devices. */
static void test_auto_finds_softgpu_devices(void **state)
{
    (void)state;
    setenv("SOFTGPU_MEMORY", "1GiB", 1);
    setenv("SOFTGPU_SMS", "54", 1);
    struct tfd_device devs[TFD_MAX_DEVICES];
    size_t n = 99;
    enum tfd_mode used = TFD_MODE_AUTO;
    char err[512] = "";
    int rc = tfd_discover(TFD_MODE_AUTO, devs, TFD_MAX_DEVICES, &n, &used, err, sizeof err);
    if (rc != 0)
        fail_msg("tfd_discover: %s", err);
    assert_int_equal(used, TFD_MODE_SOFT);
    assert_int_equal(n, 2);
    struct tfd_nvml *nv = tfd_open(TFD_MODE_AUTO, err, sizeof err);
    assert_non_null(nv);
    assert_non_null(strstr(tfd_nvidia_skipped(nv), MISSING_LIB));
    tfd_close(nv);
    for (unsigned i = 0; i < 2; i++) {
        check_softgpu_device(&devs[i], i, 1ull << 30);
        assert_true(devs[i].fp16_tflops == 156.0);
    }
    assert_string_not_equal(devs[0].uuid, devs[1].uuid);
}

static void test_soft_mode_open_and_usage(void **state)
{
    (void)state;
    char err[512] = "";
    struct tfd_nvml *nv = tfd_open(TFD_MODE_SOFT, err, sizeof err);
    if (!nv)
        fail_msg("tfd_open: %s", err);
    assert_int_equal(tfd_backend(nv), TFD_MODE_SOFT);
    assert_non_null(strstr(tfd_library_path(nv), "libtfuse-softgpu-nvml.so"));
    assert_int_equal(tfd_count(nv), 2);
    assert_string_equal(tfd_nvidia_skipped(nv), "");
    struct tfd_device d;
    assert_int_equal(tfd_device_at(nv, 1, &d, err, sizeof err), 0);
    check_softgpu_device(&d, 1, 4ull << 30);  /* softgpu's default memory */
    assert_true(d.fp16_tflops == tfd_softgpu_tflops(8));
    struct tfd_usage u;
    assert_int_equal(tfd_usage(nv, 0, &u, err, sizeof err), 0);
    assert_true(u.memory_total == 4ull << 30);
    assert_true(u.memory_used <= u.memory_total);
    assert_true(u.gpu_percent <= 100 && u.memory_percent <= 100);
    /* Out of range indices are errors, not reads past the table. */
    assert_int_equal(tfd_device_at(nv, 2, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(tfd_usage(nv, 7, &u, err, sizeof err), -1);
    tfd_close(nv);
    tfd_close(NULL);
}

/* More devices than room: an error, and nothing half-reported. */
static void test_discover_capacity(void **state)
{
    (void)state;
    struct tfd_device devs[1];
    size_t n = 99;
    char err[256] = "";
    assert_int_equal(tfd_discover(TFD_MODE_SOFT, devs, 1, &n, NULL, err, sizeof err), -1);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "room for only 1"));
    assert_int_equal(tfd_discover(TFD_MODE_SOFT, NULL, 0, NULL, NULL, err, sizeof err), -1);
}

static void test_missing_libraries_are_clean_errors(void **state)
{
    (void)state;
    char err[512] = "";
    assert_null(tfd_open(TFD_MODE_NVIDIA, err, sizeof err));
    assert_non_null(strstr(err, MISSING_LIB));
    setenv("TFUSE_SOFTGPU_NVML_LIB", "/nonexistent/tfuse-test/libtfuse-softgpu-nvml.so", 1);
    assert_null(tfd_open(TFD_MODE_SOFT, err, sizeof err));
    assert_non_null(strstr(err, "libtfuse-softgpu-nvml.so"));
    assert_null(tfd_open(TFD_MODE_AUTO, err, sizeof err));
    assert_non_null(strstr(err, "no NVML found"));
    assert_non_null(strstr(err, "softgpu"));
    /* A library that is not NVML at all (libc has none of its symbols). */
    setenv("TFUSE_SOFTGPU_NVML_LIB", "libc.so.6", 1);
    assert_null(tfd_open(TFD_MODE_SOFT, err, sizeof err));
    assert_non_null(strstr(err, "missing NVML symbol nvmlInit_v2"));
    assert_null(tfd_open((enum tfd_mode)42, err, sizeof err));
}

/* The softgpu library's path as the discovery code computes it for this executable. */
static void softgpu_path(char *out, size_t len)
{
    char err[256];
    unsetenv("TFUSE_SOFTGPU_NVML_LIB");
    struct tfd_nvml *nv = tfd_open(TFD_MODE_SOFT, err, sizeof err);
    if (!nv)
        fail_msg("tfd_open: %s", err);
    snprintf(out, len, "%s", tfd_library_path(nv));
    tfd_close(nv);
}

/* An NVIDIA-mode library chosen explicitly is used as is; a model it names that the table
 * does not know rates 0 with TFD_RATING_UNKNOWN (only softgpu's backend derives a rating). */
static void test_nvidia_mode_explicit_library(void **state)
{
    (void)state;
    char path[4096];
    softgpu_path(path, sizeof path);
    setenv("TFUSE_NVIDIA_NVML_LIB", path, 1);
    struct tfd_device devs[4];
    size_t n = 0;
    enum tfd_mode used = TFD_MODE_AUTO;
    char err[512] = "";
    if (tfd_discover(TFD_MODE_NVIDIA, devs, 4, &n, &used, err, sizeof err) != 0)
        fail_msg("tfd_discover: %s", err);
    assert_int_equal(used, TFD_MODE_NVIDIA);
    assert_int_equal(n, 2);
    assert_int_equal(devs[0].rating, TFD_RATING_UNKNOWN);
    assert_true(devs[0].fp16_tflops == 0.0);
}

/* A driver library that loads but reports no GPUs: auto moves on to softgpu. */
static void test_auto_skips_driver_without_devices(void **state)
{
    (void)state;
    char path[4096];
    softgpu_path(path, sizeof path);
    setenv("TFUSE_NVIDIA_NVML_LIB", path, 1);
    setenv("SOFTGPU_DEVICES", "0", 1);
    struct tfd_device devs[4];
    size_t n = 99;
    enum tfd_mode used = TFD_MODE_AUTO;
    char err[512] = "";
    if (tfd_discover(TFD_MODE_AUTO, devs, 4, &n, &used, err, sizeof err) != 0)
        fail_msg("tfd_discover: %s", err);
    assert_int_equal(used, TFD_MODE_SOFT);
    assert_int_equal(n, 0);
    struct tfd_nvml *nv = tfd_open(TFD_MODE_AUTO, err, sizeof err);
    assert_non_null(nv);
    assert_string_equal(tfd_nvidia_skipped(nv), "NVIDIA NVML reports no devices");
    tfd_close(nv);
}

/* Run with build/lib/softgpu on LD_LIBRARY_PATH: "libnvidia-ml.so.1" resolves to softgpu's. */
static void test_refuses_own_nvml(void **state)
{
    (void)state;
    unsetenv("TFUSE_NVIDIA_NVML_LIB");
    char err[512] = "";
    struct tfd_nvml *nv = tfd_open(TFD_MODE_NVIDIA, err, sizeof err);
    if (nv) {
        tfd_close(nv);
        fail_msg("nvidia mode accepted a TensorFuse libnvidia-ml.so.1");
    }
    if (!strstr(err, "TensorFuse library"))
        fail_msg("unexpected error (is build/lib/softgpu on LD_LIBRARY_PATH?): %s", err);
    /* auto still works: it falls back to softgpu by its own path. */
    struct tfd_device devs[4];
    size_t n = 0;
    enum tfd_mode used = TFD_MODE_NVIDIA;
    if (tfd_discover(TFD_MODE_AUTO, devs, 4, &n, &used, err, sizeof err) != 0)
        fail_msg("tfd_discover: %s", err);
    assert_int_equal(used, TFD_MODE_SOFT);
    assert_int_equal(n, 2);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--refuse-own") == 0) {
        const struct CMUnitTest guard[] = {
            cmocka_unit_test_setup(test_refuses_own_nvml, reset_env),
        };
        return cmocka_run_group_tests_name("discover_refuses_own_nvml", guard, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_parse_mode, reset_env),
        cmocka_unit_test_setup(test_tflops_exact_nvml_names, reset_env),
        cmocka_unit_test_setup(test_tflops_loose_and_unknown, reset_env),
        cmocka_unit_test_setup(test_tflops_table_consistent, reset_env),
        cmocka_unit_test_setup(test_softgpu_rating, reset_env),
        cmocka_unit_test_setup(test_auto_finds_softgpu_devices, reset_env),
        cmocka_unit_test_setup(test_soft_mode_open_and_usage, reset_env),
        cmocka_unit_test_setup(test_discover_capacity, reset_env),
        cmocka_unit_test_setup(test_missing_libraries_are_clean_errors, reset_env),
        cmocka_unit_test_setup(test_nvidia_mode_explicit_library, reset_env),
        cmocka_unit_test_setup(test_auto_skips_driver_without_devices, reset_env),
    };
    return cmocka_run_group_tests_name("discover", tests, NULL, NULL);
}
