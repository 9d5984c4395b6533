/*
 * Tests of a Slurm step's slice without a cluster (src/slurm/slice.c, slurm_args.c): the GRES
 * texts Slurm writes (allocation detail and per-node request), options sizing the vGPU within
 * the GRES or alone, the division among --tfuse-gpus, and every refusal's message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "owner.h"
#include "slice.h"
#include "slurm_args.h"

static struct slice_gres gres(const char *text)
{
    struct slice_gres g;
    char err[256] = "";
    assert_int_equal(tfsl_gres_parse(text, &g, err, sizeof err), 0);
    return g;
}

static void test_gres_forms(void **state)
{
    struct slice_gres g = gres("tfuse_mem(CNT:256),tfuse_compute(CNT:30)");
    assert_true(g.have_mem && g.have_compute);
    assert_true(g.mem_mib == 256 && g.compute_pct == 30);
    g = gres("gpu:a100:1(IDX:0),tfuse_mem:big(CNT:1024)");
    assert_true(g.have_mem && !g.have_compute && g.mem_mib == 1024);
    g = gres("gres:tfuse_mem:256,gres/tfuse_compute:30,gres:gpu:2");
    assert_true(g.mem_mib == 256 && g.compute_pct == 30);
    g = gres("gres:tfuse_mem:2K");   /* Slurm's multipliers are powers of 1024 */
    assert_true(g.mem_mib == 2048);
    g = gres("");
    assert_false(g.have_mem || g.have_compute);
    g = gres("tfuse_memory:5,xtfuse_mem:7");   /* not ours: names must match whole */
    assert_false(g.have_mem);
    const char *bad[] = {"tfuse_mem:", "tfuse_mem(CNT:x)", "gres:tfuse_mem:12Q",
                         "tfuse_mem:99999999999999999999", "tfuse_compute"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct slice_gres b;
        char err[256] = "";
        assert_int_equal(tfsl_gres_parse(bad[i], &b, err, sizeof err), -1);
        assert_non_null(strstr(err, "cannot read the GRES count"));
    }
}

static struct slice_opts opts(const char *vram, const char *compute, const char *limit,
                              const char *gpus)
{
    struct slice_opts o;
    memset(&o, 0, sizeof o);
    snprintf(o.v[SLICE_VRAM], sizeof o.v[0], "%s", vram ? vram : "");
    snprintf(o.v[SLICE_COMPUTE], sizeof o.v[0], "%s", compute ? compute : "");
    snprintf(o.v[SLICE_LIMIT], sizeof o.v[0], "%s", limit ? limit : "");
    snprintf(o.v[SLICE_GPUS], sizeof o.v[0], "%s", gpus ? gpus : "");
    return o;
}

static void test_options_alone(void **state)
{
    struct slice s;
    struct slice_gres none = {0};
    char err[256] = "";
    struct slice_opts o = opts(NULL, NULL, NULL, NULL);
    assert_int_equal(tfsl_decide(&o, &none, &s, err, sizeof err), 0);
    assert_int_equal(s.wanted, 0);   /* a job that asks nothing of ours is left alone */
    o = opts("256M", "30%", NULL, NULL);
    assert_int_equal(tfsl_decide(&o, &none, &s, err, sizeof err), 0);
    assert_true(s.wanted && s.gpus == 1);
    assert_string_equal(s.vram, "268435456");
    assert_string_equal(s.compute, "30.00%");
    assert_string_equal(s.limit, "");
    o = opts("1G", "20", "40", "2");   /* bare numbers are percents */
    assert_int_equal(tfsl_decide(&o, &none, &s, err, sizeof err), 0);
    assert_true(s.gpus == 2);
    assert_string_equal(s.vram, "1073741824");
    assert_string_equal(s.compute, "20.00%");
    assert_string_equal(s.limit, "40.00%");
}

static void test_gres_sizes(void **state)
{
    struct slice s;
    char err[256] = "";
    struct slice_gres g = gres("tfuse_mem(CNT:512),tfuse_compute(CNT:60)");
    struct slice_opts o = opts(NULL, NULL, NULL, NULL);
    assert_int_equal(tfsl_decide(&o, &g, &s, err, sizeof err), 0);
    assert_true(s.wanted);
    assert_string_equal(s.vram, "536870912");
    assert_string_equal(s.compute, "60.00%");
    o = opts(NULL, NULL, NULL, "2");   /* divided among the GPUs */
    assert_int_equal(tfsl_decide(&o, &g, &s, err, sizeof err), 0);
    assert_string_equal(s.vram, "268435456");
    assert_string_equal(s.compute, "30.00%");
    o = opts("128M", "10", "90", NULL);   /* an option within the GRES wins */
    assert_int_equal(tfsl_decide(&o, &g, &s, err, sizeof err), 0);
    assert_string_equal(s.vram, "134217728");
    assert_string_equal(s.compute, "10.00%");
    assert_string_equal(s.limit, "90.00%");
    g = gres("tfuse_compute(CNT:250)");   /* more than one device's worth, one vGPU: capped */
    o = opts("64M", NULL, NULL, NULL);
    assert_int_equal(tfsl_decide(&o, &g, &s, err, sizeof err), 0);
    assert_string_equal(s.compute, "100.00%");
}

static void expect_refusal(struct slice_opts o, const char *gres_text, const char *words)
{
    struct slice s;
    struct slice_gres g = gres(gres_text);
    char err[256] = "";
    assert_int_equal(tfsl_decide(&o, &g, &s, err, sizeof err), -1);
    if (!strstr(err, words))
        fail_msg("'%s' does not say '%s'", err, words);
}

static void test_refusals(void **state)
{
    expect_refusal(opts("512M", NULL, NULL, NULL), "tfuse_mem(CNT:256)",
                   "--tfuse-vram=512M asks more than the 256 MiB of tfuse_mem");
    expect_refusal(opts("200M", NULL, NULL, "2"), "tfuse_mem(CNT:256)", "per GPU");
    expect_refusal(opts("64M", "50%", NULL, NULL), "tfuse_compute(CNT:30)",
                   "asks more than the 30% of tfuse_compute");
    expect_refusal(opts(NULL, "30%", NULL, NULL), "", "no memory asked");
    expect_refusal(opts("64M", NULL, "50%", NULL), "", "needs --tfuse-compute");
    expect_refusal(opts("64M", "50%", "20%", NULL), "", "below the guaranteed 50.00%");
    expect_refusal(opts("lots", NULL, NULL, NULL), "", "--tfuse-vram=lots");
    expect_refusal(opts("64M", "150%", NULL, NULL), "", "--tfuse-compute");
    expect_refusal(opts("64M", NULL, NULL, "17"), "", "--tfuse-gpus=17");
    expect_refusal(opts(NULL, NULL, NULL, "3"), "tfuse_mem(CNT:0)", "cannot be split among 3");
    expect_refusal(opts("64M", NULL, NULL, NULL), "tfuse_compute(CNT:0)", "cannot be split");
    struct slice_opts q = opts("64M", NULL, NULL, NULL);
    snprintf(q.v[SLICE_QOS], sizeof q.v[0], "urgent");
    expect_refusal(q, "", "--tfuse-qos=urgent");
}

static void test_option_checks(void **state)
{
    char err[256] = "";
    assert_int_equal(tfsl_opt_check(SLICE_VRAM, "2GiB", err, sizeof err), 0);
    assert_int_equal(tfsl_opt_check(SLICE_COMPUTE, "30", err, sizeof err), 0);
    assert_int_equal(tfsl_opt_check(SLICE_QOS, "high", err, sizeof err), 0);
    assert_int_equal(tfsl_opt_check(SLICE_GPUS, "0", err, sizeof err), -1);
    assert_non_null(strstr(err, "--tfuse-gpus=0"));
    assert_int_equal(tfsl_opt_check(SLICE_VRAM, "0", err, sizeof err), -1);
    assert_string_equal(tfsl_opt_env(SLICE_LIMIT), "TFUSE_COMPUTE_LIMIT");
    assert_string_equal(tfsl_opt_name(SLICE_LIMIT), "compute-limit");
}

static void test_plugstack_args(void **state)
{
    struct slurm_args a;
    char err[256] = "", tok[] = "/tmp/slurm-args-XXXXXX";
    int fd = mkstemp(tok);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    char tokarg[64];
    snprintf(tokarg, sizeof tokarg, "token_file=%s", tok);
    char *ok[] = {"api=tcp:10.0.0.5:7070", "stub_dir=/opt/t/lib/tfuse", "lease=12", "gres=off",
                  tokarg};
    assert_int_equal(tfsl_args_parse(&a, 5, ok, err, sizeof err), 0);
    assert_string_equal(a.api, "tcp:10.0.0.5:7070");
    assert_string_equal(a.stub_dir, "/opt/t/lib/tfuse");
    assert_string_equal(a.token, "s3cret");
    assert_true(a.lease == 12 && a.gres_auto == 0);
    unlink(tok);
    assert_int_equal(tfsl_args_parse(&a, 0, NULL, err, sizeof err), 0);
    assert_string_equal(a.api, SLURM_ARGS_API_DEFAULT);
    assert_true(a.lease == 30 && a.gres_auto == 1);
    char *bad[][1] = {{"lease=2"}, {"gres=maybe"}, {"colour=red"}, {"api"}, {"api="},
                      {tokarg}};
    const char *words[] = {"lease=2", "gres=maybe", "unknown argument", "KEY=VALUE", "KEY=VALUE",
                           "No such file"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tfsl_args_parse(&a, 1, bad[i], err, sizeof err), -1);
        if (!strstr(err, words[i]))
            fail_msg("'%s' does not say '%s'", err, words[i]);
    }
}

/* The owner the plugin gives a step's vGPU, as the node reads it back (src/node/owner.h). */
static void test_owner_format(void **state)
{
    char job[80], step[80];
    assert_int_equal(node_owner_slurm("slurm:42.0", job, sizeof job, step, sizeof step), 1);
    assert_string_equal(job, "42");
    assert_string_equal(step, "0");
    assert_int_equal(node_owner_slurm("slurm:7.batch", job, sizeof job, step, sizeof step), 1);
    assert_string_equal(step, "batch");
    const char *not_ours[] = {"pool:default", "", "slurm:", "slurm:42", "slurm:.0", "slurm:4.",
                              "slurm:4\".0", "slurm:4.0\n", "slurm:4 2.0"};
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        assert_int_equal(node_owner_slurm(not_ours[i], job, sizeof job, step, sizeof step), 0);
        assert_string_equal(job, "");   /* nothing half-read reaches a label */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gres_forms),      cmocka_unit_test(test_options_alone),
        cmocka_unit_test(test_gres_sizes),      cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_option_checks),   cmocka_unit_test(test_plugstack_args),
        cmocka_unit_test(test_owner_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
