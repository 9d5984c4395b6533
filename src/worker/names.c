/*
 * Names and listings of what the session loaded: the name of a function or kernel (tfi_name),
 * and the functions of a module or kernels of a library (tfi_enumerate), each recorded as the
 * session's, a child of its module or library, so that later requests may name it.
 * May call: the session's records (worker.c, session.c), the backend table.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker_int.h"

CUresult tfw_tfi_name(CUfunction func, void *name)
{
    struct tfw_session *s = tfw_self;
    const char *n = NULL;
    int kernel = tfw_handles_kind(&s->handles, (uint64_t)(uintptr_t)func) == TFW_K_KERN;
    CUresult r = CUDA_ERROR_NOT_SUPPORTED;
    if (kernel && s->be.cuKernelGetName)
        r = s->be.cuKernelGetName(&n, (CUkernel)func);
    else if (!kernel && s->be.cuFuncGetName)
        r = s->be.cuFuncGetName(&n, func);
    if (r == CUDA_SUCCESS) {
        size_t len = n ? strnlen(n, TFP_MAX_STRING - 1) : 0;
        memcpy(name, n ? n : "", len);
        ((char *)name)[len] = '\0';
    }
    return r;
}

CUresult tfw_tfi_enumerate(uint64_t owner, unsigned int library, unsigned int count,
                           void *handles)
{
    struct tfw_session *s = tfw_self;
    CUresult r = tfw_check_handle(s, library ? TFW_K_LIB : TFW_K_MOD, owner);
    if (r != CUDA_SUCCESS || !owner)
        return r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_HANDLE;
    if (library ? !s->be.cuLibraryEnumerateKernels : !s->be.cuModuleEnumerateFunctions)
        return CUDA_ERROR_NOT_SUPPORTED;
    void **list = count ? calloc(count, sizeof *list) : NULL;
    if (count && !list)
        return CUDA_ERROR_OUT_OF_MEMORY;
    r = library ? s->be.cuLibraryEnumerateKernels((CUkernel *)list, count,
                                                   (CUlibrary)(uintptr_t)owner)
                : s->be.cuModuleEnumerateFunctions((CUfunction *)list, count,
                                                    (CUmodule)(uintptr_t)owner);
    for (unsigned i = 0; r == CUDA_SUCCESS && i < count; i++) {
        uint64_t key = (uint64_t)(uintptr_t)list[i];
        if (key && tfw_handles_kind(&s->handles, key) == TFW_K_NONE &&
            tfw_handles_add_child(&s->handles, key, library ? TFW_K_KERN : TFW_K_FUNC, owner) != 0)
            tf_error("out of memory recording a function: the session will refuse it");
        memcpy((uint8_t *)handles + i * sizeof key, &key, sizeof key);
    }
    free(list);
    return r;
}
