/*
 * The stub's connection to its worker (TFUSE_CONNECT = unix:PATH | tcp:HOST:PORT, TFUSE_TOKEN)
 * and the call transaction of every forwarded entry point (see stub.h).
 *
 * One connection per process, opened at the first call that needs the device and kept until
 * exit. A broken connection (the node died, a malformed reply) is final: every later call
 * returns CUDA_ERROR_DEVICE_UNAVAILABLE, promptly, as a lost GPU would.
 * May call: src/transport, src/proto, src/common/log.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stub.h"
#include "transport.h"

struct tfs_session_info tfs_info;

static struct {
    pthread_mutex_t lock;       /* one call at a time on the connection */
    struct tf_conn *conn;
    int state;                  /* 0 not tried, 1 connected, -1 failed for good */
    CUresult failure;           /* what every call returns once state is -1 */
    uint64_t seq;
    struct tfp_writer w;
    struct tfp_device_info *devices;
    uint8_t *device_known;
    volatile int forked;        /* set in a fork child: the connection is the parent's */
} g = {.lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP};

/* Not getpid() on every call: it is a system call, and on these VMs a third of a forwarded
 * round trip. A fork child (the only way a process inherits the connection) marks itself. */
static void mark_forked(void)
{
    g.forked = 1;
}

static void fail_session(CUresult why, const char *reason)
{
    if (g.state != -1)
        tf_error("connection to the TensorFuse node lost: %s", reason);
    g.state = -1;
    g.failure = why;
    tfs_attach_lost();   /* the worker is gone: it is no longer the program's ptracer */
    if (g.conn) {
        tf_conn_close(g.conn);
        g.conn = NULL;
    }
}

static CUresult first_exchange(void);

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, mark_forked);
}

/* A size from the environment in units of 2^shift bytes, lo..hi units; 0 (the default) when
 * unset. TFUSE_FRAME_MAX_MB lowers the session's frame bound (the node takes the smaller of
 * the two: the tests split copies at 12 MiB instead of 1 GiB); TFUSE_RING_KB sizes the shm
 * rings (rounded up to a power of two; for measurements). */
static size_t env_size(const char *name, unsigned long lo, unsigned long hi, int shift)
{
    const char *e = getenv(name);
    if (!e || !*e)
        return 0;
    char *end;
    unsigned long v = strtoul(e, &end, 10);
    if (*end || v < lo || v > hi) {
        tf_warn("%s=%s ignored: expected %lu to %lu", name, e, lo, hi);
        return 0;
    }
    return (size_t)v << shift;
}

static CUresult connect_locked(void)
{
    if (g.state == 1 && !g.forked)
        return CUDA_SUCCESS;
    if (g.state == 1) {
        /* A forked child must not share its parent's connection (nor its contexts). */
        tf_conn_abandon(g.conn);
        g.conn = NULL;
        g.state = -1;
        g.failure = CUDA_ERROR_NOT_INITIALIZED;
    }
    if (g.state == -1)
        return g.failure;
    tf_log_init("stub", TF_LOG_WARN);
    const char *addr = getenv("TFUSE_CONNECT");
    if (!addr || !*addr) {
        tf_error("TFUSE_CONNECT is not set (unix:PATH or tcp:HOST:PORT): no device");
        g.state = -1;
        g.failure = CUDA_ERROR_NO_DEVICE;
        return g.failure;
    }
    struct tf_client_opts opts = {.token = getenv("TFUSE_TOKEN"),
                                  .max_frame = env_size("TFUSE_FRAME_MAX_MB", 1, 1024, 20),
                                  .ring_bytes = env_size("TFUSE_RING_KB", 64, 1 << 20, 10)};
    char err[512];
    int e = tf_connect(addr, &opts, &g.conn, err, sizeof err);
    if (e != TF_OK) {
        tf_error("cannot connect to %s: %s", addr, err);
        g.state = -1;
        g.failure = CUDA_ERROR_NO_DEVICE;
        return g.failure;
    }
    g.state = 1;
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, register_fork_handler);
    tfp_writer_init(&g.w);
    return first_exchange();
}

/* The session's first request (lock held): the call tables must match; the answer is the
 * backend's version and device count, kept for the snapshot. */
static CUresult first_exchange(void)
{
    struct tfs_call c = {.w = &g.w, .id = TFP_ID_tfi_session_info, .mode = TFP_SYNC};
    tfp_writer_reset(&g.w);
    tfp_put_u64(&g.w, 0);
    tfp_put_u64(&g.w, tfp_table_hash());
    CUresult r = tfs_transact(&c);
    int version = 0, count = 0;
    if (r == CUDA_SUCCESS) {
        tfs_get(&c, &version, sizeof version);
        tfs_get(&c, &count, sizeof count);
    }
    if (c.bad)
        r = CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (r == CUDA_SUCCESS && (count < 0 || count > 64))
        r = CUDA_ERROR_INVALID_DEVICE;
    if (r != CUDA_SUCCESS) {
        if (r == CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)
            tf_error("the node was built from another version of TensorFuse's call table");
        fail_session(r, "session refused");
        return r;
    }
    tfs_info.driver_version = version;
    tfs_info.device_count = count;
    return CUDA_SUCCESS;
}

CUresult tfs_begin(struct tfs_call *c, uint32_t id)
{
    pthread_mutex_lock(&g.lock);
    CUresult r = connect_locked();
    if (r != CUDA_SUCCESS) {
        pthread_mutex_unlock(&g.lock);
        return r;
    }
    tfs_attach_negotiate(g.conn, &g.w, id);   /* once, at the session's first copy */
    if (g.state != 1) {
        pthread_mutex_unlock(&g.lock);
        return g.failure;
    }
    tfs_mirror_before();   /* mirrored memory: the program's writes go ahead of the request */
    tfp_writer_reset(&g.w);
    c->w = &g.w;
    c->id = id;
    c->mode = tfp_call_mode(id);
    c->bad = 0;
    c->attached = 0;
    c->bytes = 0;
    tfp_put_u64(&g.w, (uint64_t)(uintptr_t)tfs_current_ctx());
    return CUDA_SUCCESS;
}

static void deliver_printf(struct tfs_call *c, uint32_t n)
{
    char chunk[4096];
    while (n && !c->bad) {
        uint32_t k = n < sizeof chunk ? n : (uint32_t)sizeof chunk;
        if (tf_recv_payload(g.conn, chunk, k) != TF_OK) {
            c->bad = 1;
            break;
        }
        fwrite(chunk, 1, k, stdout);
        n -= k;
    }
    fflush(stdout);
}

CUresult tfs_transact(struct tfs_call *c)
{
    if (g.w.failed)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct iovec iov[TFP_MAX_SEGS];
    int n = tfp_iov(&g.w, iov, TFP_MAX_SEGS);
    int async = c->mode == TFP_ASYNC;
    uint64_t id = ++g.seq;
    int e = tf_send(g.conn, c->id, async ? TFP_FLAG_ASYNC : 0, id, iov, n);
    if (e == TF_ERR_TOO_LARGE) {   /* nothing was sent: the session goes on */
        struct tf_conn_info info;
        tf_conn_get_info(g.conn, &info);
        tf_error("a call's payload is larger than the session's frame bound (%llu bytes): "
                 "refused; copy it in smaller pieces", (unsigned long long)info.max_frame);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (e != TF_OK) {
        c->bad = 1;
        fail_session(CUDA_ERROR_DEVICE_UNAVAILABLE, tf_conn_error(g.conn));
        return g.failure;
    }
    if (async)
        return CUDA_SUCCESS;
    struct tf_frame_header h;
    e = tf_recv_header(g.conn, &h, -1);
    if (e != TF_OK || h.type != TFP_REPLY || h.id != id || h.length < 8) {
        c->bad = 1;
        fail_session(CUDA_ERROR_DEVICE_UNAVAILABLE,
                     e != TF_OK ? tf_conn_error(g.conn) : "unexpected reply frame");
        return g.failure;
    }
    int32_t result = 0;
    uint32_t printed = 0;
    tfs_get(c, &result, sizeof result);
    tfs_get(c, &printed, sizeof printed);
    if (!c->bad && printed > tf_recv_remaining(g.conn))
        c->bad = 1;
    deliver_printf(c, printed);
    if (c->bad) {
        fail_session(CUDA_ERROR_DEVICE_UNAVAILABLE, "malformed reply");
        return g.failure;
    }
    return (CUresult)result;
}

void tfs_get(struct tfs_call *c, void *dst, size_t n)
{
    if (!c->bad && n > tf_recv_remaining(g.conn))
        c->bad = 1;
    if (!c->bad && n && tf_recv_payload(g.conn, dst, n) != TF_OK)
        c->bad = 1;
    if (c->bad && dst)
        memset(dst, 0, n);
}

CUresult tfs_settle(struct tfs_call *c, CUresult r)
{
    if (c->bad && g.state == 1)
        fail_session(CUDA_ERROR_DEVICE_UNAVAILABLE, "malformed reply");
    return c->bad ? g.failure : r;
}

CUresult tfs_end(struct tfs_call *c, CUresult r)
{
    tfs_attach_after(c, r);
    if (c->bad && g.state == 1)
        fail_session(CUDA_ERROR_DEVICE_UNAVAILABLE, "malformed reply");
    if (c->bad)
        r = g.failure;
    else if (g.state == 1)
        tfs_mirror_after(c->id, r);   /* after a synchronizing call: the device's writes */
    pthread_mutex_unlock(&g.lock);
    tfs_misc_after(r);   /* core dumps and notifications (misc.c), outside the lock */
    return r;
}

uint64_t tfs_frame_bound(void)
{
    pthread_mutex_lock(&g.lock);
    uint64_t bound = 0;
    struct tf_conn_info info;
    if (connect_locked() == CUDA_SUCCESS) {
        tf_conn_get_info(g.conn, &info);
        bound = info.max_frame;
    }
    pthread_mutex_unlock(&g.lock);
    return bound;
}

/* ---- the session snapshot ---- */

static CUresult load_snapshot(void)
{
    pthread_mutex_lock(&g.lock);
    CUresult r = connect_locked();   /* fills tfs_info */
    int count = tfs_info.device_count;
    pthread_mutex_unlock(&g.lock);
    if (r != CUDA_SUCCESS)
        return r;
    struct tfp_device_info *devs = calloc((size_t)count + 1, sizeof *devs);
    uint8_t *known = calloc((size_t)count + 1, 1);
    if (!devs || !known) {
        free(devs);
        free(known);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    g.devices = devs;
    g.device_known = known;
    return CUDA_SUCCESS;
}

CUresult tfs_ensure_session(void)
{
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    static int loaded;
    static CUresult result;
    pthread_mutex_lock(&once);
    if (!loaded) {
        result = load_snapshot();
        loaded = result == CUDA_SUCCESS || result == CUDA_ERROR_NO_DEVICE ||
                 result == CUDA_ERROR_DEVICE_UNAVAILABLE;
    }
    CUresult r = result;
    pthread_mutex_unlock(&once);
    return r;
}

const struct tfp_device_info *tfs_device(CUdevice dev)
{
    if (tfs_ensure_session() != CUDA_SUCCESS || dev < 0 || dev >= tfs_info.device_count)
        return NULL;
    pthread_mutex_lock(&g.lock);
    int known = g.device_known[dev];
    pthread_mutex_unlock(&g.lock);
    if (!known) {
        struct tfp_device_info *d = malloc(sizeof *d);
        if (!d || tfi_device_info(dev, d) != CUDA_SUCCESS) {
            free(d);
            return NULL;
        }
        pthread_mutex_lock(&g.lock);
        g.devices[dev] = *d;
        g.device_known[dev] = 1;
        pthread_mutex_unlock(&g.lock);
        free(d);
    }
    return &g.devices[dev];
}

/* ---- bulk arguments and shared regions ---- */

#define REGION_BIT (1ull << 63)

void tfs_put_in(struct tfs_call *c, const void *p, size_t len)
{
    uint64_t id, off;
    if (len && tf_region_find(g.conn, p, len, &id, &off)) {
        tfp_put_u64(c->w, (uint64_t)len | REGION_BIT);
        tfp_put_u64(c->w, id);
        tfp_put_u64(c->w, off);
        return;
    }
    if (tfs_attach_in(c, p, len))
        return;   /* the worker reads it where it lies (attach.c) */
    tfp_put_u64(c->w, (uint64_t)len);
    tfp_put_ref(c->w, p, len);
}

int tfs_put_out(struct tfs_call *c, void *p, size_t len)
{
    uint64_t id, off;
    if (len && tf_region_find(g.conn, p, len, &id, &off)) {
        tfp_put_u64(c->w, 1);
        tfp_put_u64(c->w, id);
        tfp_put_u64(c->w, off);
        return 1;
    }
    if (tfs_attach_out(c, p, len))
        return 1;   /* the worker writes it where it lies: nothing in the reply */
    tfp_put_u64(c->w, 0);
    return 0;
}

void *tfs_region_alloc(size_t bytes, uint64_t *id)
{
    void *p = NULL;
    pthread_mutex_lock(&g.lock);
    struct tf_conn_info info;
    if (connect_locked() == CUDA_SUCCESS) {
        tf_conn_get_info(g.conn, &info);
        if (info.transport == TF_TRANSPORT_SHM && tf_region_create(g.conn, bytes, id, &p) != TF_OK)
            p = NULL;
    }
    pthread_mutex_unlock(&g.lock);
    return p;
}

void tfs_region_free(uint64_t id)
{
    pthread_mutex_lock(&g.lock);
    if (g.state == 1)
        tf_region_release(g.conn, id);
    pthread_mutex_unlock(&g.lock);
}

void *tfs_region_ptr(uint64_t id, uint64_t off, uint64_t len)
{
    pthread_mutex_lock(&g.lock);
    void *p = g.state == 1 ? tf_region_ptr(g.conn, id, off, len ? len : 1, NULL) : NULL;
    pthread_mutex_unlock(&g.lock);
    return p;
}

CUresult tfs_take_fd(uint64_t tag, int *fd)
{
    pthread_mutex_lock(&g.lock);
    CUresult r = connect_locked();
    if (r == CUDA_SUCCESS) {
        int rc = tf_conn_take_fd(g.conn, tag, fd);
        if (rc == TF_ERR_NOT_SUPPORTED)
            r = CUDA_ERROR_NOT_SUPPORTED;   /* TCP: no fd passing from another host */
        else if (rc != TF_OK && !(tag == 0 && rc == TF_ERR_AGAIN))
            r = CUDA_ERROR_OPERATING_SYSTEM;   /* the worker said it sent it */
    }
    pthread_mutex_unlock(&g.lock);
    return r;
}

CUresult tfs_send_fd(int fd, uint64_t *tag)
{
    static uint64_t next_tag = 1;
    pthread_mutex_lock(&g.lock);
    CUresult r = connect_locked();
    if (r == CUDA_SUCCESS) {
        *tag = next_tag++;
        if (tf_conn_send_fd(g.conn, *tag, fd) != TF_OK)
            r = CUDA_ERROR_NOT_SUPPORTED;   /* TCP: no fd passing to another host */
    }
    pthread_mutex_unlock(&g.lock);
    return r;
}
