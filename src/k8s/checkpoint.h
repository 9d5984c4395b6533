/*
 * The DRA driver's checkpoint: the claims this node prepared, so an unprepare works after the
 * plugin restarts and after the claim is gone from the API server (the kubelet may call it
 * then), and a repeated prepare answers from what was done (idempotence).
 * Owns: the file <plugin_dir>/checkpoint.json (JSON, with an FNV-1a 64 checksum of its claims
 * that catches a torn or edited file) and its atomic replacement (a temporary file, fsync,
 * rename, fsync of the folder) before any caller answers the kubelet.
 * May call: jansson, POSIX. Not thread-safe: dra_service.c holds a lock around it.
 */
#ifndef TFUSE_K8S_CHECKPOINT_H
#define TFUSE_K8S_CHECKPOINT_H

#include <stddef.h>

#include "k8s.h"

#define K8S_CKPT_FILE "checkpoint.json"

struct k8s_checkpoint {
    char path[600];                    /* <dir>/checkpoint.json */
    struct k8s_prepared_claim *claims; /* n of them, in the order they were prepared */
    size_t n, cap;
};

/* Load dir's checkpoint (no file: empty). A file that does not parse, has the wrong kind or
 * version, or whose checksum does not match is refused (-1, the reason and the file named in
 * err) and left as it is: its records are the only way to undo those claims. */
int k8s_ckpt_load(struct k8s_checkpoint *ck, const char *dir, char *err, size_t errlen);

/* the claim with this uid, or NULL */
const struct k8s_prepared_claim *k8s_ckpt_find(const struct k8s_checkpoint *ck,
                                               const char *uid);

/* Add (or replace, by uid) a claim and save; on a failed save the memory is as before. */
int k8s_ckpt_put(struct k8s_checkpoint *ck, const struct k8s_prepared_claim *pc, char *err,
                 size_t errlen);

/* Remove a claim and save (an absent uid: 0, nothing written); a failed save keeps it. */
int k8s_ckpt_del(struct k8s_checkpoint *ck, const char *uid, char *err, size_t errlen);

void k8s_ckpt_free(struct k8s_checkpoint *ck);

#endif
