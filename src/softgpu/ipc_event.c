/*
 * IPC events: cuIpcGetEventHandle and cuIpcOpenEventHandle, and the shared state behind them.
 *
 * An event created with CU_EVENT_INTERPROCESS keeps its state in its process until it is
 * exported; exporting moves its record counters into one page of a memfd (struct sg_ipc_event):
 * `gen`, bumped by every record in any process, and `done`, the newest record that has run.
 * The handle names the memfd as an IPC memory handle does (pid, descriptor, random id in the
 * memfd's name: ipc.c's sg_ipc_open_peer checks it); the importer maps the same page into an
 * event of its own. From then on event.c reads and writes the counters through the page (see
 * sg_ipc_event_pull/next/done), so a record in one process is waited for, queried and
 * synchronized in the other. Waiters in another process cannot be woken by our condition
 * variable, so an IPC event's waits poll the page (sleeping up to 1 ms between looks).
 * Calls ipc.c and event.c's object; the device reports CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "softgpu.h"

#define EVENT_MAGIC 0x45494753u /* "SGIE" */

struct sg_ipc_event {
    uint32_t magic;
    uint32_t pad;
    uint64_t id;
    _Atomic uint64_t gen;    /* records made, in every process */
    _Atomic uint64_t done;   /* the newest record that has executed */
};

/* The 64 bytes of a CUipcEventHandle. */
struct event_wire {
    uint32_t magic;
    int32_t pid;
    int32_t fd;
    uint32_t pad;
    uint64_t id;
};
_Static_assert(sizeof(struct event_wire) <= CU_IPC_HANDLE_SIZE, "IPC event handle too small");

/* e->lock held. */
void sg_ipc_event_pull(struct sg_event *e)
{
    if (!e->ipc)
        return;
    e->gen = atomic_load(&e->ipc->gen);
    e->done_gen = atomic_load(&e->ipc->done);
    e->recorded |= e->gen != 0;
}

/* e->lock held: a record's generation, counted in the shared page. */
uint64_t sg_ipc_event_next(struct sg_event *e)
{
    e->gen = atomic_fetch_add(&e->ipc->gen, 1) + 1;
    return e->gen;
}

/* A record has run: the shared `done` moves forward to gen, never back. */
void sg_ipc_event_done(struct sg_event *e, uint64_t gen)
{
    uint64_t cur = atomic_load(&e->ipc->done);
    while (cur < gen && !atomic_compare_exchange_weak(&e->ipc->done, &cur, gen))
        ;
}

/* e->lock held; returns with it held once the record `target` has run in whichever process. */
void sg_ipc_event_wait_locked(struct sg_event *e, uint64_t target)
{
    long pause_ns = 20000;
    while (atomic_load(&e->ipc->done) < target) {
        pthread_mutex_unlock(&e->lock);
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        pause_ns = pause_ns < 1000000 ? pause_ns * 2 : pause_ns;
        pthread_mutex_lock(&e->lock);
    }
    sg_ipc_event_pull(e);
}

void sg_ipc_event_forget(struct sg_event *e)
{
    if (e->ipc)
        munmap(e->ipc, SG_PAGE_SIZE);
    if (e->ipc_fd >= 0)
        close(e->ipc_fd);
    e->ipc = NULL;
    e->ipc_fd = -1;
}

/* e->lock held: moves the event's counters into a shared page (once). */
static CUresult export_event(struct sg_event *e, struct event_wire *w)
{
    if (!e->ipc) {
        uint64_t id;
        int fd = sg_ipc_memfd(SG_PAGE_SIZE, &id);
        void *p = fd < 0 ? MAP_FAILED
                         : mmap(NULL, SG_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            if (fd >= 0)
                close(fd);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        struct sg_ipc_event *ev = p;
        ev->magic = EVENT_MAGIC;
        ev->id = id;
        atomic_store(&ev->gen, e->gen);
        atomic_store(&ev->done, e->done_gen);
        e->ipc = ev;
        e->ipc_fd = fd;
    }
    *w = (struct event_wire){EVENT_MAGIC, (int32_t)getpid(), e->ipc_fd, 0, e->ipc->id};
    return CUDA_SUCCESS;
}

CUresult cuIpcGetEventHandle(CUipcEventHandle *pHandle, CUevent event)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!pHandle || !sg_handle_is(event, SG_K_EVENT))
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_event *e = (struct sg_event *)event;
    if (!(e->flags & CU_EVENT_INTERPROCESS))
        return CUDA_ERROR_INVALID_VALUE;
    struct event_wire w;
    pthread_mutex_lock(&e->lock);
    r = export_event(e, &w);
    pthread_mutex_unlock(&e->lock);
    if (!r) {
        memset(pHandle, 0, sizeof *pHandle);
        memcpy(pHandle->reserved, &w, sizeof w);
    }
    return r;
}

CUresult cuIpcOpenEventHandle(CUevent *phEvent, CUipcEventHandle handle)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    if (!phEvent)
        return CUDA_ERROR_INVALID_VALUE;
    struct event_wire w;
    memcpy(&w, handle.reserved, sizeof w);
    if (w.magic != EVENT_MAGIC || w.pid <= 0 || w.fd < 0)
        return CUDA_ERROR_INVALID_HANDLE;
    int fd;
    if ((r = sg_ipc_open_peer(w.pid, w.fd, w.id, SG_PAGE_SIZE, &fd)))
        return r;
    struct sg_ipc_event *ev = mmap(NULL, SG_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the page */
    if (ev == MAP_FAILED)
        return CUDA_ERROR_MAP_FAILED;
    if (ev->magic != EVENT_MAGIC || ev->id != w.id) {
        munmap(ev, SG_PAGE_SIZE);
        return CUDA_ERROR_INVALID_HANDLE;
    }
    CUevent h;
    r = cuEventCreate(&h, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING);
    if (r) {
        munmap(ev, SG_PAGE_SIZE);
        return r;
    }
    struct sg_event *e = (struct sg_event *)h;
    pthread_mutex_lock(&e->lock);
    e->ipc = ev;
    sg_ipc_event_pull(e);
    pthread_mutex_unlock(&e->lock);
    *phEvent = h;
    return CUDA_SUCCESS;
}
