/*
 * The open-files limit of a server process (the node, the pool). Their listeners cap
 * connections themselves; the soft limit (often 1024) must not be what stops them first, or a
 * flood of one listener would leave no descriptor for another.
 *
 * Owns: tf_raise_fd_limit. May call: libc, log.h.
 */
#ifndef TFUSE_COMMON_FDLIMIT_H
#define TFUSE_COMMON_FDLIMIT_H

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit in force. */
unsigned long long tf_raise_fd_limit(void);

#endif
