/*
 * Live resize of a vGPU (vgpu_region.h: vgpu_resize_prepare / finish): a new memory limit,
 * compute request and limit, and QoS for a LIVE slot whose processes keep running. The
 * ledger's side (an admission limit that no racing reservation can pass, old or new) is in
 * vgpu_mem.c; this file orders the steps so that the device-wide memory sum always covers
 * the larger of the old and new limits while a change is undecided, and so that undoing a
 * change (a failed save on the node) can never fail: a larger limit admits allocations only
 * once it is kept, a smaller one is refunded to the device only once it is kept.
 *
 * Compute and QoS are read by the controller (under the node's lock, which the resize holds)
 * and by workers per launch; an unlimited vGPU made limited is stored request and limit
 * first, then the flag, so a launch that sees the flag sees the limit.
 *
 * Owns: the resize protocol. May call: vgpu_region, vgpu_mem, vgpu_parse (sizes in messages).
 */
#include "vgpu_mem.h"
#include "vgpu_err.h"
#include "vgpu_region.h"

#include <errno.h>
#include <string.h>

int vgpu_spec_of(const struct vgpu_region *r, int slot, struct vgpu_spec *out)
{
    struct vgpu_slot *s = vgpu_slot_at(r, slot);
    if (!s || atomic_load(&s->state) != VGPU_SLOT_LIVE)
        return -ENOENT;
    int unlimited = (int)atomic_load(&s->compute_unlimited);
    *out = (struct vgpu_spec){
        .mem_limit = vgpu_mem_limit(s),
        .request_bp = unlimited ? 0 : atomic_load(&s->request_bp),
        .limit_bp = unlimited ? 0 : atomic_load(&s->limit_bp),
        .qos = (int)atomic_load(&s->qos),
    };
    return 0;
}

/* Compute and QoS as described by spec (limit 0: the request; request 0: unlimited). */
static void set_compute(struct vgpu_slot *s, const struct vgpu_spec *spec)
{
    atomic_store(&s->qos, (uint32_t)spec->qos);
    if (spec->request_bp == 0) {
        atomic_store(&s->compute_unlimited, 1);
        atomic_store(&s->request_bp, 0);
        atomic_store(&s->limit_bp, 0);
        return;
    }
    atomic_store(&s->request_bp, spec->request_bp);
    atomic_store(&s->limit_bp, spec->limit_bp ? spec->limit_bp : spec->request_bp);
    atomic_store(&s->compute_unlimited, 0);
}

static int shrink_refused(struct vgpu_slot *s, uint64_t asked, uint64_t used, char *err,
                          size_t errlen)
{
    char u[32], a[32];
    vgpu_format_size(used, u, sizeof u);
    vgpu_format_size(asked, a, sizeof a);
    vgpu_fail(err, errlen, "vGPU '%s' has %s (%llu bytes) in use; a memory limit of %s (%llu "
              "bytes) would be below it: free memory first, or ask for at least what is in use",
              s->id, u, (unsigned long long)used, a, (unsigned long long)asked);
    return -EBUSY;
}

int vgpu_resize_prepare(struct vgpu_region *r, int slot, const struct vgpu_spec *to,
                        struct vgpu_spec *from, uint64_t *used, char *err, size_t errlen)
{
    struct vgpu_slot *s = vgpu_slot_at(r, slot);
    if (used)
        *used = 0;
    if (!s || vgpu_spec_of(r, slot, from) != 0) {
        vgpu_fail(err, errlen, "no live vGPU in slot %d", slot);
        return -ENOENT;
    }
    struct vgpu_spec want = *to;
    want.id = NULL;
    if (vgpu_spec_validate(&want, err, errlen) != 0)
        return -EINVAL;
    uint64_t old = from->mem_limit, new = want.mem_limit;
    if (new > old) {
        if (vgpu_region_charge_sum(r->hdr, new - old, err, errlen) != 0)
            return -ENOSPC;
        atomic_store(&s->mem_limit, new);   /* the view; admission waits for finish */
    } else if (new < old) {
        uint64_t in_use = 0;
        if (vgpu_mem_lower_admit(s, new, &in_use) != 0) {
            if (used)
                *used = in_use;
            return shrink_refused(s, new, in_use, err, errlen);
        }
        atomic_store(&s->mem_limit, new);
        if (used)
            *used = in_use;
    }
    if (used && new >= old)
        *used = vgpu_mem_used(s);
    set_compute(s, &want);
    return 0;
}

void vgpu_resize_finish(struct vgpu_region *r, int slot, const struct vgpu_spec *from,
                        const struct vgpu_spec *to, int keep)
{
    struct vgpu_slot *s = vgpu_slot_at(r, slot);
    if (!s)
        return;
    uint64_t old = from->mem_limit, new = to->mem_limit;
    if (keep) {
        if (new > old)
            vgpu_mem_raise_admit(s, new);
        else if (new < old)
            atomic_fetch_sub(&r->hdr->mem_limit_sum, old - new);
        return;
    }
    /* Undo: admission never passed min(old, new) + what was in use, so old always holds. */
    set_compute(s, from);
    atomic_store(&s->mem_limit, old);
    if (new > old)
        atomic_fetch_sub(&r->hdr->mem_limit_sum, new - old);
    else if (new < old)
        vgpu_mem_raise_admit(s, old);
}

int vgpu_resize(struct vgpu_region *r, int slot, const struct vgpu_spec *to, uint64_t *used,
                char *err, size_t errlen)
{
    struct vgpu_spec from;
    int rc = vgpu_resize_prepare(r, slot, to, &from, used, err, errlen);
    if (rc == 0)
        vgpu_resize_finish(r, slot, &from, to, 1);
    return rc;
}
