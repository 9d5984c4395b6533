/*
 * Per-session statistics in shared memory: the worker's writing side and the layout the node
 * reads (src/node/sessions.c). The node maps one table of `struct tfw_stats` entries
 * (MAP_SHARED | MAP_ANONYMOUS) before it forks workers; each worker fills in its own entry
 * after the handshake and updates its counters on every call.
 *
 * The call path pays two reads of the stats clock and a handful of relaxed loads and stores
 * into memory only this process writes (one writer per entry: no locked instructions, no
 * syscalls, no locks). The stats clock is the TSC on x86-64 when it is invariant (about 4x
 * cheaper than clock_gettime on a VM), calibrated once by the node before it forks workers;
 * CLOCK_MONOTONIC otherwise. Times in entries are in its ticks; the tfw_stats_ticks_* helpers
 * convert. Readers (the node's API threads) load the same words relaxed: a snapshot may be
 * a call behind, never torn per word.
 *
 * Owns: the entry layout, call classes, latency buckets, the worker's updates.
 * May call: src/proto (call ids and names), src/vgpu (the slot a session is attached to), libc.
 */
#ifndef TFUSE_WORKER_STATS_H
#define TFUSE_WORKER_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "transport.h"
#include "vgpu_region.h"

/* Latency histogram upper bounds (seconds): 1us .. 10s, then +Inf. */
#define TFW_STATS_BUCKETS 15
extern const double tfw_stats_bucket_le[TFW_STATS_BUCKETS];

/* Call classes of the latency histogram (bounded cardinality; per-call counts are exact). */
enum tfw_call_class {
    TFW_CLASS_COPY,    /* cuMemcpy*, cuMemset* */
    TFW_CLASS_LAUNCH,  /* kernel and graph launches */
    TFW_CLASS_MEMORY,  /* allocation, free, pools, virtual memory */
    TFW_CLASS_SYNC,    /* synchronize, query, wait */
    TFW_CLASS_MODULE,  /* modules, libraries, functions */
    TFW_CLASS_OTHER,
    TFW_CLASS_COUNT
};
const char *tfw_call_class_name(int cls);
/* The class of a call id (TFW_CLASS_OTHER for an unknown id). */
int tfw_call_class(uint32_t id);
/* 1 when the call id launches device work (counts in launches_total). */
int tfw_call_is_launch(uint32_t id);

enum tfw_stats_state {
    TFW_STATS_FREE = 0,     /* unused entry */
    TFW_STATS_STARTING = 1, /* forked, handshake not done: not a session yet */
    TFW_STATS_ACTIVE = 2,   /* serving calls */
    TFW_STATS_CLOSING = 3,  /* the request loop ended; the process is exiting */
};

enum tfw_stats_transport { TFW_STATS_UNIX = 1, TFW_STATS_TCP = 2 };

/* The node's commands to a session's worker and the worker's answers (freeze.h). The node
 * writes cmd, then bumps seq (release); the worker runs it between two requests and stores
 * its outcome, then done = seq (release). Everything else is written by the worker only. */
enum tfw_freeze_cmd { TFW_FZ_CMD_NONE = 0, TFW_FZ_CMD_FREEZE_HOST, TFW_FZ_CMD_FREEZE_DISK,
                      TFW_FZ_CMD_RESUME,
                      /* model switching (--switch-idle-ms): freeze this one session, if it is
                       * idle, and refund its frozen bytes to its vGPU's ledger */
                      TFW_FZ_CMD_SWITCH_HOST, TFW_FZ_CMD_SWITCH_DISK };
struct tfw_freeze_words {
    _Atomic uint32_t cmd, seq, done;
    _Atomic int32_t result;       /* CUresult of the last command */
    _Atomic uint32_t enabled;     /* the session allocates so that it can be frozen */
    _Atomic uint32_t frozen;      /* 1 frozen to host memory, 2 to disk, 0 not frozen */
    _Atomic uint64_t frozen_bytes;  /* device bytes the freeze gave back (its image's size) */
    _Atomic uint64_t freezable_bytes; /* device bytes a freeze would give back now */
    _Atomic uint64_t freezes, resumes, resumes_by_call;
    _Atomic uint64_t last_freeze_ns, last_resume_ns;  /* how long the last ones took */
    /* The worker's requests for device room (--oversubscribe-memory; the node's half is
     * src/node/vgpus_oversub.c): the worker writes room_need, then bumps room_seq (release);
     * the node freezes other vGPUs of the device, stores room_result (TFW_ROOM_*) and then
     * room_done = room_seq (release); room_busy = room_seq while it freezes for that ask. A
     * worker that gives up stores room_need = 0. room_vgpu = 1: the ask is for room within
     * the session's own vGPU limit (model switching, src/node/vgpus_switch.c): the node
     * freezes idle other sessions of the same vGPU. */
    _Atomic uint64_t room_need;
    _Atomic uint32_t room_seq, room_done, room_busy, room_vgpu;
    _Atomic int32_t room_result;
    _Atomic uint64_t uncharged_bytes; /* frozen bytes refunded to the vGPU's ledger (switch) */
};
enum tfw_room_result { TFW_ROOM_NONE = 0, TFW_ROOM_FREED = 1 };

struct tfw_stats {
    _Atomic uint32_t state;       /* enum tfw_stats_state; published with release */
    _Atomic int32_t worker_pid;   /* written by the node (and the worker) at fork */
    /* Written by the worker before it publishes ACTIVE, constant afterwards. */
    int32_t client_pid;           /* SO_PEERCRED on unix; 0 over tcp (unknown) */
    uint32_t transport;           /* enum tfw_stats_transport */
    int32_t device;               /* device index of the vGPU, -1 without one */
    int32_t slot;                 /* vGPU slot, -1 without one */
    uint64_t vgpu_generation;     /* the slot's generation when the session attached */
    char host[64];                /* "local" or the peer's address */
    char vgpu[VGPU_ID_MAX];       /* the vGPU's id, "" without one */
    uint64_t started_mono_ns;     /* CLOCK_MONOTONIC at fork (node) */
    double started_unix;          /* CLOCK_REALTIME at fork (node) */
    /* Counters: written by the worker only. */
    _Atomic uint64_t last_call_ticks; /* stats clock at the end of the last call; 0: none */
    _Atomic uint64_t calls_total, errors_total, launches_total;
    _Atomic uint64_t bytes_in, bytes_out;  /* bulk buffers moved host->device and back */
    _Atomic uint64_t calls[TFP_CALL_COUNT];
    _Atomic uint64_t hist[TFW_CLASS_COUNT][TFW_STATS_BUCKETS + 1]; /* last: above 10 s */
    _Atomic uint64_t hist_sum_ticks[TFW_CLASS_COUNT];
    struct tfw_freeze_words fz;   /* freeze and resume (src/worker/freeze.h) */
};

/* ---- the stats clock ---- */

/* In the node, before forking workers: picks the TSC when it is invariant and measures its rate
 * against CLOCK_MONOTONIC (sleeps ~10 ms). Without it, ticks are CLOCK_MONOTONIC ns. */
void tfw_stats_calibrate(void);
/* A duration in ticks as ns; a point in ticks as CLOCK_MONOTONIC ns. */
uint64_t tfw_stats_ticks_to_ns(uint64_t ticks);
uint64_t tfw_stats_ticks_to_mono_ns(uint64_t ticks);

/* ---- the worker's side (one session per process) ---- */

/* Fills in the session's description and publishes ACTIVE. e may be NULL (no statistics).
 * region/slot: the vGPU the session attached to, or NULL/-1. */
void tfw_stats_open(struct tfw_stats *e, const struct tf_conn_info *info,
                    const struct vgpu_region *region, int slot);
/* The request loop ended. */
void tfw_stats_close(void);
/* The session's entry (NULL: none, or after tfw_stats_close). */
struct tfw_stats *tfw_stats_self(void);
/* The stats clock, read at the start of a call; 0 without a table. */
uint64_t tfw_stats_now(void);
/* One call finished with result r (0 = CUDA_SUCCESS). Cheap; a no-op without a table. */
void tfw_stats_call(uint32_t id, int r, uint64_t start);
/* Bulk bytes moved by the current call (dispatch.c's buffers). */
void tfw_stats_bytes(uint64_t in, uint64_t out);

#endif
