/*
 * Asynchronous device notifications (cuDeviceRegisterAsyncNotification, CUDA 12.4) for a
 * driver-shaped library of ours: the stub and softgpu compile this file (see notify.h).
 *
 * The one notification cuda.h defines is CU_ASYNC_NOTIFICATION_TYPE_OVER_BUDGET: the process
 * asked for more device memory than its budget. The library posts one (dk_notify_over_budget)
 * when it refuses an allocation for that reason: softgpu when the device's configured memory is
 * exhausted, the stub when the node's worker refused it at the vGPU's memory limit.
 * Callbacks run on a thread of this file, one notification at a time, never under the library's
 * locks nor this file's: a posting thread only queues. Unregistering waits while the callback
 * being unregistered runs (unless the callback unregisters itself), so none runs after
 * cuDeviceUnregisterAsyncNotification returns.
 * Calls the library's dk_notify_device, and pthreads.
 */
#include "notify.h"

#include <pthread.h>
#include <stdlib.h>

#define QUEUE 64

struct CUasyncCallbackEntry_st {
    CUdevice device;
    CUasyncCallback fn;
    void *user;
    struct CUasyncCallbackEntry_st *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    struct CUasyncCallbackEntry_st *list;
    const struct CUasyncCallbackEntry_st *running;   /* the callback being called, or NULL */
    struct { CUdevice dev; unsigned long long bytes; } q[QUEUE];
    unsigned head, count;
    int started;
    pthread_t thread;
} nt = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
        .idle = PTHREAD_COND_INITIALIZER};

/* Calls every callback of the notification's device; the list may change in between, so the
 * walk restarts after each call from the entry after the one called, if it is still there. */
static void deliver(CUdevice dev, unsigned long long bytes)
{
    const struct CUasyncCallbackEntry_st *last = NULL;
    for (;;) {
        struct CUasyncCallbackEntry_st *e = nt.list;
        if (last) {   /* continue after `last`, or stop if it went away */
            while (e && e != last)
                e = e->next;
            e = e ? e->next : NULL;
        }
        while (e && e->device != dev)
            e = e->next;
        if (!e)
            return;
        CUasyncNotificationInfo info = {.type = CU_ASYNC_NOTIFICATION_TYPE_OVER_BUDGET};
        info.info.overBudget.bytesOverBudget = bytes;
        CUasyncCallback fn = e->fn;
        void *user = e->user;
        nt.running = e;
        pthread_mutex_unlock(&nt.lock);
        fn(&info, user, e);
        pthread_mutex_lock(&nt.lock);
        nt.running = NULL;
        pthread_cond_broadcast(&nt.idle);
        last = e;
    }
}

static void *notifier(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&nt.lock);
    for (;;) {
        while (!nt.count)
            pthread_cond_wait(&nt.wake, &nt.lock);
        CUdevice dev = nt.q[nt.head].dev;
        unsigned long long bytes = nt.q[nt.head].bytes;
        nt.head = (nt.head + 1) % QUEUE;
        nt.count--;
        deliver(dev, bytes);
    }
    return NULL;
}

void dk_notify_over_budget(CUdevice dev, unsigned long long bytes)
{
    pthread_mutex_lock(&nt.lock);
    int any = 0;
    for (const struct CUasyncCallbackEntry_st *e = nt.list; e; e = e->next)
        any |= e->device == dev;
    if (any && nt.started && nt.count < QUEUE) {   /* a full queue drops: they are hints */
        unsigned at = (nt.head + nt.count++) % QUEUE;
        nt.q[at].dev = dev;
        nt.q[at].bytes = bytes;
        pthread_cond_signal(&nt.wake);
    }
    pthread_mutex_unlock(&nt.lock);
}

int dk_notify_wanted(void)
{
    pthread_mutex_lock(&nt.lock);
    int any = nt.list != NULL;
    pthread_mutex_unlock(&nt.lock);
    return any;
}

CUresult CUDAAPI cuDeviceRegisterAsyncNotification(CUdevice device, CUasyncCallback callbackFunc,
                                                   void *userData,
                                                   CUasyncCallbackHandle *callback)
{
    CUresult r = dk_notify_device(device);
    if (r)
        return r;
    if (!callbackFunc || !callback)
        return CUDA_ERROR_INVALID_VALUE;
    struct CUasyncCallbackEntry_st *e = calloc(1, sizeof *e);
    if (!e)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *e = (struct CUasyncCallbackEntry_st){device, callbackFunc, userData, NULL};
    pthread_mutex_lock(&nt.lock);
    if (!nt.started && pthread_create(&nt.thread, NULL, notifier, NULL) == 0) {
        pthread_detach(nt.thread);
        nt.started = 1;
    }
    if (!nt.started) {
        pthread_mutex_unlock(&nt.lock);
        free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    e->next = nt.list;
    nt.list = e;
    pthread_mutex_unlock(&nt.lock);
    *callback = e;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceUnregisterAsyncNotification(CUdevice device,
                                                     CUasyncCallbackHandle callback)
{
    CUresult r = dk_notify_device(device);
    if (r)
        return r;
    struct CUasyncCallbackEntry_st *found = NULL;
    pthread_mutex_lock(&nt.lock);
    for (struct CUasyncCallbackEntry_st **pp = &nt.list; *pp; pp = &(*pp)->next)
        if (*pp == callback && (*pp)->device == device) {
            found = *pp;
            *pp = found->next;
            break;
        }
    /* a callback unregistering itself runs on the notifier: it must not wait for itself */
    int self = nt.started && pthread_equal(pthread_self(), nt.thread);
    while (found && nt.running == found && !self)
        pthread_cond_wait(&nt.idle, &nt.lock);
    pthread_mutex_unlock(&nt.lock);
    free(found);
    return found ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
