/*
 * The backend: the table of driver entry points the worker executes calls with, loaded from a
 * libcuda-shaped library by dlopen + cuGetProcAddress_v2 (exactly what cudart does with
 * NVIDIA's libcuda.so.1). `nvidia` loads NVIDIA's libcuda.so.1; `soft` loads softgpu
 * (libtfuse-softgpu.so next to the tfuse binary's lib folder). Both give the same table type.
 *
 * Owns: the table (one typed member per calls.def TF_CALL / TF_CUSTOM / TF_BACKEND entry,
 * typed by cudaTypedefs.h's PFN_<base>_v<version>), library discovery and loading.
 * May call: dlopen/dlsym, src/common/log.h. Knows nothing about sessions or the wire.
 */
#ifndef TFUSE_BACKEND_H
#define TFUSE_BACKEND_H

#include <cuda.h>
#include <cudaTypedefs.h>

#include "proto.h"

struct tf_backend {
    void *dl;
    char path[4096];
    int driver_version;
#define TF_CALL(sym, base, ver, mode, ...) PFN_##base##_v##ver sym;
#define TF_CUSTOM(sym, base, ver, mode) PFN_##base##_v##ver sym;
#define TF_BACKEND(sym, base, ver) PFN_##base##_v##ver sym;
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
};

/* Finds the library for a backend name: "soft" -> <dir of exe>/../lib/libtfuse-softgpu.so
 * (or TFUSE_SOFTGPU_LIB), "nvidia" -> "libcuda.so.1" (the loader's search path), or a path
 * containing '/' used as is. Writes into out; returns 0, or -1 with a reason in err. */
int tf_backend_resolve(const char *name, char *out, size_t outlen, char *err, size_t errlen);

/* dlopens the library, resolves every entry through its cuGetProcAddress_v2 and calls
 * cuInit(0). Entries the library lacks stay NULL (the worker answers CUDA_ERROR_NOT_SUPPORTED).
 * Returns 0, or -1 with a reason in err (library missing, no cuGetProcAddress_v2, cuInit
 * failed). Call it in the process that will use it: after fork, never before. */
int tf_backend_load(struct tf_backend *be, const char *path, char *err, size_t errlen);
void tf_backend_unload(struct tf_backend *be);

/* Number of entries resolved / known (for logs and tests). */
void tf_backend_counts(const struct tf_backend *be, int *resolved, int *known);

#endif
