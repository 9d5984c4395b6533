/*
 * Mirrored memory: mapped page-locked memory (cuMemHostAlloc with DEVICEMAP, cuMemHostRegister
 * with DEVICEMAP) on a connection that cannot pass a memfd (TCP: the node is on another host).
 * The program keeps its bytes here; the worker makes a device-mapped twin (tfi_mirror_create,
 * src/worker/mirror.c) whose device address the program gets. The two meet where the program
 * or the device can observe the other's writes under CUDA's rules:
 *   - before every forwarded request (a launch, a copy, a graph launch, ... in the order the
 *     program made them), the program's changes since the last exchange go to the twin, in one
 *     pipelined tfi_mirror_push (no round trip);
 *   - after every synchronizing call (stream, event and context synchronize, blocking copies and
 *     memsets, STREAMPT copies) and a stream or event query that answers CUDA_SUCCESS, the
 *     device's changes come back (tfi_mirror_pull, one round trip).
 * Both directions send only the bytes that changed since the two sides last agreed (a shadow
 * on each side, src/proto/mirror.h), and a receiver takes a byte only where the sender changed
 * it, so the program's writes and the device's to different bytes of one buffer between two
 * exchanges both survive. What this cannot give: a kernel that spins on a flag the program
 * writes while it runs, or a program that spins on a flag a running kernel writes, without a
 * CUDA call in between (docs/forwarding.md).
 *
 * Bounded: at most TFUSE_MIRROR_MAX bytes of twins (page-rounded) per process, 256 KiB by
 * default, 64 MiB at most (the worker's own bound); above it the allocation or registration
 * fails with CUDA_ERROR_OUT_OF_MEMORY and a log line that says why. Every forwarded call
 * compares the mirrored bytes with their shadow, so their size is what each call costs (256 KiB
 * unchanged: ~10 us at -O2 on the loaded 2-core VM, under a TCP round trip; 1 MiB: 70-90 us).
 * May call: conn.c, entry.c (tfi_* requests), src/proto/mirror.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mirror.h"
#include "stub.h"

#define DEFAULT_MAX (256ull << 10)
#define HARD_MAX (64ull << 20)
#define PUSH_CHUNK (256u << 10)
#define PULL_FIRST 4096u
#define PULL_MOST (1u << 20)

struct mirror {
    uint8_t *host;       /* the program's bytes */
    size_t len;
    uint8_t *shadow;     /* what the program and the twin last agreed on */
    uint64_t key;        /* the twin: the program's page-aligned address below host */
    uint64_t twin;       /* its page-rounded size */
    struct mirror *next;
};

static struct mirror *mirrors;
static uint64_t mirrored_bytes;
static int any;                     /* mirrors != NULL, read without the lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int busy;                    /* an exchange is on the connection (under its call lock) */
static uint8_t *buf;                /* runs being sent or received (under the call lock) */
static size_t buf_cap;

int tfs_mirror_wanted(void)
{
    int fd;
    return tfs_take_fd(0, &fd) == CUDA_ERROR_NOT_SUPPORTED;
}

static uint64_t bound(void)
{
    const char *e = getenv("TFUSE_MIRROR_MAX");
    if (!e || !*e)
        return DEFAULT_MAX;
    char *end;
    unsigned long long v = strtoull(e, &end, 10);
    unsigned long long unit = *end == 'K' || *end == 'k' ? 1ull << 10
                              : *end == 'M' || *end == 'm' ? 1ull << 20 : 1;
    if (end == e || (*end && unit == 1) || (unit > 1 && end[1]) || v > HARD_MAX / unit) {
        tf_warn("TFUSE_MIRROR_MAX=%s is not a size up to 64M: using 256K", e);
        return DEFAULT_MAX;
    }
    return v * unit;
}

/* Over budget: refused before the worker is asked, with the reason. */
static int over_bound(size_t len, uint64_t twin)
{
    uint64_t max = bound();
    pthread_mutex_lock(&lock);
    uint64_t now = mirrored_bytes;
    int over = twin > max || now > max - twin;
    if (!over)
        mirrored_bytes += twin;   /* held while the worker makes the twin */
    pthread_mutex_unlock(&lock);
    if (over)
        tf_error("mapped page-locked memory over TCP is mirrored, at most %llu bytes per process "
                 "(TFUSE_MIRROR_MAX, up to 64M): %zu more bytes (%llu with page rounding) "
                 "beside the %llu held are refused with CUDA_ERROR_OUT_OF_MEMORY",
                 (unsigned long long)max, len, (unsigned long long)twin,
                 (unsigned long long)now);
    return over;
}

CUresult tfs_mirror_add(void *host, size_t len, CUdeviceptr *dptr)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), at = (uint64_t)(uintptr_t)host;
    uint64_t key = at & ~(page - 1);
    if (len == 0 || len > HARD_MAX)
        return len ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE;
    uint64_t twin = (at + len - key + page - 1) & ~(page - 1);
    if (over_bound(len, twin))
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct mirror *m = calloc(1, sizeof *m);
    uint8_t *shadow = calloc(1, len);   /* the twin starts zeroed, as the shadow says */
    CUdeviceptr base = 0;
    CUresult r = m && shadow ? tfi_mirror_create(key, twin, &base) : CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&lock);
    if (r == CUDA_SUCCESS) {
        *m = (struct mirror){.host = host, .len = len, .shadow = shadow, .key = key,
                             .twin = twin, .next = mirrors};
        mirrors = m;
        __atomic_store_n(&any, 1, __ATOMIC_RELEASE);
    } else {
        mirrored_bytes -= twin;
    }
    pthread_mutex_unlock(&lock);
    if (r != CUDA_SUCCESS) {
        free(m);
        free(shadow);
        return r;
    }
    *dptr = base + (at - key);
    return CUDA_SUCCESS;
}

void tfs_mirror_del(void *host)
{
    pthread_mutex_lock(&lock);
    struct mirror **at = &mirrors;
    while (*at && (*at)->host != host)
        at = &(*at)->next;
    struct mirror *m = *at;
    if (m) {
        *at = m->next;
        mirrored_bytes -= m->twin;
        __atomic_store_n(&any, mirrors != NULL, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
    if (!m)
        return;
    tfi_unmap_host(m->key);
    free(m->shadow);
    free(m);
}

static int reserve(size_t n)
{
    if (buf_cap >= n)
        return 1;
    uint8_t *p = realloc(buf, n);
    if (!p)
        return 0;
    buf = p;
    buf_cap = n;
    return 1;
}

/* Sends the program's changes, in chunks; the shadows move as they are packed. */
static void push(void)
{
    if (!reserve(PUSH_CHUNK))
        return;
    pthread_mutex_lock(&lock);
    size_t used = 0;
    for (struct mirror *m = mirrors; m; m = m->next) {
        size_t pos = 0;
        while (pos < m->len) {
            tfp_mirror_diff(m->key, (uint32_t)((uint64_t)(uintptr_t)m->host - m->key), m->host,
                            m->shadow, m->len, &pos, buf, PUSH_CHUNK, &used);
            if (pos < m->len) {   /* full: send this chunk, go on with the next */
                tfi_mirror_push(used, buf);
                used = 0;
            }
        }
    }
    if (used)
        tfi_mirror_push(used, buf);
    pthread_mutex_unlock(&lock);
}

/* Takes one run of the twin at key into the mirror over it (clipped to the program's bytes). */
static void take_run(uint64_t key, uint32_t off, uint32_t len, const uint8_t *in)
{
    for (struct mirror *m = mirrors; m; m = m->next) {
        uint64_t lo = (uint64_t)(uintptr_t)m->host - m->key, hi = lo + m->len;
        if (m->key != key || off >= hi || (uint64_t)off + len <= lo)
            continue;
        uint64_t from = off > lo ? off : lo, to = (uint64_t)off + len < hi ? off + len : hi;
        tfp_mirror_apply(m->host + (from - lo), m->shadow + (from - lo), in + (from - off),
                         to - from);
    }
}

/* Fetches the device's changes until the worker has no more. */
static void pull(void)
{
    size_t cap = PULL_FIRST;
    unsigned more = 1;
    while (more) {
        uint64_t used = 0;
        if (!reserve(cap) || tfi_mirror_pull(cap, &used, &more, buf) != CUDA_SUCCESS ||
            used > cap) {
            tf_warn("the device's writes to mapped page-locked memory could not be fetched");
            return;
        }
        pthread_mutex_lock(&lock);
        size_t at = 0;
        uint64_t key;
        uint32_t off, len;
        const uint8_t *in;
        while (tfp_mirror_next(buf, used, &at, &key, &off, &len, &in) == 1)
            take_run(key, off, len, in);
        pthread_mutex_unlock(&lock);
        if (cap < PULL_MOST)
            cap *= 2;
    }
}

void tfs_mirror_before(void)
{
    if (busy || !__atomic_load_n(&any, __ATOMIC_ACQUIRE))
        return;
    busy = 1;
    push();
    busy = 0;
}

void tfs_mirror_after(uint32_t id, CUresult r)
{
    if (busy || !__atomic_load_n(&any, __ATOMIC_ACQUIRE))
        return;
    enum tfp_mode mode = tfp_call_mode(id);
    int done_query = (id == TFP_ID_cuStreamQuery || id == TFP_ID_cuEventQuery) &&
                     r == CUDA_SUCCESS;
    if (mode != TFP_SYNCPT && mode != TFP_STREAMPT && !done_query)
        return;
    busy = 1;
    pull();
    busy = 0;
}
