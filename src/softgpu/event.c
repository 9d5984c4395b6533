/*
 * Events: creation flags, record (a work item that stamps the process's device clock when the
 * stream reaches it: devsched.h, time waiting for the device or a host CPU left out), query,
 * synchronize, elapsed time, destroy, and cuStreamWaitEvent (a work item
 * that blocks its stream until the event's last record has executed). Every record bumps a
 * generation, so waiters and queries refer to the record that was current when they were made.
 * An exported IPC event keeps its generations in a page shared with other processes
 * (ipc_event.c): every read of them pulls the page first.
 * Calls stream.c, context.c, devsched.c (the clock) and graph.c (records and waits inside a
 * stream capture).
 */
#include <stdlib.h>

#include "devsched.h"
#include "softgpu.h"

static void event_retain(struct sg_event *e) { atomic_fetch_add(&e->refs, 1); }

void sg_event_release(struct sg_event *e)
{
    if (atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    sg_ipc_event_forget(e);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e->cap_nodes);
    free(e);
}

/* A record or a wait on an event: the event and the record generation it refers to (0 inside
 * a graph: each launch refers to the record current at that moment). */
struct event_work {
    struct sg_work base;
    struct sg_event *event;
    uint64_t gen;
};

static CUresult record_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)s;
    struct event_work *rw = (struct event_work *)w;
    struct sg_event *e = rw->event;
    pthread_mutex_lock(&e->lock);
    uint64_t gen = rw->gen ? rw->gen : e->gen;
    if (gen >= e->done_gen) {
        e->done_gen = gen;
        e->time_ms = (double)sg_devsched_clock_ns(c->dev->ordinal) / 1e6;
    }
    if (e->ipc)
        sg_ipc_event_done(e, gen);
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
    return CUDA_SUCCESS;
}

/* e->lock held: until the record `target` has run (in another process for an IPC event). */
static void wait_gen_locked(struct sg_event *e, uint64_t target)
{
    if (e->ipc) {
        sg_ipc_event_wait_locked(e, target);
        return;
    }
    while (e->done_gen < target)
        pthread_cond_wait(&e->cond, &e->lock);
}

static CUresult event_wait_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s;
    struct event_work *ew = (struct event_work *)w;
    struct sg_event *e = ew->event;
    pthread_mutex_lock(&e->lock);
    sg_ipc_event_pull(e);
    uint64_t target = ew->gen ? ew->gen : e->gen;
    wait_gen_locked(e, target);
    pthread_mutex_unlock(&e->lock);
    return CUDA_SUCCESS;
}

static void event_work_destroy(struct sg_work *w)
{
    sg_event_release(((struct event_work *)w)->event);
    free(w);
}

/* A copy for a graph: it refers to whatever record is current when it runs. */
static struct sg_work *event_work_clone(const struct sg_work *w)
{
    struct event_work *n = (struct event_work *)sg_work_dup(w, sizeof *n);
    if (!n)
        return NULL;
    n->gen = 0;
    event_retain(n->event);
    return &n->base;
}

static struct sg_work *event_work_new(enum sg_work_kind kind, sg_work_exec_fn exec,
                                      struct sg_event *e, uint64_t gen)
{
    struct event_work *w = sg_work_new(sizeof *w, kind, exec, event_work_clone,
                                       event_work_destroy);
    if (!w)
        return NULL;
    event_retain(e);
    w->event = e;
    w->gen = gen;
    return &w->base;
}

struct sg_work *sg_work_event_record_new(struct sg_event *e, uint64_t gen)
{
    return event_work_new(SG_W_EVENT_RECORD, record_exec, e, gen);
}

struct sg_work *sg_work_event_wait_new(struct sg_event *e, uint64_t gen)
{
    return event_work_new(SG_W_EVENT_WAIT, event_wait_exec, e, gen);
}

struct sg_event *sg_work_event(const struct sg_work *w)
{
    if (!w || (w->kind != SG_W_EVENT_RECORD && w->kind != SG_W_EVENT_WAIT))
        return NULL;
    return ((const struct event_work *)w)->event;
}

CUresult sg_event_wait_submit(struct sg_stream *s, struct sg_event *e)
{
    pthread_mutex_lock(&e->lock);
    sg_ipc_event_pull(e);
    uint64_t gen = e->gen, done = e->done_gen;
    pthread_mutex_unlock(&e->lock);
    if (s->capture)
        return sg_stream_submit(s, sg_work_event_wait_new(e, 0));
    if (done >= gen) /* never recorded, or its record already ran */
        return CUDA_SUCCESS;
    return sg_stream_submit(s, sg_work_event_wait_new(e, gen));
}

/* ---- entry points ---------------------------------------------------------------------------- */

static CUresult event_lookup(CUevent h, struct sg_event **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_EVENT, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
    if (!phEvent)
        return CUDA_ERROR_INVALID_VALUE;
    if (Flags & ~(unsigned)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS))
        return CUDA_ERROR_INVALID_VALUE;
    if ((Flags & CU_EVENT_INTERPROCESS) && !(Flags & CU_EVENT_DISABLE_TIMING))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    struct sg_event *e = calloc(1, sizeof *e);
    if (!e)
        return CUDA_ERROR_OUT_OF_MEMORY;
    e->ctx = c;
    e->flags = Flags;
    e->ipc_fd = -1;
    atomic_store(&e->refs, 1);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    sg_handle_add(e, SG_K_EVENT);
    *phEvent = (CUevent)e;
    return CUDA_SUCCESS;
}

/* The checks of an event operation on a stream (record, wait), in the driver's order: the
 * event, flags within `allowed`, the stream. */
static CUresult event_on_stream(CUevent hEvent, CUstream hStream, unsigned flags,
                                unsigned allowed, struct sg_event **e, struct sg_stream **s)
{
    CUresult r = event_lookup(hEvent, e);
    if (r)
        return r;
    if (flags & ~allowed)
        return CUDA_ERROR_INVALID_VALUE;
    return sg_stream_resolve(hStream, s);
}

CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
    struct sg_event *e;
    struct sg_stream *s;
    CUresult r = event_on_stream(hEvent, hStream, flags, CU_EVENT_RECORD_EXTERNAL, &e, &s);
    if (r)
        return r;
    if (s->ctx != e->ctx)
        return CUDA_ERROR_INVALID_HANDLE;
    if (s->capture && (flags & CU_EVENT_RECORD_EXTERNAL)) /* an event record node */
        return sg_stream_submit(s, sg_work_event_record_new(e, 0));
    if (s->capture)
        return sg_capture_event_record(s, e);
    pthread_mutex_lock(&e->lock);
    uint64_t gen = e->ipc ? sg_ipc_event_next(e) : ++e->gen;
    e->recorded = 1;
    free(e->cap_nodes); /* a record outside capture replaces a captured one */
    e->cap_nodes = NULL;
    e->cap_nnodes = 0;
    e->cap_graph = NULL;
    pthread_mutex_unlock(&e->lock);
    return sg_stream_submit(s, sg_work_event_record_new(e, gen));
}

CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
    return cuEventRecordWithFlags(hEvent, hStream, 0);
}

CUresult cuEventQuery(CUevent hEvent)
{
    struct sg_event *e;
    CUresult r = event_lookup(hEvent, &e);
    if (r)
        return r;
    int sticky = atomic_load(&e->ctx->sticky);
    if (sticky)
        return (CUresult)sticky;
    pthread_mutex_lock(&e->lock);
    sg_ipc_event_pull(e);
    int done = e->done_gen >= e->gen;
    pthread_mutex_unlock(&e->lock);
    return done ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult cuEventSynchronize(CUevent hEvent)
{
    struct sg_event *e;
    CUresult r = event_lookup(hEvent, &e);
    if (r)
        return r;
    pthread_mutex_lock(&e->lock);
    sg_ipc_event_pull(e);
    wait_gen_locked(e, e->gen);
    pthread_mutex_unlock(&e->lock);
    sg_ctx_flush_print(e->ctx);
    int sticky = atomic_load(&e->ctx->sticky);
    return (CUresult)sticky;
}

static CUresult elapsed(float *ms, CUevent hStart, CUevent hEnd)
{
    if (!ms)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_event *a, *b;
    CUresult r = event_lookup(hStart, &a);
    if (!r)
        r = event_lookup(hEnd, &b);
    if (r)
        return r;
    if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING)
        return CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&a->lock);
    int a_rec = a->recorded, a_done = a->done_gen >= a->gen;
    double ta = a->time_ms;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_lock(&b->lock);
    int b_rec = b->recorded, b_done = b->done_gen >= b->gen;
    double tb = b->time_ms;
    pthread_mutex_unlock(&b->lock);
    if (!a_rec || !b_rec)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!a_done || !b_done)
        return CUDA_ERROR_NOT_READY;
    *ms = (float)(tb - ta);
    return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
    return elapsed(pMilliseconds, hStart, hEnd);
}

CUresult cuEventDestroy_v2(CUevent hEvent)
{
    struct sg_event *e;
    CUresult r = event_lookup(hEvent, &e);
    if (r)
        return r;
    sg_handle_del(e);
    sg_event_release(e); /* pending records and waits hold their own references */
    return CUDA_SUCCESS;
}

CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
    struct sg_event *e;
    struct sg_stream *s;
    CUresult r = event_on_stream(hEvent, hStream, Flags, CU_EVENT_WAIT_EXTERNAL, &e, &s);
    if (r)
        return r;
    pthread_mutex_lock(&e->lock);
    int captured = e->cap_graph != NULL;
    pthread_mutex_unlock(&e->lock);
    if (s->capture && (Flags & CU_EVENT_WAIT_EXTERNAL)) /* an event wait node */
        return sg_stream_submit(s, sg_work_event_wait_new(e, 0));
    if (captured || s->capture)
        return sg_capture_event_wait(s, e);
    return sg_event_wait_submit(s, e);
}
