/*
 * Linking in the program's process: cuLink* send their inputs to the worker as bytes (a file is
 * read here), and cuLinkComplete brings the linked image back into memory the stub keeps with
 * the link until cuLinkDestroy, as the driver keeps its own. JIT options are not forwarded; the
 * log buffers they name are reported empty.
 * May call: entry.c (tfi_link_*), custom.c (tfs_clear_jit_logs).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "stub.h"

struct image {
    CUlinkState state;
    void *bytes;
    struct image *next;
};

static struct image *images;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

CUresult CUDAAPI cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options,
                                 void **optionValues, CUlinkState *stateOut)
{
    if (!stateOut || (numOptions && (!options || !optionValues)))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfi_link_create(stateOut);
    if (r == CUDA_SUCCESS)
        tfs_clear_jit_logs(numOptions, options, optionValues);
    return r;
}

CUresult CUDAAPI cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size,
                                  const char *name, unsigned int numOptions, CUjit_option *options,
                                  void **optionValues)
{
    if (!data || !size)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = tfi_link_add(state, (unsigned)type, size, data, name ? name : "");
    if (r == CUDA_SUCCESS)
        tfs_clear_jit_logs(numOptions, options, optionValues);
    return r;
}

CUresult CUDAAPI cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path,
                                  unsigned int numOptions, CUjit_option *options,
                                  void **optionValues)
{
    if (!path)
        return CUDA_ERROR_INVALID_VALUE;
    FILE *f = fopen(path, "rb");
    if (!f)
        return CUDA_ERROR_FILE_NOT_FOUND;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size)) && fread(buf, 1, (size_t)size, f) != (size_t)size)
        size = -1;
    fclose(f);
    CUresult r = size > 0 && buf ? cuLinkAddData_v2(state, type, buf, (size_t)size, path,
                                                    numOptions, options, optionValues)
                                 : CUDA_ERROR_INVALID_SOURCE;
    free(buf);
    return r;
}

CUresult CUDAAPI cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
    if (!cubinOut || !sizeOut)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t size = 0, again = 0;
    CUresult r = tfi_link_complete(state, 0, &size, NULL);
    struct image *im = r == CUDA_SUCCESS ? calloc(1, sizeof *im) : NULL;
    void *bytes = im ? malloc(size ? size : 1) : NULL;
    if (r == CUDA_SUCCESS && !bytes)
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS)
        r = tfi_link_complete(state, size, &again, bytes);
    if (r != CUDA_SUCCESS || again != size) {
        free(bytes);
        free(im);
        return r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_VALUE;
    }
    *im = (struct image){state, bytes, NULL};
    pthread_mutex_lock(&lock);
    im->next = images;
    images = im;
    pthread_mutex_unlock(&lock);
    *cubinOut = bytes;
    *sizeOut = size;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLinkDestroy(CUlinkState state)
{
    CUresult r = tfi_link_destroy(state);
    pthread_mutex_lock(&lock);
    for (struct image **at = &images; *at;) {
        struct image *im = *at;
        if (im->state == state) {
            *at = im->next;
            free(im->bytes);
            free(im);
        } else {
            at = &im->next;
        }
    }
    pthread_mutex_unlock(&lock);
    return r;
}

/* The CUDA 5.5 ABIs: the same calls. */
CUresult CUDAAPI cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                              CUlinkState *stateOut);
CUresult CUDAAPI cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                              CUlinkState *stateOut)
{
    return cuLinkCreate_v2(numOptions, options, optionValues, stateOut);
}

CUresult CUDAAPI cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
                               const char *name, unsigned int numOptions, CUjit_option *options,
                               void **optionValues);
CUresult CUDAAPI cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
                               const char *name, unsigned int numOptions, CUjit_option *options,
                               void **optionValues)
{
    return cuLinkAddData_v2(state, type, data, size, name, numOptions, options, optionValues);
}

CUresult CUDAAPI cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
                               unsigned int numOptions, CUjit_option *options, void **optionValues);
CUresult CUDAAPI cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
                               unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    return cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}
