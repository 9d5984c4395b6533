/*
 * Migration of a session to another device of its node (migrate.h, docs/freeze.md).
 *
 * The order makes a failure harmless: what migration refuses is found before anything is done;
 * the new objects are made on the new device next (nothing the program sees changes); the
 * memory moves last (freeze.c: drained, copied out, made again under the same reservations,
 * copied in; on failure it comes back where it was); only then is the session switched over
 * (handles, translation, current context, device map, the vGPU's device) and the old objects
 * destroyed, which cannot fail in a way the program would see.
 *
 * Owns: the kept module images, the plan of one migration. May call: migrate.h (the maps),
 * freeze.h, devmap.h, enforce_int.h (the backend's saved entries, below the ledger and the
 * device map, so that nothing is charged twice or renumbered), session.h, log.h, libc.
 */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devmap.h"
#include "enforce_int.h"
#include "freeze.h"
#include "log.h"
#include "worker_int.h"

struct kept {              /* a module's image, kept for loading it again (NULL: a library) */
    uint64_t mod;          /* the backend's handle now */
    void *image;
    uint64_t size, globals;
};

struct evflags {           /* an event made with flags other than the default */
    uint64_t ev;           /* the backend's handle now */
    unsigned flags;
};

struct tfw_migrate {
    struct kept *k;
    size_t n, cap;
    struct evflags *ev;
    size_t nev, capev;
};

struct moved {             /* one object of the plan */
    uint64_t was, now;
    uint64_t parent;       /* what it came from (a module, a kernel, a library), as it was */
    enum tfw_kind kind;
    int of_library;        /* a library's instance in the context: it goes with the context */
};

struct plan {
    int from, to;
    uint64_t ctx_was, ctx_now;
    int primary;           /* the context is its device's primary context */
    struct moved *m;
    size_t n, cap;
};

/* ---- kept images ---- */

static struct kept *kept_of(struct tfw_migrate *g, uint64_t mod)
{
    for (size_t i = 0; g && i < g->n; i++)
        if (g->k[i].mod == mod)
            return &g->k[i];
    return NULL;
}

void tfw_migrate_note_module(struct tfw_session *s, uint64_t mod, const void *image,
                             uint64_t size, uint64_t globals)
{
    if (!s->fz)
        return;   /* no migration without the freeze path's allocations: nothing to keep */
    if (!s->mg && !(s->mg = calloc(1, sizeof *s->mg)))
        return;
    struct tfw_migrate *g = s->mg;
    struct kept *k = kept_of(g, mod);
    if (!k && g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        struct kept *nk = realloc(g->k, cap * sizeof *nk);
        if (!nk)
            return;   /* the module cannot migrate: migration says so */
        g->k = nk;
        g->cap = cap;
    }
    void *copy = image ? malloc(size + 8) : NULL;
    if (image && !copy)
        return;
    if (copy) {
        memcpy(copy, image, size);
        memset((char *)copy + size, 0, 8);   /* a PTX image's terminator, as custom.c pads */
    }
    if (!k)
        k = &g->k[g->n++];
    else
        free(k->image);
    *k = (struct kept){mod, copy, size, globals};
}

/* ---- event flags ---- */

static PFN_cuEventCreate_v2000 event_create_below;   /* the entry the wrapper calls */

static struct evflags *evflags_of(struct tfw_migrate *g, uint64_t ev)
{
    for (size_t i = 0; g && i < g->nev; i++)
        if (g->ev[i].ev == ev)
            return &g->ev[i];
    return NULL;
}

static CUresult w_event_create(CUevent *e, unsigned flags)
{
    CUresult r = event_create_below(e, flags);
    struct tfw_session *s = tfw_self;
    if (r != CUDA_SUCCESS || !flags || !s || (!s->mg && !(s->mg = calloc(1, sizeof *s->mg))))
        return r;
    struct tfw_migrate *g = s->mg;
    if (g->nev == g->capev) {
        size_t cap = g->capev ? g->capev * 2 : 16;
        struct evflags *ne = realloc(g->ev, cap * sizeof *ne);
        if (!ne)
            return r;   /* remade with the default flags on a migration */
        g->ev = ne;
        g->capev = cap;
    }
    g->ev[g->nev++] = (struct evflags){(uint64_t)(uintptr_t)*e, flags};
    return r;
}

void tfw_migrate_install(struct tfw_session *s)
{
    if (!s->fz || !s->be.cuEventCreate)
        return;   /* no migration without the freeze path's allocations */
    event_create_below = s->be.cuEventCreate;
    TFW_WRAP(&s->be, cuEventCreate, w_event_create);
    /* a vGPU whose sessions were migrated: a new one starts where they run (it holds no
     * objects yet, so this only moves its device map) */
    struct tfw_limits *L = s->lim;
    uint32_t placed = L && L->nvgpus == 1 ? atomic_load(&L->vgpus[0].slot->placed_device) : 0;
    char err[256];
    int home = L ? (int)L->vgpus[0].device : 0;
    if (!placed || (int)placed - 1 == home)
        return;
    if (tfw_migrate_run(s, (int)placed - 1, err, sizeof err) == CUDA_SUCCESS)
        tf_info("session %d starts on device %u, where its vGPU's sessions were migrated",
                (int)getpid(), placed - 1);
    else
        tf_warn("session %d starts on device %d, not on device %u where its vGPU's sessions "
                "were migrated: %s", (int)getpid(), home, placed - 1, err);
}

void tfw_migrate_forget(struct tfw_session *s, uint64_t held, uint64_t now)
{
    tfw_xlate_forget(s->xl, held, now);
    struct kept *k = kept_of(s->mg, now);
    if (k) {
        free(k->image);
        *k = s->mg->k[--s->mg->n];
    }
    struct evflags *e = evflags_of(s->mg, now);
    if (e)
        *e = s->mg->ev[--s->mg->nev];
}

void tfw_migrate_end(struct tfw_session *s)
{
    for (size_t i = 0; s->mg && i < s->mg->n; i++)
        free(s->mg->k[i].image);
    if (s->mg) {
        free(s->mg->k);
        free(s->mg->ev);
    }
    free(s->mg);
    s->mg = NULL;
    tfw_xlate_free(s->xl);
    s->xl = NULL;
}

/* ---- what cannot migrate ---- */

static const char *kind_name(enum tfw_kind k)
{
    static const char *const names[] = {
        [TFW_K_POOL] = "a memory pool", [TFW_K_GRAPH] = "a graph",
        [TFW_K_GEXEC] = "an executable graph", [TFW_K_NODE] = "a graph node",
        [TFW_K_ALLOC] = "a physical allocation of its own (cuMemCreate)",
        [TFW_K_ARRAY] = "a CUDA array", [TFW_K_MIPMAP] = "a mipmapped array",
        [TFW_K_TEXOBJ] = "a texture object", [TFW_K_SURFOBJ] = "a surface object",
        [TFW_K_TEXREF] = "a texture reference", [TFW_K_SURFREF] = "a surface reference",
        [TFW_K_LINK] = "a link in progress", [TFW_K_GREEN] = "a green context",
        [TFW_K_RDESC] = "a device resource descriptor", [TFW_K_EXTMEM] = "external memory",
        [TFW_K_EXTSEM] = "an external semaphore",
    };
    return (size_t)k < sizeof names / sizeof *names && names[k] ? names[k] : "an object";
}

/* NULL when the session can migrate, else why not (err filled). */
static const char *refusal(struct tfw_session *s, uint64_t *ctx, char *err, size_t elen)
{
    int nctx = 0;
    for (size_t i = 0; i < s->handles.cap; i++) {
        uint64_t h = s->handles.keys[i];
        enum tfw_kind k = (enum tfw_kind)s->handles.kinds[i];
        if (h == 0 || h == UINT64_MAX)
            continue;
        if (k == TFW_K_CTX && ++nctx == 1)
            *ctx = h;
        enum tfw_kind up = tfw_handles_kind(&s->handles, tfw_handles_parent(&s->handles, h));
        int instance = k == TFW_K_MOD && up == TFW_K_LIB;   /* a library's, in the context */
        struct kept *kp = (k == TFW_K_MOD && !instance) || k == TFW_K_LIB
                        ? kept_of(s->mg, h) : NULL;
        if (((k == TFW_K_MOD && !instance) || k == TFW_K_LIB) && !kp)
            snprintf(err, elen, "a module's image was not kept (out of memory at its load)");
        else if (kp && kp->globals)
            snprintf(err, elen, "a module or library has __device__ or __constant__ variables "
                     "(%llu bytes), whose addresses would change",
                     (unsigned long long)kp->globals);
        else if (k == TFW_K_FUNC && up != TFW_K_MOD && up != TFW_K_KERN)
            snprintf(err, elen, "a function does not come from a module or kernel of the "
                     "session");
        else if (k != TFW_K_CTX && k != TFW_K_MOD && k != TFW_K_FUNC && k != TFW_K_STREAM &&
                 k != TFW_K_EVENT && k != TFW_K_LIB && k != TFW_K_KERN)
            snprintf(err, elen, "the session holds %s, which migration does not rebuild",
                     kind_name(k));
        else
            continue;
        return err;
    }
    if (nctx > 1) {
        snprintf(err, elen, "the session has %d contexts; migration rebuilds one", nctx);
        return err;
    }
    if (s->hostmaps.n) {
        snprintf(err, elen, "the session has host memory mapped for the device (managed or "
                 "registered memory)");
        return err;
    }
    for (size_t i = 0; i < s->allocs.n; i++) {
        const struct tf_range *a = &s->allocs.v[i];
        /* module variables: their module refuses above; a small allocation moves with the
         * granular chunk it was carved from (freeze_small.c) */
        if (a->parent || tfw_freeze_owns(s, a->base) || tfw_freeze_small_owns(a->base))
            continue;
        snprintf(err, elen, "its allocation of %llu bytes at 0x%llx cannot keep its address on "
                 "another device (cuMemAlloc and cuMemAllocPitch allocations can; stream-ordered, "
                 "pool and 32-bit ones cannot)", (unsigned long long)a->size,
                 (unsigned long long)a->base);
        return err;
    }
    return NULL;
}

/* ---- the plan: new objects on the new device ---- */

/* Room for every handle of the session, so that recording a made object cannot fail. */
static int plan_reserve(struct plan *p, size_t n)
{
    p->m = malloc((n ? n : 1) * sizeof *p->m);
    p->cap = p->m ? n : 0;
    return p->m ? 0 : -1;
}

static void plan_add(struct plan *p, uint64_t was, uint64_t now, uint64_t parent,
                     enum tfw_kind kind, int of_library)
{
    if (p->n < p->cap)
        p->m[p->n++] = (struct moved){was, now, parent, kind, of_library};
}

static uint64_t plan_now(const struct plan *p, uint64_t was)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->m[i].was == was)
            return p->m[i].now;
    return 0;
}

/* Destroys objects of one side (now: the plan's new ones; else the old ones), children
 * first; the context last. The context of that side is current. */
static void destroy_side(struct tfw_limits *L, const struct plan *p, int now)
{
    const struct tf_backend *b = &L->orig;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = p->n; i-- > 0;) {
            uint64_t h = now ? p->m[i].now : p->m[i].was;
            enum tfw_kind k = p->m[i].kind;
            if (pass == 0 && k == TFW_K_EVENT)
                b->cuEventDestroy_v2((CUevent)(uintptr_t)h);
            else if (pass == 0 && k == TFW_K_STREAM)
                b->cuStreamDestroy_v2((CUstream)(uintptr_t)h);
            else if (pass == 1 && k == TFW_K_MOD && !p->m[i].of_library)
                b->cuModuleUnload((CUmodule)(uintptr_t)h);   /* its functions go with it */
        }
    uint64_t ctx = now ? p->ctx_now : p->ctx_was;
    if (!ctx)
        return;
    if (p->primary)
        b->cuDevicePrimaryCtxRelease_v2(now ? p->to : p->from);
    else
        b->cuCtxDestroy_v2((CUcontext)(uintptr_t)ctx);
}

static CUresult new_context(struct tfw_session *s, struct tfw_limits *L, struct plan *p)
{
    const struct tf_backend *b = &L->orig;
    CUcontext prim = NULL, c = NULL;
    if (b->cuDevicePrimaryCtxRetain(&prim, p->from) == CUDA_SUCCESS) {
        p->primary = (uint64_t)(uintptr_t)prim == p->ctx_was;
        b->cuDevicePrimaryCtxRelease_v2(p->from);
    }
    CUresult r;
    if (p->primary) {
        r = b->cuDevicePrimaryCtxRetain(&c, p->to);
    } else {
        unsigned flags = 0;
        b->cuCtxSetCurrent((CUcontext)(uintptr_t)p->ctx_was);
        if (b->cuCtxGetFlags(&flags) != CUDA_SUCCESS)
            flags = 0;
        r = b->cuCtxCreate_v2(&c, flags, p->to);
        if (r == CUDA_SUCCESS && b->cuCtxSetCurrent(NULL) == CUDA_SUCCESS)
            b->cuCtxSetCurrent(s->current);   /* undo the create's push (custom.c says why) */
    }
    if (r == CUDA_SUCCESS)
        p->ctx_now = (uint64_t)(uintptr_t)c;
    return r;
}

static CUresult new_object(struct tfw_session *s, struct tfw_limits *L, struct plan *p,
                           uint64_t h, enum tfw_kind k)
{
    const struct tf_backend *b = &L->orig;
    CUresult r = CUDA_SUCCESS;
    void *out = NULL;
    uint64_t up = tfw_handles_parent(&s->handles, h);
    int lib = tfw_handles_kind(&s->handles, up) == TFW_K_LIB;   /* libraries and kernels stay */
    if (k == TFW_K_MOD && lib) {
        r = b->cuLibraryGetModule((CUmodule *)&out, (CUlibrary)(uintptr_t)up);
    } else if (k == TFW_K_MOD) {
        r = b->cuModuleLoadData((CUmodule *)&out, kept_of(s->mg, h)->image);
    } else if (k == TFW_K_FUNC && tfw_handles_kind(&s->handles, up) == TFW_K_KERN) {
        r = b->cuKernelGetFunction((CUfunction *)&out, (CUkernel)(uintptr_t)up);
    } else if (k == TFW_K_FUNC) {
        const char *name = NULL;
        uint64_t mod = plan_now(p, tfw_handles_parent(&s->handles, h));
        r = b->cuFuncGetName ? b->cuFuncGetName(&name, (CUfunction)(uintptr_t)h)
                             : CUDA_ERROR_NOT_SUPPORTED;
        if (r == CUDA_SUCCESS)
            r = b->cuModuleGetFunction((CUfunction *)&out, (CUmodule)(uintptr_t)mod, name);
    } else if (k == TFW_K_STREAM) {
        unsigned flags = 0;
        int prio = 0;
        b->cuStreamGetFlags((CUstream)(uintptr_t)h, &flags);
        b->cuStreamGetPriority((CUstream)(uintptr_t)h, &prio);
        r = b->cuStreamCreateWithPriority((CUstream *)&out, flags, prio);
    } else if (k == TFW_K_EVENT) {
        /* with the flags it was made with (w_event_create); a recorded event is complete
         * after the drain, and a fresh one queries complete too */
        struct evflags *e = evflags_of(s->mg, h);
        r = b->cuEventCreate((CUevent *)&out, e ? e->flags : CU_EVENT_DEFAULT);
    }
    if (r == CUDA_SUCCESS)
        plan_add(p, h, (uint64_t)(uintptr_t)out, up, k, k == TFW_K_MOD && lib);
    return r;
}

/* The new device's objects, the new context current; on failure what was made is destroyed. */
static CUresult build(struct tfw_session *s, struct tfw_limits *L, struct plan *p, char *err,
                      size_t elen)
{
    if (plan_reserve(p, s->handles.live) != 0) {
        snprintf(err, elen, "out of memory");
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    CUresult r = p->ctx_was ? new_context(s, L, p) : CUDA_SUCCESS;
    if (r != CUDA_SUCCESS) {
        snprintf(err, elen, "no context on device %d (error %d)", p->to, (int)r);
        return r;
    }
    if (p->ctx_now)
        L->orig.cuCtxSetCurrent((CUcontext)(uintptr_t)p->ctx_now);
    static const enum tfw_kind order[] = {TFW_K_MOD, TFW_K_FUNC, TFW_K_STREAM, TFW_K_EVENT};
    for (size_t o = 0; o < sizeof order / sizeof *order && r == CUDA_SUCCESS; o++)
        for (size_t i = 0; i < s->handles.cap && r == CUDA_SUCCESS; i++) {
            uint64_t h = s->handles.keys[i];
            if (h && h != UINT64_MAX && s->handles.kinds[i] == order[o] &&
                (r = new_object(s, L, p, h, order[o])) != CUDA_SUCCESS)
                snprintf(err, elen, "making a %s again on device %d failed (error %d)",
                         order[o] == TFW_K_MOD ? "module" : order[o] == TFW_K_FUNC ? "function"
                         : order[o] == TFW_K_STREAM ? "stream" : "event", p->to, (int)r);
        }
    if (r != CUDA_SUCCESS)
        destroy_side(L, p, 1);
    L->orig.cuCtxSetCurrent(s->current);
    return r;
}

/* ---- the switch ---- */

/* The launch-timing events kept for reuse in the old context go with it. */
static void drop_spares(struct tfw_limits *L, uint64_t ctx)
{
    for (unsigned i = 0; i < L->nspare;) {
        if ((uint64_t)(uintptr_t)L->spare[i].ctx != ctx) {
            i++;
            continue;
        }
        L->orig.cuEventDestroy_v2(L->spare[i].start);
        L->orig.cuEventDestroy_v2(L->spare[i].end);
        L->spare[i] = L->spare[--L->nspare];
    }
}

static void commit(struct tfw_session *s, struct tfw_limits *L, struct plan *p)
{
    int oom = 0;
    for (size_t i = 0; i < p->n; i++)
        tfw_handles_del(&s->handles, p->m[i].was);
    if (p->ctx_was)
        tfw_handles_del(&s->handles, p->ctx_was);
    if (p->ctx_now) {
        oom |= tfw_handles_add(&s->handles, p->ctx_now, TFW_K_CTX) != 0;
        oom |= tfw_xlate_rebind(&s->xl, p->ctx_was, p->ctx_now) != 0;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct moved *m = &p->m[i];
        uint64_t parent = plan_now(p, m->parent);
        parent = parent ? parent : m->parent;   /* a kernel or library stays as it was */
        oom |= tfw_handles_add_child(&s->handles, m->now, m->kind, parent) != 0;
        oom |= tfw_xlate_rebind(&s->xl, m->was, m->now) != 0;
        struct kept *k = m->kind == TFW_K_MOD ? kept_of(s->mg, m->was) : NULL;
        struct evflags *e = m->kind == TFW_K_EVENT ? evflags_of(s->mg, m->was) : NULL;
        if (k)
            k->mod = m->now;
        if (e)
            e->ev = m->now;
    }
    if (oom)
        tf_error("out of memory recording migrated handles: the program's next use of some "
                 "of them will be refused");
    drop_spares(L, p->ctx_was);
    if (p->ctx_was) {   /* the old side, its context current */
        L->orig.cuCtxSetCurrent((CUcontext)(uintptr_t)p->ctx_was);
        destroy_side(L, p, 0);
    }
    if ((uint64_t)(uintptr_t)s->current == p->ctx_was)
        s->current = (CUcontext)(uintptr_t)p->ctx_now;
    L->orig.cuCtxSetCurrent(s->current);
    tfw_devmap_move(s, 0, p->to);
    L->vgpus[0].device = p->to;
    L->last_ctx = NULL;
    L->last_vgpu = NULL;
    s->idle = 0;
}

CUresult tfw_migrate_run(struct tfw_session *s, int to, char *err, size_t elen)
{
    struct tfw_limits *L = s->lim;
    int count = 0;
    if (!s->fz || !L || !s->devmap || L->nvgpus != 1) {
        snprintf(err, elen, "only a session of one vGPU, on a node with --freeze-to, can "
                 "migrate");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (L->orig.cuDeviceGetCount(&count) != CUDA_SUCCESS || to < 0 || to >= count) {
        snprintf(err, elen, "the node has no device %d", to);
        return CUDA_ERROR_INVALID_DEVICE;
    }
    struct plan p = {.from = (int)L->vgpus[0].device, .to = to};
    if (p.from == to) {
        snprintf(err, elen, "the session is on device %d already", to);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (refusal(s, &p.ctx_was, err, elen))
        return CUDA_ERROR_NOT_SUPPORTED;
    while (tfw_lim_collect_one(L, 1))   /* launches in flight: charged before their context */
        ;
    CUresult r = build(s, L, &p, err, elen);
    if (r == CUDA_SUCCESS) {
        r = tfw_freeze_move(s, to, (CUcontext)(uintptr_t)p.ctx_now, err, elen);
        if (r != CUDA_SUCCESS) {
            L->orig.cuCtxSetCurrent((CUcontext)(uintptr_t)p.ctx_now);
            destroy_side(L, &p, 1);
            L->orig.cuCtxSetCurrent(s->current);
        }
    }
    if (r == CUDA_SUCCESS)
        commit(s, L, &p);
    free(p.m);
    return r;
}

CUresult tfw_migrate_command(struct tfw_session *s, int to)
{
    char err[512] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int from = s->lim && s->lim->nvgpus ? (int)s->lim->vgpus[0].device : -1;
    CUresult r = tfw_migrate_run(s, to, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (r != CUDA_SUCCESS && to == from)   /* the node moving back those that moved */
        tf_info("session %d: on device %d already", (int)getpid(), to);
    else if (r != CUDA_SUCCESS)
        tf_error("session %d: migration to device %d refused or failed (error %d): %s; it runs "
                 "on device %d as before", (int)getpid(), to, (int)r, err, from);
    else
        tf_info("session %d migrated from device %d to device %d in %.1f ms", (int)getpid(),
                from, to, ms);
    return r;
}
