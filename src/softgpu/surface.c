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

#include "softgpu.h"

static CUresult refused(const char *name, atomic_int *said)
{
    if (!atomic_exchange(said, 1))
        sg_log(SG_LOG_WARN, "%s is not supported by softgpu: CUDA_ERROR_NOT_SUPPORTED", name);
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* sg_refuse_<sym> is the refusal itself; <sym> is a weak alias of it (the asm label keeps cuda.h's
 * renaming macros off the symbol name). Arguments are never read, so one body fits every
 * signature of the C calling convention. */
#define CU_API(base, ver, sym, params, args)                                                 \
    static atomic_int said_##sym;                                                            \
    CUresult sg_refuse_##sym(void);                                                          \
    CUresult sg_refuse_##sym(void) { return refused(#sym, &said_##sym); }                    \
    extern CUresult sg_weak_##sym(void) __asm__(#sym)                                        \
        __attribute__((weak, alias("sg_refuse_" #sym)));
/* The variant calls `of` (which may itself be refused) with sg_tls.ptds raised. */
#define CU_API_PT(base, ver, sym, of, kind, params, args)                                    \
    extern CUresult sg_of_##sym params __asm__(#of);                                         \
    CUresult sg_refuse_##sym params;                                                         \
    CUresult sg_refuse_##sym params                                                          \
    {                                                                                        \
        sg_tls.ptds++;                                                                       \
        CUresult r = sg_of_##sym args;                                                       \
        sg_tls.ptds--;                                                                       \
        return r;                                                                            \
    }                                                                                        \
    extern CUresult sg_weak_##sym params __asm__(#sym)                                       \
        __attribute__((weak, alias("sg_refuse_" #sym)));
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
