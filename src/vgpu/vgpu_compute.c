/*
 * Compute enforcement: the token bucket protocol between workers and the node's controller,
 * and the controller loop (see vgpu_compute.h).
 *
 * Lost wake-ups: an acquirer registers in `waiters` and samples `wake_seq` before its last look
 * at the bucket; a refill updates the bucket before it reads `waiters` and bumps `wake_seq`.
 * With sequentially consistent atomics one of the two sees the other: either the acquirer sees
 * the tokens, or the refill sees the waiter and its bump makes the futex wait return.
 *
 * Owns: bucket arithmetic, controller state, the emulated device lock.
 * May call: vgpu_region, vgpu_ctrl, futex.
 */
#include "vgpu_compute.h"
#include "vgpu_futex.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

uint64_t vgpu_clock_ns(void)
{
    return vgpu_now_ns();
}

static int slot_live(struct vgpu_slot *s)
{
    return atomic_load_explicit(&s->state, memory_order_acquire) == VGPU_SLOT_LIVE;
}

/* Takes est_ns if the bucket is above -ahead_ns. 1: taken (*left: the balance after), 0: not. */
static int try_take(struct vgpu_slot *s, uint64_t est_ns, int64_t ahead_ns, int64_t *left)
{
    int64_t t = atomic_load(&s->tokens_ns);
    while (t > -ahead_ns) {
        if (atomic_compare_exchange_weak(&s->tokens_ns, &t, t - (int64_t)est_ns)) {
            *left = t - (int64_t)est_ns;
            return 1;
        }
    }
    return 0;
}

int vgpu_compute_acquire(struct vgpu_slot *s, uint64_t est_ns, uint64_t deadline_ns)
{
    int64_t left;
    return vgpu_compute_acquire_ahead(s, est_ns, 0, deadline_ns, &left);
}

int vgpu_compute_acquire_ahead(struct vgpu_slot *s, uint64_t est_ns, uint64_t ahead_ns,
                               uint64_t deadline_ns, int64_t *left)
{
    /* The unlimited fast path: one relaxed load (a plain mov; a live resize may flip the flag,
     * and the next launch sees it). No state check (a deleted vGPU is caught at its next
     * memory call). */
    *left = 0;
    if (atomic_load_explicit(&s->compute_unlimited, memory_order_relaxed))
        return 0;
    int64_t ahead = ahead_ns > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)ahead_ns;
    for (;;) {
        if (!slot_live(s))
            return -ENODEV;
        if (try_take(s, est_ns, ahead, left))
            return 0;
        atomic_store_explicit(&s->throttled, 1, memory_order_relaxed);
        uint32_t seq = atomic_load(&s->wake_seq);
        atomic_fetch_add(&s->waiters, 1);
        if (atomic_load(&s->tokens_ns) > -ahead || !slot_live(s)) {
            atomic_fetch_sub(&s->waiters, 1);
            continue;
        }
        if (deadline_ns && vgpu_now_ns() >= deadline_ns) {
            atomic_fetch_sub(&s->waiters, 1);
            return -ETIMEDOUT;
        }
        uint64_t slept_from = vgpu_now_ns();   /* the slow path only: a sleep follows */
        int rc = vgpu_futex_wait(&s->wake_seq, seq, deadline_ns);
        atomic_fetch_sub(&s->waiters, 1);
        atomic_fetch_add_explicit(&s->throttled_ns, vgpu_now_ns() - slept_from,
                                  memory_order_relaxed);
        if (rc == -ETIMEDOUT)
            return try_take(s, est_ns, ahead, left) ? 0 : -ETIMEDOUT;
        if (rc == -EINTR)
            return -EINTR;
    }
}

void vgpu_compute_charge(struct vgpu_slot *s, uint64_t measured_ns, uint64_t est_ns)
{
    atomic_fetch_add_explicit(&s->busy_ns, measured_ns, memory_order_relaxed);
    if (atomic_load_explicit(&s->compute_unlimited, memory_order_relaxed))
        return;
    atomic_fetch_add_explicit(&s->launches, 1, memory_order_relaxed);
    atomic_fetch_add(&s->tokens_ns, (int64_t)est_ns - (int64_t)measured_ns);
}

void vgpu_compute_refill(struct vgpu_slot *s, int64_t grant_ns, int64_t cap_ns)
{
    int64_t t = atomic_load(&s->tokens_ns);
    for (;;) {
        int64_t next = t + grant_ns;
        if (next > cap_ns)
            next = t > cap_ns ? t : cap_ns;
        if (atomic_compare_exchange_weak(&s->tokens_ns, &t, next))
            break;
    }
    if (atomic_load(&s->waiters) > 0) {
        atomic_fetch_add(&s->wake_seq, 1);
        vgpu_futex_wake_all(&s->wake_seq);
    }
}

void vgpu_controller_init(struct vgpu_controller *c, struct vgpu_region *r,
                          const struct vgpu_ctrl_params *params, uint64_t now_ns)
{
    memset(c, 0, sizeof *c);
    c->region = r;
    if (params)
        c->params = *params;
    else
        vgpu_ctrl_default_params(&c->params);
    c->last_tick_ns = now_ns;
}

/* Reads one slot's inputs for this period into its tenant record. */
static void observe_slot(struct vgpu_controller_slot *cs, struct vgpu_slot *s, uint64_t period_ns)
{
    if (cs->generation != s->generation) {
        memset(cs, 0, sizeof *cs);
        cs->generation = s->generation;
        cs->last_busy_ns = atomic_load(&s->busy_ns);
    }
    struct vgpu_ctrl_tenant *t = &cs->tenant;
    uint64_t busy = atomic_load(&s->busy_ns);
    t->used = (double)(busy - cs->last_busy_ns) / (double)period_ns;
    cs->last_busy_ns = busy;
    t->request = s->request_bp / (double)VGPU_BP_FULL;
    t->limit = s->limit_bp / (double)VGPU_BP_FULL;
    t->qos = (int)s->qos;
    t->unlimited = (int)s->compute_unlimited;
    t->hungry = atomic_exchange(&s->throttled, 0) || atomic_load(&s->waiters) > 0;
    t->balance = (double)atomic_load(&s->tokens_ns) / (double)period_ns;
}

int vgpu_controller_tick(struct vgpu_controller *c, uint64_t now_ns)
{
    if (now_ns <= c->last_tick_ns)
        return 0;
    uint64_t period = now_ns - c->last_tick_ns;
    c->last_tick_ns = now_ns;
    struct vgpu_ctrl_tenant tenants[VGPU_MAX_SLOTS];
    int index[VGPU_MAX_SLOTS];
    size_t n = 0;
    struct vgpu_region *r = c->region;
    for (uint32_t i = 0; i < r->hdr->nslots; i++) {
        struct vgpu_slot *s = &r->slots[i];
        if (!slot_live(s))
            continue;
        observe_slot(&c->slots[i], s, period);
        tenants[n] = c->slots[i].tenant;
        index[n++] = (int)i;
    }
    /* Usage is measured over the real period, but a late tick (a stalled node) must not hand out
     * a long period's worth of tokens at once: grants cover at most VGPU_MAX_GRANT_PERIOD_NS. */
    uint64_t grant_period = period < VGPU_MAX_GRANT_PERIOD_NS ? period : VGPU_MAX_GRANT_PERIOD_NS;
    vgpu_ctrl_step(tenants, n, (int64_t)grant_period, &c->params);
    for (size_t k = 0; k < n; k++) {
        c->slots[index[k]].tenant = tenants[k];
        if (!tenants[k].unlimited)
            vgpu_compute_refill(&r->slots[index[k]], tenants[k].grant_ns, tenants[k].cap_ns);
    }
    atomic_fetch_add_explicit(&r->hdr->controller_ticks, 1, memory_order_relaxed);
    return (int)n;
}

void vgpu_emu_device_lock(struct vgpu_region *r)
{
    struct vgpu_region_header *h = r->hdr;
    uint32_t ticket = atomic_fetch_add(&h->emu_next_ticket, 1);
    for (;;) {
        uint32_t serving = atomic_load(&h->emu_serving);
        if (serving == ticket)
            return;
        atomic_fetch_add(&h->emu_waiters, 1);
        vgpu_futex_wait(&h->emu_serving, serving, 0);
        atomic_fetch_sub(&h->emu_waiters, 1);
    }
}

void vgpu_emu_device_unlock(struct vgpu_region *r)
{
    struct vgpu_region_header *h = r->hdr;
    atomic_fetch_add(&h->emu_serving, 1);
    if (atomic_load(&h->emu_waiters) > 0)
        vgpu_futex_wake_all(&h->emu_serving);
}
