/*
 * Paths relative to the running executable: the tfuse binaries find their libraries at
 * <exe dir>/../lib/... so that a build tree and an installed tree work the same way.
 */
#ifndef TFUSE_COMMON_PATHS_H
#define TFUSE_COMMON_PATHS_H

#include <stddef.h>

/* Writes "<folder of /proc/self/exe>/<rel>" to out. Returns 0, or -1 when the executable's
 * folder cannot be read or the result does not fit. */
int tf_exe_relative(const char *rel, char *out, size_t len);

#endif
