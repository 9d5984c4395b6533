/*
 * The shared device's scheduler state (issue 12): which process holds the device, who waits,
 * the time slice. Lives inside the per-device shared segment (shm_stats.h) so that every
 * process opening the device sees one scheduler. Owned by devsched.c.
 */
#ifndef SOFTGPU_DEVSCHED_H
#define SOFTGPU_DEVSCHED_H

#include <stdatomic.h>
#include <stdint.h>

struct sg_sched {
    _Atomic uint32_t reserved[16]; /* filled in by devsched.c's author */
};

#endif
