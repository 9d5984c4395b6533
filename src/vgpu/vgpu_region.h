/*
 * The per-device shared-memory region that carries every vGPU's enforcement state: one header
 * describing the physical device, then a fixed array of slots, one per vGPU, each holding the
 * vGPU's description, its memory ledger (used bytes and a per-process table) and its compute
 * token bucket. The node creates the region (a file in /dev/shm, or a memfd it passes to
 * workers) and owns the vGPU lifecycle; workers map it and update ledgers and buckets with
 * C11 atomics, so that all processes of one vGPU see and obey one limit.
 *
 * The layout is versioned (VGPU_REGION_VERSION; docs/vgpu.md describes it field by field):
 * a process that maps a region of another version or size refuses it with a clear error.
 *
 * Owns: region creation/mapping, vGPU slot lifecycle (create, find, delete, free), the
 * device-wide memory limit sum, tokens. May call: libc, Linux syscalls (memfd, getrandom, futex).
 */
#ifndef TFUSE_VGPU_REGION_H
#define TFUSE_VGPU_REGION_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu_parse.h"
#include "vgpu_id.h"

#define VGPU_REGION_MAGIC 0x55504756u /* "VGPU" in memory order on little-endian */
#define VGPU_REGION_VERSION 5u
#define VGPU_MAX_SLOTS 64
#define VGPU_MAX_PROCS 64   /* processes attached to one vGPU at the same time */
#define VGPU_MAX_IPC 32     /* IPC memory handles its processes have exported at once */
#define VGPU_IPC_DIGEST 32  /* bytes of a handle's digest (SHA-256) */
#define VGPU_ID_MAX (VGPU_ID_LEN_MAX + 1) /* vgpu_id.h: the id rule */
#define VGPU_TOKEN_BYTES 16 /* random bytes; the token is their lowercase hex */
#define VGPU_TOKEN_MAX (2 * VGPU_TOKEN_BYTES + 1)
#define VGPU_UUID_MAX 48
#define VGPU_MEM_USED_BITS 48 /* a vGPU's memory limit is below 2^48 bytes (256 TiB) */
#define VGPU_MEM_LIMIT_MAX ((1ull << VGPU_MEM_USED_BITS) - 1)

/* Region flags. */
#define VGPU_REGION_OVERSUBSCRIBE 0x1u /* the sum of memory limits may exceed device memory */

enum vgpu_slot_state {
    VGPU_SLOT_FREE = 0,    /* unused */
    VGPU_SLOT_CLAIMED = 1, /* being filled in by vgpu_create; not visible yet */
    VGPU_SLOT_LIVE = 2,    /* usable */
    VGPU_SLOT_DELETED = 3, /* deleted while processes may still be attached: every reserve and
                            * acquire fails with -ENODEV; freed once no process is attached */
};

/* One process's share of a vGPU's memory, so that the node can refund a dead process exactly.
 * `pending` is non-zero only inside reserve/release (see vgpu_mem.c for the ordering). */
struct vgpu_proc_entry {
    _Atomic int32_t pid; /* 0: free entry */
    uint32_t reserved0;
    _Atomic uint64_t bytes;   /* bytes this process holds on the ledger */
    _Atomic uint64_t pending; /* bytes of a reserve or release in flight */
};

/* A memory handle (CUipcMemHandle) one of the vGPU's processes exported: only the vGPU's own
 * processes may open it (vgpu_ipc.c). pid: the exporting worker, 0 a free entry, -1 an entry
 * being written. */
struct vgpu_ipc_entry {
    _Atomic int32_t pid;
    uint32_t reserved0;
    uint8_t digest[VGPU_IPC_DIGEST];
};

struct vgpu_slot {
    _Atomic uint32_t state;   /* enum vgpu_slot_state */
    uint32_t index;           /* this slot's position, for messages */
    /* Description: written while CLAIMED and published by the state store; the node may change
     * the memory limit, compute and QoS of a LIVE vGPU (vgpu_resize.c), so they are atomics. */
    _Atomic uint32_t qos;     /* enum vgpu_qos */
    _Atomic uint32_t compute_unlimited; /* 1: no compute limit (one relaxed load per launch) */
    _Atomic uint32_t request_bp; /* compute request, basis points of the device */
    _Atomic uint32_t limit_bp;   /* compute limit, basis points of the device */
    _Atomic uint64_t mem_limit;  /* bytes: the limit the views report and --state saves */
    uint64_t generation;      /* bumped on every create, so a stale handle can tell reuse */
    char id[VGPU_ID_MAX];
    char token[VGPU_TOKEN_MAX];

    /* Memory ledger. mem_used: bytes in the low VGPU_MEM_USED_BITS, a resize epoch above
     * (vgpu_mem.c: a shrink bumps it so that no reservation checked against the old limit can
     * land after it). mem_admit: the limit reservations check, below mem_limit only while a
     * shrink is being decided, above it never. */
    alignas(64) _Atomic uint64_t mem_used;
    _Atomic uint64_t mem_admit;
    _Atomic uint64_t mem_peak;
    _Atomic uint64_t mem_denied; /* reservations refused for lack of room */
    _Atomic uint64_t mem_denied_max; /* the largest of them, bytes (in the line's padding) */

    /* Compute token bucket, in ns of device busy time. */
    alignas(64) _Atomic int64_t tokens_ns; /* may go negative: a kernel is charged after it ran */
    _Atomic uint32_t wake_seq;  /* futex word: bumped by every refill that has waiters */
    _Atomic uint32_t waiters;   /* acquirers asleep on wake_seq */
    _Atomic uint32_t throttled; /* set by an acquirer that found no tokens; the controller
                                 * reads and clears it (the vGPU wanted more than it got) */
    /* 0, or N + 1 when the vGPU's sessions were migrated to device N of the node (the node
     * writes it, a new session of the vGPU starts there: docs/freeze.md, "Migration") */
    _Atomic uint32_t placed_device;
    _Atomic uint64_t busy_ns;   /* device time charged, cumulative */
    _Atomic uint64_t launches;  /* kernels charged, cumulative */
    _Atomic uint64_t throttled_ns; /* time acquirers slept on an empty bucket, cumulative
                                    * (summed over processes: two sleepers count twice) */

    alignas(64) struct vgpu_proc_entry procs[VGPU_MAX_PROCS];
    alignas(64) struct vgpu_ipc_entry ipc[VGPU_MAX_IPC];
};

struct vgpu_region_header {
    uint32_t magic;
    uint32_t version;
    uint32_t header_size; /* sizeof(struct vgpu_region_header) */
    uint32_t slot_size;   /* sizeof(struct vgpu_slot) */
    uint32_t nslots;
    uint32_t flags;       /* VGPU_REGION_* */
    uint32_t device_index;
    uint32_t reserved0;
    uint64_t device_mem;  /* bytes of the physical device */
    double device_tflops; /* the device's rating; 0 when unknown */
    char device_uuid[VGPU_UUID_MAX];

    _Atomic uint64_t mem_limit_sum; /* sum of the memory limits of all non-FREE slots */
    _Atomic uint64_t controller_ticks;
    /* The most the memory limits may add up to when above device_mem (the node's
     * --oversubscribe-memory RATIO x device_mem); 0: device_mem. Ignored with the flag. */
    uint64_t mem_promise_max;
    /* Emulated device (bench/isolation, tests): a FIFO ticket lock standing for a device that
     * runs one kernel at a time, until the worker runs real kernels through this library. */
    alignas(64) _Atomic uint32_t emu_next_ticket;
    _Atomic uint32_t emu_serving;
    _Atomic uint32_t emu_waiters;
};

/* A process's mapping of a region (local memory, not shared). */
struct vgpu_region {
    struct vgpu_region_header *hdr;
    struct vgpu_slot *slots;
    size_t size;
    int fd;
};

struct vgpu_device_desc {
    uint32_t index;
    const char *uuid;     /* may be NULL */
    uint64_t memory;      /* bytes, > 0 */
    double tflops;        /* rating, 0 when unknown */
    uint32_t flags;       /* VGPU_REGION_* */
    uint64_t promise_max; /* header's mem_promise_max (0: memory) */
};

struct vgpu_spec {
    const char *id;       /* may be NULL: "vgpu-<slot>" */
    uint64_t mem_limit;   /* bytes, > 0 */
    uint32_t request_bp;  /* 0 and limit 0: unlimited compute */
    uint32_t limit_bp;    /* 0: the request (the issue: the limit defaults to the request) */
    int qos;              /* enum vgpu_qos */
};

size_t vgpu_region_size(uint32_t nslots);

/* Creates a region. name: a /dev/shm name ("/tfuse-vgpu-0") created exclusively, or NULL for an
 * anonymous memfd (pass region->fd to workers). Returns 0, or -1 with a message in err. */
int vgpu_region_create(const char *name, const struct vgpu_device_desc *dev, uint32_t nslots,
                       struct vgpu_region **out, char *err, size_t errlen);
/* Maps an existing region by /dev/shm name or by an inherited fd (fd >= 0 wins; the region
 * keeps its own duplicate). Checks magic, version and sizes. Returns 0 or -1 with err. */
int vgpu_region_open(const char *name, int fd, struct vgpu_region **out, char *err, size_t errlen);
void vgpu_region_close(struct vgpu_region *r);
int vgpu_region_unlink(const char *name);

/* Creates a vGPU: validates the spec, checks the device-wide memory sum (unless the region
 * allows oversubscription), claims a free slot and fills in a fresh token. Returns the slot
 * index, or -1 with a message in err. The memory sum and the slot claim are atomic, but the
 * unique-id check is not: the node creates and deletes vGPUs from one control thread. */
int vgpu_create(struct vgpu_region *r, const struct vgpu_spec *spec, char *err, size_t errlen);
/* Deletes a vGPU: it stops accepting attaches, reservations and launches at once (sleepers
 * wake with -ENODEV). The slot, and its memory limit in the device sum, are freed once no
 * process is attached: now, or by a later vgpu_region_collect (the node calls it after
 * reaping dead workers). Returns 0, or -ENOENT when the slot holds no live vGPU. */
int vgpu_delete(struct vgpu_region *r, int slot);
/* Live resize (vgpu_resize.c). The current description of a LIVE slot (id left NULL). */
int vgpu_spec_of(const struct vgpu_region *r, int slot, struct vgpu_spec *out);
/* Changes a LIVE vGPU to `to` (its id is ignored; limit_bp 0 means the request, request 0 and
 * limit 0 unlimited compute), in two steps so that the node can save the change and undo it
 * when the save fails. prepare validates `to` as vgpu_create does, charges the device sum for
 * a larger memory limit (-ENOSPC, with the device's figures in err), lowers the ledger's
 * admission for a smaller one (-EBUSY when more is in use: *used tells how much; nothing
 * changed), and applies compute and QoS; *from receives the old description. After it the
 * views report the new limit, but a larger limit admits allocations only after finish.
 * finish(keep=1) opens a larger limit to allocations and refunds the device sum of a smaller
 * one; finish(keep=0) restores `from` (always possible: admission never passed it). Both run
 * under the caller's lock (the node's), one resize of a region at a time. Returns 0, -EINVAL,
 * -ENOENT (no live vGPU), -EBUSY or -ENOSPC, with a message in err. */
int vgpu_resize_prepare(struct vgpu_region *r, int slot, const struct vgpu_spec *to,
                        struct vgpu_spec *from, uint64_t *used, char *err, size_t errlen);
void vgpu_resize_finish(struct vgpu_region *r, int slot, const struct vgpu_spec *from,
                        const struct vgpu_spec *to, int keep);
/* prepare then finish(keep=1): for callers with nothing to save (tests, benches). */
int vgpu_resize(struct vgpu_region *r, int slot, const struct vgpu_spec *to, uint64_t *used,
                char *err, size_t errlen);
/* Shared with vgpu_resize.c: the checks of a description, and the device-wide memory sum
 * (adds limit unless that passes the device and the region does not oversubscribe). */
int vgpu_spec_validate(const struct vgpu_spec *spec, char *err, size_t errlen);
int vgpu_region_charge_sum(struct vgpu_region_header *h, uint64_t limit, char *err,
                           size_t errlen);

/* Frees every DELETED slot that no process is attached to. Returns how many were freed. */
int vgpu_region_collect(struct vgpu_region *r);
/* Slot of the LIVE vGPU with this token (constant-time compare), or -1. */
int vgpu_find_token(const struct vgpu_region *r, const char *token);
int vgpu_find_id(const struct vgpu_region *r, const char *id);
/* The slot pointer for an index, or NULL when out of range. */
struct vgpu_slot *vgpu_slot_at(const struct vgpu_region *r, int slot);

/* Fills out with 2*VGPU_TOKEN_BYTES hex characters from getrandom. 0 or -errno. */
int vgpu_random_token(char out[VGPU_TOKEN_MAX]);

#endif
