/*
 * The per-device usage file that softgpu processes publish and the NVML library reads:
 * /dev/shm/softgpu-<uid>-dev<N>, a fixed array of slots, one per process using the device,
 * each holding its pid, bytes of device memory and a one-second busy window. Writers own
 * their slot (claimed with a compare-and-swap on pid); readers skip slots of dead pids.
 * Lock-free: every field is a naturally aligned atomic.
 */
#ifndef SOFTGPU_SHM_STATS_H
#define SOFTGPU_SHM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "devsched.h"

#define SG_SHM_MAGIC 0x53475055u /* "SGPU" */
#define SG_SHM_VERSION 1u
#define SG_SHM_SLOTS 128
#define SG_SHM_WINDOW_NS 1000000000ull

struct sg_shm_slot {
    _Atomic int32_t pid;           /* 0: free */
    uint32_t reserved;
    _Atomic uint64_t bytes;        /* device memory held by the process */
    _Atomic uint64_t win_start_ns; /* CLOCK_MONOTONIC start of the current window */
    _Atomic uint64_t win_busy_ns;  /* kernel time inside the current window */
    _Atomic uint64_t prev_util;    /* percent busy in the previous full window */
    _Atomic uint64_t win_copy_ns;  /* copy time inside the current window */
    _Atomic uint64_t prev_copy_util;
};

struct sg_shm_file {
    uint32_t magic, version;
    uint64_t reserved;
    struct sg_sched sched; /* devsched.h */
    struct sg_shm_slot slots[SG_SHM_SLOTS];
};

/* Maps the file of device `dev` (creating it when create is set); NULL on failure. */
struct sg_shm_file *sg_shm_map(int dev, int create);
/* Percent busy of one slot at time now (kernel or copy time), decaying to 0 when idle. */
unsigned sg_shm_slot_util(const struct sg_shm_slot *s, uint64_t now_ns, int copies);
int sg_shm_pid_alive(int32_t pid);

#endif
