/*
 * The compute controller's math (see vgpu_ctrl.h for the algorithm).
 *
 * Owns: share allocation and the PI feedback. May call: libc math.
 */
#include "vgpu_ctrl.h"
#include "vgpu_parse.h"

#include <math.h>

/* Burst weights per QoS class: a critical vGPU takes idle capacity 8x as fast as a low one. */
static const double qos_weight[VGPU_QOS_COUNT] = {1.0, 2.0, 4.0, 8.0};

void vgpu_ctrl_default_params(struct vgpu_ctrl_params *p)
{
    p->capacity = 1.0;
    p->kp = 0.25;
    p->ki = 0.08;
    p->integral_max = 1.5;
    p->headroom = 0.25;
    p->min_step = 0.02;
    p->bucket_periods = 1.5;
    p->debt_periods = 5;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int qos_of(const struct vgpu_ctrl_tenant *t)
{
    return t->qos >= 0 && t->qos < VGPU_QOS_COUNT ? t->qos : VGPU_QOS_LOW;
}

/* Deep in debt: its own kernels overran what it had by more than debt_periods at its limit. */
static int in_debt(const struct vgpu_ctrl_tenant *t, const struct vgpu_ctrl_params *p)
{
    return t->balance < -p->debt_periods * t->limit;
}

/* The bucket binds: the vGPU waited for tokens in the period, or owes tokens now (its next
 * launch will wait). Counting only periods that saw a waiter integrated a busy vGPU's every
 * surplus but only some of its shortfalls: charges land in lumps (a kernel settled at the next
 * launch reads as 1.4-2.2 of a 10 ms period), and a 75% vGPU that owed tokens between its
 * batches, not waiting at the tick, was commanded 0.71-0.73 on average and held 69-71% of the
 * device (bench_isolation, docs/vgpu.md). */
static int binding(const struct vgpu_ctrl_tenant *t)
{
    return t->hungry || t->balance < 0;
}

static void compute_demand(struct vgpu_ctrl_tenant *t, const struct vgpu_ctrl_params *p)
{
    /* A vGPU in debt wants its limit whether or not it waits in the bucket (a worker sleeps a
     * deep debt off outside it): the debt is repaid from its grants, which must not stop. */
    if (binding(t) || in_debt(t, p))
        t->demand = t->limit;
    else
        t->demand = fmin(t->limit, t->used * (1.0 + p->headroom) + (t->used > 0 ? p->min_step : 0));
}

/* Step 2: guarantees, class by class from critical down; returns the capacity left. */
static double grant_requests(struct vgpu_ctrl_tenant *t, size_t n, double left)
{
    for (int q = VGPU_QOS_CRITICAL; q >= VGPU_QOS_LOW; q--) {
        double want = 0;
        for (size_t i = 0; i < n; i++)
            if (!t[i].unlimited && qos_of(&t[i]) == q)
                want += fmin(t[i].request, t[i].demand);
        if (want <= 0)
            continue;
        double scale = want <= left ? 1.0 : left / want;
        for (size_t i = 0; i < n; i++)
            if (!t[i].unlimited && qos_of(&t[i]) == q)
                t[i].target = fmin(t[i].request, t[i].demand) * scale;
        left -= want * scale;
    }
    return left > 0 ? left : 0;
}

/* Step 3: water-fill the idle capacity over unmet demand, by QoS weight x request. */
static void share_idle(struct vgpu_ctrl_tenant *t, size_t n, double left)
{
    for (size_t round = 0; round <= n && left > 1e-9; round++) {
        double weights = 0;
        for (size_t i = 0; i < n; i++)
            if (!t[i].unlimited && t[i].demand - t[i].target > 1e-9)
                weights += qos_weight[qos_of(&t[i])] * fmax(t[i].request, 1e-4);
        if (weights <= 0)
            return;
        double given = 0;
        for (size_t i = 0; i < n; i++) {
            double gap = t[i].demand - t[i].target;
            if (t[i].unlimited || gap <= 1e-9)
                continue;
            double share = left * qos_weight[qos_of(&t[i])] * fmax(t[i].request, 1e-4) / weights;
            double add = fmin(share, gap);
            t[i].target += add;
            given += add;
        }
        left -= given;
    }
}

void vgpu_ctrl_allocate(struct vgpu_ctrl_tenant *t, size_t n, double capacity,
                        const struct vgpu_ctrl_params *p)
{
    double unlimited_use = 0;
    for (size_t i = 0; i < n; i++) {
        t[i].target = 0;
        if (t[i].unlimited) {
            t[i].demand = t[i].used;
            t[i].target = t[i].used;
            unlimited_use += t[i].used;
        } else {
            compute_demand(&t[i], p);
        }
    }
    double left = grant_requests(t, n, capacity);
    share_idle(t, n, fmax(0, left - unlimited_use));
}

/* Step 4: the PI correction for one controlled vGPU; returns the commanded share. */
static double feedback(struct vgpu_ctrl_tenant *t, const struct vgpu_ctrl_params *p)
{
    double e = t->target - t->used;
    if (in_debt(t, p)) {
        /* Anti-windup: deep in debt (debt_periods at its limit), the vGPU waits on its own
         * kernels' overrun (a kernel far longer than the period), not on a grant too small. Its
         * usage reads 0 while it repays, then shows the whole kernel at once: neither is an
         * error the integral should hold. Full grants repay the debt at exactly its target. */
        t->integral *= 0.5;
        return clamp(t->target + p->ki * t->integral, 0, fmin(1.0, 2 * t->limit));
    }
    /* While the bucket binds the error counts both ways (see binding()). */
    if (binding(t) || e < 0) {
        t->integral = clamp(t->integral + e, -p->integral_max, p->integral_max);
        return clamp(t->target + p->kp * e + p->ki * t->integral, 0, fmin(1.0, 2 * t->limit));
    }
    /* Not held back and not over target: the bucket is not what limits it, so there is no
     * error to integrate. Let the integral fade, and keep at least its request in the bucket
     * so that it can start at once when it becomes busy again. */
    t->integral *= 0.5;
    return fmax(t->target + p->ki * t->integral, fmin(t->request, t->limit));
}

void vgpu_ctrl_step(struct vgpu_ctrl_tenant *t, size_t n, int64_t period_ns,
                    const struct vgpu_ctrl_params *p)
{
    vgpu_ctrl_allocate(t, n, p->capacity, p);
    for (size_t i = 0; i < n; i++) {
        if (t[i].unlimited) {
            t[i].command = 1.0;
            t[i].grant_ns = t[i].cap_ns = 0;
            continue;
        }
        t[i].command = feedback(&t[i], p);
        t[i].grant_ns = (int64_t)llround(t[i].command * (double)period_ns);
        t[i].cap_ns = (int64_t)llround(t[i].command * (double)period_ns * p->bucket_periods);
    }
}
