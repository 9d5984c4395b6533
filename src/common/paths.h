/*
 * Paths relative to the running executable: the tfuse binaries find their libraries at
 * <exe dir>/../lib/... so that a build tree and an installed tree work the same way; and
 * telling our own libraries from NVIDIA's.
 */
#ifndef TFUSE_COMMON_PATHS_H
#define TFUSE_COMMON_PATHS_H

#include <stddef.h>

/* Writes "<folder of /proc/self/exe>/<rel>" to out. Returns 0, or -1 when the executable's
 * folder cannot be read or the result does not fit. */
int tf_exe_relative(const char *rel, char *out, size_t len);

/* Whether the shared object that defines `symbol` is one of ours (a libtfuse* library, or one
 * in a lib/tfuse or lib/softgpu folder): what a probe for NVIDIA's driver or NVML must not take
 * for the real thing when a TensorFuse folder is on LD_LIBRARY_PATH. */
int tf_is_tensorfuse_library(const void *symbol);

#endif
