/*
 * Publishing this process's use of each softgpu device for the NVML library (shm_stats.h):
 * device memory held, and kernel/copy busy time in one-second windows. Calls shm_map.c and
 * init.c (device state).
 */
#include <stdlib.h>
#include <unistd.h>

#include "shm_stats.h"
#include "softgpu.h"

static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_shm_file *files[SG_MAX_DEVICES];
static struct sg_shm_slot *slots[SG_MAX_DEVICES];
static int failed[SG_MAX_DEVICES];

static void release_slots(void)
{
    for (int d = 0; d < SG_MAX_DEVICES; d++)
        if (slots[d]) {
            atomic_store(&slots[d]->bytes, 0);
            atomic_store(&slots[d]->pid, 0);
        }
}

/* The calling process's slot for dev, claimed on first use; NULL when unavailable. */
static struct sg_shm_slot *my_slot(int dev)
{
    if (dev < 0 || dev >= SG_MAX_DEVICES)
        return NULL;
    struct sg_shm_slot *s = slots[dev];
    if (s || failed[dev])
        return s;
    pthread_mutex_lock(&shm_lock);
    if (!slots[dev] && !failed[dev]) {
        static int registered_exit;
        if (!files[dev])
            files[dev] = sg_shm_map(dev, 1);
        int32_t me = (int32_t)getpid();
        for (int i = 0; files[dev] && i < SG_SHM_SLOTS && !slots[dev]; i++) {
            struct sg_shm_slot *c = &files[dev]->slots[i];
            int32_t pid = atomic_load(&c->pid);
            if (pid == me || ((pid == 0 || !sg_shm_pid_alive(pid))
                              && atomic_compare_exchange_strong(&c->pid, &pid, me))) {
                atomic_store(&c->bytes, 0);
                atomic_store(&c->win_start_ns, 0);
                atomic_store(&c->win_busy_ns, 0);
                atomic_store(&c->win_copy_ns, 0);
                atomic_store(&c->prev_util, 0);
                atomic_store(&c->prev_copy_util, 0);
                slots[dev] = c;
            }
        }
        if (!slots[dev]) {
            failed[dev] = 1;
            sg_log(SG_LOG_INFO, "no usage slot for device %d: NVML will not see this process", dev);
        } else if (!registered_exit) {
            registered_exit = 1;
            atexit(release_slots);
        }
    }
    s = slots[dev];
    pthread_mutex_unlock(&shm_lock);
    return s;
}

void sg_shm_update(int dev)
{
    struct sg_shm_slot *s = my_slot(dev);
    if (s)
        atomic_store(&s->bytes, atomic_load(&sg.dev[dev].mem_used));
}

/* Adds busy time ending now; rolls the window when a second has passed. */
void sg_shm_note_busy(int dev, uint64_t ns, int is_copy)
{
    struct sg_shm_slot *s = my_slot(dev);
    if (!s)
        return;
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
