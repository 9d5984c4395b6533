/*
 * cuGetProcAddress (the 4-argument 11.3 ABI) and cuGetProcAddress_v2 (12.0), the
 * per-thread-default-stream variants (_ptds/_ptsz) of every stream-ordered entry point, and
 * cuGetExportTable. All three are driven by entrypoints.def, the one list of what softgpu
 * implements: a function absent from it is neither exported under a per-thread name nor
 * answered by cuGetProcAddress (CUDA_ERROR_NOT_FOUND).
 *
 * Symbols are named through asm labels (`__asm__("cuMemAlloc_v2")`) so that cuda.h's
 * renaming macros (cuMemAlloc -> cuMemAlloc_v2, ...) cannot touch the names in the list.
 * Calls every entry point by address, context.c (thread state) and exporttab.
 */
#include <string.h>

#include "softgpu.h"
#ifdef SG_HAVE_EXPORTTAB
#include "exporttab.h"
#endif

/* Every listed symbol, declared under a private name bound to its real symbol. */
#define SG_ENTRY(base, ver, sym) extern void sg_ep_##sym(void) __asm__(#sym);
/* (arguments are pasted, never passed on: cuda.h renames some of these names with macros) */
#define SG_ENTRY_PT(base, ver, sym, pver, ptsym, params, args) \
    extern void sg_ep_##sym(void) __asm__(#sym);                \
    extern void sg_ep_##ptsym(void) __asm__(#ptsym);
#include "entrypoints.def"
#undef SG_ENTRY
#undef SG_ENTRY_PT

/* The per-thread variants: the same call with NULL meaning the per-thread stream. */
#define SG_ENTRY(base, ver, sym)
#define SG_ENTRY_PT(base, ver, sym, pver, ptsym, params, args)   \
    extern CUresult sg_call_##ptsym params __asm__(#sym);        \
    CUresult sg_def_##ptsym params __asm__(#ptsym);              \
    CUresult sg_def_##ptsym params                               \
    {                                                            \
        sg_tls.ptds++;                                           \
        CUresult r = sg_call_##ptsym args;                       \
        sg_tls.ptds--;                                           \
        return r;                                                \
    }
#include "entrypoints.def"
#undef SG_ENTRY
#undef SG_ENTRY_PT

struct entry {
    const char *base;
    int version;
    void *fn;
    int pt_version;  /* 0: no per-thread variant */
    void *pt_fn;
};

static const struct entry entries[] = {
#define SG_ENTRY(base, ver, sym) {#base, ver, (void *)sg_ep_##sym, 0, NULL},
#define SG_ENTRY_PT(base, ver, sym, pver, ptsym, params, args) \
    {#base, ver, (void *)sg_ep_##sym, pver, (void *)sg_ep_##ptsym},
#include "entrypoints.def"
#undef SG_ENTRY
#undef SG_ENTRY_PT
};

static CUresult lookup(const char *symbol, void **pfn, int version, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status)
{
    if (status)
        *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    *pfn = NULL;
    if (flags & ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM
                              | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
        return CUDA_ERROR_INVALID_VALUE;
    int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    const struct entry *best = NULL;
    int named = 0;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        const struct entry *e = &entries[i];
        if (strcmp(e->base, symbol))
            continue;
        named = 1;
        if (e->version <= version && (!best || e->version > best->version))
            best = e;
    }
    if (!best) {
        if (named && status)
            *status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
        return CUDA_ERROR_NOT_FOUND;
    }
    *pfn = per_thread && best->pt_fn && best->pt_version <= version ? best->pt_fn : best->fn;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *symbolStatus)
{
    return lookup(symbol, pfn, cudaVersion, flags, symbolStatus);
}

/* The 11.3 ABI has no status argument: a caller of it must never see a fifth one read. */
CUresult sg_getproc_v1(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
    __asm__("cuGetProcAddress");
CUresult sg_getproc_v1(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    return lookup(symbol, pfn, cudaVersion, flags, NULL);
}

CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
    if (!ppExportTable || !pExportTableId)
        return CUDA_ERROR_INVALID_VALUE;
#ifdef SG_HAVE_EXPORTTAB
    /* cudart asks before cuInit: make sure exporttab_init has been given our functions */
    cuInit(0);
    return exporttab_get(ppExportTable, pExportTableId);
#else
    *ppExportTable = NULL;
    return CUDA_ERROR_NOT_SUPPORTED;
#endif
}
