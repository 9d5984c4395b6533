/*
 * The bytes of device memory a PTX module's .global and .const variables take (see
 * ptxglobals.c). Owns: nothing. May call: libc.
 */
#ifndef TFUSE_WORKER_PTXGLOBALS_H
#define TFUSE_WORKER_PTXGLOBALS_H

#include <stddef.h>
#include <stdint.h>

/* Sums the sizes of the module-scope .global/.const declarations in len bytes of PTX text.
 * Returns 0 with *bytes set, or -1 when the text is not well-formed enough to tell. */
int tfw_ptx_globals_bytes(const char *ptx, size_t len, uint64_t *bytes);

#endif
