/*
 * What vgpus.c shares with vgpus_resize.c (the PATCH of a vGPU) and vgpus_devices.c: error
 * replies, the body fields both read, the vGPU's description, the answer to a failed save, the
 * device probe. Called with the node's vGPU lock held where they read slots. Nothing outside
 * src/node/vgpus*.c includes it.
 */
#ifndef TFUSE_NODE_VGPUS_INT_H
#define TFUSE_NODE_VGPUS_INT_H

#include <stdarg.h>

#include "vgpus.h"

/* {"error": reason, "message": the formatted text} in *reply; returns status. */
int node_vgpus_vfail(json_t **reply, int status, const char *reason, const char *fmt,
                     va_list ap);
int node_vgpus_fail(json_t **reply, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));   /* vgpus_resize.c */
/* The vGPU as GET /api/v1/vgpus/{id} shows it (no token). */
json_t *node_vgpus_describe_locked(struct node_vgpus *v, int dev, int slot);
/* A compute share under num_key (percent) or str_key ("30%", "12TFLOPs"); *bp = 0 when
 * both are absent. 0, or -1 with err. */
int node_vgpus_body_compute(json_t *body, const char *num_key, const char *str_key,
                            double tflops, uint32_t *bp, char *err, size_t len);
/* vram_bytes or vram ("2GiB"). 0, or -1 with err (also when both are absent). */
int node_vgpus_body_memory(json_t *body, uint64_t *bytes, char *err, size_t len);
/* vgpus_devices.c: fills v->dev[] and v->ndev from the backend at backend_path, asked in a
 * child process. 0, or -1 with err. */
int node_vgpus_probe(struct node_vgpus *v, const char *backend_path, char *err, size_t len);
/* 507 for a full state folder, else 500, naming what was not done. */
int node_vgpus_state_failed(json_t **reply, int rc, const char *err, const char *what);

#endif
