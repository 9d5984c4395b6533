/*
 * Shared-memory rings: single-producer single-consumer byte rings in the memfd that the client
 * creates, with adaptive spin-then-sleep waiting. Owns the ring indices, the futex protocol and
 * the spin budget. Calls conn.c for peer liveness (tft_conn_check_peer) and error recording.
 *
 * A ring is a byte stream: frames are written back to back and a frame larger than the ring
 * simply streams through it, published chunk by chunk so the consumer copies while the producer
 * still writes. Indices are free-running 64-bit byte counts (head - tail = bytes in the ring).
 *
 * Waiting: spin (with the CPU's pause hint) for up to spin_ns, then announce "sleeping" in the
 * shared control block and sleep on a futex word there. The other side issues FUTEX_WAKE only
 * when it sees that announcement, so a busy session never pays for a wake-up. The announce /
 * re-check / wait order (Dekker-style, both sides seq_cst) makes a lost wake-up impossible.
 * Sleepers wake every TF_LIVENESS_MS to check that the peer is alive.
 *
 * The peer may be hostile (the worker maps memory a client controls): every index loaded from
 * shared memory is checked before it is used, and a corrupt one ends the session.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define YIELD_AFTER_NS 5000   /* pure spinning this long, then spin with sched_yield */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    /* Not FUTEX_PRIVATE: the word lives in memory shared with another process. */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Wakes the other side if (and only if) it announced that it sleeps. */
static void notify(_Atomic uint32_t *sleeping, _Atomic uint32_t *seq)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(sleeping, memory_order_relaxed)) {
        atomic_fetch_add(seq, 1);
        futex_wake(seq);
    }
}

void tft_ring_attach(struct ring *r, struct ring_ctl *ctl, uint8_t *data, uint64_t size,
                     bool producer, uint32_t spin_ns)
{
    r->ctl = ctl;
    r->data = data;
    r->size = size;
    r->pos = atomic_load(producer ? &ctl->head : &ctl->tail);
    r->peer_seen = atomic_load(producer ? &ctl->tail : &ctl->head);
    r->spin_ns = spin_ns;
}

/* Bytes we may consume (consumer) or write (producer) right now; a corrupt index from the peer
 * is a protocol error. */
static int ring_amount(struct tf_conn *c, struct ring *r, bool producer, uint64_t *amount)
{
    if (producer) {
        uint64_t tail = atomic_load_explicit(&r->ctl->tail, memory_order_acquire);
        uint64_t used = r->pos - tail;
        if (used > r->size)
            return tft_conn_fail(c, TF_ERR_PROTOCOL,
                                 "peer corrupted the ring (tail %llu, head %llu)",
                                 (unsigned long long)tail, (unsigned long long)r->pos);
        r->peer_seen = tail;
        *amount = r->size - used;
    } else {
        uint64_t head = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
        uint64_t avail = head - r->pos;
        if (avail > r->size)
            return tft_conn_fail(c, TF_ERR_PROTOCOL,
                                 "peer corrupted the ring (head %llu, tail %llu)",
                                 (unsigned long long)head, (unsigned long long)r->pos);
        r->peer_seen = head;
        *amount = avail;
    }
    return TF_OK;
}

static bool peer_closed_flag(struct tf_conn *c)
{
    return atomic_load_explicit(&c->shm->closed[c->is_server ? 0 : 1], memory_order_acquire);
}

/* Liveness: TF_OK while the peer lives. A peer that wrote its last bytes and then closed or
 * died still gets them read: the amount is checked again after the peer is seen gone, since
 * its data was published before it went. */
static int peer_lost(struct tf_conn *c, struct ring *r, bool producer, uint64_t need)
{
    const char *why = NULL;
    if (tft_conn_check_peer(c, &why) == TF_OK)
        return TF_OK;
    uint64_t have = 0;   /* set by ring_amount; -O3 cannot see that */
    if (!producer && ring_amount(c, r, false, &have) == TF_OK && have >= need)
        return TF_OK;
    if (c->err_code)
        return c->err_code;
    return tft_conn_fail(c, TF_ERR_CLOSED, "%s", why);
}

/* Checks the peer if a check is due: TF_LIVENESS_MS since the last one on this connection
 * (so a caller polling with short timeouts still notices a dead peer), or at once if the peer
 * raised its closed flag. */
static int liveness_due(struct tf_conn *c, struct ring *r, bool producer, uint64_t need)
{
    int64_t t = tft_now_ns();
    if (t - c->last_liveness_ns < (int64_t)TF_LIVENESS_MS * 1000000 && !peer_closed_flag(c))
        return TF_OK;
    c->last_liveness_ns = t;
    return peer_lost(c, r, producer, need);
}

/* Spin budget adaptation: a wait that spinning satisfied keeps (or grows) the budget; a wait
 * that had to sleep but was short means we gave up too early in a busy session, so spin the
 * full budget next time; a long sleep means the session idles, so spin less before sleeping. */
static void adapt_after_spin(struct tf_conn *c, struct ring *r, int64_t waited)
{
    uint64_t want = 4 * (uint64_t)waited;
    if (want > r->spin_ns)
        r->spin_ns = want > c->max_spin_ns ? c->max_spin_ns : (uint32_t)want;
}

static void adapt_after_sleep(struct tf_conn *c, struct ring *r, int64_t waited)
{
    if (waited < 4 * (int64_t)c->max_spin_ns)
        r->spin_ns = c->max_spin_ns;
    else if (r->spin_ns / 2 >= MIN_SPIN_NS)
        r->spin_ns /= 2;
    else
        r->spin_ns = MIN_SPIN_NS;
}

/* Spin phase. Returns 1 when satisfied, 0 when the budget ran out, or a tf_err. */
static int spin_until(struct tf_conn *c, struct ring *r, bool producer, uint64_t need,
                      int64_t start, int64_t deadline)
{
    int64_t spin_end = start + r->spin_ns, yield_from = start + YIELD_AFTER_NS;
    bool yielding = false;
    uint64_t have;
    for (unsigned iter = 1;; iter++) {
        /* Past the first microseconds, give the core away between checks: when the peer
         * shares our core (2-core VMs under load) pure spinning would only delay it. */
        if (yielding)
            sched_yield();
        else
            cpu_relax();
        int rc = ring_amount(c, r, producer, &have);
        if (rc)
            return rc;
        if (have >= need) {
            adapt_after_spin(c, r, tft_now_ns() - start);
            return 1;
        }
        if (yielding || iter % 32 == 0) {
            int64_t t = tft_now_ns();
            yielding = t >= yield_from;
            if (deadline >= 0 && t >= deadline)
                return TF_ERR_TIMEOUT;
            if (t >= spin_end || peer_closed_flag(c))
                return 0;
        }
    }
}

/* Waits until `need` bytes can be consumed (or written, for the producer). */
static int ring_wait(struct tf_conn *c, struct ring *r, bool producer, uint64_t need,
                     int64_t deadline)
{
    uint64_t have;
    int rc = ring_amount(c, r, producer, &have);
    if (rc || have >= need)
        return rc;
    if (c->dead)
        return c->err_code;
    if (producer && peer_closed_flag(c))
        return tft_conn_fail(c, TF_ERR_CLOSED, "peer closed the connection");
    if (deadline >= 0 && tft_now_ns() >= deadline) {
        rc = liveness_due(c, r, producer, need);
        return rc ? rc : TF_ERR_TIMEOUT;
    }
    int64_t start = tft_now_ns();
    rc = spin_until(c, r, producer, need, start, deadline);
    if (rc == TF_ERR_TIMEOUT) {
        int lrc = liveness_due(c, r, producer, need);
        return lrc ? lrc : rc;
    }
    if (rc != 0)
        return rc > 0 ? TF_OK : rc;

    _Atomic uint32_t *sleeping = producer ? &r->ctl->producer_sleeping : &r->ctl->consumer_sleeping;
    _Atomic uint32_t *seq = producer ? &r->ctl->producer_seq : &r->ctl->consumer_seq;
    for (;;) {
        uint32_t s = atomic_load(seq);
        atomic_store(sleeping, 1);
        atomic_thread_fence(memory_order_seq_cst);   /* announce before the re-check (Dekker) */
        rc = ring_amount(c, r, producer, &have);
        if (rc || have >= need)
            break;
        if (c->dead) {
            rc = c->err_code;
            break;
        }
        if ((rc = liveness_due(c, r, producer, need)))
            break;
        int64_t t = tft_now_ns(), slice = (int64_t)TF_LIVENESS_MS * 1000000;
        if (deadline >= 0) {
            if (t >= deadline) {
                rc = TF_ERR_TIMEOUT;
                break;
            }
            if (deadline - t < slice)
                slice = deadline - t;
        }
        futex_wait(seq, s, slice);
        atomic_store(sleeping, 0);
    }
    atomic_store(sleeping, 0);
    if (rc == TF_OK)
        adapt_after_sleep(c, r, tft_now_ns() - start);
    return rc;
}

/* Copies n bytes between the caller and the ring at index pos, splitting at the wrap. */
static void ring_copy_in(struct ring *r, uint64_t pos, const uint8_t *src, uint64_t n)
{
    uint64_t off = pos & (r->size - 1), first = r->size - off;
    if (first > n)
        first = n;
    memcpy(r->data + off, src, first);
    memcpy(r->data, src + first, n - first);
}

static void ring_copy_out(struct ring *r, uint64_t pos, uint8_t *dst, uint64_t n)
{
    uint64_t off = pos & (r->size - 1), first = r->size - off;
    if (first > n)
        first = n;
    memcpy(dst, r->data + off, first);
    memcpy(dst + first, r->data, n - first);
}

int tft_ring_write(struct tf_conn *c, const struct iovec *iov, int iovcnt, uint64_t total)
{
    struct ring *r = &c->out;
    if (peer_closed_flag(c))   /* one load: a pipelined send to a closed peer fails at once */
        return tft_conn_fail(c, TF_ERR_CLOSED, "peer closed the connection");
    uint64_t chunk_cap = r->size / 8 < RING_BYTES_MIN ? r->size : r->size / 8;
    int i = 0;
    size_t iov_off = 0;
    while (total > 0) {
        /* A frame that fits is published whole (one notify); a bigger one streams in chunks. */
        uint64_t need = total <= r->size / 2 ? total : chunk_cap;
        int rc = ring_wait(c, r, true, need, -1);
        if (rc)
            return rc;
        uint64_t room = r->size - (r->pos - r->peer_seen);
        uint64_t n = total < room ? total : room;
        if (total > r->size / 2 && n > chunk_cap)
            n = chunk_cap;
        for (uint64_t done = 0; done < n;) {
            while (iov[i].iov_len - iov_off == 0) {
                i++;
                iov_off = 0;
            }
            uint64_t take = iov[i].iov_len - iov_off;
            if (take > n - done)
                take = n - done;
            ring_copy_in(r, r->pos + done, (const uint8_t *)iov[i].iov_base + iov_off, take);
            done += take;
            iov_off += take;
        }
        (void)iovcnt;
        r->pos += n;
        total -= n;
        atomic_store_explicit(&r->ctl->head, r->pos, memory_order_release);
        notify(&r->ctl->consumer_sleeping, &r->ctl->consumer_seq);
    }
    return TF_OK;
}

int tft_ring_read(struct tf_conn *c, void *dst, uint64_t len, int64_t deadline)
{
    struct ring *r = &c->in;
    uint8_t *out = dst;
    while (len > 0) {
        int rc = ring_wait(c, r, false, 1, deadline);
        if (rc)
            return rc;
        uint64_t n = r->peer_seen - r->pos;
        if (n > len)
            n = len;
        if (out) {
            ring_copy_out(r, r->pos, out, n);
            out += n;
        }
        r->pos += n;
        len -= n;
        atomic_store_explicit(&r->ctl->tail, r->pos, memory_order_release);
        notify(&r->ctl->producer_sleeping, &r->ctl->producer_seq);
    }
    return TF_OK;
}

int tft_ring_wait_readable(struct tf_conn *c, uint64_t need, int64_t deadline)
{
    return ring_wait(c, &c->in, false, need, deadline);
}

uint64_t tft_ring_readable(struct tf_conn *c)
{
    uint64_t head = atomic_load_explicit(&c->in.ctl->head, memory_order_acquire);
    uint64_t avail = head - c->in.pos;
    return avail > c->in.size ? 0 : avail;
}

/* Wakes every sleeper on both rings (used when closing, so the peer notices at once). */
void tft_ring_wake_all(struct shm_header *shm)
{
    struct ring_ctl *rings[2] = {&shm->req, &shm->resp};
    for (int i = 0; i < 2; i++) {
        atomic_fetch_add(&rings[i]->consumer_seq, 1);
        futex_wake(&rings[i]->consumer_seq);
        atomic_fetch_add(&rings[i]->producer_seq, 1);
        futex_wake(&rings[i]->producer_seq);
    }
}

/* ---- in place: a producer writes into the ring, a consumer reads from it (bulk.c) ---- */

/* Contiguous room at the producer's index, waiting until at least min(want, ring / 8) bytes
 * are free: the caller (a device copy) then writes straight into shared memory. */
int tft_ring_space(struct tf_conn *c, uint64_t want, void **ptr, uint64_t *len)
{
    struct ring *r = &c->out;
    uint64_t chunk = r->size / 8 < RING_BYTES_MIN ? r->size : r->size / 8;
    int rc = ring_wait(c, r, true, want < chunk ? want : chunk, -1);
    if (rc)
        return rc;
    uint64_t room = r->size - (r->pos - r->peer_seen), off = r->pos & (r->size - 1);
    uint64_t n = r->size - off < room ? r->size - off : room;
    *ptr = r->data + off;
    *len = n < want ? n : want;
    return TF_OK;
}

/* Publishes n bytes written in place (n <= what tft_ring_space gave). */
void tft_ring_commit(struct tf_conn *c, uint64_t n)
{
    struct ring *r = &c->out;
    r->pos += n;
    atomic_store_explicit(&r->ctl->head, r->pos, memory_order_release);
    notify(&r->ctl->consumer_sleeping, &r->ctl->consumer_seq);
}

/* Contiguous readable bytes at the consumer's index (at least one, or min(want, ring / 8)
 * when that many are coming): read in place, then consumed with tft_ring_read(c, NULL, n). */
int tft_ring_peek(struct tf_conn *c, uint64_t want, const void **ptr, uint64_t *len)
{
    struct ring *r = &c->in;
    uint64_t chunk = r->size / 8 < RING_BYTES_MIN ? r->size : r->size / 8;
    int rc = ring_wait(c, r, false, want < chunk ? want : chunk, -1);
    if (rc)
        return rc;
    uint64_t avail = r->peer_seen - r->pos, off = r->pos & (r->size - 1);
    uint64_t n = r->size - off < avail ? r->size - off : avail;
    *ptr = r->data + off;
    *len = n < want ? n : want;
    return TF_OK;
}
