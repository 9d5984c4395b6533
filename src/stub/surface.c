/*
 * The stub's whole driver surface: every function of src/driverkit/driver_api.def (what
 * NVIDIA's driver exports, generated from the toolkit) is exported by our libcuda.so.1. This
 * file gives each a WEAK definition, replaced at link time by the stub's own definition when
 * calls.def declares the function (forwarded: entry.c, custom.c, launch.c, graph.c; answered
 * locally: local.c, hostmem.c, getproc.c):
 *   - a driver function nobody defines is refused: CUDA_ERROR_NOT_SUPPORTED, said once by name
 *     (docs/driver-surface.md lists each with its reason; the surface test keeps the two equal);
 *   - a per-thread-default-stream variant (<sym>_ptds/_ptsz) calls the function it is the
 *     variant of with tfs_ptds raised, so that its NULL stream goes to the worker as
 *     CU_STREAM_PER_THREAD: the worker's per-thread stream, which does not wait for the legacy
 *     stream's work (all threads of one program share it: the worker runs a session on one).
 * Calls tfs_unsupported (local.c).
 */
#include "stub.h"

__thread int tfs_ptds;

/* Arguments are never read, so one body fits every signature of the C calling convention; the
 * asm label keeps cuda.h's renaming macros off the symbol name. */
#define CU_API(base, ver, sym, params, args)                                                 \
    CUresult tfs_refuse_##sym(void);                                                         \
    CUresult tfs_refuse_##sym(void)                                                          \
    {                                                                                        \
        tfs_unsupported(#sym);                                                               \
        return CUDA_ERROR_NOT_SUPPORTED;                                                     \
    }                                                                                        \
    extern CUresult tfs_weak_##sym(void) __asm__(#sym)                                       \
        __attribute__((weak, alias("tfs_refuse_" #sym)));
#define CU_API_PT(base, ver, sym, of, kind, params, args)                                    \
    extern CUresult tfs_of_##sym params __asm__(#of);                                        \
    CUresult tfs_refuse_##sym params;                                                        \
    CUresult tfs_refuse_##sym params                                                         \
    {                                                                                        \
        tfs_ptds++;                                                                          \
        CUresult r = tfs_of_##sym args;                                                      \
        tfs_ptds--;                                                                          \
        return r;                                                                            \
    }                                                                                        \
    extern CUresult tfs_weak_##sym params __asm__(#sym)                                      \
        __attribute__((weak, alias("tfs_refuse_" #sym)));
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
