/*
 * Links (tfi_link_*): the backend's linker run for the session. The program's inputs arrive as
 * bytes; the linked image stays with its link until the program has fetched it (the image is
 * the driver's memory and lives until cuLinkDestroy), so the first tfi_link_complete runs the
 * backend's cuLinkComplete and says how big the image is, the second copies it out.
 * Owns: the session's completed links. May call: the backend table.
 */
#include <string.h>

#include "worker_int.h"

#define LINKS_MAX 16   /* completed links a session holds at once */

static struct done {
    CUlinkState state;
    void *image;
    size_t size;
} done[LINKS_MAX];

static struct done *done_of(CUlinkState state)
{
    for (int i = 0; i < LINKS_MAX; i++)
        if (done[i].state == state)
            return &done[i];
    return NULL;
}

CUresult tfw_tfi_link_create(CUlinkState *state)
{
    struct tfw_session *s = tfw_self;
    return s->be.cuLinkCreate_v2 ? s->be.cuLinkCreate_v2(0, NULL, NULL, state)
                                 : CUDA_ERROR_NOT_SUPPORTED;
}

CUresult tfw_tfi_link_add(CUlinkState state, unsigned int type, uint64_t size, const void *data,
                          const char *name)
{
    struct tfw_session *s = tfw_self;
    if (!state)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!s->be.cuLinkAddData_v2)
        return CUDA_ERROR_NOT_SUPPORTED;
    return s->be.cuLinkAddData_v2(state, (CUjitInputType)type, (void *)data, size, name, 0, NULL,
                                  NULL);
}

CUresult tfw_tfi_link_complete(CUlinkState state, uint64_t capacity, uint64_t *size, void *image)
{
    struct tfw_session *s = tfw_self;
    struct done *d = state ? done_of(state) : NULL;
    if (!state)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!d) {
        struct done *slot = done_of(NULL);
        if (!slot)
            return CUDA_ERROR_OUT_OF_MEMORY;
        if (!s->be.cuLinkComplete)
            return CUDA_ERROR_NOT_SUPPORTED;
        CUresult r = s->be.cuLinkComplete(state, &slot->image, &slot->size);
        if (r != CUDA_SUCCESS)
            return r;
        slot->state = state;
        d = slot;
    }
    *size = d->size;
    if (capacity >= d->size && image)
        memcpy(image, d->image, d->size);
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_link_destroy(CUlinkState state)
{
    struct tfw_session *s = tfw_self;
    struct done *d = state ? done_of(state) : NULL;
    if (d)
        *d = (struct done){0};
    return s->be.cuLinkDestroy ? s->be.cuLinkDestroy(state) : CUDA_ERROR_NOT_SUPPORTED;
}
