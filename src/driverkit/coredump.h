/*
 * GPU core-dump settings (cuCoredump*Attribute*, CUDA 12.1) for a driver-shaped library of ours,
 * and the writing of the dump file (coredump.c; the stub and softgpu compile it).
 *
 * The library provides dk_coredump_context and dk_coredump_changed; coredump.c provides the four
 * driver entry points and what follows.
 */
#ifndef TFUSE_DRIVERKIT_COREDUMP_H
#define TFUSE_DRIVERKIT_COREDUMP_H

#include <cuda.h>

/* ---- provided by the library ---- */
/* The calling thread's current context: CUDA_SUCCESS, or the error the per-context calls
 * answer without one (CUDA_ERROR_INVALID_CONTEXT, CUDA_ERROR_NOT_INITIALIZED, ...). */
CUresult dk_coredump_context(CUcontext *ctx);
/* Told whenever the settings change (and once when the environment has been read): `armed`
 * says whether any context may now dump on an exception. Called outside coredump.c's lock. */
void dk_coredump_changed(int armed);

/* ---- provided by coredump.c ---- */
/* Whether an exception in ctx (NULL: no context) makes a dump. Reads the environment once. */
int dk_coredump_enabled(CUcontext ctx);
/* Writes the dump of an exception in ctx, once per context, if it is enabled for ctx: our header
 * (magic, process, host, context, generation flags), then `body` as given (the library's
 * description of the fault, see docs in coredump.c). Returns 1 when the host process should
 * abort now (CU_COREDUMP_TRIGGER_HOST, i.e. no CU_COREDUMP_SKIP_ABORT), 0 when it should not,
 * -1 when no dump was written (disabled, already written for ctx, or the file failed). */
int dk_coredump_write(CUcontext ctx, const char *body, size_t len);
/* Forgets what was set for ctx; the library calls it when it destroys a context. */
void dk_coredump_forget(CUcontext ctx);
/* The generation flags in force for ctx (CU_COREDUMP_SKIP_*). */
int dk_coredump_flags(CUcontext ctx);

#endif
