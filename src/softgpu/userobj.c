/*
 * User objects: cuUserObjectCreate / Retain / Release and the references graphs hold
 * (cuGraphRetainUserObject / cuGraphReleaseUserObject). A graph's references are copied to its
 * clones, child-graph copies and executable graphs, and every launch holds them until it has
 * run, so the destructor runs when the last reference goes: after the last graph, executable
 * graph and launch in flight that uses the object. The destructor runs on the thread that
 * drops that reference (a stream worker when it is a launch). Calls graph.c.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

struct sg_user_object {
    void *ptr;
    CUhostFn destroy;
    _Atomic unsigned long long refs;
};

static void user_retain(struct sg_user_object *o, unsigned count)
{
    atomic_fetch_add(&o->refs, count);
}

static void user_release(struct sg_user_object *o, unsigned count)
{
    if (atomic_fetch_sub(&o->refs, count) != count)
        return;
    sg_handle_del(o);
    o->destroy(o->ptr);
    free(o);
}

static CUresult user_lookup(CUuserObject h, struct sg_user_object **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_USER_OBJECT, CUDA_ERROR_INVALID_VALUE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult cuUserObjectCreate(CUuserObject *object_out, void *ptr, CUhostFn destroy,
                            unsigned int initialRefcount, unsigned int flags)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!object_out || !destroy || !initialRefcount || flags != CU_USER_OBJECT_NO_DESTRUCTOR_SYNC)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_user_object *o = calloc(1, sizeof *o);
    if (!o)
        return CUDA_ERROR_OUT_OF_MEMORY;
    o->ptr = ptr;
    o->destroy = destroy;
    atomic_store(&o->refs, initialRefcount);
    sg_handle_add(o, SG_K_USER_OBJECT);
    *object_out = (CUuserObject)o;
    return CUDA_SUCCESS;
}

CUresult cuUserObjectRetain(CUuserObject object, unsigned int count)
{
    struct sg_user_object *o;
    CUresult r = user_lookup(object, &o);
    if (!r && !count)
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        user_retain(o, count);
    return r;
}

CUresult cuUserObjectRelease(CUuserObject object, unsigned int count)
{
    struct sg_user_object *o;
    CUresult r = user_lookup(object, &o);
    if (!r && (!count || count > atomic_load(&o->refs)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (!r)
        user_release(o, count);
    return r;
}

/* ---- references held by graphs ---------------------------------------------------------------- */

static struct sg_user_ref *ref_find(struct sg_user_refs *refs, const struct sg_user_object *o)
{
    for (size_t i = 0; i < refs->n; i++)
        if (refs->v[i].obj == o)
            return &refs->v[i];
    return NULL;
}

CUresult sg_user_refs_copy(struct sg_user_refs *dst, const struct sg_user_refs *src)
{
    dst->v = NULL;
    dst->n = 0;
    if (!src->n)
        return CUDA_SUCCESS;
    if (!(dst->v = malloc(src->n * sizeof *dst->v)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(dst->v, src->v, src->n * sizeof *dst->v);
    dst->n = src->n;
    for (size_t i = 0; i < dst->n; i++)
        user_retain(dst->v[i].obj, dst->v[i].count);
    return CUDA_SUCCESS;
}

void sg_user_refs_release(struct sg_user_refs *refs)
{
    for (size_t i = 0; i < refs->n; i++)
        user_release(refs->v[i].obj, refs->v[i].count);
    free(refs->v);
    refs->v = NULL;
    refs->n = 0;
}

CUresult cuGraphRetainUserObject(CUgraph graph, CUuserObject object, unsigned int count,
                                 unsigned int flags)
{
    struct sg_graph *g;
    struct sg_user_object *o;
    CUresult r = sg_graph_lookup(graph, &g);
    if (!r)
        r = user_lookup(object, &o);
    if (!r && (!count || (flags & ~(unsigned)CU_GRAPH_USER_OBJECT_MOVE)))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r)
        return r;
    struct sg_user_ref *ref = ref_find(&g->users, o);
    if (!ref) {
        struct sg_user_ref *v = realloc(g->users.v, (g->users.n + 1) * sizeof *v);
        if (!v)
            return CUDA_ERROR_OUT_OF_MEMORY;
        g->users.v = v;
        ref = &v[g->users.n++];
        *ref = (struct sg_user_ref){o, 0};
    }
    ref->count += count;
    if (!(flags & CU_GRAPH_USER_OBJECT_MOVE)) /* MOVE: the caller's references become the graph's */
        user_retain(o, count);
    return CUDA_SUCCESS;
}

CUresult cuGraphReleaseUserObject(CUgraph graph, CUuserObject object, unsigned int count)
{
    struct sg_graph *g;
    struct sg_user_object *o;
    CUresult r = sg_graph_lookup(graph, &g);
    if (!r)
        r = user_lookup(object, &o);
    if (r)
        return r;
    struct sg_user_ref *ref = ref_find(&g->users, o);
    if (!count || !ref || ref->count < count)
        return CUDA_ERROR_INVALID_VALUE; /* the graph does not hold that many */
    ref->count -= count;
    if (!ref->count)
        *ref = g->users.v[--g->users.n];
    user_release(o, count);
    return CUDA_SUCCESS;
}
