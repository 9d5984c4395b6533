/*
 * softgpu's whole driver surface: every function of src/driverkit/driver_api.def (the list of
 * what NVIDIA's driver exports, generated from the toolkit) is exported by libtfuse-softgpu.so.
 * This file gives each one a WEAK definition; a function softgpu implements (a strong definition
 * under the same symbol in another file) replaces it at link time. The weak definitions are
 *   - for a driver function: a refusal, CUDA_ERROR_NOT_SUPPORTED, logged once by name;
 *   - for a per-thread-default-stream variant (<sym>_ptds/_ptsz): the function it is the variant
 *     of, called with the NULL stream meaning the calling thread's stream (sg_tls.ptds).
 * So implementing a driver function is defining it: nothing else lists it. Whether a symbol is
 * implemented shows in the library's dynamic symbol table (WEAK: refused), which the surface
 * test and `tfuse doctor` read.
 * Calls sg_log only.
 */
#include <stdatomic.h>
#include <string.h>

#include "softgpu.h"

/* Says once per name that softgpu does not have it (a small table of names already said). */
static CUresult refused(const char *name)
{
    static const char *_Atomic said[128];
    for (int i = 0; i < 128; i++) {
        const char *seen = atomic_load(&said[i]);
        if (seen && (seen == name || !strcmp(seen, name)))
            return CUDA_ERROR_NOT_SUPPORTED;
        const char *none = NULL;
        if (!seen && atomic_compare_exchange_strong(&said[i], &none, name))
            break;
    }
    sg_log(SG_LOG_WARN, "%s is not supported by softgpu: CUDA_ERROR_NOT_SUPPORTED", name);
    return CUDA_ERROR_NOT_SUPPORTED;
}

#define DK_REFUSE(name) refused(name)
#define DK_PT_ENTER sg_tls.ptds++
#define DK_PT_LEAVE sg_tls.ptds--
#include "surface_gen.h"
