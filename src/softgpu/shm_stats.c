/*
 * This process's side of the shared devices (shm_stats.h): attaching each device's segment at
 * cuInit, the process's slot (claimed when it first creates a context or allocates), charging
 * device memory against the device-wide counter, busy-time windows for NVML, and giving all
 * back at exit. A device whose segment cannot be used (no /dev/shm, another build's segment in
 * use) is private to the process, with an error in the log saying why. Calls shm_map.c,
 * shm_charge.c and init.c (device state, logging).
 */
#include <stdlib.h>
#include <unistd.h>

#include "shm_stats.h"
#include "softgpu.h"

static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
/* A slot has one writer at a time (shm_charge.c): this process's threads take turns. Local, so
 * other processes never wait on it, and it dies with the process. */
static pthread_mutex_t charge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_shm_att att[SG_MAX_DEVICES];
static int nattached;
static _Atomic int slot_of[SG_MAX_DEVICES]; /* this process's slot + 1; 0: none yet */
static int no_slot[SG_MAX_DEVICES];
static _Atomic int detached;                /* exit has given everything back */
static _Atomic uint64_t last_reap_ns[SG_MAX_DEVICES];

static struct sg_shm_file *device_file(int dev)
{
    return dev >= 0 && dev < nattached && !atomic_load(&detached) ? att[dev].f : NULL;
}

static void release_all(void)
{
    pthread_mutex_lock(&shm_lock);
    atomic_store(&detached, 1);
    for (int d = 0; d < nattached; d++) {
        int s = atomic_exchange(&slot_of[d], 0) - 1;
        pthread_mutex_lock(&charge_lock);
        if (att[d].f && s >= 0)
            sg_shm_release(att[d].f, s);
        pthread_mutex_unlock(&charge_lock);
        sg_shm_detach(&att[d], sg.ns, d);
    }
    pthread_mutex_unlock(&shm_lock);
}

/* A forked child is another process: its own flock, its own slot (claimed when it needs one),
 * and none of the parent's charge. */
static void after_fork_child(void)
{
    pthread_mutex_init(&shm_lock, NULL);
    pthread_mutex_init(&charge_lock, NULL);
    for (int d = 0; d < nattached; d++) {
        sg_shm_reattach_child(&att[d]);
        atomic_store(&slot_of[d], 0);
        no_slot[d] = 0;
        atomic_store(&sg.dev[d].mem_used, 0);
    }
}

void sg_shm_open_devices(void)
{
    static int warned_capacity;
    for (int d = 0; d < sg.ndev; d++) {
        char msg[512];
        att[d].fd = -1;
        int r = sg_shm_attach(&att[d], sg.ns, d, sg.mem_bytes, 1, msg, sizeof msg);
        if (r != 0) {
            att[d].f = NULL;
            sg_log(SG_LOG_ERROR, "device %d is private to this process: %s", d, msg);
            continue;
        }
        if (msg[0])
            sg_log(SG_LOG_INFO, "%s", msg);
        uint64_t cap = att[d].f->capacity;
        if (cap != sg.mem_bytes && !warned_capacity++)
            sg_log(SG_LOG_WARN, "SOFTGPU_MEMORY is %llu bytes here but the shared device has "
                   "%llu (set by the process that created it): using %llu",
                   (unsigned long long)sg.mem_bytes, (unsigned long long)cap,
                   (unsigned long long)cap);
        sg.dev[d].mem_total = cap;
        sg_shm_reap(att[d].f); /* the leftovers of processes killed while alone on it */
    }
    nattached = sg.ndev;
    atexit(release_all);
    pthread_atfork(NULL, NULL, after_fork_child);
}

struct sg_shm_file *sg_shm_map(int dev, int create)
{
    (void)create; /* cuInit attached (or created) every device's segment */
    return device_file(dev);
}

/* The calling process's slot on dev, claimed on first use; -1 when unavailable. */
static int my_slot(int dev)
{
    struct sg_shm_file *f = device_file(dev);
    if (!f)
        return -1;
    int s = atomic_load(&slot_of[dev]) - 1;
    if (s >= 0 || no_slot[dev])
        return s;
    pthread_mutex_lock(&shm_lock);
    s = atomic_load(&slot_of[dev]) - 1;
    if (s < 0 && !no_slot[dev]) {
        s = sg_shm_claim(f, sg_shm_owner_self());
        if (s < 0) {
            no_slot[dev] = 1;
            sg_log(SG_LOG_WARN, "no slot left on shared device %d (%d processes use it): this "
                   "process's memory is its own and NVML will not list it", dev, SG_SHM_SLOTS);
        }
        atomic_store(&slot_of[dev], s + 1);
    }
    pthread_mutex_unlock(&shm_lock);
    return s;
}

int sg_shm_my_slot(int dev) { return my_slot(dev); }

void sg_shm_update(int dev) { (void)my_slot(dev); }

static uint64_t to_units(uint64_t bytes)
{
    return (bytes + (1u << SG_SHM_UNIT_SHIFT) - 1) >> SG_SHM_UNIT_SHIFT;
}

/* The process's own count, which is also the device's when the device is private. */
static int local_reserve(struct sg_device *d, uint64_t bytes, int check)
{
    uint64_t used = atomic_load(&d->mem_used);
    do {
        if (check && used + bytes > d->mem_total)
            return -1;
    } while (!atomic_compare_exchange_weak(&d->mem_used, &used, used + bytes));
    return 0;
}

static void local_release(struct sg_device *d, uint64_t bytes)
{
    uint64_t used = atomic_load(&d->mem_used);
    while (!atomic_compare_exchange_weak(&d->mem_used, &used, used > bytes ? used - bytes : 0)) {
    }
}

static int locked_charge(struct sg_shm_file *f, int slot, int64_t units)
{
    pthread_mutex_lock(&charge_lock);
    int r = sg_shm_charge(f, slot, units);
    pthread_mutex_unlock(&charge_lock);
    return r;
}

int sg_dev_mem_reserve(struct sg_device *d, uint64_t bytes, uint64_t *over)
{
    int s = my_slot(d->ordinal);
    struct sg_shm_file *f = device_file(d->ordinal);
    if (s < 0 || !f) {
        if (local_reserve(d, bytes, 1) == 0)
            return 0;
        *over = atomic_load(&d->mem_used) + bytes - d->mem_total;
        return -1;
    }
    int64_t units = (int64_t)to_units(bytes);
    /* a dead process's memory comes back before this one is told there is none */
    if (locked_charge(f, s, units) != 0 && (!sg_shm_reap(f) || locked_charge(f, s, units) != 0)) {
        uint64_t used = sg_shm_used_bytes(f);
        *over = used + bytes > d->mem_total ? used + bytes - d->mem_total : bytes;
        return -1;
    }
    local_reserve(d, bytes, 0);
    return 0;
}

void sg_dev_mem_release(struct sg_device *d, uint64_t bytes)
{
    int s = atomic_load(&slot_of[d->ordinal]) - 1;
    struct sg_shm_file *f = device_file(d->ordinal);
    if (f && s >= 0)
        locked_charge(f, s, -(int64_t)to_units(bytes));
    local_release(d, bytes);
}

uint64_t sg_dev_mem_used(struct sg_device *d)
{
    struct sg_shm_file *f = device_file(d->ordinal);
    if (!f || my_slot(d->ordinal) < 0)
        return atomic_load(&d->mem_used);
    /* reaping reads /proc for every slot in use: at most ten times a second per device */
    uint64_t now = sg_now_ns(), last = atomic_load(&last_reap_ns[d->ordinal]);
    if (now - last >= 100000000ull
        && atomic_compare_exchange_strong(&last_reap_ns[d->ordinal], &last, now))
        sg_shm_reap(f);
    return sg_shm_used_bytes(f);
}

/* Adds busy time ending now; rolls the window when a second has passed. */
void sg_shm_note_busy(int dev, uint64_t ns, int is_copy)
{
    int slot = my_slot(dev);
    struct sg_shm_file *f = device_file(dev);
    if (slot < 0 || !f)
        return;
    struct sg_shm_slot *s = &f->slots[slot];
    uint64_t now = sg_now_ns();
    uint64_t start = atomic_load(&s->win_start_ns);
    if (!start || now - start >= SG_SHM_WINDOW_NS) {
        if (start) {
            uint64_t el = now - start;
            uint64_t k = atomic_load(&s->win_busy_ns) * 100 / el;
            uint64_t c = atomic_load(&s->win_copy_ns) * 100 / el;
            atomic_store(&s->prev_util, k > 100 ? 100 : k);
            atomic_store(&s->prev_copy_util, c > 100 ? 100 : c);
        }
        atomic_store(&s->win_busy_ns, 0);
        atomic_store(&s->win_copy_ns, 0);
        atomic_store(&s->win_start_ns, now - (ns < SG_SHM_WINDOW_NS ? ns : 0));
    }
    atomic_fetch_add(is_copy ? &s->win_copy_ns : &s->win_busy_ns, ns);
}
