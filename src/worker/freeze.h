/*
 * Freeze and resume of a session's device memory (docs/freeze.md). On a node started with
 * --freeze-to host|disk, a vGPU session's allocations of at least the device's allocation
 * granularity (cuMemAlloc, cuMemAllocPitch) are made through the virtual memory API: an
 * address range reserved, a physical allocation mapped into it. A freeze (the node's command,
 * through the session's entry of the node's table: stats.h, struct tfw_freeze_words) drains
 * the session's contexts, copies those allocations' bytes to host memory or to a file under the
 * node's state folder, and unmaps and releases the physical memory, keeping the reservations;
 * a resume creates, maps at the same addresses and copies back. Any request but an idle
 * synchronize resumes a frozen session before it runs (a bounded wait while the device has no
 * room, then CUDA_ERROR_OUT_OF_MEMORY). The vGPU's ledger is not touched: the memory stays
 * charged to the vGPU while it is frozen; except for model switching (--switch-idle-ms), where
 * an idle session frozen for another session of its vGPU refunds its frozen bytes to the
 * ledger and charges them again before it resumes.
 *
 * Private to src/worker. Not thread-safe: the session's thread alone calls these.
 */
#ifndef TFUSE_WORKER_FREEZE_H
#define TFUSE_WORKER_FREEZE_H

#include <stdint.h>

#include "backend.h"

struct tfw_session;
struct tfw_opts;
struct tfw_limits;
struct tfw_vgpu;

/* After the session attached to its vGPUs: turns freezing on when o->freezable, the session
 * has a vGPU and the node's table an entry for it. */
void tfw_freeze_start(struct tfw_session *s, const struct tfw_opts *o);
void tfw_freeze_end(struct tfw_session *s);

/* The allocation wrappers (enforce.c) on v's device: a freezable allocation, or
 * CUDA_ERROR_NOT_SUPPORTED when this one is to be made the ordinary way (freezing off, no
 * vGPU known, smaller than the granularity). The pitched form chooses the pitch (512-byte
 * rows, as softgpu and NVIDIA's texture alignment). */
CUresult tfw_freeze_alloc(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                          uint64_t bytes, CUdeviceptr *p);
CUresult tfw_freeze_alloc_pitch(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                                uint64_t width, uint64_t height, unsigned elem, uint64_t *p,
                                uint64_t *pitch);
/* Allocations under the granularity (freeze_small.c), carved out of granular chunks that
 * tfw_freeze_alloc makes: the allocation (NOT_SUPPORTED for 0 bytes), whether p is one, its
 * free (the chunk goes back with its last allocation), the end of the session. freeze.c
 * records what a chunk holds charged to the ledger (tfw_freeze_set_charged). */
CUresult tfw_freeze_small_alloc(struct tfw_session *s, struct tfw_limits *L, struct tfw_vgpu *v,
                                int device, uint64_t g, uint64_t bytes, CUdeviceptr *p);
int tfw_freeze_small_owns(uint64_t p);
/* p inside a small allocation: 1 with its start and size (cuMemGetAddressRange's answer). */
int tfw_freeze_small_range(uint64_t p, uint64_t *base, uint64_t *size);
CUresult tfw_freeze_small_free(struct tfw_session *s, struct tfw_limits *L, uint64_t p);
void tfw_freeze_small_end(void);
void tfw_freeze_set_charged(struct tfw_session *s, uint64_t chunk, uint64_t charged);
/* A free of p: 1 when p is a freezable allocation (the contexts drained, it is freed, *r is the
 * result), 0 when it is not one. */
int tfw_freeze_free(struct tfw_session *s, struct tfw_limits *L, CUdeviceptr p, CUresult *r);

/* An allocation of `bytes` (or a resume) found the device full: 1 to try again, after the node
 * froze other vGPUs of the device to make room (--oversubscribe-memory) or, with `wait`,
 * after a short sleep; 0 to fail with CUDA_ERROR_OUT_OF_MEMORY (no room made, or *deadline,
 * set at the first call from 0, passed). Commands of the node are refused meanwhile. */
int tfw_freeze_room(struct tfw_session *s, uint64_t bytes, uint64_t *deadline, int wait);
/* The same when the vGPU's own limit refused `bytes` (model switching, --switch-idle-ms): 1
 * to try again after the node froze idle other sessions of the vGPU, or after a short sleep
 * while none is idle yet; 0 to fail (switching off, or *deadline passed). */
int tfw_freeze_switch(struct tfw_session *s, uint64_t bytes, uint64_t *deadline);

/* Migration (migrate.c): 1 when p is one of the session's freezable allocations. The
 * freezable allocations' bytes move to device `to` under the same reservations (drained and
 * copied out, made again there with to_ctx current, copied in); on failure they come back on
 * their device. A frozen session is refused. */
int tfw_freeze_owns(struct tfw_session *s, uint64_t p);
CUresult tfw_freeze_move(struct tfw_session *s, int to, CUcontext to_ctx, char *err,
                         size_t elen);

/* How long the request loop may wait for the next request: -1 (for ever) unless the node may
 * send commands, then a short period, so that an idle session sees them. */
int tfw_freeze_wait_ms(const struct tfw_session *s);
/* Between two requests: runs the node's command, if one is pending. */
void tfw_freeze_poll(struct tfw_session *s);
/* Before request `call` runs: a frozen session is resumed first. CUDA_SUCCESS, or the reason it
 * could not be (the request then fails with it and the session stays frozen). */
CUresult tfw_freeze_thaw(struct tfw_session *s, uint32_t call);

#endif
