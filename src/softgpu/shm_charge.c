/*
 * The shared device's memory counter and process slots (shm_stats.h), lock-free. Linked into
 * both the driver (charging allocations) and the NVML library (reaping, reading). Calls
 * shm_map.c for process identities.
 *
 * Why a protocol and not two counters: a process killed between adding to the device's counter
 * and to its slot's would leave units no reaper can find. Here the device word names the slot
 * of the last operation and a sequence number, and the slot's amount sits in `pending` before
 * the word is CASed; whoever next reads the word first applies that operation to the slot (a
 * CAS on the slot's charge word, which carries the sequence of the last operation applied, so
 * it is applied once). An operation is therefore in both counters or in neither, at every
 * instant, and a dead slot's units are exactly its share of the device word.
 */
#include <stdint.h>
#include <time.h>

#include "shm_stats.h"

static uint64_t word_used(uint64_t w) { return w >> SG_SHM_USED_SHIFT; }
static unsigned word_writer(uint64_t w) { return (unsigned)(w >> SG_SHM_SEQ_BITS) & 0xff; }
static uint64_t charge_units(uint64_t c) { return c >> SG_SHM_SEQ_BITS; }

/* Applies the operation the device word w names to its slot, unless that is done. */
static void help(struct sg_shm_file *f, uint64_t w)
{
    unsigned writer = word_writer(w);
    if (!writer || writer > SG_SHM_SLOTS)
        return;
    struct sg_shm_slot *s = &f->slots[writer - 1];
    uint64_t seq = w & SG_SHM_SEQ_MASK;
    uint64_t c = atomic_load(&s->charge);
    while ((c & SG_SHM_SEQ_MASK) != seq) {
        /* pending is rewritten only after the slot's previous operation was applied, which
         * changes c: a stale read here makes the CAS fail */
        int64_t units = (int64_t)charge_units(c) + atomic_load(&s->pending);
        uint64_t next = (uint64_t)(units < 0 ? 0 : units) << SG_SHM_SEQ_BITS | seq;
        if (atomic_compare_exchange_weak(&s->charge, &c, next))
            break;
    }
}

/* The one writer of slot's operations (its owner, or its one reaper) changes its charge. */
static int charge(struct sg_shm_file *f, int slot, int64_t units)
{
    uint64_t cap = f->capacity >> SG_SHM_UNIT_SHIFT;
    struct sg_shm_slot *s = &f->slots[slot];
    uint64_t w = atomic_load(&f->used);
    for (;;) {
        help(f, w);
        uint64_t used = word_used(w);
        int64_t mine = (int64_t)charge_units(atomic_load(&s->charge));
        if (units > 0 && used + (uint64_t)units > cap)
            return -1;
        if (units < 0 && -units > mine)
            units = -mine; /* never give back more than the slot holds */
        if (units < 0 && (uint64_t)-units > used)
            units = -(int64_t)used;
        if (units == 0)
            return 0;
        atomic_store(&s->pending, units);
        uint64_t next = (used + (uint64_t)units) << SG_SHM_USED_SHIFT
                        | (uint64_t)(slot + 1) << SG_SHM_SEQ_BITS
                        | ((w + 1) & SG_SHM_SEQ_MASK);
        if (atomic_compare_exchange_weak(&f->used, &w, next)) {
            help(f, next);
            return 0;
        }
    }
}

int sg_shm_charge(struct sg_shm_file *f, int slot, int64_t units)
{
    if (slot < 0 || slot >= SG_SHM_SLOTS)
        return -1;
    return charge(f, slot, units);
}

static void clear_windows(struct sg_shm_slot *s)
{
    atomic_store(&s->win_start_ns, 0);
    atomic_store(&s->win_busy_ns, 0);
    atomic_store(&s->win_copy_ns, 0);
    atomic_store(&s->prev_util, 0);
    atomic_store(&s->prev_copy_util, 0);
}

/* Gives back what slot holds; the caller is its one writer. */
static void drain(struct sg_shm_file *f, int slot)
{
    struct sg_shm_slot *s = &f->slots[slot];
    int64_t held = (int64_t)charge_units(atomic_load(&s->charge));
    while (held > 0) {
        charge(f, slot, -held);
        held = (int64_t)charge_units(atomic_load(&s->charge));
    }
    clear_windows(s);
}

void sg_shm_release(struct sg_shm_file *f, int slot)
{
    if (slot < 0 || slot >= SG_SHM_SLOTS)
        return;
    drain(f, slot);
    atomic_store(&f->slots[slot].owner, 0);
}

/* Reaps slot s if its owner (or the reaper that took it over) is dead. 1 when reaped. */
static int reap_one(struct sg_shm_file *f, int s, uint64_t me)
{
    struct sg_shm_slot *sl = &f->slots[s];
    uint64_t o = atomic_load(&sl->owner);
    if (!o || sg_shm_owner_alive(o))
        return 0;
    /* take the slot over: a reaper that dies here is dead in turn and is taken over itself */
    if (!atomic_compare_exchange_strong(&sl->owner, &o, me | SG_SHM_REAPING))
        return 0;
    drain(f, s);
    uint64_t mine = me | SG_SHM_REAPING;
    return atomic_compare_exchange_strong(&sl->owner, &mine, 0);
}

unsigned sg_shm_reap(struct sg_shm_file *f)
{
    uint64_t me = sg_shm_owner_self();
    unsigned n = 0;
    for (int s = 0; s < SG_SHM_SLOTS; s++)
        n += (unsigned)reap_one(f, s, me);
    return n;
}

int sg_shm_claim(struct sg_shm_file *f, uint64_t me)
{
    for (int s = 0; s < SG_SHM_SLOTS; s++) {
        struct sg_shm_slot *sl = &f->slots[s];
        uint64_t o = atomic_load(&sl->owner);
        if (o == me)
            return s;
        if (o && !reap_one(f, s, me))
            continue;
        o = 0;
        if (atomic_compare_exchange_strong(&sl->owner, &o, me)) {
            clear_windows(sl);
            return s;
        }
    }
    return -1;
}

uint64_t sg_shm_used_bytes(struct sg_shm_file *f)
{
    return word_used(atomic_load(&f->used)) << SG_SHM_UNIT_SHIFT;
}

uint64_t sg_shm_slot_bytes(struct sg_shm_file *f, int slot)
{
    help(f, atomic_load(&f->used)); /* the slot's last operation may be in the word only */
    return charge_units(atomic_load(&f->slots[slot].charge)) << SG_SHM_UNIT_SHIFT;
}

uint64_t sg_shm_live_owner(struct sg_shm_file *f, int s)
{
    uint64_t o = atomic_load(&f->slots[s].owner);
    return o && !(o & SG_SHM_REAPING) && sg_shm_owner_alive(o) ? o : 0;
}

unsigned sg_shm_slot_util(const struct sg_shm_slot *s, uint64_t now_ns, int copies)
{
    uint64_t start = atomic_load(&s->win_start_ns);
    uint64_t busy = atomic_load(copies ? &s->win_copy_ns : &s->win_busy_ns);
    uint64_t prev = atomic_load(copies ? &s->prev_copy_util : &s->prev_util);
    if (!start || now_ns < start)
        return 0;
    uint64_t elapsed = now_ns - start;
    if (elapsed >= 2 * SG_SHM_WINDOW_NS)
        return 0; /* nothing ran for a whole window */
    if (elapsed >= SG_SHM_WINDOW_NS)
        return (unsigned)(busy * 100 / elapsed > 100 ? 100 : busy * 100 / elapsed);
    /* inside the window: the busier of the previous window and what this one has so far */
    uint64_t cur = elapsed >= SG_SHM_WINDOW_NS / 10 ? busy * 100 / elapsed : 0;
    uint64_t u = cur > prev ? cur : prev;
    return (unsigned)(u > 100 ? 100 : u);
}
