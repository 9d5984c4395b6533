/*
 * Streams: each stream is a FIFO of sg_work executed in order by one worker thread (the
 * constructor and byte-copy helpers every kind of work item uses live here too). Implements
 * the legacy default stream's implicit synchronisation with blocking streams, the per-thread
 * default stream, host functions and callbacks, and the stream entry points (cuStreamCreate*,
 * cuStreamGet*, cuStreamQuery, cuStreamSynchronize, cuStreamDestroy, cuStreamAddCallback,
 * cuLaunchHostFunc, cuStreamAttachMemAsync). Calls context.c, graph.c (capture), devsched.c
 * (a skipped kernel gives the device up) and the work items' own exec functions.
 */
#include <stdlib.h>
#include <string.h>

#include "devsched.h"
#include "softgpu.h"

static _Atomic unsigned long long next_stream_id = 1;

/* ---- work items ----------------------------------------------------------------------------- */

void sg_work_free(struct sg_work *w)
{
    if (!w)
        return;
    if (w->destroy)
        w->destroy(w);
    else
        free(w);
}

static CUresult nop_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s, (void)w;
    return CUDA_SUCCESS;
}

void *sg_work_new(size_t bytes, enum sg_work_kind kind, sg_work_exec_fn exec,
                  struct sg_work *(*clone)(const struct sg_work *w),
                  void (*destroy)(struct sg_work *w))
{
    struct sg_work *w = calloc(1, bytes);
    if (w) {
        w->kind = kind;
        w->exec = exec;
        w->clone = clone;
        w->destroy = destroy;
    }
    return w;
}

struct sg_work *sg_work_dup(const struct sg_work *w, size_t bytes)
{
    struct sg_work *n = malloc(bytes);
    if (n)
        memcpy(n, w, bytes);
    return n;
}

static struct sg_work *nop_clone(const struct sg_work *w) { return sg_work_dup(w, sizeof *w); }

struct sg_work *sg_work_nop_new(void)
{
    return sg_work_new(sizeof(struct sg_work), SG_W_NOP, nop_exec, nop_clone, NULL);
}

struct wait_work {
    struct sg_work base;
    struct sg_stream *other;
    uint64_t seq;
};

static CUresult wait_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s;
    struct wait_work *ww = (struct wait_work *)w;
    struct sg_stream *o = ww->other;
    pthread_mutex_lock(&o->lock);
    while (o->completed < ww->seq && !o->exited)
        pthread_cond_wait(&o->done_cond, &o->lock);
    pthread_mutex_unlock(&o->lock);
    return CUDA_SUCCESS;
}

static void wait_destroy(struct sg_work *w)
{
    sg_stream_release(((struct wait_work *)w)->other);
    free(w);
}

struct sg_work *sg_work_wait_new(struct sg_stream *other, uint64_t seq)
{
    struct wait_work *w = sg_work_new(sizeof *w, SG_W_WAIT, wait_exec, NULL, wait_destroy);
    if (!w)
        return NULL;
    sg_stream_retain(other);
    w->other = other;
    w->seq = seq;
    return &w->base;
}

/* A host function (cuLaunchHostFunc, graph host nodes) or a stream callback, with its
 * user argument. */
struct fn_work {
    struct sg_work base;
    union {
        CUhostFn host;
        CUstreamCallback callback;
    } fn;
    void *user;
};

static CUresult host_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    (void)c, (void)s;
    struct fn_work *h = (struct fn_work *)w;
    h->fn.host(h->user);
    return CUDA_SUCCESS;
}

static struct sg_work *host_clone(const struct sg_work *w)
{
    return sg_work_dup(w, sizeof(struct fn_work));
}

void sg_host_work_describe(const struct sg_work *w, CUhostFn *fn, void **user)
{
    const struct fn_work *h = (const struct fn_work *)w;
    *fn = h->fn.host;
    *user = h->user;
}

struct sg_work *sg_host_work_new(CUhostFn fn, void *user)
{
    struct fn_work *w = sg_work_new(sizeof *w, SG_W_HOST, host_exec, host_clone, NULL);
    if (!w)
        return NULL;
    w->fn.host = fn;
    w->user = user;
    return &w->base;
}

static CUresult callback_exec(struct sg_ctx *c, struct sg_stream *s, struct sg_work *w)
{
    struct fn_work *cb = (struct fn_work *)w;
    CUresult status = (CUresult)atomic_load(&c->sticky);
    cb->fn.callback(s->is_null ? NULL : (CUstream)s, status, cb->user);
    return CUDA_SUCCESS;
}

/* ---- the worker ------------------------------------------------------------------------------ */

/* The item this stream thread runs (sg_stream_next_is_kernel). */
static __thread const struct sg_work *running_item;

int sg_stream_next_is_kernel(struct sg_stream *s, const struct sg_work *w)
{
    if (!s || w != running_item || atomic_load(&s->ctx->sticky))
        return 0;
    pthread_mutex_lock(&s->lock);
    /* event records between kernels are stamps, not work: the worker brackets every launch
     * with two, and a turn per kernel cost the device a hand-over each (2-4 % of its time) */
    const struct sg_work *n = s->head;
    while (n && n->kind == SG_W_EVENT_RECORD)
        n = n->next;
    int k = n && n->kind == SG_W_KERNEL;
    pthread_mutex_unlock(&s->lock);
    return k;
}

/* After a sticky error only work that unblocks waiters still runs. */
static int runs_when_broken(enum sg_work_kind k)
{
    return k == SG_W_NOP || k == SG_W_WAIT || k == SG_W_EVENT_RECORD || k == SG_W_CALLBACK
           || k == SG_W_FREE;
}

static void *stream_main(void *arg)
{
    struct sg_stream *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->work_cond, &s->lock);
        if (!s->head) {
            s->exited = 1;
            pthread_cond_broadcast(&s->done_cond);
            break;
        }
        struct sg_work *w = s->head;
        s->head = w->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);
        CUresult r = CUDA_SUCCESS;
        running_item = w;
        if (!atomic_load(&s->ctx->sticky) || runs_when_broken(w->kind))
            r = w->exec(s->ctx, s, w);
        else if (w->kind == SG_W_KERNEL) /* the device may have been kept for it */
            sg_devsched_skipped(s->ctx->dev->ordinal);
        running_item = NULL;
        uint64_t seq = w->seq;
        sg_work_free(w);
        pthread_mutex_lock(&s->lock);
        if (r && !s->error)
            s->error = r;
        s->completed = seq;
        pthread_cond_broadcast(&s->done_cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

CUresult sg_stream_create(struct sg_ctx *ctx, unsigned flags, int priority, int is_null,
                          struct sg_stream **out)
{
    struct sg_stream *s = calloc(1, sizeof *s);
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    s->ctx = ctx;
    s->flags = flags;
    s->priority = priority;
    s->is_null = is_null;
    s->id = atomic_fetch_add(&next_stream_id, 1);
    atomic_store(&s->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work_cond, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    if (pthread_create(&s->thread, NULL, stream_main, s) != 0) {
        free(s);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    sg_handle_add(s, SG_K_STREAM);
    if (!is_null) {
        pthread_mutex_lock(&ctx->lock);
        s->next_in_ctx = ctx->streams;
        ctx->streams = s;
        pthread_mutex_unlock(&ctx->lock);
    }
    *out = s;
    return CUDA_SUCCESS;
}

void sg_stream_retain(struct sg_stream *s) { atomic_fetch_add(&s->refs, 1); }

void sg_stream_release(struct sg_stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->done_cond);
    free(s->cap_deps);
    free(s);
}

static void unlink_from_ctx(struct sg_stream *s)
{
    struct sg_ctx *c = s->ctx;
    pthread_mutex_lock(&c->lock);
    for (struct sg_stream **p = &c->streams; *p; p = &(*p)->next_in_ctx) {
        if (*p == s) {
            *p = s->next_in_ctx;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void sg_stream_destroy(struct sg_stream *s)
{
    if (!s)
        return;
    sg_handle_del(s);
    unlink_from_ctx(s);
    pthread_mutex_lock(&s->lock);
    s->stopping = 1; /* the worker drains the FIFO, then exits */
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    sg_stream_release(s);
}

/* ---- submission ------------------------------------------------------------------------------ */

/* Returns -1 (and frees w) when the stream's worker has already exited. */
static int enqueue_locked(struct sg_stream *s, struct sg_work *w)
{
    pthread_mutex_lock(&s->lock);
    if (s->exited) {
        pthread_mutex_unlock(&s->lock);
        sg_work_free(w);
        return -1;
    }
    w->next = NULL;
    w->seq = ++s->enqueued;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* ctx->lock held: a wait on `other` for everything it has been given so far, if not done. */
static void wait_for_stream(struct sg_stream *s, struct sg_stream *other)
{
    pthread_mutex_lock(&other->lock);
    uint64_t target = other->enqueued, done = other->completed;
    pthread_mutex_unlock(&other->lock);
    if (done >= target)
        return;
    struct sg_work *w = sg_work_wait_new(other, target);
    if (w)
        (void)enqueue_locked(s, w); /* s being destroyed: nothing left to order */
}

CUresult sg_stream_submit(struct sg_stream *s, struct sg_work *w)
{
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (s->capture)
        return sg_capture_add(s, w);
    struct sg_ctx *c = s->ctx;
    /* Submissions of one context are serialised so that the implicit waits between the legacy
     * stream and blocking streams always point backwards in time (no cycles). */
    pthread_mutex_lock(&c->lock);
    if (!(s->flags & CU_STREAM_NON_BLOCKING)) {
        if (s->is_null) {
            for (struct sg_stream *b = c->streams; b; b = b->next_in_ctx)
                if (!(b->flags & CU_STREAM_NON_BLOCKING))
                    wait_for_stream(s, b);
        } else if (c->null_stream) {
            wait_for_stream(s, c->null_stream);
        }
    }
    int gone = enqueue_locked(s, w);
    pthread_mutex_unlock(&c->lock);
    return gone ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
}

CUresult sg_stream_drain(struct sg_stream *s)
{
    if (s->capture)
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    CUresult r = sg_stream_submit(s, sg_work_nop_new());
    if (r == CUDA_ERROR_INVALID_HANDLE)
        return CUDA_SUCCESS; /* destroyed meanwhile: its destroy ran everything it held */
    if (r)
        return r;
    pthread_mutex_lock(&s->lock);
    uint64_t target = s->enqueued;
    while (s->completed < target && !s->exited)
        pthread_cond_wait(&s->done_cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return CUDA_SUCCESS;
}

CUresult sg_stream_sync(struct sg_stream *s)
{
    CUresult r = sg_stream_drain(s);
    if (r)
        return r;
    pthread_mutex_lock(&s->lock);
    CUresult err = s->error;
    s->error = CUDA_SUCCESS;
    pthread_mutex_unlock(&s->lock);
    sg_ctx_flush_print(s->ctx);
    int sticky = atomic_load(&s->ctx->sticky);
    return sticky ? (CUresult)sticky : err;
}

int sg_stream_idle(struct sg_stream *s)
{
    pthread_mutex_lock(&s->lock);
    int idle = s->completed >= s->enqueued;
    pthread_mutex_unlock(&s->lock);
    return idle;
}

/* ---- resolving handles ----------------------------------------------------------------------- */

struct per_thread_entry {
    struct sg_ctx *ctx;
    unsigned generation;
    struct sg_stream *stream;
};
static __thread struct per_thread_entry per_thread[8];
static pthread_key_t per_thread_key;
static pthread_once_t per_thread_once = PTHREAD_ONCE_INIT;

/* Thread exit: the thread's per-thread streams go with it (their queued work runs first).
 * A stream is only destroyed here if its context still lists it; a context teardown that
 * got there first has taken the list and destroys it itself. */
static void per_thread_exit(void *unused)
{
    (void)unused;
    for (int i = 0; i < 8; i++) {
        struct per_thread_entry *e = &per_thread[i];
        if (!e->ctx || !sg_handle_is(e->ctx, SG_K_CTX) || e->ctx->generation != e->generation)
            continue;
        int listed = 0;
        pthread_mutex_lock(&e->ctx->lock);
        for (struct sg_stream **p = &e->ctx->streams; *p; p = &(*p)->next_in_ctx)
            if (*p == e->stream) {
                *p = e->stream->next_in_ctx;
                listed = 1;
                break;
            }
        pthread_mutex_unlock(&e->ctx->lock);
        if (listed)
            sg_stream_destroy(e->stream);
        e->ctx = NULL;
    }
}

static void per_thread_key_make(void) { pthread_key_create(&per_thread_key, per_thread_exit); }

static CUresult per_thread_stream(struct sg_ctx *c, struct sg_stream **out)
{
    for (int i = 0; i < 8; i++) {
        struct per_thread_entry *e = &per_thread[i];
        if (e->ctx == c && e->generation == c->generation && sg_handle_is(e->stream, SG_K_STREAM)) {
            *out = e->stream;
            return CUDA_SUCCESS;
        }
    }
    struct sg_stream *s;
    CUresult r = sg_stream_create(c, CU_STREAM_DEFAULT, 0, 0, &s);
    if (r)
        return r;
    s->is_per_thread = 1;
    pthread_once(&per_thread_once, per_thread_key_make);
    pthread_setspecific(per_thread_key, (void *)1); /* any non-NULL value arms the destructor */
    int slot = 0;
    for (int i = 0; i < 8; i++)
        if (!per_thread[i].ctx || !sg_handle_is(per_thread[i].stream, SG_K_STREAM)) {
            slot = i;
            break;
        }
    per_thread[slot] = (struct per_thread_entry){c, c->generation, s};
    *out = s;
    return CUDA_SUCCESS;
}

CUresult sg_stream_resolve(CUstream h, struct sg_stream **out)
{
    struct sg_ctx *c;
    CUresult r;
    if (h == NULL || h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD) {
        r = sg_ctx_get(&c);
        if (r)
            return r;
        if (h == CU_STREAM_PER_THREAD || (h == NULL && sg_tls.ptds > 0))
            return per_thread_stream(c, out);
        *out = c->null_stream;
        return CUDA_SUCCESS;
    }
    r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(h, SG_K_STREAM))
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_stream *s = (struct sg_stream *)h;
    r = sg_ctx_resolve((CUcontext)s->ctx, &c);
    if (r)
        return r;
    *out = s;
    return CUDA_SUCCESS;
}

/* ---- entry points ---------------------------------------------------------------------------- */

CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
    if (!phStream || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    /* priorities outside [greatest, least] are clamped, as the driver documents */
    if (priority > 0)
        priority = 0;
    if (priority < -5)
        priority = -5;
    struct sg_stream *s;
    r = sg_stream_create(c, flags, priority, 0, &s);
    if (!r)
        *phStream = (CUstream)s;
    return r;
}

CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
    return cuStreamCreateWithPriority(phStream, Flags, 0);
}

/* The checks every cuStreamGet* query makes: a valid stream and somewhere to write. */
static CUresult stream_for_query(CUstream h, const void *out, struct sg_stream **s)
{
    CUresult r = sg_stream_resolve(h, s);
    return r ? r : out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuStreamGetPriority(CUstream hStream, int *priority)
{
    struct sg_stream *s;
    CUresult r = stream_for_query(hStream, priority, &s);
    if (!r)
        *priority = s->priority;
    return r;
}

CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
    struct sg_stream *s;
    CUresult r = stream_for_query(hStream, flags, &s);
    if (!r)
        *flags = s->flags;
    return r;
}

CUresult cuStreamGetId(CUstream hStream, unsigned long long *streamId)
{
    struct sg_stream *s;
    CUresult r = stream_for_query(hStream, streamId, &s);
    if (!r)
        *streamId = s->id;
    return r;
}

CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
    struct sg_stream *s;
    CUresult r = stream_for_query(hStream, pctx, &s);
    if (!r)
        *pctx = (CUcontext)s->ctx;
    return r;
}

CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device)
{
    struct sg_stream *s;
    CUresult r = stream_for_query(hStream, device, &s);
    if (!r)
        *device = s->ctx->dev->ordinal;
    return r;
}

/* A stream for an operation that a stream capture cannot record. */
static CUresult stream_not_capturing(CUstream h, struct sg_stream **s)
{
    CUresult r = sg_stream_resolve(h, s);
    return r ? r : (*s)->capture ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

CUresult cuStreamQuery(CUstream hStream)
{
    struct sg_stream *s;
    CUresult r = stream_not_capturing(hStream, &s);
    if (r)
        return r;
    if (!sg_stream_idle(s))
        return CUDA_ERROR_NOT_READY;
    /* the legacy stream is only idle when every blocking stream is */
    if (s->is_null) {
        pthread_mutex_lock(&s->ctx->lock);
        int idle = 1;
        for (struct sg_stream *b = s->ctx->streams; b && idle; b = b->next_in_ctx)
            if (!(b->flags & CU_STREAM_NON_BLOCKING))
                idle = sg_stream_idle(b);
        pthread_mutex_unlock(&s->ctx->lock);
        if (!idle)
            return CUDA_ERROR_NOT_READY;
    }
    return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream hStream)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    return r ? r : sg_stream_sync(s);
}

CUresult cuStreamDestroy_v2(CUstream hStream)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(hStream, SG_K_STREAM))
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_stream *s = (struct sg_stream *)hStream;
    if (s->is_null || s->is_per_thread)
        return CUDA_ERROR_INVALID_HANDLE;
    sg_stream_destroy(s);
    return CUDA_SUCCESS;
}

CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
    if (!fn)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    return r ? r : sg_stream_submit(s, sg_host_work_new(fn, userData));
}

CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
                             unsigned int flags)
{
    if (!callback || flags)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_stream *s;
    CUresult r = stream_not_capturing(hStream, &s);
    if (r)
        return r;
    struct fn_work *w = sg_work_new(sizeof *w, SG_W_CALLBACK, callback_exec, NULL, NULL);
    if (!w)
        return CUDA_ERROR_OUT_OF_MEMORY;
    w->fn.callback = callback;
    w->user = userData;
    return sg_stream_submit(s, &w->base);
}

CUresult cuStreamAttachMemAsync(CUstream hStream, CUdeviceptr dptr, size_t length,
                                unsigned int flags)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    struct sg_region reg;
    if (sg_mem_find(dptr, &reg) != 0 || reg.kind != SG_R_MANAGED || (length && length != reg.size))
        return CUDA_ERROR_INVALID_VALUE;
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST
        && flags != CU_MEM_ATTACH_SINGLE)
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS; /* host and device share the pages: visibility needs no work */
}

/* ---- stream attributes ------------------------------------------------------------------------
 * Scheduling hints with no effect on a CPU (L2 access policy, synchronisation policy, memory
 * synchronisation domains) are kept and reported back; the priority is the stream's own. */

static int stream_attr_known(CUstreamAttrID attr)
{
    return attr == CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW
           || attr == CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY
           || attr == CU_LAUNCH_ATTRIBUTE_PRIORITY || attr == CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP
           || attr == CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN;
}

CUresult cuStreamGetAttribute(CUstream hStream, CUstreamAttrID attr, CUstreamAttrValue *value_out)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (!value_out || !stream_attr_known(attr))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&s->lock);
    *value_out = s->attrs[attr];
    if (attr == CU_LAUNCH_ATTRIBUTE_PRIORITY)
        value_out->priority = s->priority;
    pthread_mutex_unlock(&s->lock);
    return CUDA_SUCCESS;
}

CUresult cuStreamSetAttribute(CUstream hStream, CUstreamAttrID attr, const CUstreamAttrValue *value)
{
    struct sg_stream *s;
    CUresult r = sg_stream_resolve(hStream, &s);
    if (r)
        return r;
    if (!value || !stream_attr_known(attr))
        return CUDA_ERROR_INVALID_VALUE;
    if (attr == CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW
        && (value->accessPolicyWindow.hitRatio < 0.0f || value->accessPolicyWindow.hitRatio > 1.0f))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&s->lock);
    s->attrs[attr] = *value;
    if (attr == CU_LAUNCH_ATTRIBUTE_PRIORITY)
        s->priority = value->priority > 0 ? 0 : value->priority < -5 ? -5 : value->priority;
    pthread_mutex_unlock(&s->lock);
    return CUDA_SUCCESS;
}

CUresult cuStreamCopyAttributes(CUstream dst, CUstream src)
{
    struct sg_stream *d, *s;
    CUresult r = sg_stream_resolve(dst, &d);
    if (!r)
        r = sg_stream_resolve(src, &s);
    if (r)
        return r;
    CUstreamAttrValue copy[CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN + 1];
    pthread_mutex_lock(&s->lock);
    memcpy(copy, s->attrs, sizeof copy);
    int prio = s->priority;
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_lock(&d->lock);
    memcpy(d->attrs, copy, sizeof copy);
    d->priority = prio;
    pthread_mutex_unlock(&d->lock);
    return CUDA_SUCCESS;
}
