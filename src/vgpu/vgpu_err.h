/*
 * Private to src/vgpu: the one way the module's functions report a failure to a caller's
 * (err, errlen) buffer. Owns nothing. May call: libc only.
 */
#ifndef TFUSE_VGPU_ERR_H
#define TFUSE_VGPU_ERR_H

#include <stddef.h>

/* Formats the message into err (when err is non-NULL and errlen > 0) and returns -1, so that
 * a failing path reads `return vgpu_fail(err, errlen, "...", ...);`. */
int vgpu_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
