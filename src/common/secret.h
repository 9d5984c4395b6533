/*
 * Comparing secrets (API bearer tokens, session tokens) in time that does not depend on where
 * a guess first differs, so that a remote client cannot find a token byte by byte by timing.
 *
 * Owns: tf_secret_equal. May call: libc.
 */
#ifndef TFUSE_COMMON_SECRET_H
#define TFUSE_COMMON_SECRET_H

#include <stddef.h>

/* 1 when given equals expected. The time taken depends on the lengths only, never on the
 * bytes: every byte of expected is compared whatever given holds. NULL counts as "". */
int tf_secret_equal(const char *given, const char *expected);

/* The same over counted bytes (the vGPU tokens of the shared region are not NUL-bounded). */
int tf_secret_equal_n(const char *given, size_t given_len, const char *expected,
                      size_t expected_len);

#endif
