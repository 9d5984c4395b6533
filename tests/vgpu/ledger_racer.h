/*
 * The step of a process racing on a vGPU ledger, shared by test_vgpu_ledger.c (racers against
 * a fixed limit) and test_vgpu_resize.c (racers while the limit moves): reserve `size` bytes,
 * or release one of the blocks held, by the random word x.
 */
#ifndef TFUSE_TESTS_LEDGER_RACER_H
#define TFUSE_TESTS_LEDGER_RACER_H

#include <errno.h>
#include <stdint.h>

#include "vgpu_mem.h"

#define RACER_BLOCKS 64

struct racer_state {
    uint64_t held[RACER_BLOCKS];
    int nheld;
    uint64_t mine;   /* what this process holds, as it counts it */
};

/* Returns 0, 11 when a reservation failed for another reason than no room, 12 when a
 * release of a block held was refused. */
static inline int racer_step(struct vgpu_mem_client *c, struct racer_state *st, unsigned x,
                             uint64_t size)
{
    if (st->nheld < RACER_BLOCKS && (x & 1)) {
        int rc = vgpu_mem_reserve(c, size);
        if (rc == 0) {
            st->held[st->nheld++] = size;
            st->mine += size;
        } else if (rc != -ENOMEM) {
            return 11;
        }
    } else if (st->nheld > 0) {
        int k = (int)((x >> 1) % (unsigned)st->nheld);
        if (vgpu_mem_release(c, st->held[k]) != 0)
            return 12;
        st->mine -= st->held[k];
        st->held[k] = st->held[--st->nheld];
    }
    return 0;
}

#endif
