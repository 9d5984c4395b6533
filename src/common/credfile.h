/*
 * Credentials of the control plane (pool admin, tenant, join and node credentials):
 * generating them, keeping them in files only their owner can read, reading them back, and
 * comparing them without leaking where they differ. Used by the pool (src/pool) and the node's
 * pool registration (src/node/poolreg.c).
 * Owns: the credential format (a prefix and 64 hex digits of getrandom) and the 0600 file
 * rules. May call: libc only.
 */
#ifndef TFUSE_COMMON_CREDFILE_H
#define TFUSE_COMMON_CREDFILE_H

#include <stdbool.h>
#include <stddef.h>

#define TF_CRED_MAX 128           /* longest credential read from a file or accepted (with NUL) */

/* A fresh credential: prefix followed by 64 hex digits (256 bits from getrandom). Returns 0,
 * or -1 when out does not fit it or the kernel gave no randomness. */
int tf_cred_generate(const char *prefix, char *out, size_t outlen);

/* Writes text and a newline to path, mode 0600 whatever the umask, atomically (a temporary
 * file in the same folder, fsync'd, then renamed). 0, or -1 with the reason in err. */
int tf_cred_write(const char *path, const char *text, char *err, size_t errlen);

/* Reads a credential from path: its first line, without the line end; empty files, lines
 * longer than TF_CRED_MAX - 1 and spaces or control characters are refused. Returns 1 when
 * read, 0 when the file does not exist, -1 with the reason in err. *loose is set when the
 * file's mode lets its group or others read it (the caller warns). */
int tf_cred_read(const char *path, char *out, size_t outlen, bool *loose, char *err,
                 size_t errlen);

/* Reads path, or creates it with a fresh credential (prefix) when it does not exist. 1 when
 * created, 0 when read, -1 with the reason in err. */
int tf_cred_load_or_create(const char *path, const char *prefix, char *out, size_t outlen,
                           char *err, size_t errlen);

/* Equal contents, in time that depends on n only. */
bool tf_cred_equal(const void *a, const void *b, size_t n);

/* Creates (or tightens) path as a regular file of mode 0600, whatever the umask; an existing
 * file keeps its contents. 0, or -1 with the reason in err. */
int tf_cred_make_private(const char *path, char *err, size_t errlen);

#endif
