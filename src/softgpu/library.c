/*
 * Context-independent libraries (cuLibrary*) and their kernels (cuKernel*). A library parses
 * its image once, with or without a current context (cudart loads every fat binary at init,
 * before any context exists), and is instantiated lazily as a module in each context that uses
 * it. CUkernel handles are accepted wherever a CUfunction is (module.c resolves them here).
 * Calls module.c and context.c.
 */
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_library **libs;
static size_t nlibs;

static CUresult library_lookup(CUlibrary h, struct sg_library **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_LIBRARY, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

static CUresult kernel_lookup(CUkernel h, struct sg_kernel_handle **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_KERNEL, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult sg_library_instance(struct sg_library *lib, struct sg_ctx *ctx, struct sg_module **out)
{
    pthread_mutex_lock(&lib->lock);
    for (int i = 0; i < lib->ninstances; i++) {
        if (lib->instance_ctx[i] == ctx && lib->instance_gen[i] == ctx->generation) {
            *out = lib->instances[i];
            pthread_mutex_unlock(&lib->lock);
            return CUDA_SUCCESS;
        }
    }
    if (lib->ninstances == lib->cap) {
        int ncap = lib->cap ? lib->cap * 2 : 4;
        struct sg_module **ni = realloc(lib->instances, (size_t)ncap * sizeof *ni);
        if (ni)
            lib->instances = ni;
        struct sg_ctx **nc = realloc(lib->instance_ctx, (size_t)ncap * sizeof *nc);
        if (nc)
            lib->instance_ctx = nc;
        unsigned *ng = realloc(lib->instance_gen, (size_t)ncap * sizeof *ng);
        if (ng)
            lib->instance_gen = ng;
        if (!ni || !nc || !ng) {
            pthread_mutex_unlock(&lib->lock);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        lib->cap = ncap;
    }
    struct sg_module *m;
    CUresult r = sg_module_instantiate(ctx, lib->ptx, lib, &m);
    if (!r) {
        lib->instances[lib->ninstances] = m;
        lib->instance_ctx[lib->ninstances] = ctx;
        lib->instance_gen[lib->ninstances] = ctx->generation;
        lib->ninstances++;
        *out = m;
    }
    pthread_mutex_unlock(&lib->lock);
    return r;
}

/* The context is being torn down (its modules are freed by the caller). */
void sg_library_forget_ctx(struct sg_ctx *ctx)
{
    pthread_mutex_lock(&libs_lock);
    for (size_t i = 0; i < nlibs; i++) {
        struct sg_library *lib = libs[i];
        pthread_mutex_lock(&lib->lock);
        int j = 0;
        for (int k = 0; k < lib->ninstances; k++) {
            if (lib->instance_ctx[k] == ctx)
                continue;
            lib->instances[j] = lib->instances[k];
            lib->instance_ctx[j] = lib->instance_ctx[k];
            lib->instance_gen[j] = lib->instance_gen[k];
            j++;
        }
        lib->ninstances = j;
        pthread_mutex_unlock(&lib->lock);
    }
    pthread_mutex_unlock(&libs_lock);
}

/* ---- load and unload ------------------------------------------------------------------------- */

static CUresult library_from_ptx(ptx_module *ptx, CUlibrary *out)
{
    struct sg_library *lib = calloc(1, sizeof *lib);
    if (!lib)
        return CUDA_ERROR_OUT_OF_MEMORY;
    lib->ptx = ptx;
    lib->nkernels = ptx_module_kernel_count(ptx);
    lib->kernels = calloc((size_t)(lib->nkernels ? lib->nkernels : 1), sizeof *lib->kernels);
    struct sg_library **nl = NULL;
    pthread_mutex_lock(&libs_lock);
    if (lib->kernels)
        nl = realloc(libs, (nlibs + 1) * sizeof *nl);
    if (!nl) {
        pthread_mutex_unlock(&libs_lock);
        free(lib->kernels);
        free(lib);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    libs = nl;
    libs[nlibs++] = lib;
    pthread_mutex_unlock(&libs_lock);
    pthread_mutex_init(&lib->lock, NULL);
    for (int i = 0; i < lib->nkernels; i++) {
        lib->kernels[i] = (struct sg_kernel_handle){lib, i, -1, -1};
        sg_handle_add(&lib->kernels[i], SG_K_KERNEL);
    }
    sg_handle_add(lib, SG_K_LIBRARY);
    *out = (CUlibrary)lib;
    return CUDA_SUCCESS;
}

CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                           void **jitOptionsValues, unsigned int numJitOptions,
                           CUlibraryOption *libraryOptions, void **libraryOptionValues,
                           unsigned int numLibraryOptions)
{
    if (!library || !code)
        return CUDA_ERROR_INVALID_VALUE;
    if ((numJitOptions && (!jitOptions || !jitOptionsValues))
        || (numLibraryOptions && (!libraryOptions || !libraryOptionValues)))
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < numLibraryOptions; i++)
        if (libraryOptions[i] >= CU_LIBRARY_NUM_OPTIONS)
            return CUDA_ERROR_INVALID_VALUE;
    CUresult r = sg_check_init();
    if (r)
        return r;
    ptx_module *ptx;
    r = sg_image_to_ptx(code, &ptx); /* the parsed form is a copy: the image may go away */
    if (r)
        return r;
    r = library_from_ptx(ptx, library);
    if (r)
        sg_ptx_release(ptx);
    return r;
}

CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName, CUjit_option *jitOptions,
                               void **jitOptionsValues, unsigned int numJitOptions,
                               CUlibraryOption *libraryOptions, void **libraryOptionValues,
                               unsigned int numLibraryOptions)
{
    if (!library || !fileName)
        return CUDA_ERROR_INVALID_VALUE;
    char *data = sg_read_file(fileName, NULL);
    if (!data)
        return CUDA_ERROR_FILE_NOT_FOUND;
    CUresult r = cuLibraryLoadData(library, data, jitOptions, jitOptionsValues, numJitOptions,
                                   libraryOptions, libraryOptionValues, numLibraryOptions);
    free(data);
    return r;
}

CUresult cuLibraryUnload(CUlibrary library)
{
    struct sg_library *lib;
    CUresult r = library_lookup(library, &lib);
    if (r)
        return r;
    sg_handle_del(lib);
    pthread_mutex_lock(&libs_lock);
    for (size_t i = 0; i < nlibs; i++)
        if (libs[i] == lib) {
            libs[i] = libs[--nlibs];
            break;
        }
    pthread_mutex_unlock(&libs_lock);
    for (int i = 0; i < lib->ninstances; i++) {
        struct sg_module *m = lib->instances[i];
        if (lib->instance_gen[i] != m->ctx->generation)
            continue;
        sg_ctx_synchronize(m->ctx); /* launches in flight use the instance */
        sg_module_unlink(m);
        sg_module_destroy(m);
    }
    for (int i = 0; i < lib->nkernels; i++)
        sg_handle_del(&lib->kernels[i]);
    sg_ptx_release(lib->ptx);
    pthread_mutex_destroy(&lib->lock);
    free(lib->instances);
    free(lib->instance_ctx);
    free(lib->instance_gen);
    free(lib->kernels);
    free(lib);
    return CUDA_SUCCESS;
}

/* ---- lookups --------------------------------------------------------------------------------- */

CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
    if (!pKernel || !name)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_library *lib;
    CUresult r = library_lookup(library, &lib);
    if (r)
        return r;
    for (int i = 0; i < lib->nkernels; i++) {
        if (!strcmp(ptx_kernel_name(ptx_module_kernel(lib->ptx, i)), name)) {
            *pKernel = (CUkernel)&lib->kernels[i];
            return CUDA_SUCCESS;
        }
    }
    return sg_kernel_missing(lib->ptx, name);
}

CUresult cuLibraryGetKernelCount(unsigned int *count, CUlibrary library)
{
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_library *lib;
    CUresult r = library_lookup(library, &lib);
    if (!r)
        *count = (unsigned)lib->nkernels;
    return r;
}

CUresult cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels, CUlibrary library)
{
    if (!kernels)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_library *lib;
    CUresult r = library_lookup(library, &lib);
    if (r)
        return r;
    for (unsigned i = 0; i < numKernels && i < (unsigned)lib->nkernels; i++)
        kernels[i] = (CUkernel)&lib->kernels[i];
    return CUDA_SUCCESS;
}

static CUresult current_instance(struct sg_library *lib, struct sg_module **out)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    return r ? r : sg_library_instance(lib, c, out);
}

CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library)
{
    if (!pMod)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_library *lib;
    struct sg_module *m;
    CUresult r = library_lookup(library, &lib);
    if (!r)
        r = current_instance(lib, &m);
    if (!r)
        *pMod = (CUmodule)m;
    return r;
}

CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
    struct sg_library *lib;
    struct sg_module *m;
    CUresult r = library_lookup(library, &lib);
    if (!r)
        r = current_instance(lib, &m);
    return r ? r : sg_module_global(m, name, dptr, bytes);
}

/* Module globals live in memory the host can address directly (unified addressing), which is
 * what a __managed__ variable is; the per-context instance holds it. */
CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
    return cuLibraryGetGlobal(dptr, bytes, library, name);
}

CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
    if (!pFunc)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_kernel_handle *k;
    struct sg_module *m;
    CUresult r = kernel_lookup(kernel, &k);
    if (!r)
        r = current_instance(k->library, &m);
    if (!r)
        *pFunc = (CUfunction)&m->funcs[k->index];
    return r;
}

CUresult cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel)
{
    if (!pLib)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_kernel_handle *k;
    CUresult r = kernel_lookup(kernel, &k);
    if (!r)
        *pLib = (CUlibrary)k->library;
    return r;
}

CUresult cuKernelGetName(const char **name, CUkernel hfunc)
{
    if (!name)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_kernel_handle *k;
    CUresult r = kernel_lookup(hfunc, &k);
    if (!r)
        *name = ptx_kernel_name(ptx_module_kernel(k->library->ptx, k->index));
    return r;
}

CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset,
                              size_t *paramSize)
{
    struct sg_kernel_handle *k;
    CUresult r = kernel_lookup(kernel, &k);
    return r ? r
             : sg_param_info(ptx_module_kernel(k->library->ptx, k->index), paramIndex, paramOffset,
                             paramSize);
}

CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_kernel_handle *k;
    CUresult r = kernel_lookup(kernel, &k);
    if (!r)
        r = sg_device_check(dev);
    if (r)
        return r;
    const ptx_kernel *pk = ptx_module_kernel(k->library->ptx, k->index);
    int max_dyn = k->max_dynamic_shared;
    if (max_dyn < 0) {
        struct ptx_kernel_attrs a;
        ptx_kernel_get_attrs(pk, &a);
        max_dyn = (int)(SG_SHARED_DEFAULT > a.static_shared_bytes
                            ? SG_SHARED_DEFAULT - a.static_shared_bytes : 0);
    }
    return sg_func_attribute(k->library->ptx, pk, max_dyn, k->preferred_carveout, attrib, pi);
}

CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
    struct sg_kernel_handle *k;
    CUresult r = kernel_lookup(kernel, &k);
    if (!r)
        r = sg_device_check(dev);
    if (!r)
        r = sg_func_attribute_check(ptx_module_kernel(k->library->ptx, k->index), attrib, val);
    if (r)
        return r;
    struct sg_library *lib = k->library;
    pthread_mutex_lock(&lib->lock);
    if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
        k->max_dynamic_shared = val;
    else if (attrib == CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)
        k->preferred_carveout = val;
    /* existing instances on that device follow, as new ones will */
    for (int i = 0; i < lib->ninstances; i++) {
        struct sg_func *f = &lib->instances[i]->funcs[k->index];
        if (lib->instance_ctx[i]->dev->ordinal != dev)
            continue;
        if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
            f->max_dynamic_shared = val;
        else if (attrib == CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)
            f->preferred_carveout = val;
    }
    pthread_mutex_unlock(&lib->lock);
    return CUDA_SUCCESS;
}

CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
    struct sg_kernel_handle *k;
    CUresult r = kernel_lookup(kernel, &k);
    if (!r)
        r = sg_device_check(dev);
    if (r)
        return r;
    return (unsigned)config <= CU_FUNC_CACHE_PREFER_EQUAL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
