/*
 * Mapping and reading the per-device usage files (shm_stats.h). Linked into both the driver
 * and the NVML library. Calls libc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm_stats.h"

struct sg_shm_file *sg_shm_map(int dev, int create)
{
    char name[64];
    snprintf(name, sizeof name, "/softgpu-%u-dev%d", (unsigned)getuid(), dev);
    int fd = shm_open(name, O_RDWR | (create ? O_CREAT : 0) | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_size < (off_t)sizeof(struct sg_shm_file)
                                && (!create || ftruncate(fd, sizeof(struct sg_shm_file)) != 0))) {
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, sizeof(struct sg_shm_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    struct sg_shm_file *f = p;
    if (create && f->magic == 0) {
        /* a fresh zero-filled file; two creators racing both write the same values */
        f->version = SG_SHM_VERSION;
        f->magic = SG_SHM_MAGIC;
    }
    if (f->magic != SG_SHM_MAGIC || f->version != SG_SHM_VERSION) {
        munmap(p, sizeof(struct sg_shm_file));
        return NULL;
    }
    return f;
}

int sg_shm_pid_alive(int32_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

unsigned sg_shm_slot_util(const struct sg_shm_slot *s, uint64_t now_ns, int copies)
{
    uint64_t start = atomic_load(&s->win_start_ns);
    uint64_t busy = atomic_load(copies ? &s->win_copy_ns : &s->win_busy_ns);
    uint64_t prev = atomic_load(copies ? &s->prev_copy_util : &s->prev_util);
    if (!start || now_ns < start)
        return 0;
    uint64_t elapsed = now_ns - start;
    if (elapsed >= 2 * SG_SHM_WINDOW_NS)
        return 0; /* nothing ran for a whole window */
    if (elapsed >= SG_SHM_WINDOW_NS)
        return (unsigned)(busy * 100 / elapsed > 100 ? 100 : busy * 100 / elapsed);
    /* inside the window: the busier of the previous window and what this one has so far */
    uint64_t cur = elapsed >= SG_SHM_WINDOW_NS / 10 ? busy * 100 / elapsed : 0;
    uint64_t u = cur > prev ? cur : prev;
    return (unsigned)(u > 100 ? 100 : u);
}
