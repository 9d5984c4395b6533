/*
 * The recommender (src/pool/pool_reco.c) on synthetic histories whose percentiles are known by
 * construction: the weighted percentile and margins, half-life decay (a sample one half-life
 * old weighs exactly half), the OOM bump and its expiry, compute raised when throttled most of
 * the time, the pool's bounds, samples from the future and bad numbers. The clock is the now_ms
 * the test passes: nothing sleeps. Pure: no store, no HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool_usage.h"

#define MiB (1ull << 20)
#define NOW 1700000000000ll   /* the test's clock, ms */
#define HOUR_MS 3600000ll

static struct pool_reco_params params(void)
{
    struct pool_reco_params p;
    pool_reco_params_default(&p);
    p.mem_min = 1 * MiB;
    return p;
}

static struct pool_usage_sample sample(int64_t t, uint64_t peak, double used)
{
    return (struct pool_usage_sample){.t_ms = t, .mem_used = peak / 2, .mem_peak = peak,
                                      .mem_limit = 4096 * MiB, .compute_used = used,
                                      .compute_limit = 1.0};
}

/* Peaks 1..100 MiB and shares 0.001..0.100, all taken now (equal weights), in shuffled order:
 * p95 is 95 MiB and p90 0.090 exactly, whatever the order. */
static void percentiles_and_margins(void **state)
{
    (void)state;
    struct pool_usage_sample s[100];
    for (int i = 0; i < 100; i++)
        s[i] = sample(NOW - i, (uint64_t)(i + 1) * MiB, (i + 1) / 1000.0);
    srand(7);
    for (int i = 99; i > 0; i--) {
        int j = rand() % (i + 1);
        struct pool_usage_sample t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
    struct pool_reco_params p = params();
    p.half_life_s = 0;   /* no decay: equal weights */
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, 100, NOW, &p, &r), 0);
    assert_int_equal(r.samples, 100);
    assert_int_equal(r.mem_lower, 95 * MiB);
    assert_int_equal(r.mem_target, (uint64_t)ceil(95.0 * MiB * 1.15));
    assert_int_equal(r.mem_upper, (uint64_t)ceil(95.0 * MiB * 1.15 * 1.5));
    assert_float_equal(r.compute_lower, 0.090, 1e-12);
    assert_float_equal(r.compute_target, 0.090 * 1.15, 1e-12);
    assert_float_equal(r.compute_upper, 0.090 * 1.15 * 1.5, 1e-12);
    assert_non_null(strstr(r.why, "p95 peak 95.0 MiB"));

    p.mem_percentile = 0.50;
    assert_int_equal(pool_recommend(s, 100, NOW, &p, &r), 0);
    assert_int_equal(r.mem_lower, 50 * MiB);
}

/* One sample one half-life old (weight 1/2, 800 MiB) and one now (weight 1, 100 MiB): the old
 * holds exactly 1/3 of the weight, so percentiles up to 2/3 pick the new one and above it the
 * old one. Without decay (half_life 0) each holds half. */
static void half_life_decay(void **state)
{
    (void)state;
    struct pool_reco_params p = params();
    p.half_life_s = 6 * 3600.0;
    p.mem_margin = 0;
    struct pool_usage_sample s[2] = {sample(NOW - 6 * HOUR_MS, 800 * MiB, 0.5),
                                     sample(NOW, 100 * MiB, 0.1)};
    struct pool_reco r;
    p.mem_percentile = 0.66;
    assert_int_equal(pool_recommend(s, 2, NOW, &p, &r), 0);
    assert_int_equal(r.mem_target, 100 * MiB);
    p.mem_percentile = 0.67;
    assert_int_equal(pool_recommend(s, 2, NOW, &p, &r), 0);
    assert_int_equal(r.mem_target, 800 * MiB);

    p.half_life_s = 0;
    p.mem_percentile = 0.51;
    assert_int_equal(pool_recommend(s, 2, NOW, &p, &r), 0);
    assert_int_equal(r.mem_target, 800 * MiB);

    /* 50 old peaks of 1000 MiB five half-lives back weigh 50/32 against 50 fresh ones of
     * 100 MiB: 3% of the weight, under p95's 5%, so the old peak no longer sets the target. */
    struct pool_usage_sample h[100];
    for (int i = 0; i < 50; i++) {
        h[i] = sample(NOW - 5 * 6 * HOUR_MS, 1000 * MiB, 0.2);
        h[50 + i] = sample(NOW - i, 100 * MiB, 0.2);
    }
    p = params();
    p.half_life_s = 6 * 3600.0;
    assert_int_equal(pool_recommend(h, 100, NOW, &p, &r), 0);
    assert_int_equal(r.mem_lower, 100 * MiB);
    p.half_life_s = 0;
    assert_int_equal(pool_recommend(h, 100, NOW, &p, &r), 0);
    assert_int_equal(r.mem_lower, 1000 * MiB);
}

/* A refusal at a 256 MiB limit lifts the target to 256 MiB * 1.2 though the peaks were 100;
 * more than two half-lives later it no longer does. */
static void oom_bump(void **state)
{
    (void)state;
    struct pool_reco_params p = params();
    p.half_life_s = 3600.0;
    struct pool_usage_sample s[10];
    for (int i = 0; i < 10; i++) {
        s[i] = sample(NOW - i * 60000, 100 * MiB, 0.2);
        s[i].mem_limit = 256 * MiB;
    }
    s[4].oom_refusals = 3;
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, 10, NOW, &p, &r), 0);
    assert_int_equal(r.mem_target, (uint64_t)ceil(256.0 * MiB * 1.2));
    assert_int_equal(r.mem_lower, r.mem_target);   /* 256 MiB was refused: too small */
    assert_non_null(strstr(r.why, "3 OOM refusal(s) at a 256.0 MiB limit"));

    /* The same history seen three hours later: the refusal is over two half-lives old. */
    assert_int_equal(pool_recommend(s, 10, NOW + 3 * HOUR_MS, &p, &r), 0);
    assert_int_equal(r.mem_target, (uint64_t)ceil(100.0 * MiB * 1.15));
    assert_null(strstr(r.why, "OOM"));
    assert_int_equal(r.mem_lower, 100 * MiB);
}

/* A down-sampled row weighs as the samples it stands for: one row of 100 MiB standing for 9
 * samples against one raw sample of 500 MiB puts 500 MiB above the 90th percentile. */
static void counts_weigh(void **state)
{
    (void)state;
    struct pool_reco_params p = params();
    p.half_life_s = 0;
    p.mem_percentile = 0.9;
    struct pool_usage_sample s[2] = {sample(NOW - 1, 100 * MiB, 0.1), sample(NOW, 500 * MiB, 0.1)};
    s[0].count = 9;
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, 2, NOW, &p, &r), 0);
    assert_int_equal(r.mem_lower, 100 * MiB);
    s[0].count = 0;   /* one sample each: the 90th percentile is the larger */
    assert_int_equal(pool_recommend(s, 2, NOW, &p, &r), 0);
    assert_int_equal(r.mem_lower, 500 * MiB);
}

/* Held back for 90% of most intervals at a 0.30 limit, the measured 0.30 says little about the
 * demand: the target goes to 0.45 (the limit raised by half). Held back in only 3 of 10
 * samples, the percentile and margin decide (0.345). */
static void compute_raised_when_throttled(void **state)
{
    (void)state;
    struct pool_reco_params p = params();
    p.half_life_s = 0;
    struct pool_usage_sample s[10];
    for (int i = 0; i < 10; i++) {
        s[i] = sample(NOW - i * 1000, 100 * MiB, 0.30);
        s[i].compute_limit = 0.30;
        s[i].throttled_frac = i < 8 ? 0.9 : 0.0;
    }
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, 10, NOW, &p, &r), 0);
    assert_float_equal(r.compute_target, 0.45, 1e-12);
    assert_float_equal(r.compute_lower, 0.45, 1e-12);   /* the 0.30 limit is too small */
    assert_non_null(strstr(r.why, "throttled 80% of the time"));

    for (int i = 0; i < 10; i++)
        s[i].throttled_frac = i < 3 ? 0.9 : 0.1;
    assert_int_equal(pool_recommend(s, 10, NOW, &p, &r), 0);
    assert_float_equal(r.compute_target, 0.30 * 1.15, 1e-12);
    assert_null(strstr(r.why, "throttled"));

    /* Raised, but never past the pool's maximum. */
    for (int i = 0; i < 10; i++)
        s[i].throttled_frac = 1.0;
    p.compute_max = 0.40;
    assert_int_equal(pool_recommend(s, 10, NOW, &p, &r), 0);
    assert_float_equal(r.compute_target, 0.40, 1e-12);
    assert_true(r.compute_upper <= 0.40);
}

/* The pool's minimum and maximum bound every number it recommends. */
static void pool_bounds(void **state)
{
    (void)state;
    struct pool_reco_params p = params();
    p.mem_min = 64 * MiB;
    p.compute_min = 0.05;
    struct pool_usage_sample s[3] = {sample(NOW, 2 * MiB, 0.001), sample(NOW - 1, 3 * MiB, 0.002),
                                     sample(NOW - 2, 1 * MiB, 0.0)};
    struct pool_reco r;
    assert_int_equal(pool_recommend(s, 3, NOW, &p, &r), 0);
    assert_int_equal(r.mem_target, 64 * MiB);
    assert_int_equal(r.mem_lower, 64 * MiB);
    assert_float_equal(r.compute_target, 0.05, 1e-12);

    for (int i = 0; i < 3; i++)
        s[i].mem_peak = 10000 * MiB;
    p.mem_max = 2048 * MiB;
    assert_int_equal(pool_recommend(s, 3, NOW, &p, &r), 0);
    assert_int_equal(r.mem_target, 2048 * MiB);
    assert_int_equal(r.mem_upper, 2048 * MiB);
    assert_true(r.mem_lower <= r.mem_target);
}

/* No sample, only samples from after now, or only unusable numbers: -1 and why says so;
 * a NaN among good samples is skipped, not sorted. */
static void nothing_usable(void **state)
{
    (void)state;
    struct pool_reco_params p = params();
    struct pool_reco r;
    assert_int_equal(pool_recommend(NULL, 0, NOW, &p, &r), -1);
    assert_int_equal(r.mem_target, 0);
    assert_non_null(strstr(r.why, "no usage samples"));

    struct pool_usage_sample s[3] = {sample(NOW + 1, 500 * MiB, 0.5),
                                     sample(NOW - 10, 100 * MiB, NAN),
                                     sample(NOW - 20, 100 * MiB, 0.2)};
    assert_int_equal(pool_recommend(s, 1, NOW, &p, &r), -1);
    assert_int_equal(pool_recommend(s, 3, NOW, &p, &r), 0);
    assert_int_equal(r.samples, 1);
    assert_int_equal(r.mem_lower, 100 * MiB);
    assert_float_equal(r.compute_lower, 0.2, 1e-12);
}

/* Auto mode's rules on a recommendation of 230 MiB in [200, 345] MiB and compute 0.46 in
 * [0.40, 0.69], 15% headroom: limits inside change nothing; outside, memory goes to the target
 * but never below the use plus headroom (capped by a maximum, never below the use), and is not
 * lowered while the use is unknown; a limit too tight for the use is raised inside the bounds
 * too; raises wait the grow cool-down, cuts the cool-down. */
static void auto_decisions(void **state)
{
    (void)state;
    struct pool_reco r = {.mem_target = 230 * MiB, .mem_lower = 200 * MiB,
                          .mem_upper = 345 * MiB, .compute_target = 0.46,
                          .compute_lower = 0.40, .compute_upper = 0.69};
    struct pool_auto_policy pol = {.cooldown_ms = 600000, .grow_cooldown_ms = 60000,
                                   .mem_headroom = 0.15};
    struct pool_auto_state st = {.mem_limit = 300 * MiB, .mem_used = 100 * MiB,
                                 .used_known = true, .compute_limit = 0.5,
                                 .last_change_ms = INT64_MIN};
    struct pool_auto_decision d;
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));   /* inside both */
    st.mem_limit = 4096 * MiB;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 230 * MiB);
    assert_true(d.compute_limit < 0);
    st.mem_used = 700 * MiB + 5;   /* more in use than the target: use + 15%, whole MiB */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 806 * MiB);
    assert_non_null(strstr(d.why, "in use"));
    pol.mem_max = 750 * MiB;       /* the headroom stops at the maximum... */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 750 * MiB);
    pol.mem_max = 600 * MiB;       /* ...but the use itself is never cut */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 701 * MiB);
    pol.mem_max = 0;
    st.used_known = false;         /* unknown use: never lowered */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    st.used_known = true;          /* inside the bounds but tight: 290 MiB used of 300 */
    st.mem_limit = 300 * MiB;
    st.mem_used = 290 * MiB;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, (uint64_t)ceil(290 * 1.15) * MiB);
    st.last_change_ms = NOW - 59999;   /* a raise within the grow cool-down */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_true(d.cooling);
    st.last_change_ms = NOW - 60000;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    st.mem_limit = 4096 * MiB;     /* a cut waits the full cool-down */
    st.mem_used = 100 * MiB;
    st.compute_limit = 0.2;        /* while a compute raise goes ahead alone */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_true(d.cooling);
    assert_int_equal(d.mem_limit, 0);
    assert_float_equal(d.compute_limit, 0.46, 1e-12);
    st.last_change_ms = NOW - 600000;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 230 * MiB);
    assert_false(d.cooling);
}

#define DAY_MS (24 * HOUR_MS)

/* pool_auto_history: the highest peak in the last 30 min (a sample just outside does not
 * count), in the coming 15 min of each of the last 7 days (not the minute before that time
 * yesterday, nor 8 days ago), and the limit refused at since the last change only. */
static void auto_history_windows(void **state)
{
    (void)state;
    struct pool_auto_policy pol;
    pool_auto_policy_default(&pol);
    struct pool_usage_sample s[] = {
        sample(NOW - 30 * 60000, 300 * MiB, 0),            /* in the window, at its edge */
        sample(NOW - 30 * 60000 - 1, 900 * MiB, 0),        /* just outside */
        sample(NOW - 60000, 100 * MiB, 0),
        sample(NOW - DAY_MS + 15 * 60000, 700 * MiB, 0),   /* yesterday, 15 min ahead */
        sample(NOW - DAY_MS - 60000, 5000 * MiB, 0),       /* yesterday, a minute before */
        sample(NOW - 3 * DAY_MS + 60000, 800 * MiB, 0),    /* three days ago, ahead */
        sample(NOW - 8 * DAY_MS + 60000, 6000 * MiB, 0),   /* eight days ago */
        sample(NOW - DAY_MS + 16 * 60000, 6000 * MiB, 0),  /* past the look-ahead */
        sample(NOW + 60000, 9000 * MiB, 0),                /* the future */
    };
    size_t n = sizeof s / sizeof s[0];
    struct pool_auto_state st = {.last_change_ms = NOW - 10 * 60000};
    pool_auto_history(s, n, NOW, &pol, &st);
    assert_int_equal(st.recent_peak, 300 * MiB);
    assert_int_equal(st.seasonal_peak, 800 * MiB);
    assert_int_equal(st.refused_limit, 0);
    s[2].oom_refusals = 1;           /* refused a minute ago at 4096 MiB */
    s[0].oom_refusals = 1;           /* and before the last change: no longer counts */
    s[0].mem_limit = 8192 * MiB;
    pool_auto_history(s, n, NOW, &pol, &st);
    assert_int_equal(st.refused_limit, 4096 * MiB);
    pol.lookahead_ms = 0;            /* no daily pattern */
    pool_auto_history(s, n, NOW, &pol, &st);
    assert_int_equal(st.seasonal_peak, 0);
}

/* The working target (the pool's default policy) on a long-horizon recommendation of 2000 MiB
 * with an upper bound of 3000 MiB: the recent peak + 15%, never below the use + 15%, the daily
 * pattern's peak ahead of time, the upper bound capping both but not the use; growth at once
 * (1.5 x the use) when the use passes 90% of the limit or after a refusal; the OOM bump's
 * floor; cuts wait the cool-down, raises the grow cool-down; an unknown use is never cut. */
static void auto_working_target(void **state)
{
    (void)state;
    struct pool_reco r = {.mem_target = 2000 * MiB, .mem_lower = 1700 * MiB,
                          .mem_upper = 3000 * MiB, .compute_target = 0.5,
                          .compute_lower = 0.4, .compute_upper = 0.7};
    struct pool_auto_policy pol;
    pool_auto_policy_default(&pol);
    pol.cooldown_ms = 900000;
    pol.grow_cooldown_ms = 60000;
    pol.mem_min = 64 * MiB;
    struct pool_auto_state st = {.mem_limit = 4096 * MiB, .mem_used = 500 * MiB,
                                 .used_known = true, .compute_limit = 0.5,
                                 .last_change_ms = INT64_MIN, .recent_peak = 1000 * MiB};
    struct pool_auto_decision d;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));   /* short window: a cut */
    assert_int_equal(d.mem_limit, 1150 * MiB);
    assert_non_null(strstr(d.why, "recent peak"));
    st.last_change_ms = NOW - 899999;                        /* the cut waits the cool-down */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_true(d.cooling);
    st.last_change_ms = NOW - 900000;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 1150 * MiB);
    st.mem_limit = 1150 * MiB;                               /* there: nothing to do */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    st.mem_used = 1010 * MiB;   /* never below the use + 15%; 1010 < 90% of 1150: no growth */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, (uint64_t)ceil(1010 * 1.15) * MiB);
    st.mem_used = 1040 * MiB;   /* past 90% of the limit: 1.5 x the use at once */
    st.last_change_ms = NOW - 60000;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 1560 * MiB);
    assert_non_null(strstr(d.why, "near the limit"));
    st.last_change_ms = NOW - 59999;                         /* within the grow cool-down */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    st.last_change_ms = NOW - 60000;
    st.mem_used = 800 * MiB;    /* refused at this limit: grown though the use is at 70% */
    st.refused_limit = 1150 * MiB;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 1200 * MiB);
    assert_non_null(strstr(d.why, "refused"));
    st.refused_bytes = 600 * MiB;    /* the node said how large: (800 + 600) MiB + 15% */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 1610 * MiB);
    assert_non_null(strstr(d.why, "refused allocation covered"));
    st.refused_bytes = 0;
    st.refused_limit = 1000 * MiB;   /* refused at a smaller limit, before a raise: no jump */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    st.refused_limit = 0;
    st.mem_used = 500 * MiB;    /* the daily pattern: 2400 MiB coming, + 15% capped at 3000 */
    st.seasonal_peak = 2400 * MiB;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 2760 * MiB);
    assert_non_null(strstr(d.why, "daily pattern"));
    st.seasonal_peak = 5000 * MiB;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 3000 * MiB);
    assert_non_null(strstr(d.why, "upper bound"));
    st.mem_used = 2900 * MiB;   /* the use is not capped by the upper bound */
    st.mem_limit = 3000 * MiB;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 4350 * MiB);
    pol.mem_max = 3500 * MiB;   /* but by the maximum, never below the use itself */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 3500 * MiB);
    pol.mem_max = 2000 * MiB;        /* a cut: after the cool-down */
    st.last_change_ms = NOW - 900000;
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 2900 * MiB);
    pol.mem_max = 0;
    st = (struct pool_auto_state){.mem_limit = 4096 * MiB, .mem_used = 10 * MiB,
                                  .used_known = true, .compute_limit = 0.5,
                                  .last_change_ms = INT64_MIN, .recent_peak = 20 * MiB};
    r.mem_oom_floor = 600 * MiB;    /* a refusal the recommender remembers */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 600 * MiB);
    r.mem_oom_floor = 0;            /* the minimum */
    assert_true(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_int_equal(d.mem_limit, 64 * MiB);
    st.used_known = false;          /* an unknown use is never cut */
    assert_false(pool_auto_decide(&r, &pol, &st, NOW, &d));
    assert_non_null(strstr(d.why, "usage unknown"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percentiles_and_margins),
        cmocka_unit_test(auto_history_windows),
        cmocka_unit_test(auto_working_target),
        cmocka_unit_test(half_life_decay),
        cmocka_unit_test(oom_bump),
        cmocka_unit_test(compute_raised_when_throttled),
        cmocka_unit_test(pool_bounds),
        cmocka_unit_test(counts_weigh),
        cmocka_unit_test(auto_decisions),
        cmocka_unit_test(nothing_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
