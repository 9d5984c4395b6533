/*
 * Compute enforcement: each vGPU's token bucket (ns of device busy time, in the shared region)
 * and the node's controller that refills the buckets every period.
 *
 * Worker side, around every kernel launch:
 *     rc = vgpu_compute_acquire(slot, est_ns, deadline_ns);   // may sleep (futex), never spins
 *     ... launch, and measure the kernel's device time with events ...
 *     vgpu_compute_charge(slot, measured_ns, est_ns);
 * acquire takes est_ns out of the bucket up front (so that several processes of one vGPU cannot
 * all launch on the same positive balance); charge settles the difference with what the kernel
 * really used. est_ns may be 0: the launch then proceeds whenever the bucket is positive and the
 * whole cost is charged afterwards. An unlimited vGPU returns from both after one plain read of
 * a flag (charge adds the time to a usage counter, after the kernel, off the launch path).
 *
 * Node side: vgpu_controller_tick every period (10 ms) from one thread.
 *
 * Owns: the bucket protocol, the controller loop state, the emulated device lock.
 * May call: vgpu_region, vgpu_ctrl, futex.
 */
#ifndef TFUSE_VGPU_COMPUTE_H
#define TFUSE_VGPU_COMPUTE_H

#include <stdint.h>

#include "vgpu_ctrl.h"
#include "vgpu_region.h"

#define VGPU_DEFAULT_PERIOD_NS 10000000ull     /* 10 ms */
#define VGPU_MAX_GRANT_PERIOD_NS 100000000ull  /* a tick never grants more than 100 ms of tokens */

/* Waits until the bucket is positive, then takes est_ns. deadline_ns: CLOCK_MONOTONIC time (as
 * vgpu_now_ns) after which to give up, 0 for none. Returns 0, -ETIMEDOUT, -ENODEV (the vGPU was
 * deleted) or -EINTR (a signal interrupted the sleep; the caller may retry). */
int vgpu_compute_acquire(struct vgpu_slot *s, uint64_t est_ns, uint64_t deadline_ns);
/* The same, admitting the launch while the bucket is above -ahead_ns (ahead of its grant by
 * at most ahead_ns; 0 is vgpu_compute_acquire). *left: the balance once est_ns is taken, below
 * 0 for a launch admitted ahead (the caller runs it only where it takes no one's share). */
int vgpu_compute_acquire_ahead(struct vgpu_slot *s, uint64_t est_ns, uint64_t ahead_ns,
                               uint64_t deadline_ns, int64_t *left);

/* Charges a finished kernel's measured device time; est_ns is what acquire took. */
void vgpu_compute_charge(struct vgpu_slot *s, uint64_t measured_ns, uint64_t est_ns);

/* Adds grant_ns to the bucket without letting it pass cap_ns (a bucket already above the cap
 * keeps its balance), and wakes sleepers. The controller's write; also used by tests. */
void vgpu_compute_refill(struct vgpu_slot *s, int64_t grant_ns, int64_t cap_ns);

/* CLOCK_MONOTONIC in ns: the clock of acquire deadlines and controller ticks. */
uint64_t vgpu_clock_ns(void);

/* The node's controller: one per region, driven by one thread. */
struct vgpu_controller {
    struct vgpu_region *region;
    struct vgpu_ctrl_params params;
    uint64_t last_tick_ns;
    struct vgpu_controller_slot {
        uint64_t generation; /* the slot's generation this state belongs to */
        uint64_t last_busy_ns;
        struct vgpu_ctrl_tenant tenant;
    } slots[VGPU_MAX_SLOTS];
};

/* params may be NULL for the defaults. */
void vgpu_controller_init(struct vgpu_controller *c, struct vgpu_region *r,
                          const struct vgpu_ctrl_params *params, uint64_t now_ns);
/* One period: measures each vGPU's use since the last tick, runs vgpu_ctrl_step, refills the
 * buckets and wakes sleepers. Returns the number of vGPUs controlled. */
int vgpu_controller_tick(struct vgpu_controller *c, uint64_t now_ns);

/* The emulated device of bench/isolation and the tests: a FIFO lock in the region header that
 * stands for a device running one kernel at a time. Sleeps on a futex, never spins. */
void vgpu_emu_device_lock(struct vgpu_region *r);
void vgpu_emu_device_unlock(struct vgpu_region *r);

#endif
