/*
 * tfuse-k8s's calls to the TensorFuse node beside it (docs/node-api.md): its devices, and the
 * vGPUs of prepared claims. Also Kubernetes quantities ("8Gi", "250m", "1.5"), which the
 * ResourceSlices publish and the claims' consumed capacity carry.
 * Owns: the node address forms (unix:PATH, tcp:HOST:PORT, http(s)://) and the node token read
 * from node_token_file before each call. May call: src/common/httpc.h, jansson, config.h.
 */
#ifndef TFUSE_K8S_KNODE_H
#define TFUSE_K8S_KNODE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s.h"

/* method path on the node of cfg. Returns the HTTP status (0: unreachable, err says why) and
 * *reply, the JSON answer or NULL. For a status >= 400 err holds the node's message. */
int k8s_node_call(const struct k8s_config *cfg, const char *method, const char *path,
                  const json_t *body, json_t **reply, char *err, size_t errlen);

/* GET /api/v1/devices: the "devices" array (a new reference), or NULL with err. */
json_t *k8s_node_devices(const struct k8s_config *cfg, char *err, size_t errlen);

/* DELETE /api/v1/vgpus/ID: 0 when deleted or gone (204, 404) or being deleted (202: its
 * sessions are ending, the node frees it when they have), -1 with err otherwise. */
int k8s_node_delete_vgpu(const struct k8s_config *cfg, const char *id, char *err, size_t errlen);

/* A Kubernetes quantity: digits with an optional fraction and sign, then a suffix (n u m k M G
 * T P E, Ki Mi Gi Ti Pi Ei, or e/E and an exponent). 0 and *v, or -1 (not a quantity). */
int k8s_quantity_parse(const char *s, double *v);
/* Bytes exactly (a quantity of a whole number of bytes up to 2^63). 0, or -1. */
int k8s_quantity_bytes(const char *s, uint64_t *bytes);
/* v as a quantity: an integer when whole, else in thousandths ("23100m"). */
void k8s_quantity_format(double v, char *out, size_t len);

#endif
