/*
 * Cross-memory attach, the stub's side: on a same-host session the large pageable copies
 * (cuMemcpyHtoD/DtoH and their Async forms, TFS_ATTACH_MIN bytes and more) name the program's
 * address instead of carrying the bytes, and the worker copies straight between that memory
 * and the device with process_vm_readv/writev (src/worker/attach.c): one copy, in one process.
 *
 * Negotiated once per session, at the first such copy: the worker's pid (tfi_attach_pid); where
 * Yama restricts ptrace to descendants (ptrace_scope 1) the program names the worker its
 * ptracer with prctl(PR_SET_PTRACER); then tfi_attach_probe, in which the worker must read a
 * random token of the program's and write its complement back. Anything short of that (TCP,
 * ptrace_scope 3, the kernel's EPERM or ENOSYS, TFUSE_ATTACH=off on either side, a worker of
 * before) leaves the session on the staged path: nothing is ever copied from a guess.
 * May call: conn.c (the transaction), src/transport (the connection's kind), src/common/log.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "stub.h"
#include "transport.h"

#define TFS_ATTACH_MIN (64u << 10)
#define ATTACH_BIT (1ull << 62)   /* IBUF length word: u64 address follows (worker/attach.h) */
#define ATTACH_WHERE 2u           /* OBUF where word: u64 address, u64 0 follow */
#define TOKEN 64

static struct {
    int state;      /* 0 not tried, 1 on, -1 off for the session */
    int ptracer;    /* the worker was named the program's ptracer */
} at;

/* ---- which path a large copy takes ----
 * The kernel's cross-memory copy is one copy but not always the faster: on the development VM
 * it moves 2-5 GB/s where the staged path's two memcpys, side by side on two cores, reach 3-9
 * (bench_pageable, docs/forwarding.md); on hosts whose kernel copies at memcpy speed it wins.
 * So synchronous copies of ADAPT_MIN bytes and more are timed on both paths, per direction and
 * size class (4-16 MiB, 16-64 MiB, 64 MiB and more: rates differ by size): each path is tried
 * three times, the first try not counted (it pays first touches, the ring's included), then the
 * faster (an average of its recent rates) is taken, and the other again every EXPLORE-th copy,
 * as the host's load moves them. One case is decided without timing: a DtoH into pages the
 * program has not touched yet (a new allocation: mincore) takes the attach, whose writes fault
 * the pages in from the kernel, 10-15x faster here than the program's own first touches
 * (the staged path's and the direct path's). TFUSE_ATTACH=always skips all this. */
#define ADAPT_MIN (4u << 20)
#define EXPLORE 16
#define CLASSES 3
#define TRIES 3
static struct {
    double gbps[2][2][CLASSES];   /* [0 staged, 1 attach][0 HtoD, 1 DtoH][class]: averages */
    unsigned tries[2][2][CLASSES];
    unsigned copies[2][CLASSES];
    int timing, path, dir, cls;   /* the call being timed (one at a time: the call lock) */
    double t0;
} ad;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);   /* vDSO: no system call */
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int env_always(void)
{
    const char *e = getenv("TFUSE_ATTACH");
    return e && !strcmp(e, "always");
}

static int size_class(size_t len)
{
    return len < (16u << 20) ? 0 : len < (64u << 20) ? 1 : 2;
}

/* 1 when most of a sample of [p, p + len) is not resident: the first 64 and the last 64 pages
 * (a new allocation is untouched throughout, a buffer in use is resident throughout). */
static int untouched(const void *p, size_t len)
{
    const size_t page = 4096, span = 64 * page;
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + len + page - 1) & ~(page - 1);
    uintptr_t at[2] = {lo, hi - lo > span ? hi - span : lo};
    unsigned char v[64];
    int absent = 0, seen = 0;
    for (int i = 0; i < 2; i++) {
        size_t n = hi - at[i] < span ? hi - at[i] : span;
        if (mincore((void *)at[i], n, v) != 0)
            return 0;
        for (size_t k = 0; k < n / page; k++, seen++)
            absent += !(v[k] & 1);
    }
    return absent * 2 > seen;
}

/* 1: attach. Starts the timing of a synchronous copy. */
static int choose(const struct tfs_call *c, const void *p, size_t len, int dir)
{
    int sync = c->id == TFP_ID_cuMemcpyHtoD_v2 || c->id == TFP_ID_cuMemcpyDtoH_v2;
    if (len < ADAPT_MIN || env_always())
        return 1;
    if (dir == 1 && untouched(p, len)) {
        tf_debug("a DtoH of %zu bytes into untouched pages: by cross-memory attach", len);
        return 1;
    }
    int path, k = size_class(len);
    if (ad.tries[1][dir][k] < TRIES)
        path = 1;
    else if (ad.tries[0][dir][k] < TRIES)
        path = 0;
    else {
        path = ad.gbps[1][dir][k] >= ad.gbps[0][dir][k];
        if (++ad.copies[dir][k] % EXPLORE == 0)
            path = !path;
    }
    if (sync) {
        ad.timing = 1;
        ad.path = path;
        ad.dir = dir;
        ad.cls = k;
        ad.t0 = now_s();
    }
    return path;
}

static void timed(size_t len, CUresult r)
{
    if (!ad.timing)
        return;
    ad.timing = 0;
    double dt = now_s() - ad.t0, g = dt > 0 ? (double)len / dt / 1e9 : 0;
    if (r != CUDA_SUCCESS || g <= 0)
        return;
    unsigned *n = &ad.tries[ad.path][ad.dir][ad.cls];
    double *avg = &ad.gbps[ad.path][ad.dir][ad.cls];
    *avg = *n <= 1 ? g : 0.7 * *avg + 0.3 * g;   /* try 0 is overwritten by try 1 */
    (*n)++;
}

static int copy_call(uint32_t id)
{
    return id == TFP_ID_cuMemcpyHtoD_v2 || id == TFP_ID_cuMemcpyDtoH_v2 ||
           id == TFP_ID_cuMemcpyHtoDAsync_v2 || id == TFP_ID_cuMemcpyDtoHAsync_v2;
}

/* Yama's ptrace_scope: -1 without Yama (the classic rule: same user, dumpable). */
static int yama_scope(void)
{
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int env_off(void)
{
    const char *e = getenv("TFUSE_ATTACH");
    return e && (!strcmp(e, "off") || !strcmp(e, "0"));
}

/* tfi_attach_pid: the worker's pid, or 0. */
static uint64_t ask_pid(struct tfp_writer *w)
{
    struct tfs_call c = {.w = w, .id = TFP_ID_tfi_attach_pid, .mode = TFP_SYNC};
    uint64_t pid = 0;
    tfp_writer_reset(w);
    tfp_put_u64(w, (uint64_t)(uintptr_t)tfs_current_ctx());
    CUresult r = tfs_transact(&c);
    if (r == CUDA_SUCCESS)
        pid = tfs_get_u64(&c);
    return tfs_settle(&c, r) == CUDA_SUCCESS ? pid : 0;
}

/* tfi_attach_probe: the worker read the token and wrote its complement. */
static int probe(struct tfp_writer *w)
{
    uint8_t *token = malloc(TOKEN), expect[TOKEN];
    if (!token || getrandom(expect, sizeof expect, 0) != (ssize_t)sizeof expect) {
        free(token);
        return 0;
    }
    memcpy(token, expect, TOKEN);
    struct tfs_call c = {.w = w, .id = TFP_ID_tfi_attach_probe, .mode = TFP_SYNC};
    tfp_writer_reset(w);
    tfp_put_u64(w, (uint64_t)(uintptr_t)tfs_current_ctx());
    tfp_put_u64(w, (uint64_t)(uintptr_t)token);
    tfp_put_u64(w, TOKEN);
    tfs_put_in(&c, expect, TOKEN);
    CUresult r = tfs_settle(&c, tfs_transact(&c));
    int ok = r == CUDA_SUCCESS;
    for (int i = 0; ok && i < TOKEN; i++)
        ok = (uint8_t)(token[i] ^ expect[i]) == 0xff;
    free(token);
    return ok;
}

void tfs_attach_negotiate(struct tf_conn *conn, struct tfp_writer *w, uint32_t id)
{
    if (at.state || !copy_call(id))
        return;
    at.state = -1;
    struct tf_conn_info info;
    tf_conn_get_info(conn, &info);
    int scope = yama_scope();
    if (env_off() || !info.is_unix || scope >= 3) {
        tf_debug("pageable copies staged (%s)", env_off() ? "TFUSE_ATTACH=off"
                                                : !info.is_unix ? "not on this host"
                                                                : "ptrace_scope 3");
        return;
    }
    uint64_t pid = ask_pid(w);
    if (!pid) {   /* a worker that does not offer it (or one of before) */
        tf_debug("pageable copies staged: the node offers no cross-memory attach");
        return;
    }
    if (scope == 1 && prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0) == 0)
        at.ptracer = 1;
    if (!probe(w)) {
        tf_debug("pageable copies staged: the worker could not attach (ptrace_scope %d)", scope);
        tfs_attach_lost();
        return;
    }
    at.state = 1;
    tf_debug("pageable copies by cross-memory attach (worker pid %llu)",
             (unsigned long long)pid);
}

void tfs_attach_lost(void)
{
    at.state = -1;
    if (at.ptracer && prctl(PR_SET_PTRACER, 0, 0, 0, 0) == 0)
        at.ptracer = 0;
}

int tfs_attach_in(struct tfs_call *c, const void *p, size_t len)
{
    if (at.state != 1 || len < TFS_ATTACH_MIN || !copy_call(c->id))
        return 0;
    c->bytes = len;
    if (!choose(c, p, len, 0))
        return 0;
    tfp_put_u64(c->w, (uint64_t)len | ATTACH_BIT);
    tfp_put_u64(c->w, (uint64_t)(uintptr_t)p);
    c->attached = 1;
    if (c->mode == TFP_ASYNC)
        c->mode = TFP_SYNC;   /* the program may reuse its buffer once the call returns */
    return 1;
}

int tfs_attach_out(struct tfs_call *c, void *p, size_t len)
{
    if (at.state != 1 || len < TFS_ATTACH_MIN || !copy_call(c->id))
        return 0;
    c->bytes = len;
    if (!choose(c, p, len, 1))
        return 0;
    tfp_put_u64(c->w, ATTACH_WHERE);
    tfp_put_u64(c->w, (uint64_t)(uintptr_t)p);
    tfp_put_u64(c->w, 0);
    c->attached = 1;
    return 1;
}

void tfs_attach_after(const struct tfs_call *c, CUresult r)
{
    timed(c->bytes, r);
    if (c->attached && r == CUDA_ERROR_NOT_PERMITTED && at.state == 1) {
        tf_warn("the node can no longer attach to this process: pageable copies go staged");
        tfs_attach_lost();
    }
}
