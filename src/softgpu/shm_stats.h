/*
 * The shared softgpu device (issue 12, docs/softgpu.md "The shared device"): one segment per
 * user, namespace and device index, /dev/shm/softgpu-<uid>[-<ns>]-dev<N>, mapped by every
 * process that opens the device (the driver library and the NVML library). It holds the
 * device's memory capacity and the one counter every allocation of every process reserves
 * against, the scheduler (devsched.h), and a slot per process: its identity (pid and start
 * time, so that a reused pid is not taken for a dead one), its memory and its busy windows.
 *
 * Memory is counted in 4 KiB units by a lock-free protocol (shm_charge.c): the device word packs
 * the units used, the slot of the last operation and a sequence number; an operation first
 * completes the one the word names ("helping"), writes its amount into its slot, then CASes the
 * word. A slot's units therefore always match what the device word holds for it, whenever its
 * process dies, and a reaper gives a dead process's units back exactly. Attaching holds a shared
 * flock on the segment; the last process to detach (an exclusive flock) unlinks it
 * (shm_map.c).
 */
#ifndef SOFTGPU_SHM_STATS_H
#define SOFTGPU_SHM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "devsched.h"

#define SG_SHM_MAGIC 0x53475055u /* "SGPU" */
#define SG_SHM_VERSION 4u /* 3: the scheduler's weighted queue; 4: deferred turns (devsched.h) */
#define SG_SHM_SLOTS 128
#define SG_SHM_WINDOW_NS 1000000000ull
#define SG_SHM_UNIT_SHIFT 12 /* memory is counted in 4 KiB units */

/* The device word: units used << 36 | (writer slot + 1) << 28 | sequence. */
#define SG_SHM_SEQ_BITS 28
#define SG_SHM_SEQ_MASK ((1ull << SG_SHM_SEQ_BITS) - 1)
#define SG_SHM_USED_SHIFT 36
/* An owner word: pid | start time (low 32 bits of /proc/<pid>/stat's starttime) << 32; the
 * flag marks a slot being reaped by the pid it names. */
#define SG_SHM_REAPING 0x80000000ull

struct sg_shm_slot {
    _Atomic uint64_t owner;        /* 0: free */
    _Atomic uint64_t charge;       /* units held << SG_SHM_SEQ_BITS | sequence of the last op */
    _Atomic int64_t pending;       /* units of the slot's operation in flight (signed) */
    _Atomic uint64_t win_start_ns; /* CLOCK_MONOTONIC start of the current window */
    _Atomic uint64_t win_busy_ns;  /* kernel time inside the current window */
    _Atomic uint64_t prev_util;    /* percent busy in the previous full window */
    _Atomic uint64_t win_copy_ns;  /* copy time inside the current window */
    _Atomic uint64_t prev_copy_util;
};

struct sg_shm_file {
    uint32_t magic, version;
    uint32_t size;         /* sizeof(struct sg_shm_file) of the creator */
    uint32_t reserved0;
    uint64_t capacity;     /* bytes: the creator's SOFTGPU_MEMORY; every process uses it */
    _Atomic uint64_t used; /* the device word (above) */
    uint64_t reserved[5];
    struct sg_sched sched; /* devsched.h */
    struct sg_shm_slot slots[SG_SHM_SLOTS];
};

/* One process's attachment: the mapping and the descriptor that holds the shared flock. */
struct sg_shm_att {
    struct sg_shm_file *f;
    int fd;
};

/* The driver's mapping of device dev's segment (shm_stats.c, attached at cuInit); NULL before
 * cuInit, after exit began, or when the device is private to the process. */
struct sg_shm_file *sg_shm_map(int dev, int create);

/* ---- shm_map.c: naming, attaching, identities ---------------------------------------------- */

void sg_shm_path(char *out, size_t n, const char *ns, int dev);
/* Maps the segment of (ns, dev), creating it with `capacity` bytes when create is set.
 * 0: attached (msg may hold a note, e.g. a stale segment replaced); -1: absent (create unset);
 * -2: msg says why (unreadable, or another version still in use). */
int sg_shm_attach(struct sg_shm_att *a, const char *ns, int dev, uint64_t capacity, int create,
                  char *msg, size_t n);
/* Drops the flock; unlinks the segment when no other process holds it. The mapping stays. */
void sg_shm_detach(struct sg_shm_att *a, const char *ns, int dev);
/* After fork: the child's own descriptor and flock (the inherited ones are the parent's). */
void sg_shm_reattach_child(struct sg_shm_att *a);
uint64_t sg_shm_owner_self(void);
int sg_shm_owner_alive(uint64_t owner);
/* /proc/<pid>/stat: 1 and *start (its starttime) for a live process, 0 for a dead or zombie
 * one, -1 when it cannot be read for another reason. */
int sg_shm_proc_start(int32_t pid, uint64_t *start);

/* ---- shm_charge.c: the memory counter and the slots ---------------------------------------- */

/* Claims a free slot for owner `me` (reaping dead ones on the way); its index or -1. */
int sg_shm_claim(struct sg_shm_file *f, uint64_t me);
/* Adds `units` (negative: gives back) to slot's charge and the device's, never past the
 * capacity: 0, or -1 when it would pass. One caller at a time per slot (the process serialises
 * its threads): the slot's `pending` holds one operation. */
int sg_shm_charge(struct sg_shm_file *f, int slot, int64_t units);
/* Gives back everything slot holds and frees it (its process is leaving). */
void sg_shm_release(struct sg_shm_file *f, int slot);
/* Gives back the units of every dead process's slot and frees them; how many were reaped. */
unsigned sg_shm_reap(struct sg_shm_file *f);
uint64_t sg_shm_used_bytes(struct sg_shm_file *f);
uint64_t sg_shm_slot_bytes(struct sg_shm_file *f, int slot);
/* The owner of slot s when it is a live process's (not free, not being reaped), else 0. */
uint64_t sg_shm_live_owner(struct sg_shm_file *f, int s);
/* Percent busy of one slot at time now (kernel or copy time), decaying to 0 when idle. */
unsigned sg_shm_slot_util(const struct sg_shm_slot *s, uint64_t now_ns, int copies);

#endif
