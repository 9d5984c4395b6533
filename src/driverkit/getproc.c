/*
 * cuGetProcAddress (the four-argument 11.3 ABI) and cuGetProcAddress_v2 (12.0) over the whole
 * driver surface of driver_api.def, for the stub and softgpu alike (both compile this file). A
 * request gets the newest ABI of the name whose version is <= the requested one; with
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, that ABI's per-thread variant when it has one.
 * Every exported function is answered, refused ones too: they say so when called (the weak
 * definitions of surface_gen.h), which is how the driver treats a name it has.
 * Calls every entry point of the library it is linked into, by address.
 */
#include <string.h>

#include <cuda.h>

/* Every symbol, declared under a private name bound to its real symbol (strong or weak). */
#define CU_API(base, ver, sym, params, args) extern void dk_ep_##sym(void) __asm__(#sym);
#define CU_API_PT(base, ver, sym, of, kind, params, args) CU_API(base, ver, sym, params, args)
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT

struct entry {
    const char *base;
    int version;
    const char *sym;
    const char *of;  /* per-thread variants: the symbol it is the variant of; NULL otherwise */
    void *fn;
};

static const struct entry entries[] = {
#define CU_API(base, ver, sym, params, args) {#base, ver, #sym, NULL, (void *)dk_ep_##sym},
#define CU_API_PT(base, ver, sym, of, kind, params, args) {#base, ver, #sym, #of, (void *)dk_ep_##sym},
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
};
#define NENTRIES (sizeof entries / sizeof entries[0])

/* The per-thread variant of `sym` that a caller of `version` may have, or NULL. */
static void *per_thread_variant(const char *sym, int version)
{
    for (size_t i = 0; i < NENTRIES; i++)
        if (entries[i].of && entries[i].version <= version && !strcmp(entries[i].of, sym))
            return entries[i].fn;
    return NULL;
}

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
    const struct entry *best = NULL;
    int named = 0;
    for (size_t i = 0; i < NENTRIES; i++) {
        const struct entry *e = &entries[i];
        if (e->of || strcmp(e->base, symbol))
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
    void *pt = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
                   ? per_thread_variant(best->sym, version) : NULL;
    *pfn = pt ? pt : best->fn;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                     cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
    return lookup(symbol, pfn, cudaVersion, flags, symbolStatus);
}

/* The 11.3 ABI has no status argument: a caller of it must never see a fifth one read
 * (docs/cudart-driver.md, "Binding"). cuda.h maps the plain name to _v2, hence the alias. */
CUresult CUDAAPI dk_getproc_v1(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
    __asm__("cuGetProcAddress");
CUresult CUDAAPI dk_getproc_v1(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    return lookup(symbol, pfn, cudaVersion, flags, NULL);
}
