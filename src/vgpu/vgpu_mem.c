/*
 * The vGPU memory ledger (see vgpu_mem.h).
 *
 * Two words change on every reserve: the slot's `mem_used` (the limit check, one CAS) and the
 * process's entry `bytes` (what the reaper refunds). A process may be killed between the two,
 * so they are ordered such that a death there can only leave bytes charged, never refund bytes
 * twice or let the ledger go below what live processes hold:
 *   reserve: entry.pending = n; CAS used += n (limit check); entry.bytes += n; entry.pending = 0
 *   release: entry.pending = n; entry.bytes -= n; used -= n; entry.pending = 0
 * A reaper that finds pending != 0 cannot know on which side of the middle step the process
 * died, leaves that amount charged, and reports it.
 *
 * Live resize. reserve loads the ledger word, then the admission limit, then CASes the word;
 * the limit lives in another word, so a shrink alone could land between a reserver's look at
 * the old limit and its CAS. A shrink therefore (1) stores the lower admission, (2) CASes the
 * ledger word once more, checking used <= new limit and bumping an epoch kept in the word's
 * high bits. A reservation whose CAS lands after (2) loaded the word after (2), hence the
 * limit after (1): it checked the new limit. One whose CAS lands before (2) kept used within
 * the limit it read, old or new, and (2) then checked used against the new one. The epoch
 * makes (2) a change of the word that later releases cannot undo (ABA), so no CAS that
 * expected the word from before (2) can succeed after it (65536 shrinks between a reserver's
 * load and its CAS would wrap it). A larger limit needs nothing of this: a reserver that
 * still checks the old limit is only stricter.
 *
 * Owns: ledger arithmetic and the per-process table. May call: C11 atomics.
 */
#include "vgpu_mem.h"

#include <errno.h>

#define USED_MASK VGPU_MEM_LIMIT_MAX
#define EPOCH_ONE (1ull << VGPU_MEM_USED_BITS)

static int slot_live(const struct vgpu_slot *s)
{
    return atomic_load_explicit(&((struct vgpu_slot *)s)->state, memory_order_acquire) == VGPU_SLOT_LIVE;
}

static struct vgpu_proc_entry *find_entry(struct vgpu_slot *s, pid_t pid)
{
    for (int i = 0; i < VGPU_MAX_PROCS; i++)
        if (atomic_load(&s->procs[i].pid) == (int32_t)pid)
            return &s->procs[i];
    return NULL;
}

int vgpu_mem_attach(struct vgpu_slot *s, pid_t pid, struct vgpu_mem_client *c)
{
    if (!s || !c || pid <= 0)
        return -EINVAL;
    if (!slot_live(s))
        return -ENODEV;
    if (find_entry(s, pid))
        return -EBUSY;
    for (int i = 0; i < VGPU_MAX_PROCS; i++) {
        struct vgpu_proc_entry *e = &s->procs[i];
        int32_t expect = 0;
        if (!atomic_compare_exchange_strong(&e->pid, &expect, (int32_t)pid))
            continue;
        atomic_store(&e->bytes, 0);
        atomic_store(&e->pending, 0);
        /* Re-check after claiming: vgpu_region_collect may be freeing the slot right now; it
         * either saw our entry (and left the slot DELETED) or we see its state change here. */
        if (!slot_live(s)) {
            atomic_store(&e->pid, 0);
            return -ENODEV;
        }
        c->slot = s;
        c->entry = e;
        c->generation = s->generation;
        return 0;
    }
    return -ENOSPC;
}

static void note_peak(struct vgpu_slot *s, uint64_t used)
{
    uint64_t peak = atomic_load_explicit(&s->mem_peak, memory_order_relaxed);
    while (used > peak &&
           !atomic_compare_exchange_weak_explicit(&s->mem_peak, &peak, used, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

int vgpu_mem_reserve(struct vgpu_mem_client *c, uint64_t bytes)
{
    if (!c || !c->slot || bytes == 0)
        return -EINVAL;
    struct vgpu_slot *s = c->slot;
    if (!slot_live(s))
        return -ENODEV;
    atomic_store(&c->entry->pending, bytes);
    uint64_t word = atomic_load(&s->mem_used);
    for (;;) {
        /* the limit is loaded after the word (seq_cst): see the resize note at the top */
        uint64_t limit = atomic_load(&s->mem_admit), used = word & USED_MASK;
        if (bytes > limit || used > limit - bytes) {
            atomic_store(&c->entry->pending, 0);
            atomic_fetch_add_explicit(&s->mem_denied, 1, memory_order_relaxed);
            /* The largest refused: the pool's autoscaler grows the limit to cover it. */
            uint64_t max = atomic_load_explicit(&s->mem_denied_max, memory_order_relaxed);
            while (bytes > max && !atomic_compare_exchange_weak_explicit(
                                      &s->mem_denied_max, &max, bytes, memory_order_relaxed,
                                      memory_order_relaxed))
                ;
            return -ENOMEM;
        }
        if (atomic_compare_exchange_weak(&s->mem_used, &word, word + bytes))
            break;
    }
    atomic_fetch_add(&c->entry->bytes, bytes);
    atomic_store(&c->entry->pending, 0);
    note_peak(s, (word & USED_MASK) + bytes);
    return 0;
}

int vgpu_mem_release(struct vgpu_mem_client *c, uint64_t bytes)
{
    if (!c || !c->slot || bytes == 0)
        return -EINVAL;
    struct vgpu_proc_entry *e = c->entry;
    /* Only this process writes its entry's bytes, so check-then-subtract does not race. */
    if (atomic_load(&e->bytes) < bytes)
        return -EINVAL;
    atomic_store(&e->pending, bytes);
    atomic_fetch_sub(&e->bytes, bytes);
    atomic_fetch_sub(&c->slot->mem_used, bytes);
    atomic_store(&e->pending, 0);
    return 0;
}

uint64_t vgpu_mem_detach(struct vgpu_mem_client *c)
{
    if (!c || !c->slot)
        return 0;
    uint64_t held = atomic_load(&c->entry->bytes);
    if (held)
        vgpu_mem_release(c, held);
    atomic_store(&c->entry->pid, 0);
    c->slot = NULL;
    c->entry = NULL;
    return held;
}

uint64_t vgpu_mem_reap(struct vgpu_slot *s, pid_t pid, uint64_t *in_flight)
{
    if (in_flight)
        *in_flight = 0;
    if (!s || pid <= 0)
        return 0;
    struct vgpu_proc_entry *e = find_entry(s, pid);
    if (!e)
        return 0;
    uint64_t held = atomic_exchange(&e->bytes, 0);
    uint64_t pending = atomic_exchange(&e->pending, 0);
    if (held)
        atomic_fetch_sub(&s->mem_used, held);
    if (in_flight)
        *in_flight = pending;
    atomic_store(&e->pid, 0);
    return held;
}

uint64_t vgpu_mem_used(const struct vgpu_slot *s)
{
    return atomic_load(&((struct vgpu_slot *)s)->mem_used) & USED_MASK;
}

uint64_t vgpu_mem_limit(const struct vgpu_slot *s)
{
    return atomic_load(&((struct vgpu_slot *)s)->mem_limit);
}

uint64_t vgpu_mem_free(const struct vgpu_slot *s)
{
    /* what an allocation can get: the admission, which a resize in flight may hold lower */
    uint64_t used = vgpu_mem_used(s), limit = vgpu_mem_limit(s);
    uint64_t admit = atomic_load(&((struct vgpu_slot *)s)->mem_admit);
    if (admit < limit)
        limit = admit;
    return used >= limit ? 0 : limit - used;
}

int vgpu_mem_lower_admit(struct vgpu_slot *s, uint64_t limit, uint64_t *used)
{
    uint64_t old = atomic_load(&s->mem_admit);
    atomic_store(&s->mem_admit, limit);
    uint64_t word = atomic_load(&s->mem_used);
    do {
        if ((word & USED_MASK) > limit) {
            atomic_store(&s->mem_admit, old);
            if (used)
                *used = word & USED_MASK;
            return -EBUSY;
        }
    } while (!atomic_compare_exchange_weak(&s->mem_used, &word, word + EPOCH_ONE));
    if (used)
        *used = word & USED_MASK;
    return 0;
}

void vgpu_mem_raise_admit(struct vgpu_slot *s, uint64_t limit)
{
    atomic_store(&s->mem_admit, limit);
}

uint64_t vgpu_mem_held_by(const struct vgpu_slot *s, pid_t pid)
{
    struct vgpu_proc_entry *e = find_entry((struct vgpu_slot *)s, pid);
    return e ? atomic_load(&e->bytes) : 0;
}

uint64_t vgpu_region_reap(struct vgpu_region *r, pid_t pid, uint64_t *in_flight)
{
    uint64_t total = 0, ambiguous = 0;
    for (uint32_t i = 0; r && i < r->hdr->nslots; i++) {
        uint64_t pending = 0;
        total += vgpu_mem_reap(&r->slots[i], pid, &pending);
        ambiguous += pending;
    }
    if (r)
        vgpu_region_collect(r);
    if (in_flight)
        *in_flight = ambiguous;
    return total;
}

int vgpu_mem_attach_token(struct vgpu_region *r, const char *token, pid_t pid,
                          struct vgpu_mem_client *c)
{
    int slot = vgpu_find_token(r, token);
    if (slot < 0)
        return -ENOENT;
    int rc = vgpu_mem_attach(vgpu_slot_at(r, slot), pid, c);
    return rc == 0 ? slot : rc;
}
