/*
 * cuGetErrorName and cuGetErrorString for every CUresult in cuda.h (table: errors.def).
 * Calls nothing.
 */
#include "softgpu.h"

struct error_entry {
    CUresult code;
    const char *name;
    const char *text;
};

static const struct error_entry errors[] = {
#define SG_ERROR(name, text) {name, #name, text},
#include "errors.def"
#undef SG_ERROR
};

static const struct error_entry *find_error(CUresult code)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == code)
            return &errors[i];
    return NULL;
}

CUresult cuGetErrorName(CUresult error, const char **pStr)
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    const struct error_entry *e = find_error(error);
    *pStr = e ? e->name : NULL;
    return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **pStr)
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    const struct error_entry *e = find_error(error);
    *pStr = e ? e->text : NULL;
    return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
