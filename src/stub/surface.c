/*
 * The stub's whole driver surface: every function of src/driverkit/driver_api.def (what
 * NVIDIA's driver exports, generated from the toolkit) is exported by our libcuda.so.1. This
 * file gives each a WEAK definition, replaced at link time by the stub's own definition when
 * calls.def declares the function (forwarded: entry.c, custom.c, launch.c, graph.c; answered
 * locally: local.c, hostmem.c, and the driver kit's getproc.c, errors.c, logs.c):
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

static CUresult refused(const char *name)
{
    tfs_unsupported(name);
    return CUDA_ERROR_NOT_SUPPORTED;
}

#define DK_REFUSE(name) refused(name)
#define DK_PT_ENTER tfs_ptds++
#define DK_PT_LEAVE tfs_ptds--
#include "surface_gen.h"
