/*
 * CDI specs for prepared claims: one JSON file per claim in cdi_dir, which the container
 * runtime (containerd, CRI-O) reads to edit the containers the kubelet starts with the claim's
 * CDI device ids.
 * Owns: the spec's shape (kind DRIVER/vgpu, one device "<claim uid>-<index>" per vGPU: the
 * session address and token the stub reads, TFUSE_CONNECT and TFUSE_TOKEN, our libcuda.so.1 and
 * libnvidia-ml.so.1 mounted read-only and first on LD_LIBRARY_PATH, a unix session socket
 * mounted), its file name, and writing it atomically with mode 0600 (it holds tokens).
 * May call: jansson, libc.
 */
#ifndef TFUSE_K8S_CDI_H
#define TFUSE_K8S_CDI_H

#include <jansson.h>
#include <stddef.h>

#include "k8s.h"

#define K8S_CDI_VERSION "0.5.0"       /* env and mounts need 0.3.0; 0.5.0 runtimes are common */
#define K8S_CDI_CLASS "vgpu"
#define K8S_CDI_LIB_DIR "/usr/local/tensorfuse/lib"   /* where the stub appears in containers */

/* What one device of a claim's spec gives its containers. */
struct k8s_cdi_vgpu {
    const char *connect;   /* the session address (unix:PATH or tcp:HOST:PORT) */
    const char *token;     /* the vGPU's token */
};

/* "DRIVER/vgpu=UID-INDEX": the id the kubelet passes to the runtime. */
void k8s_cdi_device_id(const struct k8s_config *cfg, const char *uid, size_t index, char *out,
                       size_t len);
/* cdi_dir/DRIVER-vgpu_UID.json */
void k8s_cdi_path(const struct k8s_config *cfg, const char *uid, char *out, size_t len);

/* The spec of a claim with n vGPUs (a new reference). */
json_t *k8s_cdi_spec(const struct k8s_config *cfg, const char *uid, const struct k8s_cdi_vgpu *v,
                     size_t n);

/* Writes the spec (temporary file, fsync, rename, fsync of the folder; mode 0600), creating
 * cdi_dir when missing. 0, or -1 with err and no file left behind. */
int k8s_cdi_write(const struct k8s_config *cfg, const char *uid, const struct k8s_cdi_vgpu *v,
                  size_t n, char *err, size_t errlen);

/* Removes the claim's spec; a missing one is not an error. 0, or -1 with err. */
int k8s_cdi_remove(const struct k8s_config *cfg, const char *uid, char *err, size_t errlen);

#endif
