/*
 * User objects (tfi_user_object_create, tfi_user_object: the worker's half of the stub's
 * src/stub/graph_more.c). Each is the backend's own object, so graphs, their clones and child
 * copies, executable graphs and launches in flight hold references exactly as the driver
 * decides; its destructor is a trampoline that runs the program's function in the program
 * through the host-function channel (callbacks.c) when the backend drops the last reference, on
 * whatever thread the backend drops it (after the work that used it). Without a channel (TCP)
 * no user object is made.
 *
 * The objects made for the session are the only ones a request may name: the list below, from
 * which an object leaves when its destructor starts. (A program naming an object it has
 * already released entirely races with that destructor, as on the driver; it can only reach
 * its own worker process.)
 * Owns: the session's user objects. May call: callbacks.c (the channel), the backend table.
 */
#include <pthread.h>
#include <stdlib.h>

#include "worker_int.h"

#define NEED_BACKEND(fn) \
    do { if (!s->be.fn) return CUDA_ERROR_NOT_SUPPORTED; } while (0)

struct user_object {
    uint64_t fn, ptr;          /* the program's destructor and its argument */
    CUuserObject handle;       /* the backend's */
    struct user_object *next;
};

/* The backend may run destructors on its own threads, so the list has a lock. */
static pthread_mutex_t objects_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_object *objects;

static void CUDA_CB destroy_in_program(void *arg)
{
    struct user_object *o = arg;
    pthread_mutex_lock(&objects_lock);
    for (struct user_object **p = &objects; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    pthread_mutex_unlock(&objects_lock);
    tfw_callback_run(o->fn, o->ptr);   /* no lock held: the program may take its time */
    free(o);
}

static int known(uint64_t handle)
{
    int found = 0;
    pthread_mutex_lock(&objects_lock);
    for (const struct user_object *o = objects; o && !found; o = o->next)
        found = (uint64_t)(uintptr_t)o->handle == handle;
    pthread_mutex_unlock(&objects_lock);
    return found;
}

CUresult tfw_tfi_user_object_create(uint64_t fn, uint64_t ptr, unsigned int refs,
                                    unsigned int flags, uint64_t *object)
{
    struct tfw_session *s = tfw_self;
    if (!fn)
        return CUDA_ERROR_INVALID_VALUE;
    if (!tfw_callback_ready())
        return CUDA_ERROR_NOT_SUPPORTED;
    NEED_BACKEND(cuUserObjectCreate);
    struct user_object *o = calloc(1, sizeof *o);
    if (!o)
        return CUDA_ERROR_OUT_OF_MEMORY;
    o->fn = fn;
    o->ptr = ptr;
    CUresult r = s->be.cuUserObjectCreate(&o->handle, o, destroy_in_program, refs, flags);
    if (r != CUDA_SUCCESS) {
        free(o);
        return r;
    }
    pthread_mutex_lock(&objects_lock);   /* nobody else holds a reference yet */
    o->next = objects;
    objects = o;
    pthread_mutex_unlock(&objects_lock);
    *object = (uint64_t)(uintptr_t)o->handle;
    return CUDA_SUCCESS;
}

CUresult tfw_tfi_user_object(unsigned int op, CUgraph graph, uint64_t object, unsigned int count,
                             unsigned int flags)
{
    struct tfw_session *s = tfw_self;
    if (!known(object) || (op >= 2 && !graph))
        return CUDA_ERROR_INVALID_VALUE;
    CUuserObject o = (CUuserObject)(uintptr_t)object;
    switch (op) {
    case 0:
        NEED_BACKEND(cuUserObjectRetain);
        return s->be.cuUserObjectRetain(o, count);
    case 1:
        NEED_BACKEND(cuUserObjectRelease);
        return s->be.cuUserObjectRelease(o, count);
    case 2:
        NEED_BACKEND(cuGraphRetainUserObject);
        return s->be.cuGraphRetainUserObject(graph, o, count, flags);
    case 3:
        NEED_BACKEND(cuGraphReleaseUserObject);
        return s->be.cuGraphReleaseUserObject(graph, o, count);
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}
