/*
 * Which IPC memory handles a vGPU's processes exported (the ipc table of its slot), so that a
 * handle opens only in a process of the same vGPU: another tenant who learns a handle's bytes
 * still cannot map the memory behind it. Handles are kept as digests; an entry lives until its
 * exporter forgets it or dies.
 * Owns: the slot's ipc table. May call: libc (kill to tell a dead exporter).
 */
#ifndef TFUSE_VGPU_IPC_H
#define TFUSE_VGPU_IPC_H

#include <sys/types.h>

#include "vgpu_region.h"

/* Records that `pid` exported the handle whose digest is given. 0, or -ENOSPC when the table
 * holds VGPU_MAX_IPC handles of live exporters. */
int vgpu_ipc_publish(struct vgpu_slot *s, const uint8_t digest[VGPU_IPC_DIGEST], pid_t pid);
/* 1 when a live process of this vGPU exported the handle. */
int vgpu_ipc_known(struct vgpu_slot *s, const uint8_t digest[VGPU_IPC_DIGEST]);
/* Forgets every handle `pid` exported (its session ended). */
void vgpu_ipc_forget(struct vgpu_slot *s, pid_t pid);

#endif
