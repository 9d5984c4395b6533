/*
 * Loading a libcuda-shaped library into a struct tf_backend (see backend.h).
 * May call: dlopen/dlsym, src/common (log.h, paths.h).
 */
#include "backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

int tf_backend_resolve(const char *name, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!name || !*name) {
        snprintf(err, errlen, "empty backend name (want soft, nvidia or a library path)");
        return -1;
    }
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return 0;
    }
    if (strcmp(name, "nvidia") == 0) {
        snprintf(out, outlen, "libcuda.so.1");
        return 0;
    }
    if (strcmp(name, "soft") == 0) {
        const char *env = getenv("TFUSE_SOFTGPU_LIB");
        if (env && *env) {
            snprintf(out, outlen, "%s", env);
            return 0;
        }
        if (tf_exe_relative("../lib/libtfuse-softgpu.so", out, outlen) != 0) {
            snprintf(err, errlen, "cannot find softgpu next to the tfuse executable "
                                  "(/proc/self/exe unreadable or path too long)");
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown backend '%s' (want soft, nvidia or a library path)", name);
    return -1;
}

typedef CUresult (*getproc_fn)(const char *, void **, int, cuuint64_t,
                               CUdriverProcAddressQueryResult *);

static void *lookup(getproc_fn getproc, const char *base, int version)
{
    void *fn = NULL;
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SUCCESS;
    if (getproc(base, &fn, version, CU_GET_PROC_ADDRESS_DEFAULT, &status) != CUDA_SUCCESS ||
        status != CU_GET_PROC_ADDRESS_SUCCESS)
        return NULL;
    return fn;
}

int tf_backend_load(struct tf_backend *be, const char *path, char *err, size_t errlen)
{
    memset(be, 0, sizeof *be);
    snprintf(be->path, sizeof be->path, "%s", path);
    be->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!be->dl) {
        snprintf(err, errlen, "cannot load backend %s: %s", path, dlerror());
        return -1;
    }
    getproc_fn getproc = (getproc_fn)dlsym(be->dl, "cuGetProcAddress_v2");
    if (!getproc) {
        snprintf(err, errlen, "backend %s has no cuGetProcAddress_v2", path);
        tf_backend_unload(be);
        return -1;
    }
    /* `base` must not pass through a helper macro: cuda.h would rename it on the way. */
#define TF_CALL(sym, base, ver, mode, ...) \
    be->sym = (PFN_##base##_v##ver)lookup(getproc, #base, ver);
#define TF_CUSTOM(sym, base, ver, mode) \
    be->sym = (PFN_##base##_v##ver)lookup(getproc, #base, ver);
#define TF_BACKEND(sym, base, ver) be->sym = (PFN_##base##_v##ver)lookup(getproc, #base, ver);
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
    if (!be->cuInit || !be->cuCtxSetCurrent || !be->cuDriverGetVersion) {
        snprintf(err, errlen, "backend %s lacks cuInit, cuCtxSetCurrent or cuDriverGetVersion",
                 path);
        tf_backend_unload(be);
        return -1;
    }
    CUresult r = be->cuInit(0);
    if (r == CUDA_SUCCESS)
        r = be->cuDriverGetVersion(&be->driver_version);
    if (r != CUDA_SUCCESS) {
        snprintf(err, errlen, "backend %s: cuInit failed with CUresult %d", path, (int)r);
        tf_backend_unload(be);
        return -1;
    }
    int resolved, known;
    tf_backend_counts(be, &resolved, &known);
    tf_debug("backend %s: driver %d, %d of %d entry points", path, be->driver_version, resolved,
             known);
    return 0;
}

void tf_backend_unload(struct tf_backend *be)
{
    if (be->dl)
        dlclose(be->dl);
    memset(be, 0, sizeof *be);
}

void tf_backend_counts(const struct tf_backend *be, int *resolved, int *known)
{
    int r = 0, k = 0;
#define TF_COUNT(sym) do { k++; if (be->sym) r++; } while (0);
#define TF_CALL(sym, base, ver, mode, ...) TF_COUNT(sym)
#define TF_CUSTOM(sym, base, ver, mode) TF_COUNT(sym)
#define TF_BACKEND(sym, base, ver) TF_COUNT(sym)
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
#undef TF_COUNT
    *resolved = r;
    *known = k;
}
