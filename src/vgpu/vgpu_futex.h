/*
 * Thin wrappers over the futex system call for words in the shared vGPU region. They use the
 * shared (not _PRIVATE) operations because waiters and wakers are different processes.
 *
 * Owns: nothing. May call: the futex syscall. Private to src/vgpu.
 */
#ifndef TFUSE_VGPU_FUTEX_H
#define TFUSE_VGPU_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expected, until woken or until the CLOCK_MONOTONIC time deadline_ns
 * (0: no deadline). Returns 0 when woken or when the word had already changed, -ETIMEDOUT,
 * or -EINTR. */
static inline int vgpu_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns) {
        ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
        ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute deadline on CLOCK_MONOTONIC. */
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    if (rc == 0 || errno == EAGAIN)
        return 0;
    return -errno;
}

static inline void vgpu_futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static inline uint64_t vgpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
