/*
 * Names and listings in the program's process: cuFuncGetName and cuKernelGetName hand out a
 * pointer the driver keeps as long as the module; the stub asks the worker once per function
 * (tfi_name) and keeps the name for the program's life. The listings of a module's functions
 * and a library's kernels come from tfi_enumerate.
 * May call: entry.c (tfi_name, tfi_enumerate).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

struct name {
    CUfunction f;
    struct name *next;
    char text[];
};

static struct name *names;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static CUresult name_of(CUfunction f, const char **out)
{
    if (!out || !f)
        return !out ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&lock);
    for (struct name *n = names; n; n = n->next)
        if (n->f == f) {
            *out = n->text;
            pthread_mutex_unlock(&lock);
            return CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&lock);
    char *buf = malloc(TFP_MAX_STRING);
    if (!buf)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = tfi_name(f, buf);
    struct name *n = r == CUDA_SUCCESS ? malloc(sizeof *n + strlen(buf) + 1) : NULL;
    if (r == CUDA_SUCCESS && !n)
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (n) {
        n->f = f;
        strcpy(n->text, buf);
        pthread_mutex_lock(&lock);
        n->next = names;
        names = n;
        pthread_mutex_unlock(&lock);
        *out = n->text;
    }
    free(buf);
    return r;
}

CUresult CUDAAPI cuFuncGetName(const char **name, CUfunction hfunc)
{
    return name_of(hfunc, name);
}

CUresult CUDAAPI cuKernelGetName(const char **name, CUkernel hfunc)
{
    return name_of((CUfunction)hfunc, name);
}

CUresult CUDAAPI cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions,
                                            CUmodule mod)
{
    if (!functions || !numFunctions)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_enumerate((uint64_t)(uintptr_t)mod, 0, numFunctions, functions);
}

CUresult CUDAAPI cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels,
                                           CUlibrary lib)
{
    if (!kernels || !numKernels)
        return CUDA_ERROR_INVALID_VALUE;
    return tfi_enumerate((uint64_t)(uintptr_t)lib, 1, numKernels, kernels);
}
