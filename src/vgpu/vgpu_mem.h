/*
 * The memory ledger of a vGPU, shared by every process attached to it. A worker charges every
 * device allocation to the ledger before making it and refunds it after freeing it; the ledger
 * never lets `used` pass the limit, not by one byte, however many processes race (a CAS loop on
 * one word). Each attached process also has an entry in the slot's process table, so that when
 * a process dies the node refunds exactly the bytes it held (vgpu_mem_reap).
 *
 * Owns: the ledger protocol. May call: vgpu_region, C11 atomics.
 */
#ifndef TFUSE_VGPU_MEM_H
#define TFUSE_VGPU_MEM_H

#include <stdint.h>
#include <sys/types.h>

#include "vgpu_region.h"

/* A process's attachment to one vGPU's ledger (local memory; one per process per vGPU). */
struct vgpu_mem_client {
    struct vgpu_slot *slot;
    struct vgpu_proc_entry *entry;
    uint64_t generation; /* the slot's generation at attach: a reused slot is not ours */
};

/* Attaches process pid (normally getpid()) to the vGPU in slot s: claims a process-table entry.
 * Returns 0, -ENODEV (no live vGPU there), -EBUSY (pid already attached: attach once per
 * process and share the client) or -ENOSPC (VGPU_MAX_PROCS processes attached already). */
int vgpu_mem_attach(struct vgpu_slot *s, pid_t pid, struct vgpu_mem_client *c);

/* Charges bytes to the ledger. Returns 0, -ENOMEM when used + bytes would pass the limit (then
 * nothing changes), -ENODEV when the vGPU was deleted, -EINVAL for 0 bytes. */
int vgpu_mem_reserve(struct vgpu_mem_client *c, uint64_t bytes);

/* Refunds bytes this process reserved earlier. Returns 0, or -EINVAL when the process does not
 * hold that many (a double free in the caller: nothing changes, so the ledger stays exact). */
int vgpu_mem_release(struct vgpu_mem_client *c, uint64_t bytes);

/* Refunds whatever this process still holds and frees its entry (a clean exit). Returns the
 * bytes refunded. */
uint64_t vgpu_mem_detach(struct vgpu_mem_client *c);

/* Given a process known to be dead (the node reaped it), refunds exactly the bytes its entry
 * holds and frees the entry. If the process died inside reserve or release, in the two
 * instructions between the ledger update and its entry update, the ambiguous amount is left
 * charged (never refunded twice) and reported in *in_flight (may be NULL). Returns the bytes
 * refunded, or 0 when pid had no entry. */
uint64_t vgpu_mem_reap(struct vgpu_slot *s, pid_t pid, uint64_t *in_flight);

/* The node's reaper for a whole region: given a dead process, refunds its bytes on every vGPU
 * of the region (one process may use several), then frees deleted vGPUs that it was the last
 * process of. Returns the bytes refunded; *in_flight (may be NULL) sums the ambiguous amounts. */
uint64_t vgpu_region_reap(struct vgpu_region *r, pid_t pid, uint64_t *in_flight);

/* A worker's entry point: finds the LIVE vGPU holding token and attaches pid to its ledger.
 * Returns the slot index, or -ENOENT (no such token), or an error of vgpu_mem_attach. */
int vgpu_mem_attach_token(struct vgpu_region *r, const char *token, pid_t pid,
                          struct vgpu_mem_client *c);

/* The views cuMemGetInfo and cuDeviceTotalMem report: total = limit, free = limit - used
 * (live: a resize shows at the next call). */
uint64_t vgpu_mem_used(const struct vgpu_slot *s);
uint64_t vgpu_mem_limit(const struct vgpu_slot *s);
uint64_t vgpu_mem_free(const struct vgpu_slot *s);
/* Live resize (the node's side; vgpu_resize.c calls them under the node's lock). lower: from
 * now on no reservation passes limit; -EBUSY (nothing changed) when more than limit is in use
 * already. *used (may be NULL): the bytes in use when it decided. raise: lets reservations
 * use up to limit (never lowers: a reserver still checking the old limit is stricter). */
int vgpu_mem_lower_admit(struct vgpu_slot *s, uint64_t limit, uint64_t *used);
void vgpu_mem_raise_admit(struct vgpu_slot *s, uint64_t limit);

/* Bytes held by pid according to its entry (0 when not attached). */
uint64_t vgpu_mem_held_by(const struct vgpu_slot *s, pid_t pid);

#endif
