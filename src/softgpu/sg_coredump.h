/*
 * softgpu's side of GPU core dumps (coredump.c): launch.c reports a kernel's exception here.
 */
#ifndef SOFTGPU_SG_COREDUMP_H
#define SOFTGPU_SG_COREDUMP_H

#include <cuda.h>

struct sg_ctx;

/* A kernel of ctx stopped on `err` (detail: the interpreter's message): writes the core dump
 * when the settings ask for one, and aborts the process when CU_COREDUMP_TRIGGER_HOST says so. */
void sg_coredump_fault(struct sg_ctx *ctx, const char *kernel, const unsigned grid[3],
                       const unsigned block[3], CUresult err, const char *detail);

#endif
