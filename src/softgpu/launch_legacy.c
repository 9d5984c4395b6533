/*
 * The pre-CUDA-4 execution-control API: cuFuncSetBlockShape, cuFuncSetSharedSize,
 * cuParamSetSize/Seti/Setf/Setv, cuLaunch, cuLaunchGrid, cuLaunchGridAsync and
 * cuParamSetTexRef. Each function handle keeps a block shape, a dynamic shared-memory size and
 * a parameter buffer set piece by piece; a launch passes that buffer to cuLaunchKernel through
 * CU_LAUNCH_PARAM_BUFFER_POINTER (launch.c checks it against the kernel's parameter layout).
 * cuParamSetTexRef checks its texture reference, which its module binds (texref.c).
 * Calls module.c (function resolution) and launch.c.
 */
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

#define LEGACY_PARAM_MAX 4096 /* the old API's parameter space */

struct legacy_state {
    CUfunction func;
    int block[3];
    unsigned shared;
    unsigned param_size;
    unsigned char params[LEGACY_PARAM_MAX];
    struct legacy_state *next;
};

static pthread_mutex_t legacy_lock = PTHREAD_MUTEX_INITIALIZER;
static struct legacy_state *states;

/* legacy_lock held: the state of f, created with a 1x1x1 block on first use. */
static struct legacy_state *state_of(CUfunction f)
{
    for (struct legacy_state *s = states; s; s = s->next)
        if (s->func == f)
            return s;
    struct legacy_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->func = f;
    s->block[0] = s->block[1] = s->block[2] = 1;
    s->next = states;
    states = s;
    return s;
}

/* Runs edit on f's state under the lock, once f is known to be a function. */
static CUresult edit_state(CUfunction f, CUresult (*edit)(struct legacy_state *, const void *),
                           const void *arg)
{
    struct sg_func *fn;
    CUresult r = sg_func_resolve(f, &fn);
    if (r)
        return r;
    pthread_mutex_lock(&legacy_lock);
    struct legacy_state *s = state_of(f);
    r = s ? edit(s, arg) : CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_unlock(&legacy_lock);
    return r;
}

static CUresult set_block(struct legacy_state *s, const void *arg)
{
    const int *xyz = arg;
    if (xyz[0] <= 0 || xyz[1] <= 0 || xyz[2] <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    memcpy(s->block, xyz, sizeof s->block);
    return CUDA_SUCCESS;
}

CUresult cuFuncSetBlockShape(CUfunction hfunc, int x, int y, int z)
{
    int xyz[3] = {x, y, z};
    return edit_state(hfunc, set_block, xyz);
}

static CUresult set_shared(struct legacy_state *s, const void *arg)
{
    s->shared = *(const unsigned *)arg;
    return CUDA_SUCCESS;
}

CUresult cuFuncSetSharedSize(CUfunction hfunc, unsigned int bytes)
{
    return edit_state(hfunc, set_shared, &bytes);
}

static CUresult set_size(struct legacy_state *s, const void *arg)
{
    unsigned n = *(const unsigned *)arg;
    if (n > LEGACY_PARAM_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    s->param_size = n;
    return CUDA_SUCCESS;
}

CUresult cuParamSetSize(CUfunction hfunc, unsigned int numbytes)
{
    return edit_state(hfunc, set_size, &numbytes);
}

struct param_bytes {
    int offset;
    const void *src;
    unsigned len;
};

static CUresult set_bytes(struct legacy_state *s, const void *arg)
{
    const struct param_bytes *p = arg;
    if (p->offset < 0 || !p->src || (unsigned)p->offset + p->len > LEGACY_PARAM_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    memcpy(s->params + p->offset, p->src, p->len);
    return CUDA_SUCCESS;
}

CUresult cuParamSeti(CUfunction hfunc, int offset, unsigned int value)
{
    struct param_bytes p = {offset, &value, sizeof value};
    return edit_state(hfunc, set_bytes, &p);
}

CUresult cuParamSetf(CUfunction hfunc, int offset, float value)
{
    struct param_bytes p = {offset, &value, sizeof value};
    return edit_state(hfunc, set_bytes, &p);
}

CUresult cuParamSetv(CUfunction hfunc, int offset, void *ptr, unsigned int numbytes)
{
    struct param_bytes p = {offset, ptr, numbytes};
    return edit_state(hfunc, set_bytes, &p);
}

/* Since CUDA 3.2 a texture reference is its module's and bound by it (texref.c): the only unit
 * is CU_PARAM_TR_DEFAULT, and naming the reference for the launch adds nothing to it. */
CUresult cuParamSetTexRef(CUfunction hfunc, int texunit, CUtexref hTexRef)
{
    struct sg_func *fn;
    CUresult r = sg_func_resolve(hfunc, &fn);
    if (r)
        return r;
    if (texunit != CU_PARAM_TR_DEFAULT)
        return CUDA_ERROR_INVALID_VALUE;
    return sg_handle_is(hTexRef, SG_K_TEXREF) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult launch_legacy(CUfunction f, int gw, int gh, CUstream stream)
{
    if (gw <= 0 || gh <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *fn;
    CUresult r = sg_func_resolve(f, &fn);
    if (r)
        return r;
    struct legacy_state copy;
    pthread_mutex_lock(&legacy_lock);
    struct legacy_state *s = state_of(f);
    if (s)
        memcpy(&copy, s, sizeof copy);
    pthread_mutex_unlock(&legacy_lock);
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t size = copy.param_size;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, copy.params, CU_LAUNCH_PARAM_BUFFER_SIZE,
                     &size, CU_LAUNCH_PARAM_END};
    return cuLaunchKernel(f, (unsigned)gw, (unsigned)gh, 1, (unsigned)copy.block[0],
                          (unsigned)copy.block[1], (unsigned)copy.block[2], copy.shared, stream,
                          NULL, extra);
}

CUresult cuLaunch(CUfunction f) { return launch_legacy(f, 1, 1, NULL); }

CUresult cuLaunchGrid(CUfunction f, int grid_width, int grid_height)
{
    return launch_legacy(f, grid_width, grid_height, NULL);
}

CUresult cuLaunchGridAsync(CUfunction f, int grid_width, int grid_height, CUstream hStream)
{
    return launch_legacy(f, grid_width, grid_height, hStream);
}
