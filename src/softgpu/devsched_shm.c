/*
 * The shared half of the device scheduler (devsched.h): process entries and their identities,
 * the setup lock, the ticket queue of time-slicing, the SM tokens of MPS, and taking back what
 * dead processes held. Everything here works on the struct sg_sched inside the device's
 * segment, with atomics and futexes only (no process-shared mutex: a holder can die anywhere).
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
        /* its turn, if it has one, is skipped by the waiters once the entry shows no owner */
        atomic_store(&e->state, SG_SCHED_IDLE);
        atomic_store(&e->pid, 0);
        atomic_fetch_add(&S->takeovers, 1);
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
                   int *mode)
{
    setup_lock(S, my_start);
    int idx = -1;
    for (int i = 0; i < SG_SCHED_PROCS && idx < 0; i++)
        if (!atomic_load(&S->procs[i].pid)) {
            struct sg_sched_proc *e = &S->procs[i];
            atomic_store(&e->state, SG_SCHED_IDLE);
            atomic_store(&e->start, my_start); /* before the pid: a reader seeing it sees this */
            atomic_store(&e->pid, (int32_t)getpid());
            idx = i;
        }
    int others = reap_locked(S, idx);
    if (idx < 0 && others < SG_SCHED_PROCS) { /* reaping may have freed one */
        setup_unlock(S);
        return sg_ds_register(S, my_start, want_mode, sms, mode);
    }
    if (idx >= 0 && others == 0) {
        /* alone: whatever dead processes left (tickets, tokens, mode) goes */
        atomic_store(&S->serving, atomic_load(&S->next));
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
    atomic_store(&e->state, SG_SCHED_IDLE);
    atomic_store(&e->pid, 0);
}

/* ---- time-slicing: the ticket queue -------------------------------------------------------- */

/* Nobody took the device for a whole poll at ticket s: when no live process owns s, nor may own
 * it without showing it yet (TAKING), its owner died queued or holding: skip its turn. */
static void skip_dead_turn(struct sg_sched *S, uint32_t s)
{
    if ((int32_t)(atomic_load(&S->next) - s) <= 0)
        return; /* s was never handed out: the device is free */
    for (int i = 0; i < SG_SCHED_PROCS; i++) {
        struct sg_sched_proc *e = &S->procs[i];
        int32_t pid = atomic_load(&e->pid);
        if (!pid)
            continue;
        uint32_t st = atomic_load(&e->state);
        int owns = st == SG_SCHED_TAKING
                   || ((st == SG_SCHED_QUEUED || st == SG_SCHED_HOLDING)
                       && atomic_load(&e->ticket) == s);
        if (owns && proc_alive(e, pid))
            return;
    }
    if (atomic_compare_exchange_strong(&S->serving, &s, s + 1)) {
        atomic_fetch_add(&S->takeovers, 1);
        futex_wake_all(&S->serving);
    }
}

uint32_t sg_ds_take_turn(struct sg_sched *S, int idx, int *waited)
{
    struct sg_sched_proc *e = &S->procs[idx];
    atomic_store(&e->state, SG_SCHED_TAKING);
    uint32_t t = atomic_fetch_add(&S->next, 1);
    atomic_store(&e->ticket, t);
    atomic_store(&e->state, SG_SCHED_QUEUED);
    *waited = 0;
    for (;;) {
        uint32_t s = atomic_load(&S->serving);
        if (s == t)
            break;
        *waited = 1;
        if (futex_wait(&S->serving, s, mono_ns() + POLL_NS) == -ETIMEDOUT)
            skip_dead_turn(S, s);
    }
    atomic_store(&e->state, SG_SCHED_HOLDING);
    if (*waited)
        atomic_fetch_add(&S->grants, 1);
    return t;
}

void sg_ds_give_turn(struct sg_sched *S, int idx, uint32_t t)
{
    atomic_store(&S->procs[idx].state, SG_SCHED_IDLE);
    if (atomic_load(&S->next) != t + 1)
        atomic_store_explicit(&S->given_ns, mono_ns(), memory_order_relaxed);
    uint32_t exp = t; /* fails only if a waiter wrongly took us for dead: then it moved on */
    atomic_compare_exchange_strong(&S->serving, &exp, t + 1);
    if (atomic_load(&S->next) != t + 1)
        futex_wake_all(&S->serving);
}

int sg_ds_others_wait(struct sg_sched *S, uint32_t t)
{
    return atomic_load_explicit(&S->next, memory_order_relaxed) - t > 1;
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
