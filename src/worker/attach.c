/*
 * Cross-memory attach: the worker reads and writes a same-host client's pageable buffers with
 * process_vm_readv / process_vm_writev, so a pageable copy is one copy in one process (the
 * client's memory -> the device's, or back) instead of two side by side on both sides of the
 * shared-memory ring.
 *
 * Negotiated per session, by the stub: tfi_attach_pid gives it this worker's pid (it declares
 * the worker its ptracer with prctl(PR_SET_PTRACER) where Yama asks for it), then
 * tfi_attach_probe has the worker read a token of the client's and write its complement back:
 * only when both came through does either side use the attach. Refused (the stub stays on the
 * staged path) over TCP, for a peer whose pid the kernel did not vouch for (SO_PEERCRED), with
 * TFUSE_ATTACH=off in the node's environment, and wherever the kernel says EPERM/ENOSYS.
 *
 * Security: the only process read or written is the session's peer as SO_PEERCRED named it on
 * the unix socket, and only at the addresses its own requests name; an address it does not
 * have (unmapped, or read-only for a DtoH) is CUDA_ERROR_INVALID_VALUE for that call.
 * One session per worker process, so the state is this file's.
 * May call: src/transport (the connection's peer), the backend table (none directly).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "attach.h"
#include "log.h"

#define PROBE_MAX 4096u
#define PAR_MIN (2ull << 20)     /* a copy this large is shared with the helper thread */
#define PAR_PIECE (1ull << 20)

static struct {
    pid_t pid;            /* the client, once the probe passed; 0 before and when refused */
    int refused;          /* the kernel said no (or the node's environment did) */
    CUresult error;       /* the current request's attach error */
    int used;             /* the current request named the client's memory */
    uint64_t out_addr;    /* a pending OBUF: where in the client */
    uint64_t out_len;
    int out_noted;
    uint8_t *buf;         /* the buffer of attach IBUFs and OBUFs, kept between requests */
    size_t cap;
} at;

/* The session's peer as the kernel names it, on a unix socket only. */
static pid_t peer_pid(struct tfw_session *s)
{
    struct tf_conn_info info;
    tf_conn_get_info(s->conn, &info);
    return info.is_unix && info.peer_pid > 0 ? info.peer_pid : 0;
}

static int env_off(void)
{
    const char *e = getenv("TFUSE_ATTACH");
    return e && (!strcmp(e, "off") || !strcmp(e, "0"));
}

int tfw_attach_on(void)
{
    return at.pid > 0;
}

/* One direction of process_vm_*; partial transfers go on until done or refused. */
static CUresult transfer(pid_t pid, void *local, uint64_t addr, uint64_t n, int write)
{
    uint64_t done = 0;
    while (done < n) {
        struct iovec l = {(uint8_t *)local + done, n - done};
        struct iovec r = {(void *)(uintptr_t)(addr + done), n - done};
        ssize_t k = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
                          : process_vm_readv(pid, &l, 1, &r, 1, 0);
        if (k > 0) {
            done += (uint64_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EPERM || errno == ENOSYS || errno == ESRCH))
            return CUDA_ERROR_NOT_PERMITTED;
        if (k < 0 && errno == ENOMEM)
            return CUDA_ERROR_OUT_OF_MEMORY;
        return CUDA_ERROR_INVALID_VALUE;   /* EFAULT: not the client's memory */
    }
    return CUDA_SUCCESS;
}

static CUresult transfer_parallel(pid_t pid, void *local, uint64_t addr, uint64_t n, int write);

static CUresult attach_io(struct tfw_session *s, void *local, uint64_t addr, uint64_t n,
                          int write)
{
    if (n == 0)
        return CUDA_SUCCESS;
    if (!at.pid || peer_pid(s) != at.pid || addr + n < addr)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = n >= PAR_MIN ? transfer_parallel(at.pid, local, addr, n, write)
                              : transfer(at.pid, local, addr, n, write);
    if (r == CUDA_ERROR_NOT_PERMITTED) {
        tf_warn("cross-memory attach of pid %d refused now (%s): the client falls back",
                (int)at.pid, strerror(errno));
        at.pid = 0;
        at.refused = 1;
    }
    return r;
}

/* ---- large copies on two threads ----
 * The kernel's cross-memory copy pins and copies page by page: on the development VM it moves
 * 2-5 GB/s where a memcpy moves 6-17 (bench_pageable, docs/forwarding.md). The program waits
 * for the reply meanwhile (its core is free), so a large copy is shared with a helper thread:
 * both take PAR_PIECE pieces from one counter until none is left, which also balances when one
 * of them loses its core. */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    int started, busy;            /* the helper exists; a job is running */
    uint8_t *local;               /* the job */
    uint64_t addr, n;
    int write;
    pid_t pid;
    _Atomic uint64_t next;        /* the next piece's offset */
    _Atomic int error;            /* the first error (a CUresult) */
    int helper_in;                /* the helper is working on the job */
} par = {.lock = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
         .done = PTHREAD_COND_INITIALIZER};

static void pieces(void)
{
    for (;;) {
        uint64_t off = atomic_fetch_add(&par.next, PAR_PIECE);
        if (off >= par.n || atomic_load(&par.error) != CUDA_SUCCESS)
            return;
        uint64_t m = par.n - off < PAR_PIECE ? par.n - off : PAR_PIECE;
        CUresult r = transfer(par.pid, par.local + off, par.addr + off, m, par.write);
        int ok = CUDA_SUCCESS;
        if (r != CUDA_SUCCESS)
            atomic_compare_exchange_strong(&par.error, &ok, (int)r);
    }
}

static void *helper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&par.lock);
    for (;;) {
        while (!par.busy || par.helper_in)
            pthread_cond_wait(&par.go, &par.lock);
        par.helper_in = 1;
        pthread_mutex_unlock(&par.lock);
        pieces();
        pthread_mutex_lock(&par.lock);
        par.helper_in = 0;
        par.busy = 0;
        pthread_cond_signal(&par.done);
    }
    return NULL;
}

/* The whole copy on this thread and the helper; on this thread alone when there is none. */
static CUresult transfer_parallel(pid_t pid, void *local, uint64_t addr, uint64_t n, int write)
{
    pthread_mutex_lock(&par.lock);
    if (!par.started) {
        pthread_t t;
        par.started = pthread_create(&t, NULL, helper, NULL) == 0 ? 1 : -1;
        if (par.started == 1)
            pthread_detach(t);
    }
    if (par.started != 1) {
        pthread_mutex_unlock(&par.lock);
        return transfer(pid, local, addr, n, write);
    }
    par.local = local;
    par.addr = addr;
    par.n = n;
    par.write = write;
    par.pid = pid;
    atomic_store(&par.next, 0);
    atomic_store(&par.error, CUDA_SUCCESS);
    par.busy = 1;
    pthread_cond_signal(&par.go);
    pthread_mutex_unlock(&par.lock);
    pieces();
    pthread_mutex_lock(&par.lock);
    while (par.busy && par.helper_in)
        pthread_cond_wait(&par.done, &par.lock);
    par.busy = 0;   /* a helper that never woke finds nothing left to do */
    pthread_mutex_unlock(&par.lock);
    return (CUresult)atomic_load(&par.error);
}

CUresult tfw_attach_read(struct tfw_session *s, void *dst, uint64_t addr, uint64_t n)
{
    return attach_io(s, dst, addr, n, 0);
}

CUresult tfw_attach_write(struct tfw_session *s, uint64_t addr, const void *src, uint64_t n)
{
    return attach_io(s, (void *)src, addr, n, 1);
}

/* ---- negotiation (calls_internal.def) ---- */

CUresult tfw_tfi_attach_pid(uint64_t *pid)
{
    struct tfw_session *s = tfw_self;
    if (env_off() || at.refused || !peer_pid(s))
        return CUDA_ERROR_NOT_SUPPORTED;
    *pid = (uint64_t)getpid();
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_attach_probe(uint64_t addr, uint64_t bytes, const void *expect)
{
    struct tfw_session *s = tfw_self;
    pid_t pid = peer_pid(s);
    uint8_t got[PROBE_MAX];
    if (env_off() || at.refused || !pid)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (bytes == 0 || bytes > PROBE_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = transfer(pid, got, addr, bytes, 0);
    if (r == CUDA_SUCCESS && memcmp(got, expect, bytes) != 0)
        r = CUDA_ERROR_INVALID_VALUE;   /* not the client's bytes: never use it */
    for (uint64_t i = 0; r == CUDA_SUCCESS && i < bytes; i++)
        got[i] = (uint8_t)~got[i];
    if (r == CUDA_SUCCESS)
        r = transfer(pid, got, addr, bytes, 1);
    if (r != CUDA_SUCCESS) {
        tf_info("cross-memory attach of pid %d refused (%s): copies stay staged", (int)pid,
                r == CUDA_ERROR_NOT_PERMITTED ? strerror(errno) : "probe mismatch");
        at.refused = 1;
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    at.pid = pid;
    tf_info("session %d: pageable copies by cross-memory attach of pid %d", (int)getpid(),
            (int)pid);
    return CUDA_SUCCESS;
}

/* ---- IBUF and OBUF arguments that name the client's memory (dispatch, worker.c) ---- */

static void *buffer(uint64_t len)
{
    if (len > at.cap) {
        free(at.buf);
        at.buf = malloc(len);
        at.cap = at.buf ? len : 0;
    }
    return at.buf;
}

const void *tfw_attach_in(struct tfw_session *s, uint64_t addr, uint64_t len)
{
    at.used = 1;
    if (!tfw_attach_on()) {
        tfw_malformed(s, "buffer", "client memory named without a cross-memory attach");
        return NULL;
    }
    void *p = buffer(len ? len : 1);
    CUresult r = p ? tfw_attach_read(s, p, addr, len) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r != CUDA_SUCCESS && at.error == CUDA_SUCCESS)
        at.error = r;
    return r == CUDA_SUCCESS ? p : NULL;
}

void tfw_attach_note_out(uint64_t addr)
{
    at.used = 1;
    at.out_noted = 1;
    at.out_addr = addr;
}

int tfw_attach_out_pending(void)
{
    return at.out_noted;
}

void *tfw_attach_out(struct tfw_session *s, uint64_t len)
{
    at.out_len = len;
    if (!tfw_attach_on()) {
        tfw_malformed(s, "buffer", "client memory named without a cross-memory attach");
        return NULL;
    }
    void *p = buffer(len ? len : 1);
    if (!p)
        at.error = CUDA_ERROR_OUT_OF_MEMORY;
    return p;
}

CUresult tfw_attach_error(void)
{
    return at.error;
}

void tfw_attach_reset(void)
{
    at.error = CUDA_SUCCESS;
    at.used = 0;
    at.out_noted = 0;
    at.out_len = 0;
}

int tfw_attach_used(void)
{
    return at.used;
}

CUresult tfw_attach_finish(struct tfw_session *s, CUresult r)
{
    if (r == CUDA_SUCCESS && at.out_noted && at.out_len)
        r = at.buf ? tfw_attach_write(s, at.out_addr, at.buf, at.out_len)
                   : CUDA_ERROR_OUT_OF_MEMORY;
    at.out_noted = 0;
    return r;
}
