/*
 * cuGetErrorName and cuGetErrorString for every CUresult in cuda.h, from errors.def: the same
 * answers in the stub and in softgpu, both of which compile this file.
 * Calls nothing.
 */
#include <stddef.h>

#include <cuda.h>

static const struct {
    CUresult code;
    const char *name, *text;
} errors[] = {
#define DK_ERROR(name, text) {name, #name, text},
#include "errors.def"
#undef DK_ERROR
};

/* Answers cuGetErrorName (want_text 0) and cuGetErrorString (1) from the one table. */
static CUresult error_lookup(CUresult error, int want_text, const char **pStr)
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == error) {
            *pStr = want_text ? errors[i].text : errors[i].name;
            return CUDA_SUCCESS;
        }
    *pStr = NULL;
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr)
{
    return error_lookup(error, 0, pStr);
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr)
{
    return error_lookup(error, 1, pStr);
}
