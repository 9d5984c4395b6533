/*
 * Tests of the compute controller's math (src/vgpu/vgpu_ctrl.c) on a simulated device: a device
 * that runs one kernel at a time, tenants that launch kernels of fixed length back to back
 * whenever their bucket is positive (round robin among those that may), charges at kernel
 * completion, and the controller every 10 ms, exactly as the worker and node drive the real
 * thing. Shares are measured per simulated second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vgpu_ctrl.h"
#include "vgpu_parse.h"

#define PERIOD_NS 10000000ll
#define SEC_NS 1000000000ll
#define MAX_T 8
#define MAX_SECONDS 40 /* per-second accounting slots */
#define REPAY_NS 20000000ll /* the worker's DEBT_SLEEP_NS */

struct sim_tenant {
    double request, limit;
    int qos;
    int64_t kernel_ns;
    double active_from, active_to; /* seconds; active_to 0: until the end */
    int progress; /* charge a running kernel at every tick, as the worker's progress thread
                   * does for long kernels (else all of it when it ends) */
    int repay;    /* sleep a debt deeper than REPAY_NS off without waiting in the bucket (not
                   * hungry meanwhile), as the worker does */
    /* state */
    int64_t tokens, cap;
    int hungry;
    int64_t busy_period;
    int64_t busy_second[MAX_SECONDS];
    struct vgpu_ctrl_tenant ctl;
};

static int active(const struct sim_tenant *t, int64_t now)
{
    double s = (double)now / SEC_NS;
    return s >= t->active_from && (t->active_to == 0 || s < t->active_to);
}

static void controller(struct sim_tenant *t, int n, const struct vgpu_ctrl_params *p)
{
    struct vgpu_ctrl_tenant ct[MAX_T];
    for (int i = 0; i < n; i++) {
        t[i].ctl.request = t[i].request;
        t[i].ctl.limit = t[i].limit;
        t[i].ctl.qos = t[i].qos;
        t[i].ctl.used = (double)t[i].busy_period / PERIOD_NS;
        t[i].ctl.hungry = t[i].hungry;
        t[i].ctl.balance = (double)t[i].tokens / PERIOD_NS;
        ct[i] = t[i].ctl;
        t[i].busy_period = 0;
        t[i].hungry = 0;
    }
    vgpu_ctrl_step(ct, (size_t)n, PERIOD_NS, p);
    for (int i = 0; i < n; i++) {
        t[i].ctl = ct[i];
        int64_t next = t[i].tokens + ct[i].grant_ns;
        t[i].tokens = next > ct[i].cap_ns ? (t[i].tokens > ct[i].cap_ns ? t[i].tokens : ct[i].cap_ns) : next;
    }
}

/* Picks the next tenant to run, round robin after `last`; marks those held back as hungry. */
static int pick(struct sim_tenant *t, int n, int last, int64_t now)
{
    int chosen = -1;
    for (int k = 1; k <= n; k++) {
        int i = (last + k) % n;
        if (!active(&t[i], now))
            continue;
        if (t[i].tokens <= 0)
            t[i].hungry = !(t[i].repay && t[i].tokens < -REPAY_NS);
        else if (chosen < 0)
            chosen = i;
    }
    return chosen;
}

/* Charges the running kernel's time from `from` to `to` (its progress, or its end). */
static void charge_run(struct sim_tenant *r, int64_t from, int64_t to)
{
    r->tokens -= to - from;
    r->busy_period += to - from;
    r->busy_second[(to - 1) / SEC_NS] += to - from;
}

static void simulate(struct sim_tenant *t, int n, int seconds)
{
    struct vgpu_ctrl_params p;
    vgpu_ctrl_default_params(&p);
    int64_t end = (int64_t)seconds * SEC_NS, now = 0, next_tick = PERIOD_NS, kernel_end = 0;
    int64_t charged_to = 0; /* the running kernel is charged up to here */
    int running = -1, last = n - 1;
    while (now < end) {
        if (running >= 0 && now >= kernel_end) {
            charge_run(&t[running], charged_to, kernel_end);
            last = running;
            running = -1;
        }
        if (now >= next_tick) {
            if (running >= 0 && t[running].progress) {
                charge_run(&t[running], charged_to, now);
                charged_to = now;
            }
            controller(t, n, &p);
            next_tick += PERIOD_NS;
        }
        if (running < 0) {
            running = pick(t, n, last, now);
            if (running >= 0) {
                kernel_end = now + t[running].kernel_ns;
                charged_to = now;
            }
        }
        now = running >= 0 && kernel_end < next_tick ? kernel_end : next_tick;
    }
}

/* Mean absolute error, in percentage points, of per-second shares against expected shares,
 * over seconds [from, to). */
static double mae(const struct sim_tenant *t, int n, const double *expect, int from, int to)
{
    double sum = 0;
    int count = 0;
    for (int i = 0; i < n; i++)
        for (int s = from; s < to; s++) {
            sum += fabs(100.0 * (double)t[i].busy_second[s] / SEC_NS - 100.0 * expect[i]);
            count++;
        }
    return sum / count;
}

static double share(const struct sim_tenant *t, int from, int to)
{
    int64_t busy = 0;
    for (int s = from; s < to; s++)
        busy += t->busy_second[s];
    return 100.0 * (double)busy / ((double)(to - from) * SEC_NS);
}

static void test_converges_20_30_50(void **state)
{
    struct sim_tenant t[3] = {
        {.request = 0.2, .limit = 0.2, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 1000000},
        {.request = 0.3, .limit = 0.3, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 700000},
        {.request = 0.5, .limit = 0.5, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 1300000},
    };
    simulate(t, 3, 20);
    double expect[3] = {0.2, 0.3, 0.5};
    double e = mae(t, 3, expect, 1, 20);
    print_message("20/30/50: %.2f %.2f %.2f, per-second MAE %.3f points\n", share(&t[0], 1, 20),
                  share(&t[1], 1, 20), share(&t[2], 1, 20), e);
    assert_true(e < 2.0);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(share(&t[i], 1, 20) - 100 * expect[i]) < 1.0);
}

static void test_converges_10_90(void **state)
{
    struct sim_tenant t[2] = {
        {.request = 0.1, .limit = 0.1, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 500000},
        {.request = 0.9, .limit = 0.9, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 2000000},
    };
    simulate(t, 2, 20);
    double expect[2] = {0.1, 0.9};
    double e = mae(t, 2, expect, 1, 20);
    print_message("10/90: %.2f %.2f, per-second MAE %.3f points\n", share(&t[0], 1, 20),
                  share(&t[1], 1, 20), e);
    assert_true(e < 2.0);
}

static void test_limits_below_capacity_hold(void **state)
{
    /* Two tenants that want everything but are limited to 15% and 25%: the device idles. */
    struct sim_tenant t[2] = {
        {.request = 0.15, .limit = 0.15, .qos = VGPU_QOS_LOW, .kernel_ns = 300000},
        {.request = 0.25, .limit = 0.25, .qos = VGPU_QOS_HIGH, .kernel_ns = 3000000},
    };
    simulate(t, 2, 10);
    double expect[2] = {0.15, 0.25};
    double e = mae(t, 2, expect, 1, 10);
    print_message("15/25 limits: %.2f %.2f, MAE %.3f\n", share(&t[0], 1, 10), share(&t[1], 1, 10), e);
    assert_true(e < 2.0);
}

static void test_bursts_when_alone(void **state)
{
    /* Request 20%, limit 60%: alone on the device it gets its limit, not more. Then a second
     * tenant arrives (request 70%, limit 70%): the first falls back to the 30% left, which is
     * above its request; when the second leaves, the first bursts to its limit again. */
    struct sim_tenant t[2] = {
        {.request = 0.2, .limit = 0.6, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 1000000},
        {.request = 0.7, .limit = 0.7, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 1000000,
         .active_from = 8, .active_to = 16},
    };
    simulate(t, 2, 24);
    double alone = share(&t[0], 1, 8);
    double shared0 = share(&t[0], 9, 16), shared1 = share(&t[1], 9, 16);
    double again = share(&t[0], 17, 24);
    print_message("burst alone %.2f; shared %.2f + %.2f; alone again %.2f\n", alone, shared0, shared1, again);
    assert_true(fabs(alone - 60.0) < 2.0);
    assert_true(fabs(shared1 - 70.0) < 2.0); /* the newcomer gets its full request */
    assert_true(fabs(shared0 - 30.0) < 2.0); /* the first keeps the idle rest */
    assert_true(fabs(again - 60.0) < 2.0);
}

static void test_request_guaranteed_under_contention(void **state)
{
    /* Limits oversubscribe the device (80 + 80 + 70): each still gets at least its request. */
    struct sim_tenant t[3] = {
        {.request = 0.3, .limit = 0.8, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 1000000},
        {.request = 0.5, .limit = 0.8, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 400000},
        {.request = 0.1, .limit = 0.7, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 2500000},
    };
    simulate(t, 3, 20);
    double s0 = share(&t[0], 2, 20), s1 = share(&t[1], 2, 20), s2 = share(&t[2], 2, 20);
    print_message("contention: %.2f (req 30) %.2f (req 50) %.2f (req 10)\n", s0, s1, s2);
    assert_true(s0 >= 30.0 - 1.5 && s1 >= 50.0 - 1.5 && s2 >= 10.0 - 1.5);
    assert_true(s0 + s1 + s2 > 97.0); /* the device is not left idle */
}

static void test_critical_before_low(void **state)
{
    /* Requests oversubscribe the device (60 + 60): the critical tenant's request is met first. */
    struct sim_tenant t[2] = {
        {.request = 0.6, .limit = 0.9, .qos = VGPU_QOS_LOW, .kernel_ns = 1000000},
        {.request = 0.6, .limit = 0.9, .qos = VGPU_QOS_CRITICAL, .kernel_ns = 1000000},
    };
    simulate(t, 2, 10);
    double low = share(&t[0], 1, 10), crit = share(&t[1], 1, 10);
    print_message("low %.2f, critical %.2f\n", low, crit);
    assert_true(crit >= 58.0);
    assert_true(low <= 42.0 && low >= 35.0);
}

/* Kernels far longer than the period (250 ms against 10 ms): the bucket goes deep into debt by
 * the tenant's own kernel, and it then waits, hungry, while it reads 0 usage. The controller
 * must not take that for a grant that is too small (integral windup): the tenant is held to
 * its limit, with its usage charged as the kernel runs (the worker's progress thread) or all
 * at its end. Beside it, a tenant of short kernels wants everything up to its 60%. */
static void long_kernels(int progress, int repay, double *got, double *other)
{
    struct sim_tenant t[2] = {
        {.request = 0.2, .limit = 0.2, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 250000000,
         .progress = progress, .repay = repay},
        {.request = 0.6, .limit = 0.6, .qos = VGPU_QOS_MEDIUM, .kernel_ns = 1000000},
    };
    simulate(t, 2, 30);
    *got = share(&t[0], 2, 30);
    *other = share(&t[1], 2, 30);
}

static void test_long_kernels_no_windup(void **state)
{
    double ended, ended_other, progress, progress_other, repay, repay_other;
    long_kernels(0, 0, &ended, &ended_other);
    long_kernels(1, 0, &progress, &progress_other);
    long_kernels(1, 1, &repay, &repay_other);
    print_message("250 ms kernels at 20%%: %.2f (charged at their end), %.2f (charged as they "
                  "run), %.2f (and debts slept off); the 60%% tenant beside them %.2f, %.2f, "
                  "%.2f\n", ended, progress, repay, ended_other, progress_other, repay_other);
    assert_true(fabs(progress - 20.0) < 2.0 && fabs(repay - 20.0) < 2.0);
    /* The other never passes its limit; it cannot reach it either, because this device runs a
     * 250 ms kernel to its end (softgpu's shared device switches within a few ms). */
    assert_true(ended_other < 61.0 && progress_other < 61.0 && repay_other < 61.0);
}

static void test_allocate_directly(void **state)
{
    struct vgpu_ctrl_params p;
    vgpu_ctrl_default_params(&p);
    struct vgpu_ctrl_tenant t[4] = {
        {.request = 0.5, .limit = 0.5, .qos = VGPU_QOS_LOW, .hungry = 1},
        {.request = 0.4, .limit = 0.4, .qos = VGPU_QOS_HIGH, .hungry = 1},
        {.request = 0.3, .limit = 0.3, .qos = VGPU_QOS_HIGH, .hungry = 1},
        {.request = 0.2, .limit = 0.9, .qos = VGPU_QOS_MEDIUM, .used = 0, .hungry = 0}, /* idle */
    };
    vgpu_ctrl_allocate(t, 4, 1.0, &p);
    /* High class fits whole (0.7); low gets what is left (0.3); the idle one wants nothing. */
    assert_true(fabs(t[1].target - 0.4) < 1e-9 && fabs(t[2].target - 0.3) < 1e-9);
    assert_true(fabs(t[0].target - 0.3) < 1e-9);
    assert_true(t[3].target == 0);
    /* Within a class that does not fit, shares follow requests. */
    struct vgpu_ctrl_tenant u[2] = {
        {.request = 0.9, .limit = 0.9, .qos = VGPU_QOS_CRITICAL, .hungry = 1},
        {.request = 0.3, .limit = 0.3, .qos = VGPU_QOS_CRITICAL, .hungry = 1},
    };
    vgpu_ctrl_allocate(u, 2, 1.0, &p);
    assert_true(fabs(u[0].target - 0.75) < 1e-9 && fabs(u[1].target - 0.25) < 1e-9);
    /* The idle vGPU still gets its request in the bucket, ready for when it starts. */
    vgpu_ctrl_step(t, 4, PERIOD_NS, &p);
    assert_true(t[3].grant_ns >= (int64_t)(0.2 * PERIOD_NS) - 1);
    for (int i = 0; i < 4; i++)
        assert_true(t[i].cap_ns >= t[i].grant_ns && t[i].grant_ns >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocate_directly),
        cmocka_unit_test(test_converges_20_30_50),
        cmocka_unit_test(test_converges_10_90),
        cmocka_unit_test(test_limits_below_capacity_hold),
        cmocka_unit_test(test_bursts_when_alone),
        cmocka_unit_test(test_request_guaranteed_under_contention),
        cmocka_unit_test(test_critical_before_low),
        cmocka_unit_test(test_long_kernels_no_windup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
