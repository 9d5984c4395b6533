/*
 * cuGetProcAddress for the stub: the table of every name the stub serves (calls.def TF_CALL,
 * TF_CUSTOM, TF_LOCAL and TF_UNSUPPORTED entries) with the version of its ABI. A request gets
 * the newest entry whose version is <= the requested one. Requests with
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM get the same entries: the worker runs a
 * session's work on one thread, so the per-thread default stream is served as the legacy
 * default stream (stronger ordering, same results).
 * May call: the entry points of entry.c, custom.c, launch.c, local.c, hostmem.c.
 */
#include <string.h>

#include "stub.h"

#define TF_UNSUPPORTED(sym, base, ver) CUresult tfs_unsupported_##sym(void);
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"

struct proc {
    const char *name;
    int version;
    void *fn;
};

static const struct proc procs[] = {
#define TF_CALL(sym, base, ver, mode, ...) {#base, ver, (void *)sym},
#define TF_CUSTOM(sym, base, ver, mode) {#base, ver, (void *)sym},
#define TF_LOCAL(sym, base, ver) {#base, ver, (void *)sym},
#define TF_UNSUPPORTED(sym, base, ver) {#base, ver, (void *)tfs_unsupported_##sym},
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
};

/* The entry for (name, version); *too_old set when the name exists only in newer versions. */
static void *find(const char *name, int version, int *too_old)
{
    const struct proc *best = NULL;
    *too_old = 0;
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
        if (strcmp(procs[i].name, name) != 0)
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
    return best ? best->fn : NULL;
}

void *tfs_lookup(const char *name, int version)
{
    int too_old;
    return find(name, version, &too_old);
}

CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                     cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    int too_old = 0;
    *pfn = find(symbol, cudaVersion, &too_old);
    if (symbolStatus)
        *symbolStatus = *pfn ? CU_GET_PROC_ADDRESS_SUCCESS
                             : too_old ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                       : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return *pfn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

/* The CUDA 11.3 ABI: four arguments (docs/cuda-driver-shim.md §1 pitfall 1). */
CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    return cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
}
