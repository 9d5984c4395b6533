/*
 * cuGetProcAddress for the stub over the whole driver surface of src/driverkit/driver_api.def:
 * every name NVIDIA's driver exports, with the version of each ABI. A request gets the newest
 * ABI whose version is <= the requested one: calls.def's definition where the stub forwards or
 * answers the call, surface.c's refusal otherwise. Requests with
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM get the per-thread variant where the driver has
 * one (surface.c: its NULL stream is sent as the per-thread stream).
 * May call: the entry points of entry.c, custom.c, launch.c, local.c, hostmem.c, surface.c.
 */
#include <string.h>

#include "stub.h"

#define CU_API(base, ver, sym, params, args) extern void tfs_ep_##sym(void) __asm__(#sym);
#define CU_API_PT(base, ver, sym, of, kind, params, args) CU_API(base, ver, sym, params, args)
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT

struct proc {
    const char *name;
    int version;
    const char *sym;
    const char *of; /* per-thread variants: the symbol it is the variant of; NULL otherwise */
    void *fn;
};

static const struct proc procs[] = {
#define CU_API(base, ver, sym, params, args) {#base, ver, #sym, NULL, (void *)tfs_ep_##sym},
#define CU_API_PT(base, ver, sym, of, kind, params, args) {#base, ver, #sym, #of, (void *)tfs_ep_##sym},
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
};
#define NPROCS (sizeof procs / sizeof procs[0])

/* The newest ABI of `name` at `version`; *too_old set when the name exists only in newer ones. */
static const struct proc *find(const char *name, int version, int *too_old)
{
    const struct proc *best = NULL;
    *too_old = 0;
    for (size_t i = 0; i < NPROCS; i++) {
        if (procs[i].of || strcmp(procs[i].name, name) != 0)
            continue;
        if (procs[i].version > version) {
            *too_old = 1;
            continue;
        }
        if (!best || procs[i].version > best->version)
            best = &procs[i];
    }
    if (best)
        *too_old = 0;
    return best;
}

/* The per-thread variant of `sym` that a caller of `version` may have, or NULL. */
static void *per_thread_variant(const char *sym, int version)
{
    for (size_t i = 0; i < NPROCS; i++)
        if (procs[i].of && procs[i].version <= version && !strcmp(procs[i].of, sym))
            return procs[i].fn;
    return NULL;
}

void *tfs_lookup(const char *name, int version)
{
    int too_old;
    const struct proc *p = find(name, version, &too_old);
    return p ? p->fn : NULL;
}

CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                     cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    int too_old = 0;
    const struct proc *p = find(symbol, cudaVersion, &too_old);
    void *pt = p && (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
                   ? per_thread_variant(p->sym, cudaVersion) : NULL;
    *pfn = pt ? pt : p ? p->fn : NULL;
    if (symbolStatus)
        *symbolStatus = *pfn ? CU_GET_PROC_ADDRESS_SUCCESS
                             : too_old ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                       : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return *pfn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

/* The CUDA 11.3 ABI: four arguments (docs/cudart-driver.md, "Binding"). */
CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    return cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
}
