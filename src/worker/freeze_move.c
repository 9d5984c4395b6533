/*
 * Migration's memory moves (freeze.h: tfw_freeze_owns, tfw_freeze_move; docs/freeze.md
 * "Migration"): a session's freezable allocations go to another device under the same
 * reservations, device to device when the devices allow it, else through host memory the
 * freeze path's way (freeze.c).
 *
 * Owns: nothing of its own (the table is freeze.c's). May call: freeze_int.h, freeze.h,
 * enforce_int.h (the backend's saved entries), log.h, libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "enforce_int.h"
#include "freeze.h"
#include "freeze_int.h"
#include "log.h"
#include "worker_int.h"

void tfw_freeze_set_charged(struct tfw_session *s, uint64_t chunk, uint64_t charged)
{
    struct fz_alloc *a = tfw_fz_find(s->fz, chunk);
    if (a)
        a->charged = charged;
}

int tfw_freeze_owns(struct tfw_session *s, uint64_t p)
{
    /* a small allocation at its chunk's address is not one (it cannot move alone) */
    return tfw_fz_find(s->fz, p) != NULL && !tfw_freeze_small_owns(p);
}

/* Device to device (direct): a's bytes copied into new physical memory on `to`, mapped at a
 * temporary reservation t (a stays as it was). The old mapping is opened to `to` first: on
 * NVIDIA that needs peer access between the two devices, and without it this fails. */
static CUresult copy_across(struct tfw_limits *L, struct fz_alloc *a, int to, struct fz_alloc *t)
{
    const struct tf_backend *b = &L->orig;
    CUmemAccessDesc acc[2] = {
        {.location = {CU_MEM_LOCATION_TYPE_DEVICE, a->device},
         .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE},
        {.location = {CU_MEM_LOCATION_TYPE_DEVICE, to},
         .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE},
    };
    CUdeviceptr va = 0;
    *t = *a;
    t->device = to;
    t->h = 0;
    CUresult r = b->cuMemcpyDtoD_v2 ? b->cuMemSetAccess(a->ptr, a->span, acc, 2)
                                    : CUDA_ERROR_NOT_SUPPORTED;
    if (r == CUDA_SUCCESS)
        r = b->cuMemAddressReserve(&va, a->span, 0, 0, 0);
    if (r != CUDA_SUCCESS)
        return r;
    t->ptr = va;
    if ((r = tfw_fz_map_phys(L, t)) == CUDA_SUCCESS &&
        (r = b->cuMemcpyDtoD_v2(t->ptr, a->ptr, a->size)) == CUDA_SUCCESS)
        return CUDA_SUCCESS;
    if (t->h)
        tfw_fz_unmap_phys(L, t);
    b->cuMemAddressFree(va, a->span);
    return r;
}

static void drop_across(struct tfw_limits *L, struct fz_alloc *t)
{
    tfw_fz_unmap_phys(L, t);
    L->orig.cuMemAddressFree(t->ptr, t->span);
}

/* The new memory t takes a's place under a's reservation; the old memory goes. */
static void swap_in(struct tfw_limits *L, struct fz_alloc *a, struct fz_alloc *t)
{
    const struct tf_backend *b = &L->orig;
    CUmemAccessDesc acc = {.location = {CU_MEM_LOCATION_TYPE_DEVICE, t->device},
                           .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    tfw_fz_unmap_phys(L, a);
    b->cuMemUnmap(t->ptr, t->span);
    b->cuMemAddressFree(t->ptr, t->span);
    CUresult r = b->cuMemMap(a->ptr, a->span, 0, t->h, 0);
    if (r == CUDA_SUCCESS)
        r = b->cuMemSetAccess(a->ptr, a->span, &acc, 1);
    if (r != CUDA_SUCCESS)   /* the reservation was just unmapped: not expected to fail */
        tf_error("migration: 0x%llx could not be mapped again (error %d): its bytes are lost",
                 (unsigned long long)a->ptr, (int)r);
    a->h = t->h;
    a->device = t->device;
}

/* Every allocation copied device to device, then swapped in: all or nothing. */
static CUresult move_direct(struct tfw_session *s, int to)
{
    struct tfw_freeze *f = s->fz;
    struct fz_alloc *t = calloc(f->n ? f->n : 1, sizeof *t);
    CUresult r = t ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    size_t done = 0;
    for (; done < f->n && r == CUDA_SUCCESS; done++)
        if ((r = copy_across(s->lim, &f->a[done], to, &t[done])) != CUDA_SUCCESS)
            break;
    for (size_t i = 0; i < f->n && r == CUDA_SUCCESS; i++)
        swap_in(s->lim, &f->a[i], &t[i]);
    for (size_t i = 0; r != CUDA_SUCCESS && i < done; i++)
        drop_across(s->lim, &t[i]);
    free(t);
    return r;
}

/* Through host memory: the freeze's image, then a resume on `to`. */
static CUresult move_via_host(struct tfw_session *s, int to, CUcontext to_ctx, char *err,
                              size_t elen)
{
    struct tfw_freeze *f = s->fz;
    const struct tf_backend *b = &s->lim->orig;
    CUresult r = tfw_fz_freeze(s, 0, err, elen);
    if (r != CUDA_SUCCESS)
        return r;
    int from = f->n ? f->a[0].device : to;
    for (size_t i = 0; i < f->n; i++)
        f->a[i].device = to;
    b->cuCtxSetCurrent(to_ctx);
    r = tfw_fz_resume(s, err, elen);
    if (r != CUDA_SUCCESS) {   /* back where it was */
        char again[256];
        for (size_t i = 0; i < f->n; i++)
            f->a[i].device = from;
        b->cuCtxSetCurrent(s->current);
        if (tfw_fz_resume(s, again, sizeof again) != CUDA_SUCCESS) {
            tf_error("session %d: stays frozen after a failed migration (%s): its next call "
                     "resumes it", (int)getpid(), again);
            tfw_fz_publish(f);
        }
    }
    return r;
}

CUresult tfw_freeze_move(struct tfw_session *s, int to, CUcontext to_ctx, char *err, size_t elen)
{
    struct tfw_freeze *f = s->fz;
    const struct tf_backend *b = &s->lim->orig;
    if (f->frozen) {
        snprintf(err, elen, "the session is frozen: resume it first");
        return CUDA_ERROR_NOT_PERMITTED;
    }
    CUresult r = tfw_fz_drain(s, s->lim);   /* failed queued work refuses (and is held) */
    if (r != CUDA_SUCCESS) {
        snprintf(err, elen, "its queued work failed (error %d)", (int)r);
        return r;
    }
    f->moving = 1;   /* the node makes room on the session's old device, not on `to` */
    b->cuCtxSetCurrent(to_ctx);
    r = getenv("TFUSE_MIGRATE_VIA_HOST") ? CUDA_ERROR_NOT_SUPPORTED : move_direct(s, to);
    if (r != CUDA_SUCCESS)   /* no peer access, or no room for both copies: one at a time */
        r = move_via_host(s, to, to_ctx, err, elen);
    f->moving = 0;
    b->cuCtxSetCurrent(s->current);
    return r;
}
