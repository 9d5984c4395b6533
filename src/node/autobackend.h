/*
 * `tfuse node --backend auto`: which CUDA driver the node's workers should load. NVIDIA's
 * libcuda.so.1 when it loads, initializes and reports at least one device; softgpu otherwise.
 * The probe runs in a child process, so the node itself never initializes a driver it later
 * forks workers from (the same reason vgpus.c probes devices in a child).
 *
 * Owns: the probe. May call: src/backend (tf_backend_resolve), dlopen, libc.
 */
#ifndef TFUSE_NODE_AUTOBACKEND_H
#define TFUSE_NODE_AUTOBACKEND_H

#include <stddef.h>

/*
 * name: "auto", "soft", "nvidia" or a library path. Writes the library to load into path and,
 * for "auto", the reason for the choice into why ("" otherwise). NVIDIA's library is
 * $TFUSE_NVIDIA_CUDA_LIB when set (the operator's choice, used as is), else libcuda.so.1 from
 * the loader's path, refused when it is a TensorFuse library (our stub's libcuda.so.1 found
 * through LD_LIBRARY_PATH). Returns 0, or -1 with a message in err.
 */
int node_backend_choose(const char *name, char *path, size_t pathlen, char *why, size_t whylen,
                        char *err, size_t errlen);

#endif
