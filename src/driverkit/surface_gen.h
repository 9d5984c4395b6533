/*
 * surface_gen.h: the weak definitions a driver-shaped library gives every function of
 * driver_api.def (the stub's and softgpu's surface.c include it once). For a function <sym>:
 *   dk_default_<sym>  the default body: for a driver function, DK_REFUSE("<sym>"), a refusal
 *                     that takes no arguments (the C calling convention lets a caller pass
 *                     arguments a callee ignores, so one body fits every signature); for a
 *                     per-thread variant, the function it is the variant of, called between
 *                     DK_PT_ENTER and DK_PT_LEAVE (which make its NULL stream the per-thread one)
 *   <sym>             a WEAK alias of it, named by an asm label (cuda.h's renaming macros never
 *                     touch it), which the library's own definition of <sym> replaces at link
 *                     time.
 * The includer defines DK_REFUSE(name), DK_PT_ENTER and DK_PT_LEAVE first.
 */
#define CU_API(base, ver, sym, params, args)                                                 \
    CUresult dk_default_##sym(void);                                                         \
    CUresult dk_default_##sym(void) { return DK_REFUSE(#sym); }                              \
    extern CUresult dk_weak_##sym(void) __asm__(#sym)                                        \
        __attribute__((weak, alias("dk_default_" #sym)));
#define CU_API_PT(base, ver, sym, of, kind, params, args)                                    \
    extern CUresult dk_of_##sym params __asm__(#of);                                         \
    CUresult dk_default_##sym params;                                                        \
    CUresult dk_default_##sym params                                                         \
    {                                                                                        \
        DK_PT_ENTER;                                                                         \
        CUresult r = dk_of_##sym args;                                                       \
        DK_PT_LEAVE;                                                                         \
        return r;                                                                            \
    }                                                                                        \
    extern CUresult dk_weak_##sym params __asm__(#sym)                                       \
        __attribute__((weak, alias("dk_default_" #sym)));
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
