/*
 * The compute controller's math, as a pure function so that it can be tested on a simulated
 * device: given each controlled vGPU's request, limit, QoS class, measured share of the last
 * period and whether it was held back by an empty bucket, it decides each vGPU's entitled share
 * (target) and the tokens to grant for the next period.
 *
 *   1. Demand: a vGPU held back ("hungry") wants its limit; one that was not wants a little more
 *      than it used (so it can grow), never more than its limit.
 *   2. Guarantees: classes are served from critical down to low; within a class each vGPU gets
 *      min(request, demand), scaled down by request when the class does not fit in what is left.
 *   3. Burst: capacity still idle is water-filled over vGPUs whose demand is not met, weighted by
 *      QoS weight x request, each up to its demand (hence never above its limit).
 *   4. Feedback: a PI controller on the measured share corrects the grant (share = target +
 *      kp*e + ki*sum(e), e = target - used) so that what a vGPU actually gets converges on its
 *      target despite kernel granularity and scheduling losses; anti-windup clamps the integral
 *      and only integrates while the bucket is binding (or the vGPU is over its target), and not
 *      while the bucket is deep in debt (debt_periods at its limit): a kernel far longer than
 *      the period overdraws it, and the wait that follows is the vGPU's own, not a short grant.
 *
 * Owns: nothing but this arithmetic. May call: libc math.
 */
#ifndef TFUSE_VGPU_CTRL_H
#define TFUSE_VGPU_CTRL_H

#include <stddef.h>
#include <stdint.h>

struct vgpu_ctrl_params {
    double capacity;     /* share of the device handed out to controlled vGPUs (1.0) */
    double kp, ki;       /* PI gains on the share error */
    double integral_max; /* anti-windup bound on the integral (in share x periods) */
    double headroom;     /* a non-hungry vGPU's demand: used * (1 + headroom) + min_step */
    double min_step;
    double bucket_periods; /* bucket ceiling, in periods of grant */
    double debt_periods;   /* anti-windup: no integration while the bucket owes more than this
                            * many periods at the vGPU's limit */
};

struct vgpu_ctrl_tenant {
    /* Inputs, every period. Shares are fractions of the device (0..1). */
    double request, limit;
    int qos;           /* enum vgpu_qos */
    int unlimited;     /* outside the controller; its use only shrinks the burst capacity */
    double used;       /* measured share of the last period */
    int hungry;        /* wanted to launch and found the bucket empty in the last period */
    double balance;    /* its bucket before the refill, in periods of the whole device
                        * (tokens / period): below 0, its own kernels overran what it had */
    /* State carried between periods by the caller; zero it when a vGPU is (re)created. */
    double integral;
    /* Outputs. */
    double demand;     /* what the vGPU is taken to want */
    double target;     /* share it is entitled to */
    double command;    /* share granted after feedback */
    int64_t grant_ns;  /* tokens to add to its bucket */
    int64_t cap_ns;    /* bucket ceiling after the refill */
};

void vgpu_ctrl_default_params(struct vgpu_ctrl_params *p);

/* One controller period over n vGPUs (period_ns of wall time). Fills the outputs. */
void vgpu_ctrl_step(struct vgpu_ctrl_tenant *t, size_t n, int64_t period_ns,
                    const struct vgpu_ctrl_params *p);

/* Steps 1-3 only (no feedback): fills demand and target. Exposed for tests. */
void vgpu_ctrl_allocate(struct vgpu_ctrl_tenant *t, size_t n, double capacity,
                        const struct vgpu_ctrl_params *p);

#endif
