/*
 * What freeze.c shares with freeze_move.c (migration's memory moves): the session's table of
 * freezable allocations and the freeze path's steps. Private to src/worker; the session's
 * thread alone uses them.
 */
#ifndef TFUSE_WORKER_FREEZE_INT_H
#define TFUSE_WORKER_FREEZE_INT_H

#include <stdint.h>

#include "backend.h"
#include "stats.h"
#include "worker.h"

struct tfw_session;
struct tfw_limits;

struct fz_alloc {
    uint64_t ptr, size, span;     /* the program's bytes; the reserved (granular) range */
    CUmemGenericAllocationHandle h; /* 0 while frozen */
    int device;
    uint64_t off;                 /* where its bytes are in the image */
    uint64_t charged;             /* what the vGPU's ledger holds for it (a model switch
                                   * refunds it): its size, or a chunk's small allocations */
};

struct tfw_freeze {
    struct fz_alloc *a;
    size_t n, cap;
    uint64_t granularity[TFW_MAX_GPUS];
    int granularity_dev[TFW_MAX_GPUS];
    struct tfw_freeze_words *w;   /* the session's entry in the node's table */
    uint32_t seen;                /* the last command run */
    int frozen;                   /* 0, or where the image is: 1 host, 2 disk */
    uint8_t *image;               /* host image (NULL for disk, whose file is fd) */
    uint64_t image_len;
    int fd;
    char path[4096];
    const char *dir;
    int room_wait_ms;
    int room;                     /* the node makes room by freezing others (oversubscribed) */
    uint64_t next_ask;            /* not before (the node's last answer was: nothing) */
    int moving;                   /* a migration's resume: it does not wait for room */
    int switch_ms;                /* model switching: idle time that lets a session be frozen
                                   * for another of its vGPU (0: off) */
    int uncharged;                /* frozen for a switch: its bytes are off the vGPU's ledger */
};

/* Physical memory for a's range on a->device, mapped and accessible; all or nothing. */
CUresult tfw_fz_map_phys(struct tfw_limits *L, struct fz_alloc *a);
CUresult tfw_fz_unmap_phys(struct tfw_limits *L, struct fz_alloc *a);
/* The freezable allocation at p, or NULL. */
struct fz_alloc *tfw_fz_find(struct tfw_freeze *f, uint64_t p);
/* Waits for everything queued on every context of the session; the first failure is held. */
CUresult tfw_fz_drain(struct tfw_session *s, struct tfw_limits *L);
/* The freeze (disk 0: to host memory) and the resume of the session's allocations, and the
 * node's view of them. */
CUresult tfw_fz_freeze(struct tfw_session *s, int disk, char *err, size_t elen);
CUresult tfw_fz_resume(struct tfw_session *s, char *err, size_t elen);
void tfw_fz_publish(struct tfw_freeze *f);

#endif
