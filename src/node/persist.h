/*
 * The node's vGPUs across restarts: with `--state DIR`, every create and delete rewrites
 * DIR/vgpus.json (id, device uuid, memory limit, compute request/limit, QoS, token, idempotency
 * key of each live vGPU; written to a temporary file, fsynced and renamed over the old one, mode
 * 0600 since it holds tokens), and a starting node recreates them before it serves anything, so
 * pool allocations and `tfuse run --vgpu TOKEN` outlive a node restart. Usage counters start
 * at zero: the processes that held memory died with the old node's workers.
 *
 * Owns: the file format. May call: vgpus.h, src/vgpu, jansson, log.h.
 */
#ifndef TFUSE_NODE_PERSIST_H
#define TFUSE_NODE_PERSIST_H

#include <stddef.h>

#include "vgpus.h"

/* Writes the live vGPUs to path, leaving out the one in (skip_dev, skip_slot) (-1, -1: none; a
 * deletion is saved before it is made). Call with v->lock held. Returns 0, or the errno of the
 * step that failed (ENOSPC, EFBIG, EDQUOT: the folder is full) with a message in err; the old
 * file is then left whole. */
int node_persist_save_locked(struct node_vgpus *v, const char *path, int skip_dev, int skip_slot,
                             char *err, size_t errlen);

/* Takes DIR/node.lock (flock, held while the process lives) and writes our pid into it: two
 * nodes must never share a state folder (each would overwrite the other's vgpus.json). Returns
 * 0 with the fd in *fd_out, or -1 with a message naming the other node's pid. */
int node_persist_lock(const char *dir, int *fd_out, char *err, size_t errlen);

/* Recreates the vGPUs saved in path (a missing file: nothing to do). Before the controller and
 * the API start. Returns how many were restored, or -1 with a message in err (an unreadable
 * or malformed file; entries that no longer fit, e.g. a device gone, are skipped with a
 * warning instead). */
int node_persist_restore(struct node_vgpus *v, const char *path, char *err, size_t errlen);

#endif
