/*
 * The host thread pool (softgpu's "SMs") and ptx_launch_run(): validates a launch, queues it,
 * and lets the pool threads take blocks from an atomic counter until the grid is done or has
 * failed. Cooperative launches instead give each pool thread a fixed share of the blocks, all
 * resident at once and run round-robin in time slices, so that grid-wide spin-waits finish.
 * A launch with a scheduler (struct ptx_sched) is asked before every block whether it may go
 * on; a paused launch stays queued, skipped by the threads, until its launcher resumes it.
 * Calls the block engine (ptx_exec.c) and the launch's scheduler hooks.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ptx_internal.h"
#include "ptx_jit.h"

#define SLICE_NORMAL 4096
#define SLICE_COOP 512

typedef struct ptx_job {
    ptx_run *run;
    struct ptx_job *next;
    int active;       /* pool threads working on it */
    int participants; /* cooperative: shares handed out */
    int nshares;
    int exhausted;    /* no more work to hand out: removed from the queue */
    int paused;       /* its scheduler paused it: no thread joins until the launcher resumes */
    pthread_cond_t done;
} ptx_job;

struct ptx_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ptx_job *head;
    int stop;
    atomic_ullong insns;
    /* One cooperative launch at a time: two of them could each hold some pool threads while
     * waiting at a grid barrier for blocks that need the threads the other one holds. */
    pthread_mutex_t coop;
};

static void fail_oom(ptx_run *run, unsigned id)
{
    int exp = 0;
    if (atomic_compare_exchange_strong(&run->failed, &exp, 1)) {
        pthread_mutex_lock(&run->lock);
        run->status = PTX_ERR_LAUNCH_FAILED;
        snprintf(run->err, sizeof run->err, "out of memory for block %u", id);
        pthread_mutex_unlock(&run->lock);
    }
}

/* Whether the launch still has blocks to hand out (a pause is then real). */
static int blocks_left(ptx_run *run)
{
    return atomic_load(&run->next_block) < run->nblocks && !atomic_load(&run->failed);
}

/* Takes blocks from the launch's counter until none are left; one block's state is allocated
 * once and reset for every following block. Returns 1 when the scheduler paused the launch
 * with blocks left (the scheduler is asked before each block, never with one taken). */
static int run_blocks(ptx_pool *p, ptx_job *job, int smid)
{
    ptx_run *run = job->run;
    const struct ptx_sched *sc = run->l->sched;
    void *so = run->l->sched_opaque;
    if (sc && (!blocks_left(run) || !sc->enter(so)))
        return blocks_left(run); /* a late thread with nothing left skips the scheduler */
    ptx_block b;
    int have = 0, paused = 0;
    uint64_t insns = 0;
    for (int first = 1;; first = 0) {
        if (sc && !first && !sc->next(so)) {
            paused = blocks_left(run);
            break;
        }
        unsigned id = atomic_fetch_add(&run->next_block, 1);
        if (id >= run->nblocks || atomic_load(&run->failed))
            break;
        if (have && ptx_block_reset(&b, id) < 0) {
            ptx_block_free(&b);
            have = 0;
        }
        if (!have) {
            if (ptx_block_init(&b, run, id, smid) < 0) {
                ptx_block_free(&b);
                fail_oom(run, id);
                break;
            }
            have = 1;
        }
        int rc = run->jit ? ptx_jit_block_run(&b, (ptx_jit_phase_fn)(uintptr_t)run->jit)
                          : ptx_block_run(&b, SLICE_NORMAL, &insns);
        if (rc < 0)
            break;
    }
    if (have)
        ptx_block_free(&b);
    atomic_fetch_add(&run->insns, insns);
    atomic_fetch_add(&p->insns, insns);
    if (sc)
        sc->leave(so);
    return paused;
}

static void run_cooperative(ptx_pool *p, ptx_job *job, int share, int smid)
{
    ptx_run *run = job->run;
    const struct ptx_sched *sc = run->l->sched;
    if (sc)
        sc->enter(run->l->sched_opaque); /* a grid barrier forbids pausing: the answer is moot */
    int nb = 0;
    for (unsigned id = (unsigned)share; id < run->nblocks; id += (unsigned)job->nshares)
        nb++;
    ptx_block *blocks = calloc((size_t)(nb ? nb : 1), sizeof *blocks);
    int *done = calloc((size_t)(nb ? nb : 1), sizeof *done);
    uint64_t insns = 0;
    int ok = blocks && done;
    for (int i = 0; ok && i < nb; i++)
        if (ptx_block_init(&blocks[i], run, (unsigned)share + (unsigned)i * (unsigned)job->nshares,
                           smid) < 0)
            ok = 0;
    if (!ok)
        fail_oom(run, (unsigned)share);
    int left = ok ? nb : 0;
    while (left > 0 && !atomic_load(&run->failed)) {
        for (int i = 0; i < nb; i++) {
            if (done[i])
                continue;
            int r = ptx_block_run(&blocks[i], SLICE_COOP, &insns);
            if (r != 0) {
                done[i] = 1;
                left--;
            }
            if (r < 0)
                break;
        }
    }
    for (int i = 0; blocks && i < nb; i++)
        ptx_block_free(&blocks[i]);
    free(blocks);
    free(done);
    atomic_fetch_add(&run->insns, insns);
    atomic_fetch_add(&p->insns, insns);
    if (sc)
        sc->leave(run->l->sched_opaque);
}

static void unlink_job(ptx_pool *p, ptx_job *job)
{
    for (ptx_job **q = &p->head; *q; q = &(*q)->next)
        if (*q == job) {
            *q = job->next;
            break;
        }
    job->exhausted = 1;
}

static void *worker(void *arg)
{
    ptx_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    int smid = 0;
    for (int i = 0; i < p->n; i++)
        if (pthread_equal(p->threads[i], pthread_self()))
            smid = i;
    while (!p->stop) {
        ptx_job *job = p->head;
        while (job && job->paused)
            job = job->next;
        if (!job) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        job->active++;
        int share = -1;
        if (job->run->l->cooperative) {
            share = job->participants++;
            if (job->participants >= job->nshares)
                unlink_job(p, job);
        }
        pthread_mutex_unlock(&p->mu);
        int paused = 0;
        if (share >= 0)
            run_cooperative(p, job, share, smid);
        else
            paused = run_blocks(p, job, smid);
        pthread_mutex_lock(&p->mu);
        /* a cooperative job leaves the queue only when its last share is handed out */
        if (paused && !job->exhausted)
            job->paused = 1;
        else if (!job->exhausted && share < 0)
            unlink_job(p, job);
        if (--job->active == 0 && (share < 0 || job->participants >= job->nshares))
            pthread_cond_broadcast(&job->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ptx_pool *ptx_pool_create(int nthreads)
{
    if (nthreads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (int)n : 1;
    }
    if (nthreads > 1024)
        nthreads = 1024;
    ptx_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->coop, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        char name[16];   /* "sg-sm<i>": the device's SMs in top -H, ps -L and /proc */
        snprintf(name, sizeof name, "sg-sm%d", i);
        pthread_setname_np(p->threads[i], name);
        p->n++;
    }
    pthread_mutex_unlock(&p->mu);
    if (p->n == 0) {
        ptx_pool_destroy(p);
        return NULL;
    }
    return p;
}

int ptx_pool_size(const ptx_pool *p) { return p ? p->n : 0; }

int ptx_pool_pin(ptx_pool *p)
{
    cpu_set_t allowed;
    if (!p || sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return -1;
    int cpus[CPU_SETSIZE], ncpus = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed))
            cpus[ncpus++] = c;
    if (ncpus == 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < p->n; i++) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[i % ncpus], &one);
        if (pthread_setaffinity_np(p->threads[i], sizeof one, &one) != 0)
            rc = -1;
    }
    return rc;
}

uint64_t ptx_pool_instructions(const ptx_pool *p)
{
    return p ? atomic_load(&((ptx_pool *)p)->insns) : 0;
}

void ptx_pool_destroy(ptx_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->coop);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

static enum ptx_status bad(char *err, size_t errlen, enum ptx_status st, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
    return st;
}

static enum ptx_status validate(const struct ptx_launch *l, char *err, size_t errlen)
{
    if (!l || !l->kernel || !l->mem || !l->pool)
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "launch without kernel, memory or pool");
    const ptx_kernel *k = l->kernel;
    for (int i = 0; i < 3; i++)
        if (l->grid[i] == 0 || l->block[i] == 0)
            return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "zero grid or block dimension");
    uint64_t threads = (uint64_t)l->block[0] * l->block[1] * l->block[2];
    if (threads > 1024 || l->block[2] > 64)
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "too many threads per block");
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(k, &a);
    if (threads > (uint64_t)a.max_threads_per_block)
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "block larger than the kernel's .maxntid");
    if (a.reqntid[0] && (l->block[0] != (unsigned)a.reqntid[0] ||
                         l->block[1] != (unsigned)a.reqntid[1] ||
                         l->block[2] != (unsigned)a.reqntid[2]))
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "block shape differs from .reqntid");
    uint64_t blocks = (uint64_t)l->grid[0] * l->grid[1] * l->grid[2];
    if (blocks > 0xffffffffull)
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "grid too large");
    size_t smem = l->dynamic_shared_bytes ? k->dyn_offset + l->dynamic_shared_bytes
                                          : k->static_shared;
    if (l->max_shared_bytes && smem > l->max_shared_bytes)
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "shared memory over the per-block limit");
    if (l->param_bytes < ptx_kernel_param_bytes(k) || (l->param_bytes && !l->params))
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "parameter buffer smaller than the kernel's");
    if (k->mod->nglobals && !l->global_addrs)
        return bad(err, errlen, PTX_ERR_INVALID_CONFIG, "module globals without addresses");
    return PTX_OK;
}

enum ptx_status ptx_launch_run(const struct ptx_launch *l, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    enum ptx_status st = validate(l, err, errlen);
    if (st != PTX_OK)
        return st;
    ptx_pool *p = l->pool;
    ptx_run run;
    memset(&run, 0, sizeof run);
    run.l = l;
    run.k = l->kernel;
    run.nblocks = l->grid[0] * l->grid[1] * l->grid[2];
    run.param_window = (uint64_t)(uintptr_t)l->params;
    run.jit = (void *)(uintptr_t)ptx_jit_for_launch(l, NULL, 0);
    atomic_init(&run.next_block, 0);
    atomic_init(&run.failed, 0);
    atomic_init(&run.insns, 0);
    pthread_mutex_init(&run.lock, NULL);
    ptx_job job;
    memset(&job, 0, sizeof job);
    job.run = &run;
    job.nshares = (int)(run.nblocks < (unsigned)p->n ? run.nblocks : (unsigned)p->n);
    pthread_cond_init(&job.done, NULL);
    if (l->cooperative)
        pthread_mutex_lock(&p->coop);
    pthread_mutex_lock(&p->mu);
    ptx_job **tail = &p->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &job;
    pthread_cond_broadcast(&p->cv);
    while (!(job.exhausted && job.active == 0 &&
             (!l->cooperative || job.participants >= job.nshares))) {
        if (job.paused && job.active == 0) {
            /* no block runs: wait (unlocked) for the scheduler, then let the threads back in */
            pthread_mutex_unlock(&p->mu);
            l->sched->resume(l->sched_opaque);
            pthread_mutex_lock(&p->mu);
            job.paused = 0;
            pthread_cond_broadcast(&p->cv);
            continue;
        }
        pthread_cond_wait(&job.done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    if (l->cooperative)
        pthread_mutex_unlock(&p->coop);
    pthread_cond_destroy(&job.done);
    pthread_mutex_destroy(&run.lock);
    if (atomic_load(&run.failed)) {
        if (err && errlen)
            snprintf(err, errlen, "%s", run.err);
        return run.status ? run.status : PTX_ERR_LAUNCH_FAILED;
    }
    return PTX_OK;
}
