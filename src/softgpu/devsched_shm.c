/*
 * The shared half of the device scheduler (devsched.h): process entries and their identities,
 * the setup lock, the weighted queue of time-slicing (elections by least pass), the SM tokens
 * of MPS, and taking back what dead processes held. Everything here works on the struct
 * sg_sched inside the device's segment, with atomics and futexes only (no process-shared
 * mutex: a holder can die anywhere).
 * Calls libc and the futex system call; devsched.c is its only caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm_stats.h" /* devsched.h, sg_shm_proc_start */

#define POLL_NS ((uint64_t)SG_SCHED_POLL_MS * 1000000ull)

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleeps while *word == expected, at most until the CLOCK_MONOTONIC time deadline_ns: 0 (woken,
 * or the word had changed), -ETIMEDOUT or -EINTR. Shared (not _PRIVATE): other processes wake. */
static int futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    struct timespec ts = {(time_t)(deadline_ns / 1000000000ull),
                          (long)(deadline_ns % 1000000000ull)};
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, &ts, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    return rc == 0 || errno == EAGAIN ? 0 : -errno;
}

static void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ---- identities ---------------------------------------------------------------------------- */

uint64_t sg_ds_start_of(int32_t pid)
{
    uint64_t start;
    return pid > 0 && sg_shm_proc_start(pid, &start) == 1 ? start + 1 : 0; /* never 0 alive */
}

static int proc_alive(const struct sg_sched_proc *e, int32_t pid)
{
    uint64_t start = atomic_load(&e->start);
    return pid > 0 && start && sg_ds_start_of(pid) == start;
}

/* ---- the setup lock: entries, reaping and the mode change under it ------------------------- */

static void setup_lock(struct sg_sched *S, uint64_t my_start)
{
    uint32_t me = (uint32_t)getpid();
    for (;;) {
        uint32_t cur = 0;
        if (atomic_compare_exchange_strong(&S->setup, &cur, me)) {
            atomic_store(&S->setup_start, my_start);
            return;
        }
        if (futex_wait(&S->setup, cur, mono_ns() + POLL_NS) != -ETIMEDOUT)
            continue;
        /* held for a whole poll: take it over when its holder is gone (0: still being written) */
        uint64_t st = atomic_load(&S->setup_start);
        uint64_t real = sg_ds_start_of((int32_t)cur);
        if ((!real || (st && st != real)) && atomic_compare_exchange_strong(&S->setup, &cur, 0)) {
            atomic_fetch_add(&S->takeovers, 1);
            futex_wake_all(&S->setup);
        }
    }
}

static void setup_unlock(struct sg_sched *S)
{
    atomic_store(&S->setup_start, 0);
    atomic_store(&S->setup, 0);
    futex_wake_all(&S->setup);
}

static void elect(struct sg_sched *S);

/* The device is free again if entry i held it (or was elected): the next is elected. */
static void free_holder(struct sg_sched *S, int i)
{
    uint32_t h = atomic_load(&S->holder);
    if ((h & SG_SCHED_HOLDER_IDX) != (uint32_t)i + 1)
        return;
    if (atomic_compare_exchange_strong(&S->holder, &h, (h & ~SG_SCHED_HOLDER_IDX) + 0x100u))
        elect(S);
}

static void wake_token_waiters(struct sg_sched *S)
{
    atomic_fetch_add(&S->sm_seq, 1);
    futex_wake_all(&S->sm_seq);
}

/* Setup lock held: frees the entries of dead processes and every token owned by an entry that
 * is free; the number of live entries other than `self`. */
static int reap_locked(struct sg_sched *S, int self)
{
    int live = 0, freed = 0;
    for (int i = 0; i < SG_SCHED_PROCS; i++) {
        struct sg_sched_proc *e = &S->procs[i];
        int32_t pid = atomic_load(&e->pid);
        if (!pid || i == self)
            continue;
        if (proc_alive(e, pid)) {
            live++;
            continue;
        }
        if (atomic_exchange(&e->state, SG_SCHED_IDLE) == SG_SCHED_QUEUED)
            atomic_fetch_sub(&S->queued, 1);
        atomic_store(&e->pid, 0);
        atomic_fetch_add(&S->takeovers, 1);
        free_holder(S, i);
    }
    uint32_t total = atomic_load(&S->sm_total);
    for (uint32_t j = 0; j < total && j < SG_SCHED_SMS; j++) {
        uint16_t o = atomic_load(&S->sm_owner[j]);
        if (o && o != SG_SCHED_HANDOFF && o <= SG_SCHED_PROCS
            && !atomic_load(&S->procs[o - 1].pid)
            && atomic_compare_exchange_strong(&S->sm_owner[j], &o, 0))
            freed++;
    }
    if (freed)
        wake_token_waiters(S);
    return live;
}

void sg_ds_reap(struct sg_sched *S, uint64_t my_start)
{
    setup_lock(S, my_start);
    reap_locked(S, -1);
    setup_unlock(S);
}

int sg_ds_register(struct sg_sched *S, uint64_t my_start, int want_mode, unsigned sms,
                   unsigned weight, int *mode)
{
    setup_lock(S, my_start);
    int idx = -1;
    for (int i = 0; i < SG_SCHED_PROCS && idx < 0; i++)
        if (!atomic_load(&S->procs[i].pid)) {
            struct sg_sched_proc *e = &S->procs[i];
            atomic_store(&e->state, SG_SCHED_IDLE);
            atomic_store(&e->pass, 0);
            atomic_store(&e->since, 0);
            atomic_store(&e->defer_until, 0);
            sg_ds_set_weight(S, i, weight);
            atomic_store(&e->start, my_start); /* before the pid: a reader seeing it sees this */
            atomic_store(&e->pid, (int32_t)getpid());
            idx = i;
        }
    int others = reap_locked(S, idx);
    if (idx < 0 && others < SG_SCHED_PROCS) { /* reaping may have freed one */
        setup_unlock(S);
        return sg_ds_register(S, my_start, want_mode, sms, weight, mode);
    }
    if (idx >= 0 && others == 0) {
        /* alone: whatever dead processes left (holder, queue, tokens, mode) goes */
        atomic_store(&S->holder, (atomic_load(&S->holder) & ~SG_SCHED_HOLDER_IDX) + 0x100u);
        atomic_store(&S->queued, 0);
        atomic_store(&S->vtime, 0);
        for (int j = 0; j < SG_SCHED_SMS; j++)
            atomic_store(&S->sm_owner[j], 0);
        atomic_store(&S->sm_total, sms < 1 ? 1 : sms > SG_SCHED_SMS ? SG_SCHED_SMS : sms);
        atomic_store(&S->mode, (uint32_t)want_mode);
    }
    *mode = (int)atomic_load(&S->mode);
    setup_unlock(S);
    return idx;
}

void sg_ds_unregister(struct sg_sched *S, int idx)
{
    struct sg_sched_proc *e = &S->procs[idx];
    uint16_t me = (uint16_t)(idx + 1);
    int freed = 0;
    for (int j = 0; j < SG_SCHED_SMS; j++) {
        uint16_t o = me;
        if (atomic_compare_exchange_strong(&S->sm_owner[j], &o, 0))
            freed++;
    }
    if (freed)
        wake_token_waiters(S);
    if (atomic_exchange(&e->state, SG_SCHED_IDLE) == SG_SCHED_QUEUED)
        atomic_fetch_sub(&S->queued, 1);
    atomic_store(&e->pid, 0);
    free_holder(S, idx);
}

/* ---- time-slicing: the weighted queue ----------------------------------------------------- */

void sg_ds_set_weight(struct sg_sched *S, int idx, unsigned weight)
{
    if (weight < 1)
        weight = 1;
    atomic_store(&S->procs[idx].weight,
                 weight > SG_SCHED_WEIGHT_MAX ? SG_SCHED_WEIGHT_MAX : weight);
}

/* held_ns in pass units of entry e: a process of half the weight advances twice as fast. */
static uint64_t virtual_ns(const struct sg_sched_proc *e, uint64_t held_ns)
{
    uint32_t w = atomic_load_explicit(&e->weight, memory_order_relaxed);
    return held_ns * SG_SCHED_WEIGHT_MAX / (w ? w : SG_SCHED_WEIGHT_MAX);
}

/* The weights of the processes that want the device (queued or holding; and `self`, unless
 * -1, whatever it does) and, in *turn, how long the holder has held it so far. */
static uint64_t active_weights(struct sg_sched *S, int self, uint64_t now, uint64_t *turn)
{
    uint64_t sum = 0;
    *turn = 0;
    for (int i = 0; i < SG_SCHED_PROCS; i++) {
        struct sg_sched_proc *e = &S->procs[i];
        uint32_t st = atomic_load(&e->state);
        if (i != self && (!atomic_load(&e->pid)
                          || (st != SG_SCHED_QUEUED && st != SG_SCHED_HOLDING)))
            continue;
        sum += atomic_load(&e->weight);
        uint64_t since = atomic_load(&e->since);
        if (st == SG_SCHED_HOLDING && since && now > since)
            *turn = now - since;
    }
    return sum;
}

/* The device's virtual time, a fluid model's: it advances by the time the device is held over
 * the weights of the processes that want it (W / sum of w), so a process that keeps work queued
 * keeps pace with it. Now: `vtime` as of the last give-up plus the holder's turn so far. */
static uint64_t vtime_now(struct sg_sched *S, uint64_t now)
{
    uint64_t turn, sum = active_weights(S, -1, now, &turn);
    uint64_t v = atomic_load(&S->vtime);
    return sum ? v + turn * SG_SCHED_WEIGHT_MAX / sum : v;
}

int sg_ds_deferred(const struct sg_sched *S, int idx, uint64_t now)
{
    uint64_t until = atomic_load_explicit(&S->procs[idx].defer_until, memory_order_relaxed);
    return until && now < until;
}

/* The queued entry to elect: least pass (then arrival) among those not deferred, and among the
 * deferred only when none of the others is queued; -1 when nobody is queued. */
static int next_queued(struct sg_sched *S)
{
    uint64_t now = mono_ns();
    int best = -1, best_def = 1;
    uint64_t best_pass = 0;
    uint32_t best_arrival = 0;
    for (int i = 0; i < SG_SCHED_PROCS; i++) {
        struct sg_sched_proc *e = &S->procs[i];
        if (!atomic_load(&e->pid) || atomic_load(&e->state) != SG_SCHED_QUEUED)
            continue;
        int def = sg_ds_deferred(S, i, now);
        uint64_t p = atomic_load(&e->pass);
        uint32_t a = atomic_load(&e->arrival);
        if (best < 0 || def < best_def
            || (def == best_def
                && (p < best_pass || (p == best_pass && (int32_t)(a - best_arrival) < 0)))) {
            best = i;
            best_def = def;
            best_pass = p;
            best_arrival = a;
        }
    }
    return best;
}

/* While the device is free: hands it to next_queued's entry. The freeing side frees `holder`
 * before it looks at the queue and an arrival queues before it looks at `holder`, so a queued
 * process is always either seen here or sees the device free itself (and elects). Several
 * electors race by CAS on `holder`; one wins. */
static void elect(struct sg_sched *S)
{
    for (;;) {
        uint32_t h = atomic_load(&S->holder);
        if (h & SG_SCHED_HOLDER_IDX)
            return;
        int best = next_queued(S);
        if (best < 0)
            return;
        uint32_t next = ((h & ~SG_SCHED_HOLDER_IDX) + 0x100u) | (uint32_t)(best + 1);
        if (atomic_compare_exchange_strong(&S->holder, &h, next)) {
            futex_wake_all(&S->holder);
            return;
        }
    }
}

/* Nobody took the device for a whole poll while `holder` read h: when the entry h names is gone
 * (dead, free, or neither queued nor holding), its turn is taken from it. */
static void take_over(struct sg_sched *S, uint32_t h)
{
    uint32_t o = h & SG_SCHED_HOLDER_IDX;
    if (!o) {
        elect(S); /* free with nobody elected: a lost race, redone */
        return;
    }
    struct sg_sched_proc *e = &S->procs[o - 1];
    int32_t pid = atomic_load(&e->pid);
    uint32_t st = atomic_load(&e->state);
    if (pid && (st == SG_SCHED_QUEUED || st == SG_SCHED_HOLDING) && proc_alive(e, pid))
        return;
    if (atomic_compare_exchange_strong(&S->holder, &h, (h & ~SG_SCHED_HOLDER_IDX) + 0x100u)) {
        atomic_fetch_add(&S->takeovers, 1);
        elect(S);
    }
}

void sg_ds_take_turn(struct sg_sched *S, int idx, uint64_t credit, int *waited)
{
    struct sg_sched_proc *e = &S->procs[idx];
    uint32_t me = (uint32_t)idx + 1;
    uint64_t v = vtime_now(S, mono_ns()), p = atomic_load(&e->pass);
    if (credit != UINT64_MAX && v > credit && p < v - credit)
        atomic_store(&e->pass, v - credit); /* no standing saved up while idle, beyond credit */
    atomic_store(&e->arrival, atomic_fetch_add(&S->next, 1));
    atomic_fetch_add(&S->queued, 1);
    atomic_store(&e->state, SG_SCHED_QUEUED);
    *waited = 0;
    for (;;) {
        uint32_t h = atomic_load(&S->holder);
        if ((h & SG_SCHED_HOLDER_IDX) == me)
            break;
        if (!(h & SG_SCHED_HOLDER_IDX)) {
            elect(S);
            continue;
        }
        *waited = 1;
        if (futex_wait(&S->holder, h, mono_ns() + POLL_NS) == -ETIMEDOUT)
            take_over(S, h);
    }
    atomic_store(&e->since, mono_ns());
    if (atomic_exchange(&e->state, SG_SCHED_HOLDING) == SG_SCHED_QUEUED)
        atomic_fetch_sub(&S->queued, 1);
    if (*waited)
        atomic_fetch_add(&S->grants, 1);
}

void sg_ds_give_turn(struct sg_sched *S, int idx, uint64_t held_ns)
{
    struct sg_sched_proc *e = &S->procs[idx];
    uint64_t now = mono_ns(), turn, sum = active_weights(S, idx, now, &turn);
    atomic_fetch_add(&S->vtime, held_ns * SG_SCHED_WEIGHT_MAX / (sum ? sum : 1));
    atomic_store(&e->pass, atomic_load(&e->pass) + virtual_ns(e, held_ns));
    atomic_store(&e->since, 0);
    uint32_t h = atomic_load(&S->holder);
    if ((h & SG_SCHED_HOLDER_IDX) == (uint32_t)idx + 1) {
        if (atomic_load(&S->queued))
            atomic_store_explicit(&S->given_ns, now, memory_order_relaxed);
        /* fails only if a waiter wrongly took us for gone: then it elected another already */
        atomic_compare_exchange_strong(&S->holder, &h, (h & ~SG_SCHED_HOLDER_IDX) + 0x100u);
    }
    atomic_store(&e->state, SG_SCHED_IDLE);
    elect(S);
}

int sg_ds_yield_due(struct sg_sched *S, int idx, uint64_t held_ns)
{
    if (!atomic_load_explicit(&S->queued, memory_order_relaxed))
        return 0;
    const struct sg_sched_proc *self = &S->procs[idx];
    uint64_t mine = atomic_load(&self->pass) + virtual_ns(self, held_ns), now = mono_ns();
    int self_deferred = sg_ds_deferred(S, idx, now);
    for (int i = 0; i < SG_SCHED_PROCS; i++) {
        struct sg_sched_proc *e = &S->procs[i];
        if (i == idx || !atomic_load(&e->pid) || atomic_load(&e->state) != SG_SCHED_QUEUED
            || sg_ds_deferred(S, i, now))
            continue;
        if (self_deferred || atomic_load(&e->pass) <= mine)
            return 1;
    }
    return 0;
}

/* ---- MPS: SM tokens ------------------------------------------------------------------------ */

static int token_try(struct sg_sched *S, uint16_t me, unsigned hint, int handoff_ok)
{
    uint32_t total = atomic_load(&S->sm_total);
    if (total < 1 || total > SG_SCHED_SMS)
        total = 1;
    for (uint32_t k = 0; k < total; k++) {
        uint32_t j = (hint + k) % total;
        uint16_t v = atomic_load(&S->sm_owner[j]);
        if ((v == 0 || (handoff_ok && v == SG_SCHED_HANDOFF))
            && atomic_compare_exchange_strong(&S->sm_owner[j], &v, me))
            return (int)j;
    }
    return -1;
}

int sg_ds_token_take(struct sg_sched *S, int idx, uint64_t my_start, unsigned hint,
                     int queue_first)
{
    uint16_t me = (uint16_t)(idx + 1);
    int j = -1;
    /* nobody waits: take a free one; tokens handed off are the waiters' */
    if (!queue_first)
        j = token_try(S, me, hint, atomic_load(&S->sm_waiters) == 0);
    if (j >= 0)
        return j;
    atomic_fetch_add(&S->sm_waiters, 1);
    for (;;) {
        uint32_t seq = atomic_load(&S->sm_seq);
        if (!queue_first && (j = token_try(S, me, hint, 1)) >= 0)
            break;
        queue_first = 0; /* one who just gave a token back sleeps before trying again */
        if (futex_wait(&S->sm_seq, seq, mono_ns() + POLL_NS) == -ETIMEDOUT)
            sg_ds_reap(S, my_start);
    }
    atomic_fetch_sub(&S->sm_waiters, 1);
    return j;
}

void sg_ds_token_give(struct sg_sched *S, int idx, int slot, int handoff)
{
    uint16_t me = (uint16_t)(idx + 1);
    int waiters = atomic_load(&S->sm_waiters) > 0;
    /* a CAS, not a store: after this process's exit handler freed it, the slot may be another's */
    atomic_compare_exchange_strong(&S->sm_owner[slot], &me,
                                   handoff && waiters ? SG_SCHED_HANDOFF : 0);
    if (waiters || atomic_load(&S->sm_waiters))
        wake_token_waiters(S);
}
